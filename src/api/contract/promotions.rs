//! Contract types of environment promotion (`POST …/environments/{to}/promotions`): ship the
//! code another environment verified, through the target environment's own policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployments::{Deployment, EmergencyOverride, Strategy};
use super::every_field_present;

/// `POST /api/v1/projects/{project}/environments/{environment}/promotions`: the path names
/// the target environment; the server picks the source deployment from its own records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// The environment whose latest verified (succeeded) deployment to ship.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub from: String,
    /// The target environment's strategy (its `[env.NAME.deploy]`); `immediate` when absent.
    pub strategy: Option<Strategy>,
    #[schemars(length(max = 2000))]
    pub message: Option<String>,
    /// As for a new deployment: promote despite freezes or windows (approver role, audited).
    pub emergency_override: Option<EmergencyOverride>,
}

/// One service of the source deployment: the Worker and version it verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct SourceService {
    pub service: String,
    /// The service's Worker in the source environment.
    pub script: String,
    /// The version the source deployment rolled out and verified.
    pub version_id: String,
}

/// The deployment a promotion ships.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct PromotionSource {
    /// The source deployment's id (the new deployment's `promoted_from`).
    pub deployment_id: String,
    pub environment: String,
    /// The source environment's Cloudflare account (where its Workers are read), or null.
    pub cloudflare_account_id: Option<String>,
    pub git_ref: Option<String>,
    pub git_sha: Option<String>,
    /// When it succeeded (Unix ms).
    pub finished_at: Option<i64>,
    pub services: Vec<SourceService>,
}

/// The answer to a promotion: the new deployment in the target environment (awaiting
/// approval or queued, as its policy says) and what it ships.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Promotion {
    pub deployment: Deployment,
    pub source: PromotionSource,
}
