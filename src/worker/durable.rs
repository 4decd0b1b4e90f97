//! Durable Object shells: `DeployLock` (one per project environment) and `Rollout` (one per
//! deployment). They only load state, call the pure core and store the result.

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use crate::api::ApiError;
use crate::lock::{self, Claim, LockError};

pub const DEPLOY_LOCK_BINDING: &str = "DEPLOY_LOCK";
pub const ROLLOUT_BINDING: &str = "ROLLOUT";

/// Storage key of the readiness probe counter, kept apart from real state.
const PROBE_KEY: &str = "__probe_count";
const LOCK_KEY: &str = "lock";

/// Calls `POST /__probe` on a Durable Object reserved for readiness checks: the object
/// increments a counter in its storage and returns it, proving a storage round trip.
pub async fn probe(env: &Env, binding: &str) -> std::result::Result<u64, ApiError> {
    let fail = |e: worker::Error| ApiError::unavailable(format!("{binding}: {e}"));
    let stub = env
        .durable_object(binding)
        .and_then(|ns| ns.get_by_name("__readyz__"))
        .map_err(fail)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    let req = Request::new_with_init("https://do.internal/__probe", &init).map_err(fail)?;
    let mut resp = stub.fetch_with_request(req).await.map_err(fail)?;
    let body: ProbeReply = resp.json().await.map_err(fail)?;
    Ok(body.count)
}

#[derive(Debug, Serialize, Deserialize)]
struct ProbeReply {
    count: u64,
}

async fn bump_probe(state: &State) -> Result<Response> {
    let count = state.storage().get::<u64>(PROBE_KEY).await?.unwrap_or(0) + 1;
    state.storage().put(PROBE_KEY, count).await?;
    Response::from_json(&ProbeReply { count })
}

fn now_ms() -> i64 {
    // `Date::now` is the request's start time inside workerd; good enough for leases
    // measured in seconds.
    worker::Date::now().as_millis() as i64
}

fn lock_error(err: &LockError) -> Result<Response> {
    let status = match err {
        LockError::LeaseOutOfRange(_) | LockError::InvalidHolderId => 400,
        LockError::NotHolder(_) | LockError::NotQueued(_) => 409,
    };
    Ok(Response::from_json(&serde_json::json!({ "error": err.to_string() }))?.with_status(status))
}

#[derive(Debug, Deserialize)]
struct HolderRef {
    holder_id: String,
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
        if method == Method::Post && path == "/__probe" {
            return bump_probe(&self.state).await;
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
            LockOp::Heartbeat(who) => match state.heartbeat(&who.holder_id, now) {
                Ok(lease) => Response::from_json(&lease),
                Err(err) => return lock_error(&err),
            },
            LockOp::Release(who) => match state.release(&who.holder_id, now) {
                Ok(next) => Response::from_json(&serde_json::json!({ "next_holder": next })),
                Err(err) => return lock_error(&err),
            },
            LockOp::Cancel(who) => match state.cancel(&who.holder_id) {
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

/// The progressive rollout of one deployment. It stores the rollout record it is given and
/// answers for it; the alarm-driven strategy engine builds on this shell.
#[durable_object]
pub struct Rollout {
    state: State,
}

const ROLLOUT_KEY: &str = "rollout";

impl DurableObject for Rollout {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/__probe") => bump_probe(&self.state).await,
            (Method::Get, "/state") => {
                match self
                    .state
                    .storage()
                    .get::<serde_json::Value>(ROLLOUT_KEY)
                    .await?
                {
                    Some(record) => Response::from_json(&record),
                    None => Response::error("no rollout recorded", 404),
                }
            }
            (Method::Put, "/state") => {
                let record: serde_json::Value = req.json().await?;
                if !record.is_object() {
                    return Response::error("rollout state must be a JSON object", 400);
                }
                self.state.storage().put(ROLLOUT_KEY, &record).await?;
                Response::from_json(&record)
            }
            _ => Response::error("no such rollout operation", 404),
        }
    }
}
