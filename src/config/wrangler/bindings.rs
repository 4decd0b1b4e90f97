//! Reading a scope's routes, bindings (D1, KV, R2, queues, Durable Objects, migrations,
//! services, the other kinds), vars and secrets into the resolved Worker.

use super::*;

/// A binding array whose entries are tables keyed by `binding`: its key, its fields, and how a
/// problem names one entry.
pub struct BindingArray {
    key: &'static str,
    fields: &'static [&'static str],
    what: &'static str,
}

const D1_ARRAY: BindingArray = BindingArray {
    key: "d1_databases",
    fields: D1_FIELDS,
    what: "a D1 binding",
};
const KV_ARRAY: BindingArray = BindingArray {
    key: "kv_namespaces",
    fields: KV_FIELDS,
    what: "a KV binding",
};
const R2_ARRAY: BindingArray = BindingArray {
    key: "r2_buckets",
    fields: R2_FIELDS,
    what: "an R2 binding",
};

impl<'a> Scope<'a> {
    /// `route` (a string or one object) and `routes` (an array of strings or objects). An env
    /// that sets either replaces both, so a top-level `route` never mixes with env `routes`.
    pub fn routes(&self, out: &mut Out) -> Result<Vec<RouteSpec>, ConfigError> {
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

    pub fn route(
        &self,
        v: &Value,
        path: &str,
        out: &mut Out,
    ) -> Result<Option<RouteSpec>, ConfigError> {
        let (pattern, zone_id, zone_name, custom_domain) =
            match v {
                Value::String(s) => (s.clone(), None, None, false),
                Value::Object(t) => {
                    self.check_fields(t, path, ROUTE_FIELDS, out);
                    let pattern = self.field_str(t, path, "pattern")?.unwrap_or_default();
                    let zone_id = self.field_str(t, path, "zone_id")?;
                    let zone_name = self.field_str(t, path, "zone_name")?;
                    let custom = self
                        .opt_bool(t.get("custom_domain"), &child_path(path, "custom_domain"))?
                        .unwrap_or(false);
                    (pattern, zone_id, zone_name, custom)
                }
                other => return Err(self.cfg.type_error(
                    path,
                    other,
                    "a route pattern string or { pattern, zone_id | zone_name | custom_domain }",
                )),
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

    /// The entries of the env's own binding array (bindings are not inherited), each checked
    /// against its fields; one without a `binding` is a problem and skipped, the rest `build` reads.
    pub fn binding_list<B>(
        &self,
        array: &BindingArray,
        out: &mut Out,
        build: impl Fn(String, &Map<String, Value>, &str) -> Result<B, ConfigError>,
    ) -> Result<Vec<B>, ConfigError> {
        let Some((v, p)) = self.own(array.key) else {
            return Ok(Vec::new());
        };
        let mut list = Vec::new();
        for (t, path) in self.entries(v, &p)? {
            self.check_fields(t, &path, array.fields, out);
            let Some(binding) = self.required(t, &path, "binding", array.what, out)? else {
                continue;
            };
            list.push(build(binding, t, &path)?);
        }
        Ok(list)
    }

    pub fn d1(&self, out: &mut Out) -> Result<Vec<D1Binding>, ConfigError> {
        self.binding_list(&D1_ARRAY, out, |binding, t, path| {
            Ok(D1Binding {
                binding,
                database_name: self.field_str(t, path, "database_name")?,
                database_id: self.field_str(t, path, "database_id")?,
                preview_database_id: self.field_str(t, path, "preview_database_id")?,
                migrations_dir: self.field_str(t, path, "migrations_dir")?,
                migrations_table: self.field_str(t, path, "migrations_table")?,
                location: self.loc(path),
            })
        })
    }

    pub fn kv(&self, out: &mut Out) -> Result<Vec<KvBinding>, ConfigError> {
        self.binding_list(&KV_ARRAY, out, |binding, t, path| {
            Ok(KvBinding {
                binding,
                id: self.field_str(t, path, "id")?,
                preview_id: self.field_str(t, path, "preview_id")?,
                location: self.loc(path),
            })
        })
    }

    pub fn r2(&self, out: &mut Out) -> Result<Vec<R2Binding>, ConfigError> {
        self.binding_list(&R2_ARRAY, out, |binding, t, path| {
            Ok(R2Binding {
                binding,
                bucket_name: self.field_str(t, path, "bucket_name")?,
                jurisdiction: self.field_str(t, path, "jurisdiction")?,
                preview_bucket_name: self.field_str(t, path, "preview_bucket_name")?,
                location: self.loc(path),
            })
        })
    }

    pub fn queues(
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
                    dead_letter_queue: self.field_str(e, &path, "dead_letter_queue")?,
                    location: self.loc(&path),
                });
            }
        }
        Ok((producers, consumers))
    }

    pub fn durable_objects(&self, out: &mut Out) -> Result<Vec<DoBinding>, ConfigError> {
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
                        script_name: self.field_str(e, &path, "script_name")?,
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

    pub fn migrations(&self, out: &mut Out) -> Result<Vec<DoMigration>, ConfigError> {
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
                        let from = self.field_str(r, &rp, "from")?;
                        let to = self.field_str(r, &rp, "to")?;
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

    pub fn services(&self, out: &mut Out) -> Result<Vec<ServiceBinding>, ConfigError> {
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
                    entrypoint: self.field_str(e, &path, "entrypoint")?,
                    environment: self.field_str(e, &path, "environment")?,
                    location: self.loc(&path),
                });
            }
        }
        Ok(list)
    }

    /// Binding kinds gap analysis does not type one by one. Read leniently: an odd shape here
    /// is a warning, not a failure to load, because these keys change often upstream.
    pub fn other_bindings(&self, out: &mut Out) -> Result<Vec<OtherBinding>, ConfigError> {
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

    pub fn vars(&self, out: &mut Out) -> Result<Vec<(String, Location)>, ConfigError> {
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

    pub fn secrets(&self) -> Result<Vec<(String, Location)>, ConfigError> {
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
}
