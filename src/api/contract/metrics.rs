//! Contract types of `GET /api/v1/metrics/dora`: the DORA software-delivery metrics of one
//! project environment (optionally one service) over a window, with DORA's performance bands
//! and a daily series for charts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;

/// `GET /api/v1/metrics/dora` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoraQuery {
    pub project: String,
    pub environment: String,
    /// Only deployments that shipped this service.
    pub service: Option<String>,
    /// The window, in days up to now (1 to 365; default 30).
    #[schemars(range(min = 1, max = 365))]
    pub days: Option<u32>,
}

/// Where a figure sits among DORA's published performance clusters (context, not a goal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

/// One metric: its value (null when it could not be measured, with why) and its band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Figure {
    /// In `unit`; null when nothing in the window could measure it.
    pub value: Option<f64>,
    /// `per_day`, `ms` or `ratio` (0 to 1).
    pub unit: String,
    /// How many deployments the figure is computed from.
    pub sample: u32,
    /// DORA's band for the value, when DORA publishes bands for this metric.
    pub band: Option<Band>,
    /// Why the value is null, or what it is a proxy for; else null.
    pub note: Option<String>,
}

/// One UTC day of the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct DoraDay {
    /// The day's start (Unix ms, UTC midnight).
    pub day: i64,
    pub succeeded: u32,
    /// Failed or rolled back.
    pub failed: u32,
}

/// The answer of `GET /api/v1/metrics/dora`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct DoraReport {
    pub project: String,
    pub environment: String,
    pub service: Option<String>,
    /// The window: deployments that finished in [from, to) (Unix ms).
    pub from: i64,
    pub to: i64,
    /// Deployments that started and finished (succeeded, failed or rolled back) in the window.
    pub deployments: u32,
    pub deployment_frequency: Figure,
    pub change_lead_time: Figure,
    pub change_fail_rate: Figure,
    pub failed_deployment_recovery_time: Figure,
    pub deployment_rework_rate: Figure,
    pub success_rate: Figure,
    pub median_deploy_duration: Figure,
    pub time_to_rollback: Figure,
    pub daily: Vec<DoraDay>,
}
