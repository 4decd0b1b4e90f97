//! The `Scheduler` Durable Object: one object (named `global`) whose alarm is the next time a
//! scheduled deployment or recurring schedule is due. `wrangler dev` fires alarms but not cron
//! triggers, so this is what starts scheduled deploys locally; in production the Worker's
//! every-minute cron sweep (`scheduled` handler) is the safety net. Either run claims each
//! start in D1 with a conditional update (`worker::scheduler`), so the two never start one
//! deployment twice. A shell: the sweep is `worker::scheduler::sweep`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::client::{answer, call, read_op, ObjectOp};
use super::{answer_probe, now_ms, SCHEDULER_BINDING};
use crate::api::ApiError;

/// The one object's name: schedules are few and a sweep is a handful of D1 reads.
const NAME: &str = "global";
/// An alarm that failed is retried this soon; a sweep never leaves the object without one
/// while something is pending.
const RETRY_MS: i64 = 15_000;

/// Its protocol: be woken at `at` (Unix ms) at the latest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SchedulerOp {
    Arm { at: i64 },
}

impl ObjectOp for SchedulerOp {
    type Reply = i64;
    type Refusal = String;
    fn name(&self) -> &'static str {
        "arm"
    }
}

/// Makes sure the scheduler wakes at `at` at the latest (an earlier alarm is kept).
///
/// # Errors
/// The object did not answer.
pub async fn arm(env: &Env, at: i64) -> std::result::Result<(), ApiError> {
    call(env, SCHEDULER_BINDING, NAME, &SchedulerOp::Arm { at })
        .await
        .map(drop)
        .map_err(|e| match e {
            super::client::ObjectError::Refused(m) => ApiError::internal(m),
            super::client::ObjectError::Failed(e) => e,
        })
}

#[durable_object]
pub struct Scheduler {
    state: State,
    env: Env,
}

impl Scheduler {
    /// Sets the alarm to `at` unless one is set earlier; returns the alarm time.
    async fn wake_by(&self, at: i64) -> Result<i64> {
        let storage = self.state.storage();
        let current = storage.get_alarm().await?;
        if current.is_some_and(|c| c <= at) {
            return Ok(current.unwrap_or(at));
        }
        let wait = u64::try_from(at - now_ms()).unwrap_or(0);
        storage.set_alarm(Duration::from_millis(wait)).await?;
        Ok(at)
    }
}

impl DurableObject for Scheduler {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() == Method::Get && req.path() == "/__probe" {
            return answer_probe(&self.state).await;
        }
        let SchedulerOp::Arm { at } = read_op(&mut req).await?;
        let set = self.wake_by(at).await?;
        answer::<i64, String>(&Ok(set))
    }

    async fn alarm(&self) -> Result<Response> {
        let next = match crate::worker::scheduler::sweep(&self.env).await {
            Ok(next) => next,
            Err(e) => {
                worker::console_error!("scheduler sweep: {}", e.message);
                Some(now_ms() + RETRY_MS)
            }
        };
        if let Some(at) = next {
            // Never a busy loop: at least a second between sweeps.
            let wait = u64::try_from((at - now_ms()).max(1_000)).unwrap_or(1_000);
            self.state
                .storage()
                .set_alarm(Duration::from_millis(wait))
                .await?;
        }
        Response::ok("swept")
    }
}
