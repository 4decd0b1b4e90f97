//! Routes of scheduled deploys: cancel a scheduled deployment, recurring schedules of an
//! environment, and the team's iCalendar feed. Starting is the scheduler's
//! (`worker::scheduler`); deciding is the pure core's (`control::schedule`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::D1Database;

use super::auth::Caller;
use super::db::{self, audit_if_changed_stmt, audit_stmt, bad_request, now_ms};
use super::deployment_store::{load, D1Deployments};
use super::durable::scheduler_object;
use super::policies::load_policy;
use super::routes::AppState;
use crate::api::contract::deployments::{Deployment, DeploymentStatus, Strategy};
use crate::api::contract::schedules::{
    CalendarQuery, CancelOutcome, NewSchedule, Schedule, ScheduleList, ScheduledStart,
};
use crate::api::{ApiError, ErrorCode, JsonBody, QueryParams};
use crate::control::deployments::{self as service, Actor, DeploymentError};
use crate::control::schedule::cron::Cron;
use crate::control::schedule::{self, decide_cancel, ics, CancelDecision, ScheduleState};
use crate::control::{valid_slug, Role};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deployments/{deployment_id}/cancel", post(cancel))
        .route(
            "/api/v1/projects/{project}/environments/{environment}/schedules",
            get(list_schedules).post(create_schedule),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/schedules/{schedule_id}",
            delete(delete_schedule),
        )
        .route("/api/v1/calendar.ics", get(calendar))
}

/// Wakes the scheduler by `at`; a failure is logged (the cron sweep is the safety net).
pub(super) async fn arm(env: &worker::Env, at: i64) {
    if let Err(e) = scheduler_object::arm(env, at).await {
        worker::console_error!("arming the scheduler for {at}: {}", e.message);
    }
}

#[derive(Debug, Deserialize)]
struct StartRow {
    state: String,
    due_at: i64,
    reason: Option<String>,
    recurring_id: Option<String>,
    attempts: i64,
}

/// A scheduled deployment's start, or `None` for a deployment started at once.
pub(super) async fn schedule_of(
    db: &D1Database,
    deployment_id: &str,
) -> Result<Option<ScheduledStart>, ApiError> {
    let row = db::first::<StartRow>(worker::query!(
        db,
        "SELECT state, due_at, reason, recurring_id, attempts FROM deployment_schedules WHERE deployment_id = ?1",
        &deployment_id
    ))
    .await?;
    row.map(|r| {
        Ok(ScheduledStart {
            state: ScheduleState::parse(&r.state).map_err(ApiError::internal)?,
            due_at: r.due_at,
            reason: r.reason,
            recurring_id: r.recurring_id,
            attempts: r.attempts,
        })
    })
    .transpose()
}

/// Whether the deployment waits for its scheduled start, so its versions may be recorded
/// without the lock (they were uploaded with `wrangler versions upload`: nothing moves until
/// it starts). Refused once its start has begun.
pub(super) async fn awaiting_start(db: &D1Database, row: &Deployment) -> Result<bool, ApiError> {
    let Some(start) = schedule_of(db, &row.id).await? else {
        return Ok(false);
    };
    // `waiting`: due, but (also) waiting for these versions; the start reads them only once
    // all are recorded (one batch).
    if matches!(start.state, ScheduleState::Pending | ScheduleState::Waiting) {
        return Ok(true);
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!(
            "deployment {}'s scheduled start is {}; versions are recorded before it starts",
            row.id,
            start.state.as_str()
        ),
    ))
}

/// `POST /api/v1/deployments/{deployment_id}/cancel`: cancels a scheduled deployment before
/// it starts. The schedule's state is changed with a conditional update (so a start claimed
/// at the same moment and this cancel cannot both win), then the deployment is cancelled,
/// which frees its place in the lock queue. Repeating it answers the same and changes
/// nothing; a deployment that started (or ended) is refused with what to do instead.
#[worker::send]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CancelOutcome>, ApiError> {
    caller.require(Role::Deployer)?;
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    let start = schedule_of(&db, &row.id).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("deployment {id} is not a scheduled deployment"),
        )
        .with_hint("`clodo abort` stops a running rollout; POST …/transitions {\"to\":\"cancelled\"} cancels one that has not started")
    })?;
    let mut cancelled_now = false;
    match decide_cancel(start.state) {
        CancelDecision::Refuse(why) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("deployment {id} cannot be cancelled: {why}"),
            ))
        }
        CancelDecision::AlreadyCancelled => {}
        CancelDecision::Cancel => {
            let detail = json!({ "by": caller.actor });
            let results = db::batch(
                &db,
                vec![
                    worker::query!(
                        &db,
                        "UPDATE deployment_schedules SET state = 'cancelled', reason = ?2, ended_at = ?3
                          WHERE deployment_id = ?1 AND state IN ('pending', 'waiting')",
                        &row.id,
                        &format!("cancelled by {}", caller.actor),
                        &now_ms()
                    ),
                    audit_if_changed_stmt(
                        &db,
                        &caller.team_id,
                        &caller.actor,
                        "deployment.schedule_cancelled",
                        "deployment",
                        &row.id,
                        None,
                        Some(&detail),
                    ),
                ],
            )
            .await?;
            cancelled_now = db::changes(&results, 0) > 0;
            if !cancelled_now {
                // The scheduler claimed it meanwhile: say what it is now.
                let now = schedule_of(&db, &row.id).await?.map(|s| s.state);
                if now != Some(ScheduleState::Cancelled) {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!("deployment {id} is starting; it can no longer be cancelled"),
                    )
                    .with_hint("`clodo abort` stops its rollout once it runs"));
                }
            }
        }
    }
    // Cancelled in the schedule: the deployment follows (again, if a crash came between).
    if !row.status.is_terminal() {
        let store = D1Deployments {
            env: &state.env,
            db: db::db(&state.env)?,
            team_id: &caller.team_id,
        };
        let actor = Actor::Token {
            label: caller.actor.clone(),
            role: caller.role,
            accountable_email: caller.accountable_email.clone(),
        };
        let detail = json!({ "reason": "scheduled deployment cancelled" });
        match service::finish(
            &store,
            &actor,
            &row.id,
            DeploymentStatus::Cancelled,
            &detail,
            now_ms(),
        )
        .await
        {
            Ok(()) | Err(DeploymentError::NoLonger { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let deployment = load(&db, &caller.team_id, &id).await?;
    Ok(Json(CancelOutcome {
        cancelled_now,
        deployment,
    }))
}

#[derive(Debug, Deserialize)]
struct ScriptRow {
    service: String,
    script: String,
}

/// (service, Worker) registered for an environment.
pub(super) async fn scripts_of(
    db: &D1Database,
    team_id: &str,
    environment_id: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    let rows = db::all::<ScriptRow>(worker::query!(
        db,
        "SELECT s.name AS service, x.script_name AS script FROM service_scripts x JOIN services s ON s.id = x.service_id
          WHERE x.team_id = ?1 AND x.environment_id = ?2 ORDER BY s.name",
        &team_id,
        &environment_id
    ))
    .await?;
    Ok(rows.into_iter().map(|r| (r.service, r.script)).collect())
}

const SELECT_SCHEDULE: &str = "SELECT r.id, p.slug AS project, e.name AS environment, r.cron,
    s.name AS source_environment, r.strategy, r.message, r.next_at, r.created_by, r.created_at,
    r.last_occurrence_at, r.last_deployment_id, r.last_error
  FROM recurring_schedules r JOIN projects p ON p.id = r.project_id JOIN environments e ON e.id = r.environment_id
  LEFT JOIN environments s ON s.id = r.source_environment_id";

/// `POST …/environments/{e}/schedules`: a recurring schedule. The cron expression is checked
/// and its next occurrence computed; a source environment must be another environment of the
/// project whose Workers have the same names and account (a version is a version of one
/// Worker); an environment that requires approvals cannot have one (nobody could approve an
/// occurrence before it starts).
#[worker::send]
async fn create_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<NewSchedule>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    caller.require(Role::Deployer)?;
    let cron = Cron::parse(&body.cron).map_err(|e| {
        bad_request(format!("cron `{}`: {e}", body.cron))
            .with_hint("five fields in UTC, e.g. \"0 9 * * wed\" (Wednesdays 09:00 UTC)")
    })?;
    if body.message.as_ref().is_some_and(|m| m.len() > 2000) {
        return Err(bad_request("message: at most 2000 characters"));
    }
    let db = db::db(&state.env)?;
    let (p, e) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let policy = load_policy(&db, &caller.team_id, &e.id).await?;
    if policy.required_approvals > 0 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("{project}/{environment} requires {} approval(s): a recurring deploy cannot wait for them", policy.required_approvals),
        )
        .with_hint("schedule single deployments with `clodo deploy --at` (they can be approved before their time)"));
    }
    let source_id = match &body.source_environment {
        None => None,
        Some(name) if !valid_slug(name) => {
            return Err(bad_request("source_environment: an environment name"))
        }
        Some(name) if *name == environment => return Err(bad_request(
            "source_environment is this environment; leave it out to re-deploy its own versions",
        )),
        Some(name) => {
            let (_, source) = db::environment(&db, &caller.team_id, &project, name).await?;
            if source.cloudflare_account_id != e.cloudflare_account_id {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("{name} and {environment} are bound to different Cloudflare accounts: a version exists in one account only"),
                )
                .with_hint(format!("ship {name}'s code with environment promotion (`clodo promote --from {name} --to {environment}`)")));
            }
            let from = scripts_of(&db, &caller.team_id, &source.id).await?;
            let to = scripts_of(&db, &caller.team_id, &e.id).await?;
            for (service, script) in &from {
                match to.iter().find(|(s, _)| s == service) {
                    Some((_, target)) if target != script => {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            schedule::same_workers_only(service, script, target, name),
                        ))
                    }
                    _ => {}
                }
            }
            Some(source.id)
        }
    };
    let now = now_ms();
    let next = cron
        .next_after(chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now).unwrap_or_default())
        .ok_or_else(|| bad_request(format!("cron `{}` never occurs", body.cron)))?
        .timestamp_millis();
    let id = db::new_id("sch");
    let strategy = body.strategy.unwrap_or(Strategy::Immediate);
    let settings = body
        .rollout
        .as_ref()
        .map_or_else(|| json!({}), |r| json!(r));
    let after = json!({ "cron": cron.as_str(), "source_environment": body.source_environment, "strategy": strategy });
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO recurring_schedules (id, team_id, project_id, environment_id, cron, source_environment_id,
                   strategy, settings, message, created_by, next_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                &id,
                &caller.team_id,
                &p.id,
                &e.id,
                &cron.as_str(),
                &source_id,
                &strategy.as_str(),
                &settings.to_string(),
                &body.message,
                &caller.actor,
                &next,
                &now
            ),
            audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "schedule.create",
                "schedule",
                &id,
                None,
                Some(&after),
            ),
        ],
    )
    .await?;
    arm(&state.env, next).await;
    let created = one_schedule(&db, &caller.team_id, &id).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn one_schedule(db: &D1Database, team_id: &str, id: &str) -> Result<Schedule, ApiError> {
    db::first::<Schedule>(worker::query!(
        db,
        &format!("{SELECT_SCHEDULE} WHERE r.team_id = ?1 AND r.id = ?2 AND r.deleted_at IS NULL"),
        &team_id,
        &id
    ))
    .await?
    .ok_or_else(|| db::not_found("schedule", id))
}

/// `GET …/environments/{e}/schedules`
#[worker::send]
async fn list_schedules(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<ScheduleList>, ApiError> {
    let db = db::db(&state.env)?;
    let (_, e) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let items = db::all::<Schedule>(worker::query!(
        &db,
        &format!("{SELECT_SCHEDULE} WHERE r.team_id = ?1 AND r.environment_id = ?2 AND r.deleted_at IS NULL ORDER BY r.created_at, r.id"),
        &caller.team_id,
        &e.id
    ))
    .await?;
    Ok(Json(ScheduleList { items }))
}

/// `DELETE …/environments/{e}/schedules/{id}`: no further occurrences; deployments it made
/// are left as they are (cancel a pending one with `clodo cancel`).
#[worker::send]
async fn delete_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Deployer)?;
    let db = db::db(&state.env)?;
    let (_, e) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let results = db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "UPDATE recurring_schedules SET deleted_at = ?4 WHERE id = ?1 AND team_id = ?2 AND environment_id = ?3 AND deleted_at IS NULL",
                &id,
                &caller.team_id,
                &e.id,
                &now_ms()
            ),
            audit_if_changed_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "schedule.delete",
                "schedule",
                &id,
                None,
                None,
            ),
        ],
    )
    .await?;
    if db::changes(&results, 0) == 0 {
        return Err(db::not_found("schedule", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ScheduledRow {
    id: String,
    project: String,
    environment: String,
    due_at: i64,
    strategy: String,
    requested_by: String,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RecurringRow {
    id: String,
    project: String,
    environment: String,
    cron: String,
    source_environment: Option<String>,
    strategy: String,
}

#[derive(Debug, Deserialize)]
struct PolicyRow {
    environment_id: String,
    project: String,
    environment: String,
}

/// `GET /api/v1/calendar.ics?project=…`: the team's scheduled deploys (not yet started),
/// recurring schedules, windows and freezes as an iCalendar feed (RFC 5545), for a calendar
/// to subscribe to. Authenticated like every read.
#[worker::send]
async fn calendar(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<CalendarQuery>,
) -> Result<Response, ApiError> {
    let db = db::db(&state.env)?;
    if let Some(p) = &q.project {
        db::project(&db, &caller.team_id, p).await?;
    }
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    let scheduled = db::all::<ScheduledRow>(worker::query!(
        &db,
        "SELECT d.id, p.slug AS project, e.name AS environment, s.due_at, d.strategy, d.requested_by, d.message
           FROM deployment_schedules s JOIN deployments d ON d.id = s.deployment_id
           JOIN projects p ON p.id = d.project_id JOIN environments e ON e.id = d.environment_id
          WHERE s.team_id = ?1 AND s.state IN ('pending', 'waiting') AND (?2 IS NULL OR p.slug = ?2)
          ORDER BY s.due_at LIMIT 500",
        &caller.team_id,
        &q.project
    ))
    .await?;
    for s in scheduled {
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(s.due_at).unwrap_or(now);
        let detail = format!(
            "{} deploy requested by {}{}",
            s.strategy,
            s.requested_by,
            s.message.map(|m| format!(": {m}")).unwrap_or_default()
        );
        events.push(ics::deploy_event(
            &s.id,
            &format!("{}/{} ({})", s.project, s.environment, s.id),
            at,
            &detail,
        ));
    }
    let recurring = db::all::<RecurringRow>(worker::query!(
        &db,
        "SELECT r.id, p.slug AS project, e.name AS environment, r.cron, s.name AS source_environment, r.strategy
           FROM recurring_schedules r JOIN projects p ON p.id = r.project_id JOIN environments e ON e.id = r.environment_id
           LEFT JOIN environments s ON s.id = r.source_environment_id
          WHERE r.team_id = ?1 AND r.deleted_at IS NULL AND (?2 IS NULL OR p.slug = ?2) ORDER BY r.created_at LIMIT 200",
        &caller.team_id,
        &q.project
    ))
    .await?;
    for r in recurring {
        let Ok(cron) = Cron::parse(&r.cron) else {
            continue;
        };
        let from = r.source_environment.map_or_else(
            || "its own newest versions".to_owned(),
            |s| format!("the newest succeeded deployment of {s}"),
        );
        events.extend(ics::schedule_events(
            &r.id,
            &format!("{}/{}", r.project, r.environment),
            &cron,
            now,
            &format!("{} deploy of {from}", r.strategy),
        ));
    }
    let environments = db::all::<PolicyRow>(worker::query!(
        &db,
        "SELECT e.id AS environment_id, p.slug AS project, e.name AS environment
           FROM environments e JOIN projects p ON p.id = e.project_id
          WHERE e.team_id = ?1 AND (?2 IS NULL OR p.slug = ?2) ORDER BY p.slug, e.name LIMIT 200",
        &caller.team_id,
        &q.project
    ))
    .await?;
    for e in environments {
        let policy = load_policy(&db, &caller.team_id, &e.environment_id).await?;
        events.extend(ics::policy_events(
            &e.environment_id,
            &format!("{}/{}", e.project, e.environment),
            &policy,
            now,
        ));
    }
    let name = match &q.project {
        Some(p) => format!("Clodo deploys: {p}"),
        None => "Clodo deploys".to_owned(),
    };
    let body = ics::render(&name, &events, now);
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"clodo.ics\"",
            ),
        ],
        body,
    )
        .into_response())
}
