//! `Idempotency-Key` on POSTs: the first successful answer for a (team, key) is stored in D1
//! and replayed verbatim for a retry, so a client that lost a response can retry without
//! creating a second deployment. Runs around the router, before any handler.
//!
//! Two retries racing while the first is still running both execute; the first stored answer
//! wins (`INSERT OR IGNORE`). A key reused for another method, path or body is a 409.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tower_service::Service;
use worker::{Env, HttpRequest};

use super::db::{self, now_ms};
use super::routes;
use crate::api::{ApiError, ErrorCode, MAX_BODY_BYTES};
use crate::control::token;

const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 200;

#[derive(Deserialize)]
struct Stored {
    method: String,
    path: String,
    request_hash: String,
    status: i64,
    body: String,
}

#[derive(Deserialize)]
struct TeamOf {
    team_id: String,
}

fn json_response(status: u16, body: String) -> axum::http::Response<Body> {
    let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Routes the request, applying idempotency when it is a POST with a key and a known token.
pub async fn serve(req: HttpRequest, env: Env) -> worker::Result<axum::http::Response<Body>> {
    let key = (req.method() == Method::POST)
        .then(|| req.headers().get(HEADER))
        .flatten()
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let Some(key) = key else {
        return routes::router(env).call(req).await.map_err(Into::into);
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Ok(ApiError::new(
            ErrorCode::BadRequest,
            format!("Idempotency-Key must be 1-{MAX_KEY_LEN} characters"),
        )
        .into_response());
    }
    // The key is scoped to the token's team; an unknown token goes on to the handler, which
    // answers 401 as it would without the header.
    let team = match super::auth::bearer(req.headers()) {
        Some(presented) if token::well_formed(presented) => {
            let db = db::db(&env).map_err(|e| worker::Error::RustError(e.message))?;
            db::first::<TeamOf>(worker::query!(
                &db,
                "SELECT team_id FROM api_tokens WHERE secret_hash = ?1 AND revoked_at IS NULL",
                &token::hash(presented)
            ))
            .await
            .ok()
            .flatten()
        }
        _ => None,
    };
    let Some(TeamOf { team_id }) = team else {
        return routes::router(env).call(req).await.map_err(Into::into);
    };
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    // The body is read here (same limit as `JsonBody`) to fingerprint it, then handed on.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return Ok(ApiError::payload_too_large(MAX_BODY_BYTES).into_response()),
    };
    let request_hash = token::hex_lower(&Sha256::digest(&bytes));
    let req = axum::http::Request::from_parts(parts, Body::from(bytes));
    let db = match db::db(&env) {
        Ok(db) => db,
        Err(e) => return Ok(e.into_response()),
    };
    let stored = db::first::<Stored>(worker::query!(
        &db,
        "SELECT method, path, request_hash, status, body FROM idempotency_keys WHERE team_id = ?1 AND key = ?2",
        &team_id,
        &key
    ))
    .await;
    match stored {
        Ok(Some(s)) if s.method == method && s.path == path && s.request_hash == request_hash => {
            let mut resp = json_response(u16::try_from(s.status).unwrap_or(200), s.body);
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
        Ok(Some(s)) => {
            let what = if s.method == method && s.path == path {
                "another request body".to_owned()
            } else {
                format!("{} {}", s.method, s.path)
            };
            return Ok(ApiError::new(
                ErrorCode::Conflict,
                format!("this Idempotency-Key was already used for {what}"),
            )
            .with_hint("use a new key for each distinct request")
            .into_response());
        }
        Ok(None) => {}
        Err(e) => return Ok(e.into_response()),
    }
    let resp = routes::router(env).call(req).await?;
    if !resp.status().is_success() {
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => return Ok(ApiError::internal(format!("buffering response: {e}")).into_response()),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = i64::from(parts.status.as_u16());
    if let Err(e) = db::run(worker::query!(
        &db,
        "INSERT OR IGNORE INTO idempotency_keys (team_id, key, method, path, request_hash, status, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &team_id,
        &key,
        &method,
        &path,
        &request_hash,
        &status,
        &text,
        &now_ms()
    ))
    .await
    {
        // The work is done; failing to remember it only loses the replay, so answer anyway.
        worker::console_error!("idempotency store failed: {}", e.message);
    }
    Ok(axum::http::Response::from_parts(parts, Body::from(bytes)))
}
