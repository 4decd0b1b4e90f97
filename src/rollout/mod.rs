//! The progressive rollout engine: a pure state machine that moves a deployment's services
//! through traffic steps, judges health checks and metric analysis between them, and rolls every
//! service back when a check fails.
//!
//! It performs no I/O. A driver (the `Rollout` Durable Object) asks [`Rollout::next`] what to do
//! at a given time, does it (Cloudflare deployments API, HTTP checks, analytics queries) and
//! reports the results back; the whole state is one serde value, stored after every report, so
//! a restarted driver continues where the last stored report left it.

pub mod ab;
#[cfg(test)]
mod ab_tests;
pub mod analytics;
pub mod checks;
pub mod driver;
#[cfg(test)]
mod driver_tests;
mod engine;
mod spec;
mod status;
#[cfg(test)]
mod tests;
mod verdicts;

use schemars::JsonSchema;

use crate::control::lifecycle::DeploymentStatus;
use serde::{Deserialize, Serialize};

pub use engine::Rollout;
pub use spec::{
    valid_script_name, valid_version_id, RolloutSettings, ServiceRollout, Spec, SpecError,
};
pub use status::{AnalysisStatus, RolloutStatus};

/// Attempts at one traffic change (or restore) before giving up on it.
pub const MAX_ATTEMPTS: u32 = 3;
/// Pause between attempts at a failed traffic change.
pub const RETRY_AFTER_MS: i64 = 2_000;
/// Entries kept in the rollout's log; the oldest go first.
pub const LOG_CAP: usize = 300;

/// Where the rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Moving through the steps.
    Running,
    /// Waiting for a human (`resume`, `promote` or `abort`).
    Paused,
    /// Putting every service back on its previous version.
    RollingBack,
    /// Every service serves its new version.
    Succeeded,
    /// Every service that had a previous version serves it again.
    RolledBack,
    /// A restore did not go through: a human has to look.
    Failed,
}

impl Phase {
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::RolledBack | Phase::Failed)
    }

    /// The deployment status the control plane records when the rollout ends this way.
    #[must_use]
    pub fn deployment_status(self) -> Option<DeploymentStatus> {
        match self {
            Phase::Succeeded => Some(DeploymentStatus::Succeeded),
            Phase::RolledBack => Some(DeploymentStatus::RolledBack),
            Phase::Failed => Some(DeploymentStatus::Failed),
            _ => None,
        }
    }
}

/// One Worker's traffic: at most two versions, percentages adding up to 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub script: String,
    pub versions: Vec<(String, f64)>,
}

/// One HTTP check to make, already resolved for the step (override header included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRequest {
    /// Index into the spec's `health_checks`.
    pub check: usize,
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u64,
}

/// One analytics measurement to take: a version of a Worker over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricQuery {
    /// Index into the spec's `analysis`.
    pub metric: usize,
    pub service: String,
    pub script: String,
    pub version: String,
    pub since_ms: i64,
    pub until_ms: i64,
}

/// What the driver should do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set these splits, then report with [`Rollout::traffic_applied`].
    ApplyTraffic(Vec<Split>),
    /// Make these requests and measurements, then report with [`Rollout::checks_done`].
    RunChecks {
        health: Vec<HealthRequest>,
        metrics: Vec<MetricQuery>,
    },
    /// Put these Workers back, then report with [`Rollout::restore_done`].
    Restore(Vec<Split>),
    /// The step held with every check passed: call [`Rollout::advance`].
    Advance,
    /// Record the end on the deployment, then report with [`Rollout::recorded`].
    Record {
        status: DeploymentStatus,
        summary: String,
    },
    /// Nothing before this time (epoch ms): set an alarm.
    WaitUntil(i64),
    /// Nothing until a human acts (paused) or ever again (ended and recorded).
    Idle,
}

/// What a health request came back with (`Err`: no answer, e.g. a timeout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResponse {
    pub check: usize,
    pub result: Result<(u16, String, u64), String>,
}

/// One measurement: the value (`None`: no data in the window) or why it could not be taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub query: MetricQuery,
    pub value: Result<Option<f64>, String>,
}

/// A human's (or the CLI's) instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Pause,
    Resume,
    /// Straight to 100% on every service and done, skipping the remaining steps and checks.
    Promote,
    /// Roll every service back now.
    Abort,
}

impl Command {
    pub const ALL: [Command; 4] = [
        Command::Pause,
        Command::Resume,
        Command::Promote,
        Command::Abort,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Promote => "promote",
            Command::Abort => "abort",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A command that does not apply in the current phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {command} a rollout that is {phase}")]
pub struct CommandError {
    pub command: &'static str,
    pub phase: &'static str,
}

/// Running totals of one analysis metric over the whole rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    /// Measurements taken during the current step.
    pub this_step: u32,
    /// When the last measurement's window ended (epoch ms).
    pub last_until_ms: Option<i64>,
    pub last_value: Option<f64>,
}

/// One line of the rollout's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub kind: String,
    pub message: String,
}

#[must_use]
pub fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Running => "running",
        Phase::Paused => "paused",
        Phase::RollingBack => "rolling_back",
        Phase::Succeeded => "succeeded",
        Phase::RolledBack => "rolled_back",
        Phase::Failed => "failed",
    }
}

/// The first 8 characters of a version id, for log lines.
fn short(version: &str) -> &str {
    version.get(..8).unwrap_or(version)
}
