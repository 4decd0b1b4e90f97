//! The outbox's shell: claims due rows in D1, lets the handler of each row's kind make one
//! attempt, and stores what `outbox::decide` says (delivered, retry at, failed, endpoint
//! disabled) with a line in the delivery log. Run by the `Outbox` object's alarm and by the
//! every-minute cron sweep; the claim (a conditional update setting a lease) keeps the two
//! from attempting one row at once.
//!
//! Adding a kind of deferred work: write its rows with `enqueue_stmt` in the batch of the
//! change that causes them, then `kick`; add its handler to `attempt_kind`.

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Env};

use super::cf_fetch::FetchTransport;
use super::db::{self, now_ms};
use super::durable::outbox_object;
use crate::api::ApiError;
use crate::cloudflare::{HttpRequest, Transport};
use crate::outbox::{decide, AttemptResult, Decision, Entry, RetryPolicy, KIND_CHANNEL, LEASE_MS};

/// Rows attempted per sweep (at once); the rest wait for the next sweep, a second later.
const SWEEP_LIMIT: i64 = 20;
/// How much of a receiver's answer the delivery log keeps.
const DETAIL_CHARS: usize = 300;

/// One attempt as a handler reports it.
pub(super) struct Attempted {
    pub result: AttemptResult,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// What the log shows: the start of the receiver's answer, or why there was none.
    pub detail: Option<String>,
}

impl Attempted {
    pub fn unsendable(why: impl Into<String>) -> Self {
        let why = why.into();
        Self {
            result: AttemptResult::Unsendable(why.clone()),
            status: None,
            detail: Some(why),
        }
    }
}

/// Sends one request (bounded by the transport's deadline) and reads the answer: what most
/// handlers' attempts come down to.
pub(super) async fn send(request: HttpRequest) -> Attempted {
    match FetchTransport.send(request).await {
        Ok(response) => {
            let retry_after = response.header("retry-after").map(str::to_owned);
            let text = String::from_utf8_lossy(&response.body);
            let detail =
                (!text.trim().is_empty()).then(|| text.chars().take(DETAIL_CHARS).collect());
            Attempted {
                result: AttemptResult::Answered {
                    status: response.status,
                    retry_after,
                },
                status: Some(response.status),
                detail,
            }
        }
        Err(e) => Attempted {
            result: AttemptResult::NoAnswer(e.to_string()),
            status: None,
            detail: Some(e.to_string()),
        },
    }
}

/// The handler of each kind.
async fn attempt_kind(env: &Env, db: &D1Database, entry: &Entry) -> Attempted {
    match entry.kind.as_str() {
        KIND_CHANNEL => super::outbox_channel::attempt(env, db, entry).await,
        super::github_work::KIND => super::github_work::attempt(env, db, entry).await,
        super::slack_work::KIND => super::slack_work::attempt(env, db, entry).await,
        other => Attempted::unsendable(format!("no handler for outbox kind `{other}`")),
    }
}

/// What a kind does when its endpoint answered 410 Gone (besides failing the row).
fn disable_stmts(
    db: &D1Database,
    entry: &Entry,
    reason: &str,
) -> Vec<worker::Result<D1PreparedStatement>> {
    match (entry.kind.as_str(), entry.target.as_deref()) {
        (KIND_CHANNEL, Some(channel)) => {
            super::outbox_channel::disable_stmts(db, &entry.team_id, channel, reason)
        }
        _ => Vec::new(),
    }
}

/// A row of another kind of deferred work, for the batch of the change that causes it. The
/// key is the idempotency key (`outbox::valid_key`): the same key twice queues one row.
#[allow(dead_code)] // the first caller outside notifications is the GitHub integration
pub(super) fn enqueue_stmt(
    db: &D1Database,
    team_id: &str,
    kind: &str,
    key: &str,
    target: Option<&str>,
    payload: &serde_json::Value,
) -> worker::Result<D1PreparedStatement> {
    let now = now_ms();
    worker::query!(
        db,
        "INSERT OR IGNORE INTO outbox (id, team_id, kind, target, payload, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        &key,
        &team_id,
        &kind,
        &target,
        &payload.to_string(),
        &now
    )
}

/// Wakes the `Outbox` object now, after a batch that may have queued rows. A failure is only
/// logged: the rows are in D1 and the cron sweep attempts them within a minute.
pub(super) async fn kick(env: &Env) {
    if let Err(e) = outbox_object::arm(env, now_ms()).await {
        worker::console_error!("waking the outbox: {}", e.message);
    }
}

/// Attempts every due row (at most `SWEEP_LIMIT`, at once) and returns when the next one is
/// due, if any.
///
/// # Errors
/// D1 failed while reading the due rows or the next due time.
pub(super) async fn sweep(env: &Env) -> Result<Option<i64>, ApiError> {
    let db = db::db(env)?;
    let now = now_ms();
    let due = db::all::<Entry>(worker::query!(
        &db,
        "SELECT id, team_id, kind, target, payload, attempts, created_at FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
         ORDER BY next_attempt_at LIMIT ?2",
        &now,
        &SWEEP_LIMIT
    ))
    .await?;
    let runs = due.iter().map(|entry| attempt_entry(env, &db, entry));
    for (entry, outcome) in due.iter().zip(futures::future::join_all(runs).await) {
        if let Err(e) = outcome {
            worker::console_error!("outbox {}: {}", entry.id, e.message);
        }
    }
    next_due(&db).await
}

#[derive(Deserialize)]
struct NextDue {
    at: Option<i64>,
}

/// When the next pending row may be attempted (its due time, or its lease's end).
async fn next_due(db: &D1Database) -> Result<Option<i64>, ApiError> {
    let next = db::first::<NextDue>(Ok(worker::query!(
        db,
        "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS at FROM outbox WHERE state = 'pending'"
    )))
    .await?;
    Ok(next.and_then(|n| n.at))
}

/// A draw in `[0, 1)` for the backoff's jitter.
fn jitter() -> f64 {
    crate::control::random_bytes::<4>()
        .map(|b| f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0))
        .unwrap_or(0.5)
}

/// Claims the row, makes one attempt and records it. The claim is a conditional update on
/// the row as it was read (still pending, same attempt count, no live lease): a concurrent
/// run, or a replay that reset the row, makes it match nothing and this run skips the row.
async fn attempt_entry(env: &Env, db: &D1Database, entry: &Entry) -> Result<(), ApiError> {
    let now = now_ms();
    let lease = now + LEASE_MS;
    let claimed = db::run(worker::query!(
        db,
        "UPDATE outbox SET lease_until = ?1, attempts = attempts + 1
         WHERE id = ?2 AND state = 'pending' AND attempts = ?3 AND (lease_until IS NULL OR lease_until <= ?4)",
        &lease,
        &entry.id,
        &entry.attempts,
        &now
    ))
    .await?;
    if claimed == 0 {
        return Ok(());
    }
    let number = entry.attempts + 1;
    let attempted = attempt_kind(env, db, entry).await;
    let at = now_ms();
    let decision = decide(
        &RetryPolicy::default(),
        number,
        &attempted.result,
        at,
        jitter(),
    );
    let mut stmts = vec![
        record_stmt(db, entry, lease, &decision, &attempted, at),
        log_stmt(db, entry, number, &decision, &attempted, at),
    ];
    if let Decision::DisableEndpoint { reason } = &decision {
        stmts.extend(disable_stmts(db, entry, reason));
    }
    stmts.extend(super::outbox_channel::streak_stmt(db, entry, &decision));
    db::batch(db, stmts).await?;
    super::outbox_channel::disable_if_failing(db, entry, &decision).await
}

/// The row after the attempt, written only while this run's lease is still on it.
fn record_stmt(
    db: &D1Database,
    entry: &Entry,
    lease: i64,
    decision: &Decision,
    attempted: &Attempted,
    at: i64,
) -> worker::Result<D1PreparedStatement> {
    let next = match decision {
        Decision::Retry { at, .. } => Some(*at),
        _ => None,
    };
    let finished = (!matches!(decision, Decision::Retry { .. })).then_some(at);
    worker::query!(
        db,
        "UPDATE outbox SET state = ?1, next_attempt_at = COALESCE(?2, next_attempt_at), lease_until = NULL,
           last_status = ?3, last_error = ?4, finished_at = ?5
         WHERE id = ?6 AND lease_until = ?7",
        &decision.state().as_str(),
        &next,
        &attempted.status,
        &decision.reason(),
        &finished,
        &entry.id,
        &lease
    )
}

/// The attempt's line in the delivery log.
fn log_stmt(
    db: &D1Database,
    entry: &Entry,
    number: u32,
    decision: &Decision,
    attempted: &Attempted,
    at: i64,
) -> worker::Result<D1PreparedStatement> {
    worker::query!(
        db,
        "INSERT INTO outbox_attempts (entry_id, attempt, at, status, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &entry.id,
        &number,
        &at,
        &attempted.status,
        &decision.outcome(),
        &attempted.detail
    )
}
