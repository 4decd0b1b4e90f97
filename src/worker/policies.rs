//! Environment policies (`GET`/`PUT …/environments/{environment}/policy`): the document the
//! deployment checks evaluate (approvals, windows, freezes, branches), one per environment.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use super::teams::environment_in;
use crate::api::contract::teams::Policy;
use crate::api::{ApiError, JsonBody};
use crate::control::Role;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project}/environments/{environment}/policy",
        get(get_policy).put(put_policy),
    )
}

#[derive(Deserialize)]
struct PolicyRow {
    document: String,
}

/// The stored policy of an environment, or the empty policy (no rules) when none is set.
pub async fn load_policy(
    db: &worker::D1Database,
    team_id: &str,
    environment_id: &str,
) -> Result<Policy, ApiError> {
    let row = db::first::<PolicyRow>(worker::query!(
        db,
        "SELECT document FROM environment_policies WHERE team_id = ?1 AND environment_id = ?2",
        &team_id,
        &environment_id
    ))
    .await?;
    match row {
        Some(row) => serde_json::from_str(&row.document).map_err(ApiError::internal),
        None => Ok(Policy::default()),
    }
}

/// `GET .../environments/{environment}/policy`
#[worker::send]
async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Policy>, ApiError> {
    let (db, _, env) = environment_in(&state, &caller, &project, &environment).await?;
    Ok(Json(load_policy(&db, &caller.team_id, &env.id).await?))
}

/// `PUT .../environments/{environment}/policy`: replaces the whole document (audited with the
/// previous one as `before`).
#[worker::send]
async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(policy): JsonBody<Policy>,
) -> Result<Json<Policy>, ApiError> {
    caller.require(Role::Admin)?;
    policy.validate().map_err(bad_request)?;
    let (db, _, env) = environment_in(&state, &caller, &project, &environment).await?;
    let before = load_policy(&db, &caller.team_id, &env.id).await?;
    let document = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    let upsert = worker::query!(
        &db,
        "INSERT INTO environment_policies (environment_id, team_id, document, updated_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (environment_id) DO UPDATE SET document = excluded.document,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        &env.id,
        &caller.team_id,
        &document,
        &caller.actor,
        &now_ms()
    );
    let entry = Audit::changed(
        "policy.update",
        ("environment", &env.id),
        Some(json!(before)),
        json!(policy),
    );
    caller.commit(&db, upsert, entry).await?;
    Ok(Json(policy))
}
