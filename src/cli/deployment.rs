//! The control-plane side of a deployment, shared by `clodo deploy` and `clodo rollback`:
//! recording it, waiting for approvals and for the environment's lock (renewed by heartbeats
//! while work runs), and moving it through its lifecycle.

use std::future::Future;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::client::{CallError, Client, Failure};

/// The lock lease while wrangler runs; heartbeats renew it well before it ends.
pub(super) const LEASE_MS: i64 = 120_000;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
pub(super) const POLL_EVERY: Duration = Duration::from_millis(1000);

pub(super) fn say(line: &str) {
    eprintln!("{line}");
}

pub(super) fn with_hint_for_missing_project(e: CallError, project: &str, env: &str) -> Failure {
    if e.status == Some(404) {
        return Failure::Api(CallError {
            status: e.status,
            message: format!(
                "{}\nhint: create them once (admin): POST /api/v1/projects {{\"slug\":\"{project}\"}} and POST /api/v1/projects/{project}/environments {{\"name\":\"{env}\"}}",
                e.message
            ),
        });
    }
    Failure::Api(e)
}

pub(super) fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

pub(super) async fn wait_for_approvals(
    api: &Client,
    id: &str,
    created: &Value,
) -> Result<(), Failure> {
    if created["status"] != "awaiting_approval" {
        return Ok(());
    }
    say(&format!(
        "  waiting for {} approval(s): `clodo approve {id}` by an approver",
        created["required_approvals"]
    ));
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let record = api
            .call(Method::GET, &format!("/api/v1/deployments/{id}"), None)
            .await?;
        match text(&record["status"]) {
            "awaiting_approval" => continue,
            "queued" => {
                say("  approved");
                return Ok(());
            }
            other => {
                return Err(Failure::Api(CallError {
                    status: None,
                    message: format!("deployment {id} is {other} while waiting for approvals"),
                }))
            }
        }
    }
}

/// Takes the environment's lock for `holder`, waiting in its queue. While it waits it asks
/// again every poll: that keeps its place alive (the control plane drops a waiter that has not
/// been heard from for a whole lease when its turn comes, so a CLI that died in the queue does
/// not hold up the others) and tells it the moment it holds the lock.
pub(super) async fn acquire_lock(api: &Client, lock: &str, holder: &str) -> Result<(), Failure> {
    let claim = json!({ "holder_id": holder, "purpose": "clodo deploy", "lease_ms": LEASE_MS });
    let mut answer = api
        .call(Method::POST, &format!("{lock}/acquire"), Some(&claim))
        .await?;
    let mut last_position = None;
    loop {
        if answer["outcome"] == "granted" {
            say("▸ lock held");
            return Ok(());
        }
        if last_position != Some(answer["position"].clone()) {
            say(&format!(
                "  queued for the lock at position {} (held by {})",
                answer["position"],
                text(&answer["holder"]["holder_id"])
            ));
            last_position = Some(answer["position"].clone());
        }
        tokio::time::sleep(POLL_EVERY).await;
        answer = api
            .call(Method::POST, &format!("{lock}/acquire"), Some(&claim))
            .await?;
    }
}

pub(super) fn spawn_heartbeat(
    api: Client,
    lock: String,
    holder: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let beat = api
                .call(
                    Method::POST,
                    &format!("{lock}/heartbeat"),
                    Some(&json!({ "holder_id": holder })),
                )
                .await;
            if let Err(e) = beat {
                say(&format!("  lock heartbeat failed: {e}"));
            }
        }
    })
}

/// Moves the deployment to `to`; `detail` (text or structured) is kept on its event.
pub(super) async fn transition<D: serde::Serialize>(
    api: &Client,
    id: &str,
    to: &str,
    detail: D,
) -> Result<(), Failure> {
    api.call(
        Method::POST,
        &format!("/api/v1/deployments/{id}/transitions"),
        Some(&json!({ "to": to, "detail": detail })),
    )
    .await?;
    Ok(())
}

/// A deployment this command recorded on the control plane, and the lock it goes through.
pub(super) struct Recorded {
    pub api: Client,
    pub id: String,
    pub lock: String,
}

/// Ends a deployment whose command stopped on an error, so that nothing is left holding the
/// environment until its lease runs out. The control plane's record decides: a deployment
/// already in a final state is left alone, as is one whose Rollout object runs it; one that
/// never started deploying is `cancelled` (which leaves the lock or its queue); otherwise
/// `restore` puts back what was switched and the deployment ends `failed` with the reason.
/// When the record cannot be written, the lock is released directly.
/// `shipped` (what was uploaded, if anything) is kept on the `failed` event, so that later
/// rollbacks know these versions failed and which Durable Object migrations they applied.
pub(super) async fn end_stopped<F: Future<Output = String>>(
    r: &Recorded,
    reason: &str,
    restore: F,
    shipped: &[crate::deploy::ServiceSnapshot],
) {
    let path = format!("/api/v1/deployments/{}", super::client::enc(&r.id));
    let status = r
        .api
        .call(Method::GET, &path, None)
        .await
        .map(|d| text(&d["status"]).to_owned());
    let (to, detail) = match status.as_deref() {
        Ok("succeeded" | "failed" | "rolled_back" | "cancelled") => return,
        Ok("requested" | "assessing" | "awaiting_approval" | "queued") => {
            ("cancelled", reason.to_owned())
        }
        _ => {
            if r.api
                .call(Method::GET, &format!("{path}/rollout"), None)
                .await
                .is_ok()
            {
                say(&format!(
                    "  the rollout of {} continues on the control plane (`clodo status {} --follow`)",
                    r.id, r.id
                ));
                return;
            }
            ("failed", format!("{reason}; {}", restore.await))
        }
    };
    say(&format!("✗ deployment {} {to}: {detail}", r.id));
    let recorded_detail = if shipped.is_empty() {
        json!(detail)
    } else {
        json!({ "message": detail, "services": shipped })
    };
    if let Err(e) = transition(&r.api, &r.id, to, &recorded_detail).await {
        let why = match e {
            Failure::Setup(m) => m,
            Failure::Api(e) => e.message,
        };
        say(&format!(
            "  could not record it ({why}); releasing the lock"
        ));
        let released = r
            .api
            .call(
                Method::POST,
                &format!("{}/release", r.lock),
                Some(&json!({ "holder_id": r.id })),
            )
            .await;
        if let Err(e) = released {
            say(&format!("  could not release the lock either: {e}"));
        }
    }
}
