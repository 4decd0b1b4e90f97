//! The delivery log (`/api/v1/deliveries`, admin): every outbox row of the team (newest
//! first, per channel), its attempts, and replay, which queues the same delivery again (same
//! id, so the same `webhook-id`: a receiver that already has it can drop it).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::D1Database;

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use crate::api::contract::notify::{
    Delivery, DeliveryAttempt, DeliveryDetail, DeliveryFilter, DeliveryPage, DeliveryState,
};
use crate::api::{ApiError, QueryParams};
use crate::control::cursor::Resume;
use crate::control::Role;
use crate::outbox::KIND_CHANNEL;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deliveries", get(list_deliveries))
        .route("/api/v1/deliveries/{delivery_id}", get(get_delivery))
        .route(
            "/api/v1/deliveries/{delivery_id}/replay",
            post(replay_delivery),
        )
}

const SELECT_DELIVERY: &str = "SELECT id, kind, target AS channel_id, event_type, state, attempts,
    CASE WHEN state = 'pending' THEN next_attempt_at END AS next_attempt_at, last_status, last_error,
    created_at, finished_at
  FROM outbox";

async fn find(db: &D1Database, team_id: &str, id: &str) -> Result<Delivery, ApiError> {
    db::first::<Delivery>(worker::query!(
        db,
        &format!("{SELECT_DELIVERY} WHERE team_id = ?1 AND id = ?2"),
        &team_id,
        &id
    ))
    .await?
    .ok_or_else(|| db::not_found("delivery", id))
}

/// The team's deliveries of these ids (oldest first), for answers that name several.
pub(super) async fn find_many(
    db: &D1Database,
    team_id: &str,
    ids: &[String],
) -> Result<Vec<Delivery>, ApiError> {
    let ids = serde_json::to_string(ids).map_err(ApiError::internal)?;
    db::all::<Delivery>(worker::query!(
        db,
        &format!(
            "{SELECT_DELIVERY} WHERE team_id = ?1 AND id IN (SELECT value FROM json_each(?2)) ORDER BY created_at, id"
        ),
        &team_id,
        &ids
    ))
    .await
}

/// `GET /api/v1/deliveries?channel=&state=&limit=&cursor=`: newest first.
#[worker::send]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<DeliveryFilter>,
) -> Result<Json<DeliveryPage>, ApiError> {
    caller.require(Role::Admin)?;
    let resume = Resume::from_query(q.cursor.as_deref(), q.limit).map_err(bad_request)?;
    let wanted = q.state.map(DeliveryState::as_str);
    let db = db::db(&state.env)?;
    let rows = db::all::<Delivery>(worker::query!(
        &db,
        &format!(
            "{SELECT_DELIVERY} WHERE team_id = ?1 AND (?2 IS NULL OR target = ?2) AND (?3 IS NULL OR state = ?3)
               AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND id < ?5))
             ORDER BY created_at DESC, id DESC LIMIT ?6"
        ),
        &caller.team_id,
        &q.channel,
        &wanted,
        &resume.after_at,
        &resume.after_id,
        &resume.fetch()
    ))
    .await?;
    let page = resume.page(rows, |d| (d.created_at, &d.id));
    Ok(Json(DeliveryPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize)]
struct AttemptRow {
    attempt: u32,
    at: i64,
    status: Option<u16>,
    outcome: String,
    detail: Option<String>,
}

/// `GET /api/v1/deliveries/{delivery_id}`: the delivery and its attempts.
#[worker::send]
async fn get_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let delivery = find(&db, &caller.team_id, &id).await?;
    let rows = db::all::<AttemptRow>(worker::query!(
        &db,
        "SELECT attempt, at, status, outcome, detail FROM outbox_attempts WHERE entry_id = ?1 ORDER BY id",
        &id
    ))
    .await?;
    let attempts = rows
        .into_iter()
        .map(|r| DeliveryAttempt {
            attempt: r.attempt,
            at: r.at,
            status: r.status,
            outcome: r.outcome,
            detail: r.detail,
        })
        .collect();
    Ok(Json(DeliveryDetail { delivery, attempts }))
}

/// `POST /api/v1/deliveries/{delivery_id}/replay`: queues a finished delivery again, due
/// now, with a fresh retry budget. A pending one is already queued: a replay (or a second
/// click) changes nothing and answers it as it is.
#[worker::send]
async fn replay_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let before = find(&db, &caller.team_id, &id).await?;
    if before.state == DeliveryState::Pending {
        return Ok((StatusCode::ACCEPTED, Json(before)));
    }
    if before.kind == KIND_CHANNEL {
        if let Some(channel) = &before.channel_id {
            super::channels::require_enabled(&db, &caller.team_id, channel).await?;
        }
    }
    let requeue = worker::query!(
        &db,
        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?1, lease_until = NULL,
           finished_at = NULL, last_error = NULL
         WHERE id = ?2 AND team_id = ?3 AND state != 'pending'",
        &now_ms(),
        &id,
        &caller.team_id
    );
    let entry = Audit::changed(
        "delivery.replay",
        ("delivery", &id),
        Some(json!({ "state": before.state })),
        json!({ "state": DeliveryState::Pending }),
    );
    caller.commit_if_changed(&db, requeue, entry).await?;
    super::outbox::kick(&state.env).await;
    let after = find(&db, &caller.team_id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(after)))
}
