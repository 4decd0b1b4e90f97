//! The GraphQL analytics endpoint: per-version requests, errors and latency from the traffic
//! model and the deployment history, changed at run time through `/__sandbox/analytics`.

mod sandbox_support;

use sandbox_support::*;
use serde_json::{json, Value};

const V1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const V2: &str = "aaaaaaaa-0000-4000-8000-000000000002";

const QUERY: &str = r#"
query Invocations($accountTag: string!, $filter: AccountWorkersInvocationsAdaptiveFilter_InputObject) {
  viewer {
    accounts(filter: { accountTag: $accountTag }) {
      workersInvocationsAdaptive(limit: 10000, filter: $filter) {
        sum { requests errors }
        quantiles { wallTimeP50 wallTimeP99 }
        dimensions { scriptName scriptVersion }
      }
    }
  }
}"#;

async fn graphql(token: &str, sandbox: &clodo::sandbox::RunningSandbox, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/graphql", sandbox.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

fn rows(answer: &Value) -> Vec<Value> {
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["viewer"]["accounts"][0]["workersInvocationsAdaptive"]
        .as_array()
        .expect("rows")
        .clone()
}

fn row<'a>(rows: &'a [Value], version: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["dimensions"]["scriptVersion"] == version)
        .unwrap_or_else(|| panic!("no row for {version} in {rows:?}"))
}

/// The rows of `QUERY` over `window()`, asked with the edit token.
async fn window_rows(sandbox: &clodo::sandbox::RunningSandbox) -> Vec<Value> {
    rows(
        &graphql(
            EDIT_TOKEN,
            sandbox,
            json!({ "query": QUERY, "variables": window() }),
        )
        .await,
    )
}

fn window() -> Value {
    // 00:30–01:30: half an hour of v1 alone, then half an hour of the 10/90 split.
    json!({ "accountTag": ACCOUNT, "filter": {
        "scriptName": "seeded-api",
        "datetime_geq": "2026-01-01T00:30:00Z",
        "datetime_leq": "2026-01-01T01:30:00Z"
    }})
}

#[tokio::test]
async fn invocations_follow_the_model_and_change_at_run_time() {
    let sandbox = start_seeded().await;
    let answer = graphql(
        EDIT_TOKEN,
        &sandbox,
        json!({ "query": QUERY, "variables": window() }),
    )
    .await;
    let found = rows(&answer);
    assert_eq!(found.len(), 2);
    // Seed model: 120 requests per minute; v2 fails 25% with a 400 ms p99.
    let v1 = row(&found, V1);
    assert_eq!(v1["sum"]["requests"], 120 * 30 + 120 * 30 * 9 / 10);
    assert_eq!(v1["sum"]["errors"], 0);
    assert_eq!(v1["quantiles"]["wallTimeP50"], 20_000.0);
    assert_eq!(v1["dimensions"]["scriptName"], "seeded-api");
    let v2 = row(&found, V2);
    assert_eq!(v2["sum"]["requests"], 360);
    assert_eq!(v2["sum"]["errors"], 90);
    assert_eq!(v2["quantiles"]["wallTimeP99"], 400_000.0);

    // "Version 2 now fails 30%."
    let model = admin(
        &sandbox,
        "PATCH",
        "/analytics",
        Some(json!({ "versions": { V2: { "error_ratio": 0.3 } } })),
    )
    .await;
    assert_eq!(model["versions"][V2]["error_ratio"], 0.3);
    assert_eq!(
        model["versions"][V2]["latency_p99_ms"], 400.0,
        "a patch merges into the version's entry"
    );
    let found = window_rows(&sandbox).await;
    assert_eq!(row(&found, V2)["sum"]["errors"], 108);

    // A whole new model; traffic per script.
    admin(
        &sandbox,
        "PUT",
        "/analytics",
        Some(json!({ "requests_per_minute": 10, "scripts": { "seeded-api": 60 } })),
    )
    .await;
    let found = window_rows(&sandbox).await;
    assert_eq!(row(&found, V2)["sum"]["requests"], 180);
    assert_eq!(row(&found, V2)["sum"]["errors"], 0);

    let client = reqwest::Client::new();
    let bad = client
        .patch(format!("{}/analytics", sandbox.admin_url()))
        .json(&json!({ "versions": { V2: { "error_ratio": 3 } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}

#[tokio::test]
async fn filters_literals_and_refusals() {
    let sandbox = start_seeded().await;
    let literal = format!(
        r#"{{ viewer {{ accounts(filter: {{accountTag: "{ACCOUNT}"}}) {{ workersInvocationsAdaptive(limit: 100, filter: {{datetime_geq: "2026-01-01T01:00:00Z", datetime_leq: "2026-01-01T01:10:00Z", scriptVersion: "{V2}"}}) {{ sum {{ requests errors }} dimensions {{ scriptVersion }} }} }} }} }}"#
    );
    let found = rows(&graphql(EDIT_TOKEN, &sandbox, json!({ "query": literal })).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["sum"]["requests"], 120);

    // Before the first deployment there is no traffic.
    let early = json!({ "accountTag": ACCOUNT, "filter": { "datetime_geq": "2025-12-01T00:00:00Z", "datetime_leq": "2025-12-02T00:00:00Z" } });
    assert!(rows(
        &graphql(
            EDIT_TOKEN,
            &sandbox,
            json!({ "query": QUERY, "variables": early })
        )
        .await
    )
    .is_empty());

    let other = json!({ "accountTag": "acc_other", "filter": { "datetime_geq": "2026-01-01T00:00:00Z", "datetime_leq": "2026-01-02T00:00:00Z" } });
    let refused = graphql(
        EDIT_TOKEN,
        &sandbox,
        json!({ "query": QUERY, "variables": other }),
    )
    .await;
    assert!(refused["data"].is_null());
    assert!(str_of(&refused["errors"][0]["message"]).contains("not authorized"));

    let no_time = json!({ "accountTag": ACCOUNT });
    let refused = graphql(
        EDIT_TOKEN,
        &sandbox,
        json!({ "query": QUERY, "variables": no_time }),
    )
    .await;
    assert!(str_of(&refused["errors"][0]["message"]).contains("datetime_geq"));
    let unsupported = graphql(
        EDIT_TOKEN,
        &sandbox,
        json!({ "query": "{ viewer { zones { x } } }" }),
    )
    .await;
    assert!(unsupported["errors"][0]["message"].as_str().is_some());

    let status = post_status(
        format!("{}/graphql", sandbox.base_url()),
        &json!({ "query": QUERY }),
    )
    .await;
    assert_eq!(status, 400, "GraphQL needs a token too");
}

#[tokio::test]
async fn live_canary_traffic_is_counted_for_new_versions() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    // Deploy the seeded split's newer version alone, then ask for the last minute up to an hour
    // ahead: future minutes hold no traffic yet.
    let before_deploy = chrono::Utc::now();
    api.post_ok(
        &format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api/deployments"),
        json!({ "strategy": "percentage", "versions": [{ "version_id": V2, "percentage": 100 }] }),
    )
    .await;
    let after_deploy = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::minutes(1);
    let vars = json!({ "accountTag": ACCOUNT, "filter": {
        "scriptName": "seeded-api",
        "datetime_geq": start.to_rfc3339(),
        "datetime_leq": (now + chrono::Duration::hours(1)).to_rfc3339(),
    }});
    let answer = graphql(
        EDIT_TOKEN,
        &sandbox,
        json!({ "query": QUERY, "variables": vars }),
    )
    .await;
    let answered = chrono::Utc::now();
    let found = rows(&answer);
    let requests = row(&found, V2)["sum"]["requests"].as_f64().unwrap();
    // 2 requests per second: 10% of them from the window start until the deployment, all of them
    // from the deployment until the server answered. Bound both instants by what we measured.
    let secs = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (b - a).num_milliseconds() as f64 / 1000.0
    };
    let lowest = 2.0 * (0.1 * secs(start, after_deploy) + secs(after_deploy, now));
    let highest = 2.0 * (0.1 * secs(start, before_deploy) + secs(before_deploy, answered));
    assert!(
        (lowest.floor() - 1.0..=highest.ceil() + 1.0).contains(&requests),
        "{requests} not in [{lowest}, {highest}]: {found:?}"
    );
}

#[tokio::test]
async fn workers_answer_health_checks_as_the_version_the_request_reaches() {
    let sandbox = start_seeded().await;
    let url = format!("{}/workers/seeded-api/healthz", sandbox.admin_url());
    let client = reqwest::Client::new();
    let get = |pin: Option<String>| {
        let mut req = client.get(&url);
        if let Some(p) = pin {
            req = req.header("Cloudflare-Workers-Version-Overrides", p);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let version = resp.headers()["x-sandbox-version"]
                .to_str()
                .unwrap()
                .to_owned();
            (status, version, resp.text().await.unwrap())
        }
    };
    // Unpinned: the version with the largest share of the active deployment (v1 at 90%).
    let (status, version, body) = get(None).await;
    assert_eq!((status, version.as_str()), (200, V1));
    assert_eq!(body, format!("ok seeded-api {V1}"));
    // Pinned to the 10% canary, which fails 25% of its traffic: still answers.
    let pin = format!("seeded-api=\"{V2}\"");
    assert_eq!(get(Some(pin.clone())).await.0, 200);
    assert_eq!(get(Some(pin.clone())).await.1, V2);
    // Once it fails more often than not, its health endpoint fails.
    admin(
        &sandbox,
        "PATCH",
        "/analytics",
        Some(json!({ "versions": { V2: { "error_ratio": 0.6 } } })),
    )
    .await;
    let (status, version, body) = get(Some(pin)).await;
    assert_eq!((status, version.as_str()), (500, V2));
    assert!(body.starts_with("error"), "{body}");
    // As on Cloudflare, a pin to a version outside the active deployment is ignored.
    let stranger = "ffffffff-0000-4000-8000-000000000009";
    let (status, version, _) =
        get(Some(format!("other=\"{V2}\", seeded-api=\"{stranger}\""))).await;
    assert_eq!((status, version.as_str()), (200, V1));
    let missing = client
        .get(format!("{}/workers/nope/", sandbox.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}
