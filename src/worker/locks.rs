//! The environment lock API: team-scoped, role-checked routes in front of the `DeployLock`
//! Durable Object (one per environment, named by the environment id). Force-unlock is
//! admin-only, needs a reason and writes an audit entry with the broken lease as `before`.
//!
//! Every claim records its `owner` (`token:<id>` of the caller that acquired it); heartbeat,
//! release and cancel pass the caller's own owner string, so only the token that acquired an
//! entry can renew, release or cancel it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::db::{self, audit_stmt};
use super::durable::{call_object, DEPLOY_LOCK_BINDING};
use super::routes::AppState;
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock",
            get(info),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/acquire",
            post(acquire),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/heartbeat",
            post(heartbeat),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/release",
            post(release),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/cancel",
            post(cancel),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/force-unlock",
            post(force_unlock),
        )
}

/// Calls one operation on the environment's `DeployLock` and returns its status and JSON.
pub(super) async fn call_lock(
    env: &worker::Env,
    environment_id: &str,
    method: worker::Method,
    op: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ApiError> {
    call_object(env, DEPLOY_LOCK_BINDING, environment_id, method, op, body).await
}

/// Maps the Durable Object's refusals (400 malformed claim, 403 another owner's entry, 409 not
/// holder / not queued, 429 queue full) to the API's error type.
fn lock_reply(status: u16, value: Value) -> Result<Json<Value>, ApiError> {
    if status < 300 {
        return Ok(Json(value));
    }
    let message = value["error"]
        .as_str()
        .unwrap_or("lock operation refused")
        .to_owned();
    let (code, hint) = match status {
        400 => (ErrorCode::BadRequest, "GET the lock to see who holds it and who waits"),
        403 => (
            ErrorCode::Forbidden,
            "use the token that acquired it; an admin can break the lock with POST …/lock/force-unlock {reason} (audited)",
        ),
        429 => (
            ErrorCode::TooManyRequests,
            "too many deploys are waiting for this environment; retry after some finish, or cancel stale ones",
        ),
        _ => (ErrorCode::Conflict, "GET the lock to see who holds it and who waits"),
    };
    Err(ApiError::new(code, message).with_hint(hint))
}

/// The server's name for the caller as a lock owner: the token, never a request field.
pub(super) fn owner_of(caller: &Caller) -> String {
    format!("token:{}", caller.token_id)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcquireBody {
    holder_id: String,
    purpose: Option<String>,
    lease_ms: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolderBody {
    holder_id: String,
}

/// Default lease: long enough for a slow wrangler upload between heartbeats.
const DEFAULT_LEASE_MS: i64 = 60_000;

/// `GET .../lock`: holder, lease end and the queue.
#[worker::send]
async fn info(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let (status, value) = call_lock(&state.env, &env.id, worker::Method::Get, "info", None).await?;
    lock_reply(status, value)
}

/// `POST .../lock/acquire`: granted now, or queued with a position.
#[worker::send]
async fn acquire(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<AcquireBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Deployer)?;
    if body.purpose.as_ref().is_some_and(|p| p.len() > 500) {
        return Err(db::bad_request("purpose must be at most 500 characters"));
    }
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let claim = json!({
        "holder_id": body.holder_id,
        "actor": caller.actor,
        "purpose": body.purpose.unwrap_or_else(|| "deploy".into()),
        "lease_ms": body.lease_ms.unwrap_or(DEFAULT_LEASE_MS),
        "owner": owner_of(&caller),
    });
    let (status, value) = call_lock(
        &state.env,
        &env.id,
        worker::Method::Post,
        "acquire",
        Some(&claim),
    )
    .await?;
    lock_reply(status, value)
}

async fn holder_op(
    state: &AppState,
    caller: &Caller,
    project: &str,
    environment: &str,
    op: &str,
    holder_id: String,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Deployer)?;
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, project, environment).await?;
    let (status, value) = call_lock(
        &state.env,
        &env.id,
        worker::Method::Post,
        op,
        Some(&json!({ "holder_id": holder_id, "owner": owner_of(caller) })),
    )
    .await?;
    lock_reply(status, value)
}

/// `POST .../lock/heartbeat`: extends the holder's lease by its length (the acquiring token
/// only). A waiter keeps its place by acquiring again instead.
#[worker::send]
async fn heartbeat(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<HolderBody>,
) -> Result<Json<Value>, ApiError> {
    holder_op(
        &state,
        &caller,
        &project,
        &environment,
        "heartbeat",
        body.holder_id,
    )
    .await
}

/// `POST .../lock/release`: by the token that acquired it only; the head of the queue takes
/// over.
#[worker::send]
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<HolderBody>,
) -> Result<Json<Value>, ApiError> {
    holder_op(
        &state,
        &caller,
        &project,
        &environment,
        "release",
        body.holder_id,
    )
    .await
}

/// `POST .../lock/cancel`: leaves the queue (the token that queued the claim only).
#[worker::send]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<HolderBody>,
) -> Result<Json<Value>, ApiError> {
    holder_op(
        &state,
        &caller,
        &project,
        &environment,
        "cancel",
        body.holder_id,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForceBody {
    reason: String,
}

/// `POST .../lock/force-unlock`: admin only, with a reason; breaks the current lease (the
/// queue's head takes over) and records who did it, why, and the lease that was broken.
/// The audit entry is written before answering: if it cannot be, the caller gets an error
/// saying the lock was broken but not recorded, rather than a quiet success.
#[worker::send]
async fn force_unlock(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<ForceBody>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(db::bad_request("reason must be 1-1000 characters")
            .with_hint("say why the lock is broken; it is kept in the audit log"));
    }
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let (status, value) = call_lock(
        &state.env,
        &env.id,
        worker::Method::Post,
        "force-unlock",
        None,
    )
    .await?;
    let Json(value) = lock_reply(status, value)?;
    let (_, after) = call_lock(&state.env, &env.id, worker::Method::Get, "info", None).await?;
    db::run(audit_stmt(
        &db,
        &caller.team_id,
        &caller.actor,
        "lock.force_unlock",
        "environment",
        &env.id,
        Some(&json!({ "holder": value["broken_lease"] })),
        Some(&json!({ "reason": reason, "holder": after["holder"] })),
    ))
    .await
    .map_err(|e| {
        ApiError::internal(format!(
            "force-unlock of {} done but its audit entry failed: {}",
            env.id, e.message
        ))
    })?;
    Ok((
        StatusCode::OK,
        Json(json!({ "broken_lease": value["broken_lease"], "lock": after, "reason": reason })),
    )
        .into_response())
}
