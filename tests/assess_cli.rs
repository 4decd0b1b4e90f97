//! End-to-end tests of `clodo assess`: the real binary against a sandbox Cloudflare API seeded
//! with `tests/fixtures/assess/seed.json`: every remote gap with its fix, checks that could not
//! be made, write permissions, and `clodo deploy` stopping on them. The baseline, local checks,
//! exit codes and output formats are in tests/assess_cli_report.rs.

mod assess_support;

use std::path::Path;
use std::process::Output;

use assess_support::*;
use serde_json::json;

#[tokio::test]
async fn every_remote_gap_is_found_with_its_fix_and_location() {
    let sb = start().await;
    let config = include_str!("fixtures/assess/gaps.toml");
    let p = project(&[("wrangler.toml", config), ("src/index.js", "")]);
    let run = assess_edit(&p.0, &sb, &["--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["ready"], false);
    let expected = [
        "d1_missing",
        "d1_name_mismatch",
        "kv_missing",
        "r2_missing",
        "queue_missing",
        "service_missing",
        "service_entrypoint_missing",
        "do_class_missing",
        "do_migration_missing",
        "do_migration_pending",
        "secret_missing",
        "var_secret_clash",
        "route_conflict",
        "zone_missing",
        "zone_inactive",
        "custom_domain_conflict",
    ];
    let kinds = run.kinds();
    for kind in expected {
        assert!(kinds.contains(kind), "missing {kind} in {report:#}");
    }
    assert!(!kinds.contains("inconclusive"), "{report:#}");

    let d1 = finding(&report, "d1_missing");
    assert_eq!(d1["severity"], "error");
    assert_eq!(d1["service"], "api");
    assert!(
        d1["location"]["file"]
            .as_str()
            .unwrap()
            .ends_with("wrangler.toml"),
        "{d1}"
    );
    assert!(d1["location"]["line"].as_u64().is_some(), "{d1}");
    assert!(
        str_of(&d1["fix"]).contains("11111111-1111-4111-8111-111111111111"),
        "{d1}"
    );
    assert!(finding(&report, "r2_missing")["fix"]
        .as_str()
        .unwrap()
        .contains("wrangler r2 bucket create"));
    let r2_fixes: Vec<&str> = findings_of(&report, "r2_missing")
        .iter()
        .map(|f| f["fix"].as_str().unwrap())
        .collect();
    assert!(
        r2_fixes.contains(&"wrangler r2 bucket create assets -J eu"),
        "{r2_fixes:?}"
    );
    assert_eq!(
        finding(&report, "queue_missing")["fix"],
        "wrangler queues create no-such-queue"
    );
    assert_eq!(
        finding(&report, "secret_missing")["fix"],
        "wrangler secret put MISSING_ONE"
    );
    assert_eq!(findings_of(&report, "secret_missing").len(), 1);
    assert!(finding(&report, "service_entrypoint_missing")["message"]
        .as_str()
        .unwrap()
        .contains("Admin"));
    assert!(finding(&report, "do_migration_missing")["message"]
        .as_str()
        .unwrap()
        .contains("Ghost"));
    assert_eq!(finding(&report, "do_migration_pending")["severity"], "info");
    assert_eq!(findings_of(&report, "custom_domain_conflict").len(), 2);
    // A non-interactive wrangler deploy would replace the secret with the var: an error.
    let clash = finding(&report, "var_secret_clash");
    assert_eq!(clash["severity"], "error", "{clash}");
    assert!(str_of(&clash["message"]).contains("`SHARED`"));
    let taken = findings_of(&report, "custom_domain_conflict")
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("other-worker"))
        .expect("the hostname attached to another Worker");
    assert_eq!(taken["severity"], "error");
    assert!(finding(&report, "route_conflict")["message"]
        .as_str()
        .unwrap()
        .contains("other-worker"));
}

#[tokio::test]
async fn unanswerable_checks_are_inconclusive_never_missing() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    // D1 answers 503 every time: the D1 check cannot be answered.
    add_fault(&sb, json!({ "kind": "server_error", "status": 503, "path": "/client/v4/accounts/*/d1/database" })).await;
    // The queue list hangs past the per-call timeout? Too slow for a test; drop the connection.
    add_fault(
        &sb,
        json!({ "kind": "drop", "path": "/client/v4/accounts/*/queues" }),
    )
    .await;
    let run = assess_edit(&p.0, &sb, &["--json"]).await;
    let report = run.json();
    let inconclusive = findings_of(&report, "inconclusive");
    assert!(
        inconclusive
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("D1 binding `DB`")),
        "{report:#}"
    );
    assert!(
        inconclusive
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("queue `jobs`")),
        "{report:#}"
    );
    assert!(!run.kinds().contains("d1_missing") && !run.kinds().contains("queue_missing"));
    // A check that could not be made never passes as ready.
    assert_eq!(run.code, 1, "{report:#}");
    assert_eq!(report["ready"], false);
    assert!(report["unverified"].as_u64().unwrap() >= 2, "{report:#}");
    for f in &inconclusive {
        assert_eq!(f["unverified"], true, "{f}");
        assert!(str_of(&f["fix"]).contains("--allow-inconclusive"), "{f}");
    }
    let human = assess_edit(&p.0, &sb, &[]).await;
    assert!(
        human.stdout.contains("unverified [inconclusive]")
            && human.stdout.contains("not ready: 0 errors"),
        "{}",
        human.stdout
    );

    // Opting out explicitly: ready, the findings stay, and the report says why it is ready.
    let run = assess_edit(&p.0, &sb, &["--json", "--allow-inconclusive"]).await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["ready"], true);
    assert_eq!(report["inconclusive_allowed"], true);
    assert!(!findings_of(&report, "inconclusive").is_empty());
    assert!(
        run.stderr.contains("--allow-inconclusive"),
        "{}",
        run.stderr
    );
    // Errors still block with the flag.
    let bad = project(&[
        ("wrangler.toml", &GOOD.replace("jobs", "no-such-queue")),
        ("src/index.js", ""),
    ]);
    let sb2 = start().await;
    add_fault(&sb2, json!({ "kind": "server_error", "status": 503, "path": "/client/v4/accounts/*/d1/database" })).await;
    let run = assess_edit(&bad.0, &sb2, &["--json", "--allow-inconclusive"]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["ready"], false);

    // A token without D1 read: the permission to add is named, and the report is not ready.
    let sb = start().await;
    let run = assess(&p.0, Some(&sb.base_url()), "no-d1-token", &["--json"]).await;
    let report = run.json();
    assert_eq!(report["capabilities"]["d1"], false);
    let missing = finding(&report, "token_missing_permission");
    assert!(
        str_of(&missing["fix"]).contains("Account · D1 · Read"),
        "{missing}"
    );
    assert!(
        str_of(&missing["message"]).contains("D1 binding `DB`"),
        "{missing}"
    );
    assert_eq!(missing["unverified"], true);
    assert!(
        findings_of(&report, "inconclusive").is_empty(),
        "{report:#}"
    );
    assert_eq!(run.code, 1, "{report:#}");
}

#[tokio::test]
async fn write_permissions_are_checked_when_the_token_can_read_its_policies() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    // Reads its own policies; routes only as Read: the deploy's route write would fail.
    let run = assess(&p.0, Some(&sb.base_url()), "introspect-token", &["--json"]).await;
    let report = run.json();
    assert_eq!(run.code, 1, "{report:#}");
    assert_eq!(report["write_access"]["state"], "missing", "{report:#}");
    assert_eq!(
        report["write_access"]["missing"],
        json!(["Zone · Workers Routes · Edit"])
    );
    let f = finding(&report, "token_missing_permission");
    assert_eq!(f["severity"], "error");
    assert!(str_of(&f["fix"]).contains("Zone · Workers Routes · Edit"));
    // Every needed write granted: verified.
    let run = assess(
        &p.0,
        Some(&sb.base_url()),
        "full-introspect-token",
        &["--json"],
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(report["write_access"]["state"], "verified");
    assert_eq!(
        report["write_access"]["needed"],
        json!([
            "Account · Queues · Edit",
            "Account · Workers Scripts · Edit",
            "Zone · Workers Routes · Edit"
        ])
    );
    // The usual token cannot read its policies: write access is said to be unverified.
    let run = assess_edit(&p.0, &sb, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("write access: unverified"),
        "{}",
        run.stdout
    );
}

/// The paths of the sandbox's request log, then cleared.
async fn requested_paths(sb: &clodo::sandbox::RunningSandbox) -> Vec<String> {
    let http = reqwest::Client::new();
    let log: serde_json::Value = http
        .get(format!("{}/requests", sb.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    http.delete(format!("{}/requests", sb.admin_url()))
        .send()
        .await
        .unwrap();
    log["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(&e["path"]).to_owned())
        .collect()
}

#[tokio::test]
async fn the_token_id_is_remembered_without_the_token_and_a_stale_one_costs_nothing_but_a_call() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let cache = p.0.join(".cache/clodo/token-ids.json");
    let policies = "/client/v4/user/tokens/tok_full_introspect";
    let verified = |run: &Run| {
        let report = run.json();
        assert_eq!(run.code, 0, "{report:#}");
        assert_eq!(report["write_access"]["state"], "verified", "{report:#}");
    };

    // First assessment: the id comes from verify; remembered under a hash, never the token.
    let first = assess(
        &p.0,
        Some(&sb.base_url()),
        "full-introspect-token",
        &["--json"],
    )
    .await;
    verified(&first);
    let text = std::fs::read_to_string(&cache).expect("the token id is remembered");
    assert!(text.contains(r#""id":"tok_full_introspect""#), "{text}");
    assert!(!text.contains("full-introspect-token"), "{text}");
    let first_paths = requested_paths(&sb).await;
    assert_eq!(first_paths.iter().filter(|p| *p == policies).count(), 1);

    // Second: the policies are read once, with the remembered id, and the verdict is the same.
    let second = assess(
        &p.0,
        Some(&sb.base_url()),
        "full-introspect-token",
        &["--json"],
    )
    .await;
    verified(&second);
    let second_paths = requested_paths(&sb).await;
    assert_eq!(second_paths.iter().filter(|p| *p == policies).count(), 1);
    assert_eq!(second_paths.len(), first_paths.len(), "{second_paths:?}");

    // A stale id (the token was replaced): its answer is not used, the right id is read after
    // verify, and the file is corrected.
    std::fs::write(
        &cache,
        text.replace("tok_full_introspect", "tok_introspect"),
    )
    .unwrap();
    let third = assess(
        &p.0,
        Some(&sb.base_url()),
        "full-introspect-token",
        &["--json"],
    )
    .await;
    verified(&third);
    let third_paths = requested_paths(&sb).await;
    assert!(third_paths
        .iter()
        .any(|p| p == "/client/v4/user/tokens/tok_introspect"));
    assert_eq!(third_paths.iter().filter(|p| *p == policies).count(), 1);
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), text);
}

/// `clodo deploy` in `dir` against the sandbox, with no control plane configured.
async fn deploy(dir: &Path, home: &Path, api: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new(CLODO)
        .args(["deploy", "--env", "production", "--yes"])
        .args(extra)
        .current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("CLODO_API_URL")
        .env_remove("CLODO_TOKEN")
        .env("NO_COLOR", "1")
        .env("CLOUDFLARE_API_BASE_URL", api)
        .env("CLOUDFLARE_API_TOKEN", "edit-token")
        .env("CLOUDFLARE_ACCOUNT_ID", "acc_a")
        .output()
        .await
        .expect("clodo runs")
}

#[tokio::test]
async fn deploy_stops_on_a_check_that_could_not_be_made_unless_allowed() {
    let sb = start().await;
    add_fault(&sb, json!({ "kind": "server_error", "status": 503, "path": "/client/v4/accounts/*/d1/database" })).await;
    let wrangler = "name = \"api\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n\n[env.production]\nd1_databases = [{ binding = \"DB\", database_name = \"app-db\", database_id = \"11111111-1111-4111-8111-111111111111\" }]\n";
    let p = project(&[
        (
            "clodo.toml",
            "project = \"shop\"\n\n[[services]]\nname = \"api\"\nconfig = \"wrangler.toml\"\n",
        ),
        ("wrangler.toml", wrangler),
        ("i.js", ""),
    ]);
    let home = project(&[]);
    let out = deploy(&p.0, &home.0, &sb.base_url(), &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("could not be made"), "{stderr}");
    assert!(stderr.contains("--allow-inconclusive"), "{stderr}");
    assert!(
        !stderr.contains("▸ plan"),
        "nothing past the assessment: {stderr}"
    );

    // With the flag the deploy goes past the assessment (and stops later: no control plane).
    let out = deploy(&p.0, &home.0, &sb.base_url(), &["--allow-inconclusive"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("▸ assess: ready to deploy only because --allow-inconclusive"),
        "{stderr}"
    );
    assert!(stderr.contains("▸ plan"), "{stderr}");
}
