//! Hosted gap analysis: `POST /api/v1/assessments` runs the same engine as `clodo assess` on a
//! config sent in the body, against the Cloudflare account of one of the team's environments
//! (with the team's stored credential for that account; the request never names an account),
//! and keeps the report in D1; `GET /api/v1/assessments/{id}` reads it back (team-scoped).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Caller;
use super::cf_fetch::FetchTransport;
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use super::teams::cipher;
use crate::api::contract::assessments::{Assessment, NewAssessment};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::assess::inventory::pages_d1::{assess_pages_d1, hosted_inputs};
use crate::assess::{self, Context, Report, ServiceInput, Severity};
use crate::cloudflare::{AccountClient, Client, RetryPolicy, DEFAULT_BASE_URL};
use crate::config::{valid_pages_project, ConfigFormat, Strategy};
use crate::control::{valid_slug, Role};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/assessments", post(create_assessment))
        .route("/api/v1/assessments/{assessment_id}", get(get_assessment))
}

/// The largest config text accepted: real configs are a few KiB; the body limit (1 MiB) caps
/// the request, this caps what the parser is given.
const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// The Worker answers within its own time limits: all API calls of one assessment together.
const ASSESSMENT_DEADLINE_MS: u64 = 25_000;

/// An assessment as D1 stores it (the report as JSON text).
#[derive(Deserialize)]
struct AssessmentRow {
    id: String,
    account_id: Option<String>,
    env: Option<String>,
    config_file: String,
    created_by: String,
    created_at: i64,
    report: String,
}

impl AssessmentRow {
    fn into_contract(self) -> Result<Assessment, ApiError> {
        let report = serde_json::from_str(&self.report)
            .map_err(|e| ApiError::internal(format!("stored report: {e}")))?;
        Ok(Assessment {
            id: self.id,
            account_id: self.account_id,
            env: self.env,
            config_file: self.config_file,
            created_by: self.created_by,
            created_at: self.created_at,
            report,
        })
    }
}

#[derive(Deserialize)]
struct CiphertextRow {
    ciphertext: String,
}

fn format_of(file: &str) -> Result<ConfigFormat, ApiError> {
    if file.ends_with(".jsonc") {
        Ok(ConfigFormat::Jsonc)
    } else if file.ends_with(".json") {
        Ok(ConfigFormat::Json)
    } else if file.ends_with(".toml") {
        Ok(ConfigFormat::Toml)
    } else {
        Err(bad_request(format!(
            "`file` must end in .toml, .jsonc or .json (got `{file}`)"
        )))
    }
}

fn validate(body: &NewAssessment) -> Result<ConfigFormat, ApiError> {
    if body.config.len() > MAX_CONFIG_BYTES {
        return Err(bad_request(format!(
            "`config` is {} bytes; the limit is {MAX_CONFIG_BYTES}",
            body.config.len()
        )));
    }
    if body.file.is_empty() || body.file.len() > 200 {
        return Err(bad_request("`file` must be 1-200 characters"));
    }
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if body.env.as_deref().is_some_and(|e| !name_ok(e)) {
        return Err(bad_request(
            "`env` must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    if body.project.is_some() != body.environment.is_some() {
        return Err(bad_request(
            "`project` and `environment` go together: the environment's account is assessed",
        ));
    }
    if body.required_secrets.len() > 200 || body.required_secrets.iter().any(|s| s.len() > 256) {
        return Err(bad_request(
            "`required_secrets`: at most 200 names of at most 256 characters",
        ));
    }
    validate_pages_d1(body)?;
    format_of(&body.file)
}

/// The Pages services and migration files of a request: the sizes and shapes the schema says.
fn validate_pages_d1(body: &NewAssessment) -> Result<(), ApiError> {
    if body.service.as_deref().is_some_and(|s| !valid_slug(s)) {
        return Err(bad_request(
            "`service`: 1-64 lowercase letters, digits or '-'",
        ));
    }
    if body.pages.len() > 20 {
        return Err(bad_request("`pages`: at most 20 services"));
    }
    for p in &body.pages {
        let branch_ok = p
            .production_branch
            .as_ref()
            .is_none_or(|b| (1..=255).contains(&b.chars().count()));
        if !valid_slug(&p.service)
            || p.project
                .as_deref()
                .is_some_and(|n| !valid_pages_project(n))
            || !branch_ok
        {
            return Err(bad_request(format!(
                "`pages`: `{}` needs a service name (1-64 lowercase letters, digits or '-'), a Pages project name and a production branch of 1-255 characters",
                p.service
            )));
        }
    }
    if body.migrations.len() > 20 {
        return Err(bad_request("`migrations`: at most 20 bindings"));
    }
    for m in &body.migrations {
        let binding_ok = (1..=64).contains(&m.binding.len())
            && m.binding
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !m.binding.as_bytes()[0].is_ascii_digit();
        if !binding_ok || m.files.len() > 200 {
            return Err(bad_request(format!(
                "`migrations`: binding `{}` must be a binding name with at most 200 files",
                m.binding
            )));
        }
        for f in &m.files {
            // Counted in characters, as the schema counts them.
            let name_ok = (5..=255).contains(&f.name.chars().count())
                && f.name.ends_with(".sql")
                && !f.name.contains(['/', '\\']);
            if !name_ok || f.sql.chars().count() > 65_536 {
                return Err(bad_request(format!(
                    "`migrations`: `{}` must be a `*.sql` file name (no directories) of at most 64 KiB",
                    f.name
                )));
            }
        }
    }
    // All of it together is bounded by the body limit (1 MiB).
    Ok(())
}

/// The team's API token for `account_id`, decrypted for this request only.
pub(super) async fn account_token(
    env: &worker::Env,
    team_id: &str,
    account_id: &str,
) -> Result<String, ApiError> {
    let db = db::db(env)?;
    let row = db::first::<CiphertextRow>(worker::query!(
        &db,
        "SELECT ciphertext FROM cloudflare_credentials WHERE team_id = ?1 AND account_id = ?2",
        &team_id,
        account_id
    ))
    .await?
    .ok_or_else(|| {
        // Not found, like any other resource of the team that does not exist: the request
        // itself is well formed.
        ApiError::new(
            ErrorCode::NotFound,
            format!("your team has no Cloudflare credential for account `{account_id}`"),
        )
        .with_hint(
            "an admin stores one with POST /api/v1/credentials {account_id, name, api_token}",
        )
    })?;
    cipher(env)?
        .decrypt(team_id, &row.ciphertext)
        .map_err(|e| ApiError::internal(format!("stored credential: {e}")))
}

/// The Cloudflare account `project`/`environment` is bound to; refused with the fix when it is
/// bound to none.
pub(super) async fn environment_account(
    env: &worker::Env,
    team_id: &str,
    project: &str,
    environment: &str,
) -> Result<String, ApiError> {
    let db = db::db(env)?;
    let (_, row) = db::environment(&db, team_id, project, environment).await?;
    row.cloudflare_account_id.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("environment {project}/{environment} is not bound to a Cloudflare account"),
        )
        .with_hint(format!(
            "an admin binds it: PATCH /api/v1/projects/{project}/environments/{environment} {{\"cloudflare_account_id\": \"…\"}}"
        ))
    })
}

/// An assessment's Cloudflare client for `account_id`, with the team's stored token and the
/// assessment deadline.
pub(super) async fn account_client(
    env: &worker::Env,
    team_id: &str,
    account_id: &str,
) -> Result<Client<FetchTransport>, ApiError> {
    let token = account_token(env, team_id, account_id).await?;
    let policy = RetryPolicy {
        deadline_ms: ASSESSMENT_DEADLINE_MS,
        ..RetryPolicy::default()
    };
    Ok(Client::new(
        FetchTransport,
        &api_base_url(env),
        &token,
        policy,
    ))
}

/// The Cloudflare API this Worker talks to (the sandbox in development).
pub(super) fn api_base_url(env: &worker::Env) -> String {
    env.var("CLOUDFLARE_API_BASE_URL")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| DEFAULT_BASE_URL.to_owned())
}

pub(super) fn today() -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(now_ms())
        .unwrap_or_default()
        .date_naive()
}

/// `POST /api/v1/assessments`: assess a config; 201 with the stored report.
#[worker::send]
async fn create_assessment(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewAssessment>,
) -> Result<(StatusCode, Json<Assessment>), ApiError> {
    caller.require(Role::Deployer)?;
    let format = validate(&body)?;
    let account_id = match (&body.project, &body.environment) {
        (Some(project), Some(environment)) => {
            Some(environment_account(&state.env, &caller.team_id, project, environment).await?)
        }
        _ => None,
    };
    let ctx = Context {
        today: today(),
        env: body.env.clone(),
        project_workers: Default::default(),
    };
    let report = match assess::load_config(&body.config, format, &body.file, body.env.as_deref()) {
        Err(finding) => {
            let mut report = Report::new(vec![*finding]);
            report.env = body.env.clone();
            report
        }
        Ok(worker) => {
            // The Worker has no checkout: whether `main` exists is not known here.
            let input = ServiceInput {
                worker: &worker,
                extra_required_secrets: body.required_secrets.clone(),
                main_exists: None,
            };
            let (pages, databases) = hosted_inputs(&body, &worker);
            let strategy = body.strategy.unwrap_or(Strategy::Immediate);
            match &account_id {
                None => {
                    let mut report = assess::assess::<FetchTransport>(&[input], &ctx, None).await;
                    let no_account: Option<&AccountClient<FetchTransport>> = None;
                    let extra = assess_pages_d1(
                        &pages,
                        &databases,
                        ctx.env.as_deref(),
                        strategy,
                        no_account,
                    )
                    .await;
                    report.merge(extra.findings);
                    report
                }
                Some(account_id) => {
                    let token = account_token(&state.env, &caller.team_id, account_id).await?;
                    let base = api_base_url(&state.env);
                    let policy = RetryPolicy {
                        deadline_ms: ASSESSMENT_DEADLINE_MS,
                        ..RetryPolicy::default()
                    };
                    let client = Client::new(FetchTransport, &base, &token, policy);
                    // No remembered token here: the Worker's assessments are occasional (a
                    // GitHub push), so the second round is kept.
                    let (mut report, inventory) = assess::assess_with_inventory(
                        &[input],
                        &ctx,
                        Some((&client, account_id.as_str())),
                        None,
                    )
                    .await;
                    // Like the CLI: an API that cannot be reached at all is reported once.
                    if !inventory
                        .as_ref()
                        .is_some_and(assess::Inventory::api_unreachable)
                    {
                        let cf = AccountClient::new(
                            Client::new(FetchTransport, &base, &token, policy),
                            account_id,
                        );
                        let extra = assess_pages_d1(
                            &pages,
                            &databases,
                            ctx.env.as_deref(),
                            strategy,
                            Some(&cf),
                        )
                        .await;
                        report.api_calls += cf.client.calls();
                        report.merge(extra.findings);
                    }
                    report
                }
            }
        }
    };
    let assessment = store(
        &state.env,
        &caller.team_id,
        &report,
        Stored {
            account_id,
            env: body.env.clone(),
            config_file: body.file.clone(),
            created_by: caller.actor.clone(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(assessment)))
}

/// Where a stored report came from.
pub(super) struct Stored {
    pub account_id: Option<String>,
    pub env: Option<String>,
    pub config_file: String,
    pub created_by: String,
}

/// Keeps `report` as a new assessment of `team_id` (the hosted API and GitHub deliveries).
pub(super) async fn store(
    env: &worker::Env,
    team_id: &str,
    report: &Report,
    from: Stored,
) -> Result<Assessment, ApiError> {
    let count = |sev: Severity| report.findings.iter().filter(|f| f.severity == sev).count() as i64;
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let assessment = Assessment {
        id: db::new_id("asm"),
        account_id: from.account_id,
        env: from.env,
        config_file: from.config_file,
        created_by: from.created_by,
        created_at: now_ms(),
        report: report.to_json(),
    };
    let db = db::db(env)?;
    db::run(worker::query!(
        &db,
        "INSERT INTO assessments (id, team_id, account_id, env, config_file, ready, errors, warnings, report, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        &assessment.id,
        &team_id,
        &assessment.account_id,
        &assessment.env,
        &assessment.config_file,
        &i64::from(report.ready),
        &errors,
        &warnings,
        &assessment.report.to_string(),
        &assessment.created_by,
        &assessment.created_at
    ))
    .await?;
    Ok(assessment)
}

/// `GET /api/v1/assessments/{id}`: a stored assessment of the caller's team.
#[worker::send]
async fn get_assessment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Assessment>, ApiError> {
    caller.require(Role::Viewer)?;
    let db = db::db(&state.env)?;
    let row = db::first::<AssessmentRow>(worker::query!(
        &db,
        "SELECT id, account_id, env, config_file, created_by, created_at, report FROM assessments WHERE id = ?1 AND team_id = ?2",
        &id,
        &caller.team_id
    ))
    .await?
    .ok_or_else(|| db::not_found("assessment", &id))?;
    Ok(Json(row.into_contract()?))
}
