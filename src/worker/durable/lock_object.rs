//! The `DeployLock` Durable Object: the lock and FIFO queue of one (project, environment).
//! A shell: decode a `lock::protocol::LockRequest`, apply its operation to the stored state,
//! store the state with the audit entries of what changed (`lock::audit::changes`), answer.
//!
//! Its alarm is the lock's clock: it expires a lease that ran out, writes the waiting audit
//! entries to D1 (`lock_audit::flush`, one batch), and reports a hold that has lasted longer
//! than `LOCK_STUCK_AFTER_SECS` as `lock.stuck` once. Entries are stored with the change that
//! made them, so none is lost when the object or D1 fails between the change and the flush.

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use super::super::lock_audit::{self, StuckHold};
use super::client::{answer, read_op};
use super::{answer_probe, now_ms, LOCK_KEY};
use crate::lock::audit::{self, AuditRecord, Cause, Change, HoldId};
use crate::lock::{self, protocol};

/// The storage key of `Meta`, written with the lock in one `put_multiple`.
const META_KEY: &str = "lock_meta";
/// Most audit entries kept waiting for D1. More means D1 has been failing for a while: the
/// object then writes them before any new change, and refuses the change if it cannot (a lock
/// change is never made without its record). Also keeps the stored value small.
const MAX_PENDING: usize = 100;
/// A failed flush is retried this soon.
const RETRY_MS: i64 = 10_000;
/// The Worker variable setting how long a hold lasts before it is `lock.stuck`.
const STUCK_AFTER_VAR: &str = "LOCK_STUCK_AFTER_SECS";

/// What the object keeps besides the lock itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    /// The environment whose lock this is (the object's name; learnt from the first request).
    #[serde(default)]
    environment_id: String,
    /// The next audit entry's sequence number.
    #[serde(default)]
    next_seq: u64,
    /// Audit entries not yet in D1, oldest first.
    #[serde(default)]
    pending: Vec<AuditRecord>,
    /// The last hold reported as `lock.stuck` (one event per hold).
    #[serde(default)]
    stuck_reported: Option<HoldId>,
}

impl Meta {
    fn record(&mut self, changes: Vec<Change>, at: i64) {
        let text = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
        for change in changes {
            self.pending.push(AuditRecord {
                seq: self.next_seq,
                at,
                actor: change.actor,
                action: change.action.to_owned(),
                before: text(change.before),
                after: text(change.after),
            });
            self.next_seq += 1;
        }
    }

    /// Whether entries wait and can be written (an object stored before it learnt its
    /// environment keeps them until a request names it).
    fn flushable(&self) -> bool {
        !self.pending.is_empty() && !self.environment_id.is_empty()
    }
}

/// The lock and FIFO queue of one (project, environment). Strongly consistent because a
/// Durable Object handles its requests one storage transaction at a time.
#[durable_object]
pub struct DeployLock {
    state: State,
    env: Env,
}

/// Both keys in one `put_multiple`: the change and its audit entries are stored together or
/// not at all. The field names are the storage keys `LOCK_KEY` and `META_KEY`.
#[derive(Serialize)]
struct Stored<'a> {
    lock: &'a lock::DeployLock,
    lock_meta: &'a Meta,
}

impl DeployLock {
    async fn load(&self) -> Result<(lock::DeployLock, Meta)> {
        let storage = self.state.storage();
        let lock = storage
            .get::<lock::DeployLock>(LOCK_KEY)
            .await?
            .unwrap_or_default();
        let meta = storage.get::<Meta>(META_KEY).await?.unwrap_or_default();
        Ok((lock, meta))
    }

    async fn store(&self, lock: &lock::DeployLock, meta: &Meta) -> Result<()> {
        debug_assert_eq!((LOCK_KEY, META_KEY), ("lock", "lock_meta"));
        self.state
            .storage()
            .put_multiple(Stored {
                lock,
                lock_meta: meta,
            })
            .await
    }

    /// Points the alarm at the next thing to do (`audit::next_alarm_ms`): now when entries
    /// wait, else the lease's end or the moment the hold becomes stuck.
    async fn arm(&self, lock: &lock::DeployLock, meta: &Meta, now: i64) -> Result<()> {
        let next = audit::next_alarm_ms(
            lock,
            meta.stuck_reported.as_ref(),
            self.stuck_after_ms(),
            meta.flushable(),
            now,
        );
        self.set_alarm(next).await
    }

    async fn set_alarm(&self, at: Option<i64>) -> Result<()> {
        match at {
            // An `i64` would be taken as an offset from now; the deadline is absolute.
            Some(at) => {
                let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
                    .unwrap_or_else(chrono::Utc::now);
                self.state.storage().set_alarm(at).await
            }
            None => self.state.storage().delete_alarm().await,
        }
    }

    fn stuck_after_ms(&self) -> i64 {
        self.env
            .var(STUCK_AFTER_VAR)
            .ok()
            .and_then(|v| v.to_string().trim().parse::<i64>().ok())
            .filter(|secs| *secs > 0)
            .map_or(audit::DEFAULT_STUCK_AFTER_MS, |secs| {
                secs.saturating_mul(1000)
            })
    }

    /// Writes the waiting entries (and `stuck`'s deliveries) in one D1 batch, then forgets
    /// the entries written, reading the state again: requests may have added entries while
    /// the batch was on its way. Whether it worked.
    async fn flush(&self, meta: &Meta, stuck: Option<&lock::Lease>, now: i64) -> Result<bool> {
        let stuck_hold = stuck.map(|lease| StuckHold {
            lease,
            stuck_after_ms: self.stuck_after_ms(),
            now_ms: now,
        });
        let records = if meta.environment_id.is_empty() {
            &[][..]
        } else {
            &meta.pending[..]
        };
        let written = records.last().map(|r| r.seq);
        if let Err(e) = lock_audit::flush(
            &self.env,
            &meta.environment_id,
            records,
            stuck_hold.as_ref(),
        )
        .await
        {
            worker::console_error!(
                "DeployLock {}: writing {} audit entries failed, retrying: {}",
                meta.environment_id,
                records.len(),
                e.message
            );
            return Ok(false);
        }
        let (lock, mut fresh) = self.load().await?;
        if let Some(last) = written {
            fresh.pending.retain(|r| r.seq > last);
        }
        if let Some(lease) = stuck {
            fresh.stuck_reported = Some(HoldId::of(lease));
        }
        self.store(&lock, &fresh).await?;
        Ok(true)
    }
}

impl DurableObject for DeployLock {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() == Method::Get && req.path() == "/__probe" {
            return answer_probe(&self.state).await;
        }
        // Read the body before loading the state: awaiting the body lets other requests in,
        // while between the storage read and write below only storage calls run, which the
        // Durable Object's input gate keeps atomic. Loading first lost concurrent writes.
        let request: protocol::LockRequest = read_op(&mut req).await?;
        let (mut state, mut meta) = self.load().await?;
        if meta.environment_id.is_empty() {
            meta.environment_id.clone_from(&request.environment_id);
        }
        if meta.pending.len() >= MAX_PENDING {
            // D1 has refused the entries for a while: write them before changing anything
            // more, or refuse the change rather than make it unrecorded.
            if !self.flush(&meta, None, now_ms()).await? {
                return Err(worker::Error::RustError(format!(
                    "{} lock changes are waiting for their audit entries (D1 is failing); retry shortly",
                    meta.pending.len()
                )));
            }
            (state, meta) = self.load().await?;
            meta.environment_id.clone_from(&request.environment_id);
        }
        let now = now_ms();
        let before = state.clone();
        let actor = request.actor();
        let reply = protocol::apply(&mut state, request.op.clone(), now);
        if reply.is_ok() {
            // Entries already waiting mean the alarm is set for their flush (sooner than any
            // other deadline, which it re-arms for): leave it. Saves a storage call per
            // request on a busy lock, and changes made meanwhile share the next flush.
            let flush_armed = meta.flushable();
            meta.record(audit::changes(&before, &state, &request.cause(&actor)), now);
            self.store(&state, &meta).await?;
            if !flush_armed {
                self.arm(&state, &meta, now).await?;
            }
        }
        answer(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let (mut state, mut meta) = self.load().await?;
        let before = state.clone();
        state.expire(now);
        meta.record(audit::changes(&before, &state, &Cause::Alarm), now);
        let stuck = audit::stuck_hold(
            &state,
            meta.stuck_reported.as_ref(),
            self.stuck_after_ms(),
            now,
        )
        .filter(|_| !meta.environment_id.is_empty())
        .cloned();
        self.store(&state, &meta).await?;
        if meta.flushable() || stuck.is_some() {
            if !self.flush(&meta, stuck.as_ref(), now).await? {
                self.set_alarm(Some(now + RETRY_MS)).await?;
                return Response::ok("flush failed; retrying");
            }
            (state, meta) = self.load().await?;
        }
        self.arm(&state, &meta, now_ms()).await?;
        Response::ok("lock alarm done")
    }
}
