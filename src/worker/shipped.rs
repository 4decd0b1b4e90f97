//! `GET /api/v1/projects/{project}/environments/{environment}/shipped`: the environment's
//! newest deployments that got as far as shipping, each with the services it shipped, in one
//! answer. `clodo rollback` decides from this (which versions failed deployments shipped, which
//! uploads applied Durable Object migrations); reading each deployment's record instead took
//! one request per deployment, twice per rollback.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::db;
use super::routes::AppState;
use crate::api::contract::deployments::{shipped_in, ShippedDeployment};
use crate::api::contract::teams::Items;
use crate::api::ApiError;
use crate::control::DeploymentStatus;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project}/environments/{environment}/shipped",
        get(list_shipped),
    )
}

/// How many deployments the answer holds, newest first: what the rollback read before.
const SHIPPED_LIMIT: i64 = 100;

#[derive(Deserialize)]
struct ShippedRow {
    id: String,
    status: DeploymentStatus,
    /// `[[to_status, detail], …]` of its moves to `verifying` and `failed`, in the log's order.
    moves: String,
}

#[worker::send]
async fn list_shipped(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Items<ShippedDeployment>>, ApiError> {
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    // One query: the deployments in the history's order, each with the details of the two
    // transitions a snapshot is kept on, packed as one JSON text.
    let rows = db::all::<ShippedRow>(worker::query!(
        &db,
        "SELECT d.id, d.status,
                (SELECT json_group_array(json_array(m.to_status, json(m.detail)))
                   FROM (SELECT e.to_status, e.detail FROM deployment_events e
                          WHERE e.deployment_id = d.id AND e.to_status IN ('verifying', 'failed')
                          ORDER BY e.id) m) AS moves
           FROM deployments d
          WHERE d.team_id = ?1 AND d.environment_id = ?2
            AND d.status IN ('verifying', 'succeeded', 'failed', 'rolled_back')
          ORDER BY d.created_at DESC, d.id DESC LIMIT ?3",
        &caller.team_id,
        &env.id,
        &SHIPPED_LIMIT
    ))
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let moves: Vec<(Option<DeploymentStatus>, Option<Value>)> =
            serde_json::from_str(&row.moves).map_err(|e| {
                ApiError::internal(format!("the events of {} did not parse: {e}", row.id))
            })?;
        items.push(ShippedDeployment {
            services: shipped_in(moves.iter().map(|(to, detail)| (*to, detail.as_ref()))),
            id: row.id,
            status: row.status,
        });
    }
    Ok(Json(items.into()))
}
