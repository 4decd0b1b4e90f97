//! Tests of parsing and resolution across both formats: inheritance, `<name>-<env>`,
//! non-inherited bindings, route forms, type errors with positions, warnings and problems.

mod project_deploy;
mod project_schema;

use super::{ConfigFormat, ResolvedWorker, WranglerConfig};

fn toml(text: &str) -> WranglerConfig {
    WranglerConfig::parse(text, ConfigFormat::Toml, "wrangler.toml")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn jsonc(text: &str) -> WranglerConfig {
    WranglerConfig::parse(text, ConfigFormat::Jsonc, "wrangler.jsonc")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn kinds(w: &ResolvedWorker) -> Vec<&'static str> {
    w.problems.iter().map(|p| p.kind).collect()
}

const TOML: &str = r#"name = "shop-api"
main = "src/index.ts"
compatibility_date = "2025-01-15"
compatibility_flags = ["nodejs_compat"]
account_id = "acc"
route = { pattern = "api.example.com/*", zone_name = "example.com" }

[vars]
MODE = "dev"

[[d1_databases]]
binding = "DB"
database_name = "shop"
database_id = "1111"

[[kv_namespaces]]
binding = "CACHE"
id = "kv1"

[[durable_objects.bindings]]
name = "ROOMS"
class_name = "Room"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Room"]

[[migrations]]
tag = "v2"
renamed_classes = [{ from = "Room", to = "Chat" }]

[secrets]
required = ["STRIPE_KEY"]

[triggers]
crons = ["*/5 * * * *"]

[env.staging]
workers_dev = true

[[env.staging.d1_databases]]
binding = "DB"
database_name = "shop-staging"
database_id = "2222"

[env.production]
name = "shop-api-prod"
routes = ["shop.example.com/*", { pattern = "api.shop.com", custom_domain = true }]
"#;

#[test]
fn toml_top_level() {
    let cfg = toml(TOML);
    assert_eq!(cfg.env_names(), vec!["staging", "production"]);
    let w = cfg.resolve(None).unwrap();
    assert_eq!(w.name.as_deref(), Some("shop-api"));
    assert_eq!(w.main.as_deref(), Some("src/index.ts"));
    assert_eq!(w.compatibility_flags, vec!["nodejs_compat"]);
    assert_eq!(w.routes.len(), 1);
    assert_eq!(w.routes[0].zone_name.as_deref(), Some("example.com"));
    assert_eq!(w.routes[0].location.line, Some(6));
    assert_eq!(w.d1_databases[0].database_id.as_deref(), Some("1111"));
    assert_eq!(w.d1_databases[0].location.key_path, "d1_databases[0]");
    assert_eq!(w.d1_databases[0].location.line, Some(11));
    assert_eq!(w.kv_namespaces[0].binding, "CACHE");
    assert_eq!(w.durable_objects[0].class_name, "Room");
    assert_eq!(w.migrations.len(), 2);
    assert_eq!(
        w.migrations[1].renamed_classes,
        vec![("Room".to_owned(), "Chat".to_owned())]
    );
    assert_eq!(w.vars[0].0, "MODE");
    assert_eq!(w.secrets_required[0].0, "STRIPE_KEY");
    assert_eq!(w.crons, vec!["*/5 * * * *"]);
    assert!(w.not_inherited.is_empty());
    assert!(w.problems.is_empty(), "{:?}", w.problems);
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
}

#[test]
fn env_inherits_and_drops_bindings() {
    let cfg = toml(TOML);
    let s = cfg.resolve(Some("staging")).unwrap();
    assert_eq!(s.env.as_deref(), Some("staging"));
    assert_eq!(s.name.as_deref(), Some("shop-api-staging"));
    assert_eq!(s.name_location.as_ref().unwrap().line, Some(1));
    // Inheritable: from the top level unless the env sets it.
    assert_eq!(s.main.as_deref(), Some("src/index.ts"));
    assert_eq!(s.account_id.as_deref(), Some("acc"));
    assert_eq!(s.workers_dev, Some(true));
    assert_eq!(s.routes.len(), 1);
    assert_eq!(s.crons.len(), 1);
    assert_eq!(s.migrations.len(), 2);
    // Non-inheritable: only the env's own.
    assert_eq!(s.d1_databases.len(), 1);
    assert_eq!(s.d1_databases[0].database_id.as_deref(), Some("2222"));
    assert_eq!(
        s.d1_databases[0].location.key_path,
        "env.staging.d1_databases[0]"
    );
    assert!(s.kv_namespaces.is_empty() && s.durable_objects.is_empty() && s.vars.is_empty());
    assert!(s.secrets_required.is_empty());
    let missing: Vec<&str> = s.not_inherited.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        missing,
        vec!["vars", "secrets", "durable_objects", "kv_namespaces"]
    );
    let kv = s
        .not_inherited
        .iter()
        .find(|n| n.key == "kv_namespaces")
        .unwrap();
    assert_eq!(kv.top_level_location.line, Some(16));

    let p = cfg.resolve(Some("production")).unwrap();
    assert_eq!(p.name.as_deref(), Some("shop-api-prod"));
    assert_eq!(p.routes.len(), 2, "env routes replace the top-level route");
    assert_eq!(p.routes[0].pattern, "shop.example.com/*");
    assert!(p.routes[1].custom_domain);
    assert_eq!(p.routes[1].location.key_path, "env.production.routes[1]");
    assert!(p.d1_databases.is_empty());
}

#[test]
fn unknown_env_lists_known_ones() {
    let err = toml(TOML).resolve(Some("prod")).unwrap_err();
    assert!(err.message.contains("`prod`"));
    assert!(err.message.contains("staging, production"), "{err}");
    assert_eq!(err.key_path.as_deref(), Some("env.prod"));
    let err = toml("name = \"a\"").resolve(Some("x")).unwrap_err();
    assert!(err.message.contains("defined: none"), "{err}");
}

const JSONC: &str = r#"// wrangler.jsonc
{
  "$schema": "node_modules/wrangler/config-schema.json",
  "name": "Shop_API", /* uppercase on purpose */
  "main": "src/index.ts",
  "compatibility_date": "2025-02-30",
  "routes": [
    "a.example.com/*",
    { "pattern": "b.example.com/*", "zone_id": "z1" },
  ],
  "kv_namespaces": [{ "binding": "DB", "id": "k" }],
  "d1_databases": [{ "binding": "DB", "database_name": "x" }, { "database_name": "y" }],
  "hyperdrive": [{ "binding": "HD", "id": "h1" }],
  "ai": { "binding": "AI" },
  "queues": {
    "producers": [{ "binding": "Q", "queue": "jobs" }],
    "consumers": [{ "queue": "jobs", "dead_letter_queue": "dlq" }],
  },
  "services": [{ "binding": "AUTH", "service": "auth", "entrypoint": "Rpc" }],
  "env": {
    "preview": { "vars": { "X": "1" } },
  },
}
"#;

#[test]
fn jsonc_bindings_and_problems() {
    let cfg = jsonc(JSONC);
    let w = cfg.resolve(None).unwrap();
    assert_eq!(w.routes.len(), 2);
    assert_eq!(w.routes[1].zone_id.as_deref(), Some("z1"));
    assert_eq!(w.routes[1].location.line, Some(9));
    assert_eq!(w.queue_producers[0].queue, "jobs");
    assert_eq!(
        w.queue_consumers[0].dead_letter_queue.as_deref(),
        Some("dlq")
    );
    assert_eq!(w.services[0].entrypoint.as_deref(), Some("Rpc"));
    let hd = w
        .other_bindings
        .iter()
        .find(|b| b.kind == "hyperdrive")
        .unwrap();
    assert_eq!(
        (hd.binding.as_str(), hd.target.as_deref()),
        ("HD", Some("h1"))
    );
    assert!(w
        .other_bindings
        .iter()
        .any(|b| b.kind == "ai" && b.binding == "AI"));
    // Uppercase name, impossible date, a D1 entry without binding, `DB` bound twice.
    let k = kinds(&w);
    assert!(k.contains(&"name_invalid"), "{k:?}");
    assert!(k.contains(&"compatibility_date_invalid"), "{k:?}");
    assert_eq!(
        k.iter().filter(|k| **k == "config_invalid").count(),
        2,
        "{:?}",
        w.problems
    );
    let date = w
        .problems
        .iter()
        .find(|p| p.kind == "compatibility_date_invalid")
        .unwrap();
    assert_eq!(
        (date.location.line, date.location.column),
        (Some(6), Some(3))
    );
    let no_binding = w
        .problems
        .iter()
        .find(|p| p.message.contains("no `binding`"))
        .unwrap();
    assert_eq!(no_binding.location.key_path, "d1_databases[1]");
    assert_eq!(
        w.d1_databases.len(),
        1,
        "the entry without binding is left out"
    );
    assert!(
        w.warnings.is_empty(),
        "$schema is a known key: {:?}",
        w.warnings
    );

    let p = cfg.resolve(Some("preview")).unwrap();
    assert_eq!(p.name.as_deref(), Some("Shop_API-preview"));
    let missing: Vec<&str> = p.not_inherited.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(
        missing,
        vec![
            "kv_namespaces",
            "d1_databases",
            "queues",
            "services",
            "hyperdrive",
            "ai"
        ]
    );
}

#[test]
fn type_errors_carry_position_and_expectation() {
    let err = toml("name = \"a\"\nd1_databases = \"DB\"\n")
        .resolve(None)
        .unwrap_err();
    assert_eq!((err.line, err.column), (Some(2), Some(1)));
    assert_eq!(err.key_path.as_deref(), Some("d1_databases"));
    assert_eq!(err.expected.as_deref(), Some("an array of tables"));
    assert_eq!(
        err.to_string(),
        "wrangler.toml:2:1: `d1_databases` is a string (expected an array of tables)"
    );

    let err = jsonc("{\n  \"kv_namespaces\": [{ \"binding\": 3 }]\n}")
        .resolve(None)
        .unwrap_err();
    assert_eq!(err.key_path.as_deref(), Some("kv_namespaces[0].binding"));
    assert_eq!((err.line, err.column), (Some(2), Some(23)));
    assert_eq!(err.expected.as_deref(), Some("a string"));

    let err =
        WranglerConfig::parse("{\"env\": []}", ConfigFormat::Json, "wrangler.json").unwrap_err();
    assert_eq!(err.key_path.as_deref(), Some("env"));
    let err = WranglerConfig::parse("[1]", ConfigFormat::Json, "wrangler.json").unwrap_err();
    assert_eq!(err.expected.as_deref(), Some("an object"));
    let err = WranglerConfig::parse("name = \n", ConfigFormat::Toml, "wrangler.toml").unwrap_err();
    assert_eq!(err.line, Some(1));
}

#[test]
fn route_forms() {
    let single_str = toml("route = \"a.com/*\"").resolve(None).unwrap();
    assert_eq!(single_str.routes[0].pattern, "a.com/*");
    let single_obj = jsonc(r#"{"routes": {"pattern": "b.com", "custom_domain": true}}"#)
        .resolve(None)
        .unwrap();
    assert!(single_obj.routes[0].custom_domain);
    assert_eq!(
        single_obj.warnings.len(),
        1,
        "a lone object under `routes` is flagged"
    );
    let both = toml("route = \"a.com/*\"\nroutes = [\"b.com/*\"]")
        .resolve(None)
        .unwrap();
    assert_eq!(both.routes.len(), 2);
    assert!(both
        .problems
        .iter()
        .any(|p| p.message.contains("both `route` and `routes`")));
    let bad = toml("routes = [{ pattern = \"*.a.com/x\", custom_domain = true }]")
        .resolve(None)
        .unwrap();
    assert!(bad
        .problems
        .iter()
        .any(|p| p.message.contains("custom domain")));
    let empty = toml("route = \"\"").resolve(None).unwrap();
    assert!(empty.routes.is_empty());
    let err = toml("routes = 3").resolve(None).unwrap_err();
    assert_eq!(err.key_path.as_deref(), Some("routes"));
}

#[test]
fn warnings_for_legacy_and_misplaced_keys() {
    let w = toml(
        "name = \"a\"\ntype = \"webpack\"\nmain = \"i.js\"\ncompatibility_date = \"2024-01-01\"\n[dev]\nport = 1\nvars = { A = \"1\" }\n[[d1_databases]]\nbinding = \"DB\"\ntail_consumers = [{ service = \"t\" }]\n",
    )
    .resolve(None)
    .unwrap();
    let msgs: Vec<&str> = w.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("`type`"));
    assert!(msgs[1].contains("`dev.vars`"));
    assert!(msgs[2].contains("`tail_consumers` is inside `d1_databases[0]`"));
    assert_eq!(w.warnings[2].location.line, Some(10));
    assert!(w.problems.is_empty(), "{:?}", w.problems);
}

#[test]
fn main_name_and_pages() {
    let w = toml("name = \"a\"\ncompatibility_date = \"2024-01-01\"")
        .resolve(None)
        .unwrap();
    assert_eq!(kinds(&w), vec!["main_missing"]);
    let assets = toml(
        "name = \"a\"\ncompatibility_date = \"2024-01-01\"\nassets = { directory = \"public\" }",
    )
    .resolve(None)
    .unwrap();
    assert!(assets.problems.is_empty() && assets.has_assets);
    let pages = toml("name = \"a\"\npages_build_output_dir = \"dist\"")
        .resolve(None)
        .unwrap();
    assert!(
        pages.is_pages && pages.problems.is_empty(),
        "{:?}",
        pages.problems
    );
    let long = toml(&format!(
        "name = \"{}\"\nmain = \"i.js\"\ncompatibility_date = \"2024-01-01\"\n[env.production]\n",
        "a".repeat(55)
    ));
    assert!(long.resolve(None).unwrap().problems.is_empty());
    let p = long.resolve(Some("production")).unwrap();
    assert_eq!(
        kinds(&p),
        vec!["name_invalid"],
        "66 characters once `-production` is appended"
    );
    assert!(p.problems[0].message.contains("<name>-production"));
}

#[test]
fn vars_missing_in_env_are_listed_apart() {
    let w = toml("name = \"a\"\n[vars]\nA = \"1\"\nB = \"2\"\n[env.p.vars]\nA = \"3\"\n")
        .resolve(Some("p"))
        .unwrap();
    assert!(w.not_inherited.is_empty());
    assert_eq!(w.vars_missing_in_env.len(), 1);
    assert_eq!(w.vars_missing_in_env[0].key, "vars.B");
    assert_eq!(w.vars_missing_in_env[0].top_level_location.line, Some(4));
}
