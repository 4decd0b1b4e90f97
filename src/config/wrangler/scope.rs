//! Resolving one scope (the top level or one env) of a wrangler config: the typed readers of
//! keys with wrangler's inheritance, field checks, and the resolution itself.

use super::*;

/// One table of an array of tables, with its key path.
pub type Entry<'a> = (&'a Map<String, Value>, String);

/// The scope being resolved: the file, and the selected env's name and table.
pub struct Scope<'a> {
    pub(super) cfg: &'a WranglerConfig,
    pub(super) env: Option<(&'a str, &'a Map<String, Value>)>,
}

/// Accumulates the output of one resolution.
#[derive(Default)]
pub struct Out {
    pub(super) warnings: Vec<ConfigWarning>,
    pub(super) problems: Vec<ConfigProblem>,
}

impl<'a> Scope<'a> {
    pub fn loc(&self, path: &str) -> Location {
        self.cfg.location(path)
    }

    pub fn env_path(&self, key: &str) -> String {
        match self.env {
            Some((name, _)) => child_path(&child_path(&child_path("", "env"), name), key),
            None => key.to_owned(),
        }
    }

    /// An inheritable key: from the env when it sets it, else from the top level.
    pub fn inherited(&self, key: &str) -> Option<(&'a Value, String)> {
        if let Some((_, t)) = self.env {
            if let Some(v) = t.get(key) {
                return Some((v, self.env_path(key)));
            }
        }
        self.cfg.root.get(key).map(|v| (v, key.to_owned()))
    }

    /// A non-inheritable key: only from the selected scope.
    pub fn own(&self, key: &str) -> Option<(&'a Value, String)> {
        let table = match self.env {
            Some((_, t)) => t,
            None => &self.cfg.root,
        };
        table.get(key).map(|v| (v, self.env_path(key)))
    }

    pub fn opt_str(&self, v: Option<&Value>, path: &str) -> Result<Option<String>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.cfg.type_error(path, other, "a string")),
        }
    }

    pub fn opt_bool(&self, v: Option<&Value>, path: &str) -> Result<Option<bool>, ConfigError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.cfg.type_error(path, other, "true or false")),
        }
    }

    pub fn str_list(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
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
    pub fn entries(&self, v: &'a Value, path: &str) -> Result<Vec<Entry<'a>>, ConfigError> {
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
    pub fn check_fields(
        &self,
        t: &Map<String, Value>,
        path: &str,
        allowed: &[&str],
        out: &mut Out,
    ) {
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

    pub fn problem(
        &self,
        out: &mut Out,
        kind: &'static str,
        path: &str,
        message: String,
        fix: String,
    ) {
        out.problems.push(ConfigProblem {
            kind,
            message,
            fix,
            location: self.loc(path),
        });
    }

    /// A required string field of an entry; a missing one is a `config_invalid` problem (the
    /// entry is then left out: nothing can be checked about a binding without its name).
    /// The optional string `key` of the table `t` at `path`.
    pub fn field_str(
        &self,
        t: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        self.opt_str(t.get(key), &child_path(path, key))
    }

    pub fn required(
        &self,
        t: &Map<String, Value>,
        path: &str,
        field: &str,
        what: &str,
        out: &mut Out,
    ) -> Result<Option<String>, ConfigError> {
        let value = self.field_str(t, path, field)?;
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

    pub fn resolve(&self) -> Result<ResolvedWorker, ConfigError> {
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
            var_values: match self.own("vars") {
                Some((Value::Object(t), _)) => {
                    t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                }
                _ => Vec::new(),
            },
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

    pub fn inh_str(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.inherited(key) {
            Some((v, p)) => self.opt_str(Some(v), &p),
            None => Ok(None),
        }
    }
}
