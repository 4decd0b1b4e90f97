//! What the `DeployLock` object writes to D1: its audit entries (`lock.acquire`, `lock.queue`,
//! `lock.release`, `lock.handover`, `lock.expire`, `lock.cancel`, `lock.drop`) and the
//! `lock.stuck` notifications, in one batch per flush.
//!
//! The object keeps each change's entry in its own storage, in the same write as the change,
//! then flushes them here from its alarm (`lock::journal::FLUSH_DELAY_MS` after the first
//! entry waits, so the changes made meanwhile share one statement). An entry's `source_key`
//! (`lock:<environment>:<seq>`, unique in `audit_log`, migration 0019) makes a flush retried
//! after it committed insert nothing twice. The team is the
//! environment's (looked up in the insert itself: the object does not need to know it).

use worker::{D1Database, D1PreparedStatement, Env};

use super::db;
use crate::api::ApiError;
use crate::lock::audit::AuditRecord;
use crate::lock::Lease;
use crate::notify::EventType;

/// A hold held for longer than the threshold: what its `lock.stuck` event says.
pub struct StuckHold<'a> {
    pub lease: &'a Lease,
    pub stuck_after_ms: i64,
    pub now_ms: i64,
}

/// All of `records` in one statement: they travel as one JSON array (one bound parameter,
/// whatever their number), inserted in sequence order.
fn audit_insert(
    db: &D1Database,
    environment_id: &str,
    records: &[AuditRecord],
) -> worker::Result<D1PreparedStatement> {
    let records = serde_json::to_string(records)
        .map_err(|e| worker::Error::RustError(format!("audit entries as JSON: {e}")))?;
    worker::query!(
        db,
        "INSERT OR IGNORE INTO audit_log
           (team_id, at, actor, action, target_type, target_id, before_json, after_json, source_key)
         SELECT e.team_id, json_extract(r.value, '$.at'), json_extract(r.value, '$.actor'),
           json_extract(r.value, '$.action'), 'environment', e.id, json_extract(r.value, '$.before'),
           json_extract(r.value, '$.after'), 'lock:' || e.id || ':' || json_extract(r.value, '$.seq')
         FROM environments e, json_each(?2) r WHERE e.id = ?1
         ORDER BY json_extract(r.value, '$.seq')",
        &environment_id,
        &records
    )
}

/// One outbox row per enabled channel of the environment's project (all environments, or
/// this one) that subscribes to `lock.stuck`. The row id `lock_stuck_<env>_<acquired>_<channel>`
/// is the delivery's idempotency key: one hold queues one delivery per channel, ever. The
/// payload is the `notify::EventPayload` the channel handler renders: `deployment` describes
/// the hold (its `id` is the holder id, a deployment's id when a deployment holds the lock).
fn stuck_insert(
    db: &D1Database,
    environment_id: &str,
    stuck: &StuckHold<'_>,
) -> worker::Result<D1PreparedStatement> {
    let lease = stuck.lease;
    let held_min = (stuck.now_ms - lease.acquired_at_ms) / 60_000;
    let message = format!(
        "the lock has been held for {held_min} min ({} s or more is stuck): {}",
        stuck.stuck_after_ms / 1000,
        lease.claim.purpose
    );
    // Numbers arrive from JavaScript as doubles: cast them, or the payload would say
    // `1764637200000.0` where the channel handler reads an integer.
    worker::query!(
        db,
        "INSERT OR IGNORE INTO outbox (id, team_id, kind, target, event_type, payload, next_attempt_at, created_at)
         SELECT 'lock_stuck_' || e.id || '_' || CAST(?2 AS INTEGER) || '_' || c.id, e.team_id, 'channel', c.id, ?3,
           json_object(
             'type', ?3, 'event_id', CAST(?2 AS INTEGER), 'at', CAST(?4 AS INTEGER),
             'deployment', json_object(
               'id', ?5, 'project', p.slug, 'environment', e.name, 'status', 'holding_lock',
               'message', ?6, 'requested_by', ?7, 'started_at', CAST(?2 AS INTEGER))),
           CAST(?4 AS INTEGER), CAST(?4 AS INTEGER)
         FROM environments e
         JOIN projects p ON p.id = e.project_id
         JOIN notification_channels c ON c.team_id = e.team_id AND c.project_id = e.project_id
           AND (c.environment_id IS NULL OR c.environment_id = e.id)
         WHERE e.id = ?1 AND c.enabled = 1 AND instr(c.events, ',' || ?3 || ',') > 0",
        &environment_id,
        &lease.acquired_at_ms,
        &EventType::LockStuck.as_str(),
        &stuck.now_ms,
        &lease.claim.holder_id,
        &message,
        &lease.claim.actor
    )
}

/// Writes `records` and, when given, the `lock.stuck` deliveries of `stuck` as one D1 batch;
/// wakes the outbox when a delivery may have been queued.
///
/// # Errors
/// D1 failed: nothing was written, the object keeps its entries and retries.
pub async fn flush(
    env: &Env,
    environment_id: &str,
    records: &[AuditRecord],
    stuck: Option<&StuckHold<'_>>,
) -> Result<(), ApiError> {
    if records.is_empty() && stuck.is_none() {
        return Ok(());
    }
    let db = db::db(env)?;
    let mut stmts = Vec::with_capacity(2);
    if !records.is_empty() {
        stmts.push(audit_insert(&db, environment_id, records));
    }
    let stmts_before_stuck = stmts.len();
    if let Some(stuck) = stuck {
        stmts.push(stuck_insert(&db, environment_id, stuck));
    }
    let results = db::batch(&db, stmts).await?;
    if let Some(stuck) = stuck {
        let queued = db::changes(&results, stmts_before_stuck);
        worker::console_log!(
            "lock.stuck: {environment_id} held by {} since {}: {queued} deliveries queued",
            stuck.lease.claim.holder_id,
            stuck.lease.acquired_at_ms
        );
        if queued > 0 {
            super::outbox::kick(env).await;
        }
    }
    Ok(())
}
