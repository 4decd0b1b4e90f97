//! Routes for what a deployment did besides Workers: the D1 migrations it applied with the
//! Time Travel bookmark taken first, and the Pages deployments it made. Recorded only while
//! the deployment is `deploying` and holds its environment's lock; a Pages deployment is
//! checked with Cloudflare (in the environment's account) before it is recorded.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::D1Database;

use super::auth::Caller;
use super::db::{self, audit_stmt, bad_request, now_ms};
use super::deployments::load;
use super::rollout_io::{Io, Owner, VersionCheck};
use super::rollouts::{acting_deployment, event_stmt, Stage};
use super::routes::AppState;
use crate::api::contract::pages_d1::{
    MigrationList, MigrationState, PagesDeploymentList, RecordMigration, RecordPagesDeployment,
    RecordedMigration, RecordedPagesDeployment,
};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::config::valid_pages_project;
use crate::control::lifecycle::DeploymentStatus;
use crate::control::{valid_slug, Role};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/deployments/{deployment_id}/migrations",
            get(list_migrations).post(record_migration),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/pages",
            get(list_pages).post(record_pages),
        )
}

const DEPLOYING: Stage = Stage {
    status: DeploymentStatus::Deploying,
    refusal: "migrations and Pages deployments are recorded while it is deploying",
    hint: "record them while `clodo deploy` holds the lock, before moving to verifying",
};

fn token(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Debug, Deserialize)]
struct MigrationRow {
    deployment_id: String,
    service: String,
    database_id: String,
    database_name: String,
    bookmark: String,
    migrations: String,
    destructive: i64,
    state: String,
    detail: Option<String>,
    recorded_at: i64,
}

impl MigrationRow {
    fn into_contract(self) -> RecordedMigration {
        RecordedMigration {
            deployment_id: self.deployment_id,
            service: self.service,
            database_id: self.database_id,
            database_name: self.database_name,
            bookmark: self.bookmark,
            migrations: serde_json::from_str(&self.migrations).unwrap_or_default(),
            destructive: self.destructive != 0,
            state: MigrationState::parse(&self.state).unwrap_or(MigrationState::Failed),
            detail: self.detail,
            recorded_at: self.recorded_at,
        }
    }
}

async fn migrations_of(db: &D1Database, id: &str) -> Result<Vec<RecordedMigration>, ApiError> {
    let rows = db::all::<MigrationRow>(worker::query!(
        db,
        "SELECT deployment_id, service, database_id, database_name, bookmark, migrations, destructive,
                state, detail, recorded_at
           FROM deployment_migrations WHERE deployment_id = ?1 ORDER BY recorded_at, database_id",
        &id
    ))
    .await?;
    Ok(rows.into_iter().map(MigrationRow::into_contract).collect())
}

/// `GET /api/v1/deployments/{deployment_id}/migrations`
#[worker::send]
async fn list_migrations(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MigrationList>, ApiError> {
    caller.require(Role::Viewer)?;
    let db = db::db(&state.env)?;
    load(&db, &caller.team_id, &id).await?;
    Ok(Json(MigrationList {
        items: migrations_of(&db, &id).await?,
    }))
}

/// `POST /api/v1/deployments/{deployment_id}/migrations`: the first record of a database
/// carries the bookmark from before its migrations; a later one (the outcome) updates the
/// state and keeps that bookmark, so a retry never moves the restore point.
#[worker::send]
async fn record_migration(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RecordMigration>,
) -> Result<(StatusCode, Json<RecordedMigration>), ApiError> {
    caller.require(Role::Deployer)?;
    if !valid_slug(&body.service) {
        return Err(bad_request(
            "`service`: 1-64 lowercase letters, digits or '-'",
        ));
    }
    if !token(&body.database_id, 64) || !token(&body.bookmark, 128) {
        return Err(bad_request(
            "`database_id` (1-64) and `bookmark` (1-128): letters, digits, '-' or '_'",
        ));
    }
    if body.database_name.is_empty() || body.database_name.len() > 64 {
        return Err(bad_request("`database_name`: 1 to 64 characters"));
    }
    if body.migrations.is_empty()
        || body.migrations.len() > 100
        || body
            .migrations
            .iter()
            .any(|m| m.is_empty() || m.len() > 255)
    {
        return Err(bad_request(
            "`migrations`: 1 to 100 file names of 1-255 characters",
        ));
    }
    if body.detail.as_ref().is_some_and(|d| d.len() > 2000) {
        return Err(bad_request("`detail`: at most 2000 characters"));
    }
    let (db, row, _account) = acting_deployment(&state.env, &caller, &id, DEPLOYING).await?;
    let now = now_ms();
    let migrations = serde_json::to_string(&body.migrations).unwrap_or_default();
    let detail = json!({
        "by": caller.actor,
        "service": body.service,
        "database": body.database_name,
        "database_id": body.database_id,
        "bookmark": body.bookmark,
        "migrations": body.migrations,
        "destructive": body.destructive,
        "state": body.state,
        "detail": body.detail,
    });
    let stmts = vec![
        worker::query!(
            &db,
            "INSERT INTO deployment_migrations (deployment_id, team_id, service, database_id, database_name,
               bookmark, migrations, destructive, state, detail, recorded_by, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (deployment_id, database_id) DO UPDATE SET state = excluded.state,
               detail = excluded.detail, recorded_by = excluded.recorded_by,
               recorded_at = excluded.recorded_at",
            &row.id,
            &caller.team_id,
            &body.service,
            &body.database_id,
            &body.database_name,
            &body.bookmark,
            &migrations,
            &i64::from(body.destructive),
            &body.state.as_str(),
            &body.detail,
            &caller.actor,
            &now
        ),
        event_stmt(&db, &row.id, "d1_migrations", &detail),
        audit_stmt(
            &db,
            &caller.team_id,
            &caller.actor,
            "deployment.migrations",
            "deployment",
            &row.id,
            None,
            Some(&detail),
        ),
    ];
    db::batch(&db, stmts).await?;
    let recorded = migrations_of(&db, &row.id)
        .await?
        .into_iter()
        .find(|m| m.database_id == body.database_id)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the record was not written"))?;
    Ok((StatusCode::CREATED, Json(recorded)))
}

#[derive(Debug, Deserialize)]
struct PagesRow {
    deployment_id: String,
    service: String,
    project: String,
    pages_deployment_id: String,
    previous_deployment_id: Option<String>,
    url: String,
    branch: String,
    preview: i64,
    recorded_at: i64,
    rolled_back_at: Option<i64>,
    rolled_back_as: Option<String>,
}

pub(super) async fn pages_of(
    db: &D1Database,
    id: &str,
) -> Result<Vec<RecordedPagesDeployment>, ApiError> {
    let rows = db::all::<PagesRow>(worker::query!(
        db,
        "SELECT deployment_id, service, project, pages_deployment_id, previous_deployment_id, url,
                branch, preview, recorded_at, rolled_back_at, rolled_back_as
           FROM deployment_pages WHERE deployment_id = ?1 ORDER BY service",
        &id
    ))
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| RecordedPagesDeployment {
            deployment_id: r.deployment_id,
            service: r.service,
            project: r.project,
            pages_deployment_id: r.pages_deployment_id,
            previous_deployment_id: r.previous_deployment_id,
            url: r.url,
            branch: r.branch,
            preview: r.preview != 0,
            recorded_at: r.recorded_at,
            rolled_back_at: r.rolled_back_at,
            rolled_back_as: r.rolled_back_as,
        })
        .collect())
}

/// `GET /api/v1/deployments/{deployment_id}/pages`
#[worker::send]
async fn list_pages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PagesDeploymentList>, ApiError> {
    caller.require(Role::Viewer)?;
    let db = db::db(&state.env)?;
    load(&db, &caller.team_id, &id).await?;
    Ok(Json(PagesDeploymentList {
        items: pages_of(&db, &id).await?,
    }))
}

/// Asks Cloudflare (the owner's account, with the team's credential) whether `id` is a
/// deployment of Pages project `project`; anything but a definite yes is the refusal to
/// answer, and nothing is recorded.
pub(super) async fn confirm_pages_deployment(
    env: &worker::Env,
    owner: &Owner,
    project: &str,
    id: &str,
) -> Result<(), ApiError> {
    let io = Io::open(env, owner)
        .await
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    match io.verify_pages_deployment(project, id).await {
        VersionCheck::Exists => Ok(()),
        VersionCheck::Missing(why) => Err(bad_request(format!(
            "{id} is not a deployment of Pages project `{project}` in account {} ({why})",
            owner.account_id
        ))
        .with_hint("record the deployment id `wrangler pages deploy` reported")),
        VersionCheck::Refused(why) => {
            Err(super::rollouts::credential_refused(&owner.account_id, &why))
        }
        VersionCheck::Unknown(why) => Err(ApiError::unavailable(format!(
            "could not check Pages deployment {id} with Cloudflare: {why}"
        ))
        .with_hint("nothing was recorded; retry in a moment")),
    }
}

/// `POST /api/v1/deployments/{deployment_id}/pages`: recorded once Cloudflare confirms the
/// deployment is one of the project's; recording a service again replaces its record.
#[worker::send]
async fn record_pages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RecordPagesDeployment>,
) -> Result<(StatusCode, Json<RecordedPagesDeployment>), ApiError> {
    caller.require(Role::Deployer)?;
    if !valid_slug(&body.service) || !valid_pages_project(&body.project) {
        return Err(bad_request(
            "`service` (1-64 lowercase letters, digits or '-') and `project` (a Pages project name)",
        ));
    }
    let ids =
        std::iter::once(&body.pages_deployment_id).chain(body.previous_deployment_id.as_ref());
    if ids.into_iter().any(|d| !token(d, 64) || d.contains('_')) {
        return Err(bad_request(
            "`pages_deployment_id`/`previous_deployment_id`: 1-64 letters, digits or '-'",
        ));
    }
    if body.url.is_empty()
        || body.url.len() > 2048
        || body.branch.is_empty()
        || body.branch.len() > 255
    {
        return Err(bad_request(
            "`url` (1-2048) and `branch` (1-255) are required",
        ));
    }
    let (db, row, account) = acting_deployment(&state.env, &caller, &id, DEPLOYING).await?;
    let owner = Owner {
        team_id: caller.team_id.clone(),
        account_id: account,
        environment_id: row.environment_id.clone(),
    };
    confirm_pages_deployment(&state.env, &owner, &body.project, &body.pages_deployment_id).await?;
    let now = now_ms();
    let detail = json!({
        "by": caller.actor,
        "service": body.service,
        "project": body.project,
        "pages_deployment_id": body.pages_deployment_id,
        "previous_deployment_id": body.previous_deployment_id,
        "url": body.url,
        "branch": body.branch,
        "preview": body.preview,
    });
    let stmts = vec![
        worker::query!(
            &db,
            "INSERT INTO deployment_pages (deployment_id, team_id, service, project, pages_deployment_id,
               previous_deployment_id, url, branch, preview, recorded_by, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (deployment_id, service) DO UPDATE SET project = excluded.project,
               pages_deployment_id = excluded.pages_deployment_id,
               previous_deployment_id = excluded.previous_deployment_id, url = excluded.url,
               branch = excluded.branch, preview = excluded.preview,
               recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
            &row.id,
            &caller.team_id,
            &body.service,
            &body.project,
            &body.pages_deployment_id,
            &body.previous_deployment_id,
            &body.url,
            &body.branch,
            &i64::from(body.preview),
            &caller.actor,
            &now
        ),
        event_stmt(&db, &row.id, "pages_deployed", &detail),
        audit_stmt(
            &db,
            &caller.team_id,
            &caller.actor,
            "deployment.pages",
            "deployment",
            &row.id,
            None,
            Some(&detail),
        ),
    ];
    db::batch(&db, stmts).await?;
    let recorded = pages_of(&db, &row.id)
        .await?
        .into_iter()
        .find(|p| p.service == body.service)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the record was not written"))?;
    Ok((StatusCode::CREATED, Json(recorded)))
}

/// The production Pages sites a rollout of deployment `id` may have to put back: what the
/// deployment recorded (previews are not production and are never rolled back).
pub(super) async fn rollout_sites(
    db: &D1Database,
    id: &str,
) -> Result<Vec<crate::rollout::PagesSite>, ApiError> {
    Ok(pages_of(db, id)
        .await?
        .into_iter()
        .filter(|p| !p.preview)
        .map(|p| crate::rollout::PagesSite {
            service: p.service,
            project: p.project,
            deployment_id: p.pages_deployment_id,
            previous_deployment_id: p.previous_deployment_id,
        })
        .collect())
}

/// Records that a rollout's rollback put `site` back on its previous production deployment
/// (`live` serves it now): on the deployment's Pages record, with an event and an audit
/// entry by the rollout. A site already recorded as rolled back records nothing again, so a
/// run repeated after a crash adds no second event.
pub(super) async fn record_rolled_back(
    env: &worker::Env,
    team_id: &str,
    deployment_id: &str,
    site: &crate::rollout::PagesSite,
    live: &str,
) -> Result<(), ApiError> {
    let db = db::db(env)?;
    let already = pages_of(&db, deployment_id)
        .await?
        .into_iter()
        .any(|p| p.service == site.service && p.rolled_back_at.is_some());
    if already {
        return Ok(());
    }
    let actor = crate::rollout::driver::ROLLOUT_ACTOR;
    let detail = json!({
        "by": actor,
        "service": site.service,
        "project": site.project,
        "from": site.deployment_id,
        "to": site.previous_deployment_id,
        "live": live,
    });
    let stmts = vec![
        worker::query!(
            &db,
            "UPDATE deployment_pages SET rolled_back_at = ?1, rolled_back_as = ?2
              WHERE deployment_id = ?3 AND service = ?4 AND rolled_back_at IS NULL",
            &now_ms(),
            &live,
            &deployment_id,
            &site.service
        ),
        event_stmt(&db, deployment_id, "pages_rolled_back", &detail),
        audit_stmt(
            &db,
            team_id,
            actor,
            "deployment.pages_rollback",
            "deployment",
            deployment_id,
            None,
            Some(&detail),
        ),
    ];
    db::batch(&db, stmts).await.map(|_| ())
}
