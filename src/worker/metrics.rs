//! `GET /api/v1/metrics/dora`: DORA's delivery metrics of one project environment (or one of
//! its services) over a window, computed by `control::dora` from the deployment records.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Caller;
use super::db;
use super::routes::AppState;
use super::teams::environment_in;
use crate::api::contract::metrics::{DoraQuery, DoraReport};
use crate::api::{ApiError, ErrorCode, QueryParams};
use crate::control::dora::{self, DeploymentFacts};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/metrics/dora", get(dora_metrics))
}

const DEFAULT_DAYS: u32 = 30;
const DAY_MS: i64 = 86_400_000;

/// One page of the facts query packed as JSON: D1 hands the Worker one text per page instead
/// of one JS object per deployment.
#[derive(Deserialize)]
struct FactsPage {
    facts: String,
    n: i64,
}

/// One deployment in a page: status, started_at, finished_at, git_committed_at, emergency.
type PackedFacts = (String, Option<i64>, Option<i64>, Option<i64>, i64);

/// Deployments per page: about 60 bytes each packed, so a page stays near 1.2 MB, under D1's
/// 2 MB limit on one value.
const FACTS_PAGE: i64 = 20_000;

/// `GET /api/v1/metrics/dora?project=&environment=&service=&days=` (any role).
#[worker::send]
async fn dora_metrics(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<DoraQuery>,
) -> Result<Json<DoraReport>, ApiError> {
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=365).contains(&days) {
        return Err(
            ApiError::new(ErrorCode::BadRequest, "days must be 1 to 365")
                .with_hint("ask for a window of up to a year, e.g. ?days=30"),
        );
    }
    let (db, _, env) = environment_in(&state, &caller, &q.project, &q.environment).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let from = now - i64::from(days) * DAY_MS;
    // Deployments created up to a week before the window can still finish inside it; the
    // pure code keeps those that finished in it (and later ones, for recovery times).
    // `+d.team_id` keeps the planner off the team's index: without ANALYZE it chose
    // `deployments_team_time` and read every deployment of the team in the window (65 ms for
    // 30 days, 200 ms for 365 over 100,000 deployments, bench/queries.sh); the environment's
    // index reads only this environment's. The team check still filters every row.
    // The rows come back packed as JSON, up to FACTS_PAGE per query: as one object per row,
    // crossing from D1 into the wasm cost about 5 µs a row (a year of a busy environment,
    // 10,000 rows, took 60-120 ms in local D1; bench/queries.sh), as one text it is parsed in
    // a few ms. `deployments_env_facts` holds every column read here in (environment,
    // created_at, id) order: no table lookups and no sort. Pages follow that order by
    // offset; a deployment is created with the current time, so one created between two
    // pages lands after them rather than shifting them. `dora::report` ignores the order.
    let mut facts: Vec<DeploymentFacts> = Vec::new();
    let mut offset = 0_i64;
    loop {
        let page = db::first::<FactsPage>(worker::query!(
            &db,
            "SELECT json_group_array(json_array(status, started_at, finished_at, git_committed_at, emergency)) AS facts,
                    count(*) AS n
               FROM (SELECT d.status, d.started_at, d.finished_at, d.git_committed_at,
                            d.override_reason IS NOT NULL AS emergency
                       FROM deployments d
                      WHERE +d.team_id = ?1 AND d.environment_id = ?2 AND d.created_at >= ?3
                        AND (?4 IS NULL OR EXISTS (
                              SELECT 1 FROM deployment_services ds JOIN services s ON s.id = ds.service_id
                               WHERE ds.deployment_id = d.id AND s.name = ?4))
                      ORDER BY d.created_at, d.id
                      LIMIT ?6 OFFSET ?5)",
            &caller.team_id,
            &env.id,
            &(from - 7 * DAY_MS),
            &q.service,
            &offset,
            &FACTS_PAGE
        ))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "D1 returned no row for an aggregate"))?;
        let packed: Vec<PackedFacts> = serde_json::from_str(&page.facts).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the deployment facts from D1 did not parse: {e}"),
            )
        })?;
        facts.extend(packed.into_iter().map(
            |(status, started_at, finished_at, committed_at, emergency)| DeploymentFacts {
                status,
                started_at,
                finished_at,
                committed_at,
                emergency: emergency != 0,
            },
        ));
        if page.n < FACTS_PAGE {
            break;
        }
        offset += FACTS_PAGE;
    }
    Ok(Json(dora::report(
        (&q.project, &q.environment, q.service.as_deref()),
        &facts,
        days,
        now,
    )))
}
