//! Reliability suite, bad input (issue 18): property tests over every parser that reads text
//! or bytes from outside — wrangler configs (TOML and JSONC), `clodo.toml`, GitHub webhook and
//! Slack command/interaction payloads with their signature checks, and the API's JSON request
//! bodies. Each must never panic, and must answer garbage with an error, not a success.
//!
//! The quick run (`cargo test`) tries 256 cases per property; `CLODO_PROPTEST_CASES=N` or
//! `CLODO_RELIABILITY_LONG=1` (10,000) raise it for the long run (docs/reliability.md).

use clodo::api::contract::{
    access::AccessSettings,
    assessments::NewAssessment,
    deployments::{ApprovalRequest, NewDeployment, RecordUploads, TransitionRequest},
    env_rollback::RollbackRequest,
    github::GithubSettings,
    locks::{AcquireRequest, ForceUnlockRequest, HolderRequest},
    notify::NewChannel,
    pages_d1::{RecordMigration, RecordPagesDeployment},
    previews::RecordPreview,
    promotions::PromotionRequest,
    rollouts::PromoteVersion,
    schedules::NewSchedule,
    slack::SlackSettings,
    teams::{
        EnvironmentChange, NewCredential, NewEnvironment, NewMember, NewProject, NewService,
        NewTeam, NewToken, ServiceScriptChange,
    },
};
use clodo::api::{parse_json, ErrorCode};
use clodo::config::{parse_project, ConfigFormat, WranglerConfig};
use clodo::control::policy::Policy;
use clodo::integrations::github::event::{classify, repository_of};
use clodo::integrations::signature::{hmac_sha256, to_hex, verify_github};
use clodo::integrations::slack::{self, Click, Command, SlashCommand};
use clodo::rollout::RolloutSettings;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};

/// Cases per property: 256 in the test command, more for the long run.
fn cases() -> u32 {
    if let Some(n) = std::env::var("CLODO_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if std::env::var("CLODO_RELIABILITY_LONG").is_ok_and(|v| v == "1") {
        return 10_000;
    }
    256
}

fn config() -> Config {
    Config {
        cases: cases(),
        // A failure is reported with its shrunk input; nothing is written to the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys wrangler and clodo.toml know, so generated documents reach past the first check.
const WRANGLER_KEYS: &[&str] = &[
    "name",
    "main",
    "compatibility_date",
    "compatibility_flags",
    "account_id",
    "workers_dev",
    "route",
    "routes",
    "vars",
    "kv_namespaces",
    "d1_databases",
    "r2_buckets",
    "queues",
    "durable_objects",
    "migrations",
    "services",
    "env",
    "triggers",
    "assets",
    "ai",
    "analytics_engine_datasets",
    "observability",
];

const PROJECT_KEYS: &[&str] = &[
    "project",
    "name",
    "services",
    "service",
    "deploy",
    "env",
    "strategy",
    "steps",
    "analysis",
    "checks",
    "gradual",
    "metrics",
    "approval",
    "config",
    "depends_on",
    "secrets",
    "pages",
    "health_checks",
    "required_secrets",
];

/// A JSON object whose keys are mostly known config keys, values of any shape.
fn config_like(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => "[a-z_]{1,10}",
    ];
    prop::collection::vec((key, any_json()), 0..8).prop_map(|pairs| {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k, v);
        }
        Value::Object(map)
    })
}

/// TOML text of a JSON object (nulls dropped: TOML has none); `None` for a non-object. Every
/// value is written inline (`key = {…}`), which TOML reads as the same tables and arrays.
fn to_toml(value: &Value) -> Option<String> {
    fn inline(v: &Value) -> Option<String> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            // JSON's string escapes are TOML basic-string escapes.
            Value::String(s) => serde_json::to_string(s).unwrap(),
            Value::Array(a) => format!(
                "[{}]",
                a.iter().filter_map(inline).collect::<Vec<_>>().join(", ")
            ),
            Value::Object(m) => format!(
                "{{{}}}",
                m.iter()
                    .filter_map(|(k, v)| Some(format!(
                        "{} = {}",
                        serde_json::to_string(k).unwrap(),
                        inline(v)?
                    )))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
    let Value::Object(m) = value else { return None };
    Some(
        m.iter()
            .filter_map(|(k, v)| {
                Some(format!(
                    "{} = {}\n",
                    serde_json::to_string(k).unwrap(),
                    inline(v)?
                ))
            })
            .collect(),
    )
}

/// Parses and resolves a wrangler config every way the CLI does; only panics matter here.
fn exercise_wrangler(text: &str, format: ConfigFormat) {
    if let Ok(config) = WranglerConfig::parse(text, format, "wrangler.test") {
        let _ = config.resolve(None);
        for env in config.env_names() {
            let _ = config.resolve(Some(&env));
        }
    }
}

fn exercise_project(text: &str) {
    if let Ok(project) = parse_project(text, "clodo.toml") {
        let _ = project.settings(None);
        for env in &project.envs {
            let _ = project.settings(Some(&env.name));
        }
        let _ = project.deploy_order();
    }
}

proptest! {
    #![proptest_config(config())]

    // ---- config parsers ------------------------------------------------------------------

    #[test]
    fn wrangler_parsers_never_panic_on_any_text(text in ".{0,400}") {
        exercise_wrangler(&text, ConfigFormat::Toml);
        exercise_wrangler(&text, ConfigFormat::Jsonc);
        exercise_wrangler(&text, ConfigFormat::Json);
        exercise_project(&text);
    }

    #[test]
    fn wrangler_configs_of_any_shape_never_panic(doc in config_like(WRANGLER_KEYS)) {
        let json_text = serde_json::to_string_pretty(&doc).unwrap();
        exercise_wrangler(&json_text, ConfigFormat::Jsonc);
        // JSONC with comments and trailing commas is still the same document.
        let jsonc = format!("// generated\n{}", json_text.replacen('{', "{ /* c */", 1));
        exercise_wrangler(&jsonc, ConfigFormat::Jsonc);
        if let Some(toml_text) = to_toml(&doc) {
            exercise_wrangler(&toml_text, ConfigFormat::Toml);
        }
    }

    #[test]
    fn clodo_toml_of_any_shape_never_panics(doc in config_like(PROJECT_KEYS)) {
        if let Some(text) = to_toml(&doc) {
            exercise_project(&text);
        }
    }

    #[test]
    fn broken_config_text_is_an_error(text in "[^}]{0,200}", cut in 0usize..64) {
        // An unclosed object is never a config, whatever it holds.
        let jsonc = format!("{{{text}");
        prop_assert!(WranglerConfig::parse(&jsonc, ConfigFormat::Jsonc, "w.jsonc").is_err());
        // A line with no key is never TOML, wherever it is put.
        let lines: Vec<&str> = text.lines().collect();
        let at = cut.min(lines.len());
        let mut broken = lines[..at].join("\n");
        broken.push_str("\n= \"no key\"\n");
        broken.push_str(&lines[at..].join("\n"));
        prop_assert!(WranglerConfig::parse(&broken, ConfigFormat::Toml, "w.toml").is_err());
        prop_assert!(parse_project(&broken, "clodo.toml").is_err());
    }

    #[test]
    fn a_config_that_is_not_an_object_is_an_error(value in any_json().prop_filter("not an object", |v| !v.is_object())) {
        let text = serde_json::to_string(&value).unwrap();
        let err = WranglerConfig::parse(&text, ConfigFormat::Jsonc, "w.jsonc").unwrap_err();
        prop_assert!(!err.message.is_empty());
    }

    // ---- GitHub webhooks -----------------------------------------------------------------

    #[test]
    fn github_payloads_never_panic(body in prop::collection::vec(any::<u8>(), 0..400),
                                   event in prop::sample::select(vec!["push", "pull_request", "deployment_protection_rule", "ping", "issues", ""])) {
        let _ = repository_of(&body);
        let _ = classify(event, &body, &["main".to_owned(), "release/*".to_owned()], "https://api.github.com", "o/r");
    }

    #[test]
    fn github_payloads_of_any_shape_never_panic(doc in any_json(),
                                                event in prop::sample::select(vec!["push", "pull_request", "deployment_protection_rule"])) {
        let body = serde_json::to_vec(&doc).unwrap();
        let _ = repository_of(&body);
        let _ = classify(event, &body, &["*".to_owned()], "https://api.github.com", "o/r");
    }

    #[test]
    fn github_garbage_for_a_handled_event_is_an_error(body in "[^{\\[]{0,200}",
                                                       event in prop::sample::select(vec!["push", "pull_request", "deployment_protection_rule"])) {
        // Not a JSON object at all (no brace, no bracket): never work to do.
        prop_assert!(classify(event, body.as_bytes(), &["*".to_owned()], "https://api.github.com", "o/r").is_err());
    }

    #[test]
    fn github_signatures_refuse_anything_but_the_mac(secret in "[ -~]{1,40}",
                                                     body in prop::collection::vec(any::<u8>(), 0..300),
                                                     header in proptest::option::of(".{0,80}"),
                                                     flip in 0usize..32) {
        let _ = verify_github(&secret, &body, header.as_deref());
        let good = format!("sha256={}", to_hex(&hmac_sha256(secret.as_bytes(), &body)));
        prop_assert!(verify_github(&secret, &body, Some(&good)).is_ok());
        if header.as_deref() != Some(good.as_str()) {
            prop_assert!(verify_github(&secret, &body, header.as_deref()).is_err());
        }
        // One bit of the MAC changed: refused.
        let mut mac = hmac_sha256(secret.as_bytes(), &body);
        mac[flip] ^= 1;
        let bad = format!("sha256={}", to_hex(&mac));
        prop_assert!(verify_github(&secret, &body, Some(&bad)).is_err());
    }

    // ---- Slack -------------------------------------------------------------------------------

    #[test]
    fn slack_commands_and_clicks_never_panic(body in prop::collection::vec(any::<u8>(), 0..400),
                                             text in ".{0,200}") {
        let _ = SlashCommand::parse(&body);
        let _ = Click::parse(&body);
        let _ = Command::parse(&text);
        let _ = slack::form_field(&body, "payload");
    }

    #[test]
    fn slack_click_garbage_is_an_error(payload in any_json(), raw in ".{0,200}") {
        // A payload of any JSON shape but Slack's, or not JSON at all: never a click.
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("payload", &serde_json::to_string(&payload).unwrap());
        prop_assert!(Click::parse(form.finish().as_bytes()).is_err());
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("payload", &raw);
        prop_assert!(Click::parse(form.finish().as_bytes()).is_err());
    }

    #[test]
    fn slack_unknown_verbs_are_an_error(verb in "[a-z]{1,12}", rest in "[ -~]{0,60}") {
        prop_assume!(!["help", "link", "status", "history", "deploy", "rollback", "approve", "lock", "unlock"].contains(&verb.as_str()));
        let text = format!("{verb} {rest}");
        prop_assert!(Command::parse(&text).is_err());
    }

    #[test]
    fn slack_signatures_refuse_anything_but_the_mac(secret in "[ -~]{1,40}",
                                                    body in prop::collection::vec(any::<u8>(), 0..300),
                                                    ts in proptest::option::of(".{0,20}"),
                                                    sig in proptest::option::of(".{0,80}"),
                                                    now in 1_600_000_000i64..1_900_000_000,
                                                    skew in -1000i64..1000) {
        let _ = slack::verify(&secret, ts.as_deref(), sig.as_deref(), &body, now);
        let at = (now + skew).to_string();
        let mut message = format!("v0:{at}:").into_bytes();
        message.extend_from_slice(&body);
        let good = format!("v0={}", to_hex(&hmac_sha256(secret.as_bytes(), &message)));
        let verdict = slack::verify(&secret, Some(&at), Some(&good), &body, now);
        prop_assert_eq!(verdict.is_ok(), skew.abs() <= slack::MAX_SKEW_SECS);
        if sig.as_deref() != Some(good.as_str()) {
            prop_assert!(slack::verify(&secret, Some(&at), sig.as_deref(), &body, now).is_err());
        }
        // The same MAC over a body one byte longer: refused.
        let mut longer = body.clone();
        longer.push(b'x');
        prop_assert!(slack::verify(&secret, Some(&at), Some(&good), &longer, now).is_err());
    }

    // ---- API request bodies ------------------------------------------------------------------

    #[test]
    fn request_bodies_refuse_bytes_that_are_not_json(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assume!(serde_json::from_slice::<Value>(&bytes).is_err());
        for_every_body(&bytes, &mut |name, result| {
            let err = result.unwrap_or_else(|| panic!("{name} accepted non-JSON bytes {bytes:?}"));
            assert_eq!(err.0, ErrorCode::InvalidJson, "{name}");
            assert!(err.1.contains("line"), "{name}: {}", err.1);
        });
    }

    #[test]
    fn request_bodies_refuse_json_that_is_not_an_object(value in any_json().prop_filter("not an object", |v| !v.is_object())) {
        let bytes = serde_json::to_vec(&value).unwrap();
        for_every_body(&bytes, &mut |name, result| {
            assert!(result.is_some(), "{name} accepted {value}");
        });
    }

    #[test]
    fn request_bodies_refuse_unknown_fields(doc in any_json(), key in "zz_[a-z]{1,8}") {
        // Any object with a field no body has is refused (every body denies unknown fields),
        // whatever else it holds.
        let mut object = Map::new();
        object.insert(key, doc);
        let bytes = serde_json::to_vec(&Value::Object(object)).unwrap();
        for_every_body(&bytes, &mut |name, result| {
            assert!(result.is_some(), "{name} accepted an unknown field");
        });
    }

    #[test]
    fn request_bodies_of_any_shape_never_panic(doc in config_like(BODY_KEYS)) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        for_every_body(&bytes, &mut |_, _| {});
    }
}

/// Field names of the request bodies, so generated objects sometimes get past the first field.
const BODY_KEYS: &[&str] = &[
    "slug",
    "name",
    "admin_email",
    "role",
    "member_email",
    "email",
    "project",
    "environment",
    "services",
    "service",
    "script",
    "holder_id",
    "lease_ms",
    "reason",
    "to",
    "comment",
    "account_id",
    "api_token",
    "kind",
    "url",
    "secret",
    "events",
    "sha",
    "git_ref",
    "strategy",
    "config",
    "files",
    "at",
    "from",
    "version_id",
    "percent",
    "repository",
    "branches",
    "enabled",
    "team_domain",
    "audience",
    "channel",
    "settings",
    "deployment_id",
    "migrations",
    "state",
    "uploads",
    "branch",
    "preview_url",
    "cloudflare_account_id",
    "requires_approval",
];

/// A body's refusal: its error code and message.
type Refusal = (ErrorCode, String);

/// Parses `bytes` as every request body of the API, telling `check` each one's name and,
/// when refused, the error's code and message (`None`: accepted).
fn for_every_body(bytes: &[u8], check: &mut dyn FnMut(&str, Option<Refusal>)) {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {
            $(check(
                stringify!($t),
                parse_json::<$t>(bytes).err().map(|e| (e.code, e.message)),
            );)*
        };
    }
    each!(
        NewTeam,
        NewToken,
        NewMember,
        NewProject,
        NewService,
        NewEnvironment,
        EnvironmentChange,
        ServiceScriptChange,
        NewCredential,
        PromotionRequest,
        RollbackRequest,
        AcquireRequest,
        HolderRequest,
        ForceUnlockRequest,
        NewAssessment,
        NewDeployment,
        TransitionRequest,
        ApprovalRequest,
        RecordUploads,
        NewChannel,
        NewSchedule,
        RecordMigration,
        RecordPagesDeployment,
        RecordPreview,
        PromoteVersion,
        GithubSettings,
        SlackSettings,
        AccessSettings,
        Policy,
        RolloutSettings,
    );
}
