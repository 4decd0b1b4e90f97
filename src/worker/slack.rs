//! The Slack app's shell: the admin routes (`/api/v1/slack`, link codes, posting an assessment
//! report) and the inbound endpoints (`POST /integrations/slack/commands` and
//! `/integrations/slack/interactions`, reached from `fetch` before the API router: they
//! authenticate by the app's signing secret, not a token). Each inbound request is verified on
//! its raw body before anything in it is read, a replay is refused, and the answer comes at
//! once: slow work (a rollback, every post to Slack) is an outbox row of kind `slack`
//! (`slack_work`). A Slack user acts only as the Clodo member it is linked to, with that
//! member's role, through the same control-plane functions as the API.

use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{D1Database, Env};

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use super::slack_commands;
use super::slack_work::{self, Job};
use super::teams::cipher;
use crate::api::contract::slack::{SlackApp, SlackLinkCode, SlackPostQueued, SlackSettings};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::{token, Role};
use crate::integrations::slack::{
    self as core, blocks, Click, SlashCommand, COMMANDS_PATH, INTERACTIONS_PATH,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/slack",
            get(get_app).put(put_app).delete(delete_app),
        )
        .route("/api/v1/slack/link-codes", post(new_link_code))
        .route(
            "/api/v1/assessments/{assessment_id}/slack",
            post(post_report),
        )
}

/// The team's app as D1 stores it (secrets still encrypted).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct AppRow {
    pub team_id: String,
    pub signing_secret_ciphertext: String,
    pub bot_token_ciphertext: String,
    pub api_base_url: String,
    pub channel: Option<String>,
    pub updated_by: String,
    pub updated_at: i64,
}

const SELECT_APP: &str = "SELECT team_id, signing_secret_ciphertext, bot_token_ciphertext, api_base_url, channel, updated_by, updated_at FROM slack_apps";

pub(super) async fn app_of(db: &D1Database, team_id: &str) -> Result<Option<AppRow>, ApiError> {
    db::first::<AppRow>(worker::query!(
        db,
        &format!("{SELECT_APP} WHERE team_id = ?1"),
        &team_id
    ))
    .await
}

fn not_connected() -> ApiError {
    db::not_found("Slack app of the team", "slack")
        .with_hint("an admin connects it: `clodo slack connect --signing-secret … --bot-token …`")
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

async fn contract(db: &D1Database, row: &AppRow) -> Result<SlackApp, ApiError> {
    let linked = db::first::<Count>(worker::query!(
        db,
        "SELECT COUNT(*) AS n FROM slack_links WHERE team_id = ?1",
        &row.team_id
    ))
    .await?
    .map_or(0, |c| c.n);
    Ok(SlackApp {
        api_base_url: row.api_base_url.clone(),
        channel: row.channel.clone(),
        commands_path: COMMANDS_PATH.to_owned(),
        interactions_path: INTERACTIONS_PATH.to_owned(),
        linked_users: linked,
        updated_by: row.updated_by.clone(),
        updated_at: row.updated_at,
    })
}

/// `GET /api/v1/slack`
#[worker::send]
async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SlackApp>, ApiError> {
    caller.require(Role::Viewer)?;
    let db = db::db(&state.env)?;
    let row = app_of(&db, &caller.team_id)
        .await?
        .ok_or_else(not_connected)?;
    Ok(Json(contract(&db, &row).await?))
}

/// `PUT /api/v1/slack`: both secrets encrypted with the team id as associated data; audited
/// without them.
#[worker::send]
async fn put_app(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<SlackSettings>,
) -> Result<Json<SlackApp>, ApiError> {
    caller.require(Role::Admin)?;
    let api_base_url = match &body.api_base_url {
        Some(url) => crate::integrations::api_base_url(url).ok_or_else(|| {
            bad_request("`api_base_url` must be an http(s) URL such as https://slack.com/api")
        })?,
        None => core::DEFAULT_API_BASE_URL.to_owned(),
    };
    let printable = |s: &str, max: usize| {
        s.len() <= max && !s.is_empty() && s.bytes().all(|b| (b'!'..=b'~').contains(&b))
    };
    if !printable(&body.signing_secret, 256)
        || body.signing_secret.len() < 16
        || !printable(&body.bot_token, 512)
        || body.bot_token.len() < 8
    {
        return Err(bad_request(
            "signing_secret (16-256) and bot_token (8-512) are visible ASCII without spaces",
        ));
    }
    if body.channel.as_ref().is_some_and(|c| {
        c.is_empty()
            || c.len() > 80
            || !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }) {
        return Err(bad_request(
            "channel: a Slack channel id such as C0123456789",
        ));
    }
    let db = db::db(&state.env)?;
    let cipher = cipher(&state.env)?;
    let secret = cipher
        .encrypt(&caller.team_id, &body.signing_secret)
        .map_err(ApiError::internal)?;
    let bot = cipher
        .encrypt(&caller.team_id, &body.bot_token)
        .map_err(ApiError::internal)?;
    let row = AppRow {
        team_id: caller.team_id.clone(),
        signing_secret_ciphertext: secret,
        bot_token_ciphertext: bot,
        api_base_url,
        channel: body.channel.clone(),
        updated_by: caller.actor.clone(),
        updated_at: now_ms(),
    };
    let upsert = worker::query!(
        &db,
        "INSERT INTO slack_apps (team_id, signing_secret_ciphertext, bot_token_ciphertext, api_base_url, channel, updated_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (team_id) DO UPDATE SET signing_secret_ciphertext = excluded.signing_secret_ciphertext,
           bot_token_ciphertext = excluded.bot_token_ciphertext, api_base_url = excluded.api_base_url,
           channel = excluded.channel, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        &row.team_id,
        &row.signing_secret_ciphertext,
        &row.bot_token_ciphertext,
        &row.api_base_url,
        &row.channel,
        &row.updated_by,
        &row.updated_at
    );
    let entry = Audit::created(
        "slack.connect",
        ("team", &caller.team_id),
        json!({ "api_base_url": row.api_base_url, "channel": row.channel }),
    );
    caller.commit(&db, upsert, entry).await?;
    Ok(Json(contract(&db, &row).await?))
}

/// `DELETE /api/v1/slack`: commands and clicks are refused from then on; links are kept.
#[worker::send]
async fn delete_app(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let sql = "DELETE FROM slack_apps WHERE team_id = ?1";
    if !caller
        .remove_team_setting(&state.env, sql, "slack.disconnect")
        .await?
    {
        return Err(not_connected());
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn code_hash(code: &str) -> String {
    token::hex_lower(&Sha256::digest(code.trim().to_ascii_lowercase().as_bytes()))
}

/// `POST /api/v1/slack/link-codes`: a one-time code for the calling member (a member's token:
/// a bare team token is no person to link).
#[worker::send]
async fn new_link_code(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<SlackLinkCode>), ApiError> {
    caller.require(Role::Viewer)?;
    let member_id = caller.member_id.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Forbidden,
            "only a member's token links a Slack user: this token belongs to no member",
        )
        .with_hint(
            "log in with a token created for your member (POST /api/v1/tokens with member_email)",
        )
    })?;
    let db = db::db(&state.env)?;
    app_of(&db, &caller.team_id)
        .await?
        .ok_or_else(not_connected)?;
    let bytes = crate::control::random_bytes::<6>().map_err(ApiError::internal)?;
    let code = token::hex_lower(&bytes);
    let expires_at = now_ms() + core::LINK_CODE_TTL_MS;
    let insert = worker::query!(
        &db,
        "INSERT INTO slack_link_codes (code_hash, team_id, member_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
        &code_hash(&code),
        &caller.team_id,
        &member_id,
        &expires_at
    );
    let entry = Audit::created(
        "slack.link_code",
        ("member", &member_id),
        json!({ "expires_at": expires_at }),
    );
    caller.commit(&db, insert, entry).await?;
    Ok((
        StatusCode::CREATED,
        Json(SlackLinkCode {
            command: format!("/clodo link {code}"),
            code,
            expires_at,
        }),
    ))
}

/// `POST /api/v1/assessments/{assessment_id}/slack`: queues the report for the app's channel.
#[worker::send]
async fn post_report(
    State(state): State<AppState>,
    caller: Caller,
    Path(assessment_id): Path<String>,
) -> Result<(StatusCode, Json<SlackPostQueued>), ApiError> {
    caller.require(Role::Deployer)?;
    let db = db::db(&state.env)?;
    let found = db::first::<Count>(worker::query!(
        &db,
        "SELECT COUNT(*) AS n FROM assessments WHERE id = ?1 AND team_id = ?2",
        &assessment_id,
        &caller.team_id
    ))
    .await?
    .is_some_and(|c| c.n > 0);
    if !found {
        return Err(db::not_found("assessment", &assessment_id));
    }
    let app = app_of(&db, &caller.team_id)
        .await?
        .ok_or_else(not_connected)?;
    let channel = app.channel.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            "the Slack app has no channel to post to",
        )
        .with_hint("`clodo slack connect … --channel C0123456789`")
    })?;
    let key = format!("slk_rpt_{}", db::new_id("p"));
    let job = Job::Report {
        assessment_id: assessment_id.clone(),
    };
    let entry = Audit::created(
        "slack.post_report",
        ("assessment", &assessment_id),
        json!({ "channel": channel }),
    );
    caller
        .commit(
            &db,
            slack_work::enqueue(&db, &caller.team_id, &key, &job),
            entry,
        )
        .await?;
    super::outbox::kick(&state.env).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(SlackPostQueued {
            delivery_id: key,
            channel,
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Inbound: commands and clicks.

/// One answer for every verification failure: the sender learns nothing about which part
/// failed (no app, wrong secret, tampered body, stale time, malformed header).
fn unauthorized() -> Response {
    ApiError::new(
        ErrorCode::Unauthorized,
        "the request's X-Slack-Signature does not verify",
    )
    .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The app whose signing secret verifies the request. `?team=ID` in the request URL (Slack
/// keeps it) narrows the candidates to that team's app; otherwise every connected app's secret
/// is tried. Nothing in the body is read before one verified it.
async fn verified_app(
    env: &Env,
    db: &D1Database,
    team_hint: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<AppRow>, ApiError> {
    let candidates = match team_hint {
        Some(team) => app_of(db, team).await?.into_iter().collect(),
        None => {
            db::all::<AppRow>(Ok(
                db.prepare(format!("{SELECT_APP} ORDER BY updated_at LIMIT 100"))
            ))
            .await?
        }
    };
    let cipher = cipher(env)?;
    let now_secs = now_ms() / 1000;
    let timestamp = header(headers, "x-slack-request-timestamp");
    let signature = header(headers, "x-slack-signature");
    for row in candidates {
        let secret = match cipher.decrypt(&row.team_id, &row.signing_secret_ciphertext) {
            Ok(s) => s,
            Err(e) => {
                worker::console_error!("Slack signing secret of team {}: {e}", row.team_id);
                continue;
            }
        };
        if core::verify(&secret, timestamp, signature, body, now_secs).is_ok() {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// Records the verified request's signature; `false` when it was seen already (a replay inside
/// the window). Rows past the window are dropped in the same batch.
async fn first_time(db: &D1Database, team_id: &str, headers: &HeaderMap) -> Result<bool, ApiError> {
    let signature = header(headers, "x-slack-signature").unwrap_or_default();
    let now = now_ms();
    let results = db::batch(
        db,
        vec![
            worker::query!(
                db,
                "INSERT OR IGNORE INTO slack_requests (signature, team_id, received_at) VALUES (?1, ?2, ?3)",
                &signature,
                &team_id,
                &now
            ),
            worker::query!(
                db,
                "DELETE FROM slack_requests WHERE received_at < ?1",
                &(now - 2 * core::MAX_SKEW_SECS * 1000)
            ),
        ],
    )
    .await?;
    Ok(db::changes(&results, 0) > 0)
}

/// A verified, first-seen request: its app and raw body.
struct Inbound {
    app: AppRow,
    body: axum::body::Bytes,
    /// A key for the outbox rows it queues (from its signature, unique per request).
    key: String,
}

async fn accept(
    req: Request,
    env: &Env,
    path: &str,
) -> Result<Result<Inbound, Response>, ApiError> {
    if req.method() != axum::http::Method::POST {
        return Err(ApiError::method_not_allowed(req.method().as_str(), path));
    }
    let team_hint = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "team")
            .map(|(_, v)| v.into_owned())
    });
    let (parts, body) = req.into_parts();
    let body = crate::api::read_limited(axum::body::Body::new(body)).await?;
    if body.len() > core::MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(core::MAX_BODY_BYTES));
    }
    let db = db::db(env)?;
    let Some(app) = verified_app(env, &db, team_hint.as_deref(), &parts.headers, &body).await?
    else {
        return Ok(Err(unauthorized()));
    };
    if !first_time(&db, &app.team_id, &parts.headers).await? {
        let answer = blocks::ephemeral(
            "This request was already handled (a replay); nothing was done again.",
        );
        return Ok(Err((StatusCode::OK, Json(answer)).into_response()));
    }
    let signature = header(&parts.headers, "x-slack-signature").unwrap_or_default();
    let key = signature
        .trim_start_matches("v0=")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(64)
        .collect();
    Ok(Ok(Inbound { app, body, key }))
}

/// `POST /integrations/slack/commands`
pub async fn commands(req: Request, env: Env) -> Response {
    let inbound = match accept(req, &env, COMMANDS_PATH).await {
        Ok(Ok(inbound)) => inbound,
        Ok(Err(answer)) => return answer,
        Err(e) => return e.into_response(),
    };
    let command = match SlashCommand::parse(&inbound.body) {
        Ok(c) => c,
        Err(e) => return bad_request(e).into_response(),
    };
    let answer = match slack_commands::run(&env, &inbound.app, &inbound.key, &command).await {
        Ok(answer) => answer,
        Err(e) => blocks::ephemeral(&describe(&e)),
    };
    // Slack shows a non-200 as a failure without the text: refusals are answered 200.
    (StatusCode::OK, Json(answer)).into_response()
}

/// `POST /integrations/slack/interactions`
pub async fn interactions(req: Request, env: Env) -> Response {
    let inbound = match accept(req, &env, INTERACTIONS_PATH).await {
        Ok(Ok(inbound)) => inbound,
        Ok(Err(answer)) => return answer,
        Err(e) => return e.into_response(),
    };
    let click = match Click::parse(&inbound.body) {
        Ok(c) => c,
        Err(e) => return bad_request(e).into_response(),
    };
    match slack_commands::click(&env, &inbound.app, &inbound.key, &click).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// An API error as a Slack user reads it: the message and the fix.
pub(super) fn describe(e: &ApiError) -> String {
    match &e.hint {
        Some(hint) => format!("{} ({hint})", e.message),
        None => e.message.clone(),
    }
}

/// A body for `response_url` (or `chat.update`) as JSON.
pub(super) fn respond_job(response_url: &str, body: Value) -> Job {
    Job::Respond {
        response_url: response_url.to_owned(),
        body,
    }
}
