//! `clodo.toml`: a project's services (each a path to a wrangler config, with required secrets
//! and explicit dependencies) and how it is deployed: strategy, health checks, metric analysis,
//! notifications and required secrets, at the top level for every environment and under
//! `[env.NAME]` for one. Everything is checked at parse time with file:line:column errors, so a
//! typo fails `clodo assess` before a rollout relies on it.
//!
//! Top-level sections this version does not know are kept in `extra` with a warning (older
//! files stay loadable); unknown keys inside the deploy sections are errors, since a misspelt
//! `failure_limit` silently falling back to a default would be worse than a refusal.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::source::{child_path, index_path, SourceMap};
use super::{tomlsrc, ConfigError, ConfigWarning, Location};

/// The header that sends a request to one version of a Worker regardless of the deployment's
/// split, which is how a blue-green version at 0% is smoke-tested.
pub const VERSION_OVERRIDE_HEADER: &str = "Cloudflare-Workers-Version-Overrides";

/// The version override header for `script` (the Worker name) pinned to `version_id`: a
/// structured-field dictionary entry, `shop-api="8f2c…"`.
#[must_use]
pub fn version_override_header(script: &str, version_id: &str) -> (&'static str, String) {
    (
        VERSION_OVERRIDE_HEADER,
        format!("{script}=\"{version_id}\""),
    )
}

/// A parsed `clodo.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectConfig {
    pub file: String,
    pub project: String,
    pub services: Vec<ProjectService>,
    /// `[deploy]`: the strategy for every environment unless `[env.NAME.deploy]` says otherwise.
    pub deploy: DeploySection,
    /// `[[health_checks]]` for every environment without its own.
    pub health_checks: Vec<HealthCheck>,
    /// `[[analysis]]` for every environment without its own.
    pub analysis: Vec<AnalysisMetric>,
    /// `[notifications]` for every environment without its own.
    pub notifications: Notifications,
    /// Secrets every service must have in every environment.
    pub required_secrets: Vec<String>,
    /// `[env.NAME]` overrides, in file order.
    pub envs: Vec<EnvSection>,
    /// Top-level sections this version does not interpret, kept as JSON so a later version or
    /// the caller can read them (each also has a warning).
    pub extra: Map<String, Value>,
    /// Unknown top-level keys and similar things that do not stop the file from loading.
    pub warnings: Vec<ConfigWarning>,
}

/// One `[[services]]` entry of `clodo.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectService {
    pub name: String,
    /// Path to the wrangler config or its directory, relative to `clodo.toml`.
    pub config: String,
    pub required_secrets: Vec<String>,
    pub depends_on: Vec<String>,
    pub location: Location,
    /// Keys of this service entry this version does not interpret.
    pub extra: Map<String, Value>,
}

impl ProjectService {
    /// The service's config path resolved against the directory of `clodo_toml` (pure path
    /// arithmetic; whether it is a file or a directory is for the caller to find out).
    #[must_use]
    pub fn config_path(&self, clodo_toml: &Path) -> PathBuf {
        clodo_toml
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(&self.config)
    }
}

impl ProjectConfig {
    /// Service names in deploy order: every service after the ones it depends on, otherwise
    /// in file order. `parse_project` has already rejected cycles and unknown names. (Service
    /// bindings also order services; `crate::deploy::plan_waves` takes both into account.)
    #[must_use]
    pub fn deploy_order(&self) -> Vec<String> {
        let mut done: Vec<String> = Vec::new();
        while done.len() < self.services.len() {
            let next = self
                .services
                .iter()
                .find(|s| !done.contains(&s.name) && s.depends_on.iter().all(|d| done.contains(d)));
            match next {
                Some(s) => done.push(s.name.clone()),
                None => break, // unreachable after validation; never loop forever
            }
        }
        done
    }

    /// The service named `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&ProjectService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The `[env.NAME]` section, if the file has one.
    #[must_use]
    pub fn env(&self, name: &str) -> Option<&EnvSection> {
        self.envs.iter().find(|e| e.name == name)
    }

    /// How `env` is deployed (`None`: no `--env`): the env's sections over the top-level ones
    /// over the defaults. `[deploy]` merges key by key; `health_checks`, `analysis` and
    /// `notifications` of the env replace the top-level ones; `required_secrets` add up. An
    /// env the file does not mention gets the top level (the wrangler configs decide which
    /// envs exist).
    #[must_use]
    pub fn settings(&self, env: Option<&str>) -> DeploySettings {
        let section = env.and_then(|e| self.env(e));
        let over = section.map(|s| &s.deploy);
        let deploy = &self.deploy;
        let strategy = over
            .and_then(|d| d.strategy)
            .or(deploy.strategy)
            .unwrap_or(Strategy::Immediate);
        let steps = over
            .and_then(|d| d.steps.clone())
            .or_else(|| deploy.steps.clone())
            .unwrap_or_else(|| DEFAULT_STEPS.to_vec());
        let step_wait_secs = over
            .and_then(|d| d.step_wait_secs)
            .or(deploy.step_wait_secs)
            .unwrap_or(DEFAULT_STEP_WAIT_SECS);
        let auto_rollback = over
            .and_then(|d| d.auto_rollback)
            .or(deploy.auto_rollback)
            .unwrap_or(true);
        let mut required_secrets = self.required_secrets.clone();
        for s in section
            .map(|s| s.required_secrets.as_slice())
            .unwrap_or_default()
        {
            if !required_secrets.contains(s) {
                required_secrets.push(s.clone());
            }
        }
        DeploySettings {
            env: env.map(str::to_owned),
            strategy,
            steps,
            step_wait_secs,
            auto_rollback,
            health_checks: section
                .and_then(|s| s.health_checks.clone())
                .unwrap_or_else(|| self.health_checks.clone()),
            analysis: section
                .and_then(|s| s.analysis.clone())
                .unwrap_or_else(|| self.analysis.clone()),
            notifications: section
                .and_then(|s| s.notifications.clone())
                .unwrap_or_else(|| self.notifications.clone()),
            required_secrets,
        }
    }

    /// The secrets `service` must have when deployed to `env`: its own `required_secrets`,
    /// then the project's and the env's, without duplicates.
    #[must_use]
    pub fn required_secrets_for(&self, service: &str, env: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = self
            .service(service)
            .map(|s| s.required_secrets.clone())
            .unwrap_or_default();
        for s in self.settings(env).required_secrets {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

/// Gradual steps when none are configured.
pub const DEFAULT_STEPS: [f64; 3] = [10.0, 50.0, 100.0];
/// Seconds each gradual step holds before the next when `step_wait_secs` is not set.
pub const DEFAULT_STEP_WAIT_SECS: u64 = 60;
/// Health check defaults.
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 10_000;
/// Analysis defaults (Argo Rollouts' limits: any failed measurement fails the analysis, any
/// inconclusive one pauses for a human).
pub const DEFAULT_ANALYSIS_INTERVAL_SECS: u64 = 60;
pub const DEFAULT_ANALYSIS_COUNT: u32 = 3;

/// How a new version takes traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Straight to 100%.
    Immediate,
    /// Through `steps` (percentages of traffic on the new version), checked between steps.
    Gradual,
    /// The new version at 0%, smoke-tested through the version override header, then 100%.
    BlueGreen,
}

impl Strategy {
    /// Every strategy, in the order the docs list them.
    pub const ALL: [Strategy; 3] = [Strategy::Immediate, Strategy::Gradual, Strategy::BlueGreen];

    /// `immediate`, `gradual` or `blue-green`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Immediate => "immediate",
            Strategy::Gradual => "gradual",
            Strategy::BlueGreen => "blue-green",
        }
    }

    /// The percentages of traffic on the new version, step by step: `[100]` for immediate,
    /// `gradual_steps` for gradual, `[0, 100]` for blue-green.
    #[must_use]
    pub fn traffic_steps(self, gradual_steps: &[f64]) -> Vec<f64> {
        match self {
            Strategy::Immediate => vec![100.0],
            Strategy::Gradual => gradual_steps.to_vec(),
            Strategy::BlueGreen => vec![0.0, 100.0],
        }
    }

    /// Parses `immediate`, `gradual` or `blue-green` (also `blue_green`, as people type it).
    #[must_use]
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "immediate" => Some(Strategy::Immediate),
            "gradual" => Some(Strategy::Gradual),
            "blue-green" | "blue_green" => Some(Strategy::BlueGreen),
            _ => None,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `[deploy]` table as written (top level or `[env.NAME.deploy]`); unset keys inherit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeploySection {
    pub strategy: Option<Strategy>,
    /// Gradual: percentages of traffic on the new version, increasing, ending at 100.
    pub steps: Option<Vec<f64>>,
    /// Gradual: seconds each step holds (health checks and analysis run meanwhile).
    pub step_wait_secs: Option<u64>,
    /// Roll every service of the deployment back when a check fails (default true).
    pub auto_rollback: Option<bool>,
    pub location: Option<Location>,
}

/// How one environment is deployed, with every default applied ([`ProjectConfig::settings`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploySettings {
    pub env: Option<String>,
    pub strategy: Strategy,
    /// The configured (or default) gradual steps; see [`DeploySettings::traffic_steps`].
    pub steps: Vec<f64>,
    pub step_wait_secs: u64,
    pub auto_rollback: bool,
    pub health_checks: Vec<HealthCheck>,
    pub analysis: Vec<AnalysisMetric>,
    pub notifications: Notifications,
    /// Project-wide and env-wide required secrets (each service adds its own).
    pub required_secrets: Vec<String>,
}

impl DeploySettings {
    /// The percentages of traffic the new version gets, step by step: `[100]` for immediate,
    /// the steps for gradual, `[0, 100]` for blue-green (0%: reachable only with the override
    /// header).
    #[must_use]
    pub fn traffic_steps(&self) -> Vec<f64> {
        self.strategy.traffic_steps(&self.steps)
    }

    /// These settings with another strategy (`clodo deploy --strategy`), refused when the
    /// environment cannot run it (blue-green without a health check that reaches the new
    /// version).
    pub fn with_strategy(mut self, strategy: Strategy) -> Result<DeploySettings, String> {
        self.strategy = strategy;
        blue_green_problem(&self).map_or(Ok(self), Err)
    }
}

/// Why these settings cannot run blue-green, if they cannot.
fn blue_green_problem(s: &DeploySettings) -> Option<String> {
    if s.strategy != Strategy::BlueGreen {
        return None;
    }
    if s.health_checks
        .iter()
        .any(|c| c.version_override && c.service.is_some())
    {
        return None;
    }
    Some(format!(
        "strategy `blue-green`{} needs a health check with `service` set (and `version_override` not false): the new version takes no traffic until that check reaches it through the {VERSION_OVERRIDE_HEADER} header",
        s.env.as_deref().map(|e| format!(" for env `{e}`")).unwrap_or_default()
    ))
}

/// An HTTP expectation checked before each traffic step (and as blue-green's smoke test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// For messages; defaults to `METHOD url`.
    pub name: String,
    /// The service whose new version the check targets: with `version_override`, requests
    /// carry the override header for that service's Worker and new version.
    pub service: Option<String>,
    pub url: String,
    /// Upper-case HTTP method (default `GET`).
    pub method: String,
    pub headers: BTreeMap<String, String>,
    /// Request body (for POST/PUT/PATCH checks).
    pub body: Option<String>,
    /// Accepted status codes (default `[200]`).
    pub expect_status: Vec<u16>,
    /// The response body must contain this text.
    pub expect_body_contains: Option<String>,
    /// Slower answers fail the check.
    pub max_latency_ms: Option<u64>,
    /// Give up (and fail) after this long (default 10 000).
    pub timeout_ms: u64,
    /// Pin the request to the new version with the version override header (default true;
    /// needs `service`).
    pub version_override: bool,
    /// Absent when the check travels without its file (the rollout API).
    #[serde(default)]
    pub location: Location,
}

impl HealthCheck {
    /// The request headers: the configured ones, plus the version override for `worker` at
    /// `version_id` when this check pins versions and the caller knows them.
    #[must_use]
    pub fn request_headers(&self, pin: Option<(&str, &str)>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let (true, Some((worker, version))) = (self.version_override, pin) {
            let (name, value) = version_override_header(worker, version);
            out.push((name.to_owned(), value));
        }
        out
    }

    /// Whether a response passes: status, body text and latency.
    pub fn accepts(&self, status: u16, body: &str, latency_ms: u64) -> Result<(), String> {
        if !self.expect_status.contains(&status) {
            let want: Vec<String> = self.expect_status.iter().map(u16::to_string).collect();
            return Err(format!(
                "{}: status {status}, expected {}",
                self.name,
                want.join(" or ")
            ));
        }
        if let Some(text) = &self.expect_body_contains {
            if !body.contains(text.as_str()) {
                return Err(format!("{}: the body does not contain {text:?}", self.name));
            }
        }
        if let Some(max) = self.max_latency_ms {
            if latency_ms > max {
                return Err(format!(
                    "{}: answered in {latency_ms} ms, more than {max} ms",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// A metric of one Worker version over a measurement interval (from Workers analytics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Errors / requests, a fraction between 0 and 1.
    ErrorRate,
    /// 99th percentile wall time in milliseconds.
    P99LatencyMs,
    /// Requests served.
    Requests,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::ErrorRate, Metric::P99LatencyMs, Metric::Requests];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error_rate",
            Metric::P99LatencyMs => "p99_latency_ms",
            Metric::Requests => "requests",
        }
    }

    fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A comparison operator of a [`Condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Comparison {
    fn as_str(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
        }
    }
}

/// `< 0.05`, `<= 500`, `>= 100`, ...: compared with a measured value. Serialized as its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub op: Comparison,
    pub value: f64,
}

impl Condition {
    /// Parses `OP NUMBER` with OP one of `<`, `<=`, `>`, `>=`, `==`, `!=` (spaces optional).
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t = text.trim();
        // Two-character operators first, so `<=` is not read as `<` followed by `=5`.
        let ops = [
            ("<=", Comparison::Le),
            (">=", Comparison::Ge),
            ("==", Comparison::Eq),
            ("!=", Comparison::Ne),
            ("<", Comparison::Lt),
            (">", Comparison::Gt),
        ];
        let Some((op, rest)) = ops
            .iter()
            .find_map(|(s, op)| t.strip_prefix(s).map(|rest| (*op, rest)))
        else {
            return Err(format!(
                "condition {text:?} does not start with a comparison"
            ));
        };
        let number = rest.trim();
        match number.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Condition { op, value }),
            _ => Err(format!("condition {text:?}: {number:?} is not a number")),
        }
    }

    /// Whether `x` satisfies the condition.
    #[must_use]
    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            Comparison::Lt => x < self.value,
            Comparison::Le => x <= self.value,
            Comparison::Gt => x > self.value,
            Comparison::Ge => x >= self.value,
            Comparison::Eq => x == self.value,
            Comparison::Ne => x != self.value,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Condition::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One metric checked between traffic steps, Argo Rollouts style: `count` measurements
/// `interval_secs` apart; the analysis fails once more than `failure_limit` measurements
/// failed, and pauses for a human once more than `inconclusive_limit` were inconclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisMetric {
    /// For messages; defaults to the metric name.
    pub name: String,
    pub metric: Metric,
    /// Only this service's new version; `None`: every service of the deployment.
    pub service: Option<String>,
    /// The success condition.
    pub condition: Option<Condition>,
    /// With `condition` too, a value matching neither is inconclusive.
    pub failure_condition: Option<Condition>,
    pub interval_secs: u64,
    pub count: u32,
    pub failure_limit: u32,
    pub inconclusive_limit: u32,
    #[serde(default)]
    pub location: Location,
}

/// The verdict on one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Successful,
    Failed,
    Inconclusive,
}

impl AnalysisMetric {
    /// Judges one measurement (`None`: no data, e.g. no requests in the interval). With only a
    /// success condition, not meeting it fails; with only a failure condition, meeting it
    /// fails; with both, the failure condition wins and a value matching neither is
    /// inconclusive.
    #[must_use]
    pub fn evaluate(&self, value: Option<f64>) -> Outcome {
        let Some(x) = value.filter(|x| x.is_finite()) else {
            return Outcome::Inconclusive;
        };
        match (self.condition, self.failure_condition) {
            (_, Some(f)) if f.holds(x) => Outcome::Failed,
            (Some(s), _) if s.holds(x) => Outcome::Successful,
            (Some(_), Some(_)) => Outcome::Inconclusive,
            (Some(_), None) => Outcome::Failed,
            (None, _) => Outcome::Successful,
        }
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Slack,
    Discord,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::Slack,
        ChannelKind::Discord,
        ChannelKind::Webhook,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Webhook => "webhook",
        }
    }
}

/// A webhook URL, written out or (better, since Slack and Discord URLs are credentials) the
/// name of an environment variable holding it: `"$SLACK_WEBHOOK_URL"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrlSource {
    Url(String),
    Env(String),
}

/// One notification target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationChannel {
    pub kind: ChannelKind,
    pub url: UrlSource,
    pub location: Location,
}

/// Deployment events a channel can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Started,
    AwaitingApproval,
    Promoted,
    Paused,
    Succeeded,
    Failed,
    RolledBack,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 7] = [
        NotifyEvent::Started,
        NotifyEvent::AwaitingApproval,
        NotifyEvent::Promoted,
        NotifyEvent::Paused,
        NotifyEvent::Succeeded,
        NotifyEvent::Failed,
        NotifyEvent::RolledBack,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Started => "started",
            NotifyEvent::AwaitingApproval => "awaiting_approval",
            NotifyEvent::Promoted => "promoted",
            NotifyEvent::Paused => "paused",
            NotifyEvent::Succeeded => "succeeded",
            NotifyEvent::Failed => "failed",
            NotifyEvent::RolledBack => "rolled_back",
        }
    }
}

/// `[notifications]`: channels and the events they receive (default: all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notifications {
    pub channels: Vec<NotificationChannel>,
    pub events: Vec<NotifyEvent>,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            channels: Vec::new(),
            events: NotifyEvent::ALL.to_vec(),
        }
    }
}

/// `[env.NAME]`: what differs for one environment; unset sections use the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvSection {
    pub name: String,
    pub deploy: DeploySection,
    pub health_checks: Option<Vec<HealthCheck>>,
    pub analysis: Option<Vec<AnalysisMetric>>,
    pub notifications: Option<Notifications>,
    /// Added to the project's `required_secrets` in this environment.
    pub required_secrets: Vec<String>,
    pub location: Location,
}

struct Reader<'a> {
    file: &'a str,
    map: SourceMap,
}

impl Reader<'_> {
    fn loc(&self, path: &str) -> Location {
        let pos = self.map.get(path);
        Location {
            file: self.file.to_owned(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            key_path: path.to_owned(),
        }
    }

    fn error(&self, path: &str, message: String, expected: &str) -> ConfigError {
        let loc = self.loc(path);
        ConfigError {
            file: self.file.to_owned(),
            line: loc.line,
            column: loc.column,
            key_path: (!path.is_empty()).then(|| path.to_owned()),
            message,
            expected: Some(expected.to_owned()),
        }
    }

    fn string(&self, v: Option<&Value>, path: &str) -> Result<Option<String>, ConfigError> {
        match v {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(path, format!("`{path}` is not a string"), "a string")),
        }
    }

    fn list(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
        let Some(v) = v else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.error(
                path,
                format!("`{path}` is not an array"),
                "an array of strings",
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                self.string(Some(item), &index_path(path, i))
                    .map(Option::unwrap_or_default)
            })
            .collect()
    }

    /// A list of non-empty names (secrets, events).
    fn names(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
        let names = self.list(v, path)?;
        if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
            return Err(self.error(
                &index_path(path, i),
                format!("`{}` is empty", index_path(path, i)),
                "a non-empty name",
            ));
        }
        Ok(names)
    }

    fn table<'v>(
        &self,
        v: &'v Value,
        path: &str,
        expected: &str,
    ) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.error(path, format!("`{path}` is not a table"), expected))
    }

    /// Refuses keys outside `allowed`, naming the accepted ones.
    fn only_keys(
        &self,
        t: &Map<String, Value>,
        path: &str,
        allowed: &[&str],
    ) -> Result<(), ConfigError> {
        match t.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => {
                let key = child_path(path, k);
                Err(self.error(
                    &key,
                    format!("unknown key `{k}` in `{path}`"),
                    &format!("one of: {}", allowed.join(", ")),
                ))
            }
        }
    }

    fn uint(&self, v: Option<&Value>, path: &str, min: u64) -> Result<Option<u64>, ConfigError> {
        let Some(v) = v else {
            return Ok(None);
        };
        match v.as_u64() {
            Some(n) if n >= min => Ok(Some(n)),
            _ => Err(self.error(
                path,
                format!("`{path}` is {}", describe(v)),
                &format!("a whole number, at least {min}"),
            )),
        }
    }

    fn uint32(&self, v: Option<&Value>, path: &str, min: u64) -> Result<Option<u32>, ConfigError> {
        match self.uint(v, path, min)? {
            None => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                self.error(path, format!("`{path}` is too large"), "at most 4294967295")
            }),
        }
    }

    fn boolean(&self, v: Option<&Value>, path: &str) -> Result<Option<bool>, ConfigError> {
        match v {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.error(
                path,
                format!("`{path}` is {}", describe(v)),
                "true or false",
            )),
        }
    }

    /// A `service = "..."` reference, which must name a service of the file.
    fn service_ref(
        &self,
        v: Option<&Value>,
        path: &str,
        services: &[ProjectService],
    ) -> Result<Option<String>, ConfigError> {
        let Some(name) = self.string(v, path)? else {
            return Ok(None);
        };
        if services.iter().any(|s| s.name == name) {
            return Ok(Some(name));
        }
        let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        Err(self.error(
            path,
            format!("`{path}` names `{name}`, which is not a service of this project"),
            &if known.is_empty() {
                "a [[services]] entry with that name".to_owned()
            } else {
                format!("one of: {}", known.join(", "))
            },
        ))
    }
}

/// A value's type with its article and, for scalars, the value itself, for messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "a table".to_owned(),
    }
}

/// Keys of the top level this version interprets.
const TOP_LEVEL_KEYS: &[&str] = &[
    "$schema",
    "project",
    "services",
    "deploy",
    "health_checks",
    "analysis",
    "notifications",
    "required_secrets",
    "env",
];
const SERVICE_KEYS: &[&str] = &["name", "config", "required_secrets", "depends_on"];
const DEPLOY_KEYS: &[&str] = &["strategy", "steps", "step_wait_secs", "auto_rollback"];
const HEALTH_CHECK_KEYS: &[&str] = &[
    "name",
    "service",
    "url",
    "method",
    "headers",
    "body",
    "expect_status",
    "expect_body_contains",
    "max_latency_ms",
    "timeout_ms",
    "version_override",
];
const ANALYSIS_KEYS: &[&str] = &[
    "name",
    "metric",
    "service",
    "condition",
    "failure_condition",
    "interval_secs",
    "count",
    "failure_limit",
    "inconclusive_limit",
];
const NOTIFICATION_KEYS: &[&str] = &["slack", "discord", "webhook", "events"];
const ENV_KEYS: &[&str] = &[
    "deploy",
    "health_checks",
    "analysis",
    "notifications",
    "required_secrets",
];
const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The accepted keys of each table of `clodo.toml`, by table (`services` is one entry of
/// `[[services]]`, `env` one `[env.NAME]`): what the JSON Schema in `schemas/` must match.
#[must_use]
pub fn accepted_keys() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("", TOP_LEVEL_KEYS),
        ("project", &["name"]),
        ("services", SERVICE_KEYS),
        ("deploy", DEPLOY_KEYS),
        ("health_checks", HEALTH_CHECK_KEYS),
        ("analysis", ANALYSIS_KEYS),
        ("notifications", NOTIFICATION_KEYS),
        ("env", ENV_KEYS),
    ]
}

/// Parses the text of a `clodo.toml`.
pub fn parse_project(text: &str, file_name: &str) -> Result<ProjectConfig, ConfigError> {
    let (value, map) = tomlsrc::parse(text, file_name)?;
    let r = Reader {
        file: file_name,
        map,
    };
    let Value::Object(mut root) = value else {
        return Err(r.error("", "clodo.toml is not a table".to_owned(), "a table"));
    };

    // `project = "name"` or `[project] name = "name"`.
    let project = match root.remove("project") {
        Some(Value::String(s)) => s,
        Some(Value::Object(mut t)) => {
            let name = r.string(t.get("name"), "project.name")?;
            t.remove("name");
            if !t.is_empty() {
                root.insert("project".to_owned(), Value::Object(t));
            }
            name.ok_or_else(|| {
                r.error(
                    "project",
                    "[project] has no `name`".to_owned(),
                    "name = \"my-project\"",
                )
            })?
        }
        Some(_) => {
            return Err(r.error(
                "project",
                "`project` is neither a name nor a table".to_owned(),
                "project = \"my-project\"",
            ))
        }
        None => {
            return Err(r.error(
                "",
                "clodo.toml has no `project`".to_owned(),
                "project = \"my-project\" at the top of the file",
            ))
        }
    };
    if project.trim().is_empty() {
        return Err(r.error(
            "project",
            "the project name is empty".to_owned(),
            "a non-empty name",
        ));
    }

    // `[[services]]` entries, or `[services.NAME]` tables (the name is then the key).
    let entries: Vec<(Option<String>, Map<String, Value>, String)> = match root.remove("services") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let path = index_path("services", i);
                match item {
                    Value::Object(t) => Ok((None, t, path)),
                    _ => Err(r.error(
                        &path,
                        format!("`{path}` is not a table"),
                        "a [[services]] table",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Object(t)) => t
            .into_iter()
            .map(|(name, item)| {
                let path = child_path("services", &name);
                match item {
                    Value::Object(t) => Ok((Some(name), t, path)),
                    _ => Err(r.error(
                        &path,
                        format!("`{path}` is not a table"),
                        "a [services.NAME] table",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(r.error(
                "services",
                "`services` is neither an array of tables nor a table".to_owned(),
                "[[services]] entries",
            ))
        }
    };

    let mut services: Vec<ProjectService> = Vec::new();
    for (key_name, mut t, path) in entries {
        let name = match key_name {
            Some(n) => n,
            None => r
                .string(t.get("name"), &child_path(&path, "name"))?
                .ok_or_else(|| {
                    r.error(&path, format!("`{path}` has no `name`"), "name = \"api\"")
                })?,
        };
        let config = r
            .string(t.get("config"), &child_path(&path, "config"))?
            .ok_or_else(|| {
                r.error(
                    &path,
                    format!("service `{name}` has no `config`"),
                    "config = \"path/to/wrangler.toml\" or the directory holding it",
                )
            })?;
        if services.iter().any(|s| s.name == name) {
            return Err(r.error(
                &path,
                format!("service `{name}` is declared twice"),
                "unique service names",
            ));
        }
        let required_secrets = r.list(
            t.get("required_secrets"),
            &child_path(&path, "required_secrets"),
        )?;
        let depends_on = r.list(t.get("depends_on"), &child_path(&path, "depends_on"))?;
        for k in ["name", "config", "required_secrets", "depends_on"] {
            t.remove(k);
        }
        services.push(ProjectService {
            name,
            config,
            required_secrets,
            depends_on,
            location: r.loc(&path),
            extra: t,
        });
    }

    for s in &services {
        for (i, d) in s.depends_on.iter().enumerate() {
            if !services.iter().any(|o| &o.name == d) {
                let known: Vec<&str> = services.iter().map(|o| o.name.as_str()).collect();
                return Err(r.error(
                    &index_path(&child_path(&s.location.key_path, "depends_on"), i),
                    format!(
                        "service `{}` depends on `{d}`, which is not a service of this project",
                        s.name
                    ),
                    &format!("one of: {}", known.join(", ")),
                ));
            }
        }
    }

    let mut warnings = Vec::new();
    for s in &services {
        for k in s.extra.keys() {
            let path = child_path(&s.location.key_path, k);
            warnings.push(ConfigWarning {
                message: format!(
                    "unknown key `{k}` in service `{}` is ignored (known: {})",
                    s.name,
                    SERVICE_KEYS.join(", ")
                ),
                location: r.loc(&path),
            });
        }
    }

    let deploy = match root.remove("deploy") {
        Some(v) => deploy_section(&r, &v, "deploy")?,
        None => DeploySection::default(),
    };
    let health_checks = match root.remove("health_checks") {
        Some(v) => health_checks(&r, &v, "health_checks", &services)?,
        None => Vec::new(),
    };
    let analysis = match root.remove("analysis") {
        Some(v) => analysis(&r, &v, "analysis", &services)?,
        None => Vec::new(),
    };
    let notifications = match root.remove("notifications") {
        Some(v) => notifications(&r, &v, "notifications")?,
        None => Notifications::default(),
    };
    // `"$schema" = "..."` only points editors at the JSON Schema.
    root.remove("$schema");
    let required_secrets = r.names(root.get("required_secrets"), "required_secrets")?;
    root.remove("required_secrets");
    let envs = match root.remove("env") {
        Some(v) => env_sections(&r, &v, &services)?,
        None => Vec::new(),
    };

    // Whatever is left is a section this version does not know: kept, with a warning, so a
    // file written for a later version still loads.
    for (k, v) in &root {
        let keys: Vec<String> = match (k.as_str(), v) {
            ("project", Value::Object(t)) => t.keys().map(|sub| child_path(k, sub)).collect(),
            _ => vec![k.clone()],
        };
        for path in keys {
            warnings.push(ConfigWarning {
                message: format!(
                    "unknown key `{path}` is ignored (known: {})",
                    TOP_LEVEL_KEYS.join(", ")
                ),
                location: r.loc(&path),
            });
        }
    }

    let config = ProjectConfig {
        file: file_name.to_owned(),
        project,
        services,
        deploy,
        health_checks,
        analysis,
        notifications,
        required_secrets,
        envs,
        extra: root,
        warnings,
    };
    if config.deploy_order().len() < config.services.len() {
        let order = config.deploy_order();
        let stuck: Vec<&str> = config
            .services
            .iter()
            .filter(|s| !order.contains(&s.name))
            .map(|s| s.name.as_str())
            .collect();
        let first = config.services.iter().find(|s| !order.contains(&s.name));
        return Err(r.error(
            first.map_or("services", |s| s.location.key_path.as_str()),
            format!("`depends_on` forms a cycle among: {}", stuck.join(", ")),
            "dependencies without cycles",
        ));
    }

    // Blue-green needs a check that reaches the new version: at the top level and in every
    // env, since each is a complete set of settings some deploy may use.
    let scopes = std::iter::once(None).chain(config.envs.iter().map(|e| Some(e.name.as_str())));
    for env in scopes {
        let settings = config.settings(env);
        if let Some(problem) = blue_green_problem(&settings) {
            let path = match env {
                Some(e) if config.env(e).is_some_and(|s| s.deploy.strategy.is_some()) => {
                    format!("env.{e}.deploy.strategy")
                }
                _ => "deploy.strategy".to_owned(),
            };
            return Err(r.error(
                &path,
                problem,
                "[[health_checks]] with service = \"NAME\" for this environment",
            ));
        }
    }
    Ok(config)
}

fn deploy_section(r: &Reader<'_>, v: &Value, path: &str) -> Result<DeploySection, ConfigError> {
    let t = r.table(v, path, &format!("[{path}] with strategy, steps, ..."))?;
    r.only_keys(t, path, DEPLOY_KEYS)?;
    let strategy_path = child_path(path, "strategy");
    let strategy = match r.string(t.get("strategy"), &strategy_path)? {
        None => None,
        Some(s) => Some(Strategy::parse(&s).ok_or_else(|| {
            r.error(
                &strategy_path,
                format!("unknown strategy {s:?}"),
                "immediate, gradual or blue-green",
            )
        })?),
    };
    let steps_path = child_path(path, "steps");
    let steps = match t.get("steps") {
        None => None,
        Some(v) => Some(steps(r, v, &steps_path)?),
    };
    Ok(DeploySection {
        strategy,
        steps,
        step_wait_secs: r.uint(
            t.get("step_wait_secs"),
            &child_path(path, "step_wait_secs"),
            0,
        )?,
        auto_rollback: r.boolean(t.get("auto_rollback"), &child_path(path, "auto_rollback"))?,
        location: Some(r.loc(path)),
    })
}

/// Gradual steps: percentages above 0, increasing, the last one 100 (a rollout that never
/// reaches 100% would leave the old version serving forever).
fn steps(r: &Reader<'_>, v: &Value, path: &str) -> Result<Vec<f64>, ConfigError> {
    const EXPECTED: &str = "increasing percentages ending at 100, e.g. [10, 50, 100]";
    let Value::Array(items) = v else {
        return Err(r.error(path, format!("`{path}` is {}", describe(v)), EXPECTED));
    };
    if items.is_empty() {
        return Err(r.error(path, format!("`{path}` is empty"), EXPECTED));
    }
    let mut out: Vec<f64> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        let Some(p) = item.as_f64() else {
            return Err(r.error(
                &item_path,
                format!("`{item_path}` is {}", describe(item)),
                "a percentage (a number from 0 to 100)",
            ));
        };
        if !(p > 0.0 && p <= 100.0) {
            return Err(r.error(
                &item_path,
                format!("step {p}% is out of range"),
                "a percentage above 0 and at most 100",
            ));
        }
        if let Some(&prev) = out.last() {
            if p <= prev {
                return Err(r.error(
                    &item_path,
                    format!("step {p}% does not increase on the step before ({prev}%)"),
                    EXPECTED,
                ));
            }
        }
        out.push(p);
    }
    if out.last() != Some(&100.0) {
        return Err(r.error(
            &index_path(path, items.len() - 1),
            format!(
                "the last step is {}%, so the rollout would never finish",
                out[out.len() - 1]
            ),
            "the last step to be 100",
        ));
    }
    Ok(out)
}

/// One table of an array of tables, with its key path.
type Entry<'v> = (&'v Map<String, Value>, String);

/// An array of tables (`[[NAME]]`), each with its key path.
fn entries<'v>(r: &Reader<'_>, v: &'v Value, path: &str) -> Result<Vec<Entry<'v>>, ConfigError> {
    let expected = format!("[[{path}]] tables");
    let Value::Array(items) = v else {
        return Err(r.error(path, format!("`{path}` is {}", describe(v)), &expected));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = index_path(path, i);
            r.table(item, &p, &expected).map(|t| (t, p))
        })
        .collect()
}

fn health_checks(
    r: &Reader<'_>,
    v: &Value,
    path: &str,
    services: &[ProjectService],
) -> Result<Vec<HealthCheck>, ConfigError> {
    let mut out: Vec<HealthCheck> = Vec::new();
    for (t, p) in entries(r, v, path)? {
        r.only_keys(t, &p, HEALTH_CHECK_KEYS)?;
        let key = |k: &str| child_path(&p, k);
        let url = r.string(t.get("url"), &key("url"))?.ok_or_else(|| {
            r.error(
                &p,
                format!("`{p}` has no `url`"),
                "url = \"https://api.example.com/healthz\"",
            )
        })?;
        check_url(&url).map_err(|why| {
            r.error(
                &key("url"),
                format!("health check URL {url:?} {why}"),
                "an http:// or https:// URL",
            )
        })?;
        let method = match r.string(t.get("method"), &key("method"))? {
            None => "GET".to_owned(),
            Some(m) => {
                let upper = m.to_ascii_uppercase();
                if !HTTP_METHODS.contains(&upper.as_str()) {
                    return Err(r.error(
                        &key("method"),
                        format!("unknown HTTP method {m:?}"),
                        &format!("one of: {}", HTTP_METHODS.join(", ")),
                    ));
                }
                upper
            }
        };
        let mut headers = BTreeMap::new();
        if let Some(h) = t.get("headers") {
            let hp = key("headers");
            let h = r.table(h, &hp, "headers = { Authorization = \"...\" }")?;
            for (name, value) in h {
                let vp = child_path(&hp, name);
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !valid {
                    return Err(r.error(
                        &vp,
                        format!("{name:?} is not a valid HTTP header name"),
                        "letters, digits and -",
                    ));
                }
                let value = r.string(Some(value), &vp)?.unwrap_or_default();
                if value.contains(['\r', '\n']) {
                    return Err(r.error(
                        &vp,
                        format!("header `{name}` contains a line break"),
                        "a single-line value",
                    ));
                }
                headers.insert(name.clone(), value);
            }
        }
        let expect_status = match t.get("expect_status") {
            None => vec![200],
            Some(v) => status_list(r, v, &key("expect_status"))?,
        };
        let service = r.service_ref(t.get("service"), &key("service"), services)?;
        let version_override = r
            .boolean(t.get("version_override"), &key("version_override"))?
            .unwrap_or(true);
        let name = r
            .string(t.get("name"), &key("name"))?
            .unwrap_or_else(|| format!("{method} {url}"));
        if out.iter().any(|c| c.name == name) {
            return Err(r.error(
                &p,
                format!("two health checks are named {name:?}"),
                "unique health check names (set `name`)",
            ));
        }
        out.push(HealthCheck {
            name,
            service,
            url,
            method,
            headers,
            body: r.string(t.get("body"), &key("body"))?,
            expect_status,
            expect_body_contains: r
                .string(t.get("expect_body_contains"), &key("expect_body_contains"))?,
            max_latency_ms: r.uint(t.get("max_latency_ms"), &key("max_latency_ms"), 1)?,
            timeout_ms: r
                .uint(t.get("timeout_ms"), &key("timeout_ms"), 1)?
                .unwrap_or(DEFAULT_HEALTH_TIMEOUT_MS),
            version_override,
            location: r.loc(&p),
        });
    }
    Ok(out)
}

/// `expect_status`: one status code or an array of them.
fn status_list(r: &Reader<'_>, v: &Value, path: &str) -> Result<Vec<u16>, ConfigError> {
    let one = |v: &Value, p: &str| -> Result<u16, ConfigError> {
        match v.as_u64() {
            Some(n @ 100..=599) => Ok(n as u16),
            _ => Err(r.error(
                p,
                format!("`{p}` is {}", describe(v)),
                "an HTTP status code from 100 to 599",
            )),
        }
    };
    match v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| one(item, &index_path(path, i)))
            .collect(),
        Value::Array(_) => Err(r.error(
            path,
            format!("`{path}` is empty"),
            "a status code or a non-empty array of them",
        )),
        _ => one(v, path).map(|s| vec![s]),
    }
}

fn analysis(
    r: &Reader<'_>,
    v: &Value,
    path: &str,
    services: &[ProjectService],
) -> Result<Vec<AnalysisMetric>, ConfigError> {
    let mut out: Vec<AnalysisMetric> = Vec::new();
    for (t, p) in entries(r, v, path)? {
        r.only_keys(t, &p, ANALYSIS_KEYS)?;
        let key = |k: &str| child_path(&p, k);
        let metric_name = r.string(t.get("metric"), &key("metric"))?.ok_or_else(|| {
            r.error(
                &p,
                format!("`{p}` has no `metric`"),
                "metric = \"error_rate\"",
            )
        })?;
        let metric = Metric::parse(&metric_name).ok_or_else(|| {
            r.error(
                &key("metric"),
                format!("unknown metric {metric_name:?}"),
                "error_rate, p99_latency_ms or requests",
            )
        })?;
        let condition = |k: &str| -> Result<Option<Condition>, ConfigError> {
            let Some(text) = r.string(t.get(k), &key(k))? else {
                return Ok(None);
            };
            let c = Condition::parse(&text).map_err(|why| {
                r.error(&key(k), why, "a comparison and a number, e.g. \"< 0.05\"")
            })?;
            if metric == Metric::ErrorRate && !(0.0..=1.0).contains(&c.value) {
                return Err(r.error(
                    &key(k),
                    format!(
                        "error_rate is a fraction from 0 to 1, and {} is outside it",
                        c.value
                    ),
                    "e.g. \"< 0.05\" for under 5%",
                ));
            }
            Ok(Some(c))
        };
        let success = condition("condition")?;
        let failure = condition("failure_condition")?;
        if success.is_none() && failure.is_none() {
            return Err(r.error(
                &p,
                format!("`{p}` has no `condition`"),
                "condition = \"< 0.05\" (the success condition), or failure_condition",
            ));
        }
        let name = r
            .string(t.get("name"), &key("name"))?
            .unwrap_or_else(|| metric.as_str().to_owned());
        let service = r.service_ref(t.get("service"), &key("service"), services)?;
        if out.iter().any(|m| m.name == name && m.service == service) {
            return Err(r.error(
                &p,
                format!("two analysis entries are named {name:?}"),
                "unique names (set `name`)",
            ));
        }
        out.push(AnalysisMetric {
            name,
            metric,
            service,
            condition: success,
            failure_condition: failure,
            interval_secs: r
                .uint(t.get("interval_secs"), &key("interval_secs"), 1)?
                .unwrap_or(DEFAULT_ANALYSIS_INTERVAL_SECS),
            count: r
                .uint32(t.get("count"), &key("count"), 1)?
                .unwrap_or(DEFAULT_ANALYSIS_COUNT),
            failure_limit: r
                .uint32(t.get("failure_limit"), &key("failure_limit"), 0)?
                .unwrap_or(0),
            inconclusive_limit: r
                .uint32(t.get("inconclusive_limit"), &key("inconclusive_limit"), 0)?
                .unwrap_or(0),
            location: r.loc(&p),
        });
    }
    Ok(out)
}

fn notifications(r: &Reader<'_>, v: &Value, path: &str) -> Result<Notifications, ConfigError> {
    let t = r.table(
        v,
        path,
        "[notifications] with slack, discord, webhook, events",
    )?;
    r.only_keys(t, path, NOTIFICATION_KEYS)?;
    let mut channels = Vec::new();
    for kind in ChannelKind::ALL {
        let key = child_path(path, kind.as_str());
        let urls: Vec<(String, String)> = match t.get(kind.as_str()) {
            None => Vec::new(),
            Some(Value::String(s)) => vec![(s.clone(), key.clone())],
            Some(Value::Array(_)) => r
                .list(t.get(kind.as_str()), &key)?
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s, index_path(&key, i)))
                .collect(),
            Some(v) => {
                return Err(r.error(
                    &key,
                    format!("`{key}` is {}", describe(v)),
                    "a URL, \"$ENV_VAR\", or an array of them",
                ))
            }
        };
        for (url, p) in urls {
            let source =
                channel_url(kind, &url).map_err(|(why, expected)| r.error(&p, why, expected))?;
            channels.push(NotificationChannel {
                kind,
                url: source,
                location: r.loc(&p),
            });
        }
    }
    let events = match t.get("events") {
        None => NotifyEvent::ALL.to_vec(),
        Some(_) => {
            let key = child_path(path, "events");
            let names = r.names(t.get("events"), &key)?;
            let mut events = Vec::new();
            for (i, n) in names.iter().enumerate() {
                let e = NotifyEvent::ALL
                    .into_iter()
                    .find(|e| e.as_str() == n)
                    .ok_or_else(|| {
                        let all: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
                        r.error(
                            &index_path(&key, i),
                            format!("unknown event {n:?}"),
                            &format!("one of: {}", all.join(", ")),
                        )
                    })?;
                if !events.contains(&e) {
                    events.push(e);
                }
            }
            events
        }
    };
    Ok(Notifications { channels, events })
}

/// Checks a channel URL: `$NAME` (an environment variable), or a URL of the right service.
/// Slack and Discord URLs are credentials, hence https only; a generic webhook may use http
/// on loopback (a local receiver in tests), nowhere else.
fn channel_url(kind: ChannelKind, text: &str) -> Result<UrlSource, (String, &'static str)> {
    if let Some(var) = text.strip_prefix('$') {
        let valid = var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if valid {
            Ok(UrlSource::Env(var.to_owned()))
        } else {
            Err((
                format!("{text:?} is not a valid environment variable reference"),
                "\"$NAME\" with letters, digits and _",
            ))
        };
    }
    let (scheme, host) = check_url(text).map_err(|why| {
        (
            format!("{} URL {text:?} {why}", kind.as_str()),
            "an https:// URL or \"$ENV_VAR\"",
        )
    })?;
    let path = text.splitn(4, '/').nth(3).unwrap_or_default();
    match kind {
        ChannelKind::Slack => {
            if scheme != "https"
                || !matches!(host.as_str(), "hooks.slack.com" | "hooks.slack-gov.com")
            {
                return Err((
                    format!("{text:?} is not a Slack incoming webhook URL"),
                    "https://hooks.slack.com/services/... or \"$SLACK_WEBHOOK_URL\"",
                ));
            }
        }
        ChannelKind::Discord => {
            let host_ok = matches!(
                host.as_str(),
                "discord.com" | "discordapp.com" | "ptb.discord.com" | "canary.discord.com"
            );
            if scheme != "https" || !host_ok || !path.starts_with("api/webhooks/") {
                return Err((
                    format!("{text:?} is not a Discord webhook URL"),
                    "https://discord.com/api/webhooks/ID/TOKEN or \"$DISCORD_WEBHOOK_URL\"",
                ));
            }
        }
        ChannelKind::Webhook => {
            if scheme != "https" && !is_loopback(&host) {
                return Err((
                    format!("webhook URL {text:?} is not https (deployment events would travel in clear text)"),
                    "an https:// URL (http:// only for localhost)",
                ));
            }
        }
    }
    Ok(UrlSource::Url(text.to_owned()))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// Checks an absolute http(s) URL and returns its lower-case scheme and host (without
/// credentials or port). No URL crate: the pure core stays small for wasm, and these checks
/// only need the authority.
fn check_url(url: &str) -> Result<(String, String), String> {
    if url.chars().any(char::is_whitespace) {
        return Err("contains whitespace".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not an absolute URL".to_owned());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("has scheme `{scheme}`"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => {
                let (h, port) = host_port.split_at(end + 1);
                check_port(port)?;
                h
            }
            None => return Err("has an unclosed IPv6 address".to_owned()),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, port)) => {
                check_port(&format!(":{port}"))?;
                h
            }
            None => host_port,
        }
    };
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    Ok((scheme, host.to_ascii_lowercase()))
}

fn check_port(port: &str) -> Result<(), String> {
    match port.strip_prefix(':') {
        None if port.is_empty() => Ok(()),
        Some(p) if p.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("has an invalid port `{port}`")),
    }
}

fn env_sections(
    r: &Reader<'_>,
    v: &Value,
    services: &[ProjectService],
) -> Result<Vec<EnvSection>, ConfigError> {
    let envs = r.table(v, "env", "[env.NAME] tables")?;
    // File order, by where each env is first written (the JSON map itself is sorted).
    let mut ordered: Vec<_> = envs
        .iter()
        .map(|(name, v)| (r.map.get_exact(&child_path("env", name)), name, v))
        .collect();
    ordered.sort_by_key(|(pos, _, _)| *pos);
    let mut out = Vec::new();
    for (_, name, v) in ordered {
        let p = child_path("env", name);
        let t = r.table(v, &p, &format!("an [{p}] table"))?;
        if let Some(k) = t.keys().find(|k| DEPLOY_KEYS.contains(&k.as_str())) {
            return Err(r.error(
                &child_path(&p, k),
                format!("`{k}` belongs in [{p}.deploy], not [{p}]"),
                &format!("[{p}.deploy] {k} = ..."),
            ));
        }
        r.only_keys(t, &p, ENV_KEYS)?;
        let key = |k: &str| child_path(&p, k);
        out.push(EnvSection {
            name: name.clone(),
            deploy: match t.get("deploy") {
                Some(v) => deploy_section(r, v, &key("deploy"))?,
                None => DeploySection::default(),
            },
            health_checks: t
                .get("health_checks")
                .map(|v| health_checks(r, v, &key("health_checks"), services))
                .transpose()?,
            analysis: t
                .get("analysis")
                .map(|v| analysis(r, v, &key("analysis"), services))
                .transpose()?,
            notifications: t
                .get("notifications")
                .map(|v| notifications(r, v, &key("notifications")))
                .transpose()?,
            required_secrets: r.names(t.get("required_secrets"), &key("required_secrets"))?,
            location: r.loc(&p),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = r#"
project = "shop"

[strategy]
kind = "canary"

[[services]]
name = "api"
config = "services/api"
required_secrets = ["STRIPE_KEY"]
depends_on = ["auth"]
health_check = "/healthz"

[[services]]
name = "auth"
config = "services/auth/wrangler.jsonc"
"#;

    #[test]
    fn parses_services_and_keeps_unknown_sections() {
        let p = parse_project(PROJECT, "clodo.toml").unwrap();
        assert_eq!(p.project, "shop");
        assert_eq!(p.services.len(), 2);
        assert_eq!(p.services[0].required_secrets, vec!["STRIPE_KEY"]);
        assert_eq!(p.services[0].extra["health_check"], "/healthz");
        assert_eq!(p.extra["strategy"]["kind"], "canary");
        assert_eq!(p.services[0].location.line, Some(7));
        assert_eq!(p.deploy_order(), vec!["auth", "api"]);
        assert_eq!(
            p.services[1].config_path(Path::new("/repo/clodo.toml")),
            PathBuf::from("/repo/services/auth/wrangler.jsonc")
        );
    }

    #[test]
    fn table_form_and_project_table() {
        let p = parse_project(
            "[project]\nname = \"x\"\n[services.web]\nconfig = \"web\"\n",
            "clodo.toml",
        )
        .unwrap();
        assert_eq!(p.project, "x");
        assert_eq!(p.services[0].name, "web");
    }

    #[test]
    fn rejects_unknown_dependency_and_cycles_with_position() {
        let err = parse_project(
            "project = \"p\"\n[[services]]\nname = \"a\"\nconfig = \"a\"\ndepends_on = [\"nope\"]\n",
            "clodo.toml",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(5));
        assert!(err.message.contains("`nope`"), "{err}");

        let err = parse_project(
            "project = \"p\"\n[[services]]\nname = \"a\"\nconfig = \"a\"\ndepends_on = [\"b\"]\n[[services]]\nname = \"b\"\nconfig = \"b\"\ndepends_on = [\"a\"]\n",
            "clodo.toml",
        )
        .unwrap_err();
        assert!(err.message.contains("cycle"), "{err}");

        let err = parse_project("[[services]]\nname = \"a\"\n", "clodo.toml").unwrap_err();
        assert!(err.message.contains("no `project`"), "{err}");
        let err = parse_project(
            "project = \"p\"\n[[services]]\nname = \"a\"\n",
            "clodo.toml",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
