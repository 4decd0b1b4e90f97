//! Tests of the sandbox Cloudflare API's lists and less common resources: page, cursor and v4
//! pagination with their caps, routes and custom domains, concurrent writes, the example seed
//! against the schema, and the less common bound resources. Authentication, permissions, error
//! codes, uploads and tokens are in tests/sandbox_api.rs.

mod sandbox_support;

use sandbox_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn page_pagination_with_caps() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let kv = format!("/accounts/{ACCOUNT}/storage/kv/namespaces");
    for i in 0..24 {
        let (status, body) = api
            .post(&kv, json!({ "title": format!("ns-{i:02}") }))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = api
        .get(&format!("{kv}?per_page=10&page=3&order=title"))
        .await;
    assert_eq!(
        body["result_info"],
        json!({ "page": 3, "per_page": 10, "count": 5, "total_count": 25, "total_pages": 3 })
    );
    // Sorted by title: "cache", then ns-00..ns-23, so page 3 starts at the 21st title.
    assert_eq!(body["result"][0]["title"], "ns-19");
    let (_, body) = api.get(&format!("{kv}?per_page=5000")).await;
    assert_eq!(
        body["result_info"]["per_page"], 1000,
        "KV caps per_page at 1000"
    );
    let (_, body) = api.get(&kv).await;
    assert_eq!(
        body["result_info"]["per_page"], 20,
        "KV pages by 20 by default"
    );
    let (status, body) = api.get(&format!("{kv}?page=abc")).await;
    assert_eq!((status, error_code(&body)), (400, 1001));

    let (_, body) = api.get("/zones?per_page=500").await;
    assert_eq!(
        body["result_info"]["per_page"], 50,
        "zones cap per_page at 50"
    );
    assert_eq!(
        body["result_info"]["total_count"], 2,
        "only zones of covered accounts"
    );
    let zones = api
        .result(&format!("/zones?name=example.com&account.id={ACCOUNT}"))
        .await;
    assert_eq!(zones.as_array().unwrap().len(), 1);
    assert_eq!(zones[0]["status"], "active");
    assert_eq!(
        api.result("/zones?name=starts_with:pend").await[0]["status"],
        "pending"
    );

    let (_, body) = api
        .get("/zones/zone_example/dns_records?per_page=2&page=2")
        .await;
    assert_eq!(body["result_info"]["count"], 1);
    assert_eq!(body["result_info"]["total_count"], 3);
    let www = api
        .result("/zones/zone_example/dns_records?name=www.example.com&type=CNAME")
        .await;
    assert_eq!(www.as_array().unwrap().len(), 1);

    let (_, body) = api
        .get(&format!("/accounts/{ACCOUNT}/d1/database?per_page=100000"))
        .await;
    assert_eq!(body["result_info"]["per_page"], 10000);
    let (_, body) = api
        .get(&format!("/accounts/{ACCOUNT}/queues?name=jobs&name=other"))
        .await;
    assert_eq!(body["result_info"]["total_count"], 1);
}

#[tokio::test]
async fn cursor_pagination_for_r2() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let buckets = format!("/accounts/{ACCOUNT}/r2/buckets");
    for name in ["b-one", "b-two", "b-three", "b-four"] {
        let (status, body) = api.post(&buckets, json!({ "name": name })).await;
        assert_eq!(status, 200, "{body}");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{buckets}?per_page=2&cursor={c}"),
            None => format!("{buckets}?per_page=2"),
        };
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for b in body["result"]["buckets"].as_array().unwrap() {
            seen.push(b["name"].as_str().unwrap().to_string());
        }
        match body["result_info"]["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec!["assets", "b-four", "b-one", "b-three", "b-two"]);
    let (status, _) = api.get(&format!("{buckets}?cursor=%%%")).await;
    assert_eq!(status, 400);
    let contains = api.result(&format!("{buckets}?name_contains=thr")).await;
    assert_eq!(contains["buckets"][0]["name"], "b-three");
}

#[tokio::test]
async fn v4_page_pagination_for_versions() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let versions = format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api/versions");
    let (_, body) = api.get(&format!("{versions}?per_page=1&page=2")).await;
    assert_eq!(body["result"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["result"]["items"][0]["number"], 1,
        "newest first, so page 2 holds version 1"
    );
    assert_eq!(body["result_info"]["total_count"], 2);
    let (_, body) = api
        .get(&format!("{versions}?deployable=true&per_page=1"))
        .await;
    assert_eq!(
        body["result"]["items"].as_array().unwrap().len(),
        2,
        "deployable=true ignores pagination"
    );

    let deployments = api.account("/workers/scripts/seeded-api/deployments").await;
    assert_eq!(
        deployments["deployments"][0]["versions"][0]["percentage"], 10.0,
        "newest deployment first"
    );
}

#[tokio::test]
async fn routes_and_custom_domains() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let routes = api.result("/zones/zone_example/workers/routes").await;
    assert_eq!(routes[0]["pattern"], "example.com/api/*");
    assert_eq!(routes[0]["script"], "seeded-api");

    let script_routes = format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api/routes");
    let (status, body) = api.put(&script_routes, json!([{ "pattern": "shop.example.com/*", "zone_name": "example.com" }, { "pattern": "example.com/v2/*" }])).await;
    assert_eq!(status, 200, "{body}");
    let patterns: Vec<&str> = strings(&body["result"], "pattern");
    assert_eq!(
        patterns,
        vec!["shop.example.com/*", "example.com/v2/*"],
        "PUT replaces all the script's routes"
    );
    let (status, body) = api
        .post(
            "/zones/zone_example/workers/routes",
            json!({ "pattern": "example.com/v2/*", "script": "other" }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, 10007));
    let (status, body) = api
        .put(&script_routes, json!([{ "pattern": "nowhere.net/*" }]))
        .await;
    assert_eq!(status, 400, "{body}");

    let domains = format!("/accounts/{ACCOUNT}/workers/domains");
    let by_host = api
        .result(&format!("{domains}?hostname=api.example.com"))
        .await;
    assert_eq!(by_host[0]["service"], "seeded-api");
    assert_eq!(by_host[0]["zone_id"], "zone_example");

    // legacy.example.com has its own DNS record: 100117 unless overridden.
    let records = format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api/domains/records");
    let (status, body) = api
        .put(
            &records,
            json!({ "override_scope": true, "origins": [{ "hostname": "legacy.example.com" }] }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (409, 100117));
    let changeset = api.send("POST", &format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api/domains/changeset?replace_state=true"), Some(json!([{ "hostname": "legacy.example.com" }])), &[]).await.1;
    assert_eq!(
        changeset["result"]["conflicting"][0]["hostname"],
        "legacy.example.com"
    );
    assert_eq!(
        changeset["result"]["removed"][0]["hostname"],
        "api.example.com"
    );
    let (status, body) = api
        .put(&records, json!({ "override_scope": true, "override_existing_dns_record": true, "origins": [{ "hostname": "legacy.example.com" }] }))
        .await;
    assert_eq!(status, 200, "{body}");
    let by_service = api.result(&format!("{domains}?service=seeded-api")).await;
    let hosts: Vec<&str> = items(&by_service)
        .iter()
        .map(|d| d["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, vec!["legacy.example.com"]);
}

#[tokio::test]
async fn concurrent_writes_are_all_kept() {
    let sandbox = start_seeded().await;
    let kv = format!("/accounts/{ACCOUNT}/storage/kv/namespaces");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let api = Api::new(&sandbox, Some(EDIT_TOKEN));
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            api.post(&kv, json!({ "title": format!("c-{i}") })).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let (_, body) = api.get(&format!("{kv}?per_page=100")).await;
    assert_eq!(body["result_info"]["total_count"], 41);
    let mut ids: Vec<&str> = strings(&body["result"], "id");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 41);
}

#[tokio::test]
async fn example_seed_loads_and_the_schema_matches_the_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sandbox = clodo::sandbox::start(clodo::sandbox::SandboxOptions {
        seed: clodo::sandbox::Seed::File(root.join("examples/sandbox-seed.json")),
        ..Default::default()
    })
    .await
    .expect("the example seed is valid");
    let api = Api::new(&sandbox, Some("clodo-dev-token"));
    let (_, body) = api.get("/accounts/acc_clodo_dev/tokens/verify").await;
    assert_eq!(body["result"]["status"], "active");
    let zones = api.result("/zones?name=example.com").await;
    assert_eq!(zones[0]["status"], "active");
    assert_eq!(zones[0]["account"]["name"], "Clodo Dev");

    // Every top-level field of the model is described by the schema, and nothing else.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/sandbox.schema.json")).unwrap(),
    )
    .unwrap();
    let model = serde_json::to_value(clodo::sandbox::State::default()).unwrap();
    let mut in_model: Vec<&String> = model.as_object().unwrap().keys().collect();
    let mut in_schema: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    in_model.sort();
    in_schema.sort();
    assert_eq!(in_model, in_schema);
}

#[tokio::test]
async fn less_common_bound_resources_and_pages() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let a = format!("/accounts/{ACCOUNT}");
    let hd = api
        .result(&format!(
            "{a}/hyperdrive/configs/hd000000000000000000000000000001"
        ))
        .await;
    assert_eq!(hd["name"], "orders-pg");
    assert_eq!(hd["origin"]["port"], 5432);
    let index = api
        .result(&format!("{a}/vectorize/v2/indexes/embeddings"))
        .await;
    assert_eq!(
        index["config"],
        json!({ "dimensions": 384, "metric": "cosine" })
    );
    let cert = api
        .result(&format!(
            "{a}/mtls_certificates/6d1b8c1e-0000-4000-8000-000000000001"
        ))
        .await;
    assert_eq!(cert["name"], "upstream-client");
    let namespaces = api
        .result(&format!("{a}/workers/dispatch/namespaces"))
        .await;
    assert_eq!(namespaces[0]["namespace_name"], "customers");
    let unknown = [
        "/hyperdrive/configs/nope",
        "/vectorize/v2/indexes/nope",
        "/mtls_certificates/nope",
        "/workers/dispatch/namespaces/nope",
    ];
    api.assert_all_refused(&a, &unknown, (404, 1404)).await;
    // These products sit outside the token permission model: covering the account is enough,
    // another account's token is refused.
    let (status, body) = api.get("/accounts/acc_other/hyperdrive/configs").await;
    assert_eq!((status, error_code(&body)), (403, 10000));

    let project = api.result(&format!("{a}/pages/projects/docs-site")).await;
    assert_eq!(
        project["canonical_deployment"]["id"],
        "pd000003-0000-4000-8000-000000000003"
    );
    let (status, body) = api.get(&format!("{a}/pages/projects/missing")).await;
    assert_eq!((status, error_code(&body)), (404, 8000007));
    let production = api
        .result(&format!(
            "{a}/pages/projects/docs-site/deployments?env=production"
        ))
        .await;
    assert_eq!(production.as_array().unwrap().len(), 2);
    let (status, body) = api
        .post(&format!("{a}/pages/projects/docs-site/deployments/pd000001-0000-4000-8000-000000000001/rollback"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["is_rollback"], true);
    assert_eq!(
        body["result"]["deployment_trigger"]["metadata"]["commit_hash"],
        "aaa111"
    );
    let project = api.result(&format!("{a}/pages/projects/docs-site")).await;
    assert_eq!(project["canonical_deployment"]["id"], body["result"]["id"]);
    let (status, _) = api
        .post(&format!("{a}/pages/projects/docs-site/deployments/pd000002-0000-4000-8000-000000000002/rollback"), json!({}))
        .await;
    assert_eq!(status, 400, "previews cannot be rolled back to");
}
