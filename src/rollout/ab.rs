//! A/B tests (`strategy = "ab"`): two versions of one Worker side by side at a fixed split for
//! a test window (whose clock stops while paused), every configured metric measured for BOTH
//! versions over the window, and a recommended winner that a person promotes
//! (`clodo promote DEPLOYMENT --version V`) or that is promoted automatically.
//!
//! The winner rule (documented in docs/config.md, "A/B tests"):
//! 1. Both versions need at least `min_requests` requests in the window, else there is too
//!    little data: no clear winner.
//! 2. Each compared metric (`error_rate`, `p99_latency_ms`; lower is better) is compared per
//!    version. Two values differ when they are more than 10% of the larger value plus a floor
//!    (0.005 for `error_rate`, 5 ms for `p99_latency_ms`) apart.
//! 3. A metric on which the candidate (new version) is worse makes the control (current
//!    version) the winner. Otherwise a metric that could not be measured means no clear winner;
//!    otherwise a metric on which the candidate is better makes it the winner; otherwise it is
//!    a tie: no clear winner.
//! 4. Without a clear winner the recommendation is to keep the current version.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    short, Action, Command, CommandError, Measurement, MetricQuery, Phase, Rollout, Spec,
    SpecError, Tally,
};
use crate::config::{AnalysisMetric, Metric, Strategy};

/// The header Cloudflare hashes onto a gradual deployment's split to pick a version.
pub const VERSION_KEY_HEADER: &str = "Cloudflare-Workers-Version-Key";
/// The `ref` (and description) of the Request Header Transform Rule Clodo keeps on a zone for
/// an A/B test's affinity, so a retry finds its own rule instead of adding a second one.
pub const AFFINITY_RULE_REF: &str = "clodo_ab_version_affinity";
/// The zone phase the affinity rule lives in.
pub const AFFINITY_PHASE: &str = "http_request_late_transform";

/// The rules an entry point should hold so that exactly one is Clodo's affinity rule with this
/// key expression, every other rule kept as it was (`None`: already so, nothing to write).
#[must_use]
pub fn with_affinity_rule(rules: &[Value], expression: &str) -> Option<Vec<Value>> {
    let ours = |r: &Value| r["ref"].as_str() == Some(AFFINITY_RULE_REF);
    let wanted = json!({
        "ref": AFFINITY_RULE_REF,
        "description": AFFINITY_RULE_REF,
        "action": "rewrite",
        "expression": "true",
        "enabled": true,
        "action_parameters": { "headers": {
            VERSION_KEY_HEADER: { "operation": "set", "expression": expression }
        }},
    });
    let same = |r: &Value| {
        ours(r)
            && r["enabled"] != json!(false)
            && r["action"] == wanted["action"]
            && r["expression"] == wanted["expression"]
            && r["action_parameters"] == wanted["action_parameters"]
    };
    if rules.iter().filter(|r| ours(r)).count() == 1 && rules.iter().any(same) {
        return None;
    }
    let mut out: Vec<Value> = rules.iter().filter(|r| !ours(r)).map(writable).collect();
    out.push(wanted);
    Some(out)
}

/// The rules without Clodo's affinity rule (`None`: it is not there).
#[must_use]
pub fn without_affinity_rule(rules: &[Value]) -> Option<Vec<Value>> {
    let ours = |r: &Value| r["ref"].as_str() == Some(AFFINITY_RULE_REF);
    rules
        .iter()
        .any(ours)
        .then(|| rules.iter().filter(|r| !ours(r)).map(writable).collect())
}

/// A rule as read, without the fields Cloudflare sets itself (a PUT carries the rest back).
fn writable(rule: &Value) -> Value {
    let mut r = rule.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("version");
        o.remove("last_updated");
    }
    r
}

/// Relative margin two values must exceed to differ (10% of the larger).
const RELATIVE_MARGIN: f64 = 0.10;

/// How a user keeps their version: Cloudflare hashes `Cloudflare-Workers-Version-Key` onto the
/// split, and Clodo derives that header from a request header or a cookie with a Request
/// Header Transform Rule on the zones of the service's routes. `client`: no rule; the clients
/// send `Cloudflare-Workers-Version-Key` themselves (the only way for a Worker reached on
/// workers.dev alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Affinity {
    /// `{ header = "x-user-id" }`
    Header(String),
    /// `{ cookie = "uid" }`
    Cookie(String),
    /// `"client"`
    Client,
}

impl Affinity {
    /// The rule expression that yields the version key, e.g. `http.request.cookies["uid"][0]`
    /// (`None` for `client`: no rule).
    #[must_use]
    pub fn key_expression(&self) -> Option<String> {
        match self {
            Affinity::Header(name) => Some(format!(
                "http.request.headers[\"{}\"][0]",
                name.to_ascii_lowercase()
            )),
            Affinity::Cookie(name) => Some(format!("http.request.cookies[\"{name}\"][0]")),
            Affinity::Client => None,
        }
    }

    /// Why this affinity cannot be used, if it cannot.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        let ok_name = |n: &str, extra: &[u8]| {
            !n.is_empty()
                && n.len() <= 64
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || extra.contains(&b))
        };
        match self {
            Affinity::Header(n) if !ok_name(n, &[]) => Some(format!(
                "affinity header {n:?}: 1-64 letters, digits or `-` (e.g. \"x-user-id\")"
            )),
            Affinity::Header(n) if n.eq_ignore_ascii_case(VERSION_KEY_HEADER) => Some(format!(
                "affinity header {n:?} is the version key itself: use `affinity = \"client\"` when clients send it"
            )),
            Affinity::Cookie(n) if !ok_name(n, b"_.") => Some(format!(
                "affinity cookie {n:?}: 1-64 letters, digits, `-`, `_` or `.` (e.g. \"uid\")"
            )),
            _ => None,
        }
    }
}

fn default_split() -> f64 {
    50.0
}
fn default_window() -> u64 {
    3600
}
fn default_min_requests() -> u64 {
    100
}

/// `[deploy] ab = { … }` in clodo.toml and the `ab` field of the rollout start body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbConfig {
    /// Percent of traffic on the new version during the test (1-99, default 50).
    #[serde(default = "default_split")]
    #[schemars(range(min = 1, max = 99))]
    pub split: f64,
    /// How long the test runs, paused time not counted (60 s to 30 days, default 3600).
    #[serde(default = "default_window")]
    #[schemars(range(min = 60, max = 2_592_000))]
    pub window_secs: u64,
    /// Where the version key comes from.
    pub affinity: Affinity,
    /// Promote the recommended winner without waiting for a person (default false).
    #[serde(default)]
    pub auto_promote: bool,
    /// Requests each version needs in the window for a winner (default 100).
    #[serde(default = "default_min_requests")]
    #[schemars(range(min = 1, max = 1_000_000_000))]
    pub min_requests: u64,
}

impl AbConfig {
    /// Every problem with these settings, named by its key.
    pub fn validate(&self) -> Result<(), String> {
        if !self.split.is_finite() || self.split < 1.0 || self.split > 99.0 {
            return Err(format!(
                "`ab.split` = {}: the new version's share is 1 to 99 percent",
                self.split
            ));
        }
        if !(60..=30 * 86_400).contains(&self.window_secs) {
            return Err(format!(
                "`ab.window_secs` = {}: 60 (one minute) to 2592000 (30 days)",
                self.window_secs
            ));
        }
        if self.min_requests == 0 || self.min_requests > 1_000_000_000 {
            return Err(format!(
                "`ab.min_requests` = {}: 1 to 1000000000",
                self.min_requests
            ));
        }
        self.affinity
            .problem()
            .map_or(Ok(()), |p| Err(format!("`ab.affinity`: {p}")))
    }
}

/// What the config check says about an environment whose strategy is `ab`.
#[must_use]
pub fn settings_problem(ab: Option<&AbConfig>, analysis: &[AnalysisMetric]) -> Option<String> {
    let Some(ab) = ab else {
        return Some("strategy \"ab\" needs its settings: add `ab = { split = 50, window_secs = 3600, affinity = { cookie = \"uid\" } }` under [deploy]".into());
    };
    if let Err(e) = ab.validate() {
        return Some(e);
    }
    if !analysis.iter().any(|m| compared(m.metric)) {
        return Some("an A/B test compares metrics: add an [[analysis]] metric \"error_rate\" or \"p99_latency_ms\"".into());
    }
    None
}

/// Whether a metric votes for a winner (lower is better). `requests` only shows the sample.
fn compared(metric: Metric) -> bool {
    matches!(metric, Metric::ErrorRate | Metric::P99LatencyMs)
}

/// The floor of the margin two values of `metric` must exceed to differ.
fn floor_of(metric: Metric) -> f64 {
    match metric {
        Metric::ErrorRate => 0.005,
        Metric::P99LatencyMs => 5.0,
        Metric::Requests => 0.0,
    }
}

/// Which version a metric (or the test) favours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Favours {
    /// The current version (what served before the test).
    Control,
    /// The new version.
    Candidate,
    /// Within the margin.
    Neither,
    /// A value is missing: nothing to compare.
    Unmeasured,
}

/// One metric measured for both versions over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct AbMetricResult {
    pub name: String,
    #[schemars(schema_with = "super::status::metric_schema")]
    pub metric: Metric,
    pub control: Option<f64>,
    pub candidate: Option<f64>,
    /// `null` for `requests` (it shows the sample; it does not vote).
    pub favours: Option<Favours>,
}

/// The outcome of an A/B test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct AbResult {
    pub service: String,
    pub script: String,
    /// The version that served before the test.
    pub control_version: String,
    /// The new version.
    pub candidate_version: String,
    pub control_requests: Option<f64>,
    pub candidate_requests: Option<f64>,
    pub metrics: Vec<AbMetricResult>,
    /// The clear winner's version id (`null`: no clear winner).
    pub winner: Option<String>,
    /// The version to keep: the winner, or the control without a clear winner.
    pub recommended: String,
    pub reason: String,
    /// Epoch ms.
    pub decided_at: i64,
}

/// The A/B part of a rollout's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AbState {
    /// Paused time since the window opened (epoch ms summed).
    pub paused_total_ms: i64,
    /// When the current pause began.
    pub paused_since: Option<i64>,
    pub result: Option<AbResult>,
    /// The version a person (or auto-promote) chose to keep.
    pub kept: Option<String>,
}

/// The A/B test as the status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct AbStatus {
    /// The Worker under test.
    pub script: String,
    pub split: f64,
    pub window_secs: u64,
    /// Window time elapsed, paused time not counted.
    #[schemars(range(min = 0))]
    pub elapsed_secs: u64,
    pub auto_promote: bool,
    pub min_requests: u64,
    pub affinity: Affinity,
    pub result: Option<AbResult>,
    /// The version kept at the end (`null`: not decided yet).
    pub kept: Option<String>,
}

/// The one service an A/B test splits: the first that has a previous version to compare.
fn tested(spec: &Spec) -> Option<&super::ServiceRollout> {
    spec.services
        .iter()
        .find(|s| s.previous_version.is_some() && !s.already_live)
}

/// Checks what an A/B spec needs; called by [`Spec::validate`].
pub(super) fn validate_spec(spec: &Spec) -> Result<(), SpecError> {
    let bad = |m: String| Err(SpecError(m));
    let Some(ab) = &spec.ab else {
        return bad("strategy \"ab\" needs `ab` settings (split, window_secs, affinity)".into());
    };
    if spec.strategy != Strategy::Ab {
        return bad(format!(
            "`ab` settings apply to strategy \"ab\" only, not {}",
            spec.strategy
        ));
    }
    ab.validate().map_err(SpecError)?;
    let comparable: Vec<_> = spec
        .services
        .iter()
        .filter(|s| s.previous_version.is_some() && !s.already_live)
        .collect();
    if comparable.len() != 1 || spec.services.len() != 1 {
        return bad(format!(
            "an A/B test compares two versions of one Worker: this deployment has {} service(s), {} with a previous version to compare (deploy the others first, or with another strategy)",
            spec.services.len(),
            comparable.len()
        ));
    }
    if !spec.analysis.iter().any(|m| compared(m.metric)) {
        return bad(
            "an A/B test needs an `analysis` metric `error_rate` or `p99_latency_ms` to compare"
                .into(),
        );
    }
    Ok(())
}

/// An A/B spec as the engine runs it: a `requests` metric is added when none is configured,
/// so the sample size of each version is always measured.
pub(super) fn prepared(mut spec: Spec) -> Spec {
    if spec.strategy == Strategy::Ab && !spec.analysis.iter().any(|m| m.metric == Metric::Requests)
    {
        spec.analysis
            .push(AnalysisMetric::with_defaults("requests", Metric::Requests));
    }
    spec
}

/// Decides an A/B test from its measurements (see the module docs for the rule).
#[must_use]
pub fn judge(
    ab: &AbConfig,
    (service, script): (&str, &str),
    (control, candidate): (&str, &str),
    rows: &[(&AnalysisMetric, Option<f64>, Option<f64>)],
    now: i64,
) -> AbResult {
    let requests = rows
        .iter()
        .find(|(m, _, _)| m.metric == Metric::Requests)
        .map_or((None, None), |(_, a, b)| (*a, *b));
    let metrics: Vec<AbMetricResult> = rows
        .iter()
        .map(|(m, a, b)| AbMetricResult {
            name: m.name.clone(),
            metric: m.metric,
            control: *a,
            candidate: *b,
            favours: compared(m.metric).then(|| favours(m.metric, *a, *b)),
        })
        .collect();
    let min = ab.min_requests as f64;
    let named = |f: Favours| {
        metrics
            .iter()
            .filter(|r| r.favours == Some(f))
            .map(|r| format!("{} {} vs {}", r.name, shown(r.control), shown(r.candidate)))
            .collect::<Vec<_>>()
    };
    let (winner, reason) = if requests.0.unwrap_or(0.0) < min || requests.1.unwrap_or(0.0) < min {
        (
            None,
            format!(
                "too little data: {} request(s) on the current version and {} on the new one, {} needed on each",
                shown(requests.0),
                shown(requests.1),
                ab.min_requests
            ),
        )
    } else if !named(Favours::Control).is_empty() {
        (
            Some(control.to_owned()),
            format!(
                "the new version is worse on {} (current vs new)",
                named(Favours::Control).join(", ")
            ),
        )
    } else if !named(Favours::Unmeasured).is_empty() {
        (
            None,
            format!(
                "could not compare {}: a metric that was not measured decides nothing",
                named(Favours::Unmeasured).join(", ")
            ),
        )
    } else if !named(Favours::Candidate).is_empty() {
        (
            Some(candidate.to_owned()),
            format!(
                "the new version is better on {} (current vs new) and worse on none",
                named(Favours::Candidate).join(", ")
            ),
        )
    } else {
        (
            None,
            "a tie: no metric differs by more than 10% plus its floor".to_owned(),
        )
    };
    let reason = match &winner {
        Some(_) => reason,
        None => format!("no clear winner ({reason}); keep the current version"),
    };
    AbResult {
        service: service.to_owned(),
        script: script.to_owned(),
        control_version: control.to_owned(),
        candidate_version: candidate.to_owned(),
        control_requests: requests.0,
        candidate_requests: requests.1,
        metrics,
        recommended: winner.clone().unwrap_or_else(|| control.to_owned()),
        winner,
        reason,
        decided_at: now,
    }
}

fn shown(v: Option<f64>) -> String {
    v.map_or("unmeasured".to_owned(), |x| {
        if x.fract() == 0.0 {
            format!("{x}")
        } else {
            format!("{x:.4}")
        }
    })
}

fn favours(metric: Metric, control: Option<f64>, candidate: Option<f64>) -> Favours {
    let (Some(a), Some(b)) = (control, candidate) else {
        return Favours::Unmeasured;
    };
    let margin = RELATIVE_MARGIN * a.max(b) + floor_of(metric);
    if b > a + margin {
        Favours::Control
    } else if a > b + margin {
        Favours::Candidate
    } else {
        Favours::Neither
    }
}

impl Rollout {
    fn ab_state(&self) -> AbState {
        self.ab.clone().unwrap_or_default()
    }

    /// The test window's elapsed time at `now`, paused time not counted.
    #[must_use]
    pub fn ab_elapsed_ms(&self, now: i64) -> i64 {
        if !self.step_applied && self.step == 0 {
            return 0;
        }
        let st = self.ab_state();
        let paused_now = st.paused_since.map_or(0, |p| (now - p).max(0));
        (now - self.step_started_ms - st.paused_total_ms - paused_now).max(0)
    }

    pub(super) fn ab_window_ms(&self) -> i64 {
        self.spec.ab.as_ref().map_or(0, |a| {
            i64::try_from(a.window_secs)
                .unwrap_or(i64::MAX / 2000)
                .saturating_mul(1000)
        })
    }

    /// Whether the A/B engine decides this step (the split step of an A/B rollout).
    pub(super) fn ab_holds(&self) -> bool {
        self.spec.strategy == Strategy::Ab && self.step == 0 && self.step_applied
    }

    /// What the A/B test asks for while the split holds (`None`: not an A/B split step).
    pub(super) fn ab_next(&self, now: i64) -> Option<Action> {
        if !self.ab_holds() {
            return None;
        }
        if !self.step_checked {
            // The health checks run once when the split is live, as for every strategy.
            return Some(Action::RunChecks {
                health: self.health_requests(),
                metrics: Vec::new(),
            });
        }
        if self.ab_state().result.is_some() {
            // Decided; waiting for `clodo promote DEPLOYMENT --version V`.
            return Some(Action::Idle);
        }
        let left = self.ab_window_ms() - self.ab_elapsed_ms(now);
        if left > 0 {
            return Some(Action::WaitUntil(now + left));
        }
        Some(Action::RunChecks {
            health: Vec::new(),
            metrics: self.ab_queries(now),
        })
    }

    /// Every metric for both versions over the whole window (paused time included: the
    /// split stayed in place, so its traffic counts).
    fn ab_queries(&self, now: i64) -> Vec<MetricQuery> {
        let Some(s) = tested(&self.spec) else {
            return Vec::new();
        };
        let previous = s.previous_version.clone().unwrap_or_default();
        let mut out = Vec::new();
        for (i, m) in self.spec.analysis.iter().enumerate() {
            if m.service.as_ref().is_some_and(|name| name != &s.service) {
                continue;
            }
            for version in [&previous, &s.new_version] {
                out.push(MetricQuery {
                    metric: i,
                    service: s.service.clone(),
                    script: s.script.clone(),
                    version: version.clone(),
                    since_ms: self.step_started_ms,
                    until_ms: now,
                    baseline_version: None,
                });
            }
        }
        out
    }

    /// Takes the window's measurements when they are the A/B round; returns whether it did.
    pub(super) fn ab_measured(&mut self, now: i64, metrics: &[Measurement]) -> bool {
        if !self.ab_holds() || metrics.is_empty() || self.phase != Phase::Running {
            return false;
        }
        let (Some(ab), Some(s)) = (self.spec.ab.clone(), tested(&self.spec).cloned()) else {
            return false;
        };
        let previous = s.previous_version.clone().unwrap_or_default();
        let value = |i: usize, version: &str| {
            metrics
                .iter()
                .find(|m| m.query.metric == i && m.query.version == version)
                .and_then(|m| m.value.clone().ok().flatten())
        };
        let rows: Vec<(&AnalysisMetric, Option<f64>, Option<f64>)> = self
            .spec
            .analysis
            .iter()
            .enumerate()
            .filter(|(_, m)| m.service.as_ref().is_none_or(|n| n == &s.service))
            .map(|(i, m)| (m, value(i, &previous), value(i, &s.new_version)))
            .collect();
        let result = judge(
            &ab,
            (&s.service, &s.script),
            (&previous, &s.new_version),
            &rows,
            now,
        );
        for (i, t) in self.tallies.iter_mut().enumerate() {
            *t = Tally {
                this_step: 1,
                last_until_ms: Some(now),
                last_value: value(i, &s.new_version),
                ..t.clone()
            };
        }
        for m in metrics {
            if let Err(e) = &m.value {
                let line = format!("could not measure {}: {e}", short(&m.query.version));
                self.note(now, "analysis", line);
            }
        }
        let recommended = result.recommended.clone();
        let line = format!(
            "A/B test ended: {}; recommended: keep {}",
            result.reason,
            short(&recommended)
        );
        let mut st = self.ab_state();
        st.result = Some(result);
        self.ab = Some(st);
        self.note(now, "ab_result", line);
        if ab.auto_promote {
            self.keep_version(now, &recommended, "auto_promote");
        } else {
            self.note(
                now,
                "ab_waiting",
                format!(
                    "waiting for `clodo promote {} --version {recommended}` (or the other version)",
                    self.deployment_id
                ),
            );
        }
        true
    }

    /// Keeps `version` and ends the test: the new version goes to 100% (and the rollout
    /// succeeds), or the current one gets all the traffic back (and the rollout ends rolled
    /// back, the new version not kept).
    fn keep_version(&mut self, now: i64, version: &str, by: &str) {
        let Some(s) = tested(&self.spec).cloned() else {
            return;
        };
        let mut st = self.ab_state();
        st.kept = Some(version.to_owned());
        self.ab = Some(st);
        // The test is over: nothing more to hold or measure.
        self.spec.step_wait_secs = 0;
        self.spec.analysis.clear();
        self.spec.health_checks.clear();
        self.tallies.clear();
        self.not_before_ms = now;
        self.phase = Phase::Running;
        // A decision is progress: the deadline counts from here.
        self.progress_ms = Some(now);
        if version == s.new_version {
            self.step = self.spec.traffic_steps().len() - 1;
            self.step_applied = false;
            self.note(
                now,
                "promoted",
                format!(
                    "A/B test: {by} keeps the new version {}: to 100% now",
                    short(version)
                ),
            );
        } else {
            let why = format!(
                "A/B test: {by} keeps the current version {}",
                short(version)
            );
            self.spec.auto_rollback = true;
            self.fail(now, why);
        }
    }

    /// A command with the version `promote --version` names (`None` for the others).
    pub fn steer(
        &mut self,
        now: i64,
        cmd: Command,
        version: Option<&str>,
        by: &str,
    ) -> Result<(), CommandError> {
        match (cmd, version) {
            (Command::Promote, Some(v)) => self.promote_version(now, v, by),
            (_, Some(_)) => Err(CommandError {
                command: cmd.as_str(),
                phase: "given a version (only promote takes one)",
            }),
            (_, None) => self.command(now, cmd, by),
        }
    }

    /// `clodo promote DEPLOYMENT --version V`: keeps `version`, one of the test's two.
    pub fn promote_version(
        &mut self,
        now: i64,
        version: &str,
        by: &str,
    ) -> Result<(), CommandError> {
        let refuse = |phase: &'static str| CommandError {
            command: "promote --version",
            phase,
        };
        if self.spec.strategy != Strategy::Ab {
            return Err(refuse(
                "not an A/B test (`promote` without --version finishes it)",
            ));
        }
        if self.phase.is_terminal() || self.phase == Phase::RollingBack {
            return Err(refuse(super::phase_word(self.phase)));
        }
        if self.lock_lost {
            return Err(refuse(
                "paused after losing the environment lock (only abort applies)",
            ));
        }
        if self.ab_state().kept.is_some() {
            return Err(refuse("already decided"));
        }
        let Some(s) = tested(&self.spec).cloned() else {
            return Err(refuse("without a version to compare"));
        };
        if version != s.new_version && s.previous_version.as_deref() != Some(version) {
            return Err(refuse(
                "an A/B test of two other versions (name the current or the new version)",
            ));
        }
        self.keep_version(now, version, by);
        Ok(())
    }

    /// Refuses `promote` without a version on an A/B test, and keeps the window clock when
    /// a command pauses or resumes it. Called by [`Rollout::command`] before it applies `cmd`.
    pub(super) fn ab_command(&mut self, now: i64, cmd: Command) -> Result<(), CommandError> {
        if self.spec.strategy != Strategy::Ab || self.phase.is_terminal() || self.lock_lost {
            return Ok(());
        }
        if cmd == Command::Promote {
            return Err(CommandError {
                command: "promote",
                phase: "an A/B test: name the version to keep (`promote --version V`)",
            });
        }
        let mut st = self.ab_state();
        match (cmd, self.phase) {
            (Command::Pause, Phase::Running) if st.paused_since.is_none() => {
                st.paused_since = Some(now);
            }
            (Command::Resume, Phase::Paused) => {
                if let Some(since) = st.paused_since.take() {
                    st.paused_total_ms += (now - since).max(0);
                }
            }
            _ => return Ok(()),
        }
        self.ab = Some(st);
        Ok(())
    }

    /// The A/B test for the status (`None`: not an A/B rollout).
    #[must_use]
    pub fn ab_status(&self, now: i64) -> Option<AbStatus> {
        let ab = self.spec.ab.as_ref()?;
        let st = self.ab_state();
        Some(AbStatus {
            script: tested(&self.spec)
                .map(|s| s.script.clone())
                .unwrap_or_default(),
            split: ab.split,
            window_secs: ab.window_secs,
            // Once decided, the window is over: the clock no longer runs.
            elapsed_secs: if st.result.is_some() {
                ab.window_secs
            } else {
                u64::try_from(self.ab_elapsed_ms(now) / 1000).unwrap_or(0)
            },
            auto_promote: ab.auto_promote,
            min_requests: ab.min_requests,
            affinity: ab.affinity.clone(),
            result: st.result,
            kept: st.kept,
        })
    }

    /// The A/B result in words for the deployment's record, when the test decided.
    pub(super) fn ab_summary(&self) -> Option<String> {
        let st = self.ab.as_ref()?;
        let kept = st.kept.as_deref()?;
        let result = st.result.as_ref().map_or_else(
            || "ended before its window".to_owned(),
            |r| {
                let metrics: Vec<String> = r
                    .metrics
                    .iter()
                    .map(|m| {
                        format!(
                            "{}: current {} / new {}",
                            m.name,
                            shown(m.control),
                            shown(m.candidate)
                        )
                    })
                    .collect();
                format!("{} [{}]", r.reason, metrics.join("; "))
            },
        );
        Some(format!("A/B test kept {kept}: {result}"))
    }
}
