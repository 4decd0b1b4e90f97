//! The slow part of a GitHub delivery, run after the webhook answered (`ctx.wait_until`) and
//! bounded by `WORK_DEADLINE_MS`: read the commit's configs, assess them, store the report, post
//! the commit status and the pull request comment; or decide a deployment review. How it ended
//! is recorded on the delivery (`github_deliveries.state`), so a failed one can be redelivered.

use serde::Deserialize;
use worker::{D1Database, Env};

use super::assessments::{self, Stored};
use super::cf_fetch::FetchTransport;
use super::db::{self, now_ms};
use super::deadline;
use super::durable::client::LockClient;
use super::github::{finish, IntegrationRow};
use super::teams::{cipher, load_policy};
use crate::api::ApiError;
use crate::assess::Context;
use crate::integrations::github::client::{GithubClient, StatusState};
use crate::integrations::github::commit::{self, NotAssessed};
use crate::integrations::github::event::{AssessCommit, ReviewRequest, Work};
use crate::integrations::github::render::{self, ReviewFacts};
use crate::integrations::github::STATUS_CONTEXT;

/// The work of one delivery, all calls included. The runtime keeps a `wait_until` task alive
/// for about 30 s after the answer.
pub const WORK_DEADLINE_MS: u64 = 25_000;

/// Runs `work` for the delivery and records how it ended.
pub async fn run(env: Env, row: IntegrationRow, delivery_id: String, work: Work, origin: String) {
    let outcome = deadline::within(WORK_DEADLINE_MS, perform(&env, &row, &work, &origin)).await;
    let (state, detail) = match outcome {
        Some(Ok(detail)) => ("done", detail),
        Some(Err(e)) => ("failed", e),
        None => (
            "failed",
            format!("not finished within {} s", WORK_DEADLINE_MS / 1000),
        ),
    };
    if state == "failed" {
        worker::console_error!("github delivery {delivery_id}: {detail}");
    }
    finish(&env, &row.project_id, &delivery_id, state, &detail).await;
}

async fn perform(
    env: &Env,
    row: &IntegrationRow,
    work: &Work,
    origin: &str,
) -> Result<String, String> {
    let token = cipher(env)
        .and_then(|c| {
            c.decrypt(&row.team_id, &row.token_ciphertext)
                .map_err(|e| ApiError::internal(format!("stored GitHub token: {e}")))
        })
        .map_err(|e| e.message)?;
    let gh = GithubClient::new(&FetchTransport, &row.api_base_url, &row.repository, &token)
        .map_err(|e| e.to_string())?;
    match work {
        Work::Assess(commit) => assess_commit(env, row, &gh, commit, origin).await,
        Work::Review(request) => review(env, row, &gh, request).await,
        Work::Ping | Work::Ignore(_) => Ok("nothing to do".into()),
    }
}

async fn assess_commit(
    env: &Env,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    commit: &AssessCommit,
    origin: &str,
) -> Result<String, String> {
    let configs = match commit::load(gh, &commit.sha, None).await {
        Ok(configs) => configs,
        Err(NotAssessed::NoConfig) => {
            let text = "not assessed: no clodo.toml or wrangler config at the root";
            gh.status(
                &commit.sha,
                StatusState::Error,
                origin,
                text,
                STATUS_CONTEXT,
            )
            .await
            .map_err(|e| e.to_string())?;
            return Ok(text.into());
        }
        Err(NotAssessed::Github(e)) => {
            // Best effort: the same token may not be able to post either.
            let _ = gh
                .status(
                    &commit.sha,
                    StatusState::Error,
                    origin,
                    "not assessed: the configs could not be read",
                    STATUS_CONTEXT,
                )
                .await;
            return Err(e.to_string());
        }
    };
    let entry_file = configs.entry_file.clone();
    let ctx = Context {
        today: assessments::today(),
        env: None,
        project_workers: Default::default(),
    };
    let account_id = match &row.environment {
        Some(environment) => Some(
            assessments::environment_account(env, &row.team_id, &row.slug, environment)
                .await
                .map_err(|e| e.message)?,
        ),
        None => None,
    };
    let report = match &account_id {
        None => commit::assess::<FetchTransport>(configs, &ctx, None).await,
        Some(account_id) => {
            let client = assessments::account_client(env, &row.team_id, account_id)
                .await
                .map_err(|e| e.message)?;
            commit::assess(configs, &ctx, Some((&client, account_id.as_str()))).await
        }
    };
    let stored = assessments::store(
        env,
        &row.team_id,
        &report,
        Stored {
            account_id,
            env: None,
            config_file: entry_file,
            created_by: format!("github:{}", row.repository),
        },
    )
    .await
    .map_err(|e| e.message)?;
    let db = db::db(env).map_err(|e| e.message)?;
    db::run(worker::query!(
        &db,
        "INSERT INTO github_commit_assessments (project_id, sha, assessment_id, ready, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (project_id, sha) DO UPDATE SET assessment_id = excluded.assessment_id,
           ready = excluded.ready, created_at = excluded.created_at",
        &row.project_id,
        &commit.sha,
        &stored.id,
        &i64::from(report.ready),
        &stored.created_at
    ))
    .await
    .map_err(|e| e.message)?;
    let report_url = format!("{origin}/api/v1/assessments/{}", stored.id);
    let (state, description) = render::status_of(&report);
    gh.status(
        &commit.sha,
        state,
        &report_url,
        &description,
        STATUS_CONTEXT,
    )
    .await
    .map_err(|e| e.to_string())?;
    if let Some(number) = commit.pull_request {
        let body = render::comment_of(&report, &commit.sha, &report_url);
        upsert_comment(&db, row, gh, number, &body).await?;
    }
    Ok(format!("{} ({})", description, stored.id))
}

#[derive(Deserialize)]
struct CommentRow {
    comment_id: i64,
}

/// Edits the pull request's Clodo comment in place, or creates it (again, if it was deleted).
async fn upsert_comment(
    db: &D1Database,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    number: u64,
    body: &str,
) -> Result<(), String> {
    let pr = i64::try_from(number).map_err(|e| e.to_string())?;
    let existing = db::first::<CommentRow>(worker::query!(
        db,
        "SELECT comment_id FROM github_pr_comments WHERE project_id = ?1 AND pr_number = ?2",
        &row.project_id,
        &pr
    ))
    .await
    .map_err(|e| e.message)?;
    if let Some(existing) = existing {
        let id = u64::try_from(existing.comment_id).map_err(|e| e.to_string())?;
        if gh.edit_comment(id, body).await.map_err(|e| e.to_string())? {
            return Ok(());
        }
    }
    let id = gh.comment(number, body).await.map_err(|e| e.to_string())?;
    let id = i64::try_from(id).map_err(|e| e.to_string())?;
    db::run(worker::query!(
        db,
        "INSERT INTO github_pr_comments (project_id, pr_number, comment_id, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project_id, pr_number) DO UPDATE SET comment_id = excluded.comment_id, updated_at = excluded.updated_at",
        &row.project_id,
        &pr,
        &id,
        &now_ms()
    ))
    .await
    .map_err(|e| e.message)?;
    Ok(())
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

#[derive(Deserialize)]
struct ReadyRow {
    ready: i64,
}

/// Approves or rejects a GitHub environment deployment from Clodo's own records: the policy
/// of the project's environment of that name, its deploy lock, approvals of a Clodo deployment
/// of the commit, and the commit's assessment. A check that could not be made rejects.
async fn review(
    env: &Env,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    request: &ReviewRequest,
) -> Result<String, String> {
    let db = db::db(env).map_err(|e| e.message)?;
    let environment = db::environment(&db, &row.team_id, &row.slug, &request.environment).await;
    let (approved, comment) = match environment {
        Err(e) => (
            false,
            format!(
                "Clodo rejected: project `{}` has no environment `{}` to check ({})",
                row.slug, request.environment, e.message
            ),
        ),
        Ok((_, environment)) => {
            let facts = gather(env, &db, row, &environment.id, request).await;
            render::review(&facts)
        }
    };
    gh.review_deployment(request.run_id, &request.environment, approved, &comment)
        .await
        .map_err(|e| e.to_string())?;
    Ok(comment)
}

async fn gather(
    env: &Env,
    db: &D1Database,
    row: &IntegrationRow,
    environment_id: &str,
    request: &ReviewRequest,
) -> ReviewFacts {
    let policy = load_policy(db, &row.team_id, environment_id)
        .await
        .map_err(|e| e.message);
    let lock_holder = LockClient::new(env.clone(), environment_id)
        .info()
        .await
        .map(|info| {
            info.holder
                .map(|lease| format!("{} ({})", lease.claim.holder_id, lease.claim.actor))
        })
        .map_err(|e| e.message);
    let approvals = db::first::<CountRow>(worker::query!(
        db,
        "SELECT COALESCE(MAX(c), 0) AS n FROM (
           SELECT COUNT(a.id) AS c FROM deployments d JOIN approvals a ON a.deployment_id = d.id
           WHERE d.team_id = ?1 AND d.environment_id = ?2 AND d.git_sha = ?3 GROUP BY d.id)",
        &row.team_id,
        &environment_id,
        &request.sha
    ))
    .await
    .map(|r| r.map_or(0, |r| u32::try_from(r.n).unwrap_or(0)))
    .map_err(|e| e.message);
    let assessment = db::first::<ReadyRow>(worker::query!(
        db,
        "SELECT ready FROM github_commit_assessments WHERE project_id = ?1 AND sha = ?2",
        &row.project_id,
        &request.sha
    ))
    .await
    .map(|r| r.map(|r| r.ready != 0))
    .map_err(|e| e.message);
    ReviewFacts {
        policy,
        now: chrono::Utc::now(),
        git_ref: request.git_ref.clone(),
        lock_holder,
        approvals,
        assessment,
    }
}
