//! The progressive rollout engine: a pure state machine that moves a deployment's services
//! through traffic steps, judges health checks and metric analysis between them, and rolls every
//! service back when a check fails.
//!
//! It performs no I/O. A driver (the `Rollout` Durable Object) asks [`Rollout::next`] what to do
//! at a given time, does it (Cloudflare deployments API, HTTP checks, analytics queries) and
//! reports the results back; the whole state is one serde value, stored after every report, so
//! a restarted driver continues where the last stored report left it.

pub mod analytics;
pub mod checks;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::config::{version_override_header, AnalysisMetric, HealthCheck, Outcome, Strategy};

/// Attempts at one traffic change (or restore) before giving up on it.
pub const MAX_ATTEMPTS: u32 = 3;
/// Pause between attempts at a failed traffic change.
pub const RETRY_AFTER_MS: i64 = 2_000;
/// Entries kept in the rollout's log; the oldest go first.
pub const LOG_CAP: usize = 300;

/// One service of the deployment: its Worker, the version to roll out and the one to return to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// 100. Ignored by the other strategies (immediate: `[100]`, blue-green: `[0, 100]`).
    #[serde(default)]
    pub steps: Vec<f64>,
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
}

fn yes() -> bool {
    true
}

/// The body of `POST /api/v1/deployments/{id}/rollout`: only how to roll out. The strategy is
/// the one the deployment was created with, the account is the environment's, and the Workers
/// and versions are the ones the deployment recorded as uploaded, so none of them is a field
/// here (an unknown field is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSettings {
    /// Gradual only: see [`Spec::steps`].
    #[serde(default)]
    pub steps: Vec<f64>,
    #[serde(default)]
    pub step_wait_secs: u64,
    #[serde(default = "yes")]
    pub auto_rollback: bool,
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default)]
    pub analysis: Vec<AnalysisMetric>,
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
        self.strategy.traffic_steps(&self.steps)
    }

    /// Checks what the engine relies on; every problem is named with its field.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |m: String| Err(SpecError(m));
        if self.services.is_empty() {
            return bad("`services`: at least one service is needed".into());
        }
        if self.services.len() > 50 {
            return bad("`services`: at most 50 per deployment".into());
        }
        if self.step_wait_secs > 24 * 3600 {
            return bad("`step_wait_secs`: at most 86400 (one day)".into());
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

/// Where the rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub fn deployment_status(self) -> Option<&'static str> {
        match self {
            Phase::Succeeded => Some("succeeded"),
            Phase::RolledBack => Some("rolled_back"),
            Phase::Failed => Some("failed"),
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

impl Split {
    /// The body of `POST /accounts/{a}/workers/scripts/{s}/deployments`.
    #[must_use]
    pub fn deployment_body(&self, message: &str) -> serde_json::Value {
        serde_json::json!({
            "strategy": "percentage",
            "versions": self.versions.iter().map(|(v, p)| serde_json::json!({ "version_id": v, "percentage": p })).collect::<Vec<_>>(),
            "annotations": { "workers/message": message },
        })
    }
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
        status: &'static str,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
        [
            Command::Pause,
            Command::Resume,
            Command::Promote,
            Command::Abort,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub at_ms: i64,
    pub kind: String,
    pub message: String,
}

/// The whole state of one rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub deployment_id: String,
    pub spec: Spec,
    pub phase: Phase,
    /// Index into the traffic steps.
    pub step: usize,
    /// The traffic of `step` is live.
    pub step_applied: bool,
    pub step_started_ms: i64,
    /// The health checks of the current step passed.
    pub step_checked: bool,
    /// Failed attempts at the current traffic change or restore.
    pub attempts: u32,
    /// Do nothing before this time (a retry's pause).
    pub not_before_ms: i64,
    pub tallies: Vec<Tally>,
    /// Why it paused, rolled back or failed.
    pub reason: Option<String>,
    /// The end is written on the deployment record.
    pub recorded: bool,
    /// The deployment no longer holds its environment's lock (the lease ran out or an admin
    /// broke it): nothing moves traffic any more; only `abort` (which ends the rollout where
    /// it stands) applies.
    #[serde(default)]
    pub lock_lost: bool,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub log: Vec<LogEntry>,
    pub next_seq: u64,
}

impl Rollout {
    /// A rollout at its first step, not yet applied.
    pub fn new(deployment_id: &str, spec: Spec, now: i64) -> Result<Rollout, SpecError> {
        spec.validate()?;
        let tallies = vec![Tally::default(); spec.analysis.len()];
        let mut r = Rollout {
            deployment_id: deployment_id.to_owned(),
            phase: Phase::Running,
            step: 0,
            step_applied: false,
            step_started_ms: now,
            step_checked: false,
            attempts: 0,
            not_before_ms: now,
            tallies,
            reason: None,
            recorded: false,
            lock_lost: false,
            started_ms: now,
            finished_ms: None,
            log: Vec::new(),
            next_seq: 1,
            spec,
        };
        let steps = r.spec.traffic_steps();
        r.note(
            now,
            "started",
            format!(
                "{} rollout of {} service(s), steps {}",
                r.spec.strategy,
                r.spec.services.len(),
                steps
                    .iter()
                    .map(|p| format!("{p}%"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        );
        Ok(r)
    }

    fn note(&mut self, now: i64, kind: &str, message: String) {
        self.log.push(LogEntry {
            seq: self.next_seq,
            at_ms: now,
            kind: kind.to_owned(),
            message,
        });
        self.next_seq += 1;
        if self.log.len() > LOG_CAP {
            let extra = self.log.len() - LOG_CAP;
            self.log.drain(..extra);
        }
    }

    /// The traffic percentage of the current step.
    #[must_use]
    pub fn percent(&self) -> f64 {
        self.spec
            .traffic_steps()
            .get(self.step)
            .copied()
            .unwrap_or(100.0)
    }

    fn is_last_step(&self) -> bool {
        self.step + 1 >= self.spec.traffic_steps().len()
    }

    /// The splits that put `percent` of every service's traffic on its new version.
    fn splits_at(&self, percent: f64) -> Vec<Split> {
        self.spec
            .services
            .iter()
            .filter(|s| !s.already_live)
            .map(|s| {
                let versions = match &s.previous_version {
                    Some(prev) if percent < 100.0 => vec![
                        (s.new_version.clone(), percent),
                        (prev.clone(), 100.0 - percent),
                    ],
                    _ => vec![(s.new_version.clone(), 100.0)],
                };
                Split {
                    script: s.script.clone(),
                    versions,
                }
            })
            .collect()
    }

    /// The splits that put every service that had a previous version back on it.
    fn restore_splits(&self) -> Vec<Split> {
        self.spec
            .services
            .iter()
            .filter_map(|s| {
                s.previous_version.as_ref().map(|prev| Split {
                    script: s.script.clone(),
                    versions: vec![(prev.clone(), 100.0)],
                })
            })
            .collect()
    }

    fn step_wait_ms(&self) -> i64 {
        // Immediate verifies after its one step without holding it: the checks are the wait.
        if self.spec.strategy == Strategy::Immediate {
            return 0;
        }
        i64::try_from(self.spec.step_wait_secs)
            .unwrap_or(i64::MAX / 2)
            .saturating_mul(1000)
    }

    /// The analysis metrics that apply at this step: none while the new versions take no
    /// traffic (blue-green's 0%: there is nothing to measure).
    fn metrics_apply(&self) -> bool {
        self.percent() > 0.0
    }

    /// When metric `i` is next due in this step (`None`: its count for the step is taken).
    fn metric_due_at(&self, i: usize) -> Option<i64> {
        let m = &self.spec.analysis[i];
        let t = &self.tallies[i];
        if t.this_step >= m.count {
            return None;
        }
        let interval = i64::try_from(m.interval_secs)
            .unwrap_or(i64::MAX / 2000)
            .saturating_mul(1000);
        let since = t
            .last_until_ms
            .unwrap_or(self.step_started_ms)
            .max(self.step_started_ms);
        Some(since + interval)
    }

    fn services_for(&self, only: Option<&String>) -> Vec<&ServiceRollout> {
        self.spec
            .services
            .iter()
            .filter(|s| only.is_none_or(|o| &s.service == o))
            .collect()
    }

    /// What to do at `now`.
    #[must_use]
    pub fn next(&self, now: i64) -> Action {
        match self.phase {
            Phase::Paused => Action::Idle,
            _ if self.phase.is_terminal() => {
                if self.recorded {
                    Action::Idle
                } else {
                    Action::Record {
                        status: self.phase.deployment_status().unwrap_or("failed"),
                        summary: self.summary(),
                    }
                }
            }
            _ if now < self.not_before_ms => Action::WaitUntil(self.not_before_ms),
            Phase::RollingBack => Action::Restore(self.restore_splits()),
            _ if !self.step_applied => Action::ApplyTraffic(self.splits_at(self.percent())),
            _ => self.next_while_holding(now),
        }
    }

    fn next_while_holding(&self, now: i64) -> Action {
        let health: Vec<HealthRequest> = if self.step_checked {
            Vec::new()
        } else {
            self.health_requests()
        };
        let mut metrics = Vec::new();
        let mut next_due: Option<i64> = None;
        if self.metrics_apply() {
            for i in 0..self.spec.analysis.len() {
                match self.metric_due_at(i) {
                    Some(due) if due <= now => {
                        let m = &self.spec.analysis[i];
                        let since = self.tallies[i]
                            .last_until_ms
                            .unwrap_or(self.step_started_ms)
                            .max(self.step_started_ms);
                        for s in self.services_for(m.service.as_ref()) {
                            metrics.push(MetricQuery {
                                metric: i,
                                service: s.service.clone(),
                                script: s.script.clone(),
                                version: s.new_version.clone(),
                                since_ms: since,
                                until_ms: now,
                            });
                        }
                    }
                    Some(due) => next_due = Some(next_due.map_or(due, |d: i64| d.min(due))),
                    None => {}
                }
            }
        }
        if !health.is_empty() || !metrics.is_empty() {
            return Action::RunChecks { health, metrics };
        }
        let hold_until = self.step_started_ms + self.step_wait_ms();
        // The step ends once it has held, its checks passed and every metric that applies
        // has been measured at least once in it.
        let measured = !self.metrics_apply() || self.tallies.iter().all(|t| t.this_step > 0);
        if now >= hold_until && measured {
            return Action::Advance;
        }
        // Wake for the next measurement, or at the hold's end when that alone can end the step.
        let wake = match next_due {
            Some(due) if measured && now < hold_until => due.min(hold_until),
            Some(due) => due,
            None => hold_until,
        };
        Action::WaitUntil(wake.max(now + 1))
    }

    fn health_requests(&self) -> Vec<HealthRequest> {
        self.spec
            .health_checks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pin = c
                    .service
                    .as_ref()
                    .and_then(|name| self.spec.services.iter().find(|s| &s.service == name))
                    .map(|s| (s.script.as_str(), s.new_version.as_str()));
                let mut headers = c.request_headers(None);
                if let (true, Some((script, version))) = (c.version_override, pin) {
                    let (name, value) = version_override_header(script, version);
                    headers.push((name.to_owned(), value));
                }
                HealthRequest {
                    check: i,
                    url: c.url.clone(),
                    method: c.method.clone(),
                    headers,
                    body: c.body.clone(),
                    timeout_ms: c.timeout_ms,
                }
            })
            .collect()
    }

    /// Reports the outcome of [`Action::ApplyTraffic`]: `Ok` when every split was set,
    /// else why not.
    pub fn traffic_applied(&mut self, now: i64, outcome: Result<(), String>) {
        if self.phase != Phase::Running || self.step_applied {
            return;
        }
        match outcome {
            Ok(()) => {
                self.attempts = 0;
                self.step_applied = true;
                self.step_started_ms = now;
                self.step_checked = self.spec.health_checks.is_empty();
                for t in &mut self.tallies {
                    t.this_step = 0;
                }
                let p = self.percent();
                let n = self.spec.traffic_steps().len();
                let message = if self.splits_at(p).is_empty() {
                    // Every Worker went live through `wrangler deploy` (new, or a Durable
                    // Object migration): there is no split to make, only the checks.
                    format!(
                        "step {}/{n}: every service already serves its new version (wrangler deploy); checking",
                        self.step + 1
                    )
                } else {
                    format!("step {}/{n}: new versions at {p}%", self.step + 1)
                };
                self.note(now, "step", message);
            }
            Err(why) => {
                self.attempts += 1;
                if self.attempts >= MAX_ATTEMPTS {
                    self.attempts = 0;
                    self.fail(
                        now,
                        format!(
                            "setting traffic to {}% failed {MAX_ATTEMPTS} times: {why}",
                            self.percent()
                        ),
                    );
                } else {
                    self.not_before_ms = now + RETRY_AFTER_MS;
                    self.note(
                        now,
                        "retry",
                        format!("setting traffic failed ({why}); retrying"),
                    );
                }
            }
        }
    }

    /// Moves on after [`Action::Advance`]: to the next step, or done after the last.
    pub fn advance(&mut self, now: i64) {
        if self.phase != Phase::Running || !self.step_applied {
            return;
        }
        if self.is_last_step() {
            self.succeed(now, "every service serves its new version".into());
        } else {
            self.step += 1;
            self.step_applied = false;
        }
    }

    fn succeed(&mut self, now: i64, why: String) {
        self.phase = Phase::Succeeded;
        self.finished_ms = Some(now);
        self.note(now, "succeeded", why);
    }

    /// A check failed or traffic could not move: roll back (or pause, without auto rollback).
    fn fail(&mut self, now: i64, why: String) {
        if self.spec.auto_rollback {
            self.note(
                now,
                "rolling_back",
                format!("{why}; rolling every service back"),
            );
            self.reason = Some(why);
            self.phase = Phase::RollingBack;
            self.attempts = 0;
            self.not_before_ms = now;
        } else {
            self.note(
                now,
                "paused",
                format!(
                    "{why}; auto_rollback is off, waiting for `clodo abort` or `clodo promote`"
                ),
            );
            self.reason = Some(why);
            self.phase = Phase::Paused;
        }
    }

    /// Reports the outcome of [`Action::RunChecks`].
    pub fn checks_done(&mut self, now: i64, health: &[HealthResponse], metrics: &[Measurement]) {
        if self.phase != Phase::Running || !self.step_applied {
            return;
        }
        let mut failures = Vec::new();
        let mut checked_all = !health.is_empty();
        for h in health {
            let Some(check) = self.spec.health_checks.get(h.check) else {
                checked_all = false;
                continue;
            };
            let verdict = match &h.result {
                Ok((status, body, ms)) => check.accepts(*status, body, *ms),
                Err(e) => Err(format!("{}: {e}", check.name)),
            };
            match verdict {
                Ok(()) => {
                    let msg = format!("health check {} passed", check.name);
                    self.note(now, "health", msg);
                }
                Err(e) => failures.push(format!("health check failed: {e}")),
            }
        }
        if checked_all && failures.is_empty() {
            self.step_checked = true;
        }
        let mut pause = None;
        for m in metrics {
            let i = m.query.metric;
            let Some(spec) = self.spec.analysis.get(i).cloned() else {
                continue;
            };
            let (outcome, shown) = match &m.value {
                Ok(v) => (
                    spec.evaluate(*v),
                    v.map_or("no data".to_owned(), |x| format!("{x:.4}")),
                ),
                Err(e) => (Outcome::Inconclusive, format!("unmeasured ({e})")),
            };
            let t = &mut self.tallies[i];
            t.last_until_ms = Some(m.query.until_ms.max(t.last_until_ms.unwrap_or(0)));
            t.last_value = m.value.clone().ok().flatten();
            let line = format!(
                "{} of {} {}: {shown} → {}",
                spec.name,
                m.query.service,
                short(&m.query.version),
                outcome_word(outcome)
            );
            match outcome {
                Outcome::Successful => t.successful += 1,
                Outcome::Failed => t.failed += 1,
                Outcome::Inconclusive => t.inconclusive += 1,
            }
            let (failed, inconclusive) = (t.failed, t.inconclusive);
            self.note(now, "analysis", line.clone());
            if outcome == Outcome::Failed && failed > spec.failure_limit {
                failures.push(format!(
                    "analysis {}: {failed} failed measurement(s), more than the failure limit of {} (last: {line})",
                    spec.name, spec.failure_limit
                ));
            }
            if outcome == Outcome::Inconclusive && inconclusive > spec.inconclusive_limit {
                pause = Some(format!(
                    "analysis {}: {inconclusive} inconclusive measurement(s), more than the limit of {} (last: {line})",
                    spec.name, spec.inconclusive_limit
                ));
            }
        }
        // A measurement round counts once per metric for the step, whatever the services.
        let mut seen = std::collections::BTreeSet::new();
        for m in metrics {
            if seen.insert(m.query.metric) {
                if let Some(t) = self.tallies.get_mut(m.query.metric) {
                    t.this_step += 1;
                }
            }
        }
        if !failures.is_empty() {
            self.fail(now, failures.join("; "));
        } else if let Some(why) = pause {
            self.note(
                now,
                "paused",
                format!("{why}; waiting for `clodo resume`, `clodo promote` or `clodo abort`"),
            );
            self.reason = Some(why);
            self.phase = Phase::Paused;
        }
    }

    /// Reports the outcome of [`Action::Restore`]: per Worker, `Ok` or why not.
    pub fn restore_done(&mut self, now: i64, outcomes: &[(String, Result<(), String>)]) {
        if self.phase != Phase::RollingBack {
            return;
        }
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|(s, r)| r.as_ref().err().map(|e| format!("{s}: {e}")))
            .collect();
        if failed.is_empty() {
            let restored: Vec<String> = self
                .restore_splits()
                .iter()
                .map(|s| format!("{} → {}", s.script, short(&s.versions[0].0)))
                .collect();
            let new_ones: Vec<&str> = self
                .spec
                .services
                .iter()
                .filter(|s| s.previous_version.is_none())
                .map(|s| s.script.as_str())
                .collect();
            let mut msg = if restored.is_empty() {
                "nothing to restore".to_owned()
            } else {
                format!("restored {}", restored.join(", "))
            };
            if !new_ones.is_empty() {
                msg.push_str(&format!(
                    "; {} had no previous version and keep the new one",
                    new_ones.join(", ")
                ));
            }
            self.phase = Phase::RolledBack;
            self.finished_ms = Some(now);
            self.note(now, "rolled_back", msg);
            return;
        }
        self.attempts += 1;
        if self.attempts >= MAX_ATTEMPTS {
            let why = format!(
                "restoring failed {MAX_ATTEMPTS} times: {}",
                failed.join("; ")
            );
            self.reason = Some(match self.reason.take() {
                Some(r) => format!("{r}; {why}"),
                None => why.clone(),
            });
            self.phase = Phase::Failed;
            self.finished_ms = Some(now);
            self.note(now, "failed", why);
        } else {
            self.not_before_ms = now + RETRY_AFTER_MS;
            self.note(
                now,
                "retry",
                format!("restore failed ({}); retrying", failed.join("; ")),
            );
        }
    }

    /// Reports that the driver's heartbeat on the environment lock was refused: the
    /// deployment no longer holds it, so another deployment (or a person who broke the lock)
    /// may be changing these Workers. The rollout pauses where it stands, moves no more
    /// traffic (not even a restore) and says why. Returns whether this changed anything (the
    /// first report does; later ones are no-ops).
    pub fn lost_lock(&mut self, now: i64, why: &str) -> bool {
        if self.phase.is_terminal() || self.lock_lost {
            return false;
        }
        let why = format!(
            "the deployment no longer holds the environment lock ({why}); traffic stays as it is ({})",
            self.traffic_words()
        );
        self.lock_lost = true;
        self.phase = Phase::Paused;
        self.reason = Some(why.clone());
        self.note(
            now,
            "lock_lost",
            format!("{why}; `clodo abort` ends the rollout without moving traffic"),
        );
        true
    }

    /// The traffic on the new versions right now, in words.
    fn traffic_words(&self) -> String {
        match self.applied_percent() {
            Some(p) => format!("{p}% on the new versions"),
            None => "no traffic moved yet".to_owned(),
        }
    }

    /// The percentage of the last traffic step that was applied.
    fn applied_percent(&self) -> Option<f64> {
        let steps = self.spec.traffic_steps();
        if self.step_applied {
            steps.get(self.step).copied()
        } else if self.step > 0 {
            steps.get(self.step - 1).copied()
        } else {
            None
        }
    }

    /// Reports that the end is recorded on the deployment.
    pub fn recorded(&mut self) {
        self.recorded = true;
    }

    /// Applies a human's command.
    pub fn command(&mut self, now: i64, cmd: Command, by: &str) -> Result<(), CommandError> {
        let refuse = || CommandError {
            command: cmd.as_str(),
            phase: phase_word(self.phase),
        };
        match (cmd, self.phase) {
            (_, p) if p.is_terminal() => return Err(refuse()),
            // Without the lock nothing may move traffic: abort ends the rollout as it stands.
            (Command::Abort, _) if self.lock_lost => {
                let why = format!(
                    "aborted by {by} after the environment lock was lost; traffic left as it was ({})",
                    self.traffic_words()
                );
                self.phase = Phase::Failed;
                self.finished_ms = Some(now);
                self.reason = Some(why.clone());
                self.note(now, "failed", why);
            }
            (_, _) if self.lock_lost => {
                return Err(CommandError {
                    command: cmd.as_str(),
                    phase: "paused after losing the environment lock (only abort applies)",
                })
            }
            (Command::Pause, Phase::Running) => {
                self.phase = Phase::Paused;
                self.reason = Some(format!("paused by {by}"));
                self.note(now, "paused", format!("paused by {by}"));
            }
            (Command::Resume, Phase::Paused) => {
                self.phase = Phase::Running;
                self.reason = None;
                // The inconclusive measurements that paused it were seen by a human.
                for t in &mut self.tallies {
                    t.inconclusive = 0;
                }
                self.not_before_ms = now;
                self.note(now, "resumed", format!("resumed by {by}"));
            }
            (Command::Promote, Phase::Running | Phase::Paused) => {
                self.phase = Phase::Running;
                self.step = self.spec.traffic_steps().len() - 1;
                self.step_applied = false;
                self.not_before_ms = now;
                // Holding and checking at 100% is what promote skips.
                self.spec.step_wait_secs = 0;
                self.spec.analysis.clear();
                self.spec.health_checks.clear();
                self.tallies.clear();
                self.note(
                    now,
                    "promoted",
                    format!("promoted by {by}: every service to 100% now"),
                );
            }
            (Command::Abort, Phase::Running | Phase::Paused) => {
                self.spec.auto_rollback = true;
                self.fail(now, format!("aborted by {by}"));
            }
            _ => return Err(refuse()),
        }
        Ok(())
    }

    /// Why the rollout ended the way it did, for the deployment's record.
    #[must_use]
    pub fn summary(&self) -> String {
        match (self.phase, &self.reason) {
            (Phase::Succeeded, _) => format!(
                "{} rollout finished: every service serves its new version",
                self.spec.strategy
            ),
            (_, Some(r)) => r.clone(),
            (p, None) => phase_word(p).to_owned(),
        }
    }

    /// The live status: what `GET …/rollout` answers.
    #[must_use]
    pub fn status_json(&self, now: i64) -> serde_json::Value {
        let steps = self.spec.traffic_steps();
        let traffic = self.applied_percent();
        let next = match self.next(now) {
            Action::WaitUntil(t) => Some(t),
            Action::Idle => None,
            _ => Some(now),
        };
        serde_json::json!({
            "deployment_id": self.deployment_id,
            "strategy": self.spec.strategy,
            "phase": self.phase,
            "steps": steps,
            "step": self.step,
            "step_applied": self.step_applied,
            // Of the new versions; after a rollback the previous versions have it all again.
            "traffic_percent": match self.phase {
                Phase::Succeeded => Some(100.0),
                Phase::RolledBack => Some(0.0),
                _ => traffic,
            },
            "reason": self.reason,
            "lock_lost": self.lock_lost,
            "services": self.spec.services,
            "analysis": self.spec.analysis.iter().zip(&self.tallies).map(|(m, t)| serde_json::json!({
                "name": m.name, "metric": m.metric, "successful": t.successful, "failed": t.failed,
                "inconclusive": t.inconclusive, "last_value": t.last_value,
                "failure_limit": m.failure_limit, "inconclusive_limit": m.inconclusive_limit,
            })).collect::<Vec<_>>(),
            "started_at": self.started_ms,
            "finished_at": self.finished_ms,
            "next_action_at": next,
            "recorded": self.recorded,
            "log": self.log,
        })
    }
}

fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Successful => "successful",
        Outcome::Failed => "failed",
        Outcome::Inconclusive => "inconclusive",
    }
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
