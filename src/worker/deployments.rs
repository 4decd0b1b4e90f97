//! Deployments: creation with policy checks (freezes, windows, branch rules, the audited
//! emergency override), lifecycle transitions with an event log, approvals with comments,
//! and the cursor-paginated history.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::D1Database;

use super::auth::Caller;
use super::db::{self, audit_stmt, bad_request, now_ms};
use super::locks::call_lock;
use super::routes::AppState;
use super::teams::load_policy;
use crate::api::{ApiError, ErrorCode, JsonBody, QueryParams};
use crate::control::cursor::{self, After};
use crate::control::lifecycle::{self, DeploymentStatus};
use crate::control::policy::{self, Violation};
use crate::control::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/deployments",
            get(list_deployments).post(create_deployment),
        )
        .route("/api/v1/deployments/{deployment_id}", get(get_deployment))
        .route(
            "/api/v1/deployments/{deployment_id}/transitions",
            post(transition),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/approvals",
            get(list_approvals).post(approve),
        )
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeploymentRow {
    pub id: String,
    pub project_id: String,
    pub environment_id: String,
    pub project: String,
    pub environment: String,
    pub status: String,
    pub strategy: String,
    pub requested_by: String,
    /// The accountable person (lower-cased email) approvals are compared against.
    pub requested_by_member: Option<String>,
    pub git_ref: Option<String>,
    pub git_sha: Option<String>,
    pub message: Option<String>,
    pub required_approvals: i64,
    pub override_reason: Option<String>,
    pub overridden_rules: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const SELECT_DEPLOYMENT: &str = "SELECT d.id, d.project_id, d.environment_id, p.slug AS project, e.name AS environment,
    d.status, d.strategy, d.requested_by, d.requested_by_member, d.git_ref, d.git_sha, d.message, d.required_approvals,
    d.override_reason, d.overridden_rules, d.created_at, d.started_at, d.finished_at
  FROM deployments d JOIN projects p ON p.id = d.project_id JOIN environments e ON e.id = d.environment_id";

pub(super) async fn load(
    db: &D1Database,
    team_id: &str,
    id: &str,
) -> Result<DeploymentRow, ApiError> {
    db::first::<DeploymentRow>(worker::query!(
        db,
        &format!("{SELECT_DEPLOYMENT} WHERE d.team_id = ?1 AND d.id = ?2"),
        &team_id,
        &id
    ))
    .await?
    .ok_or_else(|| db::not_found("deployment", id))
}

pub(super) fn status_of(row: &DeploymentRow) -> Result<DeploymentStatus, ApiError> {
    row.status.parse().map_err(ApiError::internal)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDeployment {
    project: String,
    environment: String,
    git_ref: Option<String>,
    git_sha: Option<String>,
    strategy: Option<String>,
    message: Option<String>,
    /// Deploy despite freezes, windows or branch rules; needs the approver role, is recorded
    /// on the deployment and audited.
    emergency_override: Option<Override>,
}

fn event_stmt(
    db: &D1Database,
    deployment_id: &str,
    kind: &str,
    from: Option<DeploymentStatus>,
    to: Option<DeploymentStatus>,
    detail: Option<&Value>,
) -> worker::Result<worker::D1PreparedStatement> {
    let values = "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    event_insert(db, values, deployment_id, kind, from, to, detail)
}

/// `event_stmt` for a guarded change: inserted only when the statement batched just before it
/// changed a row (see `db::audit_if_changed_stmt`).
fn event_if_changed_stmt(
    db: &D1Database,
    deployment_id: &str,
    kind: &str,
    from: Option<DeploymentStatus>,
    to: Option<DeploymentStatus>,
    detail: Option<&Value>,
) -> worker::Result<worker::D1PreparedStatement> {
    let values = "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE changes() > 0";
    event_insert(db, values, deployment_id, kind, from, to, detail)
}

/// One deployment-event insert with `values` as its row source.
fn event_insert(
    db: &D1Database,
    values: &str,
    deployment_id: &str,
    kind: &str,
    from: Option<DeploymentStatus>,
    to: Option<DeploymentStatus>,
    detail: Option<&Value>,
) -> worker::Result<worker::D1PreparedStatement> {
    let from = from.map(DeploymentStatus::as_str);
    let to = to.map(DeploymentStatus::as_str);
    let detail = detail.map(Value::to_string);
    worker::query!(
        db,
        &format!(
            "INSERT INTO deployment_events (deployment_id, at, kind, from_status, to_status, detail) {values}"
        ),
        &deployment_id,
        &now_ms(),
        &kind,
        &from,
        &to,
        &detail
    )
}

/// Checks the environment's policy again as a deployment moves on (approved into the queue,
/// or starting to deploy), with the time now: a freeze or window that began while it waited
/// holds it there.
async fn recheck_policy(
    db: &D1Database,
    team_id: &str,
    row: &DeploymentRow,
) -> Result<(), ApiError> {
    let policy = load_policy(db, team_id, &row.environment_id).await?;
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms()).unwrap_or_default();
    let violations = policy::recheck(
        &policy,
        now,
        row.git_ref.as_deref(),
        row.override_reason.is_some(),
    );
    if violations.is_empty() {
        Ok(())
    } else {
        Err(blocked(&violations))
    }
}

fn blocked(violations: &[Violation]) -> ApiError {
    let reasons: Vec<String> = violations.iter().map(Violation::describe).collect();
    ApiError::new(
        ErrorCode::Conflict,
        format!("blocked by the environment's policy: {}", reasons.join("; ")),
    )
    .with_hint("wait for the window or freeze to end, deploy an allowed branch, or send emergency_override {reason} with the approver role (audited)")
}

/// `POST /api/v1/deployments`
#[worker::send]
async fn create_deployment(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewDeployment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Deployer)?;
    let strategy = body.strategy.unwrap_or_else(|| "immediate".into());
    if !matches!(strategy.as_str(), "immediate" | "gradual" | "blue-green") {
        return Err(bad_request(
            "strategy must be immediate, gradual or blue-green",
        ));
    }
    let too_long = |v: &Option<String>, n: usize| v.as_ref().is_some_and(|s| s.len() > n);
    if too_long(&body.git_ref, 256) || too_long(&body.git_sha, 64) || too_long(&body.message, 2000)
    {
        return Err(bad_request(
            "git_ref (256), git_sha (64) or message (2000) is too long",
        ));
    }
    let db = db::db(&state.env)?;
    let (project, env) =
        db::environment(&db, &caller.team_id, &body.project, &body.environment).await?;
    let policy = load_policy(&db, &caller.team_id, &env.id).await?;
    let now = now_ms();
    let now_utc = DateTime::<Utc>::from_timestamp_millis(now).unwrap_or_default();
    let violations = policy.violations(now_utc, body.git_ref.as_deref());
    let mut override_reason = None;
    if !violations.is_empty() {
        let Some(ovr) = &body.emergency_override else {
            return Err(blocked(&violations));
        };
        if !policy::may_override(caller.role) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "the emergency override needs the approver role; your token has {}",
                    caller.role
                ),
            )
            .with_hint("ask an approver or admin to request the deployment"));
        }
        if ovr.reason.trim().is_empty() || ovr.reason.len() > 1000 {
            return Err(bad_request(
                "emergency_override.reason must be 1-1000 characters",
            ));
        }
        override_reason = Some(ovr.reason.clone());
    }
    let id = db::new_id("dep");
    let target = if policy.required_approvals > 0 {
        DeploymentStatus::AwaitingApproval
    } else {
        DeploymentStatus::Queued
    };
    lifecycle::transition(DeploymentStatus::Requested, target).map_err(ApiError::internal)?;
    let overridden = (!violations.is_empty()).then(|| json!(violations));
    let overridden_text = overridden.as_ref().map(Value::to_string);
    let required = i64::from(policy.required_approvals);
    let after = json!({
        "project": project.slug, "environment": env.name, "status": target, "git_ref": body.git_ref,
        "git_sha": body.git_sha, "strategy": strategy, "required_approvals": required,
    });
    let mut stmts = vec![
        worker::query!(
            &db,
            "INSERT INTO deployments (id, team_id, project_id, environment_id, status, strategy, requested_by,
               git_ref, git_sha, message, created_at, required_approvals, override_reason, overridden_rules,
               requested_by_member)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            &id,
            &caller.team_id,
            &project.id,
            &env.id,
            &target.as_str(),
            &strategy,
            &caller.actor,
            &body.git_ref,
            &body.git_sha,
            &body.message,
            &now,
            &required,
            &override_reason,
            &overridden_text,
            &caller.accountable_email
        ),
        event_stmt(&db, &id, "requested", None, Some(DeploymentStatus::Requested), None),
        event_stmt(
            &db,
            &id,
            "transition",
            Some(DeploymentStatus::Requested),
            Some(target),
            Some(&json!({ "by": caller.actor, "policy": "checked" })),
        ),
        audit_stmt(&db, &caller.team_id, &caller.actor, "deployment.create", "deployment", &id, None, Some(&after)),
    ];
    if let Some(reason) = &override_reason {
        let detail = json!({ "reason": reason, "overridden": overridden });
        stmts.push(event_stmt(
            &db,
            &id,
            "emergency_override",
            None,
            None,
            Some(&detail),
        ));
        stmts.push(audit_stmt(
            &db,
            &caller.team_id,
            &caller.actor,
            "deployment.emergency_override",
            "deployment",
            &id,
            None,
            Some(&detail),
        ));
    }
    db::batch(&db, stmts).await?;
    let row = load(&db, &caller.team_id, &id).await?;
    Ok((StatusCode::CREATED, Json(deployment_json(&row))))
}

fn deployment_json(row: &DeploymentRow) -> Value {
    let mut v = json!(row);
    v["overridden_rules"] = row
        .overridden_rules
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    v
}

#[derive(Deserialize)]
struct ListQuery {
    project: Option<String>,
    environment: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /api/v1/deployments`: newest first; filter by project, environment, status.
#[worker::send]
async fn list_deployments(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(status) = &q.status {
        status.parse::<DeploymentStatus>().map_err(bad_request)?;
    }
    let after: Option<After> = q
        .cursor
        .as_deref()
        .map(cursor::decode)
        .transpose()
        .map_err(bad_request)?;
    let limit = cursor::limit(q.limit);
    let (after_at, after_id) = after.map_or((None, None), |a| (Some(a.at), Some(a.id)));
    let db = db::db(&state.env)?;
    let rows = db::all::<DeploymentRow>(worker::query!(
        &db,
        &format!(
            "{SELECT_DEPLOYMENT} WHERE d.team_id = ?1
               AND (?2 IS NULL OR p.slug = ?2) AND (?3 IS NULL OR e.name = ?3) AND (?4 IS NULL OR d.status = ?4)
               AND (?5 IS NULL OR d.created_at < ?5 OR (d.created_at = ?5 AND d.id < ?6))
             ORDER BY d.created_at DESC, d.id DESC LIMIT ?7"
        ),
        &caller.team_id,
        &q.project,
        &q.environment,
        &q.status,
        &after_at,
        &after_id,
        &(i64::from(limit) + 1)
    ))
    .await?;
    let page = cursor::paginate(rows, limit, |r| After {
        at: r.created_at,
        id: r.id.clone(),
    });
    Ok(Json(json!({
        "items": page.items.iter().map(deployment_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

#[derive(Deserialize, Serialize)]
struct EventRow {
    id: i64,
    at: i64,
    kind: String,
    from_status: Option<String>,
    to_status: Option<String>,
    detail: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct ApprovalRow {
    id: String,
    actor: String,
    role: String,
    comment: Option<String>,
    created_at: i64,
}

async fn approvals_of(
    db: &D1Database,
    team_id: &str,
    id: &str,
) -> Result<Vec<ApprovalRow>, ApiError> {
    db::all::<ApprovalRow>(worker::query!(
        db,
        "SELECT id, actor, role, comment, created_at FROM approvals WHERE team_id = ?1 AND deployment_id = ?2 ORDER BY created_at, id",
        &team_id,
        &id
    ))
    .await
}

/// `GET /api/v1/deployments/{deployment_id}`: the record, its events and approvals.
#[worker::send]
async fn get_deployment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let events = db::all::<EventRow>(worker::query!(
        &db,
        "SELECT id, at, kind, from_status, to_status, detail FROM deployment_events WHERE deployment_id = ?1 ORDER BY id",
        &row.id
    ))
    .await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let mut v = json!(e);
            v["detail"] = e
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            v
        })
        .collect();
    let mut out = deployment_json(&row);
    out["events"] = json!(events);
    out["approvals"] = json!(approvals_of(&db, &caller.team_id, &row.id).await?);
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionBody {
    to: DeploymentStatus,
    detail: Option<Value>,
}

/// Moves a deployment `from → to` only if it is still in `from` (so two racing callers cannot
/// both move it), with its event and audit entry in the same batch.
async fn apply_transition(
    db: &D1Database,
    caller: &Caller,
    row: &DeploymentRow,
    from: DeploymentStatus,
    to: DeploymentStatus,
    detail: Option<&Value>,
) -> Result<(), ApiError> {
    lifecycle::transition(from, to).map_err(|e| {
        let next: Vec<&str> = from
            .next_states()
            .into_iter()
            .map(DeploymentStatus::as_str)
            .collect();
        ApiError::new(ErrorCode::Conflict, e.to_string()).with_hint(format!(
            "from {from} it can move to: {}",
            if next.is_empty() {
                "nothing (final)".into()
            } else {
                next.join(", ")
            }
        ))
    })?;
    let now = now_ms();
    let started = (to == DeploymentStatus::Deploying).then_some(now);
    let finished = to.is_terminal().then_some(now);
    let mut ev = json!({ "by": caller.actor });
    if let Some(d) = detail {
        ev["detail"] = d.clone();
    }
    // One batch: the guarded update, then its event and audit entry, each written only if
    // the statement before it wrote (so a lost race leaves no trace and a crash cannot leave
    // a change without its record).
    let results = db::batch(
        db,
        vec![
            worker::query!(
                db,
                "UPDATE deployments SET status = ?1, started_at = COALESCE(?2, started_at), finished_at = COALESCE(?3, finished_at)
                 WHERE id = ?4 AND team_id = ?5 AND status = ?6",
                &to.as_str(),
                &started,
                &finished,
                &row.id,
                &caller.team_id,
                &from.as_str()
            ),
            event_if_changed_stmt(db, &row.id, "transition", Some(from), Some(to), Some(&ev)),
            db::audit_if_changed_stmt(
                db,
                &caller.team_id,
                &caller.actor,
                "deployment.transition",
                "deployment",
                &row.id,
                Some(&json!({ "status": from })),
                Some(&json!({ "status": to, "detail": detail })),
            ),
        ],
    )
    .await?;
    if db::changes(&results, 0) == 0 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("deployment {} is no longer {from}", row.id),
        )
        .with_hint("someone else moved it; GET it and retry"));
    }
    Ok(())
}

/// A finished deployment frees the environment for the next in the queue; a 409 from the lock
/// only means it did not hold it (e.g. cancelled while queued), which needs nothing.
async fn free_environment(env: &worker::Env, row: &DeploymentRow) -> Result<(), ApiError> {
    let who = json!({ "holder_id": row.id });
    call_lock(
        env,
        &row.environment_id,
        worker::Method::Post,
        "release",
        Some(&who),
    )
    .await?;
    call_lock(
        env,
        &row.environment_id,
        worker::Method::Post,
        "cancel",
        Some(&who),
    )
    .await?;
    Ok(())
}

/// Ends a deployment on behalf of its `Rollout` Durable Object (actor `clodo:rollout`), with
/// its event and audit entry, and frees the environment. Already ended: nothing to do.
pub(super) async fn finish_for_rollout(
    env: &worker::Env,
    team_id: &str,
    deployment_id: &str,
    to: DeploymentStatus,
    detail: &Value,
) -> Result<(), ApiError> {
    let db = db::db(env)?;
    let row = load(&db, team_id, deployment_id).await?;
    let from = status_of(&row)?;
    if from.is_terminal() {
        return Ok(());
    }
    let caller = Caller {
        team_id: team_id.to_owned(),
        token_id: "rollout".into(),
        actor: "clodo:rollout".into(),
        role: Role::Deployer,
        member_id: None,
        accountable_email: None,
    };
    apply_transition(&db, &caller, &row, from, to, Some(detail)).await?;
    free_environment(env, &row).await
}

/// `POST /api/v1/deployments/{deployment_id}/transitions`
#[worker::send]
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TransitionBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Deployer)?;
    if body
        .detail
        .as_ref()
        .is_some_and(|d| d.to_string().len() > 8 * 1024)
    {
        return Err(bad_request("detail must be at most 8 KiB of JSON"));
    }
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let from = status_of(&row)?;
    if from == DeploymentStatus::AwaitingApproval && body.to == DeploymentStatus::Queued {
        // Only approvals release a deployment that needs them.
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this deployment is waiting for approvals",
        )
        .with_hint("approvers: POST /api/v1/deployments/{id}/approvals (or `clodo approve`)"));
    }
    if body.to == DeploymentStatus::Deploying {
        recheck_policy(&db, &caller.team_id, &row).await?;
        // Strictly one deploy per environment: only the deployment holding the lock starts.
        let (_, info) = call_lock(
            &state.env,
            &row.environment_id,
            worker::Method::Get,
            "info",
            None,
        )
        .await?;
        if info["holder"]["holder_id"].as_str() != Some(row.id.as_str()) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("deployment {} does not hold the {} lock", row.id, row.environment),
            )
            .with_hint("acquire it first: POST …/lock/acquire with holder_id = the deployment id, and wait for your turn"));
        }
    }
    apply_transition(&db, &caller, &row, from, body.to, body.detail.as_ref()).await?;
    if body.to.is_terminal() {
        free_environment(&state.env, &row).await?;
    }
    Ok(Json(deployment_json(
        &load(&db, &caller.team_id, &id).await?,
    )))
}

/// `GET /api/v1/deployments/{deployment_id}/approvals`
#[worker::send]
async fn list_approvals(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let items = approvals_of(&db, &caller.team_id, &row.id).await?;
    Ok(Json(
        json!({ "required": row.required_approvals, "items": items }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApprovalBody {
    comment: Option<String>,
}

/// `POST /api/v1/deployments/{deployment_id}/approvals`: one approval with an optional
/// comment; the one that reaches the required count queues the deployment.
#[worker::send]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApprovalBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.comment.as_ref().is_some_and(|c| c.len() > 2000) {
        return Err(bad_request("comment must be at most 2000 characters"));
    }
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let existing = approvals_of(&db, &caller.team_id, &row.id).await?;
    let approvers: Vec<String> = existing.iter().map(|a| a.actor.clone()).collect();
    // The author as a person: recorded at creation, or (older rows) read from the actor.
    let author = row
        .requested_by_member
        .clone()
        .or_else(|| policy::person_of(&row.requested_by));
    policy::check_approval(author.as_deref(), &caller.actor, caller.role, &approvers).map_err(
        |e| {
            let (code, hint) = match e {
                policy::ApprovalError::AlreadyApproved => (ErrorCode::Conflict, "one approval per person"),
                policy::ApprovalError::NotAPerson => (
                    ErrorCode::Forbidden,
                    "approve with a token created for your member (POST /api/v1/tokens with member_email)",
                ),
                _ => (ErrorCode::Forbidden, "ask another approver of the team"),
            };
            ApiError::new(code, e.to_string()).with_hint(hint)
        },
    )?;
    if status_of(&row)? != DeploymentStatus::AwaitingApproval {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("deployment is {}, not awaiting approval", row.status),
        ));
    }
    recheck_policy(&db, &caller.team_id, &row).await?;
    let approval_id = db::new_id("apr");
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO approvals (id, team_id, deployment_id, actor, role, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &approval_id,
                &caller.team_id,
                &row.id,
                &caller.actor,
                &caller.role.as_str(),
                &body.comment,
                &now_ms()
            ),
            event_stmt(&db, &row.id, "approved", None, None, Some(&json!({ "by": caller.actor, "comment": body.comment }))),
            audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "deployment.approve",
                "deployment",
                &row.id,
                None,
                Some(&json!({ "comment": body.comment })),
            ),
        ],
    )
    .await?;
    // Counted after the insert, so concurrent approvals cannot both miss the threshold.
    let count = db::first::<Value>(worker::query!(
        &db,
        "SELECT COUNT(*) AS n FROM approvals WHERE team_id = ?1 AND deployment_id = ?2",
        &caller.team_id,
        &row.id
    ))
    .await?
    .and_then(|v| v["n"].as_i64())
    .unwrap_or(0);
    if count >= row.required_approvals {
        // A racing approval may have queued it already; that is the outcome we want.
        let _ = apply_transition(
            &db,
            &caller,
            &row,
            DeploymentStatus::AwaitingApproval,
            DeploymentStatus::Queued,
            Some(&json!({ "approvals": count })),
        )
        .await;
    }
    let row = load(&db, &caller.team_id, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "approval_id": approval_id, "approvals": count, "required": row.required_approvals, "deployment": deployment_json(&row) }),
        ),
    ))
}
