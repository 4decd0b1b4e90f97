//! The command tree is machine-friendly: every leaf command that prints a result takes
//! `--json`, and every command that may ask a question takes `--yes`. Walks clap's own
//! definition, so a new command is checked the day it is added.

use clap::CommandFactory;

use super::Cli;

/// Leaves without `--json`, each with why.
const NO_JSON: &[(&str, &str)] = &[
    (
        "sandbox",
        "a server, not a result: it prints its two URLs and serves until stopped",
    ),
    (
        "calendar",
        "its output is iCalendar (RFC 5545), already a machine format for calendar apps",
    ),
    (
        "openapi",
        "hidden; its output is the OpenAPI JSON document itself",
    ),
];

/// Commands that can ask for a confirmation on a terminal.
const ASKS: &[&str] = &["deploy", "rollback", "promote", "init", "lock force-unlock"];

/// Every command that runs on its own: one without subcommands, or one with its own
/// arguments besides them (`clodo deliveries [--channel C]` lists, `deliveries show ID` shows).
fn leaves(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
    let own_args = cmd
        .get_arguments()
        .any(|a| !matches!(a.get_id().as_str(), "help" | "version"));
    if cmd.get_subcommands().next().is_none() || own_args {
        out.push((path.to_owned(), cmd.clone()));
    }
    // clap's generated `help` subcommand (after `build`) only prints usage.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = sub.get_name();
        let child = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path} {name}")
        };
        leaves(sub, &child, out);
    }
}

fn all_leaves() -> Vec<(String, clap::Command)> {
    // Built, so that global arguments (`deliveries --json`) reach the subcommands.
    let mut cli = Cli::command();
    cli.build();
    let mut out = Vec::new();
    leaves(&cli, "", &mut out);
    out.retain(|(path, _)| !path.is_empty());
    out
}

fn takes(cmd: &clap::Command, id: &str) -> bool {
    cmd.get_arguments().any(|a| a.get_id() == id)
}

#[test]
fn every_leaf_that_prints_a_result_takes_json() {
    let leaves = all_leaves();
    assert!(leaves.len() > 40, "the walk found {} leaves", leaves.len());
    let missing: Vec<&str> = leaves
        .iter()
        .filter(|(path, cmd)| !takes(cmd, "json") && !NO_JSON.iter().any(|(name, _)| name == path))
        .map(|(path, _)| path.as_str())
        .collect();
    assert!(missing.is_empty(), "leaves without --json: {missing:?}");
}

#[test]
fn the_exceptions_are_real_leaves_without_json() {
    let leaves = all_leaves();
    for (name, why) in NO_JSON {
        assert!(!why.is_empty());
        let (_, cmd) = leaves
            .iter()
            .find(|(path, _)| path == name)
            .unwrap_or_else(|| panic!("`{name}` is listed as an exception but is not a leaf"));
        assert!(
            !takes(cmd, "json"),
            "`{name}` takes --json now: drop the exception"
        );
    }
}

#[test]
fn every_command_that_can_ask_takes_yes() {
    let leaves = all_leaves();
    for name in ASKS {
        let (_, cmd) = leaves
            .iter()
            .find(|(path, _)| path == name)
            .unwrap_or_else(|| panic!("no command `{name}`"));
        assert!(takes(cmd, "yes"), "`{name}` asks but has no --yes");
    }
}
