//! The wrangler config as parsed (top level + raw envs) and its resolution per env with
//! wrangler's inheritance rules: inheritable keys come from the env or else the top level,
//! non-inheritable keys (bindings, vars) only from the env, `name` becomes `<name>-<env>`.

mod bindings;
mod keys;
mod scope;

use serde_json::{Map, Value};

use super::source::{child_path, index_path, SourceMap};
use super::validate;
use super::{
    jsonc, tomlsrc, ConfigError, ConfigFormat, ConfigProblem, ConfigWarning, D1Binding, DoBinding,
    DoMigration, KvBinding, Location, NotInherited, OtherBinding, QueueConsumer, QueueProducer,
    R2Binding, ResolvedWorker, RouteSpec, ServiceBinding,
};

use self::keys::is_top_level_key;
use self::scope::{Out, Scope};

/// Keys an env inherits from the top level unless it sets them (wrangler's `inheritable`),
/// plus legacy keys read the same way so their warnings show for every env.
const INHERITABLE: &[&str] = &[
    "name",
    "account_id",
    "compatibility_date",
    "compatibility_flags",
    "main",
    "workers_dev",
    "preview_urls",
    "route",
    "routes",
    "migrations",
    "exports",
    "triggers",
    "limits",
    "rules",
    "build",
    "minify",
    "no_bundle",
    "placement",
    "assets",
    "observability",
    "logpush",
    "upload_source_maps",
    "compliance_region",
    "previews",
    "tsconfig",
    "base_dir",
    "keep_names",
    "find_additional_modules",
    "preserve_file_names",
    "jsx_factory",
    "jsx_fragment",
    "usage_model",
    "first_party_worker",
    "node_compat",
    "alias",
    "python_modules",
    "zone_id",
    "type",
    "webpack_config",
    "site",
    "keep_vars",
];

/// Keys an env does NOT inherit: set at top level only, the env gets none of them.
pub(crate) const NOT_INHERITABLE: &[&str] = &[
    "vars",
    "define",
    "secrets",
    "durable_objects",
    "kv_namespaces",
    "r2_buckets",
    "d1_databases",
    "queues",
    "services",
    "hyperdrive",
    "vectorize",
    "workflows",
    "analytics_engine_datasets",
    "ai",
    "browser",
    "images",
    "media",
    "version_metadata",
    "tail_consumers",
    "streaming_tail_consumers",
    "dispatch_namespaces",
    "mtls_certificates",
    "send_email",
    "pipelines",
    "secrets_store_secrets",
    "ratelimits",
    "containers",
    "unsafe",
    "unsafe_hello_world",
    "worker_loaders",
    "vpc_services",
    "wasm_modules",
    "text_blobs",
    "data_blobs",
    "logfwdr",
    "cloudchamber",
];

/// Keys read only at the top level of the file.
const TOP_LEVEL_ONLY: &[&str] = &[
    "$schema",
    "env",
    "dev",
    "legacy_env",
    "send_metrics",
    "pages_build_output_dir",
];

/// Legacy (wrangler v1) or deprecated keys and what to do about them.
const LEGACY: &[(&str, &str)] = &[
    ("type", "`type` is a wrangler v1 key that current wrangler ignores; remove it (bundling is built in, use `build.command` for a custom build)"),
    ("webpack_config", "`webpack_config` is a wrangler v1 key that current wrangler ignores; use `build.command` to run webpack and point `main` at its output"),
    ("kv-namespaces", "`kv-namespaces` is the wrangler v1 spelling; rename it to `kv_namespaces`"),
    ("usage_model", "`usage_model` is deprecated and ignored; the Standard usage model applies to every Worker"),
    ("zone_id", "a top-level `zone_id` is a wrangler v1 key; give each route its `zone_id` or `zone_name` instead"),
    ("site", "`site` (Workers Sites) is deprecated; serve static files with `assets = { directory = \"...\" }`"),
    ("node_compat", "`node_compat` is removed in current wrangler; use `compatibility_flags = [\"nodejs_compat\"]`"),
];

/// Fields each kind of entry accepts; others are reported as warnings (often a key that TOML
/// attached to the table above it).
const D1_FIELDS: &[&str] = &[
    "binding",
    "database_name",
    "database_id",
    "preview_database_id",
    "migrations_dir",
    "migrations_table",
    "database_internal_env",
    "remote",
    "experimental_remote",
];
const KV_FIELDS: &[&str] = &[
    "binding",
    "id",
    "preview_id",
    "remote",
    "experimental_remote",
];
const R2_FIELDS: &[&str] = &[
    "binding",
    "bucket_name",
    "preview_bucket_name",
    "jurisdiction",
    "remote",
    "experimental_remote",
];
const PRODUCER_FIELDS: &[&str] = &[
    "binding",
    "queue",
    "delivery_delay",
    "remote",
    "experimental_remote",
];
const CONSUMER_FIELDS: &[&str] = &[
    "queue",
    "type",
    "max_batch_size",
    "max_batch_timeout",
    "max_retries",
    "dead_letter_queue",
    "max_concurrency",
    "visibility_timeout_ms",
    "retry_delay",
];
const DO_FIELDS: &[&str] = &["name", "class_name", "script_name", "environment"];
const MIGRATION_FIELDS: &[&str] = &[
    "tag",
    "new_classes",
    "new_sqlite_classes",
    "renamed_classes",
    "deleted_classes",
    "transferred_classes",
];
const SERVICE_FIELDS: &[&str] = &[
    "binding",
    "service",
    "environment",
    "entrypoint",
    "props",
    "remote",
    "experimental_remote",
];
const ROUTE_FIELDS: &[&str] = &["pattern", "zone_id", "zone_name", "custom_domain"];

/// Other binding kinds: config key, whether it is a single table (not an array), the field
/// holding the binding name, and the field naming the resource it points at.
const OTHER_KINDS: &[(&str, bool, &str, Option<&str>)] = &[
    ("hyperdrive", false, "binding", Some("id")),
    ("vectorize", false, "binding", Some("index_name")),
    ("workflows", false, "binding", Some("name")),
    (
        "analytics_engine_datasets",
        false,
        "binding",
        Some("dataset"),
    ),
    ("dispatch_namespaces", false, "binding", Some("namespace")),
    (
        "mtls_certificates",
        false,
        "binding",
        Some("certificate_id"),
    ),
    ("send_email", false, "name", Some("destination_address")),
    ("pipelines", false, "binding", Some("pipeline")),
    (
        "secrets_store_secrets",
        false,
        "binding",
        Some("secret_name"),
    ),
    ("ratelimits", false, "name", Some("namespace_id")),
    ("vpc_services", false, "binding", Some("service_id")),
    ("worker_loaders", false, "binding", None),
    ("ai", true, "binding", None),
    ("browser", true, "binding", None),
    ("images", true, "binding", None),
    ("media", true, "binding", None),
    ("version_metadata", true, "binding", None),
];

/// A parsed wrangler config: the whole document, before any env is selected.
#[derive(Debug, Clone)]
pub struct WranglerConfig {
    pub file: String,
    pub format: ConfigFormat,
    root: Map<String, Value>,
    map: SourceMap,
}

impl WranglerConfig {
    /// Parses config text; `file_name` is used in locations and errors.
    pub fn parse(
        text: &str,
        format: ConfigFormat,
        file_name: &str,
    ) -> Result<WranglerConfig, ConfigError> {
        let (value, map) = match format {
            ConfigFormat::Toml => tomlsrc::parse(text, file_name)?,
            ConfigFormat::Jsonc | ConfigFormat::Json => jsonc::parse(text, file_name)?,
        };
        let Value::Object(root) = value else {
            return Err(ConfigError {
                file: file_name.to_owned(),
                line: Some(1),
                column: Some(1),
                key_path: None,
                message: format!("the config is {}", type_name(&value)),
                expected: Some("an object".to_owned()),
            });
        };
        let config = WranglerConfig {
            file: file_name.to_owned(),
            format,
            root,
            map,
        };
        // The env table's shape is checked once here: every later call relies on it.
        if let Some(envs) = config.root.get("env") {
            let envs = config.object(envs, "env")?;
            for (name, env) in envs {
                config.object(env, &child_path("env", name))?;
            }
        }
        Ok(config)
    }

    /// The whole document as JSON (for callers that need a key this module does not type).
    #[must_use]
    pub fn raw(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The location of a key path in this file (its closest written ancestor when the exact
    /// key has no position).
    #[must_use]
    pub fn location(&self, key_path: &str) -> Location {
        let pos = self.map.get(key_path);
        Location {
            file: self.file.clone(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            key_path: key_path.to_owned(),
        }
    }

    /// The envs declared under `env`, in file order.
    #[must_use]
    pub fn env_names(&self) -> Vec<String> {
        let Some(Value::Object(envs)) = self.root.get("env") else {
            return Vec::new();
        };
        let mut names: Vec<(Option<(usize, usize)>, String)> = envs
            .keys()
            .map(|k| (self.map.get_exact(&child_path("env", k)), k.clone()))
            .collect();
        names.sort();
        names.into_iter().map(|(_, n)| n).collect()
    }

    /// The Worker for `env` (`None`: the top level) with wrangler's inheritance applied.
    pub fn resolve(&self, env: Option<&str>) -> Result<ResolvedWorker, ConfigError> {
        let env_table = match env {
            None => None,
            Some(name) => match self.root.get("env").and_then(|e| e.get(name)) {
                Some(Value::Object(t)) => Some(t),
                _ => {
                    let known = self.env_names();
                    return Err(ConfigError {
                        file: self.file.clone(),
                        line: None,
                        column: None,
                        key_path: Some(child_path("env", name)),
                        message: format!(
                            "environment `{name}` is not defined in {} (defined: {})",
                            self.file,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                        expected: Some(if known.is_empty() {
                            "no --env: this config defines no environments".to_owned()
                        } else {
                            format!("one of: {}", known.join(", "))
                        }),
                    });
                }
            },
        };
        let scope = Scope {
            cfg: self,
            env: env.zip(env_table),
        };
        scope.resolve()
    }

    fn error(&self, path: &str, message: String, expected: &str) -> ConfigError {
        let loc = self.location(path);
        ConfigError {
            file: self.file.clone(),
            line: loc.line,
            column: loc.column,
            key_path: Some(path.to_owned()),
            message,
            expected: Some(expected.to_owned()),
        }
    }

    fn type_error(&self, path: &str, found: &Value, expected: &str) -> ConfigError {
        self.error(path, format!("`{path}` is {}", type_name(found)), expected)
    }

    fn object<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.type_error(path, v, self.table_word()))
    }

    fn table_word(&self) -> &'static str {
        match self.format {
            ConfigFormat::Toml => "a table",
            _ => "an object",
        }
    }
}

/// JSON type of a value with its article, for messages (`a string`, `an array`).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table/object",
    }
}
