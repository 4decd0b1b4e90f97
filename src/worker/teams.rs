//! A team's resources: projects, services (and the Worker each is in every environment),
//! environments (each bound to one Cloudflare account), environment policies and encrypted
//! Cloudflare credentials. Every query carries the caller's team id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Caller;
use super::db::{self, audit_stmt, bad_request, now_ms};
use super::routes::AppState;
use crate::api::{ApiError, JsonBody};
use crate::control::crypto::CredentialCipher;
use crate::control::policy::Policy;
use crate::control::{valid_slug, Role};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects", get(list_projects).post(create_project))
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
        .route(
            "/api/v1/projects/{project}/environments/{environment}/policy",
            get(get_policy).put(put_policy),
        )
        .route(
            "/api/v1/credentials",
            get(list_credentials).post(create_credential),
        )
        .route(
            "/api/v1/credentials/{credential_id}",
            delete(delete_credential),
        )
}

fn project_json(p: &db::ProjectRow) -> Value {
    json!({ "id": p.id, "slug": p.slug, "name": p.name, "repository": p.repository, "created_at": p.created_at })
}

fn env_json(e: &db::EnvironmentRow) -> Value {
    json!({ "id": e.id, "name": e.name, "cloudflare_account_id": e.cloudflare_account_id, "created_at": e.created_at })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    slug: String,
    name: Option<String>,
    repository: Option<String>,
}

/// `GET /api/v1/projects`
#[worker::send]
async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let rows = db::all::<db::ProjectRow>(worker::query!(
        &db,
        "SELECT id, slug, name, repository, created_at FROM projects WHERE team_id = ?1 ORDER BY slug",
        &caller.team_id
    ))
    .await?;
    Ok(Json(
        json!({ "items": rows.iter().map(project_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/projects`
#[worker::send]
async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewProject>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    if !valid_slug(&body.slug) {
        return Err(bad_request(
            "slug must be 1-64 lowercase letters, digits or '-'",
        ));
    }
    let name = body.name.unwrap_or_else(|| body.slug.clone());
    if name.len() > 200 || body.repository.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(bad_request("name (200) or repository (500) is too long"));
    }
    let db = db::db(&state.env)?;
    let row = db::ProjectRow {
        id: db::new_id("prj"),
        slug: body.slug,
        name,
        repository: body.repository,
        created_at: now_ms(),
    };
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO projects (id, team_id, slug, name, repository, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &row.id,
                &caller.team_id,
                &row.slug,
                &row.name,
                &row.repository,
                &row.created_at
            ),
            audit_stmt(&db, &caller.team_id, &caller.actor, "project.create", "project", &row.id, None, Some(&project_json(&row))),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, Json(project_json(&row))))
}

#[derive(Deserialize, Serialize)]
struct ServiceRow {
    id: String,
    name: String,
    config_path: String,
    config_text: Option<String>,
    created_at: i64,
}

/// `GET /api/v1/projects/{project}`
#[worker::send]
async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    let services = services_of(&db, &caller.team_id, &project.id).await?;
    let envs = envs_of(&db, &caller.team_id, &project.id).await?;
    let mut out = project_json(&project);
    out["services"] = json!(services);
    out["environments"] = json!(envs.iter().map(env_json).collect::<Vec<_>>());
    Ok(Json(out))
}

async fn services_of(
    db: &worker::D1Database,
    team_id: &str,
    project_id: &str,
) -> Result<Vec<ServiceRow>, ApiError> {
    db::all::<ServiceRow>(worker::query!(
        db,
        "SELECT id, name, config_path, config_text, created_at FROM services WHERE team_id = ?1 AND project_id = ?2 ORDER BY name",
        &team_id,
        &project_id
    ))
    .await
}

async fn envs_of(
    db: &worker::D1Database,
    team_id: &str,
    project_id: &str,
) -> Result<Vec<db::EnvironmentRow>, ApiError> {
    db::all::<db::EnvironmentRow>(worker::query!(
        db,
        "SELECT id, project_id, name, cloudflare_account_id, created_at FROM environments
         WHERE team_id = ?1 AND project_id = ?2 ORDER BY name",
        &team_id,
        &project_id
    ))
    .await
}

/// `GET /api/v1/projects/{project}/services`
#[worker::send]
async fn list_services(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    Ok(Json(
        json!({ "items": services_of(&db, &caller.team_id, &project.id).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewService {
    name: String,
    config_path: Option<String>,
    config_text: Option<String>,
}

/// Largest wrangler config stored with a service; real configs are a few KiB.
const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// `POST /api/v1/projects/{project}/services`
#[worker::send]
async fn create_service(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    JsonBody(body): JsonBody<NewService>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    if !valid_slug(&body.name) {
        return Err(bad_request(
            "service name must be 1-64 lowercase letters, digits or '-'",
        ));
    }
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
    let row = ServiceRow {
        id: db::new_id("svc"),
        name: body.name,
        config_path: body.config_path.unwrap_or_else(|| "wrangler.toml".into()),
        config_text: body.config_text,
        created_at: now_ms(),
    };
    let after =
        json!({ "project": project.slug, "name": row.name, "config_path": row.config_path });
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO services (id, team_id, project_id, name, config_path, config_text, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &row.id,
                &caller.team_id,
                &project.id,
                &row.name,
                &row.config_path,
                &row.config_text,
                &row.created_at
            ),
            audit_stmt(&db, &caller.team_id, &caller.actor, "service.create", "service", &row.id, None, Some(&after)),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(row))))
}

/// `GET /api/v1/projects/{project}/environments`
#[worker::send]
async fn list_environments(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    let envs = envs_of(&db, &caller.team_id, &project.id).await?;
    Ok(Json(
        json!({ "items": envs.iter().map(env_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEnvironment {
    name: String,
    cloudflare_account_id: Option<String>,
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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    if !valid_slug(&body.name) {
        return Err(bad_request(
            "environment name must be 1-64 lowercase letters, digits or '-'",
        ));
    }
    check_account_id(body.cloudflare_account_id.as_deref())?;
    let db = db::db(&state.env)?;
    let project = db::project(&db, &caller.team_id, &slug).await?;
    let row = db::EnvironmentRow {
        id: db::new_id("env"),
        project_id: project.id.clone(),
        name: body.name,
        cloudflare_account_id: body.cloudflare_account_id,
        created_at: now_ms(),
    };
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO environments (id, team_id, project_id, name, cloudflare_account_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &row.id,
                &caller.team_id,
                &row.project_id,
                &row.name,
                &row.cloudflare_account_id,
                &row.created_at
            ),
            audit_stmt(&db, &caller.team_id, &caller.actor, "environment.create", "environment", &row.id, None, Some(&env_json(&row))),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, Json(env_json(&row))))
}

/// `GET /api/v1/projects/{project}/environments/{environment}`
#[worker::send]
async fn get_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    Ok(Json(env_json(&env)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentChange {
    /// The Cloudflare account this environment deploys to (`null` unbinds it: no rollout or
    /// hosted assessment runs for it until it is bound again). Required: a body without it
    /// (`{}`) is refused rather than read as "unbind".
    #[serde(deserialize_with = "Option::deserialize")]
    cloudflare_account_id: Option<String>,
}

/// `PATCH /api/v1/projects/{project}/environments/{environment}`: binds the environment to
/// its Cloudflare account (admin; audited with before and after in the same batch).
#[worker::send]
async fn update_environment(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<EnvironmentChange>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    check_account_id(body.cloudflare_account_id.as_deref())?;
    let db = db::db(&state.env)?;
    let (_, before) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let mut after = before.clone();
    after.cloudflare_account_id = body.cloudflare_account_id;
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "UPDATE environments SET cloudflare_account_id = ?1 WHERE id = ?2 AND team_id = ?3",
                &after.cloudflare_account_id,
                &after.id,
                &caller.team_id
            ),
            audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "environment.update",
                "environment",
                &after.id,
                Some(&env_json(&before)),
                Some(&env_json(&after)),
            ),
        ],
    )
    .await?;
    Ok(Json(env_json(&after)))
}

#[derive(Deserialize, Serialize)]
struct ServiceScriptRow {
    service: String,
    script: String,
    updated_by: String,
    updated_at: i64,
}

/// `GET …/environments/{environment}/services`: each registered service and its Worker there.
#[worker::send]
async fn list_service_scripts(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let rows = db::all::<ServiceScriptRow>(worker::query!(
        &db,
        "SELECT s.name AS service, x.script_name AS script, x.updated_by, x.updated_at
           FROM service_scripts x JOIN services s ON s.id = x.service_id
          WHERE x.team_id = ?1 AND x.environment_id = ?2 ORDER BY s.name",
        &caller.team_id,
        &env.id
    ))
    .await?;
    Ok(Json(json!({ "items": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceScript {
    /// The Worker name the service has in this environment (wrangler's resolved `name`).
    script: String,
    /// Where the service's wrangler config lives, for a service registered here first.
    config_path: Option<String>,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct ScriptOnly {
    script_name: String,
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
    JsonBody(body): JsonBody<ServiceScript>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Deployer)?;
    if !valid_slug(&service) {
        return Err(bad_request(
            "service name must be 1-64 lowercase letters, digits or '-'",
        ));
    }
    if !crate::rollout::valid_script_name(&body.script) {
        return Err(bad_request(format!(
            "script `{}`: a Worker name is 1-63 lowercase letters, digits, '-' or '_'",
            body.script
        )));
    }
    if body.config_path.as_ref().is_some_and(|p| p.len() > 500) {
        return Err(bad_request("config_path is at most 500 characters"));
    }
    let db = db::db(&state.env)?;
    let (project_row, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
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
    let answer = json!({ "service": service, "environment": env.name, "script": body.script });
    if current.as_ref().map(|c| c.script_name.as_str()) == Some(body.script.as_str()) {
        return Ok(Json(answer));
    }
    if caller.role < Role::Admin {
        let what = match &current {
            Some(c) => format!(
                "service `{service}` is registered as Worker `{}` in {project}/{environment}, not `{}`",
                c.script_name, body.script
            ),
            None => format!(
                "service `{service}` has no Worker registered in {project}/{environment}"
            ),
        };
        return Err(ApiError::new(
            crate::api::ErrorCode::Forbidden,
            format!("{what}; only an admin may register or change it"),
        )
        .with_hint(format!(
            "an admin runs the deploy once, or PUT /api/v1/projects/{project}/environments/{environment}/services/{service} {{\"script\": \"{}\"}}",
            body.script
        )));
    }
    let now = now_ms();
    let mut stmts = Vec::new();
    let service_id = match existing_service {
        Some(svc) => svc.id,
        None => {
            let id = db::new_id("svc");
            let config_path = body
                .config_path
                .clone()
                .unwrap_or_else(|| "wrangler.toml".into());
            stmts.push(worker::query!(
                &db,
                "INSERT INTO services (id, team_id, project_id, name, config_path, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &id,
                &caller.team_id,
                &project_row.id,
                &service,
                &config_path,
                &now
            ));
            stmts.push(audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "service.create",
                "service",
                &id,
                None,
                Some(&json!({ "project": project_row.slug, "name": service, "config_path": config_path })),
            ));
            id
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
        &now
    ));
    stmts.push(audit_stmt(
        &db,
        &caller.team_id,
        &caller.actor,
        "service.script",
        "service",
        &service_id,
        current
            .as_ref()
            .map(|c| json!({ "environment": env.name, "script": c.script_name }))
            .as_ref(),
        Some(&answer),
    ));
    db::batch(&db, stmts).await?;
    Ok(Json(answer))
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
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
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
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let before = load_policy(&db, &caller.team_id, &env.id).await?;
    let document = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    db::batch(
        &db,
        vec![
            worker::query!(
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
            ),
            audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "policy.update",
                "environment",
                &env.id,
                Some(&json!(before)),
                Some(&json!(policy)),
            ),
        ],
    )
    .await?;
    Ok(Json(policy))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCredential {
    account_id: String,
    name: String,
    api_token: String,
}

#[derive(Deserialize, Serialize)]
struct CredentialRow {
    id: String,
    account_id: String,
    name: String,
    created_by: String,
    created_at: i64,
}

pub(super) fn cipher(env: &worker::Env) -> Result<CredentialCipher, ApiError> {
    let key = env
        .secret("CLODO_ENCRYPTION_KEY")
        .map(|s| s.to_string())
        .or_else(|_| env.var("CLODO_ENCRYPTION_KEY").map(|v| v.to_string()))
        .map_err(|_| {
            ApiError::unavailable("credential storage is not configured")
                .with_hint("set a 32-byte base64 key: `openssl rand -base64 32 | wrangler secret put CLODO_ENCRYPTION_KEY`")
        })?;
    CredentialCipher::from_secret(&key)
        .map_err(|e| ApiError::internal(format!("CLODO_ENCRYPTION_KEY: {e}")))
}

/// `GET /api/v1/credentials`: metadata only; the ciphertext never leaves D1 through the API.
#[worker::send]
async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let rows = db::all::<CredentialRow>(worker::query!(
        &db,
        "SELECT id, account_id, name, created_by, created_at FROM cloudflare_credentials WHERE team_id = ?1 ORDER BY created_at, id",
        &caller.team_id
    ))
    .await?;
    Ok(Json(json!({ "items": rows })))
}

/// `POST /api/v1/credentials`: encrypts the token (AES-256-GCM, team id as associated data).
#[worker::send]
async fn create_credential(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewCredential>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Admin)?;
    if !valid_account_id(&body.account_id) {
        return Err(bad_request(
            "account_id must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    if body.api_token.is_empty()
        || body.api_token.len() > 1024
        || body.name.is_empty()
        || body.name.len() > 100
    {
        return Err(bad_request(
            "api_token (1-1024) and name (1-100) are required",
        ));
    }
    let ciphertext = cipher(&state.env)?
        .encrypt(&caller.team_id, &body.api_token)
        .map_err(ApiError::internal)?;
    let db = db::db(&state.env)?;
    let row = CredentialRow {
        id: db::new_id("cred"),
        account_id: body.account_id,
        name: body.name,
        created_by: caller.actor.clone(),
        created_at: now_ms(),
    };
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO cloudflare_credentials (id, team_id, account_id, name, ciphertext, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &row.id,
                &caller.team_id,
                &row.account_id,
                &row.name,
                &ciphertext,
                &row.created_by,
                &row.created_at
            ),
            audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "credential.create",
                "credential",
                &row.id,
                None,
                Some(&json!({ "account_id": row.account_id, "name": row.name })),
            ),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(row))))
}

/// `DELETE /api/v1/credentials/{credential_id}`: the delete and its audit entry are one batch
/// (the entry is written only if a row was deleted).
#[worker::send]
async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let results = db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "DELETE FROM cloudflare_credentials WHERE id = ?1 AND team_id = ?2",
                &id,
                &caller.team_id
            ),
            db::audit_if_changed_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                "credential.delete",
                "credential",
                &id,
                None,
                None,
            ),
        ],
    )
    .await?;
    if db::changes(&results, 0) == 0 {
        return Err(db::not_found("credential", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}
