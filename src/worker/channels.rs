//! Notification channels of a team's projects (`/api/v1/channels`, admin): Slack, Discord,
//! email, Standard Webhooks endpoints and monitoring markers. What a kind takes is checked by
//! `notify::check_channel`; the secret parts are stored encrypted (AES-256-GCM, the team id as
//! associated data, like Cloudflare credentials) and never answered.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{D1Database, Env};

use super::auth::{Audit, Caller};
use super::credentials::cipher;
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use crate::api::contract::notify::{
    Channel, ChannelCreated, ChannelFilter, ChannelKind, ChannelSettings, NewChannel,
};
use crate::api::contract::teams::Items;
use crate::api::{ApiError, ErrorCode, JsonBody, QueryParams};
use crate::control::Role;
use crate::notify::{check_channel, parse_events, stored_events, ChannelConfig, ChannelSecrets};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/channels", get(list_channels).post(create_channel))
        .route(
            "/api/v1/channels/{channel_id}",
            axum::routing::delete(delete_channel),
        )
        .route("/api/v1/channels/{channel_id}/enable", post(enable_channel))
}

/// The `settings` column: where it sends (shown) and the kind's other settings.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredSettings {
    endpoint: String,
    #[serde(flatten)]
    settings: ChannelSettings,
}

const SELECT_CHANNEL: &str =
    "SELECT c.id, p.slug AS project, e.name AS environment, c.name, c.kind, c.events,
    c.settings, c.secret, c.enabled, c.disabled_reason, c.failed_streak, c.created_by, c.created_at
  FROM notification_channels c JOIN projects p ON p.id = c.project_id
  LEFT JOIN environments e ON e.id = c.environment_id";

#[derive(Deserialize)]
struct ChannelRow {
    id: String,
    project: String,
    environment: Option<String>,
    name: String,
    kind: ChannelKind,
    events: String,
    settings: String,
    secret: String,
    enabled: i64,
    disabled_reason: Option<String>,
    failed_streak: u32,
    created_by: String,
    created_at: i64,
}

impl ChannelRow {
    fn stored_settings(&self) -> StoredSettings {
        serde_json::from_str(&self.settings).unwrap_or_default()
    }

    fn channel(self) -> Channel {
        let stored = self.stored_settings();
        Channel {
            events: parse_events(&self.events),
            endpoint: stored.endpoint,
            settings: stored.settings,
            id: self.id,
            project: self.project,
            environment: self.environment,
            name: self.name,
            kind: self.kind,
            enabled: self.enabled != 0,
            disabled_reason: self.disabled_reason,
            failed_streak: self.failed_streak,
            created_by: self.created_by,
            created_at: self.created_at,
        }
    }
}

/// A channel with its secrets decrypted, for the outbox handler.
pub(super) struct StoredChannel {
    pub config: ChannelConfig,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
}

async fn find(db: &D1Database, team_id: &str, id: &str) -> Result<Option<ChannelRow>, ApiError> {
    db::first::<ChannelRow>(worker::query!(
        db,
        &format!("{SELECT_CHANNEL} WHERE c.team_id = ?1 AND c.id = ?2"),
        &team_id,
        &id
    ))
    .await
}

/// The channel `id` of the team, decrypted; `None` when it no longer exists.
pub(super) async fn load_config(
    env: &Env,
    db: &D1Database,
    team_id: &str,
    id: &str,
) -> Result<Option<StoredChannel>, ApiError> {
    let Some(row) = find(db, team_id, id).await? else {
        return Ok(None);
    };
    let plain = cipher(env)?
        .decrypt(team_id, &row.secret)
        .map_err(ApiError::internal)?;
    let secrets: ChannelSecrets = serde_json::from_str(&plain).map_err(ApiError::internal)?;
    Ok(Some(StoredChannel {
        config: ChannelConfig {
            kind: row.kind,
            settings: row.stored_settings().settings,
            secrets,
        },
        enabled: row.enabled != 0,
        disabled_reason: row.disabled_reason,
    }))
}

/// `GET /api/v1/channels?project=`: never the secrets.
#[worker::send]
async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<ChannelFilter>,
) -> Result<Json<Items<Channel>>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let rows = db::all::<ChannelRow>(worker::query!(
        &db,
        &format!(
            "{SELECT_CHANNEL} WHERE c.team_id = ?1 AND (?2 IS NULL OR p.slug = ?2) ORDER BY p.slug, c.name"
        ),
        &caller.team_id,
        &q.project
    ))
    .await?;
    let items: Vec<Channel> = rows.into_iter().map(ChannelRow::channel).collect();
    Ok(Json(items.into()))
}

/// `POST /api/v1/channels`: checks the fields for the kind, encrypts the secret parts, and
/// answers the channel (with a generated webhook signing secret, once).
#[worker::send]
async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewChannel>,
) -> Result<(StatusCode, Json<ChannelCreated>), ApiError> {
    caller.require(Role::Admin)?;
    let checked = check_channel(&body, || {
        crate::control::random_bytes::<32>().map_err(|e| e.to_string())
    })
    .map_err(|e| bad_request(e.to_string()))?;
    let db = db::db(&state.env)?;
    let (project_id, environment_id) = match &body.environment {
        Some(env_name) => {
            let (p, e) = db::environment(&db, &caller.team_id, &body.project, env_name).await?;
            (p.id, Some(e.id))
        }
        None => (
            db::project(&db, &caller.team_id, &body.project).await?.id,
            None,
        ),
    };
    let secrets = serde_json::to_string(&checked.secrets).map_err(ApiError::internal)?;
    let ciphertext = cipher(&state.env)?
        .encrypt(&caller.team_id, &secrets)
        .map_err(ApiError::internal)?;
    let stored = StoredSettings {
        endpoint: checked.endpoint.clone(),
        settings: checked.settings.clone(),
    };
    let settings = serde_json::to_string(&stored).map_err(ApiError::internal)?;
    let channel = Channel {
        id: db::new_id("chn"),
        project: body.project.clone(),
        environment: body.environment.clone(),
        name: body.name.clone(),
        kind: body.kind,
        events: checked.events.clone(),
        endpoint: checked.endpoint,
        settings: checked.settings,
        enabled: true,
        disabled_reason: None,
        failed_streak: 0,
        created_by: caller.actor.clone(),
        created_at: now_ms(),
    };
    let insert = worker::query!(
        &db,
        "INSERT INTO notification_channels (id, team_id, project_id, environment_id, name, kind, events, settings,
           secret, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        &channel.id,
        &caller.team_id,
        &project_id,
        &environment_id,
        &channel.name,
        &channel.kind.as_str(),
        &stored_events(&channel.events),
        &settings,
        &ciphertext,
        &channel.created_by,
        &channel.created_at
    );
    let after = json!({
        "project": channel.project, "environment": channel.environment, "name": channel.name,
        "kind": channel.kind, "events": channel.events, "endpoint": channel.endpoint,
    });
    let entry = Audit::created("channel.create", ("channel", &channel.id), after);
    caller.commit(&db, insert, entry).await?;
    let created = ChannelCreated {
        channel,
        secret: checked.generated_secret,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// `DELETE /api/v1/channels/{channel_id}`: its pending deliveries are cancelled in the same
/// batch; the delivery log of what was sent stays.
#[worker::send]
async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let cancel = worker::query!(
        &db,
        "UPDATE outbox SET state = 'cancelled', finished_at = ?1, last_error = 'the channel was deleted'
         WHERE team_id = ?2 AND kind = 'channel' AND target = ?3 AND state = 'pending'",
        &now_ms(),
        &caller.team_id,
        &id
    );
    let delete = worker::query!(
        &db,
        "DELETE FROM notification_channels WHERE id = ?1 AND team_id = ?2",
        &id,
        &caller.team_id
    );
    let audit = caller.audit_if_changed(&db, &Audit::removed("channel.delete", ("channel", &id)));
    let results = db::batch(&db, vec![cancel, delete, audit]).await?;
    if db::changes(&results, 1) == 0 {
        return Err(db::not_found("channel", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/channels/{channel_id}/enable`: after the endpoint was fixed (it had answered
/// 410 Gone, or too many deliveries in a row were given up). Its streak of given-up
/// deliveries starts again from 0. Deliveries that failed meanwhile can be replayed.
#[worker::send]
async fn enable_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Channel>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let update = worker::query!(
        &db,
        "UPDATE notification_channels SET enabled = 1, disabled_reason = NULL, failed_streak = 0 WHERE id = ?1 AND team_id = ?2 AND enabled = 0",
        &id,
        &caller.team_id
    );
    let entry = Audit::changed(
        "channel.enable",
        ("channel", &id),
        Some(json!({ "enabled": false })),
        json!({ "enabled": true }),
    );
    caller.commit_if_changed(&db, update, entry).await?;
    let row = find(&db, &caller.team_id, &id)
        .await?
        .ok_or_else(|| db::not_found("channel", &id))?;
    Ok(Json(row.channel()))
}

/// Refuses a replay to a disabled channel (it would fail at once), with the fix.
pub(super) async fn require_enabled(
    db: &D1Database,
    team_id: &str,
    id: &str,
) -> Result<(), ApiError> {
    match find(db, team_id, id).await? {
        Some(row) if row.enabled == 0 => Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "channel {id} is disabled: {}",
                row.disabled_reason.unwrap_or_default()
            ),
        )
        .with_hint(format!(
            "fix the endpoint, then `clodo channels enable {id}` (POST /api/v1/channels/{id}/enable)"
        ))),
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("channel {id} was deleted: there is nowhere to send it"),
        )),
    }
}
