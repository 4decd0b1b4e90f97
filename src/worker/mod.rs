//! The Worker: the `fetch` entry point, the axum router and the readiness checks.
//!
//! Compiled for wasm32 only. Handlers stay thin: they read bindings from `Env`, call the pure
//! core and map failures to `ApiError` once.

mod assessments;
mod audit;
pub mod auth;
mod cf_fetch;
mod cors;
mod db;
mod deadline;
mod deployments;
mod durable;
mod idempotency;
mod locks;
mod rollout_io;
mod rollouts;
mod routes;
mod teams;

use axum::body::Body;
use axum::response::IntoResponse;
use worker::{event, Context, Env, HttpRequest};

use crate::api::{ApiError, MAX_BODY_BYTES};

#[event(start)]
fn start() {
    // A panic aborts the wasm instance (the runtime reinitialises it for the next request),
    // so its message is the only trace of what went wrong: log it, with where it happened,
    // as one line the Worker's log search finds. The default hook then adds the stack.
    console_error_panic_hook::set_once();
    let stack_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        worker::console_error!("{}", crate::api::panic_line(info));
        stack_hook(info);
    }));
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
    let response = if let Some(len) = declared_length(&req).filter(|&n| n > MAX_BODY_BYTES as u64) {
        if len <= DRAIN_LIMIT_BYTES {
            discard(Body::new(req.into_body())).await;
        }
        ApiError::payload_too_large(MAX_BODY_BYTES).into_response()
    } else {
        idempotency::serve(req, env).await?
    };
    Ok(cors::decorate(response, cors.as_deref()))
}

/// Answering while a client is still uploading makes many clients (and wrangler dev's proxy)
/// see a reset instead of the 413's JSON, so a modestly oversized upload is read and dropped
/// chunk by chunk first, never buffered; a larger one is answered at once.
const DRAIN_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

async fn discard(body: Body) {
    use futures::StreamExt;
    let mut chunks = body.into_data_stream();
    while let Some(Ok(_)) = chunks.next().await {}
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
