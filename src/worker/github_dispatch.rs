//! Deploy-on-push: a push to a branch an integration's `deploy_on_push` rule names, whose
//! assessment is ready, dispatches the repository's deploy workflow with the Clodo
//! environment as its `environment` input (the Worker cannot run wrangler; the workflow runs
//! `clodo deploy`, under the environment's policies, lock and approvals like any deploy). A
//! dispatch is claimed in D1 per (project, delivery, environment) before it is sent, so an
//! outbox retry of the delivery never dispatches twice; a commit status per environment
//! (`clodo/deploy/<environment>`) says what happened, or why nothing was dispatched.

use serde::Deserialize;
use worker::D1Database;

use super::cf_fetch::FetchTransport;
use super::db::{self, now_ms};
use super::github::IntegrationRow;
use super::github_work::Failure;
use crate::api::contract::github::DeployOnPush;
use crate::control::policy::glob_match;
use crate::integrations::github::client::{GithubClient, StatusState};
use crate::integrations::github::render;

/// What the assessment of the pushed commit said.
pub(super) struct Pushed<'a> {
    pub delivery: &'a str,
    pub sha: &'a str,
    /// The branch name (`main`).
    pub branch: &'a str,
    pub ready: bool,
    /// Whether the assessment checked the account (not only the configs).
    pub account_checked: bool,
    /// Where the commit status links (the stored report).
    pub report_url: &'a str,
}

#[derive(Deserialize)]
struct Claim {
    state: String,
}

/// Dispatches every rule matching the pushed branch (or says on the commit why not); the
/// lines for the delivery log.
pub(super) async fn dispatch_all(
    db: &D1Database,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    pushed: &Pushed<'_>,
) -> Result<Vec<String>, Failure> {
    let rules: Vec<DeployOnPush> = serde_json::from_str(&row.deploy_on_push).unwrap_or_default();
    let mut done = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| glob_match(&r.branch, pushed.branch))
    {
        done.push(dispatch(db, row, gh, pushed, rule).await?);
    }
    Ok(done)
}

async fn dispatch(
    db: &D1Database,
    row: &IntegrationRow,
    gh: &GithubClient<'_, FetchTransport>,
    pushed: &Pushed<'_>,
    rule: &DeployOnPush,
) -> Result<String, Failure> {
    let context = format!("clodo/deploy/{}", rule.environment);
    let why_not = if !pushed.ready {
        Some("the assessment is not ready")
    } else if !pushed.account_checked {
        Some("only the configs were assessed (the integration names no environment)")
    } else {
        None
    };
    if let Some(why) = why_not {
        let text = render::truncate(&format!("not deployed to {}: {why}", rule.environment), 140);
        gh.status(
            pushed.sha,
            StatusState::Failure,
            pushed.report_url,
            &text,
            &context,
        )
        .await?;
        return Ok(text);
    }
    let now = now_ms();
    let claimed = db::run(worker::query!(
        db,
        "INSERT INTO github_dispatches (project_id, delivery_id, environment, workflow, sha, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'dispatching', ?6)
         ON CONFLICT (project_id, delivery_id, environment) DO NOTHING",
        &row.project_id,
        &pushed.delivery,
        &rule.environment,
        &rule.workflow,
        &pushed.sha,
        &now
    ))
    .await?;
    if claimed == 0 {
        let state = db::first::<Claim>(worker::query!(
            db,
            "SELECT state FROM github_dispatches WHERE project_id = ?1 AND delivery_id = ?2 AND environment = ?3",
            &row.project_id,
            &pushed.delivery,
            &rule.environment
        ))
        .await?
        .map(|c| c.state)
        .unwrap_or_default();
        if state != "dispatched" {
            // Another attempt is dispatching it (or died doing so): never a second dispatch.
            return Ok(format!(
                "{} for {}: already being dispatched",
                rule.workflow, rule.environment
            ));
        }
    } else if let Err(e) = gh
        .dispatch_workflow(&rule.workflow, pushed.branch, &rule.environment)
        .await
    {
        // Not dispatched: release the claim so the outbox's retry dispatches it.
        let _ = db::run(worker::query!(
            db,
            "DELETE FROM github_dispatches WHERE project_id = ?1 AND delivery_id = ?2 AND environment = ?3 AND state = 'dispatching'",
            &row.project_id,
            &pushed.delivery,
            &rule.environment
        ))
        .await;
        return Err(e.into());
    } else {
        db::run(worker::query!(
            db,
            "UPDATE github_dispatches SET state = 'dispatched', dispatched_at = ?4
             WHERE project_id = ?1 AND delivery_id = ?2 AND environment = ?3",
            &row.project_id,
            &pushed.delivery,
            &rule.environment,
            &now_ms()
        ))
        .await?;
    }
    let text = render::truncate(
        &format!("dispatched {} for {}", rule.workflow, rule.environment),
        140,
    );
    gh.status(
        pushed.sha,
        StatusState::Success,
        pushed.report_url,
        &text,
        &context,
    )
    .await?;
    Ok(text)
}
