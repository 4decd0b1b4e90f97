//! End-to-end: the hosted gap analysis (`POST /api/v1/assessments`) never says "ready" when a
//! check could not be made. The local Worker assesses through a team credential whose token
//! cannot read KV or queues (the sandbox answers 403 / 10000), so those checks are unverified:
//! each is a `token_missing_permission` finding naming the permission to add, and the stored
//! report is not ready.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use e2e_support::Team;
use serde_json::{json, Value};

/// The sandbox account, and its account-owned token with Workers Scripts Edit and D1 Read only.
const ACCOUNT: &str = "acc_test";
const NARROW_TOKEN: &str = "account-token";

/// A config whose every binding exists in the seeded account.
const PRESENT: &str = r#"
name = "safety-assess-e2e"
main = "src/index.js"
compatibility_date = "2026-06-01"

[[d1_databases]]
binding = "DB"
database_name = "app-db"
database_id = "11111111-1111-4111-8111-111111111111"

[[kv_namespaces]]
binding = "CACHE"
id = "kv0000000000000000000000000000a1"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"
"#;

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_hosted_assessment_with_unreadable_lists_is_not_ready() {
    let team = Team::new().await;
    team.admin
        .create(
            "/api/v1/credentials",
            json!({ "account_id": ACCOUNT, "name": "narrow", "api_token": NARROW_TOKEN }),
        )
        .await;

    // The environment is bound to the account; the assessment names the environment.
    team.admin
        .expect(
            200,
            "PATCH",
            "/api/v1/projects/shop/environments/production",
            Some(json!({ "cloudflare_account_id": ACCOUNT })),
        )
        .await;
    let created = team
        .admin
        .create(
            "/api/v1/assessments",
            json!({ "config": PRESENT, "project": "shop", "environment": "production" }),
        )
        .await;
    let report = &created["report"];
    // Every resource exists; only the checks themselves could not be made.
    assert!(findings(report, "kv_missing").is_empty(), "{report:#}");
    assert!(findings(report, "queue_missing").is_empty(), "{report:#}");
    let missing = findings(report, "token_missing_permission");
    let fixes: Vec<&str> = missing.iter().map(|f| f["fix"].as_str().unwrap()).collect();
    assert!(
        fixes
            .iter()
            .any(|f| f.contains("Account · Workers KV Storage · Read")),
        "{report:#}"
    );
    assert!(
        fixes.iter().any(|f| f.contains("Account · Queues · Read")),
        "{report:#}"
    );
    assert!(
        missing.iter().all(|f| f["unverified"] == true),
        "{report:#}"
    );
    assert_eq!(report["ready"], false, "{report:#}");
    assert!(report["unverified"].as_u64().unwrap() >= 2, "{report:#}");

    // What is stored says the same.
    let id = created["id"].as_str().unwrap();
    let read = team.admin.read(&format!("/api/v1/assessments/{id}")).await;
    assert_eq!(read["report"]["ready"], false);
}
