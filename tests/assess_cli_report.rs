//! End-to-end tests of `clodo assess` against a sandbox Cloudflare API seeded with
//! `tests/fixtures/assess/seed.json`: the clean baseline, the checks that need no API, token
//! and account problems, warnings, retries, exit codes, services of one project and the output
//! formats. The gap and "could not check" tests are in tests/assess_cli.rs.

mod assess_support;

use assess_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_config_whose_resources_all_exist_is_ready_with_no_findings() {
    let sb = start().await;
    let p = project(&[
        ("wrangler.toml", GOOD),
        ("src/index.js", "export default {}"),
    ]);
    let run = assess_edit(&p.0, &sb, &["--format", "json"]).await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["ready"], true);
    assert_eq!(report["findings"], json!([]), "no false alarms");
    assert_eq!(report["checked"]["bindings"], 8);
    assert_eq!(report["capabilities"]["d1"], true);
    assert!(report["api_calls"].as_u64().unwrap() >= 8);
    assert!(report["duration_ms"].is_u64());
}

#[tokio::test]
async fn local_checks_need_no_api() {
    let config = r#"
name = "Bad_Name"
main = "src/missing.js"
compatibility_date = "2020-01-01"

[[kv_namespaces]]
binding = "CACHE"
id = "0f2ac74b498b48028cb68387c421e279"

[env.staging]
name = "api-staging"
"#;
    let p = project(&[("wrangler.toml", config)]);
    let run = assess(&p.0, None, "", &["--offline", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let kinds = run.kinds();
    for kind in ["name_invalid", "main_missing", "compatibility_date_stale"] {
        assert!(kinds.contains(kind), "missing {kind}: {}", run.stdout);
    }

    let run = assess(&p.0, None, "", &["--offline", "--json", "--env", "staging"]).await;
    let report = run.json();
    let inherited = finding(&report, "binding_not_inherited");
    assert_eq!(inherited["severity"], "warning");
    assert!(str_of(&inherited["message"]).contains("kv_namespaces"));
    assert_eq!(inherited["env"], "staging");

    let run = assess(&p.0, None, "", &["--offline", "--json", "--env", "prod"]).await;
    assert_eq!(run.code, 1);
    let report = run.json();
    assert!(finding(&report, "env_unknown")["message"]
        .as_str()
        .unwrap()
        .contains("staging"));

    let future = project(&[(
        "wrangler.jsonc",
        "{\n  // a comment\n  \"name\": \"api\",\n  \"main\": \"index.js\",\n  \"compatibility_date\": \"2999-01-01\",\n}\n",
    ), ("index.js", "")]);
    let run = assess(&future.0, None, "", &["--offline", "--json"]).await;
    assert!(
        run.kinds().contains("compatibility_date_invalid"),
        "{}",
        run.stdout
    );

    let broken = project(&[("wrangler.toml", "name = \"api\"\nmain = [\n")]);
    let run = assess(&broken.0, None, "", &["--offline", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let invalid = finding(&report, "config_invalid");
    assert!(invalid["location"]["line"].as_u64().is_some(), "{invalid}");
}

#[tokio::test]
async fn token_and_account_problems_block_and_skip_the_resource_checks() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let api = sb.base_url();
    let cases = [
        ("disabled-token", "token_invalid"),
        ("expired-token", "token_expired"),
        ("no-such-token", "token_invalid"),
        ("d1-only-token", "token_missing_permission"),
    ];
    for (token, kind) in cases {
        let run = assess(&p.0, Some(&api), token, &["--json"]).await;
        assert_eq!(run.code, 1, "{token}: {}", run.stdout);
        let report = run.json();
        assert_eq!(finding(&report, kind)["severity"], "error", "{token}");
        assert!(
            !run.kinds().contains("d1_missing"),
            "{token}: no false resource findings"
        );
    }
    // An account-owned token verifies through the account endpoint and works.
    let run = assess(&p.0, Some(&api), "account-token", &["--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);

    let mut cmd = tokio::process::Command::new(CLODO);
    let out = cmd
        .args(["assess", "--json"])
        .current_dir(&p.0)
        .env("CLOUDFLARE_API_BASE_URL", &api)
        .env("CLOUDFLARE_API_TOKEN", "edit-token")
        .env("CLOUDFLARE_ACCOUNT_ID", "acc_elsewhere")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(finding(&report, "account_inaccessible")["message"]
        .as_str()
        .unwrap()
        .contains("acc_elsewhere"));
}

#[tokio::test]
async fn drift_and_split_traffic_are_warnings() {
    let sb = start().await;
    let dash = project(&[
        (
            "wrangler.toml",
            "name = \"dash-worker\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n",
        ),
        ("i.js", ""),
    ]);
    let run = assess_edit(&dash.0, &sb, &["--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    let drift = finding(&report, "dashboard_drift");
    assert_eq!(drift["severity"], "warning");
    assert!(str_of(&drift["message"]).contains("LEGACY_KV"), "{drift}");

    let split = project(&[
        (
            "wrangler.toml",
            "name = \"split-worker\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n",
        ),
        ("i.js", ""),
    ]);
    let run = assess_edit(&split.0, &sb, &["--json"]).await;
    let report = run.json();
    assert!(finding(&report, "deployment_split_in_progress")["message"]
        .as_str()
        .unwrap()
        .contains("10"));
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_servers_delay() {
    let sb = start().await;
    add_fault(&sb, json!({ "kind": "rate_limit", "retry_after": 1, "times": 2, "path": "/client/v4/accounts/*/storage/kv/namespaces" })).await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let run = assess_edit(&p.0, &sb, &["--json"]).await;
    let report = run.json();
    assert_eq!(report["findings"], json!([]), "{report:#}");
    let log: Value = reqwest::get(format!("{}/requests", sb.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kv_calls = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/storage/kv/namespaces")
        })
        .count();
    assert_eq!(kv_calls, 3, "two 429s then a success");
}

#[tokio::test]
async fn an_unreachable_api_or_missing_token_exits_2() {
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let run = assess(
        &p.0,
        Some("http://127.0.0.1:9/client/v4"),
        "edit-token",
        &["--json", "--deadline-secs", "5"],
    )
    .await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let run = assess(&p.0, None, "", &["--json"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("CLOUDFLARE_API_TOKEN"),
        "{}",
        run.stderr
    );
    let empty = project(&[("README", "")]);
    let run = assess(&empty.0, None, "", &["--offline"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("wrangler.toml"), "{}", run.stderr);
}

#[tokio::test]
async fn services_of_one_project_count_as_present() {
    let sb = start().await;
    let p = project(&[
        (
            "clodo.toml",
            "project = \"shop\"\n\n[[services]]\nname = \"backend\"\nconfig = \"backend\"\n\n[[services]]\nname = \"frontend\"\nconfig = \"frontend/wrangler.toml\"\nrequired_secrets = [\"SESSION_KEY\"]\n",
        ),
        ("backend/wrangler.toml", "name = \"shop-backend\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n"),
        ("backend/i.js", ""),
        (
            "frontend/wrangler.toml",
            "name = \"shop-frontend\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n\n[[services]]\nbinding = \"API\"\nservice = \"shop-backend\"\n",
        ),
        ("frontend/i.js", ""),
    ]);
    let run = assess_edit(&p.0, &sb, &["--json"]).await;
    let report = run.json();
    assert!(!run.kinds().contains("service_missing"), "{report:#}");
    let secret = finding(&report, "secret_missing");
    assert_eq!(secret["service"], "shop-frontend");
    assert_eq!(report["services"], json!(["shop-backend", "shop-frontend"]));
}

#[tokio::test]
async fn output_formats() {
    let sb = start().await;
    let p = project(&[(
        "wrangler.toml",
        "name = \"api\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n\n[[queues.producers]]\nbinding = \"Q\"\nqueue = \"nope\"\n",
    ), ("i.js", "")]);
    let api = sb.base_url();
    let human = assess(&p.0, Some(&api), "edit-token", &[]).await;
    assert_eq!(human.code, 1);
    assert!(!human.stdout.contains('\x1b'), "NO_COLOR is honoured");
    assert!(
        human.stdout.starts_with("api\n  error [queue_missing]"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("fix: wrangler queues create nope"));
    assert!(human
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("not ready: 1 error"));

    let gh = assess(&p.0, Some(&api), "edit-token", &["--format", "github"]).await;
    let first = gh.stdout.lines().next().unwrap();
    assert!(first.starts_with("::error file="), "{first}");
    assert!(
        first.contains(",line=") && first.contains("title=queue_missing::api: queue producer"),
        "{first}"
    );

    let sarif = assess(&p.0, Some(&api), "edit-token", &["--format", "sarif"]).await;
    let log: Value = serde_json::from_str(&sarif.stdout).unwrap();
    validate_sarif(&log);
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "queue_missing");
}

/// The SARIF 2.1.0 constraints a consumer (GitHub code scanning) relies on.
fn validate_sarif(log: &Value) {
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().expect("runs[]");
    for run in runs {
        let driver = &run["tool"]["driver"];
        assert!(driver["name"].is_string());
        let rules = driver["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        for result in run["results"].as_array().unwrap() {
            assert!(
                ["none", "note", "warning", "error"].contains(&result["level"].as_str().unwrap())
            );
            assert!(result["message"]["text"].is_string());
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(ids[index], result["ruleId"].as_str().unwrap());
            for location in result["locations"].as_array().into_iter().flatten() {
                let physical = &location["physicalLocation"];
                assert!(physical["artifactLocation"]["uri"].is_string());
                if let Some(line) = physical["region"]["startLine"].as_u64() {
                    assert!(line >= 1);
                }
            }
        }
    }
}
