//! The model of `clodo.toml`: the project, its services and the deploy settings (strategy,
//! health checks, metric analysis, notifications) that `parse` builds and the rollout reads.
//! What a health check accepts and how a metric is judged live in `crate::rollout::checks`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::config::{ConfigWarning, Location};
use crate::rollout::ab::AbConfig;
use crate::rollout::checks::VERSION_OVERRIDE_HEADER;

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
            // Only the `ab` strategy reads them (`parse` refuses settings no env uses).
            ab: (strategy == Strategy::Ab)
                .then(|| {
                    over.and_then(|d| d.ab.clone())
                        .or_else(|| deploy.ab.clone())
                })
                .flatten(),
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
    /// An A/B test: both versions side by side at a fixed split with version affinity, the
    /// metrics compared per version, then the winner kept (`crate::rollout::ab`).
    Ab,
}

impl Strategy {
    /// Every strategy, in the order the docs list them.
    pub const ALL: [Strategy; 4] = [
        Strategy::Immediate,
        Strategy::Gradual,
        Strategy::BlueGreen,
        Strategy::Ab,
    ];

    /// `immediate`, `gradual` or `blue-green`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Immediate => "immediate",
            Strategy::Gradual => "gradual",
            Strategy::BlueGreen => "blue-green",
            Strategy::Ab => "ab",
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
            // A/B: the caller passes `[split, 100]` (see `DeploySettings::traffic_steps`).
            Strategy::Ab => gradual_steps.to_vec(),
        }
    }

    /// Parses `immediate`, `gradual` or `blue-green` (also `blue_green`, as people type it).
    #[must_use]
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "immediate" => Some(Strategy::Immediate),
            "gradual" => Some(Strategy::Gradual),
            "blue-green" | "blue_green" => Some(Strategy::BlueGreen),
            "ab" => Some(Strategy::Ab),
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
    /// `ab = { split, window_secs, affinity, auto_promote, min_requests }` (strategy `ab`).
    pub ab: Option<AbConfig>,
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
    /// Strategy `ab`: the A/B test's settings.
    pub ab: Option<AbConfig>,
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
        match (self.strategy, &self.ab) {
            (Strategy::Ab, Some(ab)) => vec![ab.split, 100.0],
            _ => self.strategy.traffic_steps(&self.steps),
        }
    }

    /// These settings with another strategy (`clodo deploy --strategy`), refused when the
    /// environment cannot run it (blue-green without a health check that reaches the new
    /// version).
    pub fn with_strategy(mut self, strategy: Strategy) -> Result<DeploySettings, String> {
        self.strategy = strategy;
        // A/B settings belong to the `ab` strategy: another one chosen on the command line
        // runs without them (sending them would be refused).
        if strategy != Strategy::Ab {
            self.ab = None;
        }
        if let Some(problem) = ab_problem(&self) {
            return Err(problem);
        }
        blue_green_problem(&self).map_or(Ok(self), Err)
    }
}

/// Why these settings cannot run an A/B test, if their strategy is `ab` and they cannot.
pub fn ab_problem(s: &DeploySettings) -> Option<String> {
    if s.strategy != Strategy::Ab {
        return None;
    }
    crate::rollout::ab::settings_problem(s.ab.as_ref(), &s.analysis).map(|p| {
        format!(
            "strategy `ab`{}: {p}",
            s.env
                .as_deref()
                .map(|e| format!(" for env `{e}`"))
                .unwrap_or_default()
        )
    })
}

/// Why these settings cannot run blue-green, if they cannot.
pub fn blue_green_problem(s: &DeploySettings) -> Option<String> {
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

    pub fn parse(s: &str) -> Option<Metric> {
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
