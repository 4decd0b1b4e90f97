//! Tests of the `clodo.toml` deploy sections: strategy, health checks, analysis,
//! the refused `[notifications]` and envs.

use crate::config::{
    parse_project, version_override_header, ConfigError, Metric, Outcome, ProjectConfig, Strategy,
    DEFAULT_STEPS,
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
    assert_eq!(
        p.deploy.steps,
        Some(crate::config::Step::traffic(&[5.0, 25.5, 100.0]))
    );
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
    assert_eq!(s.steps, crate::config::Step::traffic(&DEFAULT_STEPS));
    assert_eq!(s.step_wait_secs, 60);
    assert!(s.auto_rollback);
    assert!(s.health_checks.is_empty() && s.analysis.is_empty());
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
        // Channels moved to the control plane: the section is refused with the way to move it.
        ("[notifications]\nslack = \"$SLACK_WEBHOOK_URL\"\n", 3, 2, "channels live on the control plane"),
        ("[env.production.notifications]\nslack = \"$X\"\n", 3, 17, "`[env.production.notifications]` is no longer read"),
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
