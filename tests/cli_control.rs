//! The control-plane CLI commands' local behaviour, without a server: login checks, config
//! resolution, confirmation for destructive actions and exit codes (2 = local problem,
//! 1 = the API could not be reached or refused). The API round trips are in e2e_control.rs.

use std::process::Command;

fn clodo(home: &std::path::Path, envs: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clodo"));
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("CLODO_TOKEN")
        .env_remove("CLODO_API_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("clodo runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_home(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clodo-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const TOKEN: &str = "clodo_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[test]
fn commands_need_a_login() {
    let home = temp_home("nologin");
    let (code, err) = clodo(
        &home,
        &[],
        &["lock", "status", "--project", "p", "--env", "e"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not logged in"), "{err}");
    assert!(
        err.ends_with("see: docs/troubleshooting.md#not_logged_in\n"),
        "{err}"
    );
    let (code, err) = clodo(&home, &[], &["history"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn errors_link_their_troubleshooting_section_under_the_documented_base() {
    let home = temp_home("docsurl");
    let (code, err) = clodo(
        &home,
        &[
            ("CLODO_TOKEN", TOKEN),
            ("CLODO_API_URL", "http://127.0.0.1:1"),
            ("CLODO_DOCS_URL", "https://docs.example/clodo/"),
        ],
        &["history"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("error: cannot reach http://127.0.0.1:1"),
        "{err}"
    );
    assert!(
        err.ends_with("see: https://docs.example/clodo/troubleshooting.md#api_unreachable\n"),
        "{err}"
    );
    // clap's own usage errors get the link after clap's message.
    let (code, err) = clodo(&home, &[], &["history", "--no-such-flag"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.ends_with("see: docs/troubleshooting.md#usage\n"),
        "{err}"
    );
}

#[test]
fn login_refuses_a_non_clodo_token_and_an_unreachable_api() {
    let home = temp_home("login");
    let (code, err) = clodo(&home, &[], &["login", "--token", "ghp_abc"]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = clodo(
        &home,
        &[],
        &["login", "--api-url", "http://127.0.0.1:1", "--token", TOKEN],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach"), "{err}");
    assert!(
        !home.join("config/clodo/config.json").exists(),
        "nothing is stored for a token that was not verified"
    );
}

#[test]
fn force_unlock_asks_for_confirmation() {
    let home = temp_home("force");
    let (code, err) = clodo(
        &home,
        &[
            ("CLODO_TOKEN", TOKEN),
            ("CLODO_API_URL", "http://127.0.0.1:1"),
        ],
        &[
            "lock",
            "force-unlock",
            "--project",
            "p",
            "--env",
            "e",
            "--reason",
            "x",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(
        err.contains("see: docs/troubleshooting.md#not_confirmed"),
        "{err}"
    );
}

#[test]
fn audit_export_json_summary_needs_an_output_file() {
    let home = temp_home("audit");
    let (code, err) = clodo(
        &home,
        &[("CLODO_TOKEN", TOKEN)],
        &["audit", "export", "--json"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--output"), "{err}");
}
