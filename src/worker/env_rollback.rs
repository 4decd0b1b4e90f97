//! `POST /api/v1/projects/{project}/environments/{environment}/rollback`: the server rolls an
//! environment back by itself (for the dashboard and Slack's "Roll back" button, which cannot
//! run the CLI). From its own records it finds the live deployment and the last good one
//! before it (`control::env_rollback`), records a rollback deployment through the same
//! deployment service as the API (policy, audit, events), takes the environment's deploy lock
//! (refusing with the holder's name when another holds it), serves each target version at
//! 100% with the team's stored credential, and ends the deployment. Asked again while its
//! rollback is still what is live, it answers that rollback's outcome and moves nothing; when
//! every Worker already serves the target's versions (after a failure whose rollout put them
//! back) it answers so and records nothing.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Env};

use super::auth::Caller;
use super::db::{self, bad_request, now_ms};
use super::deployment_store::{load, D1Deployments};
use super::deployments::actor;
use super::durable::client::LockClient;
use super::rollout_io::{Io, Owner};
use super::rollouts::event_stmt;
use super::routes::AppState;
use crate::api::contract::deployments::{NewDeployment, Strategy, TransitionRequest};
use crate::api::contract::env_rollback::{
    EnvironmentRollback, RollbackRequest, ServiceRollback, ServiceRollbackOutcome,
};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::deployments::{self as service, DeploymentStore};
use crate::control::env_rollback::{choose, Choice, Refusal, Shipped};
use crate::control::{DeploymentStatus, Role};
use crate::lock::{AcquireOutcome, Claim};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project}/environments/{environment}/rollback",
        post(rollback_route),
    )
}

#[worker::send]
async fn rollback_route(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, environment)): Path<(String, String)>,
    JsonBody(body): JsonBody<RollbackRequest>,
) -> Result<Json<EnvironmentRollback>, ApiError> {
    Ok(Json(
        roll_back(&state.env, &caller, &project, &environment, &body).await?,
    ))
}

/// Lease of the rollback's lock: a few Cloudflare calls per service, each bounded.
const LEASE_MS: i64 = 120_000;

#[derive(Deserialize)]
struct HistoryRow {
    id: String,
    status: DeploymentStatus,
    rolled_back_to: Option<String>,
}

#[derive(Deserialize)]
struct TargetRow {
    service_id: String,
    service: String,
    script: String,
    version_id: String,
}

fn refused(r: &Refusal) -> ApiError {
    ApiError::new(ErrorCode::Conflict, r.to_string()).with_hint(
        "GET /api/v1/deployments?project=…&environment=… lists what this environment shipped; name a succeeded one as `to_deployment`",
    )
}

/// The environment's deployments that recorded versions, newest finished first.
async fn history(
    db: &D1Database,
    team_id: &str,
    environment_id: &str,
) -> Result<Vec<Shipped>, ApiError> {
    let rows = db::all::<HistoryRow>(worker::query!(
        db,
        "SELECT d.id, d.status, r.to_deployment_id AS rolled_back_to
           FROM deployments d LEFT JOIN environment_rollbacks r ON r.deployment_id = d.id
          WHERE d.team_id = ?1 AND d.environment_id = ?2
            AND EXISTS (SELECT 1 FROM deployment_services s WHERE s.deployment_id = d.id
                        AND s.version_id IS NOT NULL AND s.script_name IS NOT NULL)
          ORDER BY COALESCE(d.finished_at, d.created_at) DESC, d.id DESC LIMIT 200",
        &team_id,
        &environment_id
    ))
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Shipped {
            id: r.id,
            status: r.status,
            rolled_back_to: r.rolled_back_to,
        })
        .collect())
}

/// The earlier answer of the rollback that is still live, marked as a repeat.
async fn repeated(
    db: &D1Database,
    team_id: &str,
    rollback_id: &str,
) -> Result<EnvironmentRollback, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        outcome: String,
    }
    let row = db::first::<Row>(worker::query!(
        db,
        "SELECT outcome FROM environment_rollbacks WHERE team_id = ?1 AND deployment_id = ?2",
        &team_id,
        &rollback_id
    ))
    .await?
    .ok_or_else(|| db::not_found("rollback", rollback_id))?;
    let mut answer: EnvironmentRollback = serde_json::from_str(&row.outcome)
        .map_err(|e| ApiError::internal(format!("stored rollback {rollback_id}: {e}")))?;
    answer.changed = false;
    answer.deployment = load(db, team_id, rollback_id).await?;
    answer.message = format!(
        "already rolled back by deployment {rollback_id}; nothing changed ({})",
        answer.message
    );
    Ok(answer)
}

/// Whether each target Worker serves its target version alone now, as Cloudflare answers.
/// A read that fails counts as not served: the rollback then runs and says what it could
/// not do, never "nothing to do" on a check that was not made.
async fn already_served(io: &Io, targets: &[TargetRow]) -> bool {
    if targets.is_empty() {
        return false;
    }
    for t in targets {
        match io.live_split(&t.script).await {
            Ok(Some(s)) if s.whole_version() == Some(t.version_id.as_str()) => {}
            _ => return false,
        }
    }
    true
}

/// Refused with the holder's name when the environment's lock is held.
fn lock_held(project: &str, environment: &str, holder: &crate::lock::Lease) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!(
            "the {project}/{environment} deploy lock is held by {} ({}, {}): a rollback waits for no one",
            holder.claim.holder_id, holder.claim.actor, holder.claim.purpose
        ),
    )
    .with_hint("let it finish, abort its rollout (`clodo abort ID`), or have an admin force-unlock the environment, then roll back again")
}

/// Rolls `project/environment` back as `caller` (a deployer or higher); shared by the route
/// and Slack.
///
/// # Errors
/// 403 without the role; 404 for an unknown environment; 409 with nothing to go back to, a
/// held lock, a policy that needs approvals or blocks it now, or no Cloudflare account.
#[allow(clippy::too_many_lines)]
pub(super) async fn roll_back(
    env: &Env,
    caller: &Caller,
    project: &str,
    environment: &str,
    body: &RollbackRequest,
) -> Result<EnvironmentRollback, ApiError> {
    caller.require(Role::Deployer)?;
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 1000)
        || body
            .to_deployment
            .as_ref()
            .is_some_and(|t| t.is_empty() || t.chars().count() > 64)
    {
        return Err(bad_request(
            "reason is at most 1000 characters; to_deployment is a deployment id (1-64)",
        ));
    }
    let team_id = caller.team_id.as_str();
    let store = D1Deployments {
        env,
        db: db::db(env)?,
        team_id,
    };
    let db = &store.db;
    let (_, env_row) = db::environment(db, team_id, project, environment).await?;
    let shipped = history(db, team_id, &env_row.id).await?;
    let (live, to) =
        match choose(&shipped, body.to_deployment.as_deref()).map_err(|r| refused(&r))? {
            Choice::Already(rollback) => return repeated(db, team_id, &rollback.id).await,
            Choice::Roll { live, to } => (live.id.clone(), to.id.clone()),
        };
    let account = env_row.cloudflare_account_id.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("environment {project}/{environment} is not bound to a Cloudflare account"),
        )
        .with_hint("an admin binds it: PATCH …/environments/{environment} {\"cloudflare_account_id\": \"…\"}")
    })?;
    let owner = Owner {
        team_id: team_id.to_owned(),
        account_id: account.clone(),
        environment_id: env_row.id.clone(),
    };
    let io = Io::open(env, &owner).await.map_err(|e| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("account {}: {}", e.account, e.reason),
        )
        .with_hint("an admin stores a credential for it: POST /api/v1/credentials")
    })?;
    let targets = db::all::<TargetRow>(worker::query!(
        db,
        "SELECT d.service_id, s.name AS service, d.script_name AS script, d.version_id
           FROM deployment_services d JOIN services s ON s.id = d.service_id
          WHERE d.deployment_id = ?1 AND d.script_name IS NOT NULL AND d.version_id IS NOT NULL
          ORDER BY s.name",
        &to
    ))
    .await?;
    let lock = LockClient::new(env.clone(), &env_row.id);
    if let Some(holder) = lock.info().await?.holder {
        return Err(lock_held(project, environment, &holder));
    }
    if already_served(&io, &targets).await {
        // Typically pressed on a failure's notice after its rollout put everything back: a
        // rollback that moves nothing is not recorded (it would count as a deployment in
        // DORA and sit in the history as a change), like `clodo rollback`'s nothing-to-do.
        return Ok(EnvironmentRollback {
            deployment: load(db, team_id, &to).await?,
            changed: false,
            message: format!(
                "nothing to roll back: every Worker already serves the versions of {to}; nothing was recorded"
            ),
            services: targets
                .iter()
                .map(|t| ServiceRollback {
                    service: t.service.clone(),
                    script: t.script.clone(),
                    from_version: Some(t.version_id.clone()),
                    to_version: t.version_id.clone(),
                    outcome: ServiceRollbackOutcome::AlreadyLive,
                    error: None,
                })
                .collect(),
            from_deployment: live,
            to_deployment: to,
        });
    }
    let policy = store.policy(&env_row.id).await?;
    if policy.required_approvals > 0 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{project}/{environment} needs {} approval(s) for every deployment; a server rollback runs at once and cannot wait for them",
                policy.required_approvals
            ),
        )
        .with_hint("run `clodo rollback --env ENV`, which waits for the approvals, or relax the policy"));
    }
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let message = match reason {
        Some(r) => format!("rollback of {live} to {to}: {r}"),
        None => format!("rollback of {live} to {to}"),
    };
    let by = actor(caller);
    let request = NewDeployment {
        project: project.to_owned(),
        environment: environment.to_owned(),
        git_ref: None,
        git_sha: None,
        git_committed_at: None,
        strategy: Some(Strategy::Immediate),
        message: Some(message.clone()),
        emergency_override: None,
        scheduled_for: None,
        rollout: None,
    };
    let id = service::create_from(&store, &by, &request, None, now_ms()).await?;
    let claim = Claim {
        holder_id: id.clone(),
        actor: caller.actor.clone(),
        purpose: "rollback".into(),
        lease_ms: LEASE_MS,
        // No token owns it: only the server (this request, or the deployment ending) frees it.
        owner: String::new(),
    };
    if let AcquireOutcome::Queued { holder, .. } = lock.acquire(claim).await? {
        // Another deployment took the lock between the check and here.
        let detail = json!({ "message": "cancelled: the lock was taken first", "holder": holder.claim.holder_id });
        service::finish(
            &store,
            &by,
            &id,
            DeploymentStatus::Cancelled,
            &detail,
            now_ms(),
        )
        .await?;
        return Err(lock_held(project, environment, &holder));
    }
    let start = TransitionRequest {
        to: DeploymentStatus::Deploying,
        detail: Some(json!({ "rollback": { "from": live, "to": to } })),
    };
    if let Err(e) = service::transition(&store, &by, &id, &start, now_ms()).await {
        let detail = json!({ "message": e.to_string() });
        service::finish(
            &store,
            &by,
            &id,
            DeploymentStatus::Failed,
            &detail,
            now_ms(),
        )
        .await?;
        return Err(e.into());
    }
    let note = format!("clodo {id}: {message}");
    let mut services = Vec::new();
    let mut stmts = Vec::new();
    for t in &targets {
        let live_split = io.live_split(&t.script).await;
        let from_version = live_split
            .as_ref()
            .ok()
            .and_then(|s| s.as_ref()?.main_version().map(str::to_owned));
        let already =
            matches!(&live_split, Ok(Some(s)) if s.whole_version() == Some(t.version_id.as_str()));
        let (outcome, error) = if already {
            (ServiceRollbackOutcome::AlreadyLive, None)
        } else {
            match io
                .account()
                .serve_only(&t.script, &t.version_id, &note)
                .await
            {
                Ok(()) => (ServiceRollbackOutcome::Moved, None),
                Err(e) => (ServiceRollbackOutcome::Failed, Some(e.to_string())),
            }
        };
        if outcome != ServiceRollbackOutcome::Failed {
            stmts.push(worker::query!(
                db,
                "INSERT INTO deployment_services (deployment_id, service_id, version_id, previous_version_id, status,
                   script_name, already_live, recorded_by, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, 'restored', ?5, 1, ?6, ?7)",
                &id,
                &t.service_id,
                &t.version_id,
                &from_version,
                &t.script,
                &caller.actor,
                &now_ms()
            ));
        }
        services.push(ServiceRollback {
            service: t.service.clone(),
            script: t.script.clone(),
            from_version,
            to_version: t.version_id.clone(),
            outcome,
            error,
        });
    }
    let failed: Vec<String> = services
        .iter()
        .filter_map(|s| Some(format!("{}: {}", s.service, s.error.as_deref()?)))
        .collect();
    let (status, summary) = if failed.is_empty() {
        (
            DeploymentStatus::Succeeded,
            format!("rolled back from {live} to {to}"),
        )
    } else {
        (
            DeploymentStatus::Failed,
            format!("rollback to {to} incomplete: {}", failed.join("; ")),
        )
    };
    let mut answer = EnvironmentRollback {
        deployment: load(db, team_id, &id).await?,
        changed: true,
        from_deployment: live.clone(),
        to_deployment: to.clone(),
        services,
        message: summary.clone(),
    };
    stmts.push(event_stmt(
        db,
        &id,
        "environment_rollback",
        &json!({ "by": caller.actor, "from": live, "to": to, "services": answer.services }),
    ));
    stmts.push(worker::query!(
        db,
        "INSERT INTO environment_rollbacks (deployment_id, team_id, environment_id, from_deployment_id,
           to_deployment_id, outcome, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &id,
        &team_id,
        &env_row.id,
        &live,
        &to,
        &serde_json::to_string(&answer).unwrap_or_default(),
        &now_ms()
    ));
    db::batch(db, stmts).await?;
    let detail = json!({ "message": summary, "services": answer.services });
    service::finish(&store, &by, &id, status, &detail, now_ms()).await?;
    answer.deployment = load(db, team_id, &id).await?;
    Ok(answer)
}
