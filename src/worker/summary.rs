//! The weekly summary's shell: loads a project's deployment records from D1, assembles the
//! summary (`notify::summary`, DORA's figures through `control::dora`) and queues one
//! `channel` outbox row per channel that receives `summary.weekly`, its id the idempotency
//! key `sum_<project id>_<ISO week>_<channel id>` inserted with `INSERT OR IGNORE`: a second
//! cron tick, a retry or a second request for the same week queues nothing more.
//!
//! Two callers: the every-minute cron (`enqueue_due`, the previous week once Monday 09:00
//! UTC has passed) and `POST /api/v1/projects/{project}/summary` (admin, any week so far).

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Env};

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use crate::api::contract::notify::{SummaryQuery, SummarySent};
use crate::api::{ApiError, ErrorCode, QueryParams};
use crate::control::dora::DeploymentFacts;
use crate::control::Role;
use crate::notify::summary::{
    self, assemble, due_week, EnvironmentRecords, IsoWeek, SummaryPayload, Window,
};
use crate::notify::EventType;
use crate::outbox::KIND_CHANNEL;

const DAY_MS: i64 = 86_400_000;
/// Projects summarised per cron tick; the others are owed and found on the next tick.
const PROJECTS_PER_TICK: i64 = 10;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/projects/{project}/summary", post(send_summary))
}

/// The filter `instr` looks for in a channel's stored events.
fn subscribed() -> String {
    format!(",{},", EventType::SummaryWeekly.as_str())
}

#[derive(Deserialize)]
struct ChannelRow {
    id: String,
    /// The channel's environment (name); None: every environment of the project.
    environment: Option<String>,
}

#[derive(Deserialize)]
struct EnvRow {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct FactsRow {
    environment_id: String,
    status: String,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    git_committed_at: Option<i64>,
    emergency: i64,
}

#[derive(Deserialize)]
struct RollbackCount {
    environment_id: String,
    n: u32,
}

/// Every environment's records for the window: the deployments DORA reads (created up to a
/// week before the window can still finish in it; later ones count for recovery times, as
/// in `GET /api/v1/metrics/dora`) and the environment rollbacks made in it.
async fn records(
    db: &D1Database,
    team_id: &str,
    project_id: &str,
    window: &Window,
) -> Result<Vec<EnvironmentRecords>, ApiError> {
    let envs = db::all::<EnvRow>(worker::query!(
        db,
        "SELECT id, name FROM environments WHERE team_id = ?1 AND project_id = ?2 ORDER BY name",
        &team_id,
        &project_id
    ))
    .await?;
    let facts = db::all::<FactsRow>(worker::query!(
        db,
        "SELECT d.environment_id, d.status, d.started_at, d.finished_at, d.git_committed_at,
                d.override_reason IS NOT NULL AS emergency
           FROM deployments d
          WHERE d.team_id = ?1 AND d.project_id = ?2 AND d.created_at >= ?3
          ORDER BY d.created_at",
        &team_id,
        &project_id,
        &(window.from - 7 * DAY_MS)
    ))
    .await?;
    let rollbacks = db::all::<RollbackCount>(worker::query!(
        db,
        "SELECT r.environment_id, COUNT(*) AS n FROM environment_rollbacks r
           JOIN environments e ON e.id = r.environment_id
          WHERE r.team_id = ?1 AND e.project_id = ?2 AND r.created_at >= ?3 AND r.created_at < ?4
          GROUP BY r.environment_id",
        &team_id,
        &project_id,
        &window.from,
        &window.to
    ))
    .await?;
    Ok(envs
        .into_iter()
        .map(|env| EnvironmentRecords {
            deployments: facts
                .iter()
                .filter(|f| f.environment_id == env.id)
                .map(|f| DeploymentFacts {
                    status: f.status.clone(),
                    started_at: f.started_at,
                    finished_at: f.finished_at,
                    committed_at: f.git_committed_at,
                    emergency: f.emergency != 0,
                })
                .collect(),
            rollbacks: rollbacks
                .iter()
                .find(|r| r.environment_id == env.id)
                .map_or(0, |r| r.n),
            environment: env.name,
        })
        .collect())
}

/// Queues the summary of the project for `window` to each enabled channel of it that
/// receives `summary.weekly` (made before `made_before`, when given). A channel of one
/// environment gets that environment's part. Answers the keys, one per channel, and how
/// many rows this call inserted (0 when every key existed).
async fn enqueue(
    db: &D1Database,
    team_id: &str,
    (project_id, slug): (&str, &str),
    window: &Window,
    made_before: Option<i64>,
) -> Result<(Vec<String>, u32), ApiError> {
    let channels = db::all::<ChannelRow>(worker::query!(
        db,
        "SELECT c.id, e.name AS environment FROM notification_channels c
           LEFT JOIN environments e ON e.id = c.environment_id
          WHERE c.team_id = ?1 AND c.project_id = ?2 AND c.enabled = 1 AND instr(c.events, ?3) > 0
            AND (?4 IS NULL OR c.created_at < ?4)
          ORDER BY c.created_at, c.id",
        &team_id,
        &project_id,
        &subscribed(),
        &made_before
    ))
    .await?;
    if channels.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let whole = assemble(
        slug,
        window,
        &records(db, team_id, project_id, window).await?,
    );
    let now = now_ms();
    let mut keys = Vec::new();
    let mut stmts = Vec::new();
    for channel in &channels {
        let mut part = whole.clone();
        if let Some(env) = &channel.environment {
            part.environments.retain(|e| &e.environment == env);
        }
        let key = summary::key(project_id, window, &channel.id);
        let payload =
            serde_json::to_string(&SummaryPayload::new(part, now)).map_err(ApiError::internal)?;
        stmts.push(worker::query!(
            db,
            "INSERT OR IGNORE INTO outbox (id, team_id, kind, target, event_type, payload, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            &key,
            &team_id,
            &KIND_CHANNEL,
            &channel.id,
            &EventType::SummaryWeekly.as_str(),
            &payload,
            &now
        ));
        keys.push(key);
    }
    let results = db::batch(db, stmts).await?;
    let queued = (0..results.len())
        .map(|i| db::changes(&results, i))
        .sum::<usize>();
    Ok((keys, u32::try_from(queued).unwrap_or(u32::MAX)))
}

#[derive(Deserialize)]
struct OwedProject {
    team_id: String,
    project_id: String,
    slug: String,
}

/// The cron's part, every minute: once Monday 09:00 UTC has passed, queues last week's
/// summary for every project with a channel that receives it and has no row of that week's
/// key yet (channels made after 09:00 wait for the next week). Answers how many rows it
/// queued; the sweep that follows in the same tick sends them.
///
/// # Errors
/// D1 failed.
pub(super) async fn enqueue_due(env: &Env) -> Result<u32, ApiError> {
    let now = now_ms();
    let Some((week, send_at)) = due_week(now) else {
        return Ok(0);
    };
    let window = summary::window(week, now).map_err(ApiError::internal)?;
    let db = db::db(env)?;
    // The key is `sum_<project>_<week>_<channel>` (`summary::key` for a complete week).
    let owed = db::all::<OwedProject>(worker::query!(
        &db,
        "SELECT DISTINCT c.team_id, c.project_id, p.slug FROM notification_channels c
           JOIN projects p ON p.id = c.project_id
          WHERE c.enabled = 1 AND instr(c.events, ?1) > 0 AND c.created_at < ?2
            AND NOT EXISTS (SELECT 1 FROM outbox o
                             WHERE o.id = 'sum_' || c.project_id || '_' || ?3 || '_' || c.id)
          LIMIT ?4",
        &subscribed(),
        &send_at,
        &week.to_string(),
        &PROJECTS_PER_TICK
    ))
    .await?;
    let mut queued = 0;
    for p in owed {
        let (_, n) = enqueue(
            &db,
            &p.team_id,
            (&p.project_id, &p.slug),
            &window,
            Some(send_at),
        )
        .await?;
        queued += n;
    }
    Ok(queued)
}

/// `POST /api/v1/projects/{project}/summary?week=2026-W49` (admin): queues the summary now
/// rather than on Monday, for ops and for checking a new channel. Absent `week`: the last
/// complete week, the one the cron sends (so the Monday send and this share the key: what
/// one queued the other answers). The current week sends the week to date under its own
/// key. Asked again for the same week it queues nothing and answers the existing deliveries.
#[worker::send]
async fn send_summary(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    QueryParams(q): QueryParams<SummaryQuery>,
) -> Result<Json<SummarySent>, ApiError> {
    caller.require(Role::Admin)?;
    let now = now_ms();
    let week = match &q.week {
        Some(text) => IsoWeek::parse(text).map_err(|e| {
            bad_request(format!("week: {e}")).with_hint("name an ISO week, e.g. ?week=2026-W49")
        })?,
        None => IsoWeek::of(now).previous(),
    };
    let window = summary::window(week, now).map_err(|e| {
        bad_request(format!("week: {e}")).with_hint("a summary covers a week that has begun")
    })?;
    let db = db::db(&state.env)?;
    let project_row = db::project(&db, &caller.team_id, &project).await?;
    let (keys, queued) = enqueue(
        &db,
        &caller.team_id,
        (&project_row.id, &project_row.slug),
        &window,
        None,
    )
    .await?;
    if keys.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("no enabled channel of project {project} receives summary.weekly"),
        )
        .with_hint(format!(
            "add one: `clodo channels add --project {project} --kind slack --name weekly --url-env SLACK_WEBHOOK_URL --events summary.weekly` (a disabled one: `clodo channels enable ID`)"
        )));
    }
    if queued > 0 {
        let entry = Audit::created(
            "summary.send",
            ("project", &project_row.id),
            json!({ "week": window.week.to_string(), "complete": window.complete, "queued": queued }),
        );
        db::run(caller.audit(&db, &entry)).await?;
        super::outbox::kick(&state.env).await;
    }
    let deliveries = super::deliveries::find_many(&db, &caller.team_id, &keys).await?;
    Ok(Json(SummarySent {
        project: project_row.slug,
        week: window.week.to_string(),
        from: window.from,
        to: window.to,
        complete: window.complete,
        queued,
        deliveries,
    }))
}
