//! Preview deployments (`clodo deploy --preview`): a Pages site deployed to a branch's preview,
//! recorded on its environment so the dashboard, `clodo history --previews` and a PR comment
//! list the URLs. A preview takes no lock and serves no production traffic; the Pages
//! deployment is checked with Cloudflare in the environment's account before it is recorded,
//! and recording the same one again answers the first record (a retry changes nothing).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::D1Database;

use super::auth::Caller;
use super::db::{self, audit_if_changed_stmt, bad_request, new_id, now_ms};
use super::outbox;
use super::pages_d1::confirm_pages_deployment;
use super::rollout_io::Owner;
use super::routes::AppState;
use crate::api::contract::previews::{Preview, PreviewList, RecordPreview};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::config::valid_pages_project;
use crate::control::{valid_slug, Role};
use crate::integrations::github::event::{preview_key, Job, Work};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project}/environments/{environment}/previews",
        get(list_previews).post(record_preview),
    )
}

/// The newest previews a list answers.
const LIST_LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
struct PreviewRow {
    id: String,
    service: String,
    project: String,
    pages_deployment_id: String,
    url: String,
    branch: String,
    git_sha: Option<String>,
    created_by: String,
    created_at: i64,
}

impl PreviewRow {
    fn into_contract(self, project: &str, environment: &str) -> Preview {
        Preview {
            id: self.id,
            project: project.to_owned(),
            environment: environment.to_owned(),
            service: self.service,
            pages_project: self.project,
            pages_deployment_id: self.pages_deployment_id,
            url: self.url,
            branch: self.branch,
            git_sha: self.git_sha,
            created_by: self.created_by,
            created_at: self.created_at,
        }
    }
}

async fn previews_of(
    db: &D1Database,
    environment_id: &str,
    pages_deployment_id: Option<&str>,
) -> Result<Vec<PreviewRow>, ApiError> {
    let only = pages_deployment_id.unwrap_or_default();
    db::all::<PreviewRow>(worker::query!(
        db,
        "SELECT id, service, project, pages_deployment_id, url, branch, git_sha, created_by, created_at
           FROM previews WHERE environment_id = ?1 AND (?2 = '' OR pages_deployment_id = ?2)
          ORDER BY created_at DESC, id DESC LIMIT ?3",
        &environment_id,
        &only,
        &LIST_LIMIT
    ))
    .await
}

/// `GET /api/v1/projects/{project}/environments/{environment}/previews`: the newest 100.
#[worker::send]
async fn list_previews(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
) -> Result<Json<PreviewList>, ApiError> {
    caller.require(Role::Viewer)?;
    let db = db::db(&state.env)?;
    let (_, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let items = previews_of(&db, &env.id, None)
        .await?
        .into_iter()
        .map(|r| r.into_contract(&project, &environment))
        .collect();
    Ok(Json(PreviewList { items }))
}

fn validate(body: &RecordPreview) -> Result<(), ApiError> {
    if !valid_slug(&body.service) || !valid_pages_project(&body.project) {
        return Err(bad_request(
            "`service` (1-64 lowercase letters, digits or '-') and `project` (a Pages project name)",
        ));
    }
    let id = &body.pages_deployment_id;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(bad_request(
            "`pages_deployment_id`: 1-64 letters, digits or '-'",
        ));
    }
    // Counted in characters, as the schema counts them.
    if !(1..=2048).contains(&body.url.chars().count())
        || !(1..=255).contains(&body.branch.chars().count())
    {
        return Err(bad_request(
            "`url` (1-2048) and `branch` (1-255) are required",
        ));
    }
    let sha_ok = |s: &str| {
        (7..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    if body.git_sha.as_deref().is_some_and(|s| !sha_ok(s)) {
        return Err(bad_request("`git_sha`: 7-64 lowercase hex digits"));
    }
    Ok(())
}

/// `POST /api/v1/projects/{project}/environments/{environment}/previews`: 201 with the record
/// (the first one, when this Pages deployment was recorded before).
#[worker::send]
async fn record_preview(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecordPreview>,
) -> Result<(StatusCode, Json<Preview>), ApiError> {
    caller.require(Role::Deployer)?;
    validate(&body)?;
    let db = db::db(&state.env)?;
    let (project_row, env) = db::environment(&db, &caller.team_id, &project, &environment).await?;
    let account = env.cloudflare_account_id.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("environment {project}/{environment} is not bound to a Cloudflare account"),
        )
        .with_hint(format!(
            "an admin binds it: PATCH /api/v1/projects/{project}/environments/{environment} {{\"cloudflare_account_id\": \"…\"}}"
        ))
    })?;
    let owner = Owner {
        team_id: caller.team_id.clone(),
        account_id: account,
        environment_id: env.id.clone(),
    };
    confirm_pages_deployment(&state.env, &owner, &body.project, &body.pages_deployment_id).await?;
    let id = new_id("prv");
    let detail = json!({
        "by": caller.actor,
        "project": project,
        "environment": environment,
        "service": body.service,
        "pages_project": body.project,
        "pages_deployment_id": body.pages_deployment_id,
        "url": body.url,
        "branch": body.branch,
        "git_sha": body.git_sha,
    });
    let stmts = vec![
        worker::query!(
            &db,
            "INSERT INTO previews (id, team_id, environment_id, service, project, pages_deployment_id,
               url, branch, git_sha, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (environment_id, project, pages_deployment_id) DO NOTHING",
            &id,
            &caller.team_id,
            &env.id,
            &body.service,
            &body.project,
            &body.pages_deployment_id,
            &body.url,
            &body.branch,
            &body.git_sha,
            &caller.actor,
            &now_ms()
        ),
        // Only with a new record: a repeated request adds no second entry.
        audit_if_changed_stmt(
            &db,
            &caller.team_id,
            &caller.actor,
            "preview.record",
            "environment",
            &env.id,
            None,
            Some(&detail),
        ),
    ];
    let mut stmts = stmts;
    let refresh =
        github_refresh_stmt(&db, &caller.team_id, &project_row.id, &env.id, &body).await?;
    let refreshes = refresh.is_some();
    stmts.extend(refresh);
    let results = db::batch(&db, stmts).await?;
    if refreshes && db::changes(&results, 2) > 0 {
        outbox::kick(&state.env).await;
    }
    let recorded = previews_of(&db, &env.id, Some(&body.pages_deployment_id))
        .await?
        .into_iter()
        .find(|p| p.project == body.project)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the record was not written"))?;
    Ok((
        StatusCode::CREATED,
        Json(recorded.into_contract(&project, &environment)),
    ))
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// When the project is connected to GitHub: the outbox row that edits the Clodo comment of
/// each pull request from the preview's branch (`github_comment::refresh`), for the batch that
/// records the preview. Its key is the Pages deployment's, so a replayed record queues nothing.
async fn github_refresh_stmt(
    db: &D1Database,
    team_id: &str,
    project_id: &str,
    environment_id: &str,
    body: &RecordPreview,
) -> Result<Option<worker::Result<worker::D1PreparedStatement>>, ApiError> {
    let connected = db::first::<Count>(worker::query!(
        db,
        "SELECT COUNT(*) AS n FROM github_integrations WHERE project_id = ?1 AND team_id = ?2",
        &project_id,
        &team_id
    ))
    .await?;
    if connected.is_none_or(|c| c.n == 0) {
        return Ok(None);
    }
    let key = preview_key(environment_id, &body.project, &body.pages_deployment_id);
    let job = Job {
        delivery: key.clone(),
        event: "preview".into(),
        origin: String::new(),
        received_at: now_ms(),
        work: Work::RefreshComments {
            branch: body.branch.clone(),
        },
    };
    let payload = serde_json::to_value(&job).map_err(ApiError::internal)?;
    Ok(Some(outbox::enqueue_stmt(
        db,
        team_id,
        super::github_work::KIND,
        &key,
        Some(project_id),
        &payload,
    )))
}
