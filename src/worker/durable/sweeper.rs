//! What the `Scheduler` and `Outbox` objects share: one object (named `global`) whose alarm
//! sweeps due rows in D1 and is re-armed for the next one, and `arm`, which wakes it sooner.
//! The rows carry their own claims, so the cron sweep may run the same sweep at any time.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::{Env, Method, Request, Response, Result, State};

use super::client::{answer, call, read_op, ObjectError, ObjectOp};
use super::{answer_probe, now_ms};
use crate::api::ApiError;

/// The one object's name: a sweep is a handful of D1 reads, one object is plenty.
const NAME: &str = "global";
/// An alarm that failed is retried this soon; a sweep never leaves the object without one
/// while something is pending.
const RETRY_MS: i64 = 15_000;

/// The protocol: be woken at `at` (Unix ms) at the latest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SweepOp {
    Arm { at: i64 },
}

impl ObjectOp for SweepOp {
    type Reply = i64;
    type Refusal = String;
    fn name(&self) -> &'static str {
        "arm"
    }
}

/// Makes sure the object behind `binding` wakes at `at` at the latest (an earlier alarm is
/// kept).
///
/// # Errors
/// The object did not answer.
pub async fn arm(env: &Env, binding: &str, at: i64) -> std::result::Result<(), ApiError> {
    call(env, binding, NAME, &SweepOp::Arm { at })
        .await
        .map(drop)
        .map_err(|e| match e {
            ObjectError::Refused(m) => ApiError::internal(m),
            ObjectError::Failed(e) => e,
        })
}

/// Sets the alarm to `at` unless one is set earlier; returns the alarm time.
async fn wake_by(state: &State, at: i64) -> Result<i64> {
    let storage = state.storage();
    let current = storage.get_alarm().await?;
    if let Some(current) = current.filter(|c| *c <= at) {
        return Ok(current);
    }
    let wait = u64::try_from(at - now_ms()).unwrap_or(0);
    storage.set_alarm(Duration::from_millis(wait)).await?;
    Ok(at)
}

/// The object's `fetch`: the readiness probe, or `SweepOp::Arm`.
pub(super) async fn serve(state: &State, mut req: Request) -> Result<Response> {
    if req.method() == Method::Get && req.path() == "/__probe" {
        return answer_probe(state).await;
    }
    let SweepOp::Arm { at } = read_op(&mut req).await?;
    let set = wake_by(state, at).await?;
    answer::<i64, String>(&Ok(set))
}

/// The object's `alarm` after its sweep: re-armed for the next due row (a failed sweep is
/// retried soon), never sooner than a second from now (no busy loop).
pub(super) async fn rearm(
    state: &State,
    what: &str,
    swept: std::result::Result<Option<i64>, ApiError>,
) -> Result<Response> {
    let next = match swept {
        Ok(next) => next,
        Err(e) => {
            worker::console_error!("{what} sweep: {}", e.message);
            Some(now_ms() + RETRY_MS)
        }
    };
    if let Some(at) = next {
        let wait = u64::try_from((at - now_ms()).max(1_000)).unwrap_or(1_000);
        state
            .storage()
            .set_alarm(Duration::from_millis(wait))
            .await?;
    }
    Response::ok("swept")
}
