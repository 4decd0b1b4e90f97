//! Cloudflare Access sign-in's shell: the admin routes (`/api/v1/access`), the team's signing
//! keys (fetched from `<team domain>/cdn-cgi/access/certs`, cached in the isolate for at most
//! ten minutes, fetched again for an unknown `kid` at most every 5 s) and `authenticate`, which
//! turns a verified `Cf-Access-Jwt-Assertion` into the `Caller` of the member with its email.
//! The checks themselves are the pure `control::access`. Members are never created from a
//! token: an email that is no member of the team is refused.

use std::cell::RefCell;
use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Fetch, Method, Request, RequestInit};

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::deadline;
use super::routes::AppState;
use crate::api::contract::access::{AccessApplication, AccessSettings};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::access::{self as core, AccessApp, AccessRefusal, SigningKey};
use crate::control::Role;

/// The header Access adds to every request it lets through to the origin.
pub const ASSERTION_HEADER: &str = "cf-access-jwt-assertion";

/// How long fetching the signing keys may take.
const CERTS_FETCH_MS: u64 = 5_000;
/// Certificate documents are a few KiB.
const MAX_CERTS_BYTES: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/access",
        get(get_app).put(put_app).delete(delete_app),
    )
}

#[derive(Debug, Clone, Deserialize)]
struct AppRow {
    team_id: String,
    team_domain: String,
    audience: String,
    updated_by: String,
    updated_at: i64,
}

impl AppRow {
    fn app(&self) -> AccessApp {
        AccessApp {
            team_domain: self.team_domain.clone(),
            audience: self.audience.clone(),
        }
    }

    fn contract(&self) -> AccessApplication {
        AccessApplication {
            team_domain: self.team_domain.clone(),
            audience: self.audience.clone(),
            certs_url: self.app().certs_url(),
            updated_by: self.updated_by.clone(),
            updated_at: self.updated_at,
        }
    }
}

const SELECT_APP: &str =
    "SELECT team_id, team_domain, audience, updated_by, updated_at FROM access_apps";

fn not_configured() -> ApiError {
    db::not_found("Cloudflare Access application of the team", "access").with_hint(
        "an admin sets it: PUT /api/v1/access {\"team_domain\":\"https://<team>.cloudflareaccess.com\",\"audience\":\"<AUD tag>\"}",
    )
}

/// `GET /api/v1/access`
#[worker::send]
async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccessApplication>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let row = db::first::<AppRow>(worker::query!(
        &db,
        &format!("{SELECT_APP} WHERE team_id = ?1"),
        &caller.team_id
    ))
    .await?
    .ok_or_else(not_configured)?;
    Ok(Json(row.contract()))
}

/// `PUT /api/v1/access`: the audience tag names one application, so it belongs to one team.
#[worker::send]
async fn put_app(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AccessSettings>,
) -> Result<Json<AccessApplication>, ApiError> {
    caller.require(Role::Admin)?;
    let team_domain = core::normalize_team_domain(&body.team_domain).ok_or_else(|| {
        bad_request("`team_domain` must be https://<team>.cloudflareaccess.com (no path); plain http only on loopback")
    })?;
    if !core::valid_audience(&body.audience) {
        return Err(bad_request(
            "`audience` is the application's Audience (AUD) tag: 8-128 letters, digits, - or _",
        ));
    }
    let db = db::db(&state.env)?;
    let row = AppRow {
        team_id: caller.team_id.clone(),
        team_domain,
        audience: body.audience,
        updated_by: caller.actor.clone(),
        updated_at: now_ms(),
    };
    let taken = db::first::<AppRow>(worker::query!(
        &db,
        &format!("{SELECT_APP} WHERE audience = ?1 AND team_id <> ?2"),
        &row.audience,
        &row.team_id
    ))
    .await?;
    if taken.is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this Access audience tag is already another team's application",
        )
        .with_hint(
            "each Access application signs in to one Clodo team; create a separate application",
        ));
    }
    let upsert = worker::query!(
        &db,
        "INSERT INTO access_apps (team_id, team_domain, audience, updated_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (team_id) DO UPDATE SET team_domain = excluded.team_domain,
           audience = excluded.audience, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        &row.team_id,
        &row.team_domain,
        &row.audience,
        &row.updated_by,
        &row.updated_at
    );
    let entry = Audit::created(
        "access.configure",
        ("team", &caller.team_id),
        json!({ "team_domain": row.team_domain, "audience": row.audience }),
    );
    caller.commit(&db, upsert, entry).await?;
    Ok(Json(row.contract()))
}

/// `DELETE /api/v1/access`
#[worker::send]
async fn delete_app(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let sql = "DELETE FROM access_apps WHERE team_id = ?1";
    if !caller
        .remove_team_setting(&state.env, sql, "access.remove")
        .await?
    {
        return Err(not_configured());
    }
    Ok(StatusCode::NO_CONTENT)
}

thread_local! {
    /// Signing keys by certs URL, with when they were fetched. The isolate is single-threaded.
    static KEYS: RefCell<HashMap<String, (i64, Vec<SigningKey>)>> = RefCell::new(HashMap::new());
}

fn cached(url: &str) -> Option<(i64, Vec<SigningKey>)> {
    KEYS.with(|k| k.borrow().get(url).cloned())
}

async fn fetch_keys(url: &str) -> Result<Vec<SigningKey>, AccessRefusal> {
    let fail = |why: String| AccessRefusal::Keys(format!("{url}: {why}"));
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let request = Request::new_with_init(url, &init).map_err(|e| fail(e.to_string()))?;
    let call = async {
        let mut resp = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if resp.status_code() != 200 {
            return Err(fail(format!("answered HTTP {}", resp.status_code())));
        }
        let body = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        if body.len() > MAX_CERTS_BYTES {
            return Err(fail("the document is too large".into()));
        }
        core::parse_keys(&body)
    };
    let keys = deadline::within(CERTS_FETCH_MS, call)
        .await
        .unwrap_or_else(|| Err(fail(format!("no answer within {CERTS_FETCH_MS} ms"))))?;
    KEYS.with(|k| {
        k.borrow_mut()
            .insert(url.to_owned(), (now_ms(), keys.clone()))
    });
    Ok(keys)
}

/// Verifies `assertion` for `app`: with the cached keys while they are fresh, fetching them
/// again once for a key they do not hold.
async fn verified_email(assertion: &str, app: &AccessApp) -> Result<String, AccessRefusal> {
    let url = app.certs_url();
    let now = now_ms();
    let now_secs = now / 1000;
    let (fetched_at, keys) = match cached(&url) {
        Some((at, keys)) if core::keys_fresh(at, now) => (at, keys),
        _ => (now, fetch_keys(&url).await?),
    };
    match core::verify(assertion, app, &keys, now_secs) {
        Err(AccessRefusal::UnknownKey(_)) if core::may_refetch(fetched_at, now) => {
            core::verify(assertion, app, &fetch_keys(&url).await?, now_secs)
        }
        other => other,
    }
}

#[derive(Deserialize)]
struct MemberRow {
    id: String,
    email: String,
    role: String,
}

fn refused(refusal: &AccessRefusal) -> ApiError {
    match refusal {
        AccessRefusal::Keys(_) => ApiError::new(ErrorCode::Unavailable, refusal.to_string())
            .with_hint("check the team domain set with PUT /api/v1/access; Access publishes its keys at <team domain>/cdn-cgi/access/certs"),
        _ => ApiError::new(ErrorCode::Unauthorized, refusal.to_string())
            .with_hint("sign in through Cloudflare Access again, or send `Authorization: Bearer clodo_…`"),
    }
}

/// Who a `Cf-Access-Jwt-Assertion` signs in as: the team whose Access application the token's
/// audience names (the server's record, then checked against the signature), and that team's
/// member with the token's email, with the member's role.
pub(super) async fn authenticate(db: &D1Database, assertion: &str) -> Result<Caller, ApiError> {
    let audiences = core::claimed_audiences(assertion).map_err(|r| refused(&r))?;
    let mut row = None;
    // Access tokens name one audience; a few more are looked at, never an unbounded list.
    for audience in audiences.iter().take(4) {
        row = db::first::<AppRow>(worker::query!(
            db,
            &format!("{SELECT_APP} WHERE audience = ?1"),
            audience
        ))
        .await?;
        if row.is_some() {
            break;
        }
    }
    let row = row.ok_or_else(|| {
        ApiError::new(
            ErrorCode::Unauthorized,
            "no Clodo team signs in with this Cloudflare Access application (audience tag)",
        )
        .with_hint(
            "a team admin sets it with PUT /api/v1/access, or send `Authorization: Bearer clodo_…`",
        )
    })?;
    let email = verified_email(assertion, &row.app())
        .await
        .map_err(|r| refused(&r))?;
    let member = db::first::<MemberRow>(worker::query!(
        db,
        "SELECT id, email, role FROM members WHERE team_id = ?1 AND lower(email) = ?2",
        &row.team_id,
        &email
    ))
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::Forbidden,
            format!("{email} signed in through Cloudflare Access but is not a member of this Clodo team"),
        )
        .with_hint("a team admin adds the member: POST /api/v1/members {\"email\": …, \"role\": …}")
    })?;
    let role: Role = member.role.parse().map_err(ApiError::internal)?;
    Ok(Caller {
        team_id: row.team_id,
        token_id: format!("access:{}", member.id),
        actor: format!("member:{}", member.email),
        role,
        member_id: Some(member.id),
        accountable_email: Some(member.email.to_lowercase()),
    })
}
