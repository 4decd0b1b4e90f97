//! End-to-end tests of DORA metrics (`GET /api/v1/metrics/dora`, `clodo metrics`) against the
//! local Worker and D1: deployments moved through their lifecycle by the API are counted by
//! how they ended, lead times run from the stated commit time, and bad queries are refused.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use e2e_support::shop::clodo;
use e2e_support::{Api, Team};
use serde_json::{json, Value};

const HOUR_MS: i64 = 3_600_000;

/// A deployment of `shop/production` (no approvals needed) moved to `end`, its commit stated
/// `committed_ago_ms` before now (or not at all).
async fn finished(team: &Team, end: &str, committed_ago_ms: Option<i64>) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    let mut body = json!({ "project": "shop", "environment": "production", "git_sha": "abc123" });
    if let Some(ago) = committed_ago_ms {
        body["git_committed_at"] = json!(now - ago);
    }
    let d = team.admin.create("/api/v1/deployments", body).await;
    let id = d["id"].as_str().unwrap().to_owned();
    team.admin.acquire(&team.lock(), &id, None).await;
    for to in ["deploying", "verifying", end] {
        let transitions = format!("/api/v1/deployments/{id}/transitions");
        team.admin.post_ok(&transitions, json!({ "to": to })).await;
    }
    id
}

fn figure<'a>(report: &'a Value, metric: &str) -> &'a Value {
    &report[metric]
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn dora_metrics_count_deployments_by_how_they_ended_and_measure_lead_time_from_the_commit() {
    let team = Team::new().await;
    finished(&team, "succeeded", Some(2 * HOUR_MS)).await;
    finished(&team, "succeeded", Some(4 * HOUR_MS)).await;
    finished(&team, "failed", None).await;
    finished(&team, "succeeded", None).await;
    // Still queued: not counted.
    team.admin
        .create(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production" }),
        )
        .await;

    let report = team
        .admin
        .read("/api/v1/metrics/dora?project=shop&environment=production&days=7")
        .await;
    assert_eq!(report["deployments"], 4, "{report}");
    assert_eq!(
        figure(&report, "change_fail_rate")["value"],
        0.25,
        "{report}"
    );
    assert_eq!(figure(&report, "change_fail_rate")["band"], "low");
    assert_eq!(figure(&report, "success_rate")["value"], 0.75);
    // The median of about 2 h and 4 h: about 3 h (the transitions take seconds).
    let lead = figure(&report, "change_lead_time");
    let ms = lead["value"].as_f64().unwrap();
    assert!(
        (3.0 * 3_600_000.0..3.1 * 3_600_000.0).contains(&ms),
        "{lead}"
    );
    assert_eq!(
        lead["sample"], 2,
        "only deployments that stated a commit time"
    );
    assert_eq!(lead["band"], "elite");
    // The failure was followed by a success: recovered.
    let recovery = figure(&report, "failed_deployment_recovery_time");
    assert!(recovery["value"].as_f64().unwrap() >= 0.0, "{recovery}");
    assert_eq!(recovery["sample"], 1);
    let daily: u64 = report["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["succeeded"].as_u64().unwrap() + d["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(daily, 4);

    // The same figures through the CLI.
    let dir = std::env::temp_dir().join(e2e_support::unique("clodo-metrics"));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, out, err) = clodo(
        &dir,
        &team.admin.token,
        &[
            "metrics",
            "--project",
            "shop",
            "--env",
            "production",
            "--days",
            "7",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["change_fail_rate"], report["change_fail_rate"]);
    let (code, table, err) = clodo(
        &dir,
        &team.admin.token,
        &["metrics", "--project", "shop", "--env", "production"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("change fail rate") && table.contains("25.0%  [low]"),
        "{table}"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn nothing_measured_is_null_with_a_reason_and_bad_queries_are_refused() {
    let team = Team::new().await;
    let report = team
        .admin
        .read("/api/v1/metrics/dora?project=shop&environment=production&service=api")
        .await;
    assert_eq!(report["deployments"], 0);
    assert_eq!(figure(&report, "change_fail_rate")["value"], Value::Null);
    assert!(figure(&report, "change_fail_rate")["note"].is_string());
    assert_eq!(report["daily"].as_array().unwrap().len(), 31);

    let api: &Api = &team.admin;
    for (path, want) in [
        (
            "/api/v1/metrics/dora?project=shop&environment=production&days=0",
            (400, "bad_request"),
        ),
        (
            "/api/v1/metrics/dora?project=shop&environment=nowhere",
            (404, "not_found"),
        ),
        ("/api/v1/metrics/dora?project=shop", (400, "bad_request")),
    ] {
        api.refused("GET", path, None, want).await;
    }
    // A commit time in seconds, not milliseconds, is refused rather than skewing lead time.
    api.post_refused(
        "/api/v1/deployments",
        json!({ "project": "shop", "environment": "production", "git_committed_at": 1_700_000_000 }),
        (400, "bad_request"),
    )
    .await;
}
