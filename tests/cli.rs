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
