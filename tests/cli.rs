//! The `clodo` binary answers `--version` and `--help` like a well-behaved CLI.

use std::process::Command;

fn clodo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clodo"))
        .args(args)
        .output()
        .expect("clodo runs")
}

#[test]
fn version_prints_the_package_version() {
    let out = clodo(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("clodo {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_subcommands() {
    let out = clodo(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Usage: clodo"), "{help}");
    assert!(help.contains("sandbox"), "{help}");
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_with_exit_code_2() {
    let out = clodo(&["deploy-everything-now"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

#[test]
fn export_json_lists_the_resources_and_carries_the_program() {
    let dir = std::env::temp_dir().join(format!("clodo-cli-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/index.js"), "export default {}\n").unwrap();
    std::fs::write(
        dir.join("wrangler.toml"),
        "name = \"api\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-01-01\"\n\n\
         [[kv_namespaces]]\nbinding = \"CACHE\"\nid = \"0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
    let export = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_clodo"))
            .arg("export")
            .args(args)
            .args(["--offline", "--json", "-c", "wrangler.toml"])
            .current_dir(&dir)
            .env_remove("CLOUDFLARE_API_TOKEN")
            .output()
            .expect("clodo runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        out
    };
    let out = export(&["terraform"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON only");
    assert_eq!(v["target"], "terraform");
    assert_eq!(v["offline"], true);
    assert!(v["file"].is_null());
    let types: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "cloudflare_workers_kv_namespace",
            "cloudflare_workers_script"
        ]
    );
    assert!(v["source"]
        .as_str()
        .unwrap()
        .contains("resource \"cloudflare_workers_script\" \"api\""));

    // With -o the program goes to the file and the JSON names it.
    let out = export(&["pulumi", "-o", "iac"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["target"], "pulumi");
    assert_eq!(v["file"], "iac/index.ts");
    assert!(v["source"].is_null());
    assert!(dir.join("iac/index.ts").exists());
}

#[test]
fn errors_are_plain_without_a_terminal_even_when_colour_is_asked() {
    // Not a terminal: no escape codes, whatever NO_COLOR says.
    for no_color in ["", "1"] {
        let out = Command::new(env!("CARGO_BIN_EXE_clodo"))
            .args(["assess", "-c", "/nonexistent/wrangler.toml"])
            .env("NO_COLOR", no_color)
            .output()
            .expect("clodo runs");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!err.contains('\u{1b}'), "{err:?}");
        assert!(err.starts_with("error: clodo assess: "), "{err}");
        assert!(
            err.ends_with("see: docs/troubleshooting.md#not_assessed\n"),
            "{err}"
        );
    }
}
