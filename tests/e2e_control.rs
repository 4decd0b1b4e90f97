//! End-to-end tests of the control plane (issue 5) against the built Worker under local
//! workerd with real D1 and Durable Objects: auth, tokens and team isolation, roles, stored
//! credentials, idempotency and the OpenAPI document. The deploy lock is in
//! `e2e_control_locks.rs`; approvals, freezes, history and the CLI in
//! `e2e_control_deployments.rs`.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use e2e_support::{assert_error, assert_says, bootstrap_secret, find_by, unique, Api, Team};
use serde_json::{json, Value};

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn bootstrap_needs_the_secret_and_happens_once() {
    let body =
        json!({ "slug": unique("boot"), "name": "First", "admin_email": "first@example.test" });
    let (status, err) = Api::new("wrong-secret")
        .post("/api/v1/bootstrap", body.clone())
        .await;
    assert_error(status, &err, 401, "unauthorized");
    let operator = Api::new(&bootstrap_secret());
    let (first, created) = operator.post("/api/v1/bootstrap", body.clone()).await;
    // Another e2e test binary may have bootstrapped this fresh database first.
    assert!(first == 201 || first == 409, "{created}");
    if first == 201 {
        let admin = Api::new(created["token"]["secret"].as_str().unwrap());
        let me = admin.read("/api/v1/me").await;
        assert_eq!(me["role"], "admin");
        assert_eq!(me["actor"], "member:first@example.test");
    }
    let (again, err) = operator.post("/api/v1/bootstrap", body).await;
    assert_error(again, &err, 409, "conflict");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn requests_without_a_valid_token_are_refused() {
    let fake = format!("clodo_{}", "A".repeat(43));
    for token in ["", fake.as_str(), "ghp_notours"] {
        Api::new(token)
            .refused("GET", "/api/v1/projects", None, (401, "unauthorized"))
            .await;
    }
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn tokens_are_shown_once_hashed_in_listings_and_revocable() {
    let team = Team::new().await;
    let (viewer, _) = team.person("vera", "viewer").await;
    let me = viewer.read("/api/v1/me").await;
    assert_eq!(me["role"], "viewer");
    let list = team.admin.read("/api/v1/tokens").await;
    let text = list.to_string();
    assert!(
        !text.contains(&viewer.token),
        "a listing must never contain a secret"
    );
    let vera = find_by(&list["items"], "member_email", "vera@example.test");
    assert!(viewer.token.starts_with(vera["prefix"].as_str().unwrap()));
    assert!(
        vera["last_used_at"].is_number(),
        "last use is recorded: {vera}"
    );
    // A token cannot outrank its member.
    team.admin
        .post_refused(
            "/api/v1/tokens",
            json!({ "name": "x", "role": "admin", "member_email": "vera@example.test" }),
            (400, "bad_request"),
        )
        .await;
    // Viewers cannot manage tokens.
    viewer
        .refused("GET", "/api/v1/tokens", None, (403, "forbidden"))
        .await;
    let id = vera["id"].as_str().unwrap();
    team.admin.delete_ok(&format!("/api/v1/tokens/{id}")).await;
    let err = viewer.assert_signed_out().await;
    assert_says(&err, "message", "revoked");
    assert_eq!(team.audit("token.revoke").await.len(), 1);
    // Removing a member revokes the tokens acting for them.
    let (deployer, _) = team.person("max", "deployer").await;
    team.remove_member("max@example.test").await;
    deployer.assert_signed_out().await;
    assert_eq!(team.audit("member.remove").await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_token_of_team_a_gets_404_on_every_team_b_resource() {
    let a = Team::new().await;
    let b = Team::new().await;
    let dep = b
        .admin
        .create(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production" }),
        )
        .await;
    let dep_id = dep["id"].as_str().unwrap();
    let tok = b
        .admin
        .create(
            "/api/v1/tokens",
            json!({ "name": "ci", "role": "deployer" }),
        )
        .await;
    let tok_id = tok["id"].as_str().unwrap();
    let cred = b
        .admin
        .create(
            "/api/v1/credentials",
            json!({ "account_id": "acc_b", "name": "prod", "api_token": "cf-secret-of-b" }),
        )
        .await;
    let cred_id = cred["id"].as_str().unwrap();
    // Team A uses the same project and environment names, so only the team scope differs:
    // use a project name A does not have to prove B's is invisible.
    let b_only = json!({ "slug": "b-only" });
    b.admin.create("/api/v1/projects", b_only).await;
    let staging = json!({ "name": "staging" });
    b.admin
        .post("/api/v1/projects/b-only/environments", staging)
        .await;
    let env = "/api/v1/projects/b-only/environments/staging";
    let probes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/projects/b-only".into(), None),
        ("GET", "/api/v1/projects/b-only/services".into(), None),
        (
            "POST",
            "/api/v1/projects/b-only/services".into(),
            Some(json!({ "name": "api" })),
        ),
        ("GET", "/api/v1/projects/b-only/environments".into(), None),
        (
            "POST",
            "/api/v1/projects/b-only/environments".into(),
            Some(json!({ "name": "x" })),
        ),
        ("GET", format!("{env}/policy"), None),
        (
            "PUT",
            format!("{env}/policy"),
            Some(json!({ "required_approvals": 0 })),
        ),
        ("GET", format!("{env}/lock"), None),
        (
            "POST",
            format!("{env}/lock/force-unlock"),
            Some(json!({ "reason": "x" })),
        ),
        ("GET", format!("/api/v1/deployments/{dep_id}"), None),
        (
            "POST",
            format!("/api/v1/deployments/{dep_id}/transitions"),
            Some(json!({ "to": "cancelled" })),
        ),
        (
            "GET",
            format!("/api/v1/deployments/{dep_id}/approvals"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/deployments/{dep_id}/approvals"),
            Some(json!({})),
        ),
        ("DELETE", format!("/api/v1/tokens/{tok_id}"), None),
        ("DELETE", format!("/api/v1/credentials/{cred_id}"), None),
        (
            "POST",
            "/api/v1/deployments".into(),
            Some(json!({ "project": "b-only", "environment": "staging" })),
        ),
    ];
    let holder_ops = ["acquire", "heartbeat", "release", "cancel"].map(|op| {
        let body = Some(json!({ "holder_id": "h" }));
        ("POST", format!("{env}/lock/{op}"), body)
    });
    for (method, path, body) in probes.into_iter().chain(holder_ops) {
        let err = a
            .admin
            .refused(method, &path, body, (404, "not_found"))
            .await;
        assert!(
            !err.to_string().contains(&b.team_id),
            "{method} {path}: {err}"
        );
    }
    // Listings never show B's rows either.
    for path in [
        "/api/v1/deployments",
        "/api/v1/projects",
        "/api/v1/credentials",
        "/api/v1/tokens",
        "/api/v1/members",
        "/api/v1/audit?format=jsonl",
    ] {
        let (_, _, text) = a.admin.raw("GET", path, None, &[]).await;
        assert!(
            !text.contains(dep_id)
                && !text.contains("b-only")
                && !text.contains(cred_id)
                && !text.contains(tok_id),
            "{path}: {text}"
        );
    }
    // And B's deployment is untouched.
    b.admin.assert_status(dep_id, "queued").await;
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_viewer_cannot_deploy_or_lock() {
    let team = Team::new().await;
    let (viewer, _) = team.person("val", "viewer").await;
    let err = viewer
        .post_refused(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production" }),
            (403, "forbidden"),
        )
        .await;
    assert_says(&err, "message", "deployer");
    viewer
        .post_refused(
            &format!("{}/lock/acquire", team.env_path()),
            json!({ "holder_id": "v" }),
            (403, "forbidden"),
        )
        .await;
    let list = viewer.read("/api/v1/deployments").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn credentials_are_stored_encrypted_and_never_returned() {
    let team = Team::new().await;
    let secret = "cf-api-token-do-not-leak-0123456789";
    let created = team
        .admin
        .create(
            "/api/v1/credentials",
            json!({ "account_id": "acc_clodo_dev", "name": "dev", "api_token": secret }),
        )
        .await;
    assert!(!created.to_string().contains(secret));
    let (_, list) = team.admin.get("/api/v1/credentials").await;
    assert_eq!(list["items"][0]["account_id"], "acc_clodo_dev");
    assert!(!list.to_string().contains(secret));
    let (_, _, audit) = team
        .admin
        .raw("GET", "/api/v1/audit?format=jsonl", None, &[])
        .await;
    assert!(!audit.contains(secret));
    team.admin
        .post_refused(
            "/api/v1/credentials",
            json!({ "account_id": "acc_clodo_dev", "name": "dup", "api_token": "x" }),
            (409, "conflict"),
        )
        .await;
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn idempotency_keys_replay_the_first_answer() {
    let team = Team::new().await;
    let key = unique("idem");
    let body = json!({ "project": "shop", "environment": "production" });
    let (s1, _, first) = team
        .admin
        .raw(
            "POST",
            "/api/v1/deployments",
            Some(body.clone()),
            &[("idempotency-key", &key)],
        )
        .await;
    let (s2, headers, second) = team
        .admin
        .raw(
            "POST",
            "/api/v1/deployments",
            Some(body.clone()),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second, "the replay is the first answer");
    assert_eq!(headers["idempotent-replayed"], "true");
    let (_, list) = team.admin.get("/api/v1/deployments").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "created once");
    let other_body =
        json!({ "project": "shop", "environment": "production", "message": "different" });
    let (status, _, text) = team
        .admin
        .raw(
            "POST",
            "/api/v1/deployments",
            Some(other_body),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!(status, 409, "same key, different body: {text}");
    assert!(text.contains("another request body"), "{text}");
    let (status, _, text) = team
        .admin
        .raw(
            "POST",
            "/api/v1/projects",
            Some(json!({ "slug": "other" })),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!(status, 409, "{text}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn openapi_lists_every_route_and_each_is_served() {
    let (status, spec) = Api::new("").get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() > 20);
    let anon = Api::new("");
    for (path, ops) in paths {
        let concrete = path.replace('{', "x").replace('}', "");
        for method in ops.as_object().unwrap().keys() {
            let body = matches!(method.as_str(), "post" | "put").then(|| json!({}));
            let (status, reply) = anon.send(&method.to_uppercase(), &concrete, body).await;
            assert_ne!(status, 405, "{method} {path}: {reply}");
            let message = reply["error"]["message"].as_str().unwrap_or("");
            assert!(
                !message.starts_with("no route"),
                "{method} {path} is in the spec but not served"
            );
        }
    }
}
