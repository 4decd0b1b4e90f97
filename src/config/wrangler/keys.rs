//! The warnings of a scope: keys an env does not inherit, vars missing in an env, unknown,
//! legacy or misplaced keys, and mutually exclusive settings.

use super::*;

impl<'a> Scope<'a> {
    /// For an env: each non-inheritable key the top level sets (non-empty) and the env lacks.
    pub fn not_inherited(&self) -> Vec<NotInherited> {
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
    pub fn vars_missing_in_env(&self) -> Vec<NotInherited> {
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
    pub fn key_warnings(&self, out: &mut Out) {
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

    pub fn key_warning(&self, key: &str, v: &Value, path: &str, top: bool, out: &mut Out) {
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
    pub fn mutually_exclusive(&self, out: &mut Out) {
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
pub fn is_top_level_key(key: &str) -> bool {
    INHERITABLE.contains(&key)
        || NOT_INHERITABLE.contains(&key)
        || TOP_LEVEL_ONLY.contains(&key)
        || LEGACY.iter().any(|(k, _)| *k == key)
        || key == "kv-namespaces"
}
