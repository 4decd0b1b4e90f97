//! The resource list and its two renderings.

use super::*;
use crate::config::{ConfigFormat, ResolvedWorker, WranglerConfig};

fn worker(text: &str) -> ResolvedWorker {
    WranglerConfig::parse(text, ConfigFormat::Toml, "wrangler.toml")
        .unwrap()
        .resolve(None)
        .unwrap()
}

const API: &str = r#"
name = "api"
main = "src/worker.ts"
compatibility_date = "2025-01-01"
routes = [{ pattern = "api.example.com/*", zone_id = "z1" }]

[vars]
GREETING = "say \"${hi}\""
LIMITS = { max = 3 }

[[d1_databases]]
binding = "DB"
database_name = "app"
database_id = "d1"

[[queues.consumers]]
queue = "jobs"

[[services]]
binding = "AUTH"
service = "auth"
"#;

fn export(existing: Option<&Existing>) -> (Vec<Resource>, std::collections::BTreeSet<String>) {
    let w = worker(API);
    let services = [ExportService {
        name: "api".into(),
        config_dir: "services/api".into(),
        worker: &w,
    }];
    resources(&services, "acc", existing)
}

#[test]
fn terraform_escapes_templates_and_keeps_values_typed() {
    let (res, inputs) = export(None);
    let tf = terraform(&res, &inputs, true);
    // `${` in a value must not become an HCL interpolation.
    assert!(tf.contains(r#"text = "say \"$${hi}\"""#), "{tf}");
    assert!(tf.contains(r#"json = "{\"max\":3}""#), "{tf}");
    assert!(
        tf.contains(r#"content_file = "services/api/dist/worker.js""#),
        "{tf}"
    );
    assert!(tf.contains("main_module = \"worker.js\""), "{tf}");
    assert!(tf.contains("ttl = 1"), "{tf}");
    assert!(
        tf.contains("queue_id = cloudflare_queue.jobs.queue_id"),
        "{tf}"
    );
    assert!(!tf.contains("import {"), "offline: no imports\n{tf}");
    assert!(inputs.is_empty(), "the zone id is in the config");
}

#[test]
fn existing_resources_carry_import_ids_and_new_ones_do_not() {
    let existing = Existing {
        d1: [("app".to_owned(), "uuid-1".to_owned())]
            .into_iter()
            .collect(),
        scripts: ["api".to_owned()].into_iter().collect(),
        ..Existing::default()
    };
    let (res, _) = export(Some(&existing));
    let import = |kind: &str| {
        res.iter()
            .find(|r| r.kind == kind)
            .and_then(|r| r.import_id.clone())
    };
    assert_eq!(
        import("cloudflare_d1_database").as_deref(),
        Some("acc/uuid-1")
    );
    assert_eq!(
        import("cloudflare_workers_script").as_deref(),
        Some("acc/api")
    );
    assert_eq!(
        import("cloudflare_queue"),
        None,
        "not in the account: created"
    );
    assert_eq!(import("cloudflare_dns_record"), None);
}

#[test]
fn pulumi_uses_the_provider_classes_and_camel_case() {
    let (res, inputs) = export(None);
    let ts = pulumi(&res, &inputs, true);
    assert!(ts.contains("new cloudflare.D1Database(\"app\""), "{ts}");
    assert!(ts.contains("new cloudflare.WorkersScript(\"api\""), "{ts}");
    assert!(ts.contains("new cloudflare.QueueConsumer("), "{ts}");
    assert!(ts.contains("scriptName: \"api\""), "{ts}");
    assert!(
        ts.contains("contentSha256: sha256Of(\"services/api/dist/worker.js\")"),
        "{ts}"
    );
    assert!(ts.contains("id: d1DatabaseApp.id"), "{ts}");
    assert!(!ts.contains("import:"), "{ts}");
}

#[test]
fn resource_names_are_identifiers_and_unique() {
    let a =
        worker("name = \"a\"\nmain = \"i.js\"\n[[kv_namespaces]]\nbinding = \"C\"\nid = \"k1\"\n");
    let b = worker(
        "name = \"a-2\"\nmain = \"i.js\"\n[[kv_namespaces]]\nbinding = \"C\"\nid = \"k1\"\n",
    );
    let services = [
        ExportService {
            name: "a".into(),
            config_dir: String::new(),
            worker: &a,
        },
        ExportService {
            name: "b".into(),
            config_dir: String::new(),
            worker: &b,
        },
    ];
    let (res, _) = resources(&services, "acc", None);
    // One namespace shared by both Workers is declared once.
    assert_eq!(
        res.iter()
            .filter(|r| r.kind == "cloudflare_workers_kv_namespace")
            .count(),
        1
    );
    let names: Vec<&str> = res.iter().map(|r| r.name.as_str()).collect();
    assert!(names
        .iter()
        .all(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')));
    assert!(names.contains(&"a_2"), "{names:?}");
}
