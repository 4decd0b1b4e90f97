//! The control-plane side of a deployment, shared by `clodo deploy` and `clodo rollback`:
//! recording it, waiting for approvals and for the environment's lock (renewed by heartbeats
//! while work runs), and moving it through its lifecycle.

use std::future::Future;
use std::time::Duration;

use reqwest::Method;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;

use super::client::{enc, CallError, Client, Failure};
use super::errors::CliCode;
use super::output::Progress;
use crate::api::contract::deployments::{Deployment, DeploymentStatus, TransitionRequest};
use crate::api::contract::locks::{AcquireOutcome, AcquireRequest, HolderRequest, Lease, Released};
use crate::deploy::ServiceSnapshot;

/// The lock lease while wrangler runs; heartbeats renew it well before it ends.
pub(super) const LEASE_MS: i64 = 120_000;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
pub(super) const POLL_EVERY: Duration = Duration::from_millis(1000);

/// One progress line on stderr (above an indicator when one is drawn).
pub(super) fn say(line: &str) {
    super::output::line(line);
}

pub(super) fn with_hint_for_missing_project(e: CallError, project: &str, env: &str) -> Failure {
    if e.status == Some(404) {
        return Failure::Api(CallError {
            status: e.status,
            code: e.code,
            message: format!(
                "{}\nhint: create them once (admin): POST /api/v1/projects {{\"slug\":\"{project}\"}} and POST /api/v1/projects/{project}/environments {{\"name\":\"{env}\"}}",
                e.message
            ),
        });
    }
    Failure::Api(e)
}

fn path_of(id: &str) -> String {
    format!("/api/v1/deployments/{}", enc(id))
}

/// Waits while the deployment awaits approvals; fails when it ends up anything but queued.
pub(super) async fn wait_until_approved(api: &Client, created: &Deployment) -> Result<(), Failure> {
    if created.status != DeploymentStatus::AwaitingApproval {
        return Ok(());
    }
    let id = &created.id;
    say(&format!(
        "  waiting for {} approval(s): `clodo approve {id}` by an approver",
        created.required_approvals
    ));
    let _waiting = Progress::spinner(&format!(
        "waiting for {} approval(s) of {id}",
        created.required_approvals
    ));
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let record: Deployment = api.get(&path_of(id)).await?;
        match record.status {
            DeploymentStatus::AwaitingApproval => continue,
            DeploymentStatus::Queued => {
                say("  approved");
                return Ok(());
            }
            other => {
                return Err(Failure::outcome(
                    CliCode::DeploymentFailed,
                    format!("deployment {id} is {other} while waiting for approvals"),
                ))
            }
        }
    }
}

/// Takes the environment's lock for `holder`, waiting in its queue. While it waits it asks
/// again every poll: that keeps its place alive (the control plane drops a waiter that has not
/// been heard from for a whole lease when its turn comes, so a CLI that died in the queue does
/// not hold up the others) and tells it the moment it holds the lock.
pub(super) async fn acquire_lock(api: &Client, lock: &str, holder: &str) -> Result<(), Failure> {
    let claim = AcquireRequest {
        holder_id: holder.to_owned(),
        purpose: Some("clodo deploy".to_owned()),
        lease_ms: Some(LEASE_MS),
    };
    let mut last_position = None;
    let mut waiting: Option<Progress> = None;
    loop {
        match lock_call(api, lock, "acquire", &claim).await? {
            AcquireOutcome::Granted { .. } => {
                drop(waiting);
                say("▸ lock held");
                return Ok(());
            }
            AcquireOutcome::Queued { position, holder } => {
                if last_position != Some(position) {
                    say(&format!(
                        "  queued for the lock at position {position} (held by {})",
                        holder.claim.holder_id
                    ));
                    last_position = Some(position);
                    let message = format!(
                        "in the deploy queue at position {position}, behind {}",
                        holder.claim.holder_id
                    );
                    match &waiting {
                        Some(spinner) => spinner.set_message(&message),
                        None => waiting = Some(Progress::spinner(&message)),
                    }
                }
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Sends `{holder_id}` to a lock operation (`heartbeat` answers the renewed `Lease`,
/// `release` answers `Released`).
async fn lock_op<T: DeserializeOwned>(
    api: &Client,
    lock: &str,
    op: &str,
    holder: &str,
) -> Result<T, CallError> {
    let who = HolderRequest {
        holder_id: holder.to_owned(),
    };
    lock_call(api, lock, op, &who).await
}

/// `POST {lock}/{op}` with a typed body and answer. An `acquire` or `heartbeat` names its
/// holder, so the lock's own rules make a repeat harmless (the claim keeps its place, the lease
/// is renewed again): it goes without an Idempotency-Key (`Client::send_repeatable`). Every
/// other operation is keyed like any POST.
pub(super) async fn lock_call<B: Serialize + ?Sized, T: DeserializeOwned>(
    api: &Client,
    lock: &str,
    op: &str,
    body: &B,
) -> Result<T, CallError> {
    let path = format!("{lock}/{op}");
    if matches!(op, "acquire" | "heartbeat") {
        return api.send_repeatable(&path, body).await;
    }
    api.send(Method::POST, &path, Some(body)).await
}

pub(super) fn spawn_heartbeat(
    api: Client,
    lock: String,
    holder: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            if let Err(e) = lock_op::<Lease>(&api, &lock, "heartbeat", &holder).await {
                say(&format!("  lock heartbeat failed: {e}"));
            }
        }
    })
}

/// Moves the deployment to `to`; `detail` (text or structured) is kept on its event.
pub(super) async fn move_to<D: Serialize>(
    api: &Client,
    id: &str,
    to: DeploymentStatus,
    detail: D,
) -> Result<Deployment, Failure> {
    let detail = serde_json::to_value(detail)
        .map_err(|e| Failure::Setup(format!("the transition's detail: {e}")))?;
    let request = TransitionRequest {
        to,
        detail: Some(detail),
    };
    let moved = api
        .send(
            Method::POST,
            &format!("{}/transitions", path_of(id)),
            Some(&request),
        )
        .await?;
    Ok(moved)
}

/// The detail of a transition that shipped versions (`verifying`, or `failed` after uploading):
/// `diff::shipped_by` reads the snapshots back, and later rollbacks pass over failed versions.
#[derive(Serialize)]
pub(super) struct Shipped<'a> {
    pub message: &'a str,
    pub services: &'a [ServiceSnapshot],
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
    shipped: &[ServiceSnapshot],
) {
    let path = path_of(&r.id);
    let status = r.api.get::<Deployment>(&path).await.map(|d| d.status);
    let (to, detail) = match status {
        Ok(s) if s.is_terminal() => return,
        // Not deploying yet: nothing was switched.
        Ok(s) if s.can_move_to(DeploymentStatus::Cancelled) => {
            (DeploymentStatus::Cancelled, reason.to_owned())
        }
        _ => {
            let rollout = r.api.get::<IgnoredAny>(&format!("{path}/rollout")).await;
            if rollout.is_ok() {
                say(&format!(
                    "  the rollout of {} continues on the control plane (`clodo status {} --follow`)",
                    r.id, r.id
                ));
                return;
            }
            (
                DeploymentStatus::Failed,
                format!("{reason}; {}", restore.await),
            )
        }
    };
    say(&format!("✗ deployment {} {to}: {detail}", r.id));
    let moved = if shipped.is_empty() {
        move_to(&r.api, &r.id, to, &detail).await
    } else {
        let detail = Shipped {
            message: &detail,
            services: shipped,
        };
        move_to(&r.api, &r.id, to, &detail).await
    };
    if let Err(e) = moved {
        say(&format!(
            "  could not record it ({}); releasing the lock",
            e.message()
        ));
        if let Err(e) = lock_op::<Released>(&r.api, &r.lock, "release", &r.id).await {
            say(&format!("  could not release the lock either: {e}"));
        }
    }
}
