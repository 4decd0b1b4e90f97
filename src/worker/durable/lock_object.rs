//! The `DeployLock` Durable Object: the lock and FIFO queue of one (project, environment).
//! A shell: decode a `lock::protocol::LockRequest`, apply its operation to the stored state,
//! store the state with the audit entries of what changed (`lock::audit::changes`), answer.
//!
//! Its alarm is the lock's clock: it expires a lease that ran out, writes the waiting audit
//! entries to D1 (`lock_audit::flush`, one batch), and reports a hold that has lasted longer
//! than `LOCK_STUCK_AFTER_SECS` as `lock.stuck` once. Entries are stored with the change that
//! made them, so none is lost when the object or D1 fails between the change and the flush.

use wasm_bindgen::JsValue;
use worker::{
    durable_object, js_sys, DurableObject, Env, Method, Request, Response, Result, State,
};

use super::super::lock_audit::{self, StuckHold};
use super::client::{answer, read_op};
use super::{answer_probe, now_ms, LOCK_KEY};
use crate::lock::audit::{self, AuditRecord, Cause, HoldId};
use crate::lock::journal::{self, Journal};
use crate::lock::{self, protocol};

/// The storage key of the `Journal`, written with the lock in one `put_multiple`.
const META_KEY: &str = "lock_meta";
/// The Worker variable setting how long a hold lasts before it is `lock.stuck`.
const STUCK_AFTER_VAR: &str = "LOCK_STUCK_AFTER_SECS";

/// The lock and FIFO queue of one (project, environment). Strongly consistent because a
/// Durable Object handles its requests one storage transaction at a time.
#[durable_object]
pub struct DeployLock {
    state: State,
    env: Env,
}

fn js_error(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

impl DeployLock {
    async fn load(&self) -> Result<(lock::DeployLock, Journal)> {
        let storage = self.state.storage();
        let lock = storage
            .get::<lock::DeployLock>(LOCK_KEY)
            .await?
            .unwrap_or_default();
        let meta = storage.get::<Journal>(META_KEY).await?.unwrap_or_default();
        Ok((lock, meta))
    }

    /// The lock, the journal and the change's new entries (each under its own key, as JSON
    /// text) in one `put_multiple`: a change and its entries are stored together or not at
    /// all, and a request writes only its own entries, never the ones still waiting.
    async fn store(
        &self,
        lock: &lock::DeployLock,
        meta: &Journal,
        records: &[AuditRecord],
    ) -> Result<()> {
        let values = js_sys::Object::new();
        let set = |key: &str, value: JsValue| {
            js_sys::Reflect::set(&values, &JsValue::from_str(key), &value).map(|_| ())
        };
        // As JSON parsed in JavaScript: the same stored value as `put`'s serializer makes,
        // built in one call instead of one per field.
        let object = |json: serde_json::Result<String>| {
            js_sys::JSON::parse(&json.map_err(js_error)?).map_err(worker::Error::from)
        };
        set(LOCK_KEY, object(serde_json::to_string(lock))?)?;
        set(META_KEY, object(serde_json::to_string(meta))?)?;
        for record in records {
            let text = serde_json::to_string(record).map_err(js_error)?;
            set(&journal::entry_key(record.seq), JsValue::from_str(&text))?;
        }
        self.state.storage().put_multiple_raw(values).await
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

    /// The entries stored under their own keys, oldest first, at most `journal::FLUSH_MAX`;
    /// and whether more are stored.
    async fn stored_entries(&self) -> Result<(Vec<AuditRecord>, bool)> {
        let listed = self
            .state
            .storage()
            .list_with_options(
                worker::ListOptions::new()
                    .prefix(journal::ENTRY_PREFIX)
                    .limit(journal::FLUSH_MAX + 1),
            )
            .await?;
        let mut records = Vec::with_capacity(listed.size() as usize);
        let mut failed = None;
        listed.for_each(&mut |value, _key| {
            let parsed = value
                .as_string()
                .ok_or_else(|| "not text".to_owned())
                .and_then(|t| serde_json::from_str::<AuditRecord>(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(record) => records.push(record),
                Err(e) => failed = Some(e),
            }
        });
        if let Some(e) = failed {
            return Err(js_error(format!("a stored audit entry is unreadable: {e}")));
        }
        let more = records.len() > journal::FLUSH_MAX;
        records.truncate(journal::FLUSH_MAX);
        Ok((records, more))
    }

    /// Writes the waiting entries (and `stuck`'s deliveries) in one D1 batch, then forgets
    /// them: the journal is read again, as requests may have added entries while the batch
    /// was on its way, and the written entries' keys are deleted. A flush retried after it
    /// committed writes nothing twice (`source_key`). Whether it worked; the state is stored.
    async fn flush(&self, stuck: Option<&lock::Lease>, now: i64) -> Result<bool> {
        let (_, meta) = self.load().await?;
        let (keyed, more) = if meta.environment_id.is_empty() {
            (Vec::new(), false)
        } else {
            self.stored_entries().await?
        };
        // Entries an older version kept in the journal itself precede the keyed ones.
        let records: Vec<AuditRecord> = if meta.environment_id.is_empty() {
            Vec::new()
        } else {
            meta.pending.iter().cloned().chain(keyed).collect()
        };
        // With all stored entries read, everything numbered before the journal's next entry
        // is written by this flush (or was gone already).
        let through = if more {
            records.last().map(|r| r.seq)
        } else {
            meta.next_seq.checked_sub(1)
        };
        let stuck_hold = stuck.map(|lease| StuckHold {
            lease,
            stuck_after_ms: self.stuck_after_ms(),
            now_ms: now,
        });
        if let Err(e) = lock_audit::flush(
            &self.env,
            &meta.environment_id,
            &records,
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
            let (lock, mut fresh) = self.load().await?;
            fresh.failed(now_ms());
            self.store(&lock, &fresh, &[]).await?;
            return Ok(false);
        }
        let (lock, mut fresh) = self.load().await?;
        if let (Some(through), false) = (through, meta.environment_id.is_empty()) {
            fresh.written(through, now, more);
        }
        if let Some(lease) = stuck {
            fresh.stuck_reported = Some(HoldId::of(lease));
        }
        let keys: Vec<String> = records
            .iter()
            .filter(|r| meta.pending.iter().all(|p| p.seq != r.seq))
            .map(|r| journal::entry_key(r.seq))
            .collect();
        self.store(&lock, &fresh, &[]).await?;
        if !keys.is_empty() {
            self.state.storage().delete_multiple(keys).await?;
        }
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
        if meta.waiting() >= journal::MAX_WAITING {
            // D1 has refused the entries for a while: write them before changing anything
            // more, or refuse the change rather than make it unrecorded.
            if meta.environment_id.is_empty() {
                meta.environment_id.clone_from(&request.environment_id);
                self.store(&state, &meta, &[]).await?;
            }
            if !self.flush(None, now_ms()).await? {
                return Err(worker::Error::RustError(format!(
                    "{} lock changes are waiting for their audit entries (D1 is failing); retry shortly",
                    meta.waiting()
                )));
            }
            (state, meta) = self.load().await?;
        }
        let known = meta.clone();
        if meta.environment_id.is_empty() {
            meta.environment_id.clone_from(&request.environment_id);
        }
        let now = now_ms();
        let before = state.clone();
        let actor = request.actor();
        let reply = protocol::apply(&mut state, request.op.clone(), now);
        if reply.is_ok() {
            // The first entry to wait arms the alarm for the flush (`FLUSH_DELAY_MS` on,
            // sooner than any deadline a change makes); entries made meanwhile share that
            // flush, and a request that changes nothing (a renewal, a read) writes nothing
            // but its lease.
            let due = meta.flush_due_ms;
            let records = meta.record(audit::changes(&before, &state, &request.cause(&actor)), now);
            if state != before || meta != known {
                self.store(&state, &meta, &records).await?;
            }
            if Journal::arms_alarm(due, records.len(), now) {
                self.set_alarm(meta.next_alarm_ms(&state, self.stuck_after_ms()))
                    .await?;
            }
        }
        answer(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let now = now_ms();
        let (mut state, mut meta) = self.load().await?;
        let before = state.clone();
        state.expire(now);
        let records = meta.record(audit::changes(&before, &state, &Cause::Alarm), now);
        let stuck = audit::stuck_hold(
            &state,
            meta.stuck_reported.as_ref(),
            self.stuck_after_ms(),
            now,
        )
        .filter(|_| !meta.environment_id.is_empty())
        .cloned();
        if !records.is_empty() {
            self.store(&state, &meta, &records).await?;
        }
        if meta.flushable() || stuck.is_some() {
            if !self.flush(stuck.as_ref(), now).await? {
                self.set_alarm(Some(now_ms() + journal::RETRY_MS)).await?;
                return Response::ok("flush failed; retrying");
            }
            (state, meta) = self.load().await?;
        }
        self.set_alarm(meta.next_alarm_ms(&state, self.stuck_after_ms()))
            .await?;
        Response::ok("lock alarm done")
    }
}
