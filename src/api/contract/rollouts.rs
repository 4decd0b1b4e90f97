//! Contract types of the rollouts routes: the start body, the commands, the live status
//! (`RolloutStatus`, also what the live WebSocket sends). The uploads a deployment records are
//! `contract::deployments::{RecordUploads, UploadList, UploadsRecorded}`.
//! The engine's types that travel over the API are defined in `crate::rollout` and
//! re-exported here.

pub use crate::config::Strategy;
pub use crate::rollout::ab::{AbConfig, AbMetricResult, AbResult, AbStatus, Affinity, Favours};
pub use crate::rollout::{
    AnalysisStatus, Command, LogEntry, Phase, RolloutSettings, RolloutStatus, ServiceRollout,
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The optional body of `POST /api/v1/deployments/{id}/rollout/promote`: the version an A/B
/// test keeps (`clodo promote DEPLOYMENT --version V`). Only the test's two versions are
/// accepted (422 otherwise); the server checks against its own record of the test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteVersion {
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub version: String,
}
