//! Contract types of the rollouts routes: the start body, the commands, the live status
//! (`RolloutStatus`, also what the live WebSocket sends). The uploads a deployment records are
//! `contract::deployments::{RecordUploads, UploadList, UploadsRecorded}`.
//! The engine's types that travel over the API are defined in `crate::rollout` and
//! re-exported here.

pub use crate::config::Strategy;
pub use crate::rollout::{
    AnalysisStatus, Command, LogEntry, Phase, RolloutSettings, RolloutStatus, ServiceRollout,
};
