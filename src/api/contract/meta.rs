//! Contract types of the unauthenticated routes (liveness, readiness, version) and the error
//! body every route answers with when it fails.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::api::error::{ErrorBody, ErrorCode, ErrorDetail};
pub use crate::api::VersionInfo;

/// `GET /healthz`: the isolate is up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub status: HealthStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// `GET /readyz`: 200 when every check passed, else 503 with the same body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Readiness {
    pub status: ReadyState,
    pub checks: ReadinessChecks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyState {
    Ready,
    NotReady,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadinessChecks {
    pub d1: Check,
    pub deploy_lock: Check,
    pub rollout: Check,
}

impl ReadinessChecks {
    /// Ready only when every check answered and passed (a check that could not be made fails).
    #[must_use]
    pub fn readiness(self) -> Readiness {
        let ready = [&self.d1, &self.deploy_lock, &self.rollout]
            .iter()
            .all(|c| c.ok);
        Readiness {
            status: if ready {
                ReadyState::Ready
            } else {
                ReadyState::NotReady
            },
            checks: self,
        }
    }
}

/// One readiness check: `ok`, and what it found (or why it failed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// D1: the newest applied migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// A Durable Object: when its probe record was last written (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<i64>,
    /// A Durable Object: whether this probe wrote (at most every ten minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrote: Option<bool>,
}

impl Check {
    #[must_use]
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_fails_when_any_check_failed_and_keeps_the_wire_shape() {
        let ok = Check {
            ok: true,
            schema_version: Some("0001_initial.sql".into()),
            ..Check::default()
        };
        let ready = ReadinessChecks {
            d1: ok.clone(),
            deploy_lock: ok.clone(),
            rollout: ok.clone(),
        }
        .readiness();
        assert_eq!(ready.status, ReadyState::Ready);
        let not = ReadinessChecks {
            d1: ok.clone(),
            deploy_lock: Check::failed("timed out"),
            rollout: ok,
        }
        .readiness();
        assert_eq!(not.status, ReadyState::NotReady);
        let wire = serde_json::to_value(&not).unwrap();
        assert_eq!(wire["status"], "not_ready");
        assert_eq!(
            wire["checks"]["deploy_lock"],
            serde_json::json!({ "ok": false, "error": "timed out" })
        );
        assert_eq!(
            wire["checks"]["d1"],
            serde_json::json!({ "ok": true, "schema_version": "0001_initial.sql" })
        );
    }
}
