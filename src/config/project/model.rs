//! The model of `clodo.toml`: the project, its services and the deploy settings (strategy,
//! health checks, metric analysis) that `parse` builds and the rollout reads.
//! What a health check accepts and how a metric is judged live in `crate::rollout::checks`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::steps::{OnDeadline, Step, DEFAULT_MAX_PAUSE_SECS, DEFAULT_PROGRESS_DEADLINE_SECS};
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
    /// A Worker (the default) or a Pages project.
    pub kind: ServiceKind,
    /// Path to the wrangler config or its directory, relative to `clodo.toml` (empty for a
    /// Pages service, whose bindings live on the Pages project).
    pub config: String,
    /// `kind = "pages"`: what is uploaded and to which project.
    pub pages: Option<PagesService>,
    pub required_secrets: Vec<String>,
    pub depends_on: Vec<String>,
    pub location: Location,
    /// Keys of this service entry this version does not interpret.
    pub extra: Map<String, Value>,
}

/// What a `[[services]]` entry deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// A Worker described by a wrangler config, uploaded as versions and rolled out.
    Worker,
    /// A Pages project, uploaded with `wrangler pages deploy` (direct upload).
    Pages,
}

impl ServiceKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Worker => "worker",
            ServiceKind::Pages => "pages",
        }
    }
}

/// The Pages part of a `kind = "pages"` service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PagesService {
    /// The static files to upload (the build's output), relative to `clodo.toml`.
    pub build_output_dir: String,
    /// The Pages project without `--env` (and for envs `project_names` does not list).
    pub project_name: Option<String>,
    /// The Pages project per environment (`[services.project_names] staging = "..."`).
    pub project_names: BTreeMap<String, String>,
    /// The production branch the project must have (checked by `clodo assess`); deploys go to
    /// the project's production branch either way.
    pub production_branch: Option<String>,
}

impl PagesService {
    /// The Pages project deployed to in `env` (`None`: no `--env`), if the file names one.
    #[must_use]
    pub fn project_for(&self, env: Option<&str>) -> Option<&str> {
        env.and_then(|e| self.project_names.get(e))
            .or(self.project_name.as_ref())
            .map(String::as_str)
    }

    /// The build output directory resolved against the directory of `clodo_toml`.
    #[must_use]
    pub fn output_path(&self, clodo_toml: &Path) -> PathBuf {
        clodo_toml
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(&self.build_output_dir)
    }
}

/// Whether `name` is a valid Pages project name: 1-58 lowercase letters, digits or `-`, not
/// starting or ending with `-` (it becomes `<name>.pages.dev`).
#[must_use]
pub fn valid_pages_project(name: &str) -> bool {
    (1..=58).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl ProjectService {
    /// Whether this service is a Worker (described by a wrangler config).
    #[must_use]
    pub fn is_worker(&self) -> bool {
        self.kind == ServiceKind::Worker
    }

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
    /// over the defaults. `[deploy]` merges key by key; `health_checks` and `analysis` of
    /// the env replace the top-level ones; `required_secrets` add up. An
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
            .unwrap_or_else(|| Step::traffic(&DEFAULT_STEPS));
        let step_wait_secs = over
            .and_then(|d| d.step_wait_secs)
            .or(deploy.step_wait_secs)
            .unwrap_or(DEFAULT_STEP_WAIT_SECS);
        let auto_rollback = over
            .and_then(|d| d.auto_rollback)
            .or(deploy.auto_rollback)
            .unwrap_or(true);
        let progress_deadline_secs = over
            .and_then(|d| d.progress_deadline_secs)
            .or(deploy.progress_deadline_secs)
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECS);
        let on_deadline = over
            .and_then(|d| d.on_deadline)
            .or(deploy.on_deadline)
            .unwrap_or_default();
        let max_pause_secs = over
            .and_then(|d| d.max_pause_secs)
            .or(deploy.max_pause_secs)
            .unwrap_or(DEFAULT_MAX_PAUSE_SECS);
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
            progress_deadline_secs,
            on_deadline,
            max_pause_secs,
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
    pub fn traffic_steps(self, gradual_steps: &[Step]) -> Vec<f64> {
        match self {
            Strategy::Immediate => vec![100.0],
            Strategy::Gradual => Step::percentages(gradual_steps),
            Strategy::BlueGreen => vec![0.0, 100.0],
            // A/B: the caller passes `[split, 100]` (see `DeploySettings::traffic_steps`).
            Strategy::Ab => Step::percentages(gradual_steps),
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
    /// Gradual: percentages of traffic on the new version, increasing, ending at 100, with
    /// gates (`{pause = true}`) between them.
    pub steps: Option<Vec<Step>>,
    /// Gradual: seconds each step holds (health checks and analysis run meanwhile).
    pub step_wait_secs: Option<u64>,
    /// Roll every service of the deployment back when a check fails (default true).
    pub auto_rollback: Option<bool>,
    /// No step advance for this long (outside pauses): `on_deadline` happens.
    pub progress_deadline_secs: Option<u64>,
    pub on_deadline: Option<OnDeadline>,
    /// A pause nobody ends for this long aborts the rollout.
    pub max_pause_secs: Option<u64>,
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
    pub steps: Vec<Step>,
    pub step_wait_secs: u64,
    pub auto_rollback: bool,
    pub progress_deadline_secs: u64,
    pub on_deadline: OnDeadline,
    pub max_pause_secs: u64,
    /// Strategy `ab`: the A/B test's settings.
    pub ab: Option<AbConfig>,
    pub health_checks: Vec<HealthCheck>,
    pub analysis: Vec<AnalysisMetric>,
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
        blue_green_problem(&self)
            .or_else(|| deadline_problem(&self))
            .map_or(Ok(self), Err)
    }
}

/// The least time a step takes: its hold (immediate does not hold) and its inline
/// measurements (`count` × `interval_secs`).
#[must_use]
pub fn shortest_step_secs(
    strategy: Strategy,
    step_wait_secs: u64,
    analysis: &[AnalysisMetric],
) -> u64 {
    let hold = if strategy == Strategy::Immediate {
        0
    } else {
        step_wait_secs
    };
    let inline = analysis
        .iter()
        .filter(|m| !m.background)
        .map(|m| m.interval_secs.saturating_mul(u64::from(m.count)))
        .max()
        .unwrap_or(0);
    hold.max(inline)
}

/// Why `progress_deadline_secs` would end every rollout of these settings, if it would: a
/// step takes at least its hold and its inline measurements (immediate does not hold).
pub fn deadline_problem(s: &DeploySettings) -> Option<String> {
    let step_takes = shortest_step_secs(s.strategy, s.step_wait_secs, &s.analysis);
    (s.progress_deadline_secs <= step_takes).then(|| {
        format!(
            "`progress_deadline_secs` {}{}: a step takes at least {step_takes} s (`step_wait_secs` and `count` × `interval_secs` of the inline analysis), so every rollout would hit the deadline",
            s.progress_deadline_secs,
            s.env.as_deref().map(|e| format!(" for env `{e}`")).unwrap_or_default()
        )
    })
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

/// `< 0.05`, `<= 500`, `>= 100`, ...: compared with a measured value; or
/// `< baseline * 1.5 + 0.01`: compared with the previous version's value over the same window
/// (times `baseline_factor`, plus `value`). Serialized as its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub op: Comparison,
    /// The threshold, or with a baseline the constant added to `baseline * factor`.
    pub value: f64,
    /// `Some(factor)`: the threshold is `baseline * factor + value`.
    pub baseline_factor: Option<f64>,
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
        let number = |t: &str| match t.trim().parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(format!(
                "condition {text:?}: {:?} is not a number",
                t.trim()
            )),
        };
        let Some(expr) = rest.trim().strip_prefix("baseline") else {
            return Ok(Condition {
                op,
                value: number(rest)?,
                baseline_factor: None,
            });
        };
        // `baseline [* FACTOR] [(+|-) OFFSET]`
        let expr = expr.trim();
        let (factor, tail) = match expr.strip_prefix('*') {
            Some(after) => {
                let after = after.trim_start();
                // The factor ends at a space or a sign that is not an exponent's.
                let bytes = after.as_bytes();
                let end = (1..bytes.len())
                    .find(|&i| {
                        bytes[i] == b' '
                            || (matches!(bytes[i], b'+' | b'-')
                                && !matches!(bytes[i - 1], b'e' | b'E'))
                    })
                    .unwrap_or(bytes.len());
                (number(&after[..end])?, after[end..].trim())
            }
            None => (1.0, expr),
        };
        let value = match tail.chars().next() {
            None => 0.0,
            Some('+') => number(&tail[1..])?,
            Some('-') => -number(&tail[1..])?,
            Some(_) => {
                return Err(format!(
                    "condition {text:?}: after `baseline` comes `* FACTOR` and/or `+ OFFSET`, e.g. \"< baseline * 1.5 + 0.01\""
                ))
            }
        };
        if factor < 0.0 {
            return Err(format!(
                "condition {text:?}: the baseline factor is negative"
            ));
        }
        Ok(Condition {
            op,
            value,
            baseline_factor: Some(factor),
        })
    }

    /// The threshold against `baseline` (the previous version's value); `None` when the
    /// condition compares with a baseline and there is none.
    #[must_use]
    pub fn threshold(&self, baseline: Option<f64>) -> Option<f64> {
        match self.baseline_factor {
            None => Some(self.value),
            Some(factor) => baseline
                .filter(|b| b.is_finite())
                .map(|b| b * factor + self.value),
        }
    }

    /// Whether `x` satisfies a condition with a fixed threshold (a baseline condition
    /// without its baseline never holds: see [`Condition::threshold`]).
    #[must_use]
    pub fn holds(&self, x: f64) -> bool {
        self.threshold(None).is_some_and(|t| self.op.compare(x, t))
    }
}

impl Comparison {
    /// `x OP threshold`.
    #[must_use]
    pub fn compare(self, x: f64, threshold: f64) -> bool {
        match self {
            Comparison::Lt => x < threshold,
            Comparison::Le => x <= threshold,
            Comparison::Gt => x > threshold,
            Comparison::Ge => x >= threshold,
            Comparison::Eq => x == threshold,
            Comparison::Ne => x != threshold,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.baseline_factor {
            None => write!(f, "{} {}", self.op.as_str(), self.value),
            Some(factor) => {
                write!(f, "{} baseline", self.op.as_str())?;
                if factor != 1.0 {
                    write!(f, " * {factor}")?;
                }
                if self.value > 0.0 {
                    write!(f, " + {}", self.value)?;
                } else if self.value < 0.0 {
                    write!(f, " - {}", -self.value)?;
                }
                Ok(())
            }
        }
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
    /// Measurements per step (inline); a step waits for them.
    pub count: u32,
    pub failure_limit: u32,
    pub inconclusive_limit: u32,
    /// More consecutive analytics errors than this (per service) fail the analysis.
    #[serde(default = "default_consecutive_error_limit")]
    pub consecutive_error_limit: u32,
    /// A window with fewer requests than this is inconclusive (0: no minimum).
    #[serde(default)]
    pub min_requests: u64,
    /// Measured across steps every `interval_secs`; steps do not wait for its `count`, only
    /// its failures matter.
    #[serde(default)]
    pub background: bool,
    #[serde(default)]
    pub location: Location,
}

fn default_consecutive_error_limit() -> u32 {
    super::steps::DEFAULT_CONSECUTIVE_ERROR_LIMIT
}

impl AnalysisMetric {
    /// A metric with no condition, measured once per step at the default interval, with no
    /// failure allowed and the default consecutive-error limit; callers set what they need.
    #[must_use]
    pub fn with_defaults(name: &str, metric: Metric) -> Self {
        Self {
            name: name.into(),
            metric,
            service: None,
            condition: None,
            failure_condition: None,
            interval_secs: DEFAULT_ANALYSIS_INTERVAL_SECS,
            count: 1,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: default_consecutive_error_limit(),
            min_requests: 0,
            background: false,
            location: Location::default(),
        }
    }

    /// Whether a condition compares with the previous version's value.
    #[must_use]
    pub fn uses_baseline(&self) -> bool {
        self.condition
            .iter()
            .chain(&self.failure_condition)
            .any(|c| c.baseline_factor.is_some())
    }
}

/// The verdict on one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Successful,
    Failed,
    Inconclusive,
}

/// `[env.NAME]`: what differs for one environment; unset sections use the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvSection {
    pub name: String,
    pub deploy: DeploySection,
    pub health_checks: Option<Vec<HealthCheck>>,
    pub analysis: Option<Vec<AnalysisMetric>>,
    /// Added to the project's `required_secrets` in this environment.
    pub required_secrets: Vec<String>,
    pub location: Location,
}
