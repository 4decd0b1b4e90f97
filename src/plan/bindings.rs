//! Bindings on both sides in one shape: `name → (Cloudflare binding type, target)`, from a
//! resolved wrangler config and from the live version's settings (`GET …/scripts/{s}/settings`),
//! so `clodo plan` compares like with like. Secrets are left out (they are compared by name
//! apart, their values are never readable).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::ResolvedWorker;

/// One binding: its Cloudflare type and what it points at. `target` is `None` for kinds whose
/// target Clodo does not compare (then only the type is compared). For `plain_text` and `json`
/// the target is the value: compared, never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingFact {
    pub kind: String,
    pub target: Option<String>,
}

impl BindingFact {
    fn new(kind: &str, target: Option<String>) -> Self {
        Self {
            kind: kind.to_owned(),
            target,
        }
    }

    /// A var (`plain_text` or `json`): its value must not be shown.
    #[must_use]
    pub fn is_var(&self) -> bool {
        self.kind == "plain_text" || self.kind == "json"
    }

    /// `type -> target` for a terminal or JSON, without a var's value.
    #[must_use]
    pub fn describe(&self) -> String {
        match (&self.target, self.is_var()) {
            (Some(t), false) => format!("{} -> {t}", self.kind),
            _ => self.kind.clone(),
        }
    }
}

/// Binding name → fact.
pub type Bindings = BTreeMap<String, BindingFact>;

/// The secret types, which are compared by name only.
pub const SECRET_KINDS: &[&str] = &["secret_text", "secret_key"];

/// The Cloudflare binding type of a wrangler key Clodo reads leniently (`other_bindings`); the
/// target is compared only for kinds where the config's target field and the API's agree.
fn other_kind(config_key: &str) -> (&str, bool) {
    match config_key {
        "hyperdrive" => ("hyperdrive", true),
        "vectorize" => ("vectorize", true),
        "workflows" => ("workflow", false),
        "analytics_engine_datasets" => ("analytics_engine", true),
        "dispatch_namespaces" => ("dispatch_namespace", true),
        "mtls_certificates" => ("mtls_certificate", true),
        "send_email" => ("send_email", false),
        "pipelines" => ("pipelines", false),
        "secrets_store_secrets" => ("secrets_store_secret", false),
        "ratelimits" => ("ratelimit", false),
        "vpc_services" => ("vpc_service", false),
        "worker_loaders" => ("worker_loader", false),
        "version_metadata" => ("version_metadata", false),
        "tail_consumers" => ("tail_consumer", false),
        other => (other, false),
    }
}

/// A var's value as the API stores it: a string var is `plain_text` with `text`, anything else
/// is `json`.
fn var_fact(value: &Value) -> BindingFact {
    match value {
        Value::String(s) => BindingFact::new("plain_text", Some(s.clone())),
        other => BindingFact::new("json", Some(canonical_json(other))),
    }
}

/// JSON with sorted keys (serde_json's map is ordered), so equal values compare equal.
fn canonical_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// What a deploy of `w` would bind.
#[must_use]
pub fn from_config(w: &ResolvedWorker) -> Bindings {
    let mut out = Bindings::new();
    for b in &w.d1_databases {
        out.insert(
            b.binding.clone(),
            BindingFact::new("d1", b.database_id.clone()),
        );
    }
    for b in &w.kv_namespaces {
        out.insert(
            b.binding.clone(),
            BindingFact::new("kv_namespace", b.id.clone()),
        );
    }
    for b in &w.r2_buckets {
        let target = b.bucket_name.as_ref().map(|n| match &b.jurisdiction {
            Some(j) => format!("{n} ({j})"),
            None => n.clone(),
        });
        out.insert(b.binding.clone(), BindingFact::new("r2_bucket", target));
    }
    for b in &w.queue_producers {
        out.insert(
            b.binding.clone(),
            BindingFact::new("queue", Some(b.queue.clone())),
        );
    }
    for b in &w.durable_objects {
        out.insert(
            b.name.clone(),
            BindingFact::new(
                "durable_object_namespace",
                Some(do_target(&b.class_name, b.script_name.as_deref())),
            ),
        );
    }
    for b in &w.services {
        out.insert(
            b.binding.clone(),
            BindingFact::new(
                "service",
                Some(service_target(&b.service, b.entrypoint.as_deref())),
            ),
        );
    }
    for b in &w.other_bindings {
        let (kind, compare) = other_kind(&b.kind);
        let target = if compare { b.target.clone() } else { None };
        out.insert(b.binding.clone(), BindingFact::new(kind, target));
    }
    for (name, value) in &w.var_values {
        out.insert(name.clone(), var_fact(value));
    }
    out
}

fn do_target(class: &str, script: Option<&str>) -> String {
    match script {
        Some(s) => format!("{class} in {s}"),
        None => class.to_owned(),
    }
}

fn service_target(service: &str, entrypoint: Option<&str>) -> String {
    match entrypoint {
        Some(e) => format!("{service}#{e}"),
        None => service.to_owned(),
    }
}

/// The live bindings from the settings' `bindings[]`, secrets left out. A Durable Object bound
/// from this very Worker names it as `script_name` in some answers; `script` tells which.
#[must_use]
pub fn from_settings(bindings: &[Value], script: &str) -> Bindings {
    let text = |b: &Value, key: &str| b.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut out = Bindings::new();
    for b in bindings {
        let (Some(kind), Some(name)) = (text(b, "type"), text(b, "name")) else {
            continue;
        };
        if SECRET_KINDS.contains(&kind.as_str()) {
            continue;
        }
        let target = match kind.as_str() {
            "d1" => text(b, "id").or_else(|| text(b, "database_id")),
            "kv_namespace" => text(b, "namespace_id"),
            "r2_bucket" => text(b, "bucket_name").map(|n| match text(b, "jurisdiction") {
                Some(j) if !j.is_empty() && j != "default" => format!("{n} ({j})"),
                _ => n,
            }),
            "queue" => text(b, "queue_name"),
            "durable_object_namespace" => text(b, "class_name").map(|c| {
                let other = text(b, "script_name").filter(|s| s != script);
                do_target(&c, other.as_deref())
            }),
            "service" => {
                text(b, "service").map(|s| service_target(&s, text(b, "entrypoint").as_deref()))
            }
            "plain_text" => text(b, "text"),
            "json" => b.get("json").map(canonical_json),
            "hyperdrive" => text(b, "id"),
            "vectorize" => text(b, "index_name"),
            "analytics_engine" => text(b, "dataset"),
            "dispatch_namespace" => text(b, "namespace"),
            "mtls_certificate" => text(b, "certificate_id"),
            _ => None,
        };
        out.insert(name, BindingFact { kind, target });
    }
    out
}

/// Whether a live binding matches the configured one: same type, and the same target where the
/// config names one (a config without an id lets wrangler provision or reuse by name, so only
/// the type can be compared then).
#[must_use]
pub fn same(config: &BindingFact, live: &BindingFact) -> bool {
    config.kind == live.kind
        && match (&config.target, &live.target) {
            (Some(c), Some(l)) => c == l,
            _ => true,
        }
}
