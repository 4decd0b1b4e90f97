//! End-to-end tests of the hosted gap analysis (`POST /api/v1/assessments`) against the local
//! Worker (real D1, the Worker's own `fetch`) calling the sandbox seeded with
//! tests/fixtures/sandbox/seed.json through a team's stored, encrypted credential.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use e2e_support::{assert_says, find_by, str_of, Team};
use serde_json::{json, Value};

/// The sandbox account and a token of its seed that may read everything.
const ACCOUNT: &str = "acc_test";
const SANDBOX_TOKEN: &str = "user-edit-token";

/// A config whose every binding exists in the seeded account.
const PRESENT: &str = include_str!("fixtures/assess/present.toml");

/// A team whose `shop/production` environment is bound to the sandbox account, with the
/// admin's stored credential for it.
async fn team_with_credential() -> Team {
    let team = Team::new().await;
    team.bind(ACCOUNT).await;
    team.add_credential(ACCOUNT, "sandbox", SANDBOX_TOKEN).await;
    team
}

fn kinds(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_config_whose_resources_exist_is_ready_and_stored() {
    let team = team_with_credential().await;
    let created = team
        .admin
        .create(
            "/api/v1/assessments",
            json!({ "config": PRESENT, "project": "shop", "environment": "production" }),
        )
        .await;
    let report = &created["report"];
    assert_eq!(report["ready"], true, "{report}");
    assert!(kinds(report).is_empty(), "{report}");
    // The Worker really asked the sandbox: token, account, scripts, D1, KV, queues, and the
    // new Worker's secrets and deployments.
    assert!(report["api_calls"].as_u64().unwrap() >= 6, "{report}");
    assert_eq!(report["checked"]["bindings"], 3, "{report}");
    assert_eq!(report["capabilities"]["d1"], true, "{report}");

    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("asm_"), "{id}");
    let read = team.admin.read(&format!("/api/v1/assessments/{id}")).await;
    assert_eq!(read["report"], created["report"]);
    assert_eq!(read["account_id"], ACCOUNT);
    // The credential's token is never part of what is stored or returned.
    assert!(!read.to_string().contains(SANDBOX_TOKEN));
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn missing_resources_and_secrets_block_with_their_fixes() {
    let team = team_with_credential().await;
    let config = format!(
        "{PRESENT}\n[[r2_buckets]]\nbinding = \"FILES\"\nbucket_name = \"no-such-bucket\"\n\n[[d1_databases]]\nbinding = \"OTHER\"\ndatabase_name = \"nope-db\"\ndatabase_id = \"22222222-2222-4222-8222-222222222222\"\n"
    );
    let created = team
        .admin
        .create(
            "/api/v1/assessments",
            json!({
                "config": config,
                "env": null,
                "project": "shop",
                "environment": "production",
                "required_secrets": ["STRIPE_KEY"],
            }),
        )
        .await;
    let report = &created["report"];
    assert_eq!(report["ready"], false, "{report}");
    let found = kinds(report);
    for kind in ["r2_missing", "d1_missing", "secret_missing"] {
        assert!(found.iter().any(|k| k == kind), "{kind} not in {found:?}");
    }
    let r2 = find_by(&report["findings"], "kind", "r2_missing");
    assert_eq!(r2["severity"], "error");
    assert!(
        str_of(&r2["fix"]).contains("wrangler r2 bucket create no-such-bucket"),
        "{r2}"
    );
    assert!(r2["location"]["line"].as_u64().is_some(), "{r2}");
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn an_unreadable_config_or_unknown_env_is_a_located_finding() {
    let team = Team::new().await;
    let created = team
        .admin
        .create(
            "/api/v1/assessments",
            json!({ "config": "name = \"x\"\ncompatibility_date = \n", "file": "wrangler.toml" }),
        )
        .await;
    let f = &created["report"]["findings"][0];
    assert_eq!(f["kind"], "config_invalid", "{created}");
    assert_eq!(f["location"]["line"], 2, "{f}");

    let created = team.admin.create("/api/v1/assessments", json!({ "config": "{ // comment\n \"name\": \"x\", \"compatibility_date\": \"2026-06-01\", }", "file": "wrangler.jsonc", "env": "staging" })).await;
    assert_eq!(kinds(&created["report"]), vec!["env_unknown".to_owned()]);
    // Without an account only the local checks run: nothing was asked of the API.
    assert_eq!(created["report"]["api_calls"], 0);
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn bad_requests_roles_and_other_teams_are_refused() {
    let team = team_with_credential().await;
    // An environment bound to an account the team has no credential for.
    team.bind("acc_unknown").await;
    let body = team
        .admin
        .post_refused(
            "/api/v1/assessments",
            json!({ "config": PRESENT, "project": "shop", "environment": "production" }),
            (404, "not_found"),
        )
        .await;
    assert_says(&body, "hint", "/api/v1/credentials");

    let (viewer, _) = team.person("vera", "viewer").await;
    for (who, request, want) in [
        (
            &team.admin,
            json!({ "config": PRESENT, "file": "wrangler.yaml" }),
            (400, "bad_request"),
        ),
        (
            &team.admin,
            json!({ "config": "x".repeat(300 * 1024) }),
            (400, "bad_request"),
        ),
        (
            &team.admin,
            json!({ "config": PRESENT, "surprise": 1 }),
            (400, "invalid_json"),
        ),
        (&viewer, json!({ "config": PRESENT }), (403, "forbidden")),
    ] {
        who.post_refused("/api/v1/assessments", request, want).await;
    }

    let created = team
        .admin
        .create("/api/v1/assessments", json!({ "config": PRESENT }))
        .await;
    let path = format!("/api/v1/assessments/{}", created["id"].as_str().unwrap());
    let (status, _) = viewer.get(&path).await;
    assert_eq!(status, 200, "a viewer reads assessments");
    let other = Team::new().await;
    other
        .admin
        .refused("GET", &path, None, (404, "not_found"))
        .await;
}
