//! The axum routes of the team API and the liveness/readiness endpoints.

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use worker::Env;

use super::{deadline, durable};
use crate::api::contract::meta::{Check, Health, HealthStatus, ReadinessChecks, ReadyState};
use crate::api::{ApiError, VersionInfo};

/// Everything a handler needs; `Env` is cheap to clone and is `Send + Sync` in workers-rs.
#[derive(Clone)]
pub struct AppState {
    pub env: Env,
}

/// The D1 binding name in `wrangler.toml`.
const DB_BINDING: &str = "DB";

/// The API router for one request, holding its `Env`.
///
/// The routes are built once per isolate and kept: building them (about a hundred matchit
/// insertions and two dozen merges) was 15% of the Worker isolate's busy CPU on the lock
/// path (docs/performance.md, "Where a lock request's time goes"). Only the state is bound per
/// request, so nothing assumes two requests share an `Env`.
pub fn router(env: Env) -> Router {
    thread_local! {
        static ROUTES: Router<AppState> = routes();
    }
    ROUTES.with(Router::clone).with_state(AppState { env })
}

fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/version", get(version))
        // The control plane (issue 5): each file owns its routes, listed in api::openapi.
        .merge(super::people::routes())
        .merge(super::teams::routes())
        .merge(super::policies::routes())
        .merge(super::credentials::routes())
        .merge(super::deployments::routes())
        .merge(super::locks::routes())
        .merge(super::audit::routes())
        .merge(super::assessments::routes())
        .merge(super::rollouts::routes())
        .merge(super::promotions::routes())
        .merge(super::pages_d1::routes())
        .merge(super::schedules::routes())
        .merge(super::metrics::routes())
        .merge(super::previews::routes())
        .merge(super::github::routes())
        .merge(super::channels::routes())
        .merge(super::deliveries::routes())
        .merge(super::summary::routes())
        .merge(super::env_rollback::routes())
        .merge(super::shipped::routes())
        .merge(super::slack::routes())
        .merge(super::live::routes())
        .merge(super::compare::routes())
        .merge(super::access::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `GET /healthz`: the isolate is up. Touches no binding, so it stays cheap for probes.
async fn healthz() -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ok,
    })
}

/// `GET /api/v1/version`: build version, git sha and the newest applied D1 migration.
#[worker::send]
async fn version(State(state): State<AppState>) -> Result<Json<VersionInfo>, ApiError> {
    let schema = schema_version(&state.env).await?;
    Ok(Json(VersionInfo::current(schema)))
}

/// Each readiness check's own budget; they run at once, so `/readyz` answers within it
/// (a load balancer's probe typically gives up after 5 s).
const READY_CHECK_MS: u64 = 4_000;

/// `GET /readyz`: every dependency answers: D1 with an applied schema, and both Durable
/// Object classes with a storage read (a write at most every ten minutes). 503 with the
/// failing check otherwise; a check that did not answer in time is a failing check.
#[worker::send]
async fn readyz(State(state): State<AppState>) -> Response {
    let d1 = async {
        match deadline::within(READY_CHECK_MS, schema_version(&state.env)).await {
            Some(Ok(Some(schema))) => Check {
                ok: true,
                schema_version: Some(schema),
                ..Check::default()
            },
            Some(Ok(None)) => Check::failed("no migration applied; run `make migrate`"),
            Some(Err(err)) => Check::failed(err.message),
            None => Check::failed(format!("D1 did not answer within {READY_CHECK_MS} ms")),
        }
    };
    let deploy_lock = async {
        probe_check(durable::probe(&state.env, durable::DEPLOY_LOCK_BINDING, READY_CHECK_MS).await)
    };
    let rollout = async {
        probe_check(durable::probe(&state.env, durable::ROLLOUT_BINDING, READY_CHECK_MS).await)
    };
    let (d1, deploy_lock, rollout) = futures::join!(d1, deploy_lock, rollout);
    let body = ReadinessChecks {
        d1,
        deploy_lock,
        rollout,
    }
    .readiness();
    let status = match body.status {
        ReadyState::Ready => StatusCode::OK,
        ReadyState::NotReady => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(body)).into_response()
}

fn probe_check(result: Result<durable::ProbeReply, ApiError>) -> Check {
    match result {
        Ok(reply) => Check {
            ok: true,
            written_at: Some(reply.written_at),
            wrote: Some(reply.wrote),
            ..Check::default()
        },
        Err(err) => Check::failed(err.message),
    }
}

/// The newest migration wrangler recorded in `d1_migrations`, `None` before the first one.
async fn schema_version(env: &Env) -> Result<Option<String>, ApiError> {
    let db = env
        .d1(DB_BINDING)
        .map_err(|e| ApiError::internal(format!("D1 binding {DB_BINDING}: {e}")))?;
    let row = db
        .prepare("SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1")
        .first::<String>(Some("name"))
        .await;
    match row {
        Ok(name) => Ok(name),
        // wrangler creates the table on the first `migrations apply`; before that, nothing is
        // applied, which readiness reports rather than hides.
        Err(e) if e.to_string().contains("no such table") => Ok(None),
        Err(e) => Err(ApiError::unavailable(format!("database unavailable: {e}"))),
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}
