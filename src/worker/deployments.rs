//! Deployments: the routes of creation (policy checks, the audited emergency override),
//! lifecycle transitions, approvals, and the cursor-paginated history. The decisions are the
//! deployment service's (`control::deployments`); its store here is `D1Deployments`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::auth::Caller;
use super::db::{self, bad_request, now_ms};
pub(super) use super::deployment_store::load;
use super::deployment_store::{all_of, approvals_of, events_of, D1Deployments, SELECT_DEPLOYMENT};
use super::routes::AppState;
use crate::api::contract::deployments::{
    ApprovalList, ApprovalRequest, Approved, Deployment, DeploymentDetail, DeploymentFilter,
    DeploymentPage, DeploymentStatus, NewDeployment, TransitionRequest,
};
use crate::api::{ApiError, ErrorCode, JsonBody, QueryParams};
use crate::control::cursor::Resume;
use crate::control::deployments::{self as service, Actor, DeploymentError};
use crate::control::policy::{ApprovalError, Violation};
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

/// The caller as the deployment service sees it.
pub(super) fn actor(caller: &Caller) -> Actor {
    Actor::Token {
        label: caller.actor.clone(),
        role: caller.role,
        accountable_email: caller.accountable_email.clone(),
    }
}

pub(super) fn store<'a>(
    state: &'a AppState,
    team_id: &'a str,
) -> Result<D1Deployments<'a>, ApiError> {
    Ok(D1Deployments {
        env: &state.env,
        db: db::db(&state.env)?,
        team_id,
    })
}

fn blocked(violations: &[Violation]) -> ApiError {
    let reasons: Vec<String> = violations.iter().map(Violation::describe).collect();
    ApiError::new(
        ErrorCode::Conflict,
        format!("blocked by the environment's policy: {}", reasons.join("; ")),
    )
    .with_hint("wait for the window or freeze to end, deploy an allowed branch, or send emergency_override {reason} with the approver role (audited)")
}

/// The service's refusals as API errors: the one place they become statuses and hints.
impl From<DeploymentError<ApiError>> for ApiError {
    fn from(e: DeploymentError<ApiError>) -> Self {
        let message = e.to_string();
        match e {
            DeploymentError::Store(e) => e,
            DeploymentError::NotFound(id) => db::not_found("deployment", &id),
            DeploymentError::Invalid(m) => bad_request(m),
            DeploymentError::InvalidSchedule(m) => bad_request(m)
                .with_hint("scheduled_for is RFC 3339 (e.g. 2026-12-02T09:00:00Z), in the future, at most 90 days ahead"),
            DeploymentError::Blocked(v) => blocked(&v),
            DeploymentError::OverrideNeedsApprover(role) => ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "the emergency override needs the approver role; your token has {}",
                    role.map_or("none", Role::as_str)
                ),
            )
            .with_hint("ask an approver or admin to request the deployment"),
            DeploymentError::Illegal(illegal) => {
                let next: Vec<&str> = illegal
                    .from
                    .next_states()
                    .into_iter()
                    .map(DeploymentStatus::as_str)
                    .collect();
                let next = if next.is_empty() {
                    "nothing (final)".to_owned()
                } else {
                    next.join(", ")
                };
                ApiError::new(ErrorCode::Conflict, message)
                    .with_hint(format!("from {} it can move to: {next}", illegal.from))
            }
            DeploymentError::WaitingForApprovals => ApiError::new(ErrorCode::Conflict, message)
                .with_hint("approvers: POST /api/v1/deployments/{id}/approvals (or `clodo approve`)"),
            DeploymentError::LockNotHeld { .. } => ApiError::new(ErrorCode::Conflict, message)
                .with_hint("acquire it first: POST …/lock/acquire with holder_id = the deployment id, and wait for your turn"),
            DeploymentError::NoLonger { .. } => ApiError::new(ErrorCode::Conflict, message)
                .with_hint("someone else moved it; GET it and retry"),
            DeploymentError::NotAwaitingApproval(_) => ApiError::new(ErrorCode::Conflict, message),
            DeploymentError::Approval(refused) => {
                let (code, hint) = match refused {
                    ApprovalError::AlreadyApproved => (ErrorCode::Conflict, "one approval per person"),
                    ApprovalError::NotAPerson => (
                        ErrorCode::Forbidden,
                        "approve with a token created for your member (POST /api/v1/tokens with member_email)",
                    ),
                    _ => (ErrorCode::Forbidden, "ask another approver of the team"),
                };
                ApiError::new(code, message).with_hint(hint)
            }
        }
    }
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
    let store = D1Deployments {
        env,
        db: db::db(env)?,
        team_id,
    };
    service::finish(
        &store,
        &service::ROLLOUT,
        deployment_id,
        to,
        detail,
        now_ms(),
    )
    .await?;
    Ok(())
}

/// `POST /api/v1/deployments`
#[worker::send]
async fn create_deployment(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewDeployment>,
) -> Result<(StatusCode, Json<Deployment>), ApiError> {
    caller.require(Role::Deployer)?;
    let store = store(&state, &caller.team_id)?;
    let id = service::create(&store, &actor(&caller), &body, now_ms()).await?;
    let created = load(&store.db, &caller.team_id, &id).await?;
    if let Some(at) = created.scheduled_for {
        super::schedules::arm(&state.env, at).await;
    }
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/v1/deployments`: newest first; filter by project, environment, status.
#[worker::send]
async fn list_deployments(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<DeploymentFilter>,
) -> Result<Json<DeploymentPage>, ApiError> {
    let resume = Resume::from_query(q.cursor.as_deref(), q.limit).map_err(bad_request)?;
    let status = q.status.map(DeploymentStatus::as_str);
    let db = db::db(&state.env)?;
    let rows = all_of(worker::query!(
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
        &status,
        &resume.after_at,
        &resume.after_id,
        &resume.fetch()
    ))
    .await?;
    let page = resume.page(rows, |r| (r.created_at, &r.id));
    Ok(Json(DeploymentPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// `GET /api/v1/deployments/{deployment_id}`: the record, its events and approvals.
#[worker::send]
async fn get_deployment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeploymentDetail>, ApiError> {
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let events = events_of(&db, &row.id).await?;
    let approvals = approvals_of(&db, &caller.team_id, &row.id).await?;
    let schedule = super::schedules::schedule_of(&db, &row.id).await?;
    Ok(Json(DeploymentDetail {
        deployment: row,
        events,
        approvals,
        schedule,
    }))
}

/// `POST /api/v1/deployments/{deployment_id}/transitions`
#[worker::send]
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TransitionRequest>,
) -> Result<Json<Deployment>, ApiError> {
    caller.require(Role::Deployer)?;
    let store = store(&state, &caller.team_id)?;
    // Cancelling a deployment that awaits approval is rejecting it: its Slack message says so.
    let was_awaiting = body.to == DeploymentStatus::Cancelled
        && load(&db::db(&state.env)?, &caller.team_id, &id)
            .await
            .is_ok_and(|d| d.status == DeploymentStatus::AwaitingApproval);
    let moved = service::transition(&store, &actor(&caller), &id, &body, now_ms()).await?;
    if moved.status == DeploymentStatus::Cancelled {
        let what = if was_awaiting {
            "Rejected (cancelled)"
        } else {
            "Cancelled"
        };
        let key = format!("slk_api_{}_cancelled", moved.id);
        super::slack_work::after_act_outside(
            &state.env,
            &caller.team_id,
            &moved.id,
            what,
            &caller.actor,
            &key,
        )
        .await;
    }
    Ok(Json(moved))
}

/// `GET /api/v1/deployments/{deployment_id}/approvals`
#[worker::send]
async fn list_approvals(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApprovalList>, ApiError> {
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let items = approvals_of(&db, &caller.team_id, &row.id).await?;
    Ok(Json(ApprovalList {
        required: row.required_approvals,
        items,
    }))
}

/// `POST /api/v1/deployments/{deployment_id}/approvals`: one approval with an optional
/// comment; the one that reaches the required count queues the deployment.
#[worker::send]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApprovalRequest>,
) -> Result<(StatusCode, Json<Approved>), ApiError> {
    let store = store(&state, &caller.team_id)?;
    let done = service::approve(&store, &actor(&caller), &id, &body, now_ms()).await?;
    let what = format!(
        "Approved ({}/{}){}",
        done.approvals,
        done.deployment.required_approvals,
        if done.deployment.status == DeploymentStatus::Queued {
            ", queued to deploy"
        } else {
            ""
        }
    );
    super::slack_work::after_act_outside(
        &state.env,
        &caller.team_id,
        &done.deployment.id,
        &what,
        &caller.actor,
        &format!("slk_api_{}_approved", done.approval_id),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(Approved {
            approval_id: done.approval_id,
            approvals: done.approvals,
            required: done.deployment.required_approvals,
            deployment: done.deployment,
        }),
    ))
}
