//! Environment promotion: `POST /api/v1/projects/{project}/environments/{environment}/promotions`
//! creates a deployment in the target environment that ships what the source environment's
//! latest succeeded deployment rolled out. The server chooses that deployment from its own
//! records (`control::promotion`); the new deployment goes through the same creation as any
//! other (`control::deployments::create_from`: the target's policy, approvals and, later, its
//! lock), and records `promoted_from`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use worker::D1Database;

use super::auth::Caller;
use super::db::{self, bad_request, now_ms};
use super::deployment_store::{all_of, load, SELECT_DEPLOYMENT};
use super::deployments::{actor, store};
use super::rollouts::uploads_of;
use super::routes::AppState;
use crate::api::contract::deployments::{Deployment, ServiceUpload};
use crate::api::contract::promotions::{
    Promotion, PromotionRequest, PromotionSource, SourceService,
};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::deployments::{self as service, PromotedFrom};
use crate::control::promotion::{self, Candidate, Refusal};
use crate::control::{valid_slug, Role};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{project}/environments/{environment}/promotions",
        post(promote),
    )
}

fn refused(r: &Refusal) -> ApiError {
    match r {
        Refusal::SameEnvironment(_) => bad_request(r.to_string())
            .with_hint("promote from another environment, e.g. `--from staging --to production`"),
        Refusal::NothingVerified { from } | Refusal::NotRolledOut { from, .. } => {
            ApiError::new(ErrorCode::Conflict, r.to_string()).with_hint(format!(
                "deploy to {from} first (`clodo deploy --env {from}`) and let its rollout succeed"
            ))
        }
    }
}

#[derive(Deserialize)]
struct Started {
    n: i64,
}

/// The source environment's latest succeeded deployment with what it recorded.
async fn latest_verified(
    db: &D1Database,
    team_id: &str,
    environment_id: &str,
) -> Result<Vec<Candidate>, ApiError> {
    let rows = all_of(worker::query!(
        db,
        &format!(
            "{SELECT_DEPLOYMENT} WHERE d.team_id = ?1 AND d.environment_id = ?2 AND d.status = 'succeeded'
             ORDER BY COALESCE(d.finished_at, d.created_at) DESC, d.id DESC LIMIT 1"
        ),
        &team_id,
        &environment_id
    ))
    .await?;
    let mut candidates = Vec::new();
    for deployment in rows {
        let services = uploads_of(db, &deployment.id)
            .await?
            .into_iter()
            .map(|u| SourceService {
                service: u.service,
                script: u.script,
                version_id: u.version_id,
            })
            .collect();
        let started = db::first::<Started>(worker::query!(
            db,
            "SELECT COUNT(*) AS n FROM rollouts WHERE team_id = ?1 AND deployment_id = ?2",
            &team_id,
            &deployment.id
        ))
        .await?;
        candidates.push(Candidate {
            deployment,
            services,
            rolled_out: started.is_some_and(|s| s.n > 0),
        });
    }
    Ok(candidates)
}

/// `POST …/environments/{environment}/promotions`: the path names the target.
#[worker::send]
async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path((project, to)): Path<(String, String)>,
    JsonBody(body): JsonBody<PromotionRequest>,
) -> Result<(StatusCode, Json<Promotion>), ApiError> {
    caller.require(Role::Deployer)?;
    if !valid_slug(&body.from) {
        return Err(bad_request(
            "`from`: an environment name (1-64 lowercase letters, digits or '-')",
        ));
    }
    if body.from == to {
        return Err(refused(&Refusal::SameEnvironment(to)));
    }
    let store = store(&state, &caller.team_id)?;
    let (_, source_env) = db::environment(&store.db, &caller.team_id, &project, &body.from).await?;
    db::environment(&store.db, &caller.team_id, &project, &to).await?;
    let candidates = latest_verified(&store.db, &caller.team_id, &source_env.id).await?;
    let chosen = promotion::choose_source(&body.from, &to, &candidates).map_err(|r| refused(&r))?;
    let source = PromotionSource {
        deployment_id: chosen.deployment.id.clone(),
        environment: chosen.deployment.environment.clone(),
        cloudflare_account_id: source_env.cloudflare_account_id,
        git_ref: chosen.deployment.git_ref.clone(),
        git_sha: chosen.deployment.git_sha.clone(),
        finished_at: chosen.deployment.finished_at,
        services: chosen.services,
    };
    let request = promotion::new_deployment(&project, &to, &body, &chosen.deployment);
    let promoted = PromotedFrom {
        deployment_id: source.deployment_id.clone(),
        detail: json!({ "environment": source.environment, "services": source.services }),
    };
    let id =
        service::create_from(&store, &actor(&caller), &request, Some(&promoted), now_ms()).await?;
    let deployment = load(&store.db, &caller.team_id, &id).await?;
    Ok((StatusCode::CREATED, Json(Promotion { deployment, source })))
}

/// For `POST /api/v1/deployments/{id}/services`: a promoted deployment records the module
/// hashes of every upload, each for a service its source shipped; no other deployment does.
pub(super) async fn check_promoted_uploads(
    db: &D1Database,
    row: &Deployment,
    uploads: &[ServiceUpload],
) -> Result<(), ApiError> {
    let source_services: Vec<String> = match &row.promoted_from {
        Some(source) => uploads_of(db, source)
            .await?
            .into_iter()
            .map(|u| u.service)
            .collect(),
        None => Vec::new(),
    };
    promotion::check_uploads(row.promoted_from.is_some(), &source_services, uploads)
        .map_err(bad_request)
}
