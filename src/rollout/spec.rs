//! What a rollout runs: the services with their versions, the strategy's steps, the checks and
//! the analysis, validated before the engine takes them; and the start body's settings.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ab::AbConfig;
use crate::config::{
    shortest_step_secs, steps_schema, AnalysisMetric, HealthCheck, Metric, OnDeadline, Pause, Step,
    Strategy, DEFAULT_MAX_PAUSE_SECS, DEFAULT_PROGRESS_DEADLINE_SECS, MAX_PAUSE_STEP_SECS,
};

/// One service of the deployment: its Worker, the version to roll out and the one to return to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct ServiceRollout {
    pub service: String,
    /// The Worker (script) name.
    pub script: String,
    /// What served the traffic before (`None`: the Worker is new).
    pub previous_version: Option<String>,
    pub new_version: String,
    /// `wrangler deploy` already put the new version at 100% (a first deploy or a Durable
    /// Object migration): there is no split to make, only checks and, on failure, a restore.
    #[serde(default)]
    pub already_live: bool,
}

/// What to roll out and how. The control plane builds it from its own records (the
/// deployment's strategy, the versions the deployment recorded as uploaded) and the caller's
/// [`RolloutSettings`]; no caller names the Workers or versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub strategy: Strategy,
    /// Gradual only: the percentages of traffic on the new versions, increasing, ending at
    /// 100, with gates between them. Ignored by the other strategies (immediate: `[100]`,
    /// blue-green: `[0, 100]`).
    #[serde(default)]
    pub steps: Vec<Step>,
    /// How long each step holds while checks run. Immediate does not hold: its one step ends
    /// as soon as one round of checks (every health check, one measurement of every metric)
    /// has passed.
    pub step_wait_secs: u64,
    #[serde(default = "yes")]
    pub auto_rollback: bool,
    pub services: Vec<ServiceRollout>,
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default)]
    pub analysis: Vec<AnalysisMetric>,
    /// No step advance for this long (paused time aside): `on_deadline` happens.
    #[serde(default = "default_progress_deadline")]
    pub progress_deadline_secs: u64,
    #[serde(default)]
    pub on_deadline: OnDeadline,
    /// A pause nobody ends for this long aborts the rollout.
    #[serde(default = "default_max_pause")]
    pub max_pause_secs: u64,
    /// Strategy `ab` only: the split, window, affinity and promotion of the A/B test.
    #[serde(default)]
    pub ab: Option<AbConfig>,
    /// The Pages sites the deployment put live before its rollout (from its recorded Pages
    /// deployments): a rollback puts each back on the production deployment that served
    /// before, after the Workers.
    #[serde(default)]
    pub pages: Vec<super::pages::PagesSite>,
}

fn yes() -> bool {
    true
}

fn default_progress_deadline() -> u64 {
    DEFAULT_PROGRESS_DEADLINE_SECS
}

fn default_max_pause() -> u64 {
    DEFAULT_MAX_PAUSE_SECS
}

/// The body of `POST /api/v1/deployments/{id}/rollout`: only how to roll out. The strategy is
/// the one the deployment was created with, the account is the environment's, and the Workers
/// and versions are the ones the deployment recorded as uploaded, so none of them is a field
/// here (an unknown field is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutSettings {
    /// Gradual only: increasing percentages ending at 100 (default 10, 50, 100), with gates
    /// between them: `{"pause": true}` holds until resumed, `{"pause": SECONDS}` that long.
    #[serde(default)]
    #[schemars(schema_with = "steps_schema")]
    pub steps: Vec<Step>,
    #[serde(default)]
    #[schemars(range(max = 86_400))]
    pub step_wait_secs: u64,
    #[serde(default = "yes")]
    pub auto_rollback: bool,
    #[serde(default)]
    #[schemars(schema_with = "health_checks_schema")]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default)]
    #[schemars(schema_with = "analysis_schema")]
    pub analysis: Vec<AnalysisMetric>,
    /// A rollout with no step advance for this long (paused time aside) aborts or pauses.
    #[serde(default = "default_progress_deadline")]
    #[schemars(range(min = 60, max = 604_800))]
    pub progress_deadline_secs: u64,
    #[serde(default)]
    pub on_deadline: OnDeadline,
    /// A pause (a gate, a human, an inconclusive analysis) nobody ends for this long aborts.
    #[serde(default = "default_max_pause")]
    #[schemars(range(min = 60, max = 604_800))]
    pub max_pause_secs: u64,
    /// Strategy `ab` only (required there): the A/B test's settings.
    #[serde(default)]
    pub ab: Option<AbConfig>,
}

impl RolloutSettings {
    /// The spec these settings give a deployment of `strategy` with these recorded services.
    #[must_use]
    pub fn into_spec(self, strategy: Strategy, services: Vec<ServiceRollout>) -> Spec {
        Spec {
            strategy,
            steps: self.steps,
            step_wait_secs: self.step_wait_secs,
            auto_rollback: self.auto_rollback,
            services,
            health_checks: self.health_checks,
            analysis: self.analysis,
            progress_deadline_secs: self.progress_deadline_secs,
            on_deadline: self.on_deadline,
            max_pause_secs: self.max_pause_secs,
            ab: self.ab,
            pages: Vec::new(),
        }
    }
}

/// Whether `name` can be a Worker (script) name: 1-63 lowercase letters, digits, `-` or `_`.
/// Such a name is also safe as a segment of a Cloudflare API path (no `/`, `.`, `?`, `#`).
#[must_use]
pub fn valid_script_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether `id` can be a Worker version id (a UUID; accepted: 1-64 letters, digits and `-`),
/// safe as a path segment.
#[must_use]
pub fn valid_version_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A spec the engine cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl Spec {
    /// The traffic steps this spec runs.
    #[must_use]
    pub fn traffic_steps(&self) -> Vec<f64> {
        if let (Strategy::Ab, Some(ab)) = (self.strategy, &self.ab) {
            return vec![ab.split, 100.0];
        }
        self.strategy.traffic_steps(&self.steps)
    }

    /// The gate before traffic step `step` (gradual only).
    #[must_use]
    pub fn gate_before(&self, step: usize) -> Option<Pause> {
        if self.strategy != Strategy::Gradual {
            return None;
        }
        Step::gates(&self.steps).ok()?.get(step).copied().flatten()
    }

    /// Checks what the engine relies on; every problem is named with its field.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |m: String| Err(SpecError(m));
        if self.strategy == Strategy::Ab || self.ab.is_some() {
            super::ab::validate_spec(self)?;
        }
        if self.services.is_empty() {
            return bad("`services`: at least one service is needed".into());
        }
        if self.services.len() > 50 {
            return bad("`services`: at most 50 per deployment".into());
        }
        if self.step_wait_secs > 24 * 3600 {
            return bad("`step_wait_secs`: at most 86400 (one day)".into());
        }
        for (name, secs) in [
            ("progress_deadline_secs", self.progress_deadline_secs),
            ("max_pause_secs", self.max_pause_secs),
        ] {
            if !(60..=MAX_PAUSE_STEP_SECS).contains(&secs) {
                return bad(format!(
                    "`{name}` {secs}: from 60 to {MAX_PAUSE_STEP_SECS} seconds"
                ));
            }
        }
        // A deadline shorter than a step would end every rollout.
        let step_takes = shortest_step_secs(self.strategy, self.step_wait_secs, &self.analysis);
        if self.progress_deadline_secs <= step_takes {
            return bad(format!(
                "`progress_deadline_secs` {}: a step takes at least {step_takes} s (`step_wait_secs` and `count` × `interval_secs` of the inline analysis), so the deadline must be longer",
                self.progress_deadline_secs
            ));
        }
        if self.strategy == Strategy::Gradual {
            if self.steps.len() > 40 {
                return bad("`steps`: at most 40 entries".into());
            }
            Step::gates(&self.steps).map_err(SpecError)?;
        }
        let steps = self.traffic_steps();
        if steps.is_empty() || steps.len() > 20 {
            return bad("`steps`: 1 to 20 percentages".into());
        }
        if steps
            .iter()
            .any(|p| !p.is_finite() || *p < 0.0 || *p > 100.0)
        {
            return bad(format!(
                "`steps` {steps:?}: every step is between 0 and 100"
            ));
        }
        if steps.windows(2).any(|w| w[1] <= w[0]) || steps.last() != Some(&100.0) {
            return bad(format!(
                "`steps` {steps:?}: increasing percentages ending at 100"
            ));
        }
        for (i, s) in self.services.iter().enumerate() {
            if s.script.is_empty() || s.new_version.is_empty() || s.service.is_empty() {
                return bad(format!(
                    "`services[{i}]`: `service`, `script` and `new_version` are required"
                ));
            }
            if s.previous_version.as_deref() == Some(s.new_version.as_str()) {
                return bad(format!(
                    "`services[{i}]` ({}): the new version is the one already serving",
                    s.service
                ));
            }
        }
        let known = |name: &Option<String>| {
            name.as_ref()
                .is_none_or(|n| self.services.iter().any(|s| &s.service == n))
        };
        for (i, c) in self.health_checks.iter().enumerate() {
            if !known(&c.service) {
                return bad(format!(
                    "`health_checks[{i}]` ({}): service {:?} is not in this deployment",
                    c.name,
                    c.service.as_deref().unwrap_or_default()
                ));
            }
            if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
                return bad(format!(
                    "`health_checks[{i}]` ({}): the url must be http(s)",
                    c.name
                ));
            }
        }
        for (i, m) in self.analysis.iter().enumerate() {
            if !known(&m.service) {
                return bad(format!(
                    "`analysis[{i}]` ({}): service {:?} is not in this deployment",
                    m.name,
                    m.service.as_deref().unwrap_or_default()
                ));
            }
            if m.interval_secs == 0 || m.count == 0 {
                return bad(format!(
                    "`analysis[{i}]` ({}): `interval_secs` and `count` are at least 1",
                    m.name
                ));
            }
            if m.interval_secs > 86_400 {
                return bad(format!(
                    "`analysis[{i}]` ({}): `interval_secs` is at most 86400",
                    m.name
                ));
            }
        }
        if self.strategy == Strategy::BlueGreen
            && !self
                .health_checks
                .iter()
                .any(|c| c.version_override && c.service.is_some())
        {
            return bad("blue-green needs a health check with `service` and `version_override`: the new version takes no traffic until that check passes".into());
        }
        Ok(())
    }
}

// The schemas of the config types the start body carries (`config::HealthCheck`,
// `config::AnalysisMetric`): unknown fields are ignored there, so these stay open.

/// An object schema with these required fields and properties.
fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn text() -> Value {
    json!({ "type": "string" })
}

/// `schema` or `null` (a string schema whose type becomes `["string", "null"]`).
fn nullable(mut schema: Value) -> Value {
    schema["type"] = json!([schema["type"].clone(), "null"]);
    schema
}

/// Where a check came from in the project's config (optional over the API).
fn location() -> Value {
    let line = json!({ "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX });
    object(
        &["file", "key_path"],
        json!({ "file": text(), "line": line, "column": line, "key_path": text() }),
    )
}

/// A comparison such as `< 0.05` or `>= 100`, or with the previous version's value:
/// `< baseline * 1.5 + 0.01`.
fn condition() -> Value {
    const NUMBER: &str = "([0-9]{1,15}(\\.[0-9]{0,15})?|\\.[0-9]{1,15})([eE][-+]?[0-9]{1,2})?";
    let pattern = format!(
        "^ *(<=|>=|==|!=|<|>) *([-+]?{NUMBER}|baseline( *\\* *{NUMBER})?( *[-+] *{NUMBER})?) *$"
    );
    json!({ "type": "string", "pattern": pattern })
}

fn health_checks_schema(_: &mut SchemaGenerator) -> Schema {
    let check = object(
        &[
            "name",
            "url",
            "method",
            "headers",
            "expect_status",
            "timeout_ms",
            "version_override",
        ],
        json!({
            "name": text(),
            "service": nullable(text()),
            "url": { "type": "string", "pattern": "^https?://", "description": "http(s)" },
            "method": { "type": "string", "description": "upper-case HTTP method" },
            "headers": { "type": "object", "additionalProperties": text() },
            "body": nullable(text()),
            "expect_status": { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 65_535 } },
            "expect_body_contains": nullable(text()),
            "max_latency_ms": { "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX },
            "timeout_ms": { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            "version_override": { "type": "boolean", "description": "pin requests to the new version (needs `service`)" },
            "location": location(),
        }),
    );
    json_schema!({ "type": "array", "items": check, "default": [] })
}

fn analysis_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
    let count = json!({ "type": "integer", "minimum": 1, "maximum": 4_294_967_295_u64 });
    let limit = json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 });
    let metric = object(
        &[
            "name",
            "metric",
            "interval_secs",
            "count",
            "failure_limit",
            "inconclusive_limit",
        ],
        json!({
            "name": text(),
            "metric": { "type": "string", "enum": names },
            "service": nullable(text()),
            "condition": nullable(condition()),
            "failure_condition": nullable(condition()),
            "interval_secs": { "type": "integer", "minimum": 1, "maximum": 86_400 },
            "count": count,
            "failure_limit": limit,
            "inconclusive_limit": limit,
            "consecutive_error_limit": limit,
            "min_requests": { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            "background": { "type": "boolean" },
            "location": location(),
        }),
    );
    json_schema!({ "type": "array", "items": metric, "default": [] })
}
