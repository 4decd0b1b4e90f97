//! `GET /api/v1/deployments/{deployment_id}/compare/{other_deployment_id}`: two deployments
//! side by side for the dashboard — what each shipped and the differences (the snapshots
//! `clodo deploy` records, read as `clodo diff` reads them), the git range, and each service's
//! error rate and latency under each deployment from Workers analytics (the queries the rollout
//! analysis sends, with the team's credential for the environment's account). Numbers that
//! could not be read are null with the reason, never guessed.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use worker::D1Database;

use super::auth::Caller;
use super::cf_fetch::FetchTransport;
use super::db::{self, now_ms};
use super::deployment_store::events_of;
use super::deployments::load;
use super::rollout_io::account_client;
use super::rollouts::environment_account;
use super::routes::AppState;
use crate::api::contract::compare::{
    ComparedDeployment, Comparison, GitRange, Measured, PerformanceComparison, ServicePerformance,
};
use crate::api::contract::deployments::{shipped_services, Deployment};
use crate::api::ApiError;
use crate::cloudflare::endpoints::AnalyticsQuery;
use crate::cloudflare::AccountClient;
use crate::deploy::compare::{compare_url, window, WINDOW_MS};
use crate::deploy::{diff, ServiceSnapshot};
use crate::rollout::analytics::{query_body, read_performance};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/deployments/{deployment_id}/compare/{other_deployment_id}",
        get(compare),
    )
}

#[worker::send]
async fn compare(
    State(state): State<AppState>,
    caller: Caller,
    Path((from_id, to_id)): Path<(String, String)>,
) -> Result<Json<Comparison>, ApiError> {
    let db = db::db(&state.env)?;
    let from = side(&db, &caller.team_id, &from_id).await?;
    let to = side(&db, &caller.team_id, &to_id).await?;
    let differences = diff(&from.services, &to.services);
    let git = git_range(&db, &from.deployment, &to.deployment).await?;
    let performance = performance(&state.env, &db, &caller.team_id, &from, &to).await;
    Ok(Json(Comparison {
        from,
        to,
        differences,
        git,
        performance,
    }))
}

async fn side(db: &D1Database, team_id: &str, id: &str) -> Result<ComparedDeployment, ApiError> {
    let deployment = load(db, team_id, id).await?;
    let services = shipped_services(&events_of(db, &deployment.id).await?);
    Ok(ComparedDeployment {
        deployment,
        services,
    })
}

#[derive(Deserialize)]
struct RepositoryRow {
    repository: String,
    api_base_url: String,
}

async fn git_range(db: &D1Database, a: &Deployment, b: &Deployment) -> Result<GitRange, ApiError> {
    let repo = db::first::<RepositoryRow>(worker::query!(
        db,
        "SELECT repository, api_base_url FROM github_integrations WHERE project_id = ?1",
        &b.project_id
    ))
    .await?;
    let compare = match (&repo, &a.git_sha, &b.git_sha) {
        (Some(r), Some(x), Some(y)) if x != y => compare_url(&r.api_base_url, &r.repository, x, y),
        _ => None,
    };
    Ok(GitRange {
        from_sha: a.git_sha.clone(),
        to_sha: b.git_sha.clone(),
        repository: repo.map(|r| r.repository),
        compare_url: compare,
    })
}

/// Each service either deployment shipped, measured under each.
async fn performance(
    env: &worker::Env,
    db: &D1Database,
    team_id: &str,
    from: &ComparedDeployment,
    to: &ComparedDeployment,
) -> PerformanceComparison {
    let unavailable = |reason: String| PerformanceComparison {
        unavailable: Some(reason),
        window_ms: WINDOW_MS,
        services: Vec::new(),
    };
    if from.services.is_empty() && to.services.is_empty() {
        return unavailable("neither deployment shipped Worker versions".into());
    }
    let now = now_ms();
    let (fa, ta) = (&from.deployment, &to.deployment);
    // The earlier deployment's window ends where the later one started.
    let next_of = |d: &Deployment, other: &Deployment| {
        (other.created_at > d.created_at).then_some(other.started_at.unwrap_or(other.created_at))
    };
    let mut names: Vec<&str> = from
        .services
        .iter()
        .chain(&to.services)
        .map(|s| s.service.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    // Each side's account, opened once (its environment's, with the team's credential).
    let open = |d: &Deployment| {
        let d = d.clone();
        async move {
            let account = environment_account(db, &d).await?;
            account_client(env, team_id, &account).await
        }
    };
    let (from_account, to_account) = (open(fa).await, open(ta).await);
    let mut services = Vec::new();
    for name in names {
        let before = measure(
            &from_account,
            fa,
            &from.services,
            name,
            next_of(fa, ta),
            now,
        )
        .await;
        let after = measure(&to_account, ta, &to.services, name, next_of(ta, fa), now).await;
        services.push(ServicePerformance {
            service: name.to_owned(),
            before,
            after,
        });
    }
    PerformanceComparison {
        unavailable: None,
        window_ms: WINDOW_MS,
        services,
    }
}

/// `service` as deployment `d` shipped it, over `d`'s window.
async fn measure(
    account: &Result<AccountClient<FetchTransport>, ApiError>,
    d: &Deployment,
    shipped: &[ServiceSnapshot],
    service: &str,
    next_started: Option<i64>,
    now: i64,
) -> Measured {
    let Some(snapshot) = shipped.iter().find(|s| s.service == service) else {
        return Measured::not(None, format!("deployment {} did not ship {service}", d.id));
    };
    let version = Some(snapshot.new_version.clone());
    let (since, until) = match window(d.status, d.finished_at, next_started, now) {
        Ok(w) => w,
        Err(why) => return Measured::not(version, why),
    };
    let account = match account {
        Ok(a) => a,
        Err(e) => return Measured::not(version, e.message.clone()),
    };
    let query = AnalyticsQuery {
        body: query_body(
            &account.account,
            &snapshot.script,
            &snapshot.new_version,
            since,
            until,
        ),
    };
    let read = match account.client.analytics(&query).await {
        Ok(body) => read_performance(&snapshot.new_version, &body),
        Err(e) => Err(format!("analytics could not be read: {e}")),
    };
    match read {
        Ok(p) => Measured {
            version,
            since_ms: Some(since),
            until_ms: Some(until),
            requests: Some(p.requests),
            error_rate: p.error_rate,
            p50_ms: p.p50_ms,
            p99_ms: p.p99_ms,
            problem: (p.requests <= 0.0).then(|| "no requests in the window".to_owned()),
        },
        Err(why) => Measured::not(version, why),
    }
}
