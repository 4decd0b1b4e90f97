//! The Worker: the `fetch` entry point, the axum router and the readiness checks.
//!
//! Compiled for wasm32 only. Handlers stay thin: they read bindings from `Env`, call the pure
//! core and map failures to `ApiError` once.

mod access;
mod assessments;
mod audit;
pub mod auth;
mod cf_fetch;
mod channels;
mod compare;
mod cors;
mod credentials;
mod db;
mod deadline;
mod deliveries;
mod deployment_store;
mod deployments;
mod durable;
mod env_rollback;
mod github;
mod github_comment;
mod github_dispatch;
mod github_token;
mod github_work;
mod idempotency;
mod live;
mod lock_audit;
mod locks;
mod metrics;
mod outbox;
mod outbox_channel;
mod pages_d1;
mod people;
mod policies;
mod previews;
mod promotions;
mod rollout_io;
mod rollouts;
mod routes;
mod scheduler;
mod schedules;
mod shipped;
mod slack;
mod slack_commands;
mod slack_work;
mod summary;
mod teams;

use axum::body::Body;
use axum::extract::Request;
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

/// The every-minute cron trigger (`[triggers]` in wrangler.toml): the production safety net
/// of the `Scheduler` and `Outbox` objects' alarms. Sweeps due starts and occurrences, then
/// due outbox rows (claims in D1 keep a start from running twice and a row from being
/// attempted twice at once), then re-arms each object for its next one.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    match scheduler::sweep(&env).await {
        Ok(Some(next)) => schedules::arm(&env, next).await,
        Ok(None) => {}
        Err(e) => worker::console_error!("cron sweep: {}", e.message),
    }
    // Last week's summary, once (its outbox key), before the sweep that sends it.
    if let Err(e) = summary::enqueue_due(&env).await {
        worker::console_error!("cron weekly summary: {}", e.message);
    }
    match outbox::sweep(&env).await {
        Ok(Some(next)) => {
            if let Err(e) = durable::outbox_object::arm(&env, next).await {
                worker::console_error!("arming the outbox for {next}: {}", e.message);
            }
        }
        Ok(None) => {}
        Err(e) => worker::console_error!("cron outbox sweep: {}", e.message),
    }
}

#[event(fetch)]
async fn fetch(
    req: HttpRequest,
    env: Env,
    ctx: Context,
) -> worker::Result<axum::http::Response<Body>> {
    // Refuse a declared-oversized body before routing so no handler ever buffers it; bodies
    // without a length are capped by `JsonBody` while they are read.
    let cors = cors::allowed_origin(&req, &env);
    if req.method() == axum::http::Method::OPTIONS {
        // Like every answer, only once the body (if any) is read; see `read_whole_body`.
        if declared_length(&req).is_some_and(|n| n <= DRAIN_LIMIT_BYTES) {
            discard(Body::new(req.into_body())).await;
        }
        return Ok(cors::preflight(cors.as_deref()));
    }
    let response = if let Some(len) = declared_length(&req).filter(|&n| n > MAX_BODY_BYTES as u64) {
        if len <= DRAIN_LIMIT_BYTES {
            discard(Body::new(req.into_body())).await;
        }
        ApiError::payload_too_large(MAX_BODY_BYTES).into_response()
    } else {
        match read_whole_body(req).await {
            // Inbound webhooks authenticate by signature, not token: served outside the API
            // router (and its OpenAPI document).
            Ok(req) if req.uri().path() == crate::integrations::github::WEBHOOK_PATH => {
                github::webhook(req, env).await
            }
            Ok(req) if req.uri().path() == crate::integrations::slack::COMMANDS_PATH => {
                slack::commands(req, env).await
            }
            Ok(req) if req.uri().path() == crate::integrations::slack::INTERACTIONS_PATH => {
                slack::interactions(req, env).await
            }
            Ok(req) => idempotency::serve(req, env, &ctx).await?,
            Err(refused) => refused.into_response(),
        }
    };
    Ok(cors::decorate(response, cors.as_deref()))
}

/// Reads the request body completely before routing and hands the handlers a copy.
///
/// An answer sent while the body was still unread (a 405 or 404 from the router, a 401 or
/// 415 from an extractor that runs before the body's) made workerd drop the connection, so
/// wrangler dev's proxy answered 503 "Your worker restarted mid-request" for a POST or PUT
/// (and holds a GET that fails that way for a restart that never comes: a 600 s `/readyz`).
/// Bodies are at most `MAX_BODY_BYTES` (`JsonBody` buffers them anyway). The handlers get
/// the bytes in memory, not a new JS stream: reading the body through a second stream cost
/// a JS round trip per chunk on every request.
async fn read_whole_body(req: HttpRequest) -> Result<Request, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = crate::api::read_limited(Body::new(body)).await?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
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
