//! Tests of parsing and resolution across both formats: inheritance, `<name>-<env>`,
//! non-inherited bindings, route forms, type errors with positions, warnings and problems.

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

// ---- clodo.toml deploy sections: strategy, health checks, analysis, notifications, envs ----

mod project_deploy {
    use crate::config::{
        parse_project, version_override_header, ChannelKind, ConfigError, Metric, NotifyEvent,
        Outcome, ProjectConfig, Strategy, UrlSource, DEFAULT_STEPS,
    };

    fn parse(text: &str) -> ProjectConfig {
        parse_project(text, "clodo.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(text: &str) -> ConfigError {
        match parse_project(text, "clodo.toml") {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    const SERVICES: &str = "project = \"shop\"\n[[services]]\nname = \"api\"\nconfig = \"api\"\nrequired_secrets = [\"STRIPE_KEY\"]\n[[services]]\nname = \"web\"\nconfig = \"web\"\n";

    /// The same services on one line, so keys written after them are top-level keys.
    const INLINE: &str = "project = \"shop\"\nservices = [{ name = \"api\", config = \"api\" }, { name = \"web\", config = \"web\" }]\n";

    const FULL: &str = r#"project = "shop"
required_secrets = ["SENTRY_DSN"]

[[services]]
name = "api"
config = "api"
required_secrets = ["STRIPE_KEY"]

[[services]]
name = "web"
config = "web"

[deploy]
strategy = "gradual"
steps = [5, 25.5, 100]
step_wait_secs = 120

[[health_checks]]
name = "api health"
service = "api"
url = "https://shop-api.example.com/healthz"
method = "post"
headers = { Authorization = "Bearer x" }
body = "{}"
expect_status = [200, 204]
expect_body_contains = "ok"
max_latency_ms = 800

[[analysis]]
metric = "error_rate"
condition = "< 0.05"
interval_secs = 30
count = 4
failure_limit = 1
inconclusive_limit = 2

[[analysis]]
name = "latency"
metric = "p99_latency_ms"
service = "web"
condition = "<= 500"
failure_condition = "> 2000"

[notifications]
slack = "$SLACK_WEBHOOK_URL"
discord = ["https://discord.com/api/webhooks/1/abc"]
webhook = "http://127.0.0.1:9999/hook"
events = ["failed", "rolled_back"]

[env.staging.deploy]
strategy = "immediate"

[env.production]
required_secrets = ["PROD_ONLY", "SENTRY_DSN"]

[env.production.deploy]
strategy = "blue-green"
auto_rollback = false

[[env.production.health_checks]]
service = "web"
url = "https://shop.example.com/"
"#;

    #[test]
    fn full_file_parses_with_defaults() {
        let p = parse(FULL);
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert!(p.extra.is_empty());
        assert_eq!(p.deploy.strategy, Some(Strategy::Gradual));
        assert_eq!(p.deploy.steps, Some(vec![5.0, 25.5, 100.0]));
        let c = &p.health_checks[0];
        assert_eq!(c.name, "api health");
        assert_eq!(c.method, "POST");
        assert_eq!(c.expect_status, vec![200, 204]);
        assert_eq!(c.timeout_ms, 10_000);
        assert!(c.version_override);
        assert_eq!(c.headers["Authorization"], "Bearer x");
        assert_eq!(c.location.line, Some(18));
        let a = &p.analysis[0];
        assert_eq!(a.metric, Metric::ErrorRate);
        assert_eq!(a.condition.unwrap().to_string(), "< 0.05");
        assert_eq!(
            (
                a.interval_secs,
                a.count,
                a.failure_limit,
                a.inconclusive_limit
            ),
            (30, 4, 1, 2)
        );
        let b = &p.analysis[1];
        assert_eq!(b.name, "latency");
        assert_eq!(b.service.as_deref(), Some("web"));
        assert_eq!(
            (
                b.interval_secs,
                b.count,
                b.failure_limit,
                b.inconclusive_limit
            ),
            (60, 3, 0, 0)
        );
        let n = &p.notifications;
        assert_eq!(n.channels.len(), 3);
        assert_eq!(n.channels[0].kind, ChannelKind::Slack);
        assert_eq!(
            n.channels[0].url,
            UrlSource::Env("SLACK_WEBHOOK_URL".into())
        );
        assert_eq!(n.channels[1].location.key_path, "notifications.discord[0]");
        assert_eq!(n.events, vec![NotifyEvent::Failed, NotifyEvent::RolledBack]);
        let names: Vec<&str> = p.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["staging", "production"]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["analysis"][0]["condition"], "< 0.05");
        assert_eq!(json["deploy"]["strategy"], "gradual");
        assert_eq!(json["envs"][1]["deploy"]["strategy"], "blue-green");
    }

    #[test]
    fn env_settings_merge_over_the_top_level() {
        let p = parse(FULL);
        let top = p.settings(None);
        assert_eq!(top.strategy, Strategy::Gradual);
        assert_eq!(top.traffic_steps(), vec![5.0, 25.5, 100.0]);
        assert_eq!(top.step_wait_secs, 120);
        assert!(top.auto_rollback);

        let staging = p.settings(Some("staging"));
        assert_eq!(staging.strategy, Strategy::Immediate);
        assert_eq!(staging.traffic_steps(), vec![100.0]);
        assert_eq!(staging.health_checks.len(), 1, "inherited");
        assert_eq!(staging.analysis.len(), 2);

        let prod = p.settings(Some("production"));
        assert_eq!(prod.strategy, Strategy::BlueGreen);
        assert_eq!(prod.traffic_steps(), vec![0.0, 100.0]);
        assert!(!prod.auto_rollback);
        assert_eq!(prod.step_wait_secs, 120, "merged key by key");
        assert_eq!(prod.health_checks.len(), 1, "replaced");
        assert_eq!(prod.health_checks[0].name, "GET https://shop.example.com/");
        assert_eq!(prod.required_secrets, vec!["SENTRY_DSN", "PROD_ONLY"]);
        assert_eq!(
            p.required_secrets_for("api", Some("production")),
            vec!["STRIPE_KEY", "SENTRY_DSN", "PROD_ONLY"]
        );
        assert_eq!(p.required_secrets_for("web", None), vec!["SENTRY_DSN"]);

        // An env the file does not mention gets the top level.
        assert_eq!(p.settings(Some("qa")).strategy, Strategy::Gradual);
        // --strategy blue-green where no check reaches the new version is refused.
        let err = p.settings(Some("qa")).with_strategy(Strategy::BlueGreen);
        assert!(err.is_ok(), "the top-level check names a service");
        let bare = parse(SERVICES);
        let err = bare
            .settings(Some("qa"))
            .with_strategy(Strategy::BlueGreen)
            .unwrap_err();
        assert!(err.contains("health check"), "{err}");
    }

    #[test]
    fn defaults_without_deploy_sections() {
        let p = parse(SERVICES);
        let s = p.settings(Some("production"));
        assert_eq!(s.strategy, Strategy::Immediate);
        assert_eq!(s.steps, DEFAULT_STEPS.to_vec());
        assert_eq!(s.step_wait_secs, 60);
        assert!(s.auto_rollback);
        assert!(s.health_checks.is_empty() && s.analysis.is_empty());
        assert!(s.notifications.channels.is_empty());
        assert_eq!(s.notifications.events.len(), NotifyEvent::ALL.len());
        let g = parse(&format!("{SERVICES}[deploy]\nstrategy = \"gradual\"\n"));
        assert_eq!(g.settings(None).traffic_steps(), vec![10.0, 50.0, 100.0]);
    }

    #[test]
    fn unknown_top_level_and_service_keys_warn_and_are_kept() {
        let p = parse(&format!(
            "{SERVICES}health_check = \"/h\"\n[strategy]\nkind = \"canary\"\n"
        ));
        assert_eq!(p.extra["strategy"]["kind"], "canary");
        let msgs: Vec<String> = p.warnings.iter().map(|w| w.message.clone()).collect();
        assert_eq!(p.warnings.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("`health_check`"), "{msgs:?}");
        assert_eq!(p.warnings[0].location.line, Some(9));
        assert!(msgs[1].contains("`strategy`"), "{msgs:?}");
        assert_eq!(p.warnings[1].location.line, Some(10));
    }

    /// Each bad input gives (line, column, a fragment of the message).
    #[test]
    fn errors_point_at_the_key() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("[deploy]\nstrategy = \"canary\"\n", 4, 1, "unknown strategy \"canary\""),
            ("[deploy]\nsteps = [10, 5, 100]\n", 4, 14, "does not increase"),
            ("[deploy]\nsteps = [10, 50]\n", 4, 14, "never finish"),
            ("[deploy]\nsteps = [0, 100]\n", 4, 10, "out of range"),
            ("[deploy]\nsteps = []\n", 4, 1, "is empty"),
            ("[deploy]\nstep_wait_secs = -1\n", 4, 1, "the number -1"),
            ("[deploy]\nstep_wait_secs = 1.5\n", 4, 1, "the number 1.5"),
            ("[deploy]\nauto_rollback = \"yes\"\n", 4, 1, "a string (\"yes\")"),
            ("[deploy]\nstratgy = \"gradual\"\n", 4, 1, "unknown key `stratgy` in `deploy`"),
            ("[[health_checks]]\nurl = \"https://x\"\nexpect_stauts = 200\n", 5, 1, "unknown key `expect_stauts`"),
            ("[[health_checks]]\nmethod = \"GET\"\n", 3, 1, "has no `url`"),
            ("[[health_checks]]\nurl = \"ftp://x\"\n", 4, 1, "scheme `ftp`"),
            ("[[health_checks]]\nurl = \"https://\"\n", 4, 1, "has no host"),
            ("[[health_checks]]\nurl = \"https://x:99999/\"\n", 4, 1, "invalid port"),
            ("[[health_checks]]\nurl = \"https://x\"\nmethod = \"FETCH\"\n", 5, 1, "unknown HTTP method"),
            ("[[health_checks]]\nurl = \"https://x\"\nexpect_status = 700\n", 5, 1, "the number 700"),
            ("[[health_checks]]\nurl = \"https://x\"\nexpect_status = [200, \"2xx\"]\n", 5, 23, "a string (\"2xx\")"),
            ("[[health_checks]]\nurl = \"https://x\"\nservice = \"db\"\n", 5, 1, "`db`, which is not a service"),
            ("[[health_checks]]\nurl = \"https://x\"\nheaders = { \"a b\" = \"c\" }\n", 5, 13, "not a valid HTTP header name"),
            ("[[health_checks]]\nurl = \"https://x\"\n[[health_checks]]\nurl = \"https://x\"\n", 5, 1, "two health checks"),
            ("[[analysis]]\nmetric = \"cpu\"\ncondition = \"< 1\"\n", 4, 1, "unknown metric \"cpu\""),
            ("[[analysis]]\nmetric = \"requests\"\n", 3, 1, "has no `condition`"),
            ("[[analysis]]\nmetric = \"requests\"\ncondition = \"about 5\"\n", 5, 1, "does not start with a comparison"),
            ("[[analysis]]\nmetric = \"requests\"\ncondition = \">= lots\"\n", 5, 1, "\"lots\" is not a number"),
            ("[[analysis]]\nmetric = \"error_rate\"\ncondition = \"< 5\"\n", 5, 1, "fraction from 0 to 1"),
            ("[[analysis]]\nmetric = \"requests\"\ncondition = \">= 1\"\ncount = 0\n", 6, 1, "the number 0"),
            ("[notifications]\nslack = \"https://example.com/hook\"\n", 4, 1, "not a Slack incoming webhook URL"),
            ("[notifications]\ndiscord = [\"https://discord.com/channels/1\"]\n", 4, 12, "not a Discord webhook URL"),
            ("[notifications]\nwebhook = \"http://hooks.example.com/x\"\n", 4, 1, "is not https"),
            ("[notifications]\nwebhook = \"$1BAD\"\n", 4, 1, "not a valid environment variable"),
            ("[notifications]\nwebhook = 5\n", 4, 1, "the number 5"),
            ("[notifications]\nevents = [\"done\"]\n", 4, 11, "unknown event \"done\""),
            ("[notifications]\nteams = \"x\"\n", 4, 1, "unknown key `teams`"),
            ("required_secrets = [\"\"]\n", 3, 21, "is empty"),
            ("[env.production]\nstrategy = \"gradual\"\n", 4, 1, "belongs in [env.production.deploy]"),
            ("[env.production]\nhealth = 1\n", 4, 1, "unknown key `health` in `env.production`"),
            ("[env.production.deploy]\nsteps = [50]\n", 4, 10, "never finish"),
            ("env = 3\n", 3, 1, "`env` is not a table"),
            ("[deploy]\nstrategy = \"blue-green\"\n", 4, 1, "needs a health check with `service`"),
            ("[[health_checks]]\nurl = \"https://x\"\n[env.prod.deploy]\nstrategy = \"blue-green\"\n", 6, 1, "for env `prod` needs a health check"),
            ("[[health_checks]]\nurl = \"https://x\"\nservice = \"api\"\nversion_override = false\n[deploy]\nstrategy = \"blue-green\"\n", 8, 1, "needs a health check"),
        ];
        // All mismatches at once, so one run shows every wrong position.
        let mut wrong = Vec::new();
        for (tail, line, column, fragment) in cases {
            let e = err(&format!("{INLINE}{tail}"));
            let ok = e.message.contains(fragment)
                && (e.line, e.column) == (Some(*line), Some(*column))
                && e.to_string()
                    .starts_with(&format!("clodo.toml:{line}:{column}: "))
                && e.expected.is_some();
            if !ok {
                wrong.push(format!(
                    "{tail:?} (wanted {line}:{column} {fragment:?}): {e}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn blue_green_with_a_pinned_check_in_its_env_is_accepted() {
        let p = parse(&format!(
            "{SERVICES}[deploy]\nstrategy = \"gradual\"\n[env.prod.deploy]\nstrategy = \"blue_green\"\n[[env.prod.health_checks]]\nservice = \"web\"\nurl = \"http://127.0.0.1:8787/\"\n"
        ));
        assert_eq!(p.settings(Some("prod")).strategy, Strategy::BlueGreen);
        assert_eq!(p.settings(None).strategy, Strategy::Gradual);
    }

    #[test]
    fn conditions_and_measurement_outcomes() {
        let p = parse(&format!(
            "{SERVICES}[[analysis]]\nmetric = \"error_rate\"\ncondition = \"<0.05\"\n[[analysis]]\nmetric = \"requests\"\ncondition = \">= 100\"\nfailure_condition = \"< 1\"\n[[analysis]]\nmetric = \"p99_latency_ms\"\nfailure_condition = \"> 900\"\n"
        ));
        let [rate, reqs, lat] = &p.analysis[..] else {
            panic!("three entries")
        };
        assert_eq!(rate.evaluate(Some(0.01)), Outcome::Successful);
        assert_eq!(rate.evaluate(Some(0.05)), Outcome::Failed);
        assert_eq!(rate.evaluate(None), Outcome::Inconclusive);
        assert_eq!(rate.evaluate(Some(f64::NAN)), Outcome::Inconclusive);
        assert_eq!(reqs.evaluate(Some(150.0)), Outcome::Successful);
        assert_eq!(reqs.evaluate(Some(40.0)), Outcome::Inconclusive);
        assert_eq!(reqs.evaluate(Some(0.0)), Outcome::Failed);
        assert_eq!(lat.evaluate(Some(901.0)), Outcome::Failed);
        assert_eq!(lat.evaluate(Some(100.0)), Outcome::Successful);

        use crate::config::Condition;
        for (text, x, holds) in [
            ("<= 5", 5.0, true),
            ("< 5", 5.0, false),
            (">=1e2", 100.0, true),
            ("> -1", 0.0, true),
            ("== 0", 0.0, true),
            ("!= 0", 0.0, false),
        ] {
            let c = Condition::parse(text).unwrap();
            assert_eq!(c.holds(x), holds, "{text} on {x}");
        }
        assert!(Condition::parse("< inf").is_err());
        assert!(Condition::parse("=< 3").is_err());
    }

    #[test]
    fn health_check_headers_and_verdicts() {
        assert_eq!(
            version_override_header("shop-api", "8f2c0000-0000-4000-8000-000000000001"),
            (
                "Cloudflare-Workers-Version-Overrides",
                "shop-api=\"8f2c0000-0000-4000-8000-000000000001\"".to_owned()
            )
        );
        let p = parse(FULL);
        let c = &p.health_checks[0];
        let h = c.request_headers(Some(("shop-api-production", "v-1")));
        assert_eq!(h[0], ("Authorization".into(), "Bearer x".into()));
        assert_eq!(h[1].1, "shop-api-production=\"v-1\"");
        assert_eq!(c.request_headers(None).len(), 1);
        assert!(c.accepts(204, "all ok", 100).is_ok());
        assert!(c
            .accepts(500, "ok", 100)
            .unwrap_err()
            .contains("status 500, expected 200 or 204"));
        assert!(c
            .accepts(200, "nope", 100)
            .unwrap_err()
            .contains("does not contain"));
        assert!(c.accepts(200, "ok", 801).unwrap_err().contains("801 ms"));
    }

    #[test]
    fn accepted_keys_cover_what_the_parser_reads() {
        // Every key of the full example is accepted by its table's list (the JSON Schema test
        // compares the same lists with schemas/clodo.schema.json).
        let keys = crate::config::accepted_keys();
        let of = |t: &str| keys.iter().find(|(n, _)| *n == t).unwrap().1;
        for k in ["strategy", "steps", "step_wait_secs", "auto_rollback"] {
            assert!(of("deploy").contains(&k));
        }
        assert!(of("").contains(&"env"));
        assert!(of("health_checks").contains(&"version_override"));
        assert!(of("analysis").contains(&"inconclusive_limit"));
    }
}

// ---- schemas/clodo.schema.json: in step with the parser, and the example validates ----

mod project_schema {
    use serde_json::{Map, Value};

    use crate::config::{accepted_keys, tomlsrc};

    const SCHEMA: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/clodo.schema.json"
    ));
    const EXAMPLE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/shop/clodo.toml"
    ));

    fn schema() -> Value {
        serde_json::from_str(SCHEMA).expect("the schema is JSON")
    }

    fn toml(text: &str) -> Value {
        tomlsrc::parse(text, "clodo.toml")
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    /// Resolves a local `$ref` (`#/$defs/service/properties/config`).
    fn follow<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let target = r
                    .strip_prefix('#')
                    .and_then(|p| root.pointer(p))
                    .unwrap_or_else(|| panic!("unresolved $ref {r}"));
                follow(root, target)
            }
            None => s,
        }
    }

    /// A structural validator for the keywords the schema uses: type, properties,
    /// additionalProperties, required, enum, const, items, minItems, contains, minimum,
    /// maximum, exclusiveMinimum, minLength, oneOf, anyOf, $ref. `pattern` is left to editors
    /// (no regex engine in the pure core); the parser's own tests cover those values.
    fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
        let s = follow(root, schema);
        // Siblings of a `$ref` in this schema are annotations (descriptions, defaults) only.
        let mut fail = |m: String| errors.push(format!("{path}: {m}"));
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let ok = types.iter().any(|t| match *t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "number" => v.is_number(),
                "integer" => v.is_u64() || v.is_i64(),
                "null" => v.is_null(),
                _ => false,
            });
            if !ok {
                fail(format!("{v} is not of type {t}"));
                return;
            }
        }
        if let Some(Value::Array(allowed)) = s.get("enum") {
            if !allowed.contains(v) {
                fail(format!("{v} is not one of {allowed:?}"));
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                fail(format!("{v} is not {c}"));
            }
        }
        if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
            if x < min {
                fail(format!("{x} < {min}"));
            }
        }
        if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
            if x > max {
                fail(format!("{x} > {max}"));
            }
        }
        if let (Some(min), Some(x)) = (
            s.get("exclusiveMinimum").and_then(Value::as_f64),
            v.as_f64(),
        ) {
            if x <= min {
                fail(format!("{x} <= {min}"));
            }
        }
        if let (Some(min), Some(text)) = (s.get("minLength").and_then(Value::as_u64), v.as_str()) {
            if (text.chars().count() as u64) < min {
                fail(format!("{text:?} is shorter than {min}"));
            }
        }
        if let Value::Object(obj) = v {
            validate_object(root, s, obj, path, errors);
        }
        if let Value::Array(items) = v {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    errors.push(format!("{path}: fewer than {min} items"));
                }
            }
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(root, item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
            if let Some(c) = s.get("contains") {
                let any = items.iter().any(|item| {
                    let mut e = Vec::new();
                    validate(root, c, item, path, &mut e);
                    e.is_empty()
                });
                if !any {
                    errors.push(format!("{path}: no item matches `contains`"));
                }
            }
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(Value::Array(options)) = s.get(keyword) {
                let passing = options
                    .iter()
                    .filter(|o| {
                        let mut e = Vec::new();
                        validate(root, o, v, path, &mut e);
                        e.is_empty()
                    })
                    .count();
                if passing == 0 || (exactly_one && passing > 1) {
                    errors.push(format!("{path}: {passing} of the {keyword} options match"));
                }
            }
        }
    }

    fn validate_object(
        root: &Value,
        s: &Value,
        obj: &Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = s.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{path}: `{r}` is required"));
                }
            }
        }
        for (k, item) in obj {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match (
                props.and_then(|ps| ps.get(k)),
                s.get("additionalProperties"),
            ) {
                (Some(ps), _) => validate(root, ps, item, &p, errors),
                (None, Some(Value::Bool(false))) => {
                    errors.push(format!("{path}: unknown key `{k}`"));
                }
                (None, Some(extra)) if extra.is_object() => validate(root, extra, item, &p, errors),
                (None, _) => {}
            }
        }
    }

    fn errors_of(doc: &Value) -> Vec<String> {
        let root = schema();
        let mut errors = Vec::new();
        validate(&root, &root, doc, "", &mut errors);
        errors
    }

    #[test]
    fn the_schema_is_draft_2020_12() {
        let s = schema();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(s["type"], "object");
    }

    #[test]
    fn schema_properties_match_the_parser_keys() {
        let s = schema();
        let table_schema = |table: &str| -> Value {
            let at = match table {
                "" => "",
                "project" => "/properties/project/oneOf/1",
                "services" => "/$defs/service",
                "health_checks" => "/$defs/health_check",
                other => return s["$defs"][other].clone(),
            };
            s.pointer(at).unwrap().clone()
        };
        for (table, keys) in accepted_keys() {
            let ts = table_schema(table);
            let mut in_schema: Vec<&str> = ts["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("no properties for `{table}`"))
                .keys()
                .map(String::as_str)
                .collect();
            let mut in_parser: Vec<&str> = keys.to_vec();
            in_schema.sort_unstable();
            in_parser.sort_unstable();
            assert_eq!(in_schema, in_parser, "table `{table}`");
            assert_eq!(
                ts["additionalProperties"], false,
                "`{table}` flags unknown keys"
            );
        }
        // The [services.NAME] form takes the same keys.
        let named: Vec<&String> = s["$defs"]["named_service"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let entry: Vec<&String> = s["$defs"]["service"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(named, entry);
        // Enumerations agree with the parser's.
        use crate::config::{Metric, NotifyEvent, Strategy};
        for st in Strategy::ALL {
            assert!(
                s["$defs"]["strategy"]["enum"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from(st.as_str())),
                "{st}"
            );
        }
        let metrics = &s["$defs"]["analysis"]["properties"]["metric"]["enum"];
        assert_eq!(metrics.as_array().unwrap().len(), Metric::ALL.len());
        for m in Metric::ALL {
            assert!(metrics
                .as_array()
                .unwrap()
                .contains(&Value::from(m.as_str())));
        }
        let events = &s["$defs"]["notifications"]["properties"]["events"]["items"]["enum"];
        let events: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let parser: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(events, parser);
    }

    #[test]
    fn the_example_and_a_full_file_validate() {
        let errors = errors_of(&toml(EXAMPLE));
        assert!(errors.is_empty(), "examples/shop/clodo.toml: {errors:#?}");
        // The example parses too (the schema and the parser agree on it).
        crate::config::parse_project(EXAMPLE, "examples/shop/clodo.toml")
            .unwrap_or_else(|e| panic!("{e}"));
        let table_form = toml(
            "\"$schema\" = \"../schemas/clodo.schema.json\"\n[project]\nname = \"x\"\n[services.web]\nconfig = \"web\"\n[env.production.deploy]\nstrategy = \"immediate\"\n",
        );
        assert!(
            errors_of(&table_form).is_empty(),
            "{:?}",
            errors_of(&table_form)
        );
    }

    #[test]
    fn the_validator_catches_what_editors_should_flag() {
        let cases = [
            (
                "project = \"p\"\nservices = [{ name = \"a\" }]\n",
                "services: 0 of the oneOf options match",
            ),
            (
                "project = \"p\"\n[deploy]\nstratgy = \"gradual\"\n",
                "unknown key `stratgy`",
            ),
            (
                "project = \"p\"\n[deploy]\nstrategy = \"canary\"\n",
                "is not one of",
            ),
            (
                "project = \"p\"\n[deploy]\nsteps = [10, 50]\n",
                "no item matches",
            ),
            ("project = \"p\"\n[deploy]\nsteps = [0, 100]\n", "0 <= 0"),
            (
                "project = \"p\"\n[[analysis]]\nmetric = \"error_rate\"\n",
                "anyOf",
            ),
            (
                "project = \"p\"\n[[health_checks]]\nurl = \"https://x\"\nexpect_status = 700\n",
                "oneOf",
            ),
            (
                "project = \"p\"\n[notifications]\nevents = [\"done\"]\n",
                "is not one of",
            ),
            (
                "project = \"p\"\n[env.prod]\nstrategy = \"gradual\"\n",
                "unknown key `strategy`",
            ),
            ("[deploy]\n", "`project` is required"),
        ];
        for (text, fragment) in cases {
            let errors = errors_of(&toml(text));
            assert!(
                errors.iter().any(|e| e.contains(fragment)),
                "{text:?}: {errors:?}"
            );
            // And the parser refuses (or, for a missing project, errors) on each of them too.
            assert!(
                crate::config::parse_project(text, "clodo.toml").is_err(),
                "{text:?}"
            );
        }
    }
}
