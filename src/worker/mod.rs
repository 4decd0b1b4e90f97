//! The Worker: the `fetch` entry point, the axum router and the readiness checks.
//!
//! Compiled for wasm32 only. Handlers stay thin: they read bindings from `Env`, call the pure
//! core and map failures to `ApiError` once.

mod audit;
pub mod auth;
mod cors;
mod db;
mod deployments;
mod durable;
mod idempotency;
mod locks;
mod routes;
mod teams;

use axum::body::Body;
use axum::response::IntoResponse;
use worker::{event, Context, Env, HttpRequest};

use crate::api::{ApiError, MAX_BODY_BYTES};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(
    req: HttpRequest,
    env: Env,
    _ctx: Context,
) -> worker::Result<axum::http::Response<Body>> {
    // Refuse a declared-oversized body before routing so no handler ever buffers it; bodies
    // without a length are capped by `JsonBody` while they are read.
    let cors = cors::allowed_origin(&req, &env);
    if req.method() == axum::http::Method::OPTIONS {
        return Ok(cors::preflight(cors.as_deref()));
    }
    let response = if declared_length(&req).is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        ApiError::payload_too_large(MAX_BODY_BYTES).into_response()
    } else {
        idempotency::serve(req, env).await?
    };
    Ok(cors::decorate(response, cors.as_deref()))
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
