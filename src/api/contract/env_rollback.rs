//! Contract types of the server-side rollback of an environment
//! (`POST /api/v1/projects/{project}/environments/{environment}/rollback`): the server picks
//! what is live and what to go back to from its own records and moves the Workers itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployments::Deployment;
use super::every_field_present;

/// The request: both fields optional (`{}` rolls back to the last good deployment).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// A succeeded deployment of this environment whose versions go back to 100%; default:
    /// the succeeded deployment before the live one.
    #[schemars(length(min = 1, max = 64))]
    pub to_deployment: Option<String>,
    /// Why (recorded on the rollback deployment and in the audit log).
    #[schemars(length(max = 1000))]
    pub reason: Option<String>,
}

/// What happened to one service's Worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceRollbackOutcome {
    /// The target version serves 100% now.
    Moved,
    /// The target version already served 100%: nothing was changed.
    AlreadyLive,
    /// Cloudflare refused or did not answer (`error` says which): the Worker may be unchanged.
    Failed,
}

/// One service of the rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ServiceRollback {
    pub service: String,
    pub script: String,
    /// What served before, as Cloudflare answered (null: not known or not deployed).
    pub from_version: Option<String>,
    pub to_version: String,
    pub outcome: ServiceRollbackOutcome,
    pub error: Option<String>,
}

/// The answer: the rollback's own deployment record and what it did. `changed: false` is
/// either a repeated request (the environment was already rolled back by `deployment`, whose
/// outcome this is, and nothing moved this time) or nothing to do (every Worker already serves
/// the versions of `to_deployment`, which `deployment` is then; nothing was recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct EnvironmentRollback {
    pub deployment: Deployment,
    pub changed: bool,
    /// The deployment that was live.
    pub from_deployment: String,
    /// The deployment whose versions were put back.
    pub to_deployment: String,
    pub services: Vec<ServiceRollback>,
    pub message: String,
}
