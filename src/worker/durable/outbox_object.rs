//! The `Outbox` Durable Object: one object (named `global`) whose alarm is the next time an
//! outbox row is due. Every writer of outbox rows arms it (`worker::outbox::kick`), so a
//! notification leaves within a second or so; the Worker's every-minute cron sweep is the
//! safety net (and the only runner when the object's alarm was lost). Each attempt claims its
//! row in D1 first, so the two never attempt one row at once. A shell: the sweep is
//! `worker::outbox::sweep`, the alarm's handling `durable::sweeper`.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::{sweeper, OUTBOX_BINDING};
use crate::api::ApiError;

/// Makes sure the outbox is swept at `at` at the latest (an earlier alarm is kept).
///
/// # Errors
/// The object did not answer.
pub async fn arm(env: &Env, at: i64) -> std::result::Result<(), ApiError> {
    sweeper::arm(env, OUTBOX_BINDING, at).await
}

#[durable_object]
pub struct Outbox {
    state: State,
    env: Env,
}

impl DurableObject for Outbox {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        sweeper::serve(&self.state, req).await
    }

    async fn alarm(&self) -> Result<Response> {
        let swept = crate::worker::outbox::sweep(&self.env).await;
        sweeper::rearm(&self.state, "outbox", swept).await
    }
}
