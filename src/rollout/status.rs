//! The live status of a rollout: what `GET …/rollout` answers, what the live WebSocket sends
//! and what the CLI reads (re-exported by `api::contract::rollouts`).

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::{Action, LogEntry, Phase, Rollout, ServiceRollout, ServiceTally};
use crate::config::{Metric, Strategy};

/// A rollout as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct RolloutStatus {
    pub deployment_id: String,
    #[schemars(schema_with = "strategy_schema")]
    pub strategy: Strategy,
    pub phase: Phase,
    /// The traffic steps (percent of traffic on the new versions).
    pub steps: Vec<f64>,
    /// Index into `steps`.
    #[schemars(range(min = 0))]
    pub step: usize,
    /// The traffic of `step` is live.
    pub step_applied: bool,
    /// Of the new versions; after a rollback the previous versions have it all again.
    pub traffic_percent: Option<f64>,
    /// Why it paused, rolled back or failed.
    pub reason: Option<String>,
    /// The deployment no longer holds its environment's lock: the rollout paused without
    /// moving traffic further.
    pub lock_lost: bool,
    pub services: Vec<ServiceRollout>,
    pub analysis: Vec<AnalysisStatus>,
    /// Epoch ms.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// When the rollout next acts (`null`: it waits for a human, or has ended).
    pub next_action_at: Option<i64>,
    /// While it runs: when it aborts (or pauses, per `on_deadline`) unless a step advances
    /// first (epoch ms).
    pub progress_deadline_at: Option<i64>,
    /// While paused: when it is aborted unless someone resumes, promotes or aborts it.
    pub pause_expires_at: Option<i64>,
    /// The current step's hold ends (epoch ms; paused time is added back: a pause stops
    /// the step's clock). `null` before the step's traffic is live.
    pub hold_until: Option<i64>,
    /// The deployment's final status is written.
    pub recorded: bool,
    pub log: Vec<LogEntry>,
    /// A/B tests: the split, the window, the results per version and the winner.
    pub ab: Option<super::ab::AbStatus>,
}

/// One analysis metric with its running totals (all services together) and its counts per
/// service, which the limits apply to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct AnalysisStatus {
    pub name: String,
    #[schemars(schema_with = "metric_schema")]
    pub metric: Metric,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    /// Measurements that could not be taken (the analytics query failed).
    pub errors: u32,
    pub last_value: Option<f64>,
    pub failure_limit: u32,
    pub inconclusive_limit: u32,
    pub consecutive_error_limit: u32,
    /// Measurements each step waits for (inline metrics).
    pub count: u32,
    /// Measurement rounds taken in the current step.
    pub measurements_this_step: u32,
    /// Measured across steps; steps do not wait for it.
    pub background: bool,
    pub min_requests: u64,
    /// The condition(s) compare with the previous version's value.
    pub uses_baseline: bool,
    /// The success condition as written (`< 0.05`, `<= baseline * 1.2`), if any.
    pub condition: Option<String>,
    /// The failure condition as written, if any.
    pub failure_condition: Option<String>,
    pub services: Vec<ServiceTally>,
}

/// `config::Strategy` as it travels (kebab-case words).
fn strategy_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": ["immediate", "gradual", "blue-green", "ab"] })
}

/// `config::Metric` as it travels.
pub(super) fn metric_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
    json_schema!({ "type": "string", "enum": names })
}

impl Rollout {
    /// The live status at `now`.
    #[must_use]
    pub fn status(&self, now: i64) -> RolloutStatus {
        let next_action_at = match self.next(now) {
            Action::WaitUntil(t) => Some(t),
            Action::Idle => None,
            _ => Some(now),
        };
        RolloutStatus {
            deployment_id: self.deployment_id.clone(),
            strategy: self.spec.strategy,
            phase: self.phase,
            steps: self.spec.traffic_steps(),
            step: self.step,
            step_applied: self.step_applied,
            traffic_percent: match self.phase {
                Phase::Succeeded => Some(100.0),
                Phase::RolledBack => Some(0.0),
                _ => self.applied_percent(),
            },
            reason: self.reason.clone(),
            lock_lost: self.lock_lost,
            services: self.spec.services.clone(),
            analysis: self
                .spec
                .analysis
                .iter()
                .zip(&self.tallies)
                .map(|(m, t)| AnalysisStatus {
                    name: m.name.clone(),
                    metric: m.metric,
                    successful: t.successful,
                    failed: t.failed,
                    inconclusive: t.inconclusive,
                    errors: t.errors,
                    last_value: t.last_value,
                    failure_limit: m.failure_limit,
                    inconclusive_limit: m.inconclusive_limit,
                    consecutive_error_limit: m.consecutive_error_limit,
                    count: m.count,
                    measurements_this_step: t.this_step,
                    background: m.background,
                    min_requests: m.min_requests,
                    uses_baseline: m.uses_baseline(),
                    condition: m.condition.map(|c| c.to_string()),
                    failure_condition: m.failure_condition.map(|c| c.to_string()),
                    services: t.services.clone(),
                })
                .collect(),
            started_at: self.started_ms,
            finished_at: self.finished_ms,
            next_action_at,
            progress_deadline_at: self.deadline_at(),
            pause_expires_at: self.pause_expires_at(),
            hold_until: (self.step_applied && self.phase == Phase::Running)
                .then(|| self.hold_until()),
            recorded: self.recorded,
            log: self.log.clone(),
            ab: self.ab_status(now),
        }
    }
}
