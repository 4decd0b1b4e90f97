//! Contract types of the rollouts routes: the start body, the commands, the live status
//! (`RolloutStatus`, also what the live WebSocket sends) and the uploads a deployment records.
//! The engine's types that travel over the API are defined in `crate::rollout` and
//! re-exported here.

pub use crate::config::Strategy;
pub use crate::rollout::{
    AnalysisStatus, Command, LogEntry, Phase, RolloutSettings, RolloutStatus, ServiceRollout,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One service's upload as a deployment records it (`POST …/deployments/{id}/services`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadedService {
    /// A service registered for the environment (its Worker comes from that record).
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub version_id: String,
    /// What served the traffic before; `null` when the Worker is new.
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub previous_version_id: Option<String>,
    /// `wrangler deploy` (not `versions upload`) put the version at 100% already.
    #[serde(default)]
    pub already_live: bool,
}

/// The body of `POST /api/v1/deployments/{deployment_id}/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUploads {
    #[schemars(length(min = 1, max = 50))]
    pub services: Vec<UploadedService>,
}

/// A version a deployment recorded as uploaded, with the Worker it was checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Upload {
    pub service: String,
    /// The Worker (script) registered for the service in the environment.
    pub script: String,
    pub version_id: String,
    #[schemars(required)]
    pub previous_version_id: Option<String>,
    pub already_live: bool,
}

/// `GET /api/v1/deployments/{deployment_id}/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UploadList {
    pub items: Vec<Upload>,
}

/// The answer of `POST /api/v1/deployments/{deployment_id}/services`: every upload the
/// deployment has recorded now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UploadsRecorded {
    pub deployment_id: String,
    pub items: Vec<Upload>,
}
