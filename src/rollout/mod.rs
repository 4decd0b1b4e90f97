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
#[cfg(test)]
mod analysis_tests;
pub mod analytics;
pub mod checks;
pub mod driver;
#[cfg(test)]
mod driver_pages_tests;
#[cfg(test)]
mod driver_tests;
mod engine;
mod pages;
mod spec;
mod status;
#[cfg(test)]
mod tests;
mod verdicts;

use schemars::JsonSchema;

use crate::control::lifecycle::DeploymentStatus;
use serde::{Deserialize, Serialize};

pub use engine::Rollout;
pub use pages::PagesSite;
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
    /// The previous version to measure over the same window, when the metric compares with
    /// a baseline and the service has one.
    #[serde(default)]
    pub baseline_version: Option<String>,
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
    /// The Workers are back: put these Pages sites back on their previous production
    /// deployment (the Pages rollback API), then report with [`Rollout::pages_restore_done`].
    RestorePages(Vec<PagesSite>),
    /// The step held with every check passed: call [`Rollout::advance`].
    Advance,
    /// The progress deadline or the pause cap passed: call [`Rollout::expire`].
    Expire,
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

/// One measurement: the value (`None`: no data in the window) or why it could not be taken
/// (an error: the analytics query failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub query: MetricQuery,
    pub value: Result<Option<f64>, String>,
    /// Requests the new version served in the window, when the answer said.
    #[serde(default)]
    pub requests: Option<f64>,
    /// The previous version's value over the same window (asked for by
    /// `query.baseline_version`).
    #[serde(default)]
    pub baseline: Option<Result<Option<f64>, String>>,
}

impl Measurement {
    /// A measurement that could not be taken.
    #[must_use]
    pub fn error(query: &MetricQuery, why: String) -> Measurement {
        Measurement {
            query: query.clone(),
            value: Err(why),
            requests: None,
            baseline: None,
        }
    }
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

/// The verdict on one measurement of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Successful,
    Failed,
    /// Taken, but nothing to judge (no or too few requests, no baseline, between conditions).
    Inconclusive,
    /// Not taken: the analytics query failed.
    Error,
}

/// Running totals of one analysis metric over the whole rollout (all services together),
/// with the counts per service that the limits apply to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    /// Measurement rounds taken during the current step.
    pub this_step: u32,
    /// When the last measurement's window ended (epoch ms).
    pub last_until_ms: Option<i64>,
    pub last_value: Option<f64>,
    #[serde(default)]
    pub errors: u32,
    /// Per service, in the order first measured (absent in rollouts stored before).
    #[serde(default)]
    pub services: Vec<ServiceTally>,
}

/// One metric's counts for one service: what `failure_limit`, `inconclusive_limit` and
/// `consecutive_error_limit` are compared with (the status shows it as it is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct ServiceTally {
    pub service: String,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub errors: u32,
    /// Errors in a row since the last measurement that was taken.
    pub error_streak: u32,
    pub last_verdict: Option<Verdict>,
    pub last_value: Option<f64>,
    /// The previous version's value over the same window (baseline metrics).
    pub baseline_value: Option<f64>,
    /// Requests the new version served in the last window.
    pub last_requests: Option<f64>,
    /// Why the last measurement was judged so.
    pub last_message: Option<String>,
    /// The last measurements taken (at most `MAX_SAMPLES`, oldest first), for the dashboard's
    /// chart of each version against the thresholds (absent in rollouts stored before).
    #[serde(default)]
    pub samples: Vec<MetricSample>,
}

/// Measurements kept per metric and service: bounded, so the rollout's stored state (one
/// Durable Object value) stays small however long it runs.
pub const MAX_SAMPLES: usize = 30;

/// One measurement as it was judged: the new version's value, the previous version's over the
/// same window, and the thresholds the conditions set for that window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct MetricSample {
    /// When the measured window ended (Unix ms).
    pub at_ms: i64,
    /// The new version's value (none: no traffic to measure).
    pub value: Option<f64>,
    /// The previous version's value over the same window (baseline conditions only).
    pub baseline: Option<f64>,
    /// What the success condition compared with (`baseline * factor + value` for a baseline
    /// condition; none without a condition or without a baseline).
    pub threshold: Option<f64>,
    /// What the failure condition compared with.
    pub failure_threshold: Option<f64>,
    pub verdict: Verdict,
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
