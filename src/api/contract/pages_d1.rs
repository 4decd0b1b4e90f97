//! Contract types of what a deployment did besides Workers: the D1 migrations it applied (with
//! the Time Travel bookmark taken before them, `…/deployments/{id}/migrations`) and the Pages
//! deployments it made (`…/deployments/{id}/pages`). `clodo deploy` records them while it
//! holds the environment's lock; `clodo rollback` reads them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;

/// Where a database's migrations stand in one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MigrationState {
    /// The bookmark is recorded; the migrations are about to run.
    Bookmarked,
    /// `wrangler d1 migrations apply` finished.
    Applied,
    /// It failed; the deployment stops before any traffic moves.
    Failed,
}

impl MigrationState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Bookmarked => "bookmarked",
            MigrationState::Applied => "applied",
            MigrationState::Failed => "failed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<MigrationState> {
        [
            MigrationState::Bookmarked,
            MigrationState::Applied,
            MigrationState::Failed,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// `POST /api/v1/deployments/{deployment_id}/migrations`: one database's migrations. The first
/// record of a database carries the bookmark taken before anything ran; later records of the
/// same database (the outcome) keep that bookmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordMigration {
    /// The service whose wrangler config binds the database.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub database_id: String,
    #[schemars(length(min = 1, max = 64))]
    pub database_name: String,
    /// The Time Travel bookmark from before the migrations ran.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,128}$"))]
    pub bookmark: String,
    /// The migration files applied, in order.
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 255)))]
    pub migrations: Vec<String>,
    /// Some of them drop or rename (deployed with `--allow-destructive`).
    pub destructive: bool,
    pub state: MigrationState,
    /// Why it failed.
    #[schemars(length(max = 2000))]
    pub detail: Option<String>,
}

/// A recorded database migration of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct RecordedMigration {
    pub deployment_id: String,
    pub service: String,
    pub database_id: String,
    pub database_name: String,
    pub bookmark: String,
    pub migrations: Vec<String>,
    pub destructive: bool,
    pub state: MigrationState,
    pub detail: Option<String>,
    /// Unix milliseconds of the last record.
    pub recorded_at: i64,
}

/// `GET /api/v1/deployments/{deployment_id}/migrations`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct MigrationList {
    pub items: Vec<RecordedMigration>,
}

/// `POST /api/v1/deployments/{deployment_id}/pages`: a Pages deployment this deployment made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPagesDeployment {
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    /// The Pages project.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,57}$"))]
    pub project: String,
    /// The Pages deployment's id.
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub pages_deployment_id: String,
    /// The production deployment that served before (what a rollback returns to).
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub previous_deployment_id: Option<String>,
    /// Where the deployment is served.
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    #[schemars(length(min = 1, max = 255))]
    pub branch: String,
    /// A branch preview, not production.
    pub preview: bool,
}

/// A recorded Pages deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct RecordedPagesDeployment {
    pub deployment_id: String,
    pub service: String,
    pub project: String,
    pub pages_deployment_id: String,
    pub previous_deployment_id: Option<String>,
    pub url: String,
    pub branch: String,
    pub preview: bool,
    pub recorded_at: i64,
    /// When the control plane's rollback put `previous_deployment_id` back on production
    /// (Unix ms; `null`: not rolled back by a rollout).
    pub rolled_back_at: Option<i64>,
    /// The Pages deployment that rollback made live.
    pub rolled_back_as: Option<String>,
}

/// `GET /api/v1/deployments/{deployment_id}/pages`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct PagesDeploymentList {
    pub items: Vec<RecordedPagesDeployment>,
}
