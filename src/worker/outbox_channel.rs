//! The outbox handler of `channel` rows: a notification or monitoring marker for one
//! notification channel. Loads the channel (it may have been deleted or disabled since the
//! row was queued), decrypts its secrets, renders the event (`notify::render`) and sends the
//! requests in order; the first that is not accepted decides the attempt.

use worker::{D1Database, D1PreparedStatement, Env};

use super::channels::{load_config, StoredChannel};
use super::outbox::{send, Attempted};
use crate::notify::render::render;
use crate::notify::EventPayload;
use crate::outbox::{AttemptResult, Entry};

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
    let event: EventPayload = match serde_json::from_str(&entry.payload) {
        Ok(e) => e,
        Err(e) => return Attempted::unsendable(format!("the queued event is unreadable: {e}")),
    };
    let now_secs = super::db::now_ms() / 1000;
    let requests = match render(&channel.config, &event, &entry.id, now_secs) {
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
    let now = super::db::now_ms();
    vec![
        worker::query!(
            db,
            "UPDATE notification_channels SET enabled = 0, disabled_reason = ?1 WHERE id = ?2 AND team_id = ?3",
            &reason,
            &channel_id,
            &team_id
        ),
        worker::query!(
            db,
            "UPDATE outbox SET state = 'failed', last_error = 'the channel was disabled (410 Gone)', finished_at = ?1
             WHERE team_id = ?2 AND kind = 'channel' AND target = ?3 AND state = 'pending' AND lease_until IS NULL",
            &now,
            &team_id,
            &channel_id
        ),
    ]
}
