//! The `clodo.toml` parser: reads the TOML with its source map, checks every key and value
//! with file:line:column errors and builds the model. The deploy sections' own parsers are in
//! `sections`.

use serde_json::{Map, Value};

use super::model::*;
use super::sections::*;
use crate::config::source::{child_path, index_path, SourceMap};
use crate::config::{tomlsrc, ConfigError, ConfigWarning, Location};

pub struct Reader<'a> {
    file: &'a str,
    map: SourceMap,
}

impl Reader<'_> {
    pub fn loc(&self, path: &str) -> Location {
        let pos = self.map.get(path);
        Location {
            file: self.file.to_owned(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            key_path: path.to_owned(),
        }
    }

    pub fn error(&self, path: &str, message: String, expected: &str) -> ConfigError {
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

    pub fn string(&self, v: Option<&Value>, path: &str) -> Result<Option<String>, ConfigError> {
        match v {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(path, format!("`{path}` is not a string"), "a string")),
        }
    }

    pub fn list(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
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
    pub fn names(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
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

    pub fn table<'v>(
        &self,
        v: &'v Value,
        path: &str,
        expected: &str,
    ) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.error(path, format!("`{path}` is not a table"), expected))
    }

    /// Refuses keys outside `allowed`, naming the accepted ones.
    pub fn only_keys(
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

    pub fn uint(
        &self,
        v: Option<&Value>,
        path: &str,
        min: u64,
    ) -> Result<Option<u64>, ConfigError> {
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

    pub fn uint32(
        &self,
        v: Option<&Value>,
        path: &str,
        min: u64,
    ) -> Result<Option<u32>, ConfigError> {
        match self.uint(v, path, min)? {
            None => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                self.error(path, format!("`{path}` is too large"), "at most 4294967295")
            }),
        }
    }

    pub fn boolean(&self, v: Option<&Value>, path: &str) -> Result<Option<bool>, ConfigError> {
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
    pub fn service_ref(
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
pub fn describe(v: &Value) -> String {
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
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "$schema",
    "project",
    "services",
    "deploy",
    "health_checks",
    "analysis",
    "required_secrets",
    "env",
];
pub const SERVICE_KEYS: &[&str] = &[
    "name",
    "kind",
    "config",
    "required_secrets",
    "depends_on",
    "build_output_dir",
    "project_name",
    "project_names",
    "production_branch",
];
pub const DEPLOY_KEYS: &[&str] = &[
    "strategy",
    "steps",
    "step_wait_secs",
    "auto_rollback",
    "progress_deadline_secs",
    "on_deadline",
    "max_pause_secs",
    "ab",
];
pub const HEALTH_CHECK_KEYS: &[&str] = &[
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
pub const ANALYSIS_KEYS: &[&str] = &[
    "name",
    "metric",
    "service",
    "condition",
    "failure_condition",
    "interval_secs",
    "count",
    "failure_limit",
    "inconclusive_limit",
    "consecutive_error_limit",
    "min_requests",
    "background",
];
pub const ENV_KEYS: &[&str] = &["deploy", "health_checks", "analysis", "required_secrets"];
pub const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

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
        let (kind, config, pages) = super::pages::service_kind(&r, &mut t, &path, &name)?;
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
        for k in ["name", "required_secrets", "depends_on"] {
            t.remove(k);
        }
        services.push(ProjectService {
            name,
            kind,
            config,
            pages,
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
    refuse_notifications(&r, &root, "notifications")?;
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
        if let Some(problem) = deadline_problem(&settings) {
            let path = match env {
                Some(e) => format!("env.{e}.deploy.progress_deadline_secs"),
                None => "deploy.progress_deadline_secs".to_owned(),
            };
            return Err(r.error(
                &path,
                problem,
                "a longer progress_deadline_secs, or a shorter step_wait_secs / fewer or closer measurements",
            ));
        }
        if let Some(problem) = ab_problem(&settings) {
            let path = match env {
                Some(e) if config.env(e).is_some_and(|s| s.deploy.ab.is_some()) => {
                    format!("env.{e}.deploy.ab")
                }
                Some(e) if config.env(e).is_some_and(|s| s.deploy.strategy.is_some()) => {
                    format!("env.{e}.deploy.strategy")
                }
                _ if config.deploy.ab.is_some() => "deploy.ab".to_owned(),
                _ => "deploy.strategy".to_owned(),
            };
            return Err(r.error(
                &path,
                problem,
                "ab = { split = 50, window_secs = 3600, affinity = { cookie = \"uid\" } } under [deploy], and an [[analysis]] metric error_rate or p99_latency_ms",
            ));
        }
    }
    // `ab` settings that no environment's strategy uses would be accepted and ignored.
    let uses_ab = |env: Option<&str>| config.settings(env).strategy == Strategy::Ab;
    for e in &config.envs {
        if e.deploy.ab.is_some() && !uses_ab(Some(&e.name)) {
            return Err(r.error(
                &format!("env.{}.deploy.ab", e.name),
                format!(
                    "`env.{}.deploy.ab` is set but env `{}` does not use strategy \"ab\"",
                    e.name, e.name
                ),
                "strategy = \"ab\" next to it, or remove the ab settings",
            ));
        }
    }
    let top_used = std::iter::once(None)
        .chain(
            config
                .envs
                .iter()
                .filter(|e| e.deploy.ab.is_none())
                .map(|e| Some(e.name.as_str())),
        )
        .any(uses_ab);
    if config.deploy.ab.is_some() && !top_used {
        return Err(r.error(
            "deploy.ab",
            "`deploy.ab` is set but no environment uses strategy \"ab\"".to_owned(),
            "strategy = \"ab\" in [deploy] or an [env.NAME.deploy], or remove the ab settings",
        ));
    }
    Ok(config)
}

pub fn env_sections(
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
        refuse_notifications(r, t, &child_path(&p, "notifications"))?;
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
            required_secrets: r.names(t.get("required_secrets"), &key("required_secrets"))?,
            location: r.loc(&p),
        });
    }
    Ok(out)
}

/// `[notifications]` was read by earlier versions and never sent anything; channels now live
/// on the control plane (their URLs and keys stored encrypted there), so the section is
/// refused with the way to move it rather than accepted and ignored.
fn refuse_notifications(
    r: &Reader<'_>,
    table: &Map<String, Value>,
    path: &str,
) -> Result<(), ConfigError> {
    if !table.contains_key("notifications") {
        return Ok(());
    }
    Err(r.error(
        path,
        format!(
            "`[{path}]` is no longer read from clodo.toml: notification channels live on the control plane, which stores their URLs and keys encrypted and sends every event through its outbox"
        ),
        "remove the section and add each channel once with `clodo channels add --kind slack --name ops --url-env SLACK_WEBHOOK_URL` (add --env NAME for one environment; see docs/notifications.md)",
    ))
}
