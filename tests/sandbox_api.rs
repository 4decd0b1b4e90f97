//! The sandbox's Cloudflare API over HTTP: token verification, authentication and permissions,
//! every error code it answers with, uploads and deployments, and token details. Pagination,
//! routes and domains, concurrent writes and less common resources are in
//! tests/sandbox_api_lists.rs.

mod sandbox_support;

use sandbox_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn token_verify_distinguishes_user_and_account_tokens() {
    let sandbox = start_seeded().await;
    let user = Api::new(&sandbox, Some(EDIT_TOKEN));
    let (status, body) = user.get("/user/tokens/verify").await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["status"], "active");
    assert_eq!(body["result"]["id"], "tok_user_edit");
    // A good verify carries code 10000 in messages, not in errors.
    assert_eq!(body["messages"][0]["code"], 10000);
    assert_eq!(body["errors"], json!([]));

    let account = Api::new(&sandbox, Some("account-token"));
    let (status, body) = account.get("/user/tokens/verify").await;
    assert_eq!((status, error_code(&body)), (401, 1000));
    let (status, body) = account
        .get(&format!("/accounts/{ACCOUNT}/tokens/verify"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["status"], "active");
    let (_, body) = user
        .get(&format!("/accounts/{ACCOUNT}/tokens/verify"))
        .await;
    assert_eq!(error_code(&body), 1000);
    let (_, body) = Api::new(&sandbox, Some("no-such-token"))
        .get("/user/tokens/verify")
        .await;
    assert_eq!(error_code(&body), 1000);

    for (token, status) in [
        ("disabled-token", "disabled"),
        ("expired-token", "expired"),
        ("past-expiry-token", "expired"),
    ] {
        let (code, body) = Api::new(&sandbox, Some(token))
            .get("/user/tokens/verify")
            .await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["result"]["status"], status);
        assert_eq!(body["messages"], json!([]));
    }
}

#[tokio::test]
async fn authentication_errors() {
    let sandbox = start_seeded().await;
    let path = format!("/accounts/{ACCOUNT}/workers/scripts");
    let (status, body) = Api::new(&sandbox, None).get(&path).await;
    assert_eq!((status, error_code(&body)), (400, 9106));

    let (status, body) = Api::new(&sandbox, None)
        .send("GET", &path, None, &[("authorization", "Basic abc")])
        .await;
    assert_eq!((status, error_code(&body)), (400, 6003));
    assert_eq!(body["errors"][0]["error_chain"][0]["code"], 6111);

    let (status, body) = Api::new(&sandbox, Some("no-such-token")).get(&path).await;
    assert_eq!((status, error_code(&body)), (401, 9109));
    for token in ["disabled-token", "expired-token", "past-expiry-token"] {
        let (status, body) = Api::new(&sandbox, Some(token)).get(&path).await;
        assert_eq!((status, error_code(&body)), (403, 9109), "{token}");
    }
}

#[tokio::test]
async fn permissions_accounts_and_identifiers() {
    let sandbox = start_seeded().await;
    let read = Api::new(&sandbox, Some("read-only-token"));
    let databases = format!("/accounts/{ACCOUNT}/d1/database");
    read.result(&databases).await;
    let (status, body) = read.post(&databases, json!({ "name": "x" })).await;
    assert_eq!((status, error_code(&body)), (403, 10000));

    // The account token has scripts and D1 but no KV permission.
    let account = Api::new(&sandbox, Some("account-token"));
    account.account("/workers/scripts").await;
    let (status, body) = account
        .get(&format!("/accounts/{ACCOUNT}/storage/kv/namespaces"))
        .await;
    assert_eq!((status, error_code(&body)), (403, 10000));

    let edit = Api::new(&sandbox, Some(EDIT_TOKEN));
    let (status, body) = edit.get("/accounts/acc_other/workers/scripts").await;
    assert_eq!((status, error_code(&body)), (403, 10000));
    let (status, body) = edit.get("/accounts/dev@example.com/workers/scripts").await;
    assert_eq!((status, error_code(&body)), (400, 7003));
    assert_eq!(body["errors"][1]["code"], 7000);
    assert!(
        str_of(&body["errors"][0]["message"]).contains("/accounts/dev@example.com/workers/scripts")
    );
    let (_, body) = edit.get("/zones/nope").await;
    assert_eq!(error_code(&body), 7003);
    let (status, body) = edit.get("/zones/zone_other").await;
    assert_eq!((status, error_code(&body)), (403, 10000));

    let accounts = edit.result("/accounts").await;
    assert_eq!(
        accounts,
        json!([{ "id": ACCOUNT, "name": "Sandbox Test", "type": "standard" }])
    );
    assert_eq!(edit.account("").await["name"], "Sandbox Test");
    assert_eq!(
        edit.result("/memberships").await[0]["account"]["id"],
        ACCOUNT
    );
    let (status, body) = account.get("/memberships").await;
    assert_eq!((status, error_code(&body)), (403, 9106));
    assert_eq!(edit.result("/user").await["email"], "dev@example.com");
    let (_, body) = account.get("/user").await;
    assert_eq!(error_code(&body), 9109);

    let (status, body) = edit.get("/accounts/acc_test/workers/not-a-thing").await;
    assert_eq!((status, error_code(&body)), (404, 7000));
    assert!(str_of(&body["errors"][0]["message"])
        .contains("GET /client/v4/accounts/acc_test/workers/not-a-thing"));
}

#[tokio::test]
async fn not_found_and_conflict_codes() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let a = format!("/accounts/{ACCOUNT}");

    for path in [
        "/d1/database/no-such-db",
        "/d1/database/00000000-0000-4000-8000-000000000000",
    ] {
        let (status, body) = api.get(&format!("{a}{path}")).await;
        assert_eq!((status, error_code(&body)), (404, 7404), "{path}");
    }
    // Wrangler looks D1 databases up by name too.
    assert_eq!(
        api.result(&format!("{a}/d1/database/app-db")).await["uuid"],
        "11111111-1111-4111-8111-111111111111"
    );
    let (status, body) = api.get(&format!("{a}/r2/buckets/missing")).await;
    assert_eq!((status, error_code(&body)), (404, 10006));
    // A bucket exists only in its jurisdiction.
    let (_, body) = api.get(&format!("{a}/r2/buckets/eu-assets")).await;
    assert_eq!(error_code(&body), 10006);
    let (status, _) = api.get_eu(&format!("{a}/r2/buckets/eu-assets")).await;
    assert_eq!(status, 200);
    let ghost = [
        "/workers/services/ghost",
        "/workers/scripts/ghost/settings",
        "/workers/scripts/ghost/secrets",
        "/workers/scripts/ghost/versions",
        "/workers/scripts/ghost/deployments",
    ];
    api.assert_all_refused(&a, &ghost, (404, 10007)).await;
    let (status, body) = api.get(&format!("{a}/storage/kv/namespaces/missing")).await;
    assert_eq!((status, error_code(&body)), (404, 10013));

    for (path, request, want) in [
        ("/d1/database", json!({ "name": "app-db" }), (400, 7502)),
        (
            "/storage/kv/namespaces",
            json!({ "title": "cache" }),
            (400, 10014),
        ),
        ("/r2/buckets", json!({ "name": "assets" }), (409, 10004)),
        ("/r2/buckets", json!({ "name": "Bad_Name" }), (400, 10005)),
    ] {
        let (status, body) = api.post(&format!("{a}{path}"), request).await;
        assert_eq!((status, error_code(&body)), want, "{path}");
    }
    let (status, body) = api
        .post(&format!("{a}/d1/database"), json!({ "nom": "x" }))
        .await;
    assert_eq!(status, 400, "{body}");

    // Secret edits while a split is live: 10215 (the seeded script is at 10/90).
    let (status, body) = api
        .put(
            &format!("{a}/workers/scripts/seeded-api/secrets"),
            json!({ "name": "X", "text": "y", "type": "secret_text" }),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, 10215));
    let secrets = api
        .result(&format!("{a}/workers/scripts/seeded-api/secrets"))
        .await;
    assert_eq!(
        secrets,
        json!([{ "name": "API_KEY", "type": "secret_text" }])
    );
}

/// A hand-built multipart upload (metadata + one ES module).
fn upload_body(metadata: Value) -> (String, Vec<u8>) {
    let boundary = "sandbox-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{metadata}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"index.js\"; filename=\"index.js\"\r\n\
         Content-Type: application/javascript+module\r\n\r\nexport default {{ fetch() {{ return new Response('x') }} }}\r\n--{boundary}--\r\n"
    );
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

async fn upload(
    sandbox: &clodo::sandbox::RunningSandbox,
    method: &str,
    path: &str,
    metadata: Value,
) -> (u16, Value) {
    let (content_type, body) = upload_body(metadata);
    let resp = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", sandbox.base_url()),
        )
        .bearer_auth(EDIT_TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn upload_and_deployment_errors() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let scripts = format!("/accounts/{ACCOUNT}/workers/scripts");
    let base = json!({ "main_module": "index.js", "compatibility_date": "2025-01-01" });
    let (w, versions) = (format!("{scripts}/w"), format!("{scripts}/w/versions"));

    let ghost = format!("{scripts}/ghost/versions");
    let (status, body) = upload(&sandbox, "POST", &ghost, base.clone()).await;
    assert_eq!((status, error_code(&body)), (404, 10007));

    let (status, body) = upload(&sandbox, "PUT", &w, base.clone()).await;
    assert_eq!(status, 200, "{body}");
    let first = body["result"]["deployment_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut with_migration = base.clone();
    with_migration["migrations"] = json!({ "new_tag": "v1", "new_classes": ["A"] });
    let (status, body) = upload(&sandbox, "POST", &versions, with_migration).await;
    assert_eq!((status, error_code(&body)), (400, 10211));

    let mut inherit = base.clone();
    inherit["bindings"] = json!([{ "type": "inherit", "name": "MISSING" }]);
    let strict = format!("{versions}?bindings_inherit=strict");
    let (status, body) = upload(&sandbox, "POST", &strict, inherit.clone()).await;
    assert_eq!((status, error_code(&body)), (400, 10057));
    let (status, _) = upload(&sandbox, "POST", &versions, inherit).await;
    assert_eq!(
        status, 200,
        "without strict an unresolvable inherit is dropped"
    );

    let mut d1 = base.clone();
    d1["bindings"] = json!([{ "type": "d1", "name": "DB" }]);
    let (status, body) = upload(&sandbox, "POST", &versions, d1).await;
    assert_eq!((status, error_code(&body)), (400, 10021));
    assert_eq!(
        body["errors"][0]["message"],
        "binding DB of type d1 must have a valid `id` specified"
    );

    let mut service = base.clone();
    service["bindings"] = json!([{ "type": "service", "name": "AUTH", "service": "nowhere" }]);
    let (_, body) = upload(&sandbox, "POST", &versions, service).await;
    assert_eq!(error_code(&body), 10143);

    let (status, body) = api
        .post(&format!("{scripts}/w/deployments"), json!({ "strategy": "percentage", "versions": [{ "version_id": first, "percentage": 90 }] }))
        .await;
    assert_eq!((status, error_code(&body)), (400, 10021));
    let (status, body) = api
        .post(&format!("{scripts}/w/deployments"), json!({ "strategy": "percentage", "versions": [{ "version_id": "nope", "percentage": 100 }] }))
        .await;
    assert_eq!((status, error_code(&body)), (400, 10021));

    // Migration tags are preconditions on the script upload.
    let mut migrate = base.clone();
    migrate["migrations"] = json!({ "new_tag": "v1", "new_sqlite_classes": ["Room"] });
    let (status, body) = upload(&sandbox, "PUT", &w, migrate).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["migration_tag"], "v1");
    let mut stale = base.clone();
    stale["migrations"] = json!({ "old_tag": "v0", "new_tag": "v2", "new_classes": ["B"] });
    let (status, body) = upload(&sandbox, "PUT", &w, stale).await;
    assert_eq!((status, error_code(&body)), (400, 10079));

    // Oversized JSON bodies are refused before parsing.
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, _) = api
        .post(
            &format!("/accounts/{ACCOUNT}/storage/kv/namespaces"),
            json!({ "title": huge }),
        )
        .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn token_details_bulk_secrets_and_latest_version_patches() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    // A token cannot read its own policies.
    let (status, body) = api.get("/user/tokens/tok_user_edit").await;
    assert_eq!((status, error_code(&body)), (403, 9109));

    // Put the seeded split back to one version so secrets may change.
    let scripts = format!("/accounts/{ACCOUNT}/workers/scripts/seeded-api");
    let (status, _) = api
        .post(&format!("{scripts}/deployments"), json!({ "versions": [{ "version_id": "aaaaaaaa-0000-4000-8000-000000000002", "percentage": 100 }] }))
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .send("PATCH", &format!("{scripts}/secrets-bulk"), Some(json!({ "secrets": { "NEW_ONE": { "type": "secret_text", "text": "v" }, "API_KEY": null } })), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let secrets = api.result(&format!("{scripts}/secrets")).await;
    assert_eq!(
        secrets,
        json!([{ "name": "NEW_ONE", "type": "secret_text" }])
    );
    let deployments = api.result(&format!("{scripts}/deployments")).await;
    let live = deployments["deployments"][0]["versions"][0]["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let version = api.result(&format!("{scripts}/versions/{live}")).await;
    assert_eq!(version["number"], 3, "bulk secrets deploy one new version");

    let (status, body) = api
        .send("PATCH", &format!("/accounts/{ACCOUNT}/workers/workers/seeded-api/versions/latest"),
              Some(json!({ "env": { "LATE": { "type": "secret_text", "text": "zz" } }, "annotations": { "workers/message": "secret only" } })), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["number"], 4);
    assert_eq!(
        body["result"]["annotations"]["workers/message"],
        "secret only"
    );
    assert!(
        !body.to_string().contains("\"zz\""),
        "secret values are never returned"
    );
    let deployments = api.result(&format!("{scripts}/deployments")).await;
    assert_eq!(
        deployments["deployments"][0]["versions"][0]["version_id"],
        live.as_str(),
        "not deployed"
    );

    // 10222: a Worker without versions.
    let (status, body) = api
        .send(
            "PATCH",
            &format!("/accounts/{ACCOUNT}/workers/workers/empty-worker/versions/latest"),
            Some(json!({ "env": {} })),
            &[],
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, 10222));
}

/// `GET /user/tokens/{id}` and `/accounts/{a}/tokens/{id}` answer a token's policies, as
/// Cloudflare does, to a token that holds the token-read permission; others get 9109.
#[tokio::test]
async fn token_details_show_policies_to_a_token_with_token_read() {
    let mut seed = seed();
    let tokens = seed["tokens"].as_array_mut().unwrap();
    tokens.push(json!({
        "id": "tok_introspect", "value": "introspect-token", "owner": "user",
        "user_email": "dev@example.com", "accounts": [ACCOUNT],
        "permissions": { "workers_scripts": "edit", "d1": "read", "routes": "edit", "api_tokens": "read" }
    }));
    tokens.push(json!({
        "id": "tok_acct_introspect", "value": "acct-introspect-token", "owner": "account",
        "accounts": [ACCOUNT], "permissions": { "workers_scripts": "edit", "api_tokens": "read" }
    }));
    let sandbox = clodo::sandbox::start(clodo::sandbox::SandboxOptions::with_seed_json(seed))
        .await
        .unwrap();
    let api = Api::new(&sandbox, Some("introspect-token"));
    let (status, body) = api.get("/user/tokens/tok_introspect").await;
    assert_eq!(status, 200, "{body}");
    let token = &body["result"];
    assert_eq!(token["id"], "tok_introspect");
    assert_eq!(token["status"], "active");
    let policies = token["policies"].as_array().unwrap();
    let account_key = format!("com.cloudflare.api.account.{ACCOUNT}");
    let groups_of = |scope: &dyn Fn(&Value) -> bool| -> Vec<String> {
        policies
            .iter()
            .filter(|p| p["effect"] == "allow" && scope(&p["resources"]))
            .flat_map(|p| p["permission_groups"].as_array().unwrap().clone())
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let account_groups = groups_of(&|r| r[&account_key] == "*");
    assert!(
        account_groups.contains(&"Workers Scripts Write".to_owned()),
        "{body:#}"
    );
    assert!(account_groups.contains(&"D1 Read".to_owned()), "{body:#}");
    let zone_groups = groups_of(&|r| r[&account_key]["com.cloudflare.api.account.zone.*"] == "*");
    assert_eq!(zone_groups, vec!["Workers Routes Write"], "{body:#}");
    // Another user's token is not visible; a token without the permission is refused.
    let (status, body) = api.get("/user/tokens/tok_read").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = Api::new(&sandbox, Some(EDIT_TOKEN))
        .get("/user/tokens/tok_user_edit")
        .await;
    assert_eq!((status, error_code(&body)), (403, 9109));
    // An account token reads its own through the account endpoint only.
    let acct = Api::new(&sandbox, Some("acct-introspect-token"));
    let (status, body) = acct
        .get(&format!("/accounts/{ACCOUNT}/tokens/tok_acct_introspect"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(items(&body["result"]["policies"][0]["permission_groups"])
        .iter()
        .any(|g| g["name"] == "Workers Scripts Write"));
    let (status, _) = acct.get("/user/tokens/tok_acct_introspect").await;
    assert_eq!(status, 403);
}
