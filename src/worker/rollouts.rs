//! Rollout routes: start a deployment's rollout, read its live status, pause, resume, promote
//! or abort it. Each deployment's rollout lives in its own `Rollout` Durable Object.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::assessments::account_token;
use super::auth::Caller;
use super::db::{self, audit_stmt, bad_request};
use super::deployments::{load, status_of};
use super::durable::{call_object, ROLLOUT_BINDING};
use super::routes::AppState;
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::lifecycle::DeploymentStatus;
use crate::control::Role;
use crate::rollout::{Command, Spec};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/deployments/{deployment_id}/rollout",
            get(get_rollout).post(start_rollout),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/rollout/live",
            get(live_rollout),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/rollout/{command}",
            post(command_rollout),
        )
}

/// `GET /api/v1/deployments/{deployment_id}/rollout/live` (WebSocket): the status now, then
/// again after every change, from the deployment's Rollout object; closed when it has ended.
#[worker::send]
async fn live_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let db = db::db(&state.env)?;
    load(&db, &caller.team_id, &id).await?;
    let upgrade = headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "live status is a WebSocket: connect with `Upgrade: websocket`",
        )
        .with_hint(format!("or poll GET /api/v1/deployments/{id}/rollout")));
    }
    let fail = |e: worker::Error| ApiError::internal(format!("Rollout live: {e}"));
    let stub = state
        .env
        .durable_object(ROLLOUT_BINDING)
        .and_then(|ns| ns.get_by_name(&id))
        .map_err(fail)?;
    let forwarded = worker::Headers::new();
    forwarded.set("upgrade", "websocket").map_err(fail)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Get)
        .with_headers(forwarded);
    let req =
        worker::Request::new_with_init("https://rollout.internal/live", &init).map_err(fail)?;
    let mut resp = super::deadline::within(
        super::deadline::OBJECT_CALL_MS,
        stub.fetch_with_request(req),
    )
    .await
    .ok_or_else(|| ApiError::unavailable("the Rollout object did not answer in time"))?
    .map_err(fail)?;
    if resp.status_code() == 404 {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("deployment {id} has no rollout"),
        ));
    }
    if resp.status_code() != 101 {
        let text = resp.text().await.unwrap_or_default();
        return Err(ApiError::internal(format!("Rollout live: {text}")));
    }
    // The socket travels as an extension of the response; workers-rs hands it to the runtime.
    Ok(resp.into())
}

#[derive(Debug, Deserialize)]
struct NewRollout {
    /// The Cloudflare account whose stored credential moves the traffic.
    account_id: String,
    #[serde(flatten)]
    spec: Spec,
}

/// Calls the deployment's `Rollout` object; non-2xx answers become API errors.
async fn call_rollout(
    env: &worker::Env,
    deployment_id: &str,
    method: worker::Method,
    op: &str,
    body: Option<&Value>,
) -> Result<Value, ApiError> {
    let (status, value) =
        call_object(env, ROLLOUT_BINDING, deployment_id, method, op, body).await?;
    if status < 300 {
        return Ok(value);
    }
    let message = value["error"]
        .as_str()
        .unwrap_or("rollout refused")
        .to_owned();
    Err(match status {
        400 => ApiError::new(ErrorCode::BadRequest, message),
        404 => ApiError::new(
            ErrorCode::NotFound,
            format!("deployment {deployment_id} has no rollout"),
        )
        .with_hint("`clodo deploy` starts one after uploading; immediate deploys run without"),
        409 => ApiError::new(ErrorCode::Conflict, message),
        _ => ApiError::internal(message),
    })
}

/// `POST /api/v1/deployments/{deployment_id}/rollout`: hands the uploaded versions to the
/// deployment's Rollout object, which moves the traffic from then on (the caller may leave).
#[worker::send]
async fn start_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewRollout>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Deployer)?;
    body.spec
        .validate()
        .map_err(|e| bad_request(format!("rollout: {e}")))?;
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let status = status_of(&row)?;
    if status != DeploymentStatus::Verifying {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("deployment {id} is {status}; a rollout starts when it is verifying"),
        )
        .with_hint("upload the versions, then move it to verifying (POST …/transitions {\"to\":\"verifying\"})"));
    }
    // Fails early, with the fix, when the team has no credential for the account.
    account_token(&state.env, &caller.team_id, &body.account_id).await?;
    let start = json!({
        "deployment_id": id,
        "team_id": caller.team_id,
        "account_id": body.account_id,
        "environment_id": row.environment_id,
        "spec": body.spec,
    });
    let status = call_rollout(&state.env, &id, worker::Method::Post, "start", Some(&start)).await?;
    db::run(audit_stmt(
        &db,
        &caller.team_id,
        &caller.actor,
        "rollout.start",
        "deployment",
        &id,
        None,
        Some(&json!({ "strategy": status["strategy"], "steps": status["steps"], "services": status["services"] })),
    ))
    .await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// `GET /api/v1/deployments/{deployment_id}/rollout`
#[worker::send]
async fn get_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    // Team scoping: another team's deployment is a 404 like a missing one.
    load(&db, &caller.team_id, &id).await?;
    Ok(Json(
        call_rollout(&state.env, &id, worker::Method::Get, "status", None).await?,
    ))
}

/// `POST /api/v1/deployments/{deployment_id}/rollout/{command}`: 202, applied by the rollout's
/// next run (within moments); the answer shows the state the command leads to.
#[worker::send]
async fn command_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, command)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Deployer)?;
    let cmd = Command::parse(&command).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no rollout command `{command}`"),
        )
        .with_hint("one of: pause, resume, promote, abort")
    })?;
    let db = db::db(&state.env)?;
    load(&db, &caller.team_id, &id).await?;
    let body = json!({ "command": cmd, "by": caller.actor });
    let status = call_rollout(
        &state.env,
        &id,
        worker::Method::Post,
        "command",
        Some(&body),
    )
    .await?;
    db::run(audit_stmt(
        &db,
        &caller.team_id,
        &caller.actor,
        &format!("rollout.{}", cmd.as_str()),
        "deployment",
        &id,
        None,
        Some(&json!({ "phase": status["phase"] })),
    ))
    .await?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}
