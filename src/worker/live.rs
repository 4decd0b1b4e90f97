//! The rollout's live-status WebSocket and its tickets. A CLI sends its bearer token on the
//! upgrade; a browser cannot, so it first asks `POST …/rollout/live/ticket` (authenticated)
//! for a single-use ticket bound to its team, token and this deployment, valid
//! `live_ticket::TTL_MS`, and connects with `?ticket=`. The rules are `control::live_ticket`'s;
//! D1 keeps the ticket's hash and claims it with one conditional `UPDATE`, so of two upgrades
//! with one ticket only one opens.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use worker::D1Database;

use super::auth::{authenticate, bearer, Caller};
use super::db::{self, now_ms};
use super::deployments::load;
use super::durable::rollout_client::RolloutClient;
use super::routes::AppState;
use crate::api::contract::rollouts::LiveTicket;
use crate::api::{ApiError, ErrorCode, QueryParams};
use crate::control::live_ticket::{self, StoredTicket, TicketRefusal, TTL_MS};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/deployments/{deployment_id}/rollout/live",
            get(live_rollout),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/rollout/live/ticket",
            post(issue_ticket),
        )
}

/// Tickets are kept this long past their expiry (for an investigation), then swept when the
/// next one is issued.
const KEEP_EXPIRED_MS: i64 = 3_600_000;

/// `POST /api/v1/deployments/{deployment_id}/rollout/live/ticket`: a single-use ticket for
/// this deployment's live status. Viewers may follow a rollout, so viewers may ask.
#[worker::send]
async fn issue_ticket(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<LiveTicket>), ApiError> {
    let db = db::db(&state.env)?;
    load(&db, &caller.team_id, &id).await?;
    let secret = live_ticket::generate().map_err(ApiError::internal)?;
    let now = now_ms();
    let expires_at = now + TTL_MS;
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "DELETE FROM live_tickets WHERE expires_at < ?1",
                &(now - KEEP_EXPIRED_MS)
            ),
            worker::query!(
                &db,
                "INSERT INTO live_tickets (ticket_hash, team_id, token_id, actor, deployment_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &live_ticket::hash(&secret),
                &caller.team_id,
                &caller.token_id,
                &caller.actor,
                &id,
                &now,
                &expires_at
            ),
        ],
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(LiveTicket {
            secret,
            expires_at,
            path: format!("/api/v1/deployments/{id}/rollout/live"),
        }),
    ))
}

#[derive(Deserialize)]
struct LiveQuery {
    ticket: Option<String>,
    /// Open the socket before the rollout has started (its first message is the start's
    /// status), so a client can connect while it still uploads: `clodo deploy` does, to take
    /// the upgrade's round trip off the path between the rollout's start and its first step.
    wait: Option<bool>,
}

/// `GET /api/v1/deployments/{deployment_id}/rollout/live` (WebSocket): the status now, then
/// again after every change, from the deployment's Rollout object; closed when it has ended.
/// Authenticated by a bearer token or by a ticket (`?ticket=`), which this upgrade uses up.
/// Without a rollout: 404, or with `?wait=true` (for a deployment that has not ended) a socket
/// whose first message is the rollout's start.
#[worker::send]
async fn live_rollout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<LiveQuery>,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let db = db::db(&state.env)?;
    let team_id = match query.ticket {
        Some(ticket) => {
            // A ticket is spent by the upgrade; a request that could not upgrade keeps it.
            require_upgrade(&headers, &id)?;
            redeem(&db, &ticket, &id).await?
        }
        None => {
            // A bearer token only: a browser's Access cookie rides along on any page's
            // WebSocket to this origin (no CORS on upgrades), so browsers come with a ticket.
            let presented = bearer(&headers).ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthorized, "missing bearer token or live ticket")
                    .with_hint("send `Authorization: Bearer clodo_…`, or from a browser ask POST …/rollout/live/ticket and connect with ?ticket=")
            })?;
            let caller = authenticate(&state.env, presented).await?;
            require_upgrade(&headers, &id)?;
            caller.team_id
        }
    };
    let deployment = load(&db, &team_id, &id).await?;
    // A deployment that ended without a rollout never gets one: no socket waits for it.
    let wait = query.wait == Some(true) && !deployment.status.is_terminal();
    let resp = RolloutClient::new(&state.env, &id).live(wait).await?;
    // The socket travels as an extension of the response; workers-rs hands it to the runtime.
    Ok(resp.into())
}

fn require_upgrade(headers: &HeaderMap, id: &str) -> Result<(), ApiError> {
    let upgrade = headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if upgrade.eq_ignore_ascii_case("websocket") {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::BadRequest,
        "live status is a WebSocket: connect with `Upgrade: websocket`",
    )
    .with_hint(format!("or poll GET /api/v1/deployments/{id}/rollout")))
}

/// A stored ticket with the state of the token that asked for it.
#[derive(Deserialize)]
struct TicketRow {
    team_id: String,
    deployment_id: String,
    expires_at: i64,
    used_at: Option<i64>,
    token_expires_at: Option<i64>,
    token_revoked_at: Option<i64>,
}

impl TicketRow {
    fn stored(&self) -> StoredTicket {
        StoredTicket {
            deployment_id: self.deployment_id.clone(),
            expires_at: self.expires_at,
            used_at: self.used_at,
            token_expires_at: self.token_expires_at,
            token_revoked_at: self.token_revoked_at,
        }
    }
}

/// Claims `ticket` for the live view of `deployment_id`: the team it was issued to, or a 401
/// saying why not (unknown, used, expired, for another deployment, its token revoked).
async fn redeem(db: &D1Database, ticket: &str, deployment_id: &str) -> Result<String, ApiError> {
    if !live_ticket::well_formed(ticket) {
        return Err(refused(TicketRefusal::Unknown));
    }
    let hash = live_ticket::hash(ticket);
    let now = now_ms();
    // The claim applies the ticket's own rules atomically; the read after it explains a
    // refusal and checks the token (a revoked token's tickets die with it).
    let claimed = db::run(worker::query!(
        db,
        "UPDATE live_tickets SET used_at = ?3
          WHERE ticket_hash = ?1 AND deployment_id = ?2 AND used_at IS NULL AND expires_at > ?3",
        &hash,
        &deployment_id,
        &now
    ))
    .await?
        == 1;
    let row = db::first::<TicketRow>(worker::query!(
        db,
        "SELECT l.team_id, l.deployment_id, l.expires_at, l.used_at,
                t.expires_at AS token_expires_at,
                COALESCE(t.revoked_at, CASE WHEN t.id IS NULL AND m.id IS NULL THEN 0 END) AS token_revoked_at
           FROM live_tickets l LEFT JOIN api_tokens t ON t.id = l.token_id AND t.team_id = l.team_id
                LEFT JOIN members m ON l.token_id = 'access:' || m.id AND m.team_id = l.team_id
          WHERE l.ticket_hash = ?1",
        &hash
    ))
    .await?;
    let Some(row) = row else {
        return Err(refused(TicketRefusal::Unknown));
    };
    // Judged as the upgrade found it: unused if this request claimed it.
    let seen = StoredTicket {
        used_at: if claimed { None } else { row.used_at },
        ..row.stored()
    };
    match live_ticket::check(Some(&seen), deployment_id, now) {
        Ok(()) if claimed => Ok(row.team_id),
        // Every rule held yet the claim matched nothing: another upgrade took it meanwhile.
        Ok(()) => Err(refused(TicketRefusal::Used)),
        Err(refusal) => Err(refused(refusal)),
    }
}

fn refused(refusal: TicketRefusal) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, refusal.to_string()).with_hint(
        "ask for a new ticket (POST /api/v1/deployments/{deployment_id}/rollout/live/ticket) and connect within 30 s; each ticket opens one connection",
    )
}
