//! Unit tests of the `clodo.toml` parser: services, tables, dependencies.

use std::path::{Path, PathBuf};

use super::*;

const PROJECT: &str = r#"
project = "shop"

[strategy]
kind = "canary"

[[services]]
name = "api"
config = "services/api"
required_secrets = ["STRIPE_KEY"]
depends_on = ["auth"]
health_check = "/healthz"

[[services]]
name = "auth"
config = "services/auth/wrangler.jsonc"
"#;

#[test]
fn parses_services_and_keeps_unknown_sections() {
    let p = parse_project(PROJECT, "clodo.toml").unwrap();
    assert_eq!(p.project, "shop");
    assert_eq!(p.services.len(), 2);
    assert_eq!(p.services[0].required_secrets, vec!["STRIPE_KEY"]);
    assert_eq!(p.services[0].extra["health_check"], "/healthz");
    assert_eq!(p.extra["strategy"]["kind"], "canary");
    assert_eq!(p.services[0].location.line, Some(7));
    assert_eq!(p.deploy_order(), vec!["auth", "api"]);
    assert_eq!(
        p.services[1].config_path(Path::new("/repo/clodo.toml")),
        PathBuf::from("/repo/services/auth/wrangler.jsonc")
    );
}

#[test]
fn table_form_and_project_table() {
    let p = parse_project(
        "[project]\nname = \"x\"\n[services.web]\nconfig = \"web\"\n",
        "clodo.toml",
    )
    .unwrap();
    assert_eq!(p.project, "x");
    assert_eq!(p.services[0].name, "web");
}

#[test]
fn rejects_unknown_dependency_and_cycles_with_position() {
    let err = parse_project(
        "project = \"p\"\n[[services]]\nname = \"a\"\nconfig = \"a\"\ndepends_on = [\"nope\"]\n",
        "clodo.toml",
    )
    .unwrap_err();
    assert_eq!(err.line, Some(5));
    assert!(err.message.contains("`nope`"), "{err}");

    let err = parse_project(
        "project = \"p\"\n[[services]]\nname = \"a\"\nconfig = \"a\"\ndepends_on = [\"b\"]\n[[services]]\nname = \"b\"\nconfig = \"b\"\ndepends_on = [\"a\"]\n",
        "clodo.toml",
    )
    .unwrap_err();
    assert!(err.message.contains("cycle"), "{err}");

    let err = parse_project("[[services]]\nname = \"a\"\n", "clodo.toml").unwrap_err();
    assert!(err.message.contains("no `project`"), "{err}");
    let err = parse_project(
        "project = \"p\"\n[[services]]\nname = \"a\"\n",
        "clodo.toml",
    )
    .unwrap_err();
    assert_eq!(err.line, Some(2));
}

/// Issue 13: gates in `steps`, the deadline terms and the new analysis keys, with clear
/// errors for what cannot work.
#[test]
fn steps_take_gates_and_the_analysis_takes_its_new_keys() {
    let text = r#"
project = "shop"
[[services]]
name = "api"
config = "services/api"
[deploy]
strategy = "gradual"
steps = [10, {pause = true}, 50, {pause = 600}, 100]
progress_deadline_secs = 900
on_deadline = "pause"
max_pause_secs = 7200
[[analysis]]
metric = "error_rate"
condition = "< baseline * 1.5 + 0.01"
min_requests = 50
consecutive_error_limit = 2
background = true
"#;
    let p = parse_project(text, "clodo.toml").unwrap();
    let s = p.settings(None);
    assert_eq!(s.traffic_steps(), vec![10.0, 50.0, 100.0]);
    assert_eq!(
        Step::gates(&s.steps).unwrap(),
        vec![None, Some(Pause::Manual), Some(Pause::Secs(600))]
    );
    assert_eq!(
        (s.progress_deadline_secs, s.on_deadline, s.max_pause_secs),
        (900, OnDeadline::Pause, 7200)
    );
    let m = &s.analysis[0];
    assert!(m.uses_baseline() && m.background);
    assert_eq!((m.min_requests, m.consecutive_error_limit), (50, 2));
    // Defaults.
    let plain = parse_project("project = \"p\"\n", "clodo.toml").unwrap();
    let d = plain.settings(None);
    assert_eq!(
        (d.progress_deadline_secs, d.on_deadline, d.max_pause_secs),
        (1800, OnDeadline::Abort, 86_400)
    );
    for (bad, says) in [
        (
            "steps = [10, {pause = false}, 100]",
            "`pause = false` is no gate",
        ),
        ("steps = [10, {wait = 5}, 100]", "unknown key `wait`"),
        (
            "steps = [10, 100, {pause = true}]",
            "after the last percentage",
        ),
        (
            "steps = [10, {pause = true}, {pause = 5}, 100]",
            "two pauses in a row",
        ),
        ("on_deadline = \"rollback\"", "unknown on_deadline"),
        ("progress_deadline_secs = 10", "at least 60"),
        (
            "step_wait_secs = 3600",
            "`progress_deadline_secs` 1800: a step takes at least 3600 s",
        ),
    ] {
        let text = format!("project = \"p\"\n[deploy]\nstrategy = \"gradual\"\n{bad}\n");
        let err = parse_project(&text, "clodo.toml").unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}
