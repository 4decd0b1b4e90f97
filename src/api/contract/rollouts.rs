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

/// The answer of `POST /api/v1/deployments/{id}/rollout/live/ticket`: a single-use ticket for
/// the live-status WebSocket of that deployment (browsers cannot send `Authorization` on a
/// WebSocket). Connect to `path?ticket=<secret>` (relative to the API's origin, `ws:`/`wss:`)
/// before `expires_at`; a second connection with the same ticket is refused. Named `secret`
/// so the idempotency layer never stores it (a replay of the POST is refused, not repeated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LiveTicket {
    /// The ticket itself (`clodo_live_…`); shown once, stored only as its hash, never logged.
    pub secret: String,
    /// Milliseconds since the epoch after which the ticket is refused.
    pub expires_at: i64,
    /// Where to connect, without the ticket: `/api/v1/deployments/{id}/rollout/live`.
    pub path: String,
}
