//! The neutral resource list: Terraform v5 type names and snake_case attributes (the Pulumi
//! renderer derives its class names and camelCase from them), references between resources,
//! and import ids in the provider's formats.

use std::collections::{BTreeMap, BTreeSet};

use crate::assess::inventory::{zone_for_host, CustomDomain, DnsRecord, RouteInfo, ZoneInfo};
use crate::config::ResolvedWorker;

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Bool(bool),
    Num(i64),
    List(Vec<Val>),
    Obj(Vec<(String, Val)>),
    /// Another resource's attribute: `(resource index, attribute)`.
    Ref(usize, &'static str),
    /// An input the user supplies (a zone id offline): a Terraform variable, a Pulumi config key.
    Input(String),
    /// The SHA-256 of a file (Terraform `filesha256`, computed in the Pulumi program).
    FileSha256(String),
}

/// One resource to declare.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The Terraform type, e.g. `cloudflare_workers_script`.
    pub kind: &'static str,
    /// The local name (`[a-z0-9_]`, unique per kind).
    pub name: String,
    pub attrs: Vec<(&'static str, Val)>,
    /// The id to import it with when it already exists.
    pub import_id: Option<String>,
    /// A comment for the reader (what to build first, what was left out).
    pub note: Option<String>,
}

/// A service to export: its name, the directory of its config relative to the output, and the
/// resolved config.
pub struct ExportService<'a> {
    pub name: String,
    pub config_dir: String,
    pub worker: &'a ResolvedWorker,
}

/// What the account already has, from the inventory; `None` offline.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    pub scripts: BTreeSet<String>,
    /// D1 name → uuid.
    pub d1: BTreeMap<String, String>,
    /// KV namespace id → title.
    pub kv: BTreeMap<String, String>,
    /// R2 `(jurisdiction, bucket)`.
    pub r2: BTreeSet<(Option<String>, String)>,
    /// Queue name → id.
    pub queues: BTreeMap<String, String>,
    pub zones: Vec<ZoneInfo>,
    /// `(zone id, route)`.
    pub routes: Vec<(String, RouteInfo)>,
    pub custom_domains: Vec<CustomDomain>,
    /// `(zone id, record)`.
    pub dns: Vec<(String, DnsRecord)>,
}

struct Builder<'e> {
    account: String,
    existing: Option<&'e Existing>,
    out: Vec<Resource>,
    names: BTreeSet<(&'static str, String)>,
    /// `(kind, key)` → index, so a resource shared by services is declared once.
    seen: BTreeMap<(&'static str, String), usize>,
    inputs: BTreeSet<String>,
}

fn local_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("r_{s}")
    } else {
        s
    }
}

fn s(v: &str) -> Val {
    Val::Str(v.to_owned())
}

impl Builder<'_> {
    /// Adds a resource once per `(kind, key)`; returns its index.
    fn add(
        &mut self,
        kind: &'static str,
        key: &str,
        name_hint: &str,
        attrs: Vec<(&'static str, Val)>,
        import_id: Option<String>,
    ) -> usize {
        if let Some(i) = self.seen.get(&(kind, key.to_owned())) {
            return *i;
        }
        let base = local_name(name_hint);
        let mut name = base.clone();
        let mut n = 2;
        while !self.names.insert((kind, name.clone())) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.out.push(Resource {
            kind,
            name,
            attrs,
            import_id,
            note: None,
        });
        let i = self.out.len() - 1;
        self.seen.insert((kind, key.to_owned()), i);
        i
    }

    fn account(&self) -> (&'static str, Val) {
        ("account_id", s(&self.account))
    }

    fn import(&self, id: Option<String>) -> Option<String> {
        self.existing.and(id)
    }

    /// The zone id of a host: the config's, the account's zone, or an input offline.
    fn zone(&mut self, host: &str, zone_id: Option<&str>, zone_name: Option<&str>) -> Val {
        if let Some(id) = zone_id {
            return s(id);
        }
        if let Some(z) = self
            .existing
            .and_then(|e| zone_for_host(&e.zones, zone_name.unwrap_or(host)))
        {
            return s(&z.id);
        }
        let zone = zone_name.map_or_else(|| apex_guess(host), str::to_owned);
        let input = format!("zone_id_{}", local_name(&zone));
        self.inputs.insert(input.clone());
        Val::Input(input)
    }
}

/// Without the account's zone list, the last two labels of a host name its zone.
fn apex_guess(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

fn host_of(pattern: &str) -> &str {
    let rest = pattern.split_once("://").map_or(pattern, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The resources `services` declare, for `account`. With `existing`, those already in the
/// account carry their import id.
#[must_use]
pub fn resources(
    services: &[ExportService<'_>],
    account: &str,
    existing: Option<&Existing>,
) -> (Vec<Resource>, BTreeSet<String>) {
    let mut b = Builder {
        account: account.to_owned(),
        existing,
        out: Vec::new(),
        names: BTreeSet::new(),
        seen: BTreeMap::new(),
        inputs: BTreeSet::new(),
    };
    for svc in services {
        worker_resources(&mut b, svc);
    }
    (b.out, b.inputs)
}

fn worker_resources(b: &mut Builder<'_>, svc: &ExportService<'_>) {
    let w = svc.worker;
    let script = w.name.clone().unwrap_or_else(|| svc.name.clone());
    let ex = b.existing;
    let acc = b.account.clone();
    let mut bindings = Vec::new();
    for d in &w.d1_databases {
        let name = d
            .database_name
            .clone()
            .unwrap_or_else(|| d.binding.to_lowercase());
        let uuid = ex.and_then(|e| e.d1.get(&name).cloned());
        let i = b.add(
            "cloudflare_d1_database",
            &name,
            &name,
            vec![b.account(), ("name", s(&name))],
            b.import(uuid.map(|u| format!("{acc}/{u}"))),
        );
        bindings.push(binding(&d.binding, "d1", vec![("id", Val::Ref(i, "id"))]));
    }
    for k in &w.kv_namespaces {
        let title = ex
            .and_then(|e| k.id.as_ref().and_then(|id| e.kv.get(id)).cloned())
            .unwrap_or_else(|| format!("{script}-{}", k.binding.to_lowercase()));
        let found = ex.and_then(|e| k.id.as_ref().filter(|id| e.kv.contains_key(*id)).cloned());
        let key = k.id.clone().unwrap_or_else(|| title.clone());
        let i = b.add(
            "cloudflare_workers_kv_namespace",
            &key,
            &title,
            vec![b.account(), ("title", s(&title))],
            b.import(found.map(|id| format!("{acc}/{id}"))),
        );
        bindings.push(binding(
            &k.binding,
            "kv_namespace",
            vec![("namespace_id", Val::Ref(i, "id"))],
        ));
    }
    for r in &w.r2_buckets {
        let name = r
            .bucket_name
            .clone()
            .unwrap_or_else(|| r.binding.to_lowercase());
        let mut attrs = vec![b.account(), ("name", s(&name))];
        if let Some(j) = &r.jurisdiction {
            attrs.push(("jurisdiction", s(j)));
        }
        let found = ex.is_some_and(|e| e.r2.contains(&(r.jurisdiction.clone(), name.clone())));
        let import = found.then(|| {
            format!(
                "{acc}/{name}/{}",
                r.jurisdiction.as_deref().unwrap_or("default")
            )
        });
        let key = format!("{}/{name}", r.jurisdiction.as_deref().unwrap_or(""));
        let i = b.add("cloudflare_r2_bucket", &key, &name, attrs, b.import(import));
        let mut battrs = vec![("bucket_name", Val::Ref(i, "name"))];
        if let Some(j) = &r.jurisdiction {
            battrs.push(("jurisdiction", s(j)));
        }
        bindings.push(binding(&r.binding, "r2_bucket", battrs));
    }
    let queue = |b: &mut Builder<'_>, name: &str| {
        let id = ex.and_then(|e| e.queues.get(name).cloned());
        b.add(
            "cloudflare_queue",
            name,
            name,
            vec![b.account(), ("queue_name", s(name))],
            b.import(id.map(|id| format!("{acc}/{id}"))),
        )
    };
    for q in &w.queue_producers {
        let i = queue(b, &q.queue);
        bindings.push(binding(
            &q.binding,
            "queue",
            vec![("queue_name", Val::Ref(i, "queue_name"))],
        ));
    }
    let consumers: Vec<usize> = w
        .queue_consumers
        .iter()
        .map(|c| queue(b, &c.queue))
        .collect();
    for d in &w.durable_objects {
        let mut attrs = vec![("class_name", s(&d.class_name))];
        if let Some(other) = &d.script_name {
            attrs.push(("script_name", s(other)));
        }
        bindings.push(binding(&d.name, "durable_object_namespace", attrs));
    }
    for sv in &w.services {
        let mut attrs = vec![("service", s(&sv.service))];
        if let Some(e) = &sv.entrypoint {
            attrs.push(("entrypoint", s(e)));
        }
        bindings.push(binding(&sv.binding, "service", attrs));
    }
    for (name, value) in &w.var_values {
        bindings.push(match value {
            serde_json::Value::String(t) => binding(name, "plain_text", vec![("text", s(t))]),
            other => binding(name, "json", vec![("json", s(&other.to_string()))]),
        });
    }
    let mut left_out: Vec<String> = w
        .other_bindings
        .iter()
        .map(|o| format!("{} ({})", o.binding, o.kind))
        .collect();
    left_out.extend(
        w.secrets_required
            .iter()
            .map(|(n, _)| format!("{n} (secret)")),
    );

    let stem = w
        .main
        .as_deref()
        .and_then(|m| std::path::Path::new(m).file_stem())
        .map_or_else(|| "index".to_owned(), |s| s.to_string_lossy().into_owned());
    let bundle = format!("{}dist/{stem}.js", dir_prefix(&svc.config_dir));
    let mut attrs = vec![
        b.account(),
        ("script_name", s(&script)),
        ("main_module", s(&format!("{stem}.js"))),
        ("content_file", s(&bundle)),
        ("content_sha256", Val::FileSha256(bundle.clone())),
    ];
    if let Some(d) = &w.compatibility_date {
        attrs.push(("compatibility_date", s(d)));
    }
    if !w.compatibility_flags.is_empty() {
        attrs.push((
            "compatibility_flags",
            Val::List(w.compatibility_flags.iter().map(|f| s(f)).collect()),
        ));
    }
    if !bindings.is_empty() {
        attrs.push(("bindings", Val::List(bindings)));
    }
    if let Some(last) = w.migrations.last() {
        let steps = w
            .migrations
            .iter()
            .map(|m| {
                let list = |v: &[String]| Val::List(v.iter().map(|x| s(x)).collect());
                let mut step = Vec::new();
                if !m.new_classes.is_empty() {
                    step.push(("new_classes".to_owned(), list(&m.new_classes)));
                }
                if !m.new_sqlite_classes.is_empty() {
                    step.push(("new_sqlite_classes".to_owned(), list(&m.new_sqlite_classes)));
                }
                if !m.deleted_classes.is_empty() {
                    step.push(("deleted_classes".to_owned(), list(&m.deleted_classes)));
                }
                if !m.renamed_classes.is_empty() {
                    let renamed = m
                        .renamed_classes
                        .iter()
                        .map(|(f, t)| Val::Obj(vec![("from".into(), s(f)), ("to".into(), s(t))]))
                        .collect();
                    step.push(("renamed_classes".to_owned(), Val::List(renamed)));
                }
                Val::Obj(step)
            })
            .collect();
        attrs.push((
            "migrations",
            Val::Obj(vec![
                ("new_tag".into(), s(&last.tag)),
                ("steps".into(), Val::List(steps)),
            ]),
        ));
    }
    let import = ex
        .filter(|e| e.scripts.contains(&script))
        .map(|_| format!("{acc}/{script}"));
    let si = b.add("cloudflare_workers_script", &script, &script, attrs, import);
    let mut note = format!(
        "Build the bundle first, in {}: wrangler deploy --dry-run --outdir dist{}",
        if svc.config_dir.is_empty() {
            "."
        } else {
            svc.config_dir.as_str()
        },
        w.env
            .as_deref()
            .map(|e| format!(" --env {e}"))
            .unwrap_or_default()
    );
    if !left_out.is_empty() {
        note.push_str(&format!(
            ". Not exported (add by hand; secrets never leave Clodo): {}",
            left_out.join(", ")
        ));
    }
    b.out[si].note = Some(note);
    let script_ref = Val::Ref(si, "script_name");

    for (ci, c) in consumers.into_iter().zip(&w.queue_consumers) {
        let mut attrs = vec![
            b.account(),
            ("queue_id", Val::Ref(ci, "queue_id")),
            ("script_name", script_ref.clone()),
            ("type", s("worker")),
        ];
        if let Some(dlq) = &c.dead_letter_queue {
            attrs.push(("dead_letter_queue", s(dlq)));
        }
        b.add(
            "cloudflare_queue_consumer",
            &format!("{script}/{}", c.queue),
            &format!("{script}_{}", c.queue),
            attrs,
            None,
        );
    }
    if !w.crons.is_empty() {
        let schedules = w
            .crons
            .iter()
            .map(|c| Val::Obj(vec![("cron".into(), s(c))]))
            .collect();
        let import = ex
            .filter(|e| e.scripts.contains(&script))
            .map(|_| format!("{acc}/{script}"));
        b.add(
            "cloudflare_workers_cron_trigger",
            &script,
            &script,
            vec![
                b.account(),
                ("script_name", script_ref.clone()),
                ("schedules", Val::List(schedules)),
            ],
            import,
        );
    }
    for r in &w.routes {
        let host = host_of(&r.pattern).to_owned();
        let zone = b.zone(&host, r.zone_id.as_deref(), r.zone_name.as_deref());
        if r.custom_domain {
            let found = ex.and_then(|e| {
                e.custom_domains
                    .iter()
                    .find(|d| d.hostname == host && d.service == script)
            });
            b.add(
                "cloudflare_workers_custom_domain",
                &host,
                &host,
                vec![
                    b.account(),
                    ("hostname", s(&host)),
                    ("service", script_ref.clone()),
                    ("zone_id", zone),
                ],
                found.map(|d| format!("{acc}/{}", d.id)),
            );
            continue;
        }
        let found = ex.and_then(|e| {
            e.routes
                .iter()
                .find(|(_, rt)| rt.pattern == r.pattern)
                .map(|(z, rt)| format!("{z}/{}", rt.id))
        });
        b.add(
            "cloudflare_workers_route",
            &r.pattern,
            &format!("{script}_{}", r.pattern),
            vec![
                ("zone_id", zone.clone()),
                ("pattern", s(&r.pattern)),
                ("script", script_ref.clone()),
            ],
            found,
        );
        // A route only runs for a proxied hostname: declare the record the host needs (an
        // originless AAAA 100::, Cloudflare's documented pattern) unless it is a wildcard.
        if !host.contains('*') {
            let found = ex.and_then(|e| {
                e.dns
                    .iter()
                    .find(|(_, d)| d.name == host && d.proxied)
                    .map(|(z, d)| (format!("{z}/{}", d.id), d.clone()))
            });
            let (record_type, content) = found
                .as_ref()
                .map_or(("AAAA".to_owned(), "100::".to_owned()), |(_, d)| {
                    (d.record_type.clone(), d.content.clone())
                });
            b.add(
                "cloudflare_dns_record",
                &host,
                &host,
                vec![
                    ("zone_id", zone),
                    ("name", s(&host)),
                    ("type", s(&record_type)),
                    ("content", s(&content)),
                    ("proxied", Val::Bool(true)),
                    ("ttl", Val::Num(1)),
                ],
                found.map(|(id, _)| id),
            );
        }
    }
}

fn dir_prefix(dir: &str) -> String {
    if dir.is_empty() || dir == "." {
        String::new()
    } else {
        format!("{}/", dir.trim_end_matches('/'))
    }
}

fn binding(name: &str, kind: &str, mut attrs: Vec<(&'static str, Val)>) -> Val {
    let mut fields = vec![("name".to_owned(), s(name)), ("type".to_owned(), s(kind))];
    fields.extend(attrs.drain(..).map(|(k, v)| (k.to_owned(), v)));
    Val::Obj(fields)
}
