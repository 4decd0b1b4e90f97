//! Durable Object shells: `DeployLock` (one per project environment) and `Rollout` (one per
//! deployment), `Scheduler` and `Outbox` (one each, sweeping due rows: `sweeper`). They only
//! load state, call the pure core and store the result. `client` holds the Worker's typed side
//! of the calls (`LockClient`, and the generic `call` for any object); `rollout_client` the
//! `Rollout` object's protocol and `RolloutClient`.

pub mod client;
mod lock_object;
pub mod outbox_object;
pub mod rollout_client;
mod rollout_object;
pub mod scheduler_object;
mod sweeper;

use serde::{Deserialize, Serialize};
use worker::{Env, Method, Request, RequestInit, Response, Result, State};

use super::deadline;
use crate::api::ApiError;

pub const DEPLOY_LOCK_BINDING: &str = "DEPLOY_LOCK";
pub const ROLLOUT_BINDING: &str = "ROLLOUT";
pub const SCHEDULER_BINDING: &str = "SCHEDULER";
pub const OUTBOX_BINDING: &str = "OUTBOX";

/// Storage key of the readiness probe's last write, kept apart from real state.
const PROBE_KEY: &str = "__probe_written_at";
pub(super) const LOCK_KEY: &str = "lock";
/// How often a readiness probe may write: it always reads the object's storage, and writes
/// only when the last write is older than this, so a load balancer polling `/readyz` every
/// second costs one storage write per object per ten minutes, not one per poll.
const PROBE_WRITE_EVERY_MS: i64 = 10 * 60 * 1000;

/// Calls `GET /__probe` on a Durable Object reserved for readiness checks (it holds no real
/// state) and returns when its storage was last written, within `timeout_ms`.
pub async fn probe(
    env: &Env,
    binding: &str,
    timeout_ms: u64,
) -> std::result::Result<ProbeReply, ApiError> {
    let fail = |e: worker::Error| ApiError::unavailable(format!("{binding}: {e}"));
    let call = async {
        let object = env
            .durable_object(binding)
            .and_then(|ns| ns.get_by_name("__readyz__"))
            .map_err(fail)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get);
        let req = Request::new_with_init("https://do.internal/__probe", &init).map_err(fail)?;
        let mut resp = object.fetch_with_request(req).await.map_err(fail)?;
        if resp.status_code() != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(ApiError::unavailable(format!(
                "{binding}: probe answered {}: {text}",
                resp.status_code()
            )));
        }
        resp.json::<ProbeReply>().await.map_err(fail)
    };
    deadline::within(timeout_ms, call).await.unwrap_or_else(|| {
        Err(ApiError::unavailable(format!(
            "{binding}: no answer within {timeout_ms} ms"
        )))
    })
}

/// What a readiness probe learns from an object's storage.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProbeReply {
    /// When the probe last wrote the object's storage (ms since the epoch).
    pub written_at: i64,
    /// Whether this probe wrote (the last write was older than `PROBE_WRITE_EVERY_MS`).
    pub wrote: bool,
}

/// The object side of `probe`: a storage read every time, a write only when the last one is
/// older than `PROBE_WRITE_EVERY_MS` (proving the write path without writing per poll).
pub(super) async fn answer_probe(state: &State) -> Result<Response> {
    let now = now_ms();
    let last = state.storage().get::<i64>(PROBE_KEY).await?;
    let reply = match last {
        Some(at) if now - at < PROBE_WRITE_EVERY_MS => ProbeReply {
            written_at: at,
            wrote: false,
        },
        _ => {
            state.storage().put(PROBE_KEY, now).await?;
            ProbeReply {
                written_at: now,
                wrote: true,
            }
        }
    };
    Response::from_json(&reply)
}

pub(super) fn now_ms() -> i64 {
    // `Date::now` is the request's start time inside workerd; good enough for leases
    // measured in seconds.
    worker::Date::now().as_millis() as i64
}
