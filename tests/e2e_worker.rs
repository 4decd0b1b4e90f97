//! End-to-end tests of the built Worker under local workerd (real D1 and Durable Objects).
//!
//! They need the running stack, so they are `#[ignore]`d under a plain `cargo test`;
//! `tests/e2e.sh` builds the Worker, starts it with fresh state, sets `CLODO_E2E_URL` and
//! runs them with `--ignored`.

mod e2e_support;

use e2e_support::{base_url, Api};
use serde_json::Value;

async fn get(path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{}{path}", base_url()))
        .await
        .expect("worker reachable");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

fn assert_error_envelope(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "body: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    assert!(error["hint"].is_string(), "body: {body}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn healthz_answers_ok() {
    let (status, body) = get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn version_reports_the_build_and_the_applied_schema_from_d1() {
    let (status, body) = get("/api/v1/version").await;
    assert_eq!(status, 200);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["git_sha"].is_string());
    // Read from D1's d1_migrations table, so it proves the migration ran and D1 answers.
    let newest_migration = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .max()
        .unwrap();
    assert_eq!(body["schema_version"], newest_migration.as_str());
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn readiness_reads_d1_and_both_durable_objects_fast_without_writing_per_call() {
    let started = std::time::Instant::now();
    let (status, first) = get("/readyz").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "/readyz took {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200, "{first}");
    let (status, second) = get("/readyz").await;
    assert_eq!(status, 200, "{second}");
    for object in ["deploy_lock", "rollout"] {
        // The time of the probe's last storage write: a read proves the object's storage
        // answers; the write happens at most every ten minutes, not on every poll.
        let written = |body: &Value| {
            body["checks"][object]["written_at"]
                .as_i64()
                .unwrap_or_else(|| panic!("{object}: no written_at in {body}"))
        };
        assert_eq!(written(&first), written(&second), "{object}: {second}");
        assert_eq!(second["checks"][object]["wrote"], false, "{second}");
    }
    assert_eq!(second["checks"]["d1"]["ok"], true);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_mistyped_query_parameter_is_a_json_400_not_plain_text() {
    // axum's own rejection is a text/plain 400 that no client of the API can parse.
    let token = bootstrap_team_token().await;
    for path in ["/api/v1/deployments?limit=-1", "/api/v1/audit?format=xml"] {
        let (status, _, text) = Api::new(&token).raw("GET", path, None, &[]).await;
        assert_eq!(status, 400, "{path}");
        let body: Value = serde_json::from_str(&text).expect("a JSON error body");
        assert_error_envelope(&body, "bad_request");
    }
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn an_answer_given_before_the_body_is_read_still_reaches_the_client() {
    // The router's 405 and the extractors' 415 come before any handler reads the body. The
    // Worker used to answer with the body unread, workerd dropped the connection, and
    // wrangler dev's proxy said 503 "Your worker restarted mid-request" instead.
    let client = reqwest::Client::new();
    let secret =
        std::env::var("CLODO_E2E_BOOTSTRAP_TOKEN").unwrap_or_else(|_| "clodo-dev-bootstrap".into());
    for _ in 0..10 {
        let resp = client
            .put(format!(
                "{}/api/v1/deployments/dep_x/transitions",
                base_url()
            ))
            .header("content-type", "application/json")
            .body(r#"{"to":"failed","detail":null}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405);
        assert_error_envelope(&resp.json().await.unwrap(), "method_not_allowed");

        let resp = client
            .post(format!("{}/api/v1/bootstrap", base_url()))
            .bearer_auth(&secret)
            .header("content-type", "multipart/form-data")
            .body(r#"{"admin_email":"0@0.com","name":"0","slug":"0"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 415);
        assert_error_envelope(&resp.json().await.unwrap(), "unsupported_media_type");
    }
    // And the connection the proxy keeps to the Worker still serves a GET at once.
    let started = std::time::Instant::now();
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A fresh team's admin token, created with the dev-only bootstrap secret.
async fn bootstrap_team_token() -> String {
    let slug = format!(
        "w-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let secret =
        std::env::var("CLODO_E2E_BOOTSTRAP_TOKEN").unwrap_or_else(|_| "clodo-dev-bootstrap".into());
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/teams", base_url()))
        .bearer_auth(secret)
        .json(&serde_json::json!({ "slug": slug, "name": "W", "admin_email": format!("a@{slug}.test") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    body["token"]["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn unknown_routes_get_a_json_404_and_wrong_methods_a_json_405() {
    let (status, body) = get("/api/v1/no-such-thing").await;
    assert_eq!(status, 404);
    assert_error_envelope(&body, "not_found");

    let resp = reqwest::Client::new()
        .delete(format!("{}/healthz", base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_error_envelope(&resp.json().await.unwrap(), "method_not_allowed");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn an_oversized_body_is_refused_with_413_before_routing() {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/version", base_url()))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert_error_envelope(&resp.json().await.unwrap(), "payload_too_large");
}
