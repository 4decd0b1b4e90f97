//! The sandbox's zone rulesets API (Request Header Transform Rules in the
//! `http_request_late_transform` phase) and its Worker request emulation: a version key
//! derived from a cookie by a zone rule keeps a user on one version as the split ramps, and
//! the version override header pins a version.

mod sandbox_support;

use clodo::sandbox::{self, SandboxOptions};
use sandbox_support::*;
use serde_json::{json, Value};

const OLD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const NEW: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const ENTRYPOINT: &str =
    "/zones/zone_example/rulesets/phases/http_request_late_transform/entrypoint";

/// The test seed with the edit token also granted Transform Rules.
async fn start() -> sandbox::RunningSandbox {
    let mut seed = seed();
    for t in seed["tokens"].as_array_mut().unwrap() {
        if t["id"] == "tok_user_edit" {
            t["permissions"]["transform_rules"] = json!("edit");
        }
    }
    sandbox::start(SandboxOptions::with_seed_json(seed))
        .await
        .expect("sandbox starts")
}

fn affinity_rule(expression: &str) -> Value {
    json!({
        "ref": "clodo_ab_version_affinity",
        "description": "clodo_ab_version_affinity",
        "action": "rewrite",
        "expression": "true",
        "action_parameters": { "headers": {
            "Cloudflare-Workers-Version-Key": { "operation": "set", "expression": expression }
        }}
    })
}

/// Sends a request through the route emulator; returns (status, chosen version, body).
async fn through_route(
    sandbox: &sandbox::RunningSandbox,
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let mut req = reqwest::Client::new().get(format!(
        "{}/route/example.com/api/orders",
        sandbox.admin_url()
    ));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("sandbox reachable");
    let status = resp.status().as_u16();
    let version = resp
        .headers()
        .get("x-sandbox-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = resp.json().await.expect("JSON answer");
    (status, version, body)
}

async fn set_split(api: &Api, new_percent: f64) {
    api.post_ok(
        &format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api/deployments"),
        json!({
            "strategy": "percentage",
            "versions": [
                { "version_id": NEW, "percentage": new_percent },
                { "version_id": OLD, "percentage": 100.0 - new_percent }
            ]
        }),
    )
    .await;
}

#[tokio::test]
async fn the_late_transform_entrypoint_is_created_replaced_and_validated() {
    let sandbox = start().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let (status, body) = api.get(ENTRYPOINT).await;
    assert_eq!((status, error_code(&body)), (404, 10003), "{body}");

    let rule = affinity_rule("http.request.cookies[\"uid\"][0]");
    let (status, created) = api.put(ENTRYPOINT, json!({ "rules": [rule] })).await;
    assert_eq!(status, 200, "{created}");
    let r = &created["result"];
    assert_eq!(
        (r["kind"].as_str(), r["phase"].as_str()),
        (Some("zone"), Some("http_request_late_transform"))
    );
    assert_eq!(r["version"], "1");
    assert_eq!(r["rules"][0]["ref"], "clodo_ab_version_affinity");
    let rule_id = r["rules"][0]["id"].as_str().unwrap().to_owned();

    // Replaying what a GET returned keeps the rule (same id, same version): idempotent.
    let got = api.result(ENTRYPOINT).await;
    let (status, again) = api.put(ENTRYPOINT, json!({ "rules": got["rules"] })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["result"]["rules"].as_array().unwrap().len(), 1);
    assert_eq!(again["result"]["rules"][0]["id"], rule_id.as_str());
    assert_eq!(again["result"]["rules"][0]["version"], "1");
    assert_eq!(again["result"]["version"], "2");

    // Forms the sandbox does not model are refused with the field, never stored.
    for (bad, pointer) in [
        (affinity_rule("ip.src"), "/rules/0/action_parameters"),
        (
            json!({ "action": "block", "expression": "true", "action_parameters": {} }),
            "/rules/0/action",
        ),
        (
            json!({ "action": "rewrite", "expression": "http.host eq \"a\"", "action_parameters": { "headers": { "x": { "operation": "remove" } } } }),
            "/rules/0/expression",
        ),
    ] {
        let (status, body) = api.put(ENTRYPOINT, json!({ "rules": [bad] })).await;
        assert_eq!((status, error_code(&body)), (400, 20021), "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(pointer),
            "{body}"
        );
    }
    assert_eq!(
        api.result(ENTRYPOINT).await["rules"][0]["id"],
        rule_id.as_str()
    );
    let (status, body) = api
        .put(
            "/zones/zone_example/rulesets/phases/http_request_firewall_custom/entrypoint",
            json!({ "rules": [] }),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // The permission is Transform Rules: a token without it is refused (10000).
    let reader = Api::new(&sandbox, Some("read-only-token"));
    let (status, body) = reader.get(ENTRYPOINT).await;
    assert_eq!((status, error_code(&body)), (403, 10000), "{body}");
}

#[tokio::test]
async fn a_cookie_keeps_a_user_on_one_version_across_a_ramp_and_overrides_pin() {
    let sandbox = start().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    api.put(
        ENTRYPOINT,
        json!({ "rules": [affinity_rule("http.request.cookies[\"uid\"][0]")] }),
    )
    .await;
    set_split(&api, 30.0).await;

    let users: Vec<String> = (0..60).map(|i| format!("uid=user-{i}")).collect();
    let mut at_30 = Vec::new();
    for cookie in &users {
        let (status, first, body) = through_route(&sandbox, &[("cookie", cookie)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["chosen_by"], "version_key", "{body}");
        assert_eq!(body["version_id"], first.as_str());
        assert_eq!(body["route"], "example.com/api/*");
        for _ in 0..3 {
            assert_eq!(
                through_route(&sandbox, &[("cookie", cookie)]).await.1,
                first,
                "{cookie}"
            );
        }
        at_30.push(first);
    }
    let on_new = at_30.iter().filter(|v| *v == NEW).count();
    assert!(
        on_new > 0 && on_new < users.len(),
        "keys spread over both versions: {on_new}"
    );

    // The new version ramps to 80%: every user already on it stays.
    set_split(&api, 80.0).await;
    for (cookie, before) in users.iter().zip(&at_30) {
        let now = through_route(&sandbox, &[("cookie", cookie)]).await.1;
        if before == NEW {
            assert_eq!(now, NEW, "{cookie} left the new version");
        }
    }

    // The override header pins a deployed version whatever the key.
    let pin = format!("seeded-api=\"{OLD}\"");
    let (_, v, body) = through_route(
        &sandbox,
        &[
            ("cookie", "uid=user-1"),
            ("cloudflare-workers-version-overrides", &pin),
        ],
    )
    .await;
    assert_eq!(
        (v.as_str(), body["chosen_by"].as_str()),
        (OLD, Some("override"))
    );

    // The per-version health of the analytics model decides the answer.
    admin(
        &sandbox,
        "PATCH",
        "/analytics",
        Some(json!({ "versions": { NEW: { "error_ratio": 0.9 } } })),
    )
    .await;
    let pin = format!("seeded-api=\"{NEW}\"");
    let (status, _, body) =
        through_route(&sandbox, &[("cloudflare-workers-version-overrides", &pin)]).await;
    assert_eq!((status, body["status"].as_str()), (500, Some("error")));
}
