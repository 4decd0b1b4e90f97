//! The `Scheduler` Durable Object: one object (named `global`) whose alarm is the next time a
//! scheduled deployment or recurring schedule is due. `wrangler dev` fires alarms but not cron
//! triggers, so this is what starts scheduled deploys locally; in production the Worker's
//! every-minute cron sweep (`scheduled` handler) is the safety net. Either run claims each
//! start in D1 with a conditional update (`worker::scheduler`), so the two never start one
//! deployment twice. A shell: the sweep is `worker::scheduler::sweep`, the alarm's handling
//! `durable::sweeper`.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::{sweeper, SCHEDULER_BINDING};
use crate::api::ApiError;

/// Makes sure the scheduler wakes at `at` at the latest (an earlier alarm is kept).
///
/// # Errors
/// The object did not answer.
pub async fn arm(env: &Env, at: i64) -> std::result::Result<(), ApiError> {
    sweeper::arm(env, SCHEDULER_BINDING, at).await
}

#[durable_object]
pub struct Scheduler {
    state: State,
    env: Env,
}

impl DurableObject for Scheduler {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        sweeper::serve(&self.state, req).await
    }

    async fn alarm(&self) -> Result<Response> {
        let swept = crate::worker::scheduler::sweep(&self.env).await;
        sweeper::rearm(&self.state, "scheduler", swept).await
    }
}
