//! Fault injection through the admin endpoint and the CLI flags: latency, 429 with retry-after,
//! 5xx, dropped connections and timeouts, plus the request log that counts calls.

mod sandbox_support;

use std::time::{Duration, Instant};

use sandbox_support::*;
use serde_json::json;

#[tokio::test]
async fn rate_limit_then_recovery_with_retry_after() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let rules = admin(
        &sandbox,
        "POST",
        "/faults",
        Some(json!({
            "kind": "rate_limit", "retry_after": 3, "times": 2, "path": "/client/v4/accounts/*/d1/*"
        })),
    )
    .await;
    let id = rules[0]["id"].as_str().unwrap().to_string();

    let url = format!("{}/accounts/{ACCOUNT}/d1/database", sandbox.base_url());
    for _ in 0..2 {
        let resp = reqwest::Client::new()
            .get(&url)
            .bearer_auth(EDIT_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()["retry-after"], "3");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), 971);
    }
    api.account("/d1/database").await;
    // Other paths were never affected.
    api.account("/storage/kv/namespaces").await;

    let log = requests(&sandbox).await;
    let statuses: Vec<u16> = log
        .iter()
        .filter(|(_, p, _)| p.contains("/d1/"))
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200]);
    let listed = admin(&sandbox, "GET", "/faults", None).await;
    assert_eq!(listed[0]["times"], 0, "the budget is spent");
    admin(&sandbox, "DELETE", &format!("/faults/{id}"), None).await;
    assert_eq!(admin(&sandbox, "GET", "/faults", None).await, json!([]));

    let cleared = admin(&sandbox, "DELETE", "/requests", None).await;
    assert_eq!(cleared["cleared"], 4);
    assert!(requests(&sandbox).await.is_empty());
}

#[tokio::test]
async fn server_errors_latency_drops_and_timeouts() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));

    admin(
        &sandbox,
        "POST",
        "/faults",
        Some(json!({ "kind": "server_error", "status": 503, "method": "POST" })),
    )
    .await;
    let body = api
        .expect(
            503,
            "POST",
            &format!("/accounts/{ACCOUNT}/storage/kv/namespaces"),
            Some(json!({ "title": "x" })),
        )
        .await;
    assert_eq!(body["success"], false);
    api.account("/storage/kv/namespaces").await;
    admin(&sandbox, "DELETE", "/faults", None).await;

    admin(&sandbox, "POST", "/faults", Some(json!([{ "kind": "latency", "ms": 300 }, { "kind": "random_latency", "min_ms": 50, "max_ms": 100 }]))).await;
    let started = Instant::now();
    api.result("/zones").await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(350), "took {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    admin(&sandbox, "DELETE", "/faults", None).await;

    admin(
        &sandbox,
        "POST",
        "/faults",
        Some(json!({ "kind": "drop", "path": "/client/v4/zones", "times": 1 })),
    )
    .await;
    let dropped = reqwest::Client::new()
        .get(format!("{}/zones", sandbox.base_url()))
        .bearer_auth(EDIT_TOKEN)
        .send()
        .await;
    let err = dropped.expect_err("the connection is closed without an answer");
    assert!(!err.is_timeout(), "{err}");
    api.result("/zones").await;

    admin(
        &sandbox,
        "POST",
        "/faults",
        Some(json!({ "kind": "timeout", "ms": 5000, "times": 1 })),
    )
    .await;
    let started = Instant::now();
    let timed_out = reqwest::Client::builder()
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap()
        .get(format!("{}/zones", sandbox.base_url()))
        .bearer_auth(EDIT_TOKEN)
        .send()
        .await;
    assert!(timed_out
        .expect_err("the client gives up first")
        .is_timeout());
    assert!(started.elapsed() < Duration::from_secs(2));

    let log = requests(&sandbox).await;
    let unanswered = log.iter().filter(|(_, _, s)| *s == 0).count();
    assert_eq!(
        unanswered, 2,
        "drop and timeout are logged with status 0: {log:?}"
    );
}

#[tokio::test]
async fn bad_fault_rules_are_refused() {
    let sandbox = start_seeded().await;
    for rule in [
        json!({ "kind": "explode" }),
        json!({ "kind": "server_error", "status": 404 }),
        json!({ "kind": "drop", "probability": 2 }),
    ] {
        let status = post_status(format!("{}/faults", sandbox.admin_url()), &rule).await;
        assert_eq!(status, 400, "{rule}");
    }
}

#[tokio::test]
async fn wrangler_retries_through_injected_5xx() {
    let sandbox = start_seeded().await;
    let project = worker_project("hello");
    admin(
        &sandbox,
        "POST",
        "/faults",
        Some(json!({
            "kind": "server_error", "status": 502, "method": "PUT", "times": 2,
            "path": "/client/v4/accounts/*/workers/scripts/hello"
        })),
    )
    .await;
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;
    let uploads: Vec<u16> = requests(&sandbox)
        .await
        .into_iter()
        .filter(|(m, p, _)| m == "PUT" && p.ends_with("/workers/scripts/hello"))
        .map(|(_, _, s)| s)
        .collect();
    assert_eq!(uploads, vec![502, 502, 200]);
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let deployments = api.account("/workers/scripts/hello/deployments").await;
    assert_eq!(
        deployments["deployments"].as_array().unwrap().len(),
        1,
        "the failed attempts left no trace"
    );
}

/// Starts `clodo sandbox` as a process and returns it with its API base URL.
async fn spawn_cli(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clodo"))
        .arg("sandbox")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn clodo sandbox");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("sandbox printed its address")
        .unwrap()
        .expect("a line");
    let base = first.rsplit(' ').next().unwrap().to_string();
    (child, base)
}

#[tokio::test]
async fn cli_fault_flags() {
    let seed = fixtures().join("seed.json");
    let (mut child, base) = spawn_cli(&[
        "--seed",
        seed.to_str().unwrap(),
        "--port",
        "0",
        "--fault",
        "rate_limit,retry_after=7,times=1",
        "--latency-ms",
        "200",
    ])
    .await;
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/client/v4"),
        "{base}"
    );
    let zones = || {
        reqwest::Client::new()
            .get(format!("{base}/zones"))
            .bearer_auth(EDIT_TOKEN)
            .send()
    };
    let started = Instant::now();
    let first = zones().await.unwrap();
    assert_eq!(first.status().as_u16(), 429);
    assert_eq!(first.headers()["retry-after"], "7");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let second = zones().await.unwrap();
    assert_eq!(second.status().as_u16(), 200);
    child.kill().await.unwrap();

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_clodo"))
        .args(["sandbox", "--port", "0", "--fault", "teleport"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("teleport"));
}
