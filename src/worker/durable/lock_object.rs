//! The `DeployLock` Durable Object: the lock and FIFO queue of one (project, environment).
//! A shell: decode a `lock::protocol::LockOp`, apply it to the stored state, store, answer.

use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::client::{answer, read_op};
use super::{answer_probe, now_ms, LOCK_KEY};
use crate::lock::{self, protocol};

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
        if req.method() == Method::Get && req.path() == "/__probe" {
            return answer_probe(&self.state).await;
        }
        // Read the body before loading the state: awaiting the body lets other requests in,
        // while between the storage read and write below only synchronous code runs, which
        // the Durable Object's input gate keeps atomic. Loading first lost concurrent writes.
        let op: protocol::LockOp = read_op(&mut req).await?;
        let mut state = self.load().await?;
        let reply = protocol::apply(&mut state, op, now_ms());
        if reply.is_ok() {
            self.save(&state).await?;
        }
        answer(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let mut state = self.load().await?;
        state.expire(now_ms());
        self.save(&state).await?;
        Response::ok("expired leases")
    }
}
