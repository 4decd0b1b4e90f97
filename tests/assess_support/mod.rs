//! Shared helpers of the `clodo assess` tests (tests/assess_cli*.rs): the seeded sandbox, a
//! throwaway project, running the real binary, and reading findings from its JSON report.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use clodo::sandbox::{self, RunningSandbox, SandboxOptions};
use serde_json::Value;

#[path = "../common/mod.rs"]
pub mod common;
pub use common::str_of;
use common::{files_dir, FilesDir};

pub const CLODO: &str = env!("CARGO_BIN_EXE_clodo");

pub fn seed() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/assess/seed.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub async fn start() -> RunningSandbox {
    sandbox::start(SandboxOptions::with_seed_json(seed()))
        .await
        .expect("sandbox starts")
}

/// A throwaway project directory with files, removed on drop.
pub fn project(files: &[(&str, &str)]) -> FilesDir {
    files_dir("assess", files)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
    pub fn kinds(&self) -> BTreeSet<String> {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub async fn assess(dir: &Path, api: Option<&str>, token: &str, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(CLODO);
    cmd.arg("assess").args(args).current_dir(dir);
    // The token ids clodo remembers (src/cli/token_hint.rs) stay with the project under test.
    cmd.env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_BASE_URL")
        .env("XDG_CACHE_HOME", dir.join(".cache"))
        .env("NO_COLOR", "1");
    if let Some(api) = api {
        cmd.env("CLOUDFLARE_API_BASE_URL", api)
            .env("CLOUDFLARE_API_TOKEN", token)
            .env("CLOUDFLARE_ACCOUNT_ID", "acc_a");
    }
    let out: Output = cmd.output().await.expect("clodo runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `clodo assess` in `dir` against the sandbox with its edit token.
pub async fn assess_edit(dir: &Path, sb: &RunningSandbox, args: &[&str]) -> Run {
    assess(dir, Some(&sb.base_url()), "edit-token", args).await
}

pub fn finding<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {report:#}"))
}

pub fn findings_of<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// A config whose every binding, route and secret exists: the precision baseline.
pub const GOOD: &str = include_str!("../fixtures/assess/good.toml");

pub async fn add_fault(sb: &RunningSandbox, rule: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/faults", sb.admin_url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}
