//! The slow part of a GitHub delivery, an outbox kind (`github`): the `Outbox` object attempts
//! it after the webhook answered, and retries it with backoff when GitHub or D1 failed. Read
//! the commit's configs, assess them, store the report, post the commit status and the pull
//! request comment; or decide a deployment review. Each attempt is bounded by
//! `WORK_DEADLINE_MS`, below the outbox's lease, and records how it went on the delivery.

use serde::Deserialize;
use worker::{D1Database, Env};

use super::assessments::{self, Stored};
use super::cf_fetch::FetchTransport;
use super::db;
use super::deadline;
use super::durable::client::LockClient;
use super::github::{finish, IntegrationRow, SELECT_INTEGRATION};
use super::github_comment::{self, PullRequestComment};
use super::github_dispatch::{self, Pushed};
use super::github_token;
use super::outbox::Attempted;
use super::teams::load_policy;
use crate::api::{ApiError, ErrorCode};
use crate::assess::Context;
use crate::integrations::github::client::{GithubClient, GithubError, StatusState};
use crate::integrations::github::commit::{self, NotAssessed};
use crate::integrations::github::event::{AssessCommit, Job, ReviewRequest, Work};
use crate::integrations::github::render::{self, ReviewFacts};
use crate::integrations::github::STATUS_CONTEXT;
use crate::outbox::{AttemptResult, Entry, LEASE_MS};

/// The outbox kind of GitHub deliveries.
pub const KIND: &str = "github";

/// One attempt, all calls included; below the outbox lease so a slow attempt is never run
/// twice at once.
const WORK_DEADLINE_MS: u64 = 45_000;
const _: () = assert!((WORK_DEADLINE_MS as i64) < LEASE_MS);

/// Why an attempt did not finish.
pub(super) enum Failure {
    /// GitHub answered this status: the outbox decides (5xx and 429 retry, 4xx give up).
    Answered(u16, String),
    /// No answer, or D1 failed: worth retrying.
    Retry(String),
    /// Retrying cannot help (a secret that does not decrypt).
    Permanent(String),
}

impl From<GithubError> for Failure {
    fn from(e: GithubError) -> Self {
        match e.status {
            Some(status) => Failure::Answered(status, e.to_string()),
            None => Failure::Retry(e.to_string()),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Retry(e.message)
    }
}

/// The outbox handler: one attempt at a delivery's work.
pub(super) async fn attempt(env: &Env, db: &D1Database, entry: &Entry) -> Attempted {
    let job: Job = match serde_json::from_str(&entry.payload) {
        Ok(job) => job,
        Err(e) => return Attempted::unsendable(format!("not a GitHub job: {e}")),
    };
    let project_id = entry.target.clone().unwrap_or_default();
    let row = match db::first::<IntegrationRow>(worker::query!(
        db,
        &format!("{SELECT_INTEGRATION} WHERE g.project_id = ?1 AND g.team_id = ?2"),
        &project_id,
        &entry.team_id
    ))
    .await
    {
        Ok(Some(row)) => row,
        Ok(None) => {
            return Attempted::unsendable("the project's GitHub integration was disconnected")
        }
        Err(e) => {
            return Attempted {
                result: AttemptResult::NoAnswer(e.message.clone()),
                status: None,
                detail: Some(e.message),
            }
        }
    };
    let outcome = deadline::within(WORK_DEADLINE_MS, perform(env, &row, &job)).await;
    let outcome = outcome.unwrap_or_else(|| {
        Err(Failure::Retry(format!(
            "not finished within {} s",
            WORK_DEADLINE_MS / 1000
        )))
    });
    let (state, attempted) = match outcome {
        Ok(detail) => (
            "done",
            Attempted {
                result: AttemptResult::Answered {
                    status: 200,
                    retry_after: None,
                },
                status: Some(200),
                detail: Some(detail),
            },
        ),
        Err(Failure::Answered(status, detail)) => (
            "failed",
            Attempted {
                result: AttemptResult::Answered {
                    status,
                    retry_after: None,
                },
                status: Some(status),
                detail: Some(detail),
            },
        ),
        Err(Failure::Retry(detail)) => (
            "failed",
            Attempted {
                result: AttemptResult::NoAnswer(detail.clone()),
                status: None,
                detail: Some(detail),
            },
        ),
        Err(Failure::Permanent(detail)) => ("failed", Attempted::unsendable(detail)),
    };
    let detail = attempted.detail.clone().unwrap_or_default();
    if state == "failed" {
        worker::console_error!("github delivery {}: {detail}", job.delivery);
    }
    finish(env, &project_id, &job.delivery, state, &detail).await;
    attempted
}

async fn perform(env: &Env, row: &IntegrationRow, job: &Job) -> Result<String, Failure> {
    let (token, cached) = github_token::token_of(env, row, false).await?;
    match perform_as(env, row, &token, job).await {
        // A cached installation token GitHub no longer takes (revoked, the App's key
        // rotated): mint a new one and try once more.
        Err(Failure::Answered(401, why)) if cached => {
            worker::console_log!(
                "GitHub refused the cached installation token ({why}); renewing it"
            );
            let (token, _) = github_token::token_of(env, row, true).await?;
            perform_as(env, row, &token, job).await
        }
        other => other,
    }
}

async fn perform_as(
    env: &Env,
    row: &IntegrationRow,
    token: &str,
    job: &Job,
) -> Result<String, Failure> {
    let gh = GithubClient::new(&FetchTransport, &row.api_base_url, &row.repository, token)
        .map_err(|e| Failure::Permanent(e.to_string()))?;
    match &job.work {
        Work::Assess(commit) => assess_commit(env, row, &gh, commit, job).await,
        Work::Review(request) => review(env, row, &gh, request).await,
        Work::RefreshComments { branch } => {
            github_comment::refresh(&db::db(env)?, row, &gh, branch).await
        }
        Work::Ping | Work::Ignore(_) => Ok("nothing to do".into()),
    }
}

async fn assess_commit(
    env: &Env,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    commit: &AssessCommit,
    job: &Job,
) -> Result<String, Failure> {
    let (origin, received_at) = (job.origin.as_str(), job.received_at);
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
            .await?;
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
            return Err(e.into());
        }
    };
    let entry_file = configs.entry_file.clone();
    let ctx = Context {
        today: assessments::today(),
        env: None,
        project_workers: Default::default(),
    };
    // Assessed against the environment's account when the integration names one; a binding
    // or credential that is missing is reported on the commit (not assessed), never skipped.
    let remote = match &row.environment {
        None => None,
        Some(environment) => match remote_of(env, row, environment).await {
            Ok(remote) => Some(remote),
            Err(e) if matches!(e.code, ErrorCode::NotFound | ErrorCode::Conflict) => {
                let text = render::truncate(&format!("not assessed: {}", e.message), 140);
                gh.status(
                    &commit.sha,
                    StatusState::Error,
                    origin,
                    &text,
                    STATUS_CONTEXT,
                )
                .await?;
                return Ok(text);
            }
            Err(e) => return Err(e.into()),
        },
    };
    let report = match &remote {
        None => commit::assess::<FetchTransport>(configs, &ctx, None).await,
        Some((account_id, client)) => {
            commit::assess(configs, &ctx, Some((client, account_id.as_str()))).await
        }
    };
    let account_checked = remote.is_some();
    let account_id = remote.map(|(account_id, _)| account_id);
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
    .await?;
    let db = db::db(env)?;
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
    .await?;
    // The dashboard's page of the report when one is configured, else the API's JSON.
    let report_url = super::slack_work::dashboard_link(env, &stored.id)
        .unwrap_or_else(|| format!("{origin}/api/v1/assessments/{}", stored.id));
    let (state, description) = render::status_of(&report, account_checked);
    gh.status(
        &commit.sha,
        state,
        &report_url,
        &description,
        STATUS_CONTEXT,
    )
    .await?;
    if let Some(number) = commit.pull_request {
        let body = render::comment_of(&report, account_checked, &commit.sha, &report_url);
        let pr = PullRequestComment {
            number,
            branch: commit.branch(),
            received_at,
        };
        github_comment::upsert(&db, row, gh, &pr, &body).await?;
        return Ok(format!("{} ({})", description, stored.id));
    }
    let pushed = Pushed {
        delivery: &job.delivery,
        sha: &commit.sha,
        branch: commit.branch(),
        ready: report.ready,
        account_checked,
        report_url: &report_url,
    };
    let dispatched = github_dispatch::dispatch_all(&db, row, gh, &pushed).await?;
    let mut detail = format!("{} ({})", description, stored.id);
    for line in dispatched {
        detail.push_str("; ");
        detail.push_str(&line);
    }
    Ok(detail)
}

/// The account `environment` is bound to, with a client holding the team's credential for it.
async fn remote_of(
    env: &Env,
    row: &IntegrationRow,
    environment: &str,
) -> Result<(String, crate::cloudflare::Client<FetchTransport>), ApiError> {
    let account_id =
        assessments::environment_account(env, &row.team_id, &row.slug, environment).await?;
    let client = assessments::account_client(env, &row.team_id, &account_id).await?;
    Ok((account_id, client))
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
) -> Result<String, Failure> {
    let db = db::db(env)?;
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
        .await?;
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
