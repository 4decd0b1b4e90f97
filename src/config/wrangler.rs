//! The wrangler config as parsed (top level + raw envs) and its resolution per env with
//! wrangler's inheritance rules: inheritable keys come from the env or else the top level,
//! non-inheritable keys (bindings, vars) only from the env, `name` becomes `<name>-<env>`.

use serde_json::{Map, Value};

use super::source::{child_path, index_path, SourceMap};
use super::validate;
use super::{
    jsonc, tomlsrc, ConfigError, ConfigFormat, ConfigProblem, ConfigWarning, D1Binding, DoBinding,
    DoMigration, KvBinding, Location, NotInherited, OtherBinding, QueueConsumer, QueueProducer,
    R2Binding, ResolvedWorker, RouteSpec, ServiceBinding,
};

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

/// One table of an array of tables, with its key path.
type Entry<'a> = (&'a Map<String, Value>, String);

/// The scope being resolved: the file, and the selected env's name and table.
struct Scope<'a> {
    cfg: &'a WranglerConfig,
    env: Option<(&'a str, &'a Map<String, Value>)>,
}

/// Accumulates the output of one resolution.
#[derive(Default)]
struct Out {
    warnings: Vec<ConfigWarning>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Scope<'a> {
    fn loc(&self, path: &str) -> Location {
        self.cfg.location(path)
    }

    fn env_path(&self, key: &str) -> String {
        match self.env {
            Some((name, _)) => child_path(&child_path(&child_path("", "env"), name), key),
            None => key.to_owned(),
        }
    }

    /// An inheritable key: from the env when it sets it, else from the top level.
    fn inherited(&self, key: &str) -> Option<(&'a Value, String)> {
        if let Some((_, t)) = self.env {
            if let Some(v) = t.get(key) {
                return Some((v, self.env_path(key)));
            }
        }
        self.cfg.root.get(key).map(|v| (v, key.to_owned()))
    }

    /// A non-inheritable key: only from the selected scope.
    fn own(&self, key: &str) -> Option<(&'a Value, String)> {
        let table = match self.env {
            Some((_, t)) => t,
            None => &self.cfg.root,
        };
        table.get(key).map(|v| (v, self.env_path(key)))
    }

    fn opt_str(&self, v: Option<&Value>, path: &str) -> Result<Option<String>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.cfg.type_error(path, other, "a string")),
        }
    }

    fn opt_bool(&self, v: Option<&Value>, path: &str) -> Result<Option<bool>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.cfg.type_error(path, other, "true or false")),
        }
    }

    fn str_list(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.cfg.type_error(&index_path(path, i), other, "a string")),
                })
                .collect(),
            Some(other) => Err(self.cfg.type_error(path, other, "an array of strings")),
        }
    }

    /// An array of tables (`[[key]]`), each with its key path.
    fn entries(&self, v: &'a Value, path: &str) -> Result<Vec<Entry<'a>>, ConfigError> {
        let Value::Array(items) = v else {
            let expected = match self.cfg.format {
                ConfigFormat::Toml => "an array of tables",
                _ => "an array of objects",
            };
            return Err(self.cfg.type_error(path, v, expected));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let p = index_path(path, i);
                Ok((self.cfg.object(item, &p)?, p))
            })
            .collect()
    }

    /// Warns about fields an entry does not accept; a known top-level key there is almost
    /// always a key TOML attached to the preceding `[[table]]`/`[table]` header.
    fn check_fields(&self, t: &Map<String, Value>, path: &str, allowed: &[&str], out: &mut Out) {
        for key in t.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let key_path = child_path(path, key);
            let message = if is_top_level_key(key) && self.cfg.format == ConfigFormat::Toml {
                format!(
                    "`{key}` is inside `{path}`, where wrangler ignores it: in TOML a key written after a table header belongs to that table; move `{key}` above the first [table] header (or into the right one)"
                )
            } else {
                format!("unexpected key `{key}` in `{path}`; wrangler ignores it")
            };
            out.warnings.push(ConfigWarning {
                message,
                location: self.loc(&key_path),
            });
        }
    }

    fn problem(&self, out: &mut Out, kind: &'static str, path: &str, message: String, fix: String) {
        out.problems.push(ConfigProblem {
            kind,
            message,
            fix,
            location: self.loc(path),
        });
    }

    /// A required string field of an entry; a missing one is a `config_invalid` problem (the
    /// entry is then left out: nothing can be checked about a binding without its name).
    fn required(
        &self,
        t: &Map<String, Value>,
        path: &str,
        field: &str,
        what: &str,
        out: &mut Out,
    ) -> Result<Option<String>, ConfigError> {
        let value = self.opt_str(t.get(field), &child_path(path, field))?;
        match value {
            Some(v) if !v.is_empty() => Ok(Some(v)),
            _ => {
                self.problem(
                    out,
                    "config_invalid",
                    path,
                    format!("{what} at `{path}` has no `{field}`; wrangler rejects it"),
                    format!("set `{field}` in `{path}`"),
                );
                Ok(None)
            }
        }
    }

    fn resolve(&self) -> Result<ResolvedWorker, ConfigError> {
        let cfg = self.cfg;
        let mut out = Out::default();
        let env_name = self.env.map(|(n, _)| n.to_owned());

        let (name, name_location) = match (self.env, cfg.root.get("name")) {
            (Some((env, t)), top) if !t.contains_key("name") => {
                // wrangler appends the env name when the env does not set its own `name`.
                let top = self.opt_str(top, "name")?;
                (
                    top.map(|n| format!("{n}-{env}")),
                    cfg.root.get("name").map(|_| self.loc("name")),
                )
            }
            _ => match self.inherited("name") {
                Some((v, p)) => (self.opt_str(Some(v), &p)?, Some(self.loc(&p))),
                None => (None, None),
            },
        };

        let main = self.inh_str("main")?;
        let account_id = self.inh_str("account_id")?.filter(|s| !s.trim().is_empty());
        let compatibility_date = self.inh_str("compatibility_date")?;
        let compatibility_flags = match self.inherited("compatibility_flags") {
            Some((v, p)) => self.str_list(Some(v), &p)?,
            None => Vec::new(),
        };
        let workers_dev = match self.inherited("workers_dev") {
            Some((v, p)) => self.opt_bool(Some(v), &p)?,
            None => None,
        };
        let keep_vars = match self.inherited("keep_vars") {
            Some((v, p)) => self.opt_bool(Some(v), &p)?,
            None => None,
        };
        let routes = self.routes(&mut out)?;
        let crons = match self.inherited("triggers") {
            Some((v, p)) => {
                let t = cfg.object(v, &p)?;
                self.check_fields(t, &p, &["crons"], &mut out);
                self.str_list(t.get("crons"), &child_path(&p, "crons"))?
            }
            None => Vec::new(),
        };
        let migrations = self.migrations(&mut out)?;
        let has_assets = match self.inherited("assets") {
            Some((Value::Object(t), _)) => !t.is_empty(),
            Some((Value::Null, _)) | None => false,
            Some((v, p)) => return Err(cfg.type_error(&p, v, cfg.table_word())),
        };
        let is_pages = cfg.root.contains_key("pages_build_output_dir");

        let mut worker = ResolvedWorker {
            file: cfg.file.clone(),
            env: env_name,
            name,
            name_location,
            main_location: self.inherited("main").map(|(_, p)| self.loc(&p)),
            main,
            account_id,
            compatibility_date_location: self
                .inherited("compatibility_date")
                .map(|(_, p)| self.loc(&p)),
            compatibility_date,
            compatibility_flags,
            workers_dev,
            routes,
            crons,
            d1_databases: self.d1(&mut out)?,
            kv_namespaces: self.kv(&mut out)?,
            r2_buckets: self.r2(&mut out)?,
            queue_producers: Vec::new(),
            queue_consumers: Vec::new(),
            durable_objects: self.durable_objects(&mut out)?,
            migrations,
            services: self.services(&mut out)?,
            other_bindings: self.other_bindings(&mut out)?,
            vars: self.vars(&mut out)?,
            secrets_required: self.secrets()?,
            keep_vars,
            has_assets,
            is_pages,
            not_inherited: self.not_inherited(),
            vars_missing_in_env: self.vars_missing_in_env(),
            warnings: Vec::new(),
            problems: Vec::new(),
        };
        let (producers, consumers) = self.queues(&mut out)?;
        worker.queue_producers = producers;
        worker.queue_consumers = consumers;
        if let Some((v, p)) = self.inherited("assets") {
            if let Some(b) = v.get("binding").and_then(Value::as_str) {
                worker.other_bindings.push(OtherBinding {
                    kind: "assets".to_owned(),
                    binding: b.to_owned(),
                    target: None,
                    location: self.loc(&child_path(&p, "binding")),
                });
            }
        }

        self.key_warnings(&mut out);
        self.mutually_exclusive(&mut out);
        validate::check(&worker, &mut out.problems);
        out.warnings
            .sort_by_key(|w| (w.location.line, w.location.column));
        worker.warnings = out.warnings;
        worker.problems = out.problems;
        Ok(worker)
    }

    fn inh_str(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.inherited(key) {
            Some((v, p)) => self.opt_str(Some(v), &p),
            None => Ok(None),
        }
    }

    /// `route` (a string or one object) and `routes` (an array of strings or objects). An env
    /// that sets either replaces both, so a top-level `route` never mixes with env `routes`.
    fn routes(&self, out: &mut Out) -> Result<Vec<RouteSpec>, ConfigError> {
        let env_sets = self
            .env
            .is_some_and(|(_, t)| t.contains_key("route") || t.contains_key("routes"));
        let table = match self.env {
            Some((_, t)) if env_sets => t,
            _ => &self.cfg.root,
        };
        let base = if env_sets {
            self.env_path("")
        } else {
            String::new()
        };
        let path_of = |key: &str| {
            if base.is_empty() {
                key.to_owned()
            } else {
                self.env_path(key)
            }
        };
        let mut routes = Vec::new();
        if let Some(v) = table.get("route") {
            let p = path_of("route");
            if let Some(r) = self.route(v, &p, out)? {
                routes.push(r);
            }
        }
        if let Some(v) = table.get("routes") {
            let p = path_of("routes");
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(r) = self.route(item, &index_path(&p, i), out)? {
                            routes.push(r);
                        }
                    }
                }
                // A single object under `routes` (seen in real configs) is read like `route`.
                Value::Object(_) | Value::String(_) => {
                    out.warnings.push(ConfigWarning {
                        message: format!("`{p}` should be an array; it is read as a single route"),
                        location: self.loc(&p),
                    });
                    if let Some(r) = self.route(v, &p, out)? {
                        routes.push(r);
                    }
                }
                other => {
                    return Err(self.cfg.type_error(&p, other, "an array of routes"));
                }
            }
        }
        Ok(routes)
    }

    fn route(
        &self,
        v: &Value,
        path: &str,
        out: &mut Out,
    ) -> Result<Option<RouteSpec>, ConfigError> {
        let (pattern, zone_id, zone_name, custom_domain) = match v {
            Value::String(s) => (s.clone(), None, None, false),
            Value::Object(t) => {
                self.check_fields(t, path, ROUTE_FIELDS, out);
                let pattern = self
                    .opt_str(t.get("pattern"), &child_path(path, "pattern"))?
                    .unwrap_or_default();
                let zone_id = self.opt_str(t.get("zone_id"), &child_path(path, "zone_id"))?;
                let zone_name = self.opt_str(t.get("zone_name"), &child_path(path, "zone_name"))?;
                let custom = self
                    .opt_bool(t.get("custom_domain"), &child_path(path, "custom_domain"))?
                    .unwrap_or(false);
                (pattern, zone_id, zone_name, custom)
            }
            other => {
                return Err(self.cfg.type_error(
                    path,
                    other,
                    "a route pattern string or { pattern, zone_id | zone_name | custom_domain }",
                ))
            }
        };
        if pattern.trim().is_empty() {
            // wrangler v1 templates shipped `route = ""` to mean "no route".
            out.warnings.push(ConfigWarning {
                message: format!("`{path}` has an empty pattern and is ignored"),
                location: self.loc(path),
            });
            return Ok(None);
        }
        Ok(Some(RouteSpec {
            pattern,
            zone_id: zone_id.filter(|z| !z.trim().is_empty()),
            zone_name: zone_name.filter(|z| !z.trim().is_empty()),
            custom_domain,
            location: self.loc(path),
        }))
    }

    fn d1(&self, out: &mut Out) -> Result<Vec<D1Binding>, ConfigError> {
        let Some((v, p)) = self.own("d1_databases") else {
            return Ok(Vec::new());
        };
        let mut list = Vec::new();
        for (t, path) in self.entries(v, &p)? {
            self.check_fields(t, &path, D1_FIELDS, out);
            let Some(binding) = self.required(t, &path, "binding", "a D1 binding", out)? else {
                continue;
            };
            list.push(D1Binding {
                binding,
                database_name: self
                    .opt_str(t.get("database_name"), &child_path(&path, "database_name"))?,
                database_id: self
                    .opt_str(t.get("database_id"), &child_path(&path, "database_id"))?,
                preview_database_id: self.opt_str(
                    t.get("preview_database_id"),
                    &child_path(&path, "preview_database_id"),
                )?,
                migrations_dir: self.opt_str(
                    t.get("migrations_dir"),
                    &child_path(&path, "migrations_dir"),
                )?,
                location: self.loc(&path),
            });
        }
        Ok(list)
    }

    fn kv(&self, out: &mut Out) -> Result<Vec<KvBinding>, ConfigError> {
        let Some((v, p)) = self.own("kv_namespaces") else {
            return Ok(Vec::new());
        };
        let mut list = Vec::new();
        for (t, path) in self.entries(v, &p)? {
            self.check_fields(t, &path, KV_FIELDS, out);
            let Some(binding) = self.required(t, &path, "binding", "a KV binding", out)? else {
                continue;
            };
            list.push(KvBinding {
                binding,
                id: self.opt_str(t.get("id"), &child_path(&path, "id"))?,
                preview_id: self.opt_str(t.get("preview_id"), &child_path(&path, "preview_id"))?,
                location: self.loc(&path),
            });
        }
        Ok(list)
    }

    fn r2(&self, out: &mut Out) -> Result<Vec<R2Binding>, ConfigError> {
        let Some((v, p)) = self.own("r2_buckets") else {
            return Ok(Vec::new());
        };
        let mut list = Vec::new();
        for (t, path) in self.entries(v, &p)? {
            self.check_fields(t, &path, R2_FIELDS, out);
            let Some(binding) = self.required(t, &path, "binding", "an R2 binding", out)? else {
                continue;
            };
            list.push(R2Binding {
                binding,
                bucket_name: self
                    .opt_str(t.get("bucket_name"), &child_path(&path, "bucket_name"))?,
                jurisdiction: self
                    .opt_str(t.get("jurisdiction"), &child_path(&path, "jurisdiction"))?,
                preview_bucket_name: self.opt_str(
                    t.get("preview_bucket_name"),
                    &child_path(&path, "preview_bucket_name"),
                )?,
                location: self.loc(&path),
            });
        }
        Ok(list)
    }

    fn queues(
        &self,
        out: &mut Out,
    ) -> Result<(Vec<QueueProducer>, Vec<QueueConsumer>), ConfigError> {
        let Some((v, p)) = self.own("queues") else {
            return Ok((Vec::new(), Vec::new()));
        };
        let t = self.cfg.object(v, &p)?;
        self.check_fields(t, &p, &["producers", "consumers"], out);
        let mut producers = Vec::new();
        if let Some(v) = t.get("producers") {
            for (e, path) in self.entries(v, &child_path(&p, "producers"))? {
                self.check_fields(e, &path, PRODUCER_FIELDS, out);
                let binding = self.required(e, &path, "binding", "a queue producer", out)?;
                let queue = self.required(e, &path, "queue", "a queue producer", out)?;
                if let (Some(binding), Some(queue)) = (binding, queue) {
                    producers.push(QueueProducer {
                        binding,
                        queue,
                        location: self.loc(&path),
                    });
                }
            }
        }
        let mut consumers = Vec::new();
        if let Some(v) = t.get("consumers") {
            for (e, path) in self.entries(v, &child_path(&p, "consumers"))? {
                self.check_fields(e, &path, CONSUMER_FIELDS, out);
                let Some(queue) = self.required(e, &path, "queue", "a queue consumer", out)? else {
                    continue;
                };
                consumers.push(QueueConsumer {
                    queue,
                    dead_letter_queue: self.opt_str(
                        e.get("dead_letter_queue"),
                        &child_path(&path, "dead_letter_queue"),
                    )?,
                    location: self.loc(&path),
                });
            }
        }
        Ok((producers, consumers))
    }

    fn durable_objects(&self, out: &mut Out) -> Result<Vec<DoBinding>, ConfigError> {
        let Some((v, p)) = self.own("durable_objects") else {
            return Ok(Vec::new());
        };
        let t = self.cfg.object(v, &p)?;
        self.check_fields(t, &p, &["bindings", "classes"], out);
        let mut list = Vec::new();
        if let Some(v) = t.get("bindings") {
            for (e, path) in self.entries(v, &child_path(&p, "bindings"))? {
                self.check_fields(e, &path, DO_FIELDS, out);
                let name = self.required(e, &path, "name", "a Durable Object binding", out)?;
                let class =
                    self.required(e, &path, "class_name", "a Durable Object binding", out)?;
                if let (Some(name), Some(class_name)) = (name, class) {
                    list.push(DoBinding {
                        name,
                        class_name,
                        script_name: self
                            .opt_str(e.get("script_name"), &child_path(&path, "script_name"))?,
                        location: self.loc(&path),
                    });
                }
            }
        }
        if t.contains_key("classes") {
            let path = child_path(&p, "classes");
            out.warnings.push(ConfigWarning {
                message: format!(
                    "`{path}` is the wrangler v1 form that current wrangler ignores, so these Durable Objects are not bound; use `[[{p}.bindings]]` entries with `name` and `class_name`"
                ),
                location: self.loc(&path),
            });
        }
        Ok(list)
    }

    fn migrations(&self, out: &mut Out) -> Result<Vec<DoMigration>, ConfigError> {
        let Some((v, p)) = self.inherited("migrations") else {
            return Ok(Vec::new());
        };
        let mut list = Vec::new();
        for (e, path) in self.entries(v, &p)? {
            self.check_fields(e, &path, MIGRATION_FIELDS, out);
            let Some(tag) = self.required(e, &path, "tag", "a Durable Object migration", out)?
            else {
                continue;
            };
            let renamed_path = child_path(&path, "renamed_classes");
            let renamed_classes = match e.get("renamed_classes") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => self
                    .entries(v, &renamed_path)?
                    .into_iter()
                    .map(|(r, rp)| {
                        let from = self.opt_str(r.get("from"), &child_path(&rp, "from"))?;
                        let to = self.opt_str(r.get("to"), &child_path(&rp, "to"))?;
                        match (from, to) {
                            (Some(from), Some(to)) => Ok((from, to)),
                            _ => Err(self.cfg.error(
                                &rp,
                                format!("`{rp}` needs both `from` and `to`"),
                                "{ from = \"OldClass\", to = \"NewClass\" }",
                            )),
                        }
                    })
                    .collect::<Result<_, _>>()?,
            };
            list.push(DoMigration {
                tag,
                new_classes: self
                    .str_list(e.get("new_classes"), &child_path(&path, "new_classes"))?,
                new_sqlite_classes: self.str_list(
                    e.get("new_sqlite_classes"),
                    &child_path(&path, "new_sqlite_classes"),
                )?,
                renamed_classes,
                deleted_classes: self.str_list(
                    e.get("deleted_classes"),
                    &child_path(&path, "deleted_classes"),
                )?,
                location: self.loc(&path),
            });
        }
        Ok(list)
    }

    fn services(&self, out: &mut Out) -> Result<Vec<ServiceBinding>, ConfigError> {
        let Some((v, p)) = self.own("services") else {
            return Ok(Vec::new());
        };
        let mut list = Vec::new();
        for (e, path) in self.entries(v, &p)? {
            self.check_fields(e, &path, SERVICE_FIELDS, out);
            let binding = self.required(e, &path, "binding", "a service binding", out)?;
            let service = self.required(e, &path, "service", "a service binding", out)?;
            if let (Some(binding), Some(service)) = (binding, service) {
                list.push(ServiceBinding {
                    binding,
                    service,
                    entrypoint: self
                        .opt_str(e.get("entrypoint"), &child_path(&path, "entrypoint"))?,
                    environment: self
                        .opt_str(e.get("environment"), &child_path(&path, "environment"))?,
                    location: self.loc(&path),
                });
            }
        }
        Ok(list)
    }

    /// Binding kinds gap analysis does not type one by one. Read leniently: an odd shape here
    /// is a warning, not a failure to load, because these keys change often upstream.
    fn other_bindings(&self, out: &mut Out) -> Result<Vec<OtherBinding>, ConfigError> {
        let mut list = Vec::new();
        for &(kind, single, name_field, target_field) in OTHER_KINDS {
            let Some((v, p)) = self.own(kind) else {
                continue;
            };
            let items: Vec<(&Value, String)> = match v {
                Value::Array(items) if !single => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (item, index_path(&p, i)))
                    .collect(),
                Value::Object(_) if single => vec![(v, p.clone())],
                _ => {
                    out.warnings.push(ConfigWarning {
                        message: format!(
                            "`{p}` is {} and is ignored (expected {})",
                            type_name(v),
                            if single {
                                "a table/object"
                            } else {
                                "an array of tables/objects"
                            }
                        ),
                        location: self.loc(&p),
                    });
                    continue;
                }
            };
            for (item, path) in items {
                let name = item.get(name_field).and_then(Value::as_str);
                let Some(name) = name.filter(|n| !n.is_empty()) else {
                    self.problem(
                        out,
                        "config_invalid",
                        &path,
                        format!("`{path}` has no `{name_field}`; wrangler rejects it"),
                        format!("set `{name_field}` in `{path}`"),
                    );
                    continue;
                };
                list.push(OtherBinding {
                    kind: kind.to_owned(),
                    binding: name.to_owned(),
                    target: target_field
                        .and_then(|f| item.get(f))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    location: self.loc(&path),
                });
            }
        }
        if let Some((Value::Object(u), p)) = self.own("unsafe") {
            if let Some(Value::Array(items)) = u.get("bindings") {
                for (i, item) in items.iter().enumerate() {
                    if let Some(name) = item.get("name").and_then(Value::as_str) {
                        list.push(OtherBinding {
                            kind: "unsafe".to_owned(),
                            binding: name.to_owned(),
                            target: item.get("type").and_then(Value::as_str).map(str::to_owned),
                            location: self.loc(&index_path(&child_path(&p, "bindings"), i)),
                        });
                    }
                }
            }
        }
        Ok(list)
    }

    fn vars(&self, out: &mut Out) -> Result<Vec<(String, Location)>, ConfigError> {
        let Some((v, p)) = self.own("vars") else {
            return Ok(Vec::new());
        };
        let t = self.cfg.object(v, &p)?;
        let mut names = Vec::new();
        for key in t.keys() {
            let path = child_path(&p, key);
            // Only distinctly wrangler-shaped names (`workers_dev`, `routes`): a variable called
            // `name` or `type` is more likely meant as a variable.
            let setting_like = key.contains('_') || key == "route" || key == "routes";
            if self.cfg.format == ConfigFormat::Toml && setting_like && is_top_level_key(key) {
                out.warnings.push(ConfigWarning {
                    message: format!(
                        "`{path}` is a variable named `{key}`, not the `{key}` setting: in TOML a key written after the [vars] header belongs to it; move it above the header if it is meant as a setting"
                    ),
                    location: self.loc(&path),
                });
            }
            names.push((key.clone(), self.loc(&path)));
        }
        Ok(names)
    }

    fn secrets(&self) -> Result<Vec<(String, Location)>, ConfigError> {
        let Some((v, p)) = self.own("secrets") else {
            return Ok(Vec::new());
        };
        let t = self.cfg.object(v, &p)?;
        let path = child_path(&p, "required");
        let names = self.str_list(t.get("required"), &path)?;
        Ok(names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, self.loc(&index_path(&path, i))))
            .collect())
    }

    /// For an env: each non-inheritable key the top level sets (non-empty) and the env lacks.
    fn not_inherited(&self) -> Vec<NotInherited> {
        let Some((_, env)) = self.env else {
            return Vec::new();
        };
        NOT_INHERITABLE
            .iter()
            .filter(|key| !env.contains_key(**key))
            .filter(|key| match self.cfg.root.get(**key) {
                None | Some(Value::Null) => false,
                Some(Value::Object(t)) => !t.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            })
            .map(|key| NotInherited {
                key: (*key).to_owned(),
                top_level_location: self.loc(key),
            })
            .collect()
    }

    /// For an env that sets `vars`: top-level var names it does not repeat (the env has none
    /// of the top-level values; often deliberate, so this is kept apart from `not_inherited`).
    fn vars_missing_in_env(&self) -> Vec<NotInherited> {
        let Some((_, env)) = self.env else {
            return Vec::new();
        };
        let (Some(Value::Object(env_vars)), Some(Value::Object(top_vars))) =
            (env.get("vars"), self.cfg.root.get("vars"))
        else {
            return Vec::new();
        };
        top_vars
            .keys()
            .filter(|k| !env_vars.contains_key(*k))
            .map(|k| {
                let path = child_path("vars", k);
                NotInherited {
                    top_level_location: self.loc(&path),
                    key: path,
                }
            })
            .collect()
    }

    /// Unknown, legacy and misplaced keys at the top level (always read) and in the env.
    fn key_warnings(&self, out: &mut Out) {
        let cfg = self.cfg;
        for (key, v) in &cfg.root {
            self.key_warning(key, v, key, true, out);
        }
        if let Some((_, env)) = self.env {
            for (key, v) in env {
                let path = self.env_path(key);
                self.key_warning(key, v, &path, false, out);
            }
        }
    }

    fn key_warning(&self, key: &str, v: &Value, path: &str, top: bool, out: &mut Out) {
        let message = if let Some((_, why)) = LEGACY.iter().find(|(k, _)| *k == key) {
            Some((*why).to_owned())
        } else if !top && TOP_LEVEL_ONLY.contains(&key) {
            Some(if key == "env" {
                format!(
                    "`{path}` is ignored: environments do not nest (a dotted key such as `env.x.routes` written under [env.x] lands here); write the key without the `env.x.` prefix"
                )
            } else {
                format!("`{key}` is only read at the top level; `{path}` is ignored")
            })
        } else if !is_top_level_key(key) {
            Some(format!("unknown key `{path}`; wrangler ignores it"))
        } else {
            None
        };
        if let Some(message) = message {
            out.warnings.push(ConfigWarning {
                message,
                location: self.loc(path),
            });
        }
        // Settings tables whose keys are fixed: a top-level key inside one was misplaced.
        let nested: &[&str] = match key {
            "dev" => &[
                "ip",
                "port",
                "local_protocol",
                "upstream_protocol",
                "host",
                "inspector_port",
                "inspector_ip",
                "container_engine",
                "enable_containers",
                "generate_types",
            ],
            "build" => &["command", "cwd", "watch_dir", "upload"],
            "observability" => &["enabled", "head_sampling_rate", "logs", "traces"],
            "placement" => &["mode", "hint", "region", "host", "hostname"],
            "limits" => &["cpu_ms", "subrequests"],
            "assets" => &[
                "directory",
                "binding",
                "html_handling",
                "not_found_handling",
                "run_worker_first",
                "experimental_serve_directly",
            ],
            _ => return,
        };
        if let Value::Object(t) = v {
            for k in t.keys() {
                if is_top_level_key(k) && !nested.contains(&k.as_str()) {
                    let p = child_path(path, k);
                    out.warnings.push(ConfigWarning {
                        message: format!(
                            "`{p}` is inside [{path}], where wrangler ignores it: in TOML a key written after a table header belongs to that table; move `{k}` above the header"
                        ),
                        location: self.loc(&p),
                    });
                }
            }
            if key == "build" {
                for k in t
                    .keys()
                    .filter(|k| !nested.contains(&k.as_str()) && !is_top_level_key(k))
                {
                    let p = child_path(path, k);
                    out.warnings.push(ConfigWarning {
                        message: format!(
                            "unknown key `{p}`; wrangler ignores it (`upload_dir`/`upload_format` are wrangler v1 keys: set `main` instead)"
                        ),
                        location: self.loc(&p),
                    });
                }
            }
            if key == "build" && t.contains_key("upload") {
                let p = child_path(path, "upload");
                out.warnings.push(ConfigWarning {
                    message: format!(
                        "`{p}` is a wrangler v1 key that current wrangler ignores; set `main` to the entry module instead"
                    ),
                    location: self.loc(&p),
                });
            }
        }
    }

    /// Keys wrangler refuses to see together in one scope.
    fn mutually_exclusive(&self, out: &mut Out) {
        let scopes: Vec<(&Map<String, Value>, String)> = match self.env {
            Some((_, t)) => vec![(&self.cfg.root, String::new()), (t, self.env_path(""))],
            None => vec![(&self.cfg.root, String::new())],
        };
        for (t, base) in scopes {
            let path = |k: &str| {
                if base.is_empty() {
                    k.to_owned()
                } else {
                    self.env_path(k)
                }
            };
            if t.contains_key("route") && t.contains_key("routes") {
                self.problem(
                    out,
                    "config_invalid",
                    &path("route"),
                    "both `route` and `routes` are set; wrangler accepts only one".to_owned(),
                    "move the `route` pattern into the `routes` array and delete `route`"
                        .to_owned(),
                );
            }
            if t.contains_key("migrations") && t.contains_key("exports") {
                self.problem(
                    out,
                    "config_invalid",
                    &path("exports"),
                    "both `migrations` and `exports` are set; wrangler accepts only one way to declare Durable Object classes".to_owned(),
                    "keep either `migrations` or `exports`".to_owned(),
                );
            }
        }
    }
}

/// Whether `key` is a key wrangler reads at the top level of a config.
fn is_top_level_key(key: &str) -> bool {
    INHERITABLE.contains(&key)
        || NOT_INHERITABLE.contains(&key)
        || TOP_LEVEL_ONLY.contains(&key)
        || LEGACY.iter().any(|(k, _)| *k == key)
        || key == "kv-namespaces"
}
