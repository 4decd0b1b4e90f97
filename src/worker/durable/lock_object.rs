//! The `DeployLock` Durable Object: the lock and FIFO queue of one (project, environment).

use serde::Deserialize;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::{answer_probe, now_ms, LOCK_KEY};
use crate::lock::{self, Claim, LockError, Requester};

fn lock_error(err: &LockError) -> Result<Response> {
    let status = match err {
        LockError::LeaseOutOfRange(_) | LockError::InvalidHolderId => 400,
        LockError::NotYours(_) => 403,
        LockError::NotHolder(_) | LockError::NotQueued(_) => 409,
        LockError::QueueFull => 429,
    };
    Ok(Response::from_json(&serde_json::json!({ "error": err.to_string() }))?.with_status(status))
}

/// The body of heartbeat, release and cancel. `owner` is set by the public API routes from
/// the caller's token (never from the client's JSON); the control plane's own calls for a
/// deployment (its lifecycle freeing the lock, its rollout renewing it) send none and act
/// as `Requester::Server`. Only the Worker can reach this object, so no client can omit it.
#[derive(Debug, Deserialize)]
struct HolderRef {
    holder_id: String,
    #[serde(default)]
    owner: Option<String>,
}

impl HolderRef {
    fn requester(&self) -> Requester {
        match &self.owner {
            Some(owner) => Requester::Owner(owner.clone()),
            None => Requester::Server,
        }
    }
}

/// One parsed lock request.
enum LockOp {
    Info,
    Acquire(Claim),
    Heartbeat(HolderRef),
    Release(HolderRef),
    Cancel(HolderRef),
    ForceUnlock,
}

/// The lock and FIFO queue of one (project, environment). Strongly consistent because a
/// Durable Object handles its requests one storage transaction at a time.
#[durable_object]
pub struct DeployLock {
    state: State,
}

impl DeployLock {
    async fn load(&self) -> Result<lock::DeployLock> {
        Ok(self
            .state
            .storage()
            .get::<lock::DeployLock>(LOCK_KEY)
            .await?
            .unwrap_or_default())
    }

    /// Stores the lock and points the alarm at the current lease's end, so a vanished
    /// holder's lease is expired even when nobody calls.
    async fn save(&self, lock: &lock::DeployLock) -> Result<()> {
        self.state.storage().put(LOCK_KEY, lock).await?;
        match lock.next_deadline_ms() {
            // An `i64` would be taken as an offset from now; the deadline is absolute.
            Some(deadline) => {
                let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(deadline)
                    .unwrap_or_else(chrono::Utc::now);
                self.state.storage().set_alarm(at).await
            }
            None => self.state.storage().delete_alarm().await,
        }
    }
}

impl DurableObject for DeployLock {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let method = req.method();
        if method == Method::Get && path == "/__probe" {
            return answer_probe(&self.state).await;
        }
        // Read the body before loading the state: awaiting the body lets other requests in,
        // while between the storage read and write below only synchronous code runs, which
        // the Durable Object's input gate keeps atomic. Loading first lost concurrent writes.
        let op = match (method, path.as_str()) {
            (Method::Get, "/info") => LockOp::Info,
            (Method::Post, "/acquire") => LockOp::Acquire(req.json().await?),
            (Method::Post, "/heartbeat") => LockOp::Heartbeat(req.json().await?),
            (Method::Post, "/release") => LockOp::Release(req.json().await?),
            (Method::Post, "/cancel") => LockOp::Cancel(req.json().await?),
            (Method::Post, "/force-unlock") => LockOp::ForceUnlock,
            _ => return Response::error("no such lock operation", 404),
        };
        let now = now_ms();
        let mut state = self.load().await?;
        let reply = match op {
            LockOp::Info => {
                state.expire(now);
                Response::from_json(&state.info())
            }
            LockOp::Acquire(claim) => match state.acquire(claim, now) {
                Ok(outcome) => Response::from_json(&outcome),
                Err(err) => return lock_error(&err),
            },
            LockOp::Heartbeat(who) => {
                match state.heartbeat(&who.holder_id, &who.requester(), now) {
                    Ok(lease) => Response::from_json(&lease),
                    Err(err) => return lock_error(&err),
                }
            }
            LockOp::Release(who) => match state.release(&who.holder_id, &who.requester(), now) {
                Ok(next) => Response::from_json(&serde_json::json!({ "next_holder": next })),
                Err(err) => return lock_error(&err),
            },
            LockOp::Cancel(who) => match state.cancel(&who.holder_id, &who.requester()) {
                Ok(waiter) => Response::from_json(&waiter),
                Err(err) => return lock_error(&err),
            },
            LockOp::ForceUnlock => {
                let broken = state.force_unlock(now);
                Response::from_json(&serde_json::json!({ "broken_lease": broken }))
            }
        };
        self.save(&state).await?;
        reply
    }

    async fn alarm(&self) -> Result<Response> {
        let mut state = self.load().await?;
        state.expire(now_ms());
        self.save(&state).await?;
        Response::ok("expired leases")
    }
}
