//! Wrangler config loading: `wrangler.toml` / `wrangler.jsonc` / `wrangler.json` and `clodo.toml`.
//!
//! Pure Rust with no I/O except [`load_file`] and [`load_from_dir`], so the Worker calls the
//! `parse_*` functions with text it received and the CLI reads files first. Both formats are
//! read into a `serde_json::Value` plus a source map (key path → line:column), then one typed
//! extraction produces precise errors and the [`ResolvedWorker`] that gap analysis works on.

// `ConfigError` is a public contract with owned, directly readable fields (file, position, key
// path, message, expectation); it is built once per failed load, so its size costs nothing.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod jsonc;
mod project;
mod source;
#[cfg(test)]
mod tests;
mod tomlsrc;
mod validate;
mod wrangler;

pub use project::{
    accepted_keys, check_url, parse_project, AnalysisMetric, Comparison, Condition, DeploySection,
    DeploySettings, EnvSection, HealthCheck, Metric, Outcome, ProjectConfig, ProjectService,
    Strategy, DEFAULT_ANALYSIS_COUNT, DEFAULT_ANALYSIS_INTERVAL_SECS, DEFAULT_HEALTH_TIMEOUT_MS,
    DEFAULT_STEPS, DEFAULT_STEP_WAIT_SECS,
};
pub use project::{shortest_step_secs, steps_schema};
pub use project::{valid_pages_project, PagesService, ServiceKind};
pub use project::{
    Gate, OnDeadline, Pause, Step, DEFAULT_CONSECUTIVE_ERROR_LIMIT, DEFAULT_MAX_PAUSE_SECS,
    DEFAULT_PROGRESS_DEADLINE_SECS, MAX_PAUSE_STEP_SECS,
};
// The version override header is a rollout rule (`rollout::checks`); re-exported here for the
// call sites that still import it from `config`.
pub use crate::rollout::checks::{version_override_header, VERSION_OVERRIDE_HEADER};
pub use wrangler::WranglerConfig;

/// The syntax of a wrangler config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    Toml,
    Jsonc,
    Json,
}

impl ConfigFormat {
    /// The format implied by a file name (`.toml`, `.jsonc`, `.json`).
    #[must_use]
    pub fn from_path(path: &Path) -> Option<ConfigFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(ConfigFormat::Toml),
            "jsonc" => Some(ConfigFormat::Jsonc),
            "json" => Some(ConfigFormat::Json),
            _ => None,
        }
    }
}

/// The file names wrangler looks for, in its order of preference.
pub const CONFIG_FILE_NAMES: [&str; 3] = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

/// The wrangler config in `dir`, in wrangler's order: `wrangler.json`, `wrangler.jsonc`,
/// `wrangler.toml`.
#[must_use]
pub fn find_config(dir: &Path) -> Option<PathBuf> {
    CONFIG_FILE_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// A config that cannot be read: a syntax error or a value of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key_path: Option<String>,
    pub message: String,
    pub expected: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where a value came from: file, position where known, and its key path
/// (`env.production.d1_databases[0].database_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key_path: String,
}

/// A route or custom domain (`route`, `routes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteSpec {
    pub pattern: String,
    pub zone_id: Option<String>,
    pub zone_name: Option<String>,
    pub custom_domain: bool,
    pub location: Location,
}

/// A `d1_databases` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct D1Binding {
    pub binding: String,
    pub database_name: Option<String>,
    pub database_id: Option<String>,
    pub preview_database_id: Option<String>,
    pub migrations_dir: Option<String>,
    /// The table wrangler records applied migrations in (default `d1_migrations`).
    pub migrations_table: Option<String>,
    pub location: Location,
}

/// A `kv_namespaces` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvBinding {
    pub binding: String,
    pub id: Option<String>,
    pub preview_id: Option<String>,
    pub location: Location,
}

/// An `r2_buckets` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct R2Binding {
    pub binding: String,
    pub bucket_name: Option<String>,
    pub jurisdiction: Option<String>,
    pub preview_bucket_name: Option<String>,
    pub location: Location,
}

/// A `queues.producers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueProducer {
    pub binding: String,
    pub queue: String,
    pub location: Location,
}

/// A `queues.consumers` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueConsumer {
    pub queue: String,
    pub dead_letter_queue: Option<String>,
    pub location: Location,
}

/// A `durable_objects.bindings` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoBinding {
    pub name: String,
    pub class_name: String,
    pub script_name: Option<String>,
    pub location: Location,
}

/// A `migrations` entry (Durable Object class migrations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoMigration {
    pub tag: String,
    pub new_classes: Vec<String>,
    pub new_sqlite_classes: Vec<String>,
    pub renamed_classes: Vec<(String, String)>,
    pub deleted_classes: Vec<String>,
    pub location: Location,
}

/// A `services` entry (service binding, optionally to a named RPC entrypoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceBinding {
    pub binding: String,
    pub service: String,
    pub entrypoint: Option<String>,
    pub environment: Option<String>,
    pub location: Location,
}

/// Any other binding kind (hyperdrive, vectorize, workflows, ai, ...): `kind` is the config key
/// (`hyperdrive`), `target` the resource it points at when there is one (id, index name, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OtherBinding {
    pub kind: String,
    pub binding: String,
    pub target: Option<String>,
    pub location: Location,
}

/// A non-inheritable key set at top level but absent from the selected env: the env gets none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotInherited {
    pub key: String,
    pub top_level_location: Location,
}

/// Something suspicious that does not stop the config from loading (unknown or misplaced keys,
/// legacy wrangler v1 keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigWarning {
    pub message: String,
    pub location: Location,
}

/// A semantic problem in a config that parsed: `kind` is one of `name_invalid`, `main_missing`,
/// `compatibility_date_invalid`, `config_invalid` (the finding kinds of gap analysis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    pub kind: &'static str,
    pub message: String,
    pub fix: String,
    pub location: Location,
}

/// One Worker as wrangler would deploy it: top level, or an env with wrangler's inheritance
/// rules applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedWorker {
    pub file: String,
    pub env: Option<String>,
    pub name: Option<String>,
    pub name_location: Option<Location>,
    pub main: Option<String>,
    pub main_location: Option<Location>,
    pub account_id: Option<String>,
    pub compatibility_date: Option<String>,
    pub compatibility_date_location: Option<Location>,
    pub compatibility_flags: Vec<String>,
    pub workers_dev: Option<bool>,
    pub routes: Vec<RouteSpec>,
    pub crons: Vec<String>,
    pub d1_databases: Vec<D1Binding>,
    pub kv_namespaces: Vec<KvBinding>,
    pub r2_buckets: Vec<R2Binding>,
    pub queue_producers: Vec<QueueProducer>,
    pub queue_consumers: Vec<QueueConsumer>,
    pub durable_objects: Vec<DoBinding>,
    pub migrations: Vec<DoMigration>,
    pub services: Vec<ServiceBinding>,
    pub other_bindings: Vec<OtherBinding>,
    /// Names of `vars` (values are not needed by gap analysis and may be sensitive).
    pub vars: Vec<(String, Location)>,
    /// The values of `vars`, for `clodo plan` to tell a changed value (never printed: only
    /// compared with the live binding).
    #[serde(skip)]
    pub var_values: Vec<(String, serde_json::Value)>,
    /// wrangler's `secrets.required`.
    pub secrets_required: Vec<(String, Location)>,
    pub keep_vars: Option<bool>,
    /// `assets` is configured (a Worker with assets needs no `main`).
    pub has_assets: bool,
    /// `pages_build_output_dir` is present: a Pages project, not a Worker.
    pub is_pages: bool,
    pub not_inherited: Vec<NotInherited>,
    /// For an env that sets `vars`: top-level vars it does not repeat (key `vars.NAME`). The
    /// env does not have them; kept apart from `not_inherited` because it is often deliberate.
    pub vars_missing_in_env: Vec<NotInherited>,
    pub warnings: Vec<ConfigWarning>,
    pub problems: Vec<ConfigProblem>,
}

/// Reads and parses one wrangler config file (format from its extension).
pub fn load_file(path: &Path) -> Result<WranglerConfig, ConfigError> {
    let file = path.display().to_string();
    let format = ConfigFormat::from_path(path).ok_or_else(|| ConfigError {
        file: file.clone(),
        line: None,
        column: None,
        key_path: None,
        message: "unknown config file extension".to_owned(),
        expected: Some("`.toml`, `.jsonc` or `.json`".to_owned()),
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        column: None,
        key_path: None,
        message: format!("cannot read the config: {e}"),
        expected: None,
    })?;
    WranglerConfig::parse(&text, format, &file)
}

/// Finds the wrangler config in `dir` (wrangler's order) and parses it.
pub fn load_from_dir(dir: &Path) -> Result<WranglerConfig, ConfigError> {
    match find_config(dir) {
        Some(path) => load_file(&path),
        None => Err(ConfigError {
            file: dir.display().to_string(),
            line: None,
            column: None,
            key_path: None,
            message: "no wrangler config in this directory".to_owned(),
            expected: Some(CONFIG_FILE_NAMES.join(", ")),
        }),
    }
}

/// Reads and parses a `clodo.toml`.
pub fn load_project(path: &Path) -> Result<ProjectConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        column: None,
        key_path: None,
        message: format!("cannot read the project file: {e}"),
        expected: None,
    })?;
    parse_project(&text, &file)
}
