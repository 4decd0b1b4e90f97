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
