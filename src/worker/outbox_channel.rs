//! The outbox handler of `channel` rows: a notification, a monitoring marker or a weekly
//! summary for one notification channel. Loads the channel (it may have been deleted or
//! disabled since the row was queued), decrypts its secrets, renders the event
//! (`notify::render`) or the summary (`notify::summary::render`) and sends the requests in
//! order; the first that is not accepted decides the attempt. Also keeps the channel's streak
//! of given-up deliveries, and disables a channel whose streak reaches
//! `outbox::DISABLE_AFTER_GIVEN_UP`.

use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, D1PreparedStatement, Env};

use super::channels::{load_config, StoredChannel};
use super::db;
use super::outbox::{send, Attempted};
use crate::api::ApiError;
use crate::notify::render::render;
use crate::notify::summary::{self, SummaryPayload};
use crate::notify::EventPayload;
use crate::outbox::{
    disable_for_streak, streak_change, AttemptResult, Decision, Entry, StreakChange, KIND_CHANNEL,
};

/// Who the audit log names for what the outbox decides by itself.
const OUTBOX_ACTOR: &str = "system:outbox";

/// One attempt of the row.
pub(super) async fn attempt(env: &Env, db: &D1Database, entry: &Entry) -> Attempted {
    let Some(channel_id) = entry.target.as_deref() else {
        return Attempted::unsendable("a channel delivery without a channel");
    };
    let channel: StoredChannel = match load_config(env, db, &entry.team_id, channel_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Attempted::unsendable(format!("channel {channel_id} was deleted")),
        Err(e) => {
            // D1 or the key failed: not the receiver's fault, and worth another try.
            return Attempted {
                result: AttemptResult::NoAnswer(format!("loading the channel: {}", e.message)),
                status: None,
                detail: Some("the channel could not be loaded".into()),
            };
        }
    };
    if !channel.enabled {
        let why = channel.disabled_reason.unwrap_or_default();
        return Attempted::unsendable(format!("channel {channel_id} is disabled: {why}"));
    }
    let now_secs = super::db::now_ms() / 1000;
    let rendered = if summary::is_summary(&entry.payload) {
        match serde_json::from_str::<SummaryPayload>(&entry.payload) {
            Ok(p) => summary::render(&channel.config, &p, &entry.id, now_secs),
            Err(e) => {
                return Attempted::unsendable(format!("the queued summary is unreadable: {e}"))
            }
        }
    } else {
        match serde_json::from_str::<EventPayload>(&entry.payload) {
            Ok(event) => render(&channel.config, &event, &entry.id, now_secs),
            Err(e) => return Attempted::unsendable(format!("the queued event is unreadable: {e}")),
        }
    };
    let requests = match rendered {
        Ok(r) => r,
        Err(e) => return Attempted::unsendable(e),
    };
    let mut last = Attempted::unsendable("nothing to send");
    for request in requests {
        last = send(request).await;
        let accepted = matches!(last.result, AttemptResult::Answered { status, .. } if (200..300).contains(&status));
        if !accepted {
            break;
        }
    }
    last
}

/// The channel's endpoint answered 410 Gone: the channel is disabled, and its other pending
/// deliveries fail now rather than each meeting the same answer.
pub(super) fn disable_stmts(
    db: &D1Database,
    team_id: &str,
    channel_id: &str,
    reason: &str,
) -> Vec<worker::Result<D1PreparedStatement>> {
    vec![
        worker::query!(
            db,
            "UPDATE notification_channels SET enabled = 0, disabled_reason = ?1 WHERE id = ?2 AND team_id = ?3",
            &reason,
            &channel_id,
            &team_id
        ),
        fail_pending_stmt(
            db,
            team_id,
            channel_id,
            "the channel was disabled (410 Gone)",
        ),
    ]
}

/// The channel's other pending deliveries (not one being attempted now) fail with `why`.
fn fail_pending_stmt(
    db: &D1Database,
    team_id: &str,
    channel_id: &str,
    why: &str,
) -> worker::Result<D1PreparedStatement> {
    worker::query!(
        db,
        "UPDATE outbox SET state = 'failed', last_error = ?1, finished_at = ?2
         WHERE team_id = ?3 AND kind = 'channel' AND target = ?4 AND state = 'pending' AND lease_until IS NULL",
        &why,
        &super::db::now_ms(),
        &team_id,
        &channel_id
    )
}

/// For the batch recording a finished attempt of a `channel` row: its channel's streak of
/// given-up deliveries ends (delivered) or grows (given up).
pub(super) fn streak_stmt(
    db: &D1Database,
    entry: &Entry,
    decision: &Decision,
) -> Option<worker::Result<D1PreparedStatement>> {
    let channel = entry
        .target
        .as_deref()
        .filter(|_| entry.kind == KIND_CHANNEL)?;
    let set = match streak_change(decision)? {
        StreakChange::Reset => "0",
        StreakChange::Extend => "failed_streak + 1",
    };
    Some(worker::query!(
        db,
        &format!(
            "UPDATE notification_channels SET failed_streak = {set} WHERE id = ?1 AND team_id = ?2"
        ),
        &channel,
        &entry.team_id
    ))
}

#[derive(Deserialize)]
struct StreakRow {
    failed_streak: u32,
    enabled: i64,
}

/// After a `channel` row was given up: disables its channel when the streak has reached
/// `outbox::DISABLE_AFTER_GIVEN_UP`, with the reason, an audit entry (by `system:outbox`)
/// and its other pending deliveries failed, in one batch guarded on the channel still being
/// enabled (two runs reaching the threshold together disable and audit once).
pub(super) async fn disable_if_failing(
    db: &D1Database,
    entry: &Entry,
    decision: &Decision,
) -> Result<(), ApiError> {
    let (Some(channel), Decision::Fail { reason }) = (entry.target.as_deref(), decision) else {
        return Ok(());
    };
    if entry.kind != KIND_CHANNEL {
        return Ok(());
    }
    let row = db::first::<StreakRow>(worker::query!(
        db,
        "SELECT failed_streak, enabled FROM notification_channels WHERE id = ?1 AND team_id = ?2",
        &channel,
        &entry.team_id
    ))
    .await?;
    let Some(row) = row else { return Ok(()) };
    let Some(why) = disable_for_streak(row.failed_streak, row.enabled != 0, reason) else {
        return Ok(());
    };
    let disable = worker::query!(
        db,
        "UPDATE notification_channels SET enabled = 0, disabled_reason = ?1
         WHERE id = ?2 AND team_id = ?3 AND enabled = 1",
        &why,
        &channel,
        &entry.team_id
    );
    let after =
        json!({ "enabled": false, "disabled_reason": why, "failed_streak": row.failed_streak });
    let audit = db::audit_if_changed_stmt(
        db,
        &entry.team_id,
        OUTBOX_ACTOR,
        "channel.disable",
        "channel",
        channel,
        Some(&json!({ "enabled": true })),
        Some(&after),
    );
    let pending = fail_pending_stmt(
        db,
        &entry.team_id,
        channel,
        "the channel was disabled: too many deliveries in a row were given up",
    );
    db::batch(db, vec![disable, audit, pending]).await.map(drop)
}
