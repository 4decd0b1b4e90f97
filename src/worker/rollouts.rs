//! Rollout routes: record what a deployment uploaded, start its rollout, read its live status,
//! pause, resume, promote or abort it. Each deployment's rollout lives in its own `Rollout`
//! Durable Object.
//!
//! Authority comes from the server's records only: the account is the deployment's
//! environment's, the Workers are the services registered for that environment, the versions
//! are the ones the deployment recorded (each checked with Cloudflare while the deployment
//! held the environment's lock). A request names none of them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1Database;

use super::assessments::account_token;
use super::auth::Caller;
use super::db::{self, audit_stmt, bad_request, now_ms};
use super::deployments::load;
use super::durable::client::LockClient;
use super::durable::rollout_client::{RolloutClient, StartRollout};
use super::rollout_io::{Io, Owner, VersionCheck};
use super::routes::AppState;
use crate::api::contract::deployments::{
    Deployment, RecordUploads, RecordedUpload, ServiceUpload, UploadList, UploadsRecorded,
};
use crate::api::contract::rollouts::PromoteVersion;
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::config::Strategy;
use crate::control::lifecycle::DeploymentStatus;
use crate::control::{valid_slug, Role};
use crate::rollout::{
    valid_version_id, Command, RolloutSettings, RolloutStatus, ServiceRollout, Spec,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/deployments/{deployment_id}/services",
            get(list_uploads).post(record_uploads),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/rollout",
            get(get_rollout).post(start_rollout),
        )
        .route(
            "/api/v1/deployments/{deployment_id}/rollout/{command}",
            post(command_rollout),
        )
}

/// A deployment event written by the rollout side (the routes here and the Rollout object).
pub(super) fn event_stmt(
    db: &D1Database,
    deployment_id: &str,
    kind: &str,
    detail: &Value,
) -> worker::Result<worker::D1PreparedStatement> {
    worker::query!(
        db,
        "INSERT INTO deployment_events (deployment_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        &deployment_id,
        &now_ms(),
        &kind,
        &detail.to_string()
    )
}

/// The Cloudflare account the deployment's environment is bound to; refused with the fix
/// when it is bound to none.
pub(super) async fn environment_account(
    db: &D1Database,
    row: &Deployment,
) -> Result<String, ApiError> {
    let env = db::first::<db::EnvironmentRow>(worker::query!(
        db,
        "SELECT id, project_id, name, cloudflare_account_id, created_at FROM environments WHERE id = ?1",
        &row.environment_id
    ))
    .await?
    .ok_or_else(|| db::not_found("environment", &row.environment))?;
    env.cloudflare_account_id.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!(
                "environment {}/{} is not bound to a Cloudflare account: nothing may move traffic for it",
                row.project, row.environment
            ),
        )
        .with_hint(format!(
            "an admin binds it: PATCH /api/v1/projects/{}/environments/{} {{\"cloudflare_account_id\": \"…\"}}",
            row.project, row.environment
        ))
    })
}

/// The status a deployment must be in for a step of its rollout, and what a refusal says.
pub(super) struct Stage {
    pub status: DeploymentStatus,
    pub refusal: &'static str,
    pub hint: &'static str,
}

/// The caller's deployment `id`, when it is at `stage` and holds its environment's lock, with
/// the Cloudflare account of its environment. Fails early, with the fix (a 404), when the
/// team has no credential for that account.
pub(super) async fn acting_deployment(
    env: &worker::Env,
    caller: &Caller,
    id: &str,
    stage: Stage,
) -> Result<(D1Database, Deployment, String), ApiError> {
    let db = db::db(env)?;
    let row = load(&db, &caller.team_id, id).await?;
    let status = row.status;
    if status != stage.status {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("deployment {id} is {status}; {}", stage.refusal),
        )
        .with_hint(stage.hint));
    }
    require_lock(env, &row).await?;
    let account = environment_account(&db, &row).await?;
    account_token(env, &caller.team_id, &account).await?;
    Ok((db, row, account))
}

/// The caller's deployment `id` with its environment's account when it waits for its
/// scheduled start (its versions are recorded then, without the lock); `None` otherwise.
async fn scheduled_deployment(
    env: &worker::Env,
    caller: &Caller,
    id: &str,
) -> Result<Option<(D1Database, Deployment, String)>, ApiError> {
    let db = db::db(env)?;
    let row = load(&db, &caller.team_id, id).await?;
    if !super::schedules::awaiting_start(&db, &row).await? {
        return Ok(None);
    }
    let account = environment_account(&db, &row).await?;
    account_token(env, &caller.team_id, &account).await?;
    Ok(Some((db, row, account)))
}

/// Refused unless the deployment holds its environment's lock right now.
async fn require_lock(env: &worker::Env, row: &Deployment) -> Result<(), ApiError> {
    let lock = LockClient::new(env.clone(), &row.environment_id);
    if lock.info().await?.is_held_by(&row.id) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        format!(
            "deployment {} does not hold the {}/{} lock",
            row.id, row.project, row.environment
        ),
    )
    .with_hint("only the deployment holding its environment's lock records uploads and starts a rollout; acquire it (POST …/lock/acquire with holder_id = the deployment id)"))
}

/// A recorded upload as D1 stores it.
#[derive(Debug, Deserialize)]
struct UploadRow {
    service: String,
    script: String,
    version_id: String,
    previous_version_id: Option<String>,
    already_live: i64,
    module_hashes: Option<String>,
}

impl From<UploadRow> for RecordedUpload {
    fn from(row: UploadRow) -> RecordedUpload {
        RecordedUpload {
            service: row.service,
            script: row.script,
            version_id: row.version_id,
            previous_version_id: row.previous_version_id,
            already_live: row.already_live != 0,
            module_hashes: row
                .module_hashes
                .and_then(|text| serde_json::from_str(&text).ok()),
        }
    }
}

pub(super) async fn uploads_of(
    db: &D1Database,
    deployment_id: &str,
) -> Result<Vec<RecordedUpload>, ApiError> {
    let rows = db::all::<UploadRow>(worker::query!(
        db,
        "SELECT s.name AS service, d.script_name AS script, d.version_id, d.previous_version_id, d.already_live,
                d.module_hashes
           FROM deployment_services d JOIN services s ON s.id = d.service_id
          WHERE d.deployment_id = ?1 AND d.script_name IS NOT NULL AND d.version_id IS NOT NULL
          ORDER BY s.name",
        &deployment_id
    ))
    .await?;
    Ok(rows.into_iter().map(RecordedUpload::from).collect())
}

#[derive(Deserialize)]
struct RegisteredScript {
    service_id: String,
    script_name: String,
}

/// `GET /api/v1/deployments/{deployment_id}/services`: what the deployment recorded.
#[worker::send]
async fn list_uploads(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UploadList>, ApiError> {
    let db = db::db(&state.env)?;
    load(&db, &caller.team_id, &id).await?;
    let items = uploads_of(&db, &id).await?;
    Ok(Json(UploadList { items }))
}

/// `POST /api/v1/deployments/{deployment_id}/services`: records the versions the deployment
/// uploaded. Only while it is `deploying` and holds its environment's lock; each service must
/// be registered for the environment, and each version must exist for that Worker in the
/// environment's account (asked of Cloudflare with the team's credential for it). Recording a
/// service again replaces its record (a retried upload).
#[worker::send]
async fn record_uploads(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RecordUploads>,
) -> Result<(StatusCode, Json<UploadsRecorded>), ApiError> {
    caller.require(Role::Deployer)?;
    if body.services.is_empty() || body.services.len() > 50 {
        return Err(bad_request("`services`: 1 to 50 uploaded services"));
    }
    for (i, s) in body.services.iter().enumerate() {
        if !valid_slug(&s.service) {
            return Err(bad_request(format!(
                "`services[{i}].service`: 1-64 lowercase letters, digits or '-'"
            )));
        }
        let versions = std::iter::once(&s.version_id).chain(s.previous_version_id.as_ref());
        for v in versions {
            if !valid_version_id(v) {
                return Err(bad_request(format!(
                    "`services[{i}]`: `{v}` is not a version id (letters, digits and '-')"
                )));
            }
        }
        if s.previous_version_id.as_deref() == Some(s.version_id.as_str()) {
            return Err(bad_request(format!(
                "`services[{i}]` ({}): the new version is the one already serving",
                s.service
            )));
        }
        if body.services[..i].iter().any(|o| o.service == s.service) {
            return Err(bad_request(format!(
                "`services[{i}]`: service `{}` is listed twice",
                s.service
            )));
        }
    }
    let stage = Stage {
        status: DeploymentStatus::Deploying,
        refusal: "uploads are recorded while it is deploying",
        hint: "record each upload after wrangler finishes, before moving to verifying",
    };
    let (db, row, account) = match scheduled_deployment(&state.env, &caller, &id).await? {
        Some(found) => {
            // Its versions were uploaded with `versions upload` (no traffic); what serves
            // when it starts is read then, under the lock.
            if let Some(live) = body.services.iter().find(|s| s.already_live) {
                return Err(bad_request(format!(
                    "`{}` is already live: a scheduled deployment records versions uploaded without traffic (`wrangler versions upload`)",
                    live.service
                )));
            }
            found
        }
        None => acting_deployment(&state.env, &caller, &id, stage).await?,
    };
    super::promotions::check_promoted_uploads(&db, &row, &body.services).await?;
    let owner = Owner {
        team_id: caller.team_id.clone(),
        account_id: account.clone(),
        environment_id: row.environment_id.clone(),
    };
    let io = Io::open(&state.env, &owner)
        .await
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()).with_hint("an admin stores the environment account's credential with POST /api/v1/credentials {account_id, name, api_token}"))?;
    // Each service is checked on its own (its registration in D1, then its versions with
    // Cloudflare), so the services are checked side by side: one service's round trips, not
    // the sum of all. The first failure in the request's order is the answer, as before.
    let checks = body
        .services
        .iter()
        .map(|s| checked_upload(&db, &io, &caller.team_id, &row, &account, s));
    let mut records = Vec::new();
    for (checked, s) in futures::future::join_all(checks)
        .await
        .into_iter()
        .zip(&body.services)
    {
        records.push((checked?, s));
    }
    let now = now_ms();
    let mut stmts = Vec::new();
    let mut shown = Vec::new();
    for (registered, s) in &records {
        stmts.push(worker::query!(
            &db,
            "INSERT INTO deployment_services (deployment_id, service_id, version_id, previous_version_id, status,
               script_name, already_live, recorded_by, recorded_at, module_hashes)
             VALUES (?1, ?2, ?3, ?4, 'uploaded', ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (deployment_id, service_id) DO UPDATE SET version_id = excluded.version_id,
               previous_version_id = excluded.previous_version_id, script_name = excluded.script_name,
               already_live = excluded.already_live, recorded_by = excluded.recorded_by,
               recorded_at = excluded.recorded_at, module_hashes = excluded.module_hashes",
            &row.id,
            &registered.service_id,
            &s.version_id,
            &s.previous_version_id,
            &registered.script_name,
            &i64::from(s.already_live),
            &caller.actor,
            &now,
            &s.module_hashes
                .as_ref()
                .and_then(|m| serde_json::to_string(m).ok())
        ));
        shown.push(RecordedUpload {
            service: s.service.clone(),
            script: registered.script_name.clone(),
            version_id: s.version_id.clone(),
            previous_version_id: s.previous_version_id.clone(),
            already_live: s.already_live,
            module_hashes: s.module_hashes.clone(),
        });
    }
    let detail = json!({
        "by": caller.actor,
        "account_id": account,
        "services": shown,
    });
    stmts.push(event_stmt(&db, &row.id, "uploaded", &detail));
    stmts.push(audit_stmt(
        &db,
        &caller.team_id,
        &caller.actor,
        "deployment.uploads",
        "deployment",
        &row.id,
        None,
        Some(&detail),
    ));
    db::batch(&db, stmts).await?;
    let items = uploads_of(&db, &row.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadsRecorded {
            deployment_id: row.id.clone(),
            items,
        }),
    ))
}

/// The registration of an uploaded service in the deployment's environment, once Cloudflare
/// confirmed its new version (and the one it replaces) are versions of that Worker.
async fn checked_upload(
    db: &D1Database,
    io: &Io,
    team_id: &str,
    row: &Deployment,
    account: &str,
    s: &ServiceUpload,
) -> Result<RegisteredScript, ApiError> {
    let registered = db::first::<RegisteredScript>(worker::query!(
        db,
        "SELECT x.service_id, x.script_name FROM service_scripts x JOIN services s ON s.id = x.service_id
          WHERE x.team_id = ?1 AND x.environment_id = ?2 AND s.project_id = ?3 AND s.name = ?4",
        &team_id,
        &row.environment_id,
        &row.project_id,
        &s.service
    ))
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!(
                "service `{}` has no Worker registered in {}/{}",
                s.service, row.project, row.environment
            ),
        )
        .with_hint(format!(
            "an admin registers it: PUT /api/v1/projects/{}/environments/{}/services/{} {{\"script\": \"<worker name>\"}} (an admin's `clodo deploy` does it)",
            row.project, row.environment, s.service
        ))
    })?;
    let versions: Vec<&String> = std::iter::once(&s.version_id)
        .chain(s.previous_version_id.as_ref())
        .collect();
    let answers = futures::future::join_all(
        versions
            .iter()
            .map(|v| io.verify_version(&registered.script_name, v)),
    )
    .await;
    for (v, answer) in versions.into_iter().zip(answers) {
        match answer {
            VersionCheck::Exists => {}
            VersionCheck::Missing(why) => {
                return Err(bad_request(format!(
                    "version {v} is not a version of Worker `{}` in account {account} ({why})",
                    registered.script_name
                ))
                .with_hint("record the version id wrangler printed for this service's upload"))
            }
            VersionCheck::Refused(why) => return Err(credential_refused(account, &why)),
            VersionCheck::Unknown(why) => {
                return Err(ApiError::unavailable(format!(
                    "could not check version {v} of Worker `{}` with Cloudflare: {why}",
                    registered.script_name
                ))
                .with_hint("nothing was recorded; retry in a moment"))
            }
        }
    }
    Ok(registered)
}

#[derive(Deserialize)]
struct StartedRow {
    account_id: String,
    spec: String,
}

/// `POST /api/v1/deployments/{deployment_id}/rollout`: builds the rollout from the server's
/// records (strategy of the deployment, account of its environment, the uploads it recorded)
/// and the body's settings (steps, hold, checks, analysis), writes the start with its event
/// and audit entry in one batch, then hands it to the deployment's Rollout object, which moves
/// the traffic from then on (the caller may leave). A repeated start after a crash between the
/// two writes starts the object from the stored row.
#[worker::send]
async fn start_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(settings): JsonBody<RolloutSettings>,
) -> Result<(StatusCode, Json<RolloutStatus>), ApiError> {
    caller.require(Role::Deployer)?;
    let stage = Stage {
        status: DeploymentStatus::Verifying,
        refusal: "a rollout starts when it is verifying",
        hint: "record the uploads (POST …/services), then move it to verifying (POST …/transitions {\"to\":\"verifying\"})",
    };
    let (db, row, account) = acting_deployment(&state.env, &caller, &id, stage).await?;
    let status = begin_rollout(
        &state.env,
        &db,
        &caller.team_id,
        &caller.actor,
        &row,
        account,
        settings,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// Starts a deployment's rollout (the caller checked it is verifying and holds its lock):
/// writes the start with its event and audit entry under `actor`, then hands it to the
/// deployment's Rollout object. A repeated start (a retry after a crash between the two
/// writes) starts the object from the stored row; the object ignores a second start.
pub(super) async fn begin_rollout(
    env: &worker::Env,
    db: &D1Database,
    team_id: &str,
    actor: &str,
    row: &Deployment,
    account: String,
    settings: RolloutSettings,
) -> Result<RolloutStatus, ApiError> {
    let existing = db::first::<StartedRow>(worker::query!(
        db,
        "SELECT account_id, spec FROM rollouts WHERE deployment_id = ?1 AND team_id = ?2",
        &row.id,
        &team_id
    ))
    .await?;
    let owner_of = |account: &str| Owner {
        team_id: team_id.to_owned(),
        account_id: account.to_owned(),
        environment_id: row.environment_id.clone(),
    };
    let (account, spec) = match existing {
        Some(started) => {
            let spec: Spec = serde_json::from_str(&started.spec)
                .map_err(|e| ApiError::internal(format!("stored rollout: {e}")))?;
            ensure_ab_affinity(env, &owner_of(&started.account_id), &spec).await?;
            (started.account_id, spec)
        }
        None => {
            let spec = new_spec(db, row, settings).await?;
            // Before the start is written: a test whose affinity cannot be set up is refused
            // and leaves nothing behind.
            ensure_ab_affinity(env, &owner_of(&account), &spec).await?;
            let spec_text = serde_json::to_string(&spec).map_err(ApiError::internal)?;
            let detail = json!({
                "by": actor,
                "strategy": spec.strategy,
                "steps": spec.traffic_steps(),
                "account_id": account,
                "services": spec.services,
            });
            db::batch(
                db,
                vec![
                    worker::query!(
                        db,
                        "INSERT INTO rollouts (deployment_id, team_id, account_id, spec, started_by, started_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        &row.id,
                        &team_id,
                        &account,
                        &spec_text,
                        &actor,
                        &now_ms()
                    ),
                    event_stmt(db, &row.id, "rollout_started", &detail),
                    audit_stmt(
                        db,
                        team_id,
                        actor,
                        "rollout.start",
                        "deployment",
                        &row.id,
                        None,
                        Some(&detail),
                    ),
                ],
            )
            .await?;
            (account, spec)
        }
    };
    let start = StartRollout {
        deployment_id: row.id.clone(),
        owner: Owner {
            team_id: team_id.to_owned(),
            account_id: account,
            environment_id: row.environment_id.clone(),
        },
        spec,
    };
    RolloutClient::new(env, &row.id).start(start).await
}

/// The spec of a new rollout: the deployment's strategy and recorded uploads with the
/// caller's settings; refused when nothing was recorded or the settings cannot run.
async fn new_spec(
    db: &D1Database,
    row: &Deployment,
    settings: RolloutSettings,
) -> Result<Spec, ApiError> {
    let strategy = row.strategy;
    let services: Vec<ServiceRollout> = uploads_of(db, &row.id)
        .await?
        .into_iter()
        .map(|u| ServiceRollout {
            service: u.service,
            script: u.script,
            previous_version: u.previous_version_id,
            new_version: u.version_id,
            already_live: u.already_live,
        })
        .collect();
    if services.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("deployment {} recorded no uploaded versions: there is nothing to roll out", row.id),
        )
        .with_hint("while deploying, record each upload with POST /api/v1/deployments/{id}/services (`clodo deploy` does)"));
    }
    let mut spec = settings.into_spec(strategy, services);
    spec.pages = super::pages_d1::rollout_sites(db, &row.id).await?;
    spec.validate()
        .map_err(|e| bad_request(format!("rollout: {e}")))?;
    Ok(spec)
}

/// `GET /api/v1/deployments/{deployment_id}/rollout`
#[worker::send]
async fn get_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RolloutStatus>, ApiError> {
    let db = db::db(&state.env)?;
    // Team scoping: another team's deployment is a 404 like a missing one.
    load(&db, &caller.team_id, &id).await?;
    Ok(Json(RolloutClient::new(&state.env, &id).status().await?))
}

/// `POST /api/v1/deployments/{deployment_id}/rollout/{command}`: 202, applied by the rollout's
/// next run (within moments); the answer shows the state the command leads to. The command is
/// written with its event and audit entry in one batch; the Rollout object reads the
/// commands from there, in order, so a command is applied if and only if it is recorded.
#[worker::send]
async fn command_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, command)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<RolloutStatus>), ApiError> {
    caller.require(Role::Deployer)?;
    let cmd = Command::parse(&command).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no rollout command `{command}`"),
        )
        .with_hint("one of: pause, resume, promote, abort")
    })?;
    let version = promote_version(&headers, body, cmd).await?;
    let db = db::db(&state.env)?;
    let row = load(&db, &caller.team_id, &id).await?;
    if let Some(v) = &version {
        check_ab_version(&db, &row, v).await?;
    }
    let rollout = RolloutClient::new(&state.env, &id);
    // Judged against the state it will meet (refused with 409 when it does not apply).
    let preview = rollout
        .preview(cmd, version.as_deref(), &caller.actor)
        .await?;
    let detail =
        json!({ "by": caller.actor, "command": cmd, "version": version, "phase": preview.phase });
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO rollout_commands (deployment_id, team_id, command, actor, created_at, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &row.id,
                &caller.team_id,
                &cmd.as_str(),
                &caller.actor,
                &now_ms(),
                &version
            ),
            event_stmt(&db, &row.id, "rollout_command", &detail),
            audit_stmt(
                &db,
                &caller.team_id,
                &caller.actor,
                &format!("rollout.{}", cmd.as_str()),
                "deployment",
                &id,
                None,
                Some(&json!({ "phase": preview.phase, "version": version })),
            ),
        ],
    )
    .await?;
    // A pause notifies (the event's trigger queued it).
    super::outbox::kick(&state.env).await;
    // The object also polls for commands on every run; waking it only makes it prompt.
    if let Err(e) = rollout.wake().await {
        worker::console_error!("rollout {id}: wake after a command: {}", e.message);
    }
    Ok((StatusCode::ACCEPTED, Json(preview)))
}

/// The optional body of a command: `{"version": "…"}`, for `promote` only (an A/B test's
/// version to keep). No body (or an empty one) is the plain command.
async fn promote_version(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    cmd: Command,
) -> Result<Option<String>, ApiError> {
    let bytes = crate::api::read_limited(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    crate::api::require_json(headers)?;
    let PromoteVersion { version } = crate::api::parse_json(&bytes)?;
    if cmd != Command::Promote {
        return Err(bad_request(format!(
            "`version`: only `promote` takes a version (an A/B test's version to keep), not `{}`",
            cmd.as_str()
        )));
    }
    if !valid_version_id(&version) {
        return Err(bad_request(
            "`version`: a Worker version id (1-64 letters, digits and `-`)".to_owned(),
        ));
    }
    Ok(Some(version))
}

/// `promote --version V` applies to an A/B test, and only to its two versions, judged from
/// the spec the server stored when the test started (never from the request).
async fn check_ab_version(
    db: &D1Database,
    row: &Deployment,
    version: &str,
) -> Result<(), ApiError> {
    let started = db::first::<StartedRow>(worker::query!(
        db,
        "SELECT account_id, spec FROM rollouts WHERE deployment_id = ?1",
        &row.id
    ))
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("deployment {} has no rollout", row.id),
        )
    })?;
    let spec: Spec = serde_json::from_str(&started.spec)
        .map_err(|e| ApiError::internal(format!("stored rollout: {e}")))?;
    if spec.strategy != Strategy::Ab {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "deployment {} is a {} rollout, not an A/B test: `--version` does not apply",
                row.id, spec.strategy
            ),
        )
        .with_hint(format!("`clodo promote {}` finishes it", row.id)));
    }
    let ours: Vec<&str> = spec
        .services
        .iter()
        .flat_map(|s| [s.previous_version.as_deref(), Some(s.new_version.as_str())])
        .flatten()
        .collect();
    if !ours.contains(&version) {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            format!("version {version} is not one of the A/B test's versions",),
        )
        .with_hint(format!("one of: {}", ours.join(", "))));
    }
    Ok(())
}

/// An A/B test with a header or cookie affinity: the Request Header Transform Rule that sets
/// `Cloudflare-Workers-Version-Key` on every zone routing to the Worker (idempotent: a retry
/// keeps the rule in place). Refused when no zone routes to the Worker (workers.dev only):
/// a zone rule cannot reach it, so clients must send the key themselves.
async fn ensure_ab_affinity(env: &worker::Env, owner: &Owner, spec: &Spec) -> Result<(), ApiError> {
    let (Strategy::Ab, Some(ab)) = (spec.strategy, &spec.ab) else {
        return Ok(());
    };
    let Some(expression) = ab.affinity.key_expression() else {
        return Ok(());
    };
    let Some(service) = spec.services.iter().find(|s| s.previous_version.is_some()) else {
        return Ok(());
    };
    let io = Io::open(env, owner).await.map_err(|e| {
        ApiError::new(ErrorCode::BadRequest, e.to_string()).with_hint("an admin stores the environment account's credential with POST /api/v1/credentials {account_id, name, api_token}")
    })?;
    let zones = io
        .ensure_affinity(&service.script, &expression)
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Unavailable,
                format!("setting up the A/B test's version affinity failed: {e}"),
            )
            .with_hint("the credential needs Zone · Transform Rules · Edit and Workers Routes · Read on the Worker's zones; retrying is safe")
        })?;
    if zones.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "A/B test: Worker {} has no route on a zone of the account, so Clodo cannot derive Cloudflare-Workers-Version-Key from the {} for its users",
                service.script,
                match &ab.affinity {
                    crate::rollout::ab::Affinity::Header(h) => format!("header {h}"),
                    crate::rollout::ab::Affinity::Cookie(c) => format!("cookie {c}"),
                    crate::rollout::ab::Affinity::Client => String::new(),
                }
            ),
        )
        .with_hint("add a route on one of your zones, or set `affinity = \"client\"` under [deploy.ab] and have clients send the Cloudflare-Workers-Version-Key header themselves"));
    }
    Ok(())
}

/// Cloudflare refused the team's stored credential for `account` while checking what a
/// client recorded: nothing is recorded, and retrying will not help until the credential does.
pub(super) fn credential_refused(account: &str, why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!("Cloudflare refused the team's credential for account {account}: {why}"),
    )
    .with_hint(
        "store a working token for the account: POST /api/v1/credentials (nothing was recorded)",
    )
}
