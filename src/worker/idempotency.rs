//! `Idempotency-Key` on POSTs: the first successful answer for a (token, key) is stored in D1
//! and replayed for a retry, so a client that lost a response can retry without creating a
//! second deployment. Runs around the router, before any handler; the decisions are
//! `control::idempotency`'s.
//!
//! Order matters: nothing stored is read, and nothing answered from storage, before the token
//! is authenticated (known, not revoked, not expired), so a replay never answers a caller the
//! handler would refuse. For a bearer token the check and the claim are one D1 round trip: the
//! claim selects the token's id in SQL under the same conditions, so it is written for a
//! usable token only. Keys are scoped to the token (a token's role never changes, so its role
//! checks cannot differ between the first request and the replay). The key is claimed with a
//! `pending` row before the handler runs: of two requests racing with one key, one runs and the
//! other waits up to a second for its answer, then gets 409. The answer is stored after it was
//! sent (`Context::wait_until`), off the answer's path.
//! A request whose answer carried a secret (a new API token) is stored without it, and its
//! replay is refused with an explanation. Bootstrap and team creation authenticate with the
//! operator secret, not a token: they never store answers (their own conflicts make a retry
//! harmless).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_service::Service;
use worker::{D1Database, Env};

use super::auth;
use super::db::{self, now_ms};
use super::routes;
use crate::api::{ApiError, ErrorCode, MAX_BODY_BYTES};
use crate::control::idempotency::{
    self as rules, Decision, Record, StoredAnswer, MAX_KEY_LEN, TTL_MS,
};
use crate::control::token;

const HEADER: &str = "idempotency-key";

#[derive(Deserialize)]
struct Row {
    method: String,
    path: String,
    request_hash: String,
    state: String,
    status: Option<i64>,
    body: Option<String>,
    secret_withheld: i64,
    created_at: i64,
    claimed_at: i64,
}

impl Row {
    fn record(self) -> Record {
        let answer = (self.state == "done").then(|| StoredAnswer {
            status: self
                .status
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(200),
            body: self.body.unwrap_or_default(),
            secret_withheld: self.secret_withheld != 0,
        });
        Record {
            method: self.method,
            path: self.path,
            request_hash: self.request_hash,
            answer,
            created_at: self.created_at,
            claimed_at: self.claimed_at,
        }
    }
}

fn json_response(status: u16, body: String) -> axum::http::Response<Body> {
    let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

async fn route(req: Request, env: Env) -> worker::Result<axum::http::Response<Body>> {
    routes::router(env).call(req).await.map_err(Into::into)
}

/// Routes the request, applying idempotency when it is a POST with a key and a valid token.
/// `ctx` keeps the Worker alive while the answer is stored after it was sent.
pub async fn serve(
    req: Request,
    env: Env,
    ctx: &worker::Context,
) -> worker::Result<axum::http::Response<Body>> {
    let key = (req.method() == Method::POST)
        .then(|| req.headers().get(HEADER))
        .flatten()
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let Some(key) = key else {
        return route(req, env).await;
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Ok(ApiError::new(
            ErrorCode::BadRequest,
            format!("Idempotency-Key must be 1-{MAX_KEY_LEN} characters"),
        )
        .into_response());
    }
    // Only a valid token has keys. Anything else goes on to the handler, which answers as it
    // would without the header (401 for a bad token; the operator secret for bootstrap).
    let presented = auth::Credential::of(req.headers()).filter(|c| match c {
        auth::Credential::Bearer(p) => token::well_formed(p),
        auth::Credential::Access(_) => true,
    });
    let Some(presented) = presented else {
        return route(req, env).await;
    };
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    // The body is read here (same limit as `JsonBody`) to fingerprint it, then handed on.
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return Ok(ApiError::payload_too_large(MAX_BODY_BYTES).into_response()),
    };
    let request_hash = token::hex_lower(&Sha256::digest(&bytes));
    let db = match db::db(&env) {
        Ok(db) => db,
        Err(e) => return Ok(e.into_response()),
    };
    let now = now_ms();
    let request = Keyed {
        key,
        method,
        path,
        request_hash,
    };
    let signed_in = match &presented {
        // A failed batch is answered as the error it is: whether this key already ran could
        // not be read, so the request must not run as if it carried no key.
        auth::Credential::Bearer(bearer) => {
            match authenticate_and_claim(&db, bearer, &request, now).await {
                Ok(signed_in) => signed_in,
                Err(storage) => return Ok(storage.into_response()),
            }
        }
        auth::Credential::Access(_) => presented
            .authenticate(&env)
            .await
            .map(|caller| (caller, None)),
    };
    let (caller, claimed) = match signed_in {
        Ok(signed_in) => signed_in,
        // Not a caller with keys: the handler refuses it as it would without the header.
        Err(_) => {
            let req = axum::http::Request::from_parts(parts, Body::from(bytes));
            return route(req, env).await;
        }
    };
    // The handler's `Caller` extractor takes this one instead of authenticating again.
    parts.extensions.insert(caller.clone());
    let req = axum::http::Request::from_parts(parts, Body::from(bytes));
    let fingerprint = Fingerprint {
        token_id: caller.token_id.clone(),
        request,
    };
    let claim = match claimed {
        Some(true) => Ok(Claimed::Run { claimed_at: now }),
        Some(false) => claim(&db, &fingerprint, Next::Read).await,
        None => claim(&db, &fingerprint, Next::Insert).await,
    };
    match claim {
        Ok(Claimed::Run { claimed_at }) => run(req, env, db, ctx, fingerprint, claimed_at).await,
        Ok(Claimed::Answer(resp)) => Ok(resp),
        Err(e) => Ok(e.into_response()),
    }
}

/// What a keyed request is: its key, route and body's hash.
struct Keyed {
    key: String,
    method: String,
    path: String,
    request_hash: String,
}

/// A bearer token checked and its key claimed in one D1 round trip: the claim selects the
/// token's id in SQL, for a usable token only (`auth::USABLE_TOKEN_SQL`), so it is written
/// for no token that `auth` refuses (a token that expires between the two checks leaves a
/// claim no request of it can use: harmless, deleted with the day-old ones). Answers the
/// caller (or why the token is refused) and whether the claim was written (`false`: the key
/// was already stored); the outer error is D1 failing.
async fn authenticate_and_claim(
    db: &D1Database,
    bearer: &str,
    a: &Keyed,
    now: i64,
) -> Result<Result<(auth::Caller, Option<bool>), ApiError>, ApiError> {
    let hash = match auth::presented_hash(bearer) {
        Ok(hash) => hash,
        Err(refused) => return Ok(Err(refused)),
    };
    let insert = format!(
        "INSERT INTO idempotency_requests (token_id, key, method, path, request_hash, state, created_at, claimed_at)
         SELECT id, ?3, ?4, ?5, ?6, 'pending', ?2, ?2 FROM api_tokens WHERE {}
         ON CONFLICT (token_id, key) DO NOTHING",
        auth::USABLE_TOKEN_SQL
    );
    let (caller, results) = auth::authenticate_batched(
        db,
        &hash,
        vec![
            clean_up_stmt(db, now),
            worker::query!(
                db,
                &insert,
                &hash,
                &now,
                &a.key,
                &a.method,
                &a.path,
                &a.request_hash
            ),
        ],
    )
    .await?;
    let claimed = db::changes(&results, 1) == 1;
    Ok(caller.map(|caller| (caller, Some(claimed))))
}

/// The opportunistic clean-up that goes with every claim: answers past their day are deleted,
/// not merely ignored (one indexed range on `created_at`).
fn clean_up_stmt(db: &D1Database, now: i64) -> worker::Result<worker::D1PreparedStatement> {
    worker::query!(
        db,
        "DELETE FROM idempotency_requests WHERE created_at < ?1",
        &(now - TTL_MS)
    )
}

/// A keyed request of a known token: what its record is stored under and compared with.
struct Fingerprint {
    token_id: String,
    request: Keyed,
}

enum Claimed {
    /// This request holds the key (claimed at that time) and runs.
    Run { claimed_at: i64 },
    /// Answered from the record (replay or refusal).
    Answer(axum::http::Response<Body>),
}

/// The next step of claiming a key.
#[derive(Clone, Copy)]
enum Next {
    /// Write the claim (the key may be free).
    Insert,
    /// Read what is stored for the key (it was taken).
    Read,
}

/// Claims the key for this request, or says what it gets instead, starting at `next`.
async fn claim(db: &D1Database, f: &Fingerprint, mut next: Next) -> Result<Claimed, ApiError> {
    let first_seen = now_ms();
    // Bounded: a claim written or taken over, an answer or a refusal ends it; the rest are at
    // most two fresh claims (after an expired or freed record) and the polls of a pending one.
    let polls = rules::ANSWER_WAIT_MS / rules::ANSWER_POLL_MS;
    for _ in 0..polls + 4 {
        let now = now_ms();
        if let Next::Insert = next {
            let results = db::batch(
                db,
                vec![
                    clean_up_stmt(db, now),
                    worker::query!(
                        db,
                        "INSERT INTO idempotency_requests (token_id, key, method, path, request_hash, state, created_at, claimed_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6) ON CONFLICT (token_id, key) DO NOTHING",
                        &f.token_id,
                        &f.request.key,
                        &f.request.method,
                        &f.request.path,
                        &f.request.request_hash,
                        &now
                    ),
                ],
            )
            .await?;
            if db::changes(&results, 1) == 1 {
                return Ok(Claimed::Run { claimed_at: now });
            }
        }
        let Some(row) = db::first::<Row>(worker::query!(
            db,
            "SELECT method, path, request_hash, state, status, body, secret_withheld, created_at, claimed_at
             FROM idempotency_requests WHERE token_id = ?1 AND key = ?2",
            &f.token_id,
            &f.request.key
        ))
        .await?
        else {
            // Freed since (its request failed): claim again.
            next = Next::Insert;
            continue;
        };
        let record = row.record();
        match rules::decide(
            &record,
            &f.request.method,
            &f.request.path,
            &f.request.request_hash,
            now,
        ) {
            Decision::Expired => {
                db::run(worker::query!(
                    db,
                    "DELETE FROM idempotency_requests WHERE token_id = ?1 AND key = ?2 AND created_at = ?3",
                    &f.token_id,
                    &f.request.key,
                    &record.created_at
                ))
                .await?;
                next = Next::Insert;
            }
            Decision::Replay(answer) => {
                let mut resp = json_response(answer.status, answer.body);
                resp.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                return Ok(Claimed::Answer(resp));
            }
            Decision::SecretShownOnce(answer) => {
                let ids = rules::created_ids(&answer.body);
                let made = if ids.is_empty() {
                    String::new()
                } else {
                    format!(" It created {}.", ids.join(", "))
                };
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "the first request with this Idempotency-Key succeeded, and its answer held a secret, which is shown once and never stored, so it cannot be replayed.{made}"
                    ),
                )
                .with_hint(
                    "if the secret was lost, revoke what was created (DELETE /api/v1/tokens/{id}) and create a new one with a new Idempotency-Key",
                ));
            }
            Decision::KeyReused { what } => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("this Idempotency-Key was already used for {what}"),
                )
                .with_hint("use a new key for each distinct request"));
            }
            Decision::InProgress if now - first_seen < rules::ANSWER_WAIT_MS => {
                // Its answer may be on its way to storage (see `run`): look again shortly.
                let poll = u64::try_from(rules::ANSWER_POLL_MS).unwrap_or(100);
                worker::Delay::from(std::time::Duration::from_millis(poll)).await;
                next = Next::Read;
            }
            Decision::InProgress => {
                let mut resp = ApiError::new(
                    ErrorCode::Conflict,
                    "a request with this Idempotency-Key is still being processed",
                )
                .with_hint("retry in a few seconds: you will get its answer")
                .into_response();
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("2"));
                return Ok(Claimed::Answer(resp));
            }
            Decision::TakeOver => {
                let taken = db::run(worker::query!(
                    db,
                    "UPDATE idempotency_requests SET claimed_at = ?3
                     WHERE token_id = ?1 AND key = ?2 AND state = 'pending' AND claimed_at = ?4",
                    &f.token_id,
                    &f.request.key,
                    &now,
                    &record.claimed_at
                ))
                .await?;
                if taken == 1 {
                    return Ok(Claimed::Run { claimed_at: now });
                }
                // Another retry took it over first; it is now the one in progress.
                next = Next::Read;
            }
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        "a request with this Idempotency-Key is being processed",
    )
    .with_hint("retry in a few seconds"))
}

/// Runs the request that holds the claim, answers, and then (kept alive by `ctx`, off the
/// answer's path: one D1 round trip less per keyed request) stores a success (without
/// secrets) as the key's answer, or frees the key after a failure so a retry can run. A
/// repeat that arrives in between finds the claim pending and waits for it (`claim`).
async fn run(
    req: axum::http::Request<Body>,
    env: Env,
    db: D1Database,
    ctx: &worker::Context,
    f: Fingerprint,
    claimed_at: i64,
) -> worker::Result<axum::http::Response<Body>> {
    // The router's error type is `Infallible`: every failure is an answer, handled below.
    let resp = routes::router(env).call(req).await?;
    if !resp.status().is_success() {
        ctx.wait_until(async move { release_claim(&db, &f, claimed_at).await });
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return Ok(ApiError::internal(format!("buffering response: {e}")).into_response()),
    };
    let (stored, withheld) = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(mut value) => {
            let withheld = rules::redact_secrets(&mut value);
            // Byte for byte unless a secret was taken out: a replay is the first answer, the
            // order of a typed answer's fields included.
            let stored = if withheld {
                value.to_string()
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            (stored, withheld)
        }
        Err(_) => (String::from_utf8_lossy(&bytes).into_owned(), false),
    };
    let status = i64::from(parts.status.as_u16());
    ctx.wait_until(async move {
        let withheld = i64::from(withheld);
        if let Err(e) = db::run(worker::query!(
            &db,
            "UPDATE idempotency_requests SET state = 'done', status = ?3, body = ?4, secret_withheld = ?5
             WHERE token_id = ?1 AND key = ?2 AND claimed_at = ?6",
            &f.token_id,
            &f.request.key,
            &status,
            &stored,
            &withheld,
            &claimed_at
        ))
        .await
        {
            // The work is done; failing to remember it only loses the replay.
            worker::console_error!("idempotency store failed: {}", e.message);
        }
    });
    Ok(axum::http::Response::from_parts(parts, Body::from(bytes)))
}

/// Frees a claim whose request did not succeed: nothing was done, so a retry may run.
async fn release_claim(db: &D1Database, f: &Fingerprint, claimed_at: i64) {
    if let Err(e) = db::run(worker::query!(
        db,
        "DELETE FROM idempotency_requests WHERE token_id = ?1 AND key = ?2 AND state = 'pending' AND claimed_at = ?3",
        &f.token_id,
        &f.request.key,
        &claimed_at
    ))
    .await
    {
        // Left pending, the key frees itself after `TAKEOVER_MS`.
        worker::console_error!("idempotency release failed: {}", e.message);
    }
}
