//! The environment lock API: team-scoped, role-checked routes in front of the `DeployLock`
//! Durable Object (one per environment, named by the environment id). Force-unlock is
//! admin-only, needs a reason and writes an audit entry with the broken lease as `before`.
//!
//! Every claim records its `owner` (`token:<id>` of the caller that acquired it); heartbeat,
//! release and cancel pass the caller's own owner string, so only the token that acquired an
//! entry can renew, release or cancel it.
//!
//! The handlers speak the typed contract (`api::contract::locks`) and reach the object through
//! `durable::client::LockClient`; a lock refusal becomes an `ApiError` in one place
//! (`From<LockError> for ApiError`).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::auth::{authenticate_with, Caller, Credential};
use super::db::{self, audit_stmt};
use super::durable::client::LockClient;
use super::routes::AppState;
use crate::api::contract::locks::{
    AcquireOutcome, AcquireRequest, ForceUnlockRequest, ForceUnlocked, HolderRequest, Lease,
    LockInfo, Released, Waiter, MAX_PURPOSE_LEN, MAX_REASON_LEN,
};
use crate::api::{ApiError, JsonBody};
use crate::control::Role;
use crate::lock::{Claim, Requester};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock",
            get(info),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/acquire",
            post(acquire),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/heartbeat",
            post(heartbeat),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/release",
            post(release),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/cancel",
            post(cancel),
        )
        .route(
            "/api/v1/projects/{project}/environments/{environment}/lock/force-unlock",
            post(force_unlock),
        )
}

/// The server's name for the caller as a lock owner: the token, never a request field.
pub(super) fn owner_of(caller: &Caller) -> String {
    format!("token:{}", caller.token_id)
}

/// Default lease: long enough for a slow wrangler upload between heartbeats.
const DEFAULT_LEASE_MS: i64 = 60_000;

/// What every lock route starts from: the authenticated caller and the environment its path
/// names (looked up, after the role check, by `open`).
struct LockTarget {
    env: worker::Env,
    caller: Caller,
    project: String,
    environment: String,
    /// The environment's id when the token check already found it (the fast path).
    environment_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct EnvironmentId {
    id: String,
}

/// The environment `project`/`environment` of the team of the token whose hash is `?1`: read
/// in the token check's own D1 round trip (`auth::authenticate_with`).
fn environment_of_token(
    db: &worker::D1Database,
    hash: &str,
    project: &str,
    environment: &str,
) -> worker::Result<worker::D1PreparedStatement> {
    worker::query!(
        db,
        "SELECT e.id FROM api_tokens t
         JOIN projects p ON p.team_id = t.team_id AND p.slug = ?2
         JOIN environments e ON e.team_id = t.team_id AND e.project_id = p.id AND e.name = ?3
         WHERE t.secret_hash = ?1",
        &hash,
        &project,
        &environment
    )
}

impl FromRequestParts<AppState> for LockTarget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path((project, environment)) =
            Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e: axum::extract::rejection::PathRejection| {
                    db::bad_request(e.body_text())
                })?;
        // The lock path's fast path: a bearer token not yet checked by the idempotency layer
        // is checked in one D1 round trip with the environment lookup (they were three).
        let bearer = match Credential::of(&parts.headers) {
            Some(Credential::Bearer(token)) if parts.extensions.get::<Caller>().is_none() => {
                Some(token)
            }
            _ => None,
        };
        let (caller, environment_id) = match bearer {
            Some(token) => {
                let env = state.env.clone();
                let (p, e) = (project.clone(), environment.clone());
                worker::send::SendFuture::new(async move {
                    authenticate_with::<EnvironmentId>(&env, &token, |db, hash| {
                        environment_of_token(db, hash, &p, &e)
                    })
                    .await
                })
                .await
                .map(|(caller, found)| (caller, found.map(|e| e.id)))?
            }
            None => (Caller::from_request_parts(parts, state).await?, None),
        };
        Ok(Self {
            env: state.env.clone(),
            caller,
            project,
            environment,
            environment_id,
        })
    }
}

impl LockTarget {
    /// The environment's lock once the caller has the `least` role, and the caller as the
    /// requester (the token that acquires an entry is the only one that may touch it). The
    /// object's audit entries name the caller.
    async fn open(&self, least: Role) -> Result<(LockClient, Requester), ApiError> {
        self.caller.require(least)?;
        let environment_id = match &self.environment_id {
            Some(id) => id.clone(),
            None => {
                // Also the slow path's precise 404 (which of project and environment is
                // missing) when the fast path found nothing.
                let db = db::db(&self.env)?;
                let team = &self.caller.team_id;
                db::environment(&db, team, &self.project, &self.environment)
                    .await?
                    .1
                    .id
            }
        };
        let by = Requester::Owner(owner_of(&self.caller));
        let lock =
            LockClient::new(self.env.clone(), environment_id).acting_for(self.caller.actor.clone());
        Ok((lock, by))
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// `GET .../lock`: holder, lease end and the queue.
#[worker::send]
async fn info(at: LockTarget) -> Answer<LockInfo> {
    let (lock, _) = at.open(Role::Viewer).await?;
    Ok(Json(lock.info().await?))
}

/// `POST .../lock/acquire`: granted now, or queued with a position.
#[worker::send]
async fn acquire(
    at: LockTarget,
    JsonBody(body): JsonBody<AcquireRequest>,
) -> Answer<AcquireOutcome> {
    at.caller.require(Role::Deployer)?;
    if body
        .purpose
        .as_ref()
        .is_some_and(|p| p.len() > MAX_PURPOSE_LEN)
    {
        return Err(db::bad_request(format!(
            "purpose must be at most {MAX_PURPOSE_LEN} characters"
        )));
    }
    let (lock, _) = at.open(Role::Deployer).await?;
    let claim = Claim {
        holder_id: body.holder_id,
        actor: at.caller.actor.clone(),
        purpose: body.purpose.unwrap_or_else(|| "deploy".into()),
        lease_ms: body.lease_ms.unwrap_or(DEFAULT_LEASE_MS),
        owner: owner_of(&at.caller),
    };
    Ok(Json(lock.acquire(claim).await?))
}

/// `POST .../lock/heartbeat`: extends the holder's lease by its length (the acquiring token
/// only). A waiter keeps its place by acquiring again instead.
#[worker::send]
async fn heartbeat(at: LockTarget, JsonBody(body): JsonBody<HolderRequest>) -> Answer<Lease> {
    let (lock, by) = at.open(Role::Deployer).await?;
    Ok(Json(lock.heartbeat(&body.holder_id, by).await?))
}

/// `POST .../lock/release`: by the token that acquired it only; the head of the queue takes
/// over.
#[worker::send]
async fn release(at: LockTarget, JsonBody(body): JsonBody<HolderRequest>) -> Answer<Released> {
    let (lock, by) = at.open(Role::Deployer).await?;
    let next_holder = lock.release(&body.holder_id, by).await?;
    Ok(Json(Released { next_holder }))
}

/// `POST .../lock/cancel`: leaves the queue (the token that queued the claim only).
#[worker::send]
async fn cancel(at: LockTarget, JsonBody(body): JsonBody<HolderRequest>) -> Answer<Waiter> {
    let (lock, by) = at.open(Role::Deployer).await?;
    Ok(Json(lock.cancel(&body.holder_id, by).await?))
}

/// `POST .../lock/force-unlock`: admin only, with a reason; breaks the current lease (the
/// queue's head takes over) and records who did it, why, and the lease that was broken.
/// The audit entry is written before answering: if it cannot be, the caller gets an error
/// saying the lock was broken but not recorded, rather than a quiet success.
#[worker::send]
async fn force_unlock(
    at: LockTarget,
    JsonBody(body): JsonBody<ForceUnlockRequest>,
) -> Answer<ForceUnlocked> {
    let caller = &at.caller;
    caller.require(Role::Admin)?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.len() > MAX_REASON_LEN {
        return Err(
            db::bad_request(format!("reason must be 1-{MAX_REASON_LEN} characters"))
                .with_hint("say why the lock is broken; it is kept in the audit log"),
        );
    }
    let (lock, _) = at.open(Role::Admin).await?;
    let broken_lease = lock.force_unlock().await?;
    let after = lock.info().await?;
    let db = db::db(&at.env)?;
    db::run(audit_stmt(
        &db,
        &caller.team_id,
        &caller.actor,
        "lock.force_unlock",
        "environment",
        lock.environment_id(),
        Some(&json!({ "holder": broken_lease })),
        Some(&json!({ "reason": reason, "holder": after.holder })),
    ))
    .await
    .map_err(|e| {
        ApiError::internal(format!(
            "force-unlock of {} done but its audit entry failed: {}",
            lock.environment_id(),
            e.message
        ))
    })?;
    Ok(Json(ForceUnlocked {
        broken_lease,
        lock: after,
        reason,
    }))
}
