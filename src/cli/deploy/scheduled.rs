//! `clodo deploy --at TIME`: the Worker cannot run wrangler, so the new versions are uploaded
//! now with `wrangler versions upload` (no traffic moves) and recorded on a deployment that
//! the control plane starts at TIME (re-checking windows, freezes and approvals then, taking
//! the environment's lock, and rolling out with the settings recorded now).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::json;

use super::upload::{read_live, script_of, upload_waves};
use super::{record_uploads, Failure};
use crate::api::contract::deployments::{Deployment, NewDeployment};
use crate::api::contract::schedules::CancelOutcome;
use crate::cli::assess::Assessed;
use crate::cli::client::{self, enc};
use crate::cli::deployment::{say, with_hint_for_missing_project};
use crate::deploy::{self, UploadCommand};

/// `--at`'s value: RFC 3339, seconds optional.
pub(super) fn parse_at(text: &str) -> Result<DateTime<Utc>, String> {
    crate::control::schedule::parse_time(text)
}

pub(super) async fn schedule(
    api: &client::Client,
    args: &super::DeployArgs,
    assessed: &Assessed,
    plan: &deploy::WavePlan,
    request: &NewDeployment,
    at: DateTime<Utc>,
) -> Result<(), Failure> {
    super::pages_d1::refuse_pages_and_migrations(
        assessed,
        "a scheduled deploy",
        &request.environment,
    )?;
    // Only versions that take no traffic when uploaded can wait: a first deploy or a Durable
    // Object migration goes live with `wrangler deploy` at once, so it cannot be scheduled.
    let now = read_live(assessed, plan).await?;
    let mut immediate = Vec::new();
    for name in plan.waves.iter().flatten() {
        let Some(loaded) = assessed
            .loaded
            .iter()
            .find(|l| l.service.as_deref() == Some(name.as_str()))
        else {
            continue;
        };
        let Some(script) = script_of(assessed, name) else {
            continue;
        };
        let current = now.get(&script).cloned().unwrap_or_default();
        let decision = deploy::upload_command(&loaded.worker.migrations, current.remote.as_ref());
        if decision.command == UploadCommand::Deploy {
            let why = decision.reason.map(|r| r.to_string()).unwrap_or_default();
            immediate.push(format!("{name} ({why})"));
        }
    }
    if !immediate.is_empty() {
        return Err(Failure::Setup(format!(
            "cannot schedule: {} must go live with `wrangler deploy`, which moves traffic at once; deploy now (without --at) first",
            immediate.join(", ")
        )));
    }
    let created: Deployment = api
        .send(Method::POST, "/api/v1/deployments", Some(request))
        .await
        .map_err(|e| with_hint_for_missing_project(e, &request.project, &request.environment))?;
    let id = created.id.clone();
    say(&format!(
        "▸ deployment {id}: {}, scheduled for {}",
        created.status,
        at.to_rfc3339()
    ));
    let uploaded = match upload_waves(
        assessed,
        &now,
        plan,
        args.env.as_deref(),
        &BTreeMap::new(),
        0,
    )
    .await
    {
        Ok(u) => record_uploads(api, &id, &u, &BTreeMap::new())
            .await
            .map(|_| u)
            .map_err(|e| {
                format!(
                    "the control plane did not record the uploads: {}",
                    e.message
                )
            }),
        Err((_, message)) => Err(format!("upload failed: {message}")),
    };
    let uploads = match uploaded {
        Ok(u) => u,
        Err(message) => {
            // Nothing took traffic (versions upload only); the schedule is cancelled.
            let cancelled = cancel(api, &id).await;
            say(&format!("✗ {message}; {cancelled}"));
            return Err(Failure::Setup(message));
        }
    };
    say(&format!(
        "▸ {} version(s) uploaded without traffic; the control plane starts the rollout at {} (`clodo cancel {id}` to cancel, `clodo status {id} --follow` once it runs)",
        uploads.len(),
        at.to_rfc3339()
    ));
    if args.json {
        let record: Deployment = api
            .get(&format!("/api/v1/deployments/{}", enc(&id)))
            .await?;
        client::print_json(&json!({ "deployment": record, "scheduled_for": at.to_rfc3339() }));
    }
    Ok(())
}

/// Cancels the scheduled deployment; says what happened.
async fn cancel(api: &client::Client, id: &str) -> String {
    let answer: Result<CancelOutcome, _> = api
        .send::<(), _>(
            Method::POST,
            &format!("/api/v1/deployments/{}/cancel", enc(id)),
            None,
        )
        .await;
    match answer {
        Ok(_) => format!("deployment {id} cancelled"),
        Err(e) => format!("cancelling {id} failed too: {}", e.message),
    }
}
