//! The GitHub integration's shell: the admin routes (`/api/v1/projects/{project}/github`) and
//! the inbound webhook (`POST /integrations/github/webhook`, reached from `fetch` before the API
//! router: it authenticates by signature, not token, so it is not an `/api/v1` route). The
//! decisions are `integrations::github`'s; the slow work is an outbox kind (`github_work`).

use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Env};

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::github_work;
use super::outbox;
use super::routes::AppState;
use super::teams::cipher;
use crate::api::contract::github::{GithubIntegration, GithubSettings};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::Role;
use crate::integrations::github::event::{self, Job, Work};
use crate::integrations::github::{self as core, WEBHOOK_PATH};
use crate::integrations::signature;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project}/github",
        get(get_integration)
            .put(put_integration)
            .delete(delete_integration),
    )
}

/// An integration as D1 stores it (secrets still encrypted).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct IntegrationRow {
    pub project_id: String,
    pub team_id: String,
    pub slug: String,
    pub repository: String,
    pub api_base_url: String,
    pub secret_ciphertext: String,
    pub token_ciphertext: String,
    pub branches: String,
    pub environment: Option<String>,
    pub updated_by: String,
    pub updated_at: i64,
    /// With App authentication: the App, its installation, the private key (encrypted) and
    /// the installation token last minted (encrypted) with when it expires (Unix ms).
    pub app_id: Option<i64>,
    pub installation_id: Option<i64>,
    pub app_key_ciphertext: Option<String>,
    pub installation_token_ciphertext: Option<String>,
    pub installation_token_expires_at: Option<i64>,
    /// JSON array of deploy-on-push rules.
    pub deploy_on_push: String,
}

pub(super) const SELECT_INTEGRATION: &str = "SELECT g.project_id, g.team_id, p.slug, g.repository, g.api_base_url, g.secret_ciphertext, g.token_ciphertext, g.branches, g.environment, g.updated_by, g.updated_at, g.app_id, g.installation_id, g.app_key_ciphertext, g.installation_token_ciphertext, g.installation_token_expires_at, g.deploy_on_push FROM github_integrations g JOIN projects p ON p.id = g.project_id";

impl IntegrationRow {
    pub fn branches(&self) -> Vec<String> {
        serde_json::from_str(&self.branches).unwrap_or_default()
    }

    fn contract(&self) -> GithubIntegration {
        GithubIntegration {
            project: self.slug.clone(),
            repository: self.repository.clone(),
            branches: self.branches(),
            api_base_url: self.api_base_url.clone(),
            environment: self.environment.clone(),
            auth: if self.app_id.is_some() {
                "app"
            } else {
                "token"
            }
            .to_owned(),
            app_id: self.app_id.and_then(|id| u64::try_from(id).ok()),
            installation_id: self.installation_id.and_then(|id| u64::try_from(id).ok()),
            deploy_on_push: serde_json::from_str(&self.deploy_on_push).unwrap_or_default(),
            webhook_path: WEBHOOK_PATH.to_owned(),
            updated_by: self.updated_by.clone(),
            updated_at: self.updated_at,
        }
    }
}

async fn integration_of(
    db: &D1Database,
    team_id: &str,
    slug: &str,
) -> Result<IntegrationRow, ApiError> {
    let project = db::project(db, team_id, slug).await?;
    db::first::<IntegrationRow>(worker::query!(
        db,
        &format!("{SELECT_INTEGRATION} WHERE g.project_id = ?1 AND g.team_id = ?2"),
        &project.id,
        &team_id
    ))
    .await?
    .ok_or_else(|| {
        db::not_found("GitHub integration of project", slug).with_hint(format!(
            "an admin connects it: `clodo github connect --project {slug} --repository OWNER/NAME`"
        ))
    })
}

/// `GET /api/v1/projects/{project}/github`
#[worker::send]
async fn get_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<GithubIntegration>, ApiError> {
    caller.require(Role::Viewer)?;
    let db = db::db(&state.env)?;
    Ok(Json(
        integration_of(&db, &caller.team_id, &project)
            .await?
            .contract(),
    ))
}

/// `PUT /api/v1/projects/{project}/github`: stores the settings, both secrets encrypted with
/// the team id as associated data; audited without the secrets.
#[worker::send]
async fn put_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<GithubSettings>,
) -> Result<Json<GithubIntegration>, ApiError> {
    caller.require(Role::Admin)?;
    let api_base_url = core::validate(&body).map_err(bad_request)?;
    let db = db::db(&state.env)?;
    let project_row = db::project(&db, &caller.team_id, &project).await?;
    if let Some(environment) = &body.environment {
        // The environment must exist now; assessments name its account later.
        db::environment(&db, &caller.team_id, &project, environment).await?;
    }
    for rule in &body.deploy_on_push {
        db::environment(&db, &caller.team_id, &project, &rule.environment).await?;
    }
    let cipher = cipher(&state.env)?;
    let secret = cipher
        .encrypt(&caller.team_id, &body.webhook_secret)
        .map_err(ApiError::internal)?;
    // A token, or an App's private key: `validate` let exactly one through.
    let token = match &body.api_token {
        Some(token) => cipher
            .encrypt(&caller.team_id, token)
            .map_err(ApiError::internal)?,
        None => String::new(),
    };
    let app_key = match &body.app {
        Some(app) => Some(
            cipher
                .encrypt(&caller.team_id, &app.private_key)
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let as_i64 = |id: u64| i64::try_from(id).map_err(|_| bad_request("`app` ids are too large"));
    let app_id = body.app.as_ref().map(|a| as_i64(a.app_id)).transpose()?;
    let installation_id = body
        .app
        .as_ref()
        .map(|a| as_i64(a.installation_id))
        .transpose()?;
    let branches = serde_json::to_string(&body.branches).map_err(ApiError::internal)?;
    let row = IntegrationRow {
        project_id: project_row.id.clone(),
        team_id: caller.team_id.clone(),
        slug: project_row.slug,
        repository: body.repository.to_ascii_lowercase(),
        api_base_url,
        secret_ciphertext: secret,
        token_ciphertext: token,
        branches,
        environment: body.environment.clone(),
        updated_by: caller.actor.clone(),
        updated_at: now_ms(),
        app_id,
        installation_id,
        app_key_ciphertext: app_key,
        installation_token_ciphertext: None,
        installation_token_expires_at: None,
        deploy_on_push: serde_json::to_string(&body.deploy_on_push).map_err(ApiError::internal)?,
    };
    // A new key or installation forgets the installation token minted with the old one.
    let upsert = worker::query!(
        &db,
        "INSERT INTO github_integrations (project_id, team_id, repository, api_base_url, secret_ciphertext, token_ciphertext, branches, environment, updated_by, updated_at,
           app_id, installation_id, app_key_ciphertext, deploy_on_push)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (project_id) DO UPDATE SET repository = excluded.repository,
           api_base_url = excluded.api_base_url, secret_ciphertext = excluded.secret_ciphertext,
           token_ciphertext = excluded.token_ciphertext, branches = excluded.branches,
           environment = excluded.environment, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at, app_id = excluded.app_id,
           installation_id = excluded.installation_id, app_key_ciphertext = excluded.app_key_ciphertext,
           deploy_on_push = excluded.deploy_on_push,
           installation_token_ciphertext = NULL, installation_token_expires_at = NULL",
        &row.project_id,
        &row.team_id,
        &row.repository,
        &row.api_base_url,
        &row.secret_ciphertext,
        &row.token_ciphertext,
        &row.branches,
        &row.environment,
        &row.updated_by,
        &row.updated_at,
        &row.app_id,
        &row.installation_id,
        &row.app_key_ciphertext,
        &row.deploy_on_push
    );
    let integration = row.contract();
    let entry = Audit::created(
        "github.connect",
        ("project", &row.project_id),
        json!(integration),
    );
    caller.commit(&db, upsert, entry).await?;
    Ok(Json(integration))
}

/// `DELETE /api/v1/projects/{project}/github`: its deliveries are refused from then on.
#[worker::send]
async fn delete_integration(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let project_row = db::project(&db, &caller.team_id, &project).await?;
    let delete = worker::query!(
        &db,
        "DELETE FROM github_integrations WHERE project_id = ?1 AND team_id = ?2",
        &project_row.id,
        &caller.team_id
    );
    let entry = Audit::removed("github.disconnect", ("project", &project_row.id));
    if !caller.commit_if_changed(&db, delete, entry).await? {
        return Err(db::not_found("GitHub integration of project", &project));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// The webhook.

/// One answer for every signature failure: the sender learns nothing about which part failed
/// (no such repository, no integration, wrong secret, tampered body, malformed header).
fn unauthorized() -> Response {
    ApiError::new(
        ErrorCode::Unauthorized,
        "the delivery's X-Hub-Signature-256 does not verify",
    )
    .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The integration whose secret verifies `body`, among those connected to the repository the
/// body names. Reading the name before verifying only picks whose secrets to try; nothing else
/// in the body is read before one of them verified it.
async fn verified_integration(
    env: &Env,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<Option<IntegrationRow>, ApiError> {
    let Some(repository) = event::repository_of(body) else {
        return Ok(None);
    };
    let db = db::db(env)?;
    let candidates = db::all::<IntegrationRow>(worker::query!(
        &db,
        &format!("{SELECT_INTEGRATION} WHERE g.repository = ?1 ORDER BY g.updated_at"),
        &repository
    ))
    .await?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let cipher = cipher(env)?;
    for row in candidates {
        // One project's unreadable secret must not stop the others' deliveries.
        let secret = match cipher.decrypt(&row.team_id, &row.secret_ciphertext) {
            Ok(secret) => secret,
            Err(e) => {
                worker::console_error!("GitHub secret of project {}: {e}", row.project_id);
                continue;
            }
        };
        if signature::verify_github(&secret, body, signature_header).is_ok() {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// The delivery's row (and, with work, its outbox row) in one batch; `false` when the delivery
/// was already recorded: a redelivery, which does nothing twice.
async fn record(
    db: &D1Database,
    row: &IntegrationRow,
    job: &Job,
    state: &str,
    detail: Option<&str>,
) -> Result<bool, ApiError> {
    let mut stmts = vec![worker::query!(
        db,
        "INSERT INTO github_deliveries (project_id, delivery_id, event, state, detail, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (project_id, delivery_id) DO NOTHING",
        &row.project_id,
        &job.delivery,
        &job.event,
        &state,
        &detail,
        &job.received_at
    )];
    if state == "queued" {
        let payload = serde_json::to_value(job).map_err(ApiError::internal)?;
        stmts.push(outbox::enqueue_stmt(
            db,
            &row.team_id,
            github_work::KIND,
            &event::job_key(&row.project_id, &job.delivery),
            Some(&row.project_id),
            &payload,
        ));
    }
    let results = db::batch(db, stmts).await?;
    Ok(db::changes(&results, 0) > 0)
}

/// Records how a delivery's work ended.
pub(super) async fn finish(
    env: &Env,
    project_id: &str,
    delivery_id: &str,
    state: &str,
    detail: &str,
) {
    let done = async {
        let db = db::db(env)?;
        db::run(worker::query!(
            &db,
            "UPDATE github_deliveries SET state = ?3, detail = ?4, finished_at = ?5
             WHERE project_id = ?1 AND delivery_id = ?2",
            &project_id,
            &delivery_id,
            &state,
            &detail,
            &now_ms()
        ))
        .await
    };
    if let Err(e) = done.await {
        worker::console_error!(
            "github delivery {delivery_id}: recording `{state}`: {}",
            e.message
        );
    }
}

/// The public origin this request came to (`https://clodo.example`), for links to reports.
fn origin_of(req: &Request) -> String {
    let uri = req.uri();
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => format!(
            "https://{}",
            header(req.headers(), "host").unwrap_or("localhost")
        ),
    }
}

/// `POST /integrations/github/webhook`: verify, dedupe, answer. The slow work is an outbox
/// row written with the delivery's record; the `Outbox` object runs it after the answer.
pub async fn webhook(req: Request, env: Env) -> Response {
    match receive(req, env).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn receive(req: Request, env: Env) -> Result<Response, ApiError> {
    if req.method() != axum::http::Method::POST {
        return Err(ApiError::method_not_allowed(
            req.method().as_str(),
            WEBHOOK_PATH,
        ));
    }
    let origin = origin_of(&req);
    let (parts, body) = req.into_parts();
    // The body was read whole (at most MAX_BODY_BYTES) before routing; these are its bytes.
    let body = crate::api::read_limited(axum::body::Body::new(body)).await?;
    let signature_header = header(&parts.headers, "x-hub-signature-256");
    let Some(row) = verified_integration(&env, &body, signature_header).await? else {
        return Ok(unauthorized());
    };
    let event = header(&parts.headers, "x-github-event").unwrap_or_default();
    let delivery = header(&parts.headers, "x-github-delivery").unwrap_or_default();
    // GitHub's delivery ids are GUIDs; they become part of an outbox key.
    let id_like = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    if !id_like(event) || !id_like(delivery) {
        return Err(bad_request(
            "X-GitHub-Event and X-GitHub-Delivery are required (1-100 letters, digits, '-', '_')",
        ));
    }
    let work = event::classify(
        event,
        &body,
        &row.branches(),
        &row.api_base_url,
        &row.repository,
    )
    .map_err(|e| bad_request(e.to_string()))?;
    let (state, detail, status) = match &work {
        Work::Ping => ("done", Some("ping".to_owned()), StatusCode::OK),
        Work::Ignore(why) => ("ignored", Some(why.clone()), StatusCode::ACCEPTED),
        _ => ("queued", None, StatusCode::ACCEPTED),
    };
    let job = Job {
        delivery: delivery.to_owned(),
        event: event.to_owned(),
        origin,
        received_at: now_ms(),
        work,
    };
    let db = db::db(&env)?;
    if !record(&db, &row, &job, state, detail.as_deref()).await? {
        return Ok((
            StatusCode::OK,
            Json(json!({ "delivery": delivery, "duplicate": true })),
        )
            .into_response());
    }
    if state == "queued" {
        outbox::kick(&env).await;
    }
    Ok((
        status,
        Json(json!({ "delivery": delivery, "state": state, "detail": detail })),
    )
        .into_response())
}
