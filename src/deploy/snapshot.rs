//! What a deployment shipped, per service, and the difference between two deployments, pure.
//! `clodo deploy` records the snapshots on the deployment (the detail of its `verifying` event);
//! `clodo diff` compares two of them and `clodo rollback` reads the migrations they applied.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::config::ResolvedWorker;

/// One service as a deployment shipped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct ServiceSnapshot {
    pub service: String,
    pub script: String,
    /// The version serving traffic before this deployment (`None`: a first deploy).
    pub previous_version: Option<String>,
    pub new_version: String,
    /// `versions_upload` or `deploy`.
    pub command: String,
    pub compatibility_date: Option<String>,
    /// One line per binding, `kind NAME -> target`, sorted.
    pub bindings: Vec<String>,
    /// Durable Object migration tags this deployment applied (only with `deploy`).
    #[serde(default)]
    pub migrations_applied: Vec<String>,
}

/// The bindings of a resolved config as comparable lines.
#[must_use]
pub fn binding_lines(w: &ResolvedWorker) -> Vec<String> {
    let mut out = BTreeSet::new();
    for b in &w.d1_databases {
        out.insert(format!(
            "d1 {} -> {}",
            b.binding,
            b.database_name
                .clone()
                .or_else(|| b.database_id.clone())
                .unwrap_or_default()
        ));
    }
    for b in &w.kv_namespaces {
        out.insert(format!(
            "kv {} -> {}",
            b.binding,
            b.id.clone().unwrap_or_default()
        ));
    }
    for b in &w.r2_buckets {
        out.insert(format!(
            "r2 {} -> {}",
            b.binding,
            b.bucket_name.clone().unwrap_or_default()
        ));
    }
    for b in &w.queue_producers {
        out.insert(format!("queue {} -> {}", b.binding, b.queue));
    }
    for c in &w.queue_consumers {
        out.insert(format!("queue consumer -> {}", c.queue));
    }
    for b in &w.durable_objects {
        out.insert(format!(
            "durable_object {} -> {}{}",
            b.name,
            b.class_name,
            b.script_name
                .as_deref()
                .map(|s| format!(" in {s}"))
                .unwrap_or_default()
        ));
    }
    for b in &w.services {
        out.insert(format!(
            "service {} -> {}{}",
            b.binding,
            b.service,
            b.entrypoint
                .as_deref()
                .map(|e| format!("#{e}"))
                .unwrap_or_default()
        ));
    }
    for b in &w.other_bindings {
        out.insert(format!(
            "{} {} -> {}",
            b.kind,
            b.binding,
            b.target.clone().unwrap_or_default()
        ));
    }
    for (name, _) in &w.vars {
        out.insert(format!("var {name}"));
    }
    out.into_iter().collect()
}

/// One difference between two deployments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct Difference {
    pub service: String,
    /// `version`, `compatibility_date`, `binding`, `service`.
    pub what: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What changed from deployment `a` to deployment `b`, service by service.
#[must_use]
pub fn diff(a: &[ServiceSnapshot], b: &[ServiceSnapshot]) -> Vec<Difference> {
    let mut out = Vec::new();
    let names: BTreeSet<&str> = a.iter().chain(b).map(|s| s.service.as_str()).collect();
    for name in names {
        let before = a.iter().find(|s| s.service == name);
        let after = b.iter().find(|s| s.service == name);
        let (before, after) = match (before, after) {
            (Some(x), Some(y)) => (x, y),
            (x, y) => {
                out.push(Difference {
                    service: name.to_owned(),
                    what: "service".into(),
                    before: x.map(|s| s.script.clone()),
                    after: y.map(|s| s.script.clone()),
                });
                continue;
            }
        };
        let mut push = |what: &str, x: Option<String>, y: Option<String>| {
            if x != y {
                out.push(Difference {
                    service: name.to_owned(),
                    what: what.into(),
                    before: x,
                    after: y,
                });
            }
        };
        push(
            "version",
            Some(before.new_version.clone()),
            Some(after.new_version.clone()),
        );
        push(
            "compatibility_date",
            before.compatibility_date.clone(),
            after.compatibility_date.clone(),
        );
        let x: BTreeSet<&String> = before.bindings.iter().collect();
        let y: BTreeSet<&String> = after.bindings.iter().collect();
        for gone in x.difference(&y) {
            push("binding", Some((*gone).clone()), None);
        }
        for added in y.difference(&x) {
            push("binding", None, Some((*added).clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFormat, WranglerConfig};

    fn snap(service: &str, version: &str, bindings: &[&str]) -> ServiceSnapshot {
        ServiceSnapshot {
            service: service.into(),
            script: format!("{service}-w"),
            previous_version: None,
            new_version: version.into(),
            command: "versions_upload".into(),
            compatibility_date: Some("2026-01-01".into()),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            migrations_applied: vec![],
        }
    }

    #[test]
    fn versions_bindings_and_services_that_changed_are_listed() {
        let a = [
            snap("api", "v1", &["d1 DB -> db", "kv CACHE -> k1"]),
            snap("old", "o1", &[]),
        ];
        let mut api2 = snap("api", "v2", &["d1 DB -> db", "queue Q -> jobs"]);
        api2.compatibility_date = Some("2026-06-01".into());
        let b = [api2, snap("web", "w1", &[])];
        let d = diff(&a, &b);
        let has = |what: &str, before: Option<&str>, after: Option<&str>| {
            d.iter().any(|x| {
                x.what == what && x.before.as_deref() == before && x.after.as_deref() == after
            })
        };
        assert!(has("version", Some("v1"), Some("v2")), "{d:?}");
        assert!(has(
            "compatibility_date",
            Some("2026-01-01"),
            Some("2026-06-01")
        ));
        assert!(has("binding", Some("kv CACHE -> k1"), None));
        assert!(has("binding", None, Some("queue Q -> jobs")));
        assert!(has("service", Some("old-w"), None));
        assert!(has("service", None, Some("web-w")));
        assert!(!d.iter().any(|x| x.before.as_deref() == Some("d1 DB -> db")));
    }

    #[test]
    fn identical_deployments_have_no_difference() {
        let a = [snap("api", "v1", &["d1 DB -> db"])];
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn bindings_come_from_the_resolved_config_sorted() {
        let cfg = WranglerConfig::parse(
            r#"
name = "api"
main = "x.js"
[vars]
MODE = "x"
[[d1_databases]]
binding = "DB"
database_name = "app"
database_id = "1111"
[[services]]
binding = "AUTH"
service = "auth"
"#,
            ConfigFormat::Toml,
            "wrangler.toml",
        )
        .unwrap();
        let lines = binding_lines(&cfg.resolve(None).unwrap());
        assert_eq!(
            lines,
            vec!["d1 DB -> app", "service AUTH -> auth", "var MODE"]
        );
    }
}
