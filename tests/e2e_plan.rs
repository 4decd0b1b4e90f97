//! `clodo plan` and `clodo drift` against an in-process sandbox after changes made behind
//! Clodo's back: a dashboard-style API edit (a cron, a var added to a new version deployed
//! through the API) and a manual `wrangler versions deploy` that leaves a split. Real wrangler
//! deploys the Worker and builds the bundle `clodo plan` compares. Needs no local Worker, but
//! takes a minute of wrangler runs, so it is `#[ignore]`d under a plain `cargo test` and runs
//! beside the other e2e jobs in `tests/e2e.sh`.

mod sandbox_support;

use std::path::Path;

use clodo::sandbox::RunningSandbox;
use sandbox_support::*;
use serde_json::{json, Value};

const CLODO: &str = env!("CARGO_BIN_EXE_clodo");

/// Runs `clodo args…` in `dir` against the sandbox; returns (exit code, stdout as JSON).
async fn clodo(sandbox: &RunningSandbox, dir: &Path, args: &[&str]) -> (i32, Value) {
    clodo_as(sandbox, EDIT_TOKEN, dir, args).await
}

async fn clodo_as(
    sandbox: &RunningSandbox,
    token: &str,
    dir: &Path,
    args: &[&str],
) -> (i32, Value) {
    let home = temp_dir("plan-home");
    let out = tokio::process::Command::new(CLODO)
        .args(args)
        .current_dir(dir)
        .env("HOME", &*home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("CLOUDFLARE_API_BASE_URL", sandbox.base_url())
        .env("CLOUDFLARE_API_TOKEN", token)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("CLODO_WRANGLER", WRANGLER)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("clodo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "clodo {args:?}: stdout is not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// `clodo plan --json --detailed-exitcode`.
async fn run_plan(sandbox: &RunningSandbox, dir: &Path) -> (i32, Value) {
    clodo(sandbox, dir, &["plan", "--json", "--detailed-exitcode"]).await
}

/// `clodo drift --json --detailed-exitcode`.
async fn run_drift(sandbox: &RunningSandbox, dir: &Path) -> (i32, Value) {
    clodo(sandbox, dir, &["drift", "--json", "--detailed-exitcode"]).await
}

fn own(v: &Value) -> String {
    str_of(v).to_owned()
}

fn changes(plan: &Value) -> Vec<(String, String, String)> {
    plan["services"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (own(&c["area"]), own(&c["name"]), own(&c["action"])))
        .collect()
}

fn has(list: &[(String, String, String)], area: &str, name: &str, action: &str) -> bool {
    list.iter()
        .any(|(a, n, x)| a == area && n == name && x == action)
}

fn drift_kinds(drift: &Value) -> Vec<(String, String)> {
    drift["services"][0]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (own(&i["kind"]), own(&i["what"])))
        .collect()
}

fn script(rest: &str) -> String {
    format!("/accounts/{ACCOUNT}/workers/scripts/routed{rest}")
}

#[tokio::test]
#[ignore = "slow (real wrangler against the sandbox): run through tests/e2e.sh"]
async fn plan_and_drift_see_changes_made_behind_clodos_back() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("routed");
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;

    // Freshly deployed: nothing to change, nothing drifted, every check made.
    let (code, plan) = run_plan(&sandbox, &project).await;
    assert_eq!(code, 0, "{plan:#}");
    assert_eq!(plan["changes"], false, "{plan:#}");
    assert_eq!(plan["unknown"], 0, "{plan:#}");
    assert_eq!(plan["services"][0]["new_version"], "no");
    let (code, drift) = run_drift(&sandbox, &project).await;
    assert_eq!(
        (code, drift["drifted"].clone()),
        (0, json!(false)),
        "{drift:#}"
    );

    // A dashboard-style edit through the API: the cron changed, and a var added to a new
    // version that the API then deploys at 100%.
    api.expect(
        200,
        "PUT",
        &script("/schedules"),
        Some(json!([{ "cron": "0 * * * *" }])),
    )
    .await;
    let (status, version) = api
        .send(
            "PATCH",
            &format!("/accounts/{ACCOUNT}/workers/workers/routed/versions/latest"),
            Some(json!({ "env": { "MODE": { "type": "plain_text", "text": "dash" } } })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{version}");
    let edited = own(&version["result"]["id"]);
    api.post_ok(
        &script("/deployments"),
        json!({ "strategy": "percentage", "versions": [{ "version_id": edited, "percentage": 100 }],
                "annotations": { "workers/message": "edited in the dashboard" } }),
    )
    .await;

    let (code, plan) = run_plan(&sandbox, &project).await;
    assert_eq!(code, 2, "{plan:#}");
    let list = changes(&plan);
    assert!(has(&list, "var", "MODE", "remove"), "{list:?}");
    assert!(has(&list, "cron", "*/5 * * * *", "add"), "{list:?}");
    assert!(has(&list, "cron", "0 * * * *", "remove"), "{list:?}");
    // The code is the same bundle: only settings changed.
    assert!(!list.iter().any(|(a, _, _)| a == "code"), "{list:?}");
    // Without --detailed-exitcode a plan with changes exits 0.
    let (code, _) = clodo(&sandbox, &project, &["plan", "--json"]).await;
    assert_eq!(code, 0);

    let (code, drift) = run_drift(&sandbox, &project).await;
    assert_eq!(code, 2, "{drift:#}");
    let kinds = drift_kinds(&drift);
    assert!(
        kinds.contains(&("setting".into(), "var MODE".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("trigger".into(), "cron 0 * * * *".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|(k, _)| k == "outside_deployment"),
        "{kinds:?}"
    );
    let fixes: Vec<String> = drift["services"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| own(&i["reconcile"]))
        .collect();
    assert!(fixes.iter().all(|f| f == "clodo deploy"), "{fixes:?}");
    assert_eq!(drift["recorded_deployments"], false);

    // Put it back with wrangler, then a manual `wrangler versions deploy` of an edited bundle
    // at 40% leaves a split behind.
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;
    let (code, plan) = run_plan(&sandbox, &project).await;
    assert_eq!(code, 0, "{plan:#}");
    let deployments = api.result(&script("/deployments")).await;
    let old = own(&deployments["deployments"][0]["versions"][0]["version_id"]);
    let src = project.join("src/index.js");
    let code_text = std::fs::read_to_string(&src).unwrap();
    std::fs::write(
        &src,
        code_text.replace("select 1 as one", "select 2 as one"),
    )
    .unwrap();
    let uploaded = wrangler_ok(&sandbox, &project, &["versions", "upload"], None).await;
    let new = uploaded
        .lines()
        .find_map(|l| {
            l.split_once("Worker Version ID:")
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no version id in:\n{uploaded}"));
    let split = [format!("{old}@60"), format!("{new}@40")];
    wrangler_ok(
        &sandbox,
        &project,
        &[
            "versions", "deploy", &split[0], &split[1], "-y", "--name", "routed",
        ],
        None,
    )
    .await;

    let (code, drift) = run_drift(&sandbox, &project).await;
    assert_eq!(code, 2, "{drift:#}");
    let kinds = drift_kinds(&drift);
    assert!(kinds.iter().any(|(k, _)| k == "split"), "{kinds:?}");
    // wrangler made it: not an outside (dashboard/API) deployment.
    assert!(
        !kinds.iter().any(|(k, _)| k == "outside_deployment"),
        "{kinds:?}"
    );

    let (code, plan) = run_plan(&sandbox, &project).await;
    assert_eq!(code, 2, "{plan:#}");
    let list = changes(&plan);
    // The local source differs from the version serving most traffic (the old one).
    assert!(has(&list, "code", "routed", "change"), "{list:?}");
    assert!(
        list.iter().any(|(a, _, x)| a == "traffic" && x == "change"),
        "{list:?}"
    );
    assert_eq!(plan["services"][0]["new_version"], "yes");
}

#[tokio::test]
#[ignore = "slow (real wrangler against the sandbox): run through tests/e2e.sh"]
async fn a_plan_for_a_worker_not_yet_deployed_creates_it_and_a_refused_read_is_unknown() {
    let sandbox = start_seeded().await;
    let project = worker_project("routed");
    let (code, plan) = run_plan(&sandbox, &project).await;
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(plan["services"][0]["action"], "create");
    let list = changes(&plan);
    assert!(has(&list, "binding", "DB", "add"), "{list:?}");
    assert!(
        has(&list, "custom_domain", "shop.example.com", "add"),
        "{list:?}"
    );
    assert!(has(&list, "cron", "*/5 * * * *", "add"), "{list:?}");

    // Deployed, then planned with a token that cannot read zones, routes, KV or R2: those
    // checks are unknown, never "no change", and the detailed exit code is 2.
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;
    let (code, plan) = clodo_as(
        &sandbox,
        "account-token",
        &project,
        &["plan", "--json", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(plan["changes"], false, "{plan:#}");
    assert!(plan["unknown"].as_u64().unwrap() > 0, "{plan:#}");
    let list = changes(&plan);
    assert!(
        list.iter()
            .any(|(a, _, x)| a == "custom_domain" && x == "unknown"),
        "{list:?}"
    );
}
