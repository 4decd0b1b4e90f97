//! A team's projects, their services, and the environments of a project (each bound to one
//! Cloudflare account) with the Worker each service is in every environment. Policies and
//! credentials have their own modules (`policies`, `credentials`). Every query carries the
//! caller's team id; every answer is a type of `api::contract::teams`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use worker::{D1Database, D1PreparedStatement};

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use crate::api::contract::teams::{
    Environment, EnvironmentChange, Items, NewEnvironment, NewProject, NewService, Project,
    ProjectDetail, Service, ServiceScript, ServiceScriptChange, ServiceScriptSet,
};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::{valid_slug, Role};

// Other areas reach these through `teams::` (deployments, assessments).
pub(super) use super::credentials::cipher;
pub(super) use super::policies::load_policy;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects",
            get(team_list::<Project>(Role::Viewer, LIST_PROJECTS)).post(create_project),
        )
        .route("/api/v1/projects/{project}", get(get_project))
        .route(
            "/api/v1/projects/{project}/services",
            get(list_services).post(create_service),
        )
        .route(
            "/api/v1/projects/{project}/environments",
            get(list_environments).post(create_environment),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}",
            get(get_environment).patch(update_environment),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/services",
            get(list_service_scripts),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/services/{service}",
            put(put_service_script),
        )
}

/// The answer of a `GET` of the caller's team's rows.
type TeamListAnswer<T> = Pin<Box<dyn Future<Output = Result<Json<Items<T>>, ApiError>> + Send>>;

/// The handler of a `GET` that lists the caller's team's rows of `sql` (its `?1` is the team
/// id) as `{"items": [...]}`, for callers with at least the `least` role.
pub(super) fn team_list<T>(
    least: Role,
    sql: &'static str,
) -> impl Fn(State<AppState>, Caller) -> TeamListAnswer<T> + Clone + Send + Sync + 'static
where
    T: DeserializeOwned + 'static,
{
    move |State(state): State<AppState>, caller: Caller| {
        Box::pin(worker::send::SendFuture::new(async move {
            caller.require(least)?;
            let db = db::db(&state.env)?;
            let rows = db::all::<T>(worker::query!(&db, sql, &caller.team_id)).await?;
            Ok(Json(rows.into()))
        }))
    }
}

/// `GET /api/v1/projects`
const LIST_PROJECTS: &str =
    "SELECT id, slug, name, repository, created_at FROM projects WHERE team_id = ?1 ORDER BY slug";

fn project_of(p: db::ProjectRow) -> Project {
    Project {
        id: p.id,
        slug: p.slug,
        name: p.name,
        repository: p.repository,
        created_at: p.created_at,
    }
}

fn environment_of(e: db::EnvironmentRow) -> Environment {
    Environment {
        id: e.id,
        name: e.name,
        cloudflare_account_id: e.cloudflare_account_id,
        created_at: e.created_at,
    }
}

fn require_slug(what: &str, value: &str) -> Result<(), ApiError> {
    if valid_slug(value) {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{what} must be 1-64 lowercase letters, digits or '-'"
        )))
    }
}

/// `POST /api/v1/projects`
#[worker::send]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    caller.require(Role::Admin)?;
    require_slug("slug", &body.slug)?;
    let name = body.name.unwrap_or_else(|| body.slug.clone());
    if name.len() > 200 || body.repository.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(bad_request("name (200) or repository (500) is too long"));
    }
    let db = db::db(&state.env)?;
    let project = Project {
        id: db::new_id("prj"),
        slug: body.slug,
        name,
        repository: body.repository,
        created_at: now_ms(),
    };
    let insert = worker::query!(
        &db,
        "INSERT INTO projects (id, team_id, slug, name, repository, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &project.id,
        &caller.team_id,
        &project.slug,
        &project.name,
        &project.repository,
        &project.created_at
    );
    let entry = Audit::created("project.create", ("project", &project.id), json!(project));
    caller.commit(&db, insert, entry).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// `GET /api/v1/projects/{project}`
#[worker::send]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<ProjectDetail>, ApiError> {
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    let services = services_of(&db, &caller.team_id, &project.id).await?;
    let environments = envs_of(&db, &caller.team_id, &project.id).await?;
    Ok(Json(ProjectDetail {
        project: project_of(project),
        services,
        environments,
    }))
}

async fn services_of(
    db: &D1Database,
    team_id: &str,
    project_id: &str,
) -> Result<Vec<Service>, ApiError> {
    db::all::<Service>(worker::query!(
        db,
        "SELECT id, name, config_path, config_text, created_at FROM services WHERE team_id = ?1 AND project_id = ?2 ORDER BY name",
        &team_id,
        &project_id
    ))
    .await
}

async fn envs_of(
    db: &D1Database,
    team_id: &str,
    project_id: &str,
) -> Result<Vec<Environment>, ApiError> {
    let rows = db::all::<db::EnvironmentRow>(worker::query!(
        db,
        "SELECT id, project_id, name, cloudflare_account_id, created_at FROM environments
         WHERE team_id = ?1 AND project_id = ?2 ORDER BY name",
        &team_id,
        &project_id
    ))
    .await?;
    Ok(rows.into_iter().map(environment_of).collect())
}

/// `GET /api/v1/projects/{project}/services`
#[worker::send]
async fn list_services(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Items<Service>>, ApiError> {
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    Ok(Json(
        services_of(&db, &caller.team_id, &project.id).await?.into(),
    ))
}

/// Largest wrangler config stored with a service; real configs are a few KiB.
const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// The insert of a new service of `project` and its audit entry, for a batch.
fn insert_service(
    db: &D1Database,
    caller: &Caller,
    project: &db::ProjectRow,
    service: &Service,
) -> [worker::Result<D1PreparedStatement>; 2] {
    let after = json!({ "project": project.slug, "name": service.name, "config_path": service.config_path });
    [
        worker::query!(
            db,
            "INSERT INTO services (id, team_id, project_id, name, config_path, config_text, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &service.id,
            &caller.team_id,
            &project.id,
            &service.name,
            &service.config_path,
            &service.config_text,
            &service.created_at
        ),
        caller.audit(db, &Audit::created("service.create", ("service", &service.id), after)),
    ]
}

/// A service about to be created (`wrangler.toml` unless the config lives elsewhere).
fn new_service(name: String, config_path: Option<String>, config_text: Option<String>) -> Service {
    Service {
        id: db::new_id("svc"),
        name,
        config_path: config_path.unwrap_or_else(|| "wrangler.toml".into()),
        config_text,
        created_at: now_ms(),
    }
}

/// `POST /api/v1/projects/{project}/services`
#[worker::send]
async fn create_service(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    JsonBody(body): JsonBody<NewService>,
) -> Result<(StatusCode, Json<Service>), ApiError> {
    caller.require(Role::Admin)?;
    require_slug("service name", &body.name)?;
    if body
        .config_text
        .as_ref()
        .is_some_and(|t| t.len() > MAX_CONFIG_BYTES)
    {
        return Err(bad_request(format!(
            "config_text is larger than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    let service = new_service(body.name, body.config_path, body.config_text);
    db::batch(&db, insert_service(&db, &caller, &project, &service).into()).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

/// `GET /api/v1/projects/{project}/environments`
#[worker::send]
async fn list_environments(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Items<Environment>>, ApiError> {
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    Ok(Json(
        envs_of(&db, &caller.team_id, &project.id).await?.into(),
    ))
}

/// Whether `id` looks like a Cloudflare account id: 1-64 letters, digits, `_` or `-` (so it
/// is also a safe segment of a Cloudflare API path).
pub(super) fn valid_account_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_account_id(id: Option<&str>) -> Result<(), ApiError> {
    if id.is_some_and(|a| !valid_account_id(a)) {
        return Err(bad_request(
            "cloudflare_account_id must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    Ok(())
}

/// `POST /api/v1/projects/{project}/environments`
#[worker::send]
async fn create_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    JsonBody(body): JsonBody<NewEnvironment>,
) -> Result<(StatusCode, Json<Environment>), ApiError> {
    caller.require(Role::Admin)?;
    require_slug("environment name", &body.name)?;
    check_account_id(body.cloudflare_account_id.as_deref())?;
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    let row = db::EnvironmentRow {
        id: db::new_id("env"),
        project_id: project.id,
        name: body.name,
        cloudflare_account_id: body.cloudflare_account_id,
        created_at: now_ms(),
    };
    let insert = worker::query!(
        &db,
        "INSERT INTO environments (id, team_id, project_id, name, cloudflare_account_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &row.id,
        &caller.team_id,
        &row.project_id,
        &row.name,
        &row.cloudflare_account_id,
        &row.created_at
    );
    let env = environment_of(row);
    let entry = Audit::created("environment.create", ("environment", &env.id), json!(env));
    caller.commit(&db, insert, entry).await?;
    Ok((StatusCode::CREATED, Json(env)))
}

/// The database and the caller's environment `project`/`environment` (404 when not theirs).
pub(super) async fn environment_in(
    state: &AppState,
    caller: &Caller,
    project: &str,
    environment: &str,
) -> Result<(D1Database, db::ProjectRow, db::EnvironmentRow), ApiError> {
    let db = db::db(&state.env)?;
    let (project, env) = db::environment(&db, &caller.team_id, project, environment).await?;
    Ok((db, project, env))
}

/// `GET /api/v1/projects/{project}/environments/{environment}`
#[worker::send]
async fn get_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Environment>, ApiError> {
    let (_, _, env) = environment_in(&state, &caller, &project, &environment).await?;
    Ok(Json(environment_of(env)))
}

/// `PATCH /api/v1/projects/{project}/environments/{environment}`: binds the environment to
/// its Cloudflare account (admin; audited with before and after in the same batch).
#[worker::send]
async fn update_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<EnvironmentChange>,
) -> Result<Json<Environment>, ApiError> {
    caller.require(Role::Admin)?;
    check_account_id(body.cloudflare_account_id.as_deref())?;
    let (db, _, env) = environment_in(&state, &caller, &project, &environment).await?;
    let before = environment_of(env);
    let after = Environment {
        cloudflare_account_id: body.cloudflare_account_id,
        ..before.clone()
    };
    let update = worker::query!(
        &db,
        "UPDATE environments SET cloudflare_account_id = ?1 WHERE id = ?2 AND team_id = ?3",
        &after.cloudflare_account_id,
        &after.id,
        &caller.team_id
    );
    let target = ("environment", after.id.as_str());
    let entry = Audit::changed(
        "environment.update",
        target,
        Some(json!(before)),
        json!(after),
    );
    caller.commit(&db, update, entry).await?;
    Ok(Json(after))
}

/// `GET …/environments/{environment}/services`: each registered service and its Worker there.
#[worker::send]
async fn list_service_scripts(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Items<ServiceScript>>, ApiError> {
    let (db, _, env) = environment_in(&state, &caller, &project, &environment).await?;
    let rows = db::all::<ServiceScript>(worker::query!(
        &db,
        "SELECT s.name AS service, x.script_name AS script, x.updated_by, x.updated_at
           FROM service_scripts x JOIN services s ON s.id = x.service_id
          WHERE x.team_id = ?1 AND x.environment_id = ?2 ORDER BY s.name",
        &caller.team_id,
        &env.id
    ))
    .await?;
    Ok(Json(rows.into()))
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct ScriptOnly {
    script_name: String,
}

/// The refusal of a deployer who names a Worker other than the one registered (or none is).
fn only_an_admin_may_register(
    current: Option<&ScriptOnly>,
    project: &str,
    environment: &str,
    service: &str,
    script: &str,
) -> ApiError {
    let what = match current {
        Some(c) => format!(
            "service `{service}` is registered as Worker `{}` in {project}/{environment}, not `{script}`",
            c.script_name
        ),
        None => format!("service `{service}` has no Worker registered in {project}/{environment}"),
    };
    ApiError::new(
        ErrorCode::Forbidden,
        format!("{what}; only an admin may register or change it"),
    )
    .with_hint(format!(
        "an admin runs the deploy once, or PUT /api/v1/projects/{project}/environments/{environment}/services/{service} {{\"script\": \"{script}\"}}"
    ))
}

/// `PUT …/environments/{environment}/services/{service}`: records which Worker the service
/// is in this environment. Creating or changing it needs an admin (it decides which Worker the
/// control plane may move traffic on); repeating what is recorded is allowed to deployers, so
/// `clodo deploy` can confirm its config matches.
#[worker::send]
async fn put_service_script(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment, service)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<ServiceScriptChange>,
) -> Result<Json<ServiceScriptSet>, ApiError> {
    caller.require(Role::Deployer)?;
    require_slug("service name", &service)?;
    if !crate::rollout::valid_script_name(&body.script) {
        return Err(bad_request(format!(
            "script `{}`: a Worker name is 1-63 lowercase letters, digits, '-' or '_'",
            body.script
        )));
    }
    if body.config_path.as_ref().is_some_and(|p| p.len() > 500) {
        return Err(bad_request("config_path is at most 500 characters"));
    }
    let (db, project_row, env) = environment_in(&state, &caller, &project, &environment).await?;
    let existing_service = db::first::<IdRow>(worker::query!(
        &db,
        "SELECT id FROM services WHERE team_id = ?1 AND project_id = ?2 AND name = ?3",
        &caller.team_id,
        &project_row.id,
        &service
    ))
    .await?;
    let current = match &existing_service {
        Some(svc) => {
            db::first::<ScriptOnly>(worker::query!(
            &db,
            "SELECT script_name FROM service_scripts WHERE service_id = ?1 AND environment_id = ?2",
            &svc.id,
            &env.id
        ))
            .await?
        }
        None => None,
    };
    let answer = ServiceScriptSet {
        service: service.clone(),
        environment: env.name.clone(),
        script: body.script.clone(),
    };
    if current.as_ref().map(|c| c.script_name.as_str()) == Some(body.script.as_str()) {
        return Ok(Json(answer));
    }
    if caller.role < Role::Admin {
        return Err(only_an_admin_may_register(
            current.as_ref(),
            &project,
            &environment,
            &service,
            &body.script,
        ));
    }
    let mut stmts = Vec::new();
    let service_id = match existing_service {
        Some(svc) => svc.id,
        None => {
            let created = new_service(service.clone(), body.config_path.clone(), None);
            stmts.extend(insert_service(&db, &caller, &project_row, &created));
            created.id
        }
    };
    stmts.push(worker::query!(
        &db,
        "INSERT INTO service_scripts (service_id, environment_id, team_id, script_name, updated_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (service_id, environment_id) DO UPDATE SET script_name = excluded.script_name,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        &service_id,
        &env.id,
        &caller.team_id,
        &body.script,
        &caller.actor,
        &now_ms()
    ));
    let before = current.map(|c| json!({ "environment": env.name, "script": c.script_name }));
    let entry = Audit::changed(
        "service.script",
        ("service", &service_id),
        before,
        json!(answer),
    );
    stmts.push(caller.audit(&db, &entry));
    db::batch(&db, stmts).await?;
    Ok(Json(answer))
}
