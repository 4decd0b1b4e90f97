//! Contract types of comparing two deployments (`GET …/deployments/{a}/compare/{b}`): what
//! each shipped (the snapshots `clodo deploy` records, as `clodo diff` reads them), the
//! differences, the git range and each service's performance before and after, measured from
//! Workers analytics like the rollout analysis — or why it could not be.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployments::Deployment;
use super::every_field_present;
pub use crate::deploy::{Difference, ServiceSnapshot};

/// The answer of the compare route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Comparison {
    pub from: ComparedDeployment,
    pub to: ComparedDeployment,
    /// Versions, compatibility dates, bindings and services that differ (`clodo diff`).
    pub differences: Vec<Difference>,
    pub git: GitRange,
    pub performance: PerformanceComparison,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ComparedDeployment {
    pub deployment: Deployment,
    /// What it shipped, per service; empty when it never reached `verifying`.
    pub services: Vec<ServiceSnapshot>,
}

/// The commits between the two deployments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct GitRange {
    pub from_sha: Option<String>,
    pub to_sha: Option<String>,
    /// The project's GitHub repository (`owner/name`) when the integration is set up.
    pub repository: Option<String>,
    /// The repository's compare page for the range, when both commits and the repository
    /// are known.
    pub compare_url: Option<String>,
}

/// Each service's performance under the first deployment and under the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct PerformanceComparison {
    /// Why nothing could be measured (no account bound, no credential, nothing shipped);
    /// null when measurements were attempted (each service then says how it went).
    pub unavailable: Option<String>,
    /// How long after each deployment finished its versions are measured (ms), at most.
    pub window_ms: i64,
    pub services: Vec<ServicePerformance>,
}

/// One service before (the first deployment's version) and after (the second's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ServicePerformance {
    pub service: String,
    pub before: Measured,
    pub after: Measured,
}

/// A version measured over a window, or why it was not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Measured {
    /// The Worker version measured (null when that deployment did not ship the service).
    pub version: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Requests in the window; null when not measured.
    pub requests: Option<f64>,
    /// Errors / requests; null when not measured or no requests.
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Why there are no numbers (analytics unreachable, deployment never finished, …).
    pub problem: Option<String>,
}

impl Measured {
    /// Not measured, for `problem`.
    #[must_use]
    pub fn not(version: Option<String>, problem: impl Into<String>) -> Self {
        Self {
            version,
            since_ms: None,
            until_ms: None,
            requests: None,
            error_rate: None,
            p50_ms: None,
            p99_ms: None,
            problem: Some(problem.into()),
        }
    }
}
