//! End-to-end tests of the control plane (issue 5) against the built Worker under local
//! workerd with real D1 and Durable Objects: auth and team isolation, roles, the deploy lock
//! under 100 concurrent callers, lease expiry by alarm, audited force-unlock, approvals,
//! freezes with the emergency override, audit export, idempotency and the OpenAPI document.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::time::Duration;

use e2e_support::{
    assert_error, assert_says, base_url, bootstrap_secret, find_by, outcome, strings,
    strings_present, unique, Api, Team,
};
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
async fn hundred_concurrent_acquires_give_one_holder_and_a_fifo_queue_of_99() {
    let team = Team::new().await;
    let (deployer, _) = team.person("dora", "deployer").await;
    let path = format!("{}/lock/acquire", team.env_path());
    let calls = (0..100).map(|i| {
        let api = deployer.clone();
        let path = path.clone();
        tokio::spawn(async move {
            let holder = format!("dep-{i:03}");
            let body = api
                .post_ok(
                    &path,
                    json!({ "holder_id": holder, "purpose": "e2e", "lease_ms": 600_000 }),
                )
                .await;
            (holder, body)
        })
    });
    let results: Vec<(String, Value)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let granted: Vec<&String> = results
        .iter()
        .filter(|(_, b)| b["outcome"] == "granted")
        .map(|(h, _)| h)
        .collect();
    assert_eq!(granted.len(), 1, "exactly one holder");
    let mut positions: Vec<(u64, String)> = results
        .iter()
        .filter(|(_, b)| b["outcome"] == "queued")
        .map(|(h, b)| (b["position"].as_u64().unwrap(), h.clone()))
        .collect();
    positions.sort();
    assert_eq!(positions.len(), 99);
    assert_eq!(
        positions.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        (1..=99).collect::<Vec<_>>(),
        "each waiter got a distinct place"
    );
    let info = deployer.read(&team.lock()).await;
    assert_eq!(info["holder"]["holder_id"], granted[0].as_str());
    assert_eq!(info["holder"]["actor"], "member:dora@example.test");
    let queue: Vec<String> = info["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["holder_id"].as_str().unwrap().to_owned())
        .collect();
    // FIFO and no loss: the stored queue is exactly the waiters in the order they were told.
    assert_eq!(
        queue,
        positions.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>()
    );
    // Release by the holder hands over to position 1.
    let body = deployer
        .post_ok(
            &format!("{}/lock/release", team.env_path()),
            json!({ "holder_id": granted[0] }),
        )
        .await;
    assert_eq!(body["next_holder"]["holder_id"], positions[0].1.as_str());
    // Only the holder may release.
    deployer
        .post_refused(
            &format!("{}/lock/release", team.env_path()),
            json!({ "holder_id": positions[5].1 }),
            (409, "conflict"),
        )
        .await;
    // A waiter may leave the queue.
    let _ = deployer
        .post_ok(
            &format!("{}/lock/cancel", team.env_path()),
            json!({ "holder_id": positions[5].1 }),
        )
        .await;
    let (_, info) = deployer.get(&team.lock()).await;
    assert_eq!(info["queue"].as_array().unwrap().len(), 97);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn an_expired_lease_frees_the_lock_by_alarm_when_the_holder_vanished() {
    let team = Team::new().await;
    let (deployer, _) = team.person("gus", "deployer").await;
    let lock = team.lock();
    let ghost = deployer.acquire(&lock, "ghost", Some(5000)).await;
    assert_eq!(ghost["outcome"], "granted");
    let lease_end = ghost["lease"]["lease_until_ms"].as_i64().unwrap();
    let next = deployer.acquire(&lock, "next", Some(60_000)).await;
    assert_eq!(next["position"], 1, "{next}");
    // The ghost never heartbeats. Nobody calls until well after the lease ends, so only the
    // Durable Object's alarm can promote the waiter at the lease's end.
    tokio::time::sleep(Duration::from_millis(8000)).await;
    let (_, info) = deployer.get(&team.lock()).await;
    assert_eq!(info["holder"]["holder_id"], "next", "{info}");
    let promoted_at = info["holder"]["acquired_at_ms"].as_i64().unwrap();
    assert!(
        (promoted_at - lease_end).abs() < 2000,
        "promoted by the alarm at the lease end ({lease_end}), not by the later read: {promoted_at}"
    );
    // The vanished holder can no longer heartbeat.
    deployer
        .post_refused(
            &format!("{}/lock/heartbeat", team.env_path()),
            json!({ "holder_id": "ghost" }),
            (409, "conflict"),
        )
        .await;
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn force_unlock_is_admin_only_and_audited() {
    let team = Team::new().await;
    let (deployer, _) = team.person("fay", "deployer").await;
    let lock = team.lock();
    deployer.acquire(&lock, "stuck-job", Some(600_000)).await;
    deployer.acquire(&lock, "waiting-job", Some(600_000)).await;
    deployer
        .post_refused(
            &format!("{lock}/force-unlock"),
            json!({ "reason": "mine" }),
            (403, "forbidden"),
        )
        .await;
    let body = team
        .admin
        .post_ok(
            &format!("{lock}/force-unlock"),
            json!({ "reason": "CI runner died" }),
        )
        .await;
    assert_eq!(body["broken_lease"]["holder_id"], "stuck-job");
    assert_eq!(body["lock"]["holder"]["holder_id"], "waiting-job");
    let entries = team.audit("lock.force_unlock").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert!(e["actor"].as_str().unwrap().starts_with("member:admin@"));
    assert_eq!(e["before"]["holder"]["holder_id"], "stuck-job");
    assert_eq!(e["after"]["reason"], "CI runner died");
    assert_eq!(e["after"]["holder"]["holder_id"], "waiting-job");
    // The same entry in both export formats.
    let (status, headers, csv) = team
        .admin
        .raw(
            "GET",
            "/api/v1/audit?format=csv&action=lock.force_unlock",
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,at,actor,action,target_type,target_id,before,after")
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("lock.force_unlock") && row.contains("stuck-job"),
        "{row}"
    );
    let (_, _, jsonl) = team
        .admin
        .raw("GET", "/api/v1/audit?format=jsonl", None, &[])
        .await;
    let actions: Vec<String> = jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(actions.contains(&"lock.force_unlock".to_owned()));
    assert_eq!(actions[0], "team.create", "oldest first");
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
            format!("{env}/lock/acquire"),
            Some(json!({ "holder_id": "h" })),
        ),
        (
            "POST",
            format!("{env}/lock/heartbeat"),
            Some(json!({ "holder_id": "h" })),
        ),
        (
            "POST",
            format!("{env}/lock/release"),
            Some(json!({ "holder_id": "h" })),
        ),
        (
            "POST",
            format!("{env}/lock/cancel"),
            Some(json!({ "holder_id": "h" })),
        ),
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
    for (method, path, body) in probes {
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
    let (_, still) = b.admin.get(&format!("/api/v1/deployments/{dep_id}")).await;
    assert_eq!(still["status"], "queued");
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
async fn approvals_refuse_self_approval_and_queue_at_the_required_count() {
    let team = Team::new().await;
    let (alice, alice_actor) = team.person("alice", "approver").await;
    let (bob, bob_actor) = team.person("bob", "approver").await;
    let (carol, _) = team.person("carol", "deployer").await;
    team.set_policy(json!({ "required_approvals": 1 })).await;
    let dep = alice.create("/api/v1/deployments", json!({ "project": "shop", "environment": "production", "git_ref": "main", "git_sha": "abc123" })).await;
    assert_eq!(dep["status"], "awaiting_approval");
    assert_eq!(dep["requested_by"], alice_actor);
    let id = dep["id"].as_str().unwrap();
    let approvals = format!("/api/v1/deployments/{id}/approvals");
    let err = alice
        .post_refused(
            &approvals,
            json!({ "comment": "lgtm (me)" }),
            (403, "forbidden"),
        )
        .await;
    assert_says(&err, "message", "someone else");
    carol
        .post_refused(&approvals, json!({}), (403, "forbidden"))
        .await;
    // Nobody can skip the approval with a transition.
    alice
        .post_refused(
            &format!("/api/v1/deployments/{id}/transitions"),
            json!({ "to": "queued" }),
            (409, "conflict"),
        )
        .await;
    let ok = bob
        .create(&approvals, json!({ "comment": "checked the diff" }))
        .await;
    assert_eq!(ok["deployment"]["status"], "queued");
    bob.post_refused(&approvals, json!({}), (409, "conflict"))
        .await;
    let (_, list) = alice.get(&approvals).await;
    assert_eq!(list["items"][0]["actor"], bob_actor);
    assert_eq!(list["items"][0]["comment"], "checked the diff");
    // The rest of the lifecycle, with an illegal move refused.
    let transitions = format!("/api/v1/deployments/{id}/transitions");
    // Deploying needs the environment's lock, held under the deployment's id.
    let err = carol
        .post_refused(
            &transitions,
            json!({ "to": "deploying" }),
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "lock");
    let lock = team.lock();
    let held = carol.acquire(&lock, &id, None).await;
    assert_eq!(held["outcome"], "granted", "{held}");
    for to in ["deploying", "verifying", "succeeded"] {
        let (status, body) = carol.post(&transitions, json!({ "to": to })).await;
        assert_eq!(status, 200, "{to}: {body}");
        assert_eq!(body["status"], to);
    }
    carol
        .post_refused(
            &transitions,
            json!({ "to": "deploying" }),
            (409, "conflict"),
        )
        .await;
    // Finishing released the lock.
    let (_, info) = carol.get(&lock).await;
    assert_eq!(info["held"], false, "{info}");
    let (_, full) = carol.get(&format!("/api/v1/deployments/{id}")).await;
    let kinds: Vec<&str> = strings(&full["events"], "kind");
    assert_eq!(
        kinds,
        [
            "requested",
            "transition",
            "approved",
            "transition",
            "transition",
            "transition",
            "transition"
        ]
    );
    let to: Vec<&str> = strings_present(&full["events"], "to_status");
    assert_eq!(
        to,
        [
            "requested",
            "awaiting_approval",
            "queued",
            "deploying",
            "verifying",
            "succeeded"
        ]
    );
    assert!(full["finished_at"].is_number() && full["started_at"].is_number());
    assert_eq!(team.audit("deployment.approve").await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_freeze_blocks_deploys_and_the_emergency_override_is_audited() {
    let team = Team::new().await;
    let (deployer, _) = team.person("dan", "deployer").await;
    let (approver, approver_actor) = team.person("ann", "approver").await;
    let now = chrono::Utc::now();
    let policy = json!({
        "branches": ["main", "release/*"],
        "freezes": [{
            "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "reason": "Black Friday",
        }],
    });
    team.set_policy(policy).await;
    let request = json!({ "project": "shop", "environment": "production", "git_ref": "main" });
    let err = deployer
        .post_refused("/api/v1/deployments", request.clone(), (409, "conflict"))
        .await;
    assert_says(&err, "message", "Black Friday");
    // A plain deployer cannot override.
    let mut with_override = request.clone();
    with_override["emergency_override"] = json!({ "reason": "payments down, hotfix" });
    deployer
        .post_refused(
            "/api/v1/deployments",
            with_override.clone(),
            (403, "forbidden"),
        )
        .await;
    let dep = approver.create("/api/v1/deployments", with_override).await;
    assert_eq!(dep["override_reason"], "payments down, hotfix");
    assert_eq!(dep["overridden_rules"][0]["kind"], "frozen");
    let entries = team.audit("deployment.emergency_override").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"], approver_actor);
    assert_eq!(entries[0]["target_id"], dep["id"]);
    assert_eq!(entries[0]["after"]["reason"], "payments down, hotfix");
    // Branch rules are checked too: a feature branch is refused even by an approver.
    let err = approver
        .post_refused(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production", "git_ref": "feature/x" }),
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "feature/x");
    // A policy with a bad time zone is refused with the field.
    let err = team.admin.refused("PUT", &format!("{}/policy", team.env_path()), Some(json!({ "windows": [{ "days": ["mon"], "start": "09:00", "end": "17:00", "timezone": "Mars/Base" }] })), (400, "bad_request")).await;
    assert_says(&err, "message", "timezone");
    let (_, audit_policy) = team.admin.get("/api/v1/audit?action=policy.update").await;
    assert_eq!(audit_policy["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn history_is_cursor_paginated_newest_first() {
    let team = Team::new().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let dep = team.admin.create("/api/v1/deployments", json!({ "project": "shop", "environment": "production", "message": format!("#{i}") })).await;
        ids.push(dep["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/deployments?limit=2&cursor={c}"),
            None => "/api/v1/deployments?limit=2".into(),
        };
        let page = team.admin.read(&path).await;
        for d in page["items"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    team.admin
        .refused(
            "GET",
            "/api/v1/deployments?cursor=garbage!",
            None,
            (400, "bad_request"),
        )
        .await;
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

/// Runs the real `clodo` binary with a private config directory and no inherited login.
fn clodo(
    config_home: &std::path::Path,
    token: Option<&str>,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_clodo"));
    cmd.args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("CLODO_TOKEN")
        .env("CLODO_API_URL", base_url());
    if let Some(token) = token {
        cmd.env("CLODO_TOKEN", token);
    }
    outcome(cmd.output().expect("clodo runs"))
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn the_cli_logs_in_locks_approves_and_exports() {
    let team = Team::new().await;
    let (deployer, _) = team.person("cli-dev", "deployer").await;
    let (approver, _) = team.person("cli-approver", "approver").await;
    let home = std::env::temp_dir().join(unique("clodo-cli"));
    let (code, out, err) = clodo(
        &home,
        None,
        &["login", "--token", &deployer.token, "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let login: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(login["role"], "deployer");
    let config = home.join("clodo/config.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is owner-only");
    }
    let target = ["--project", "shop", "--env", "production", "--json"];
    let with = |head: &[&str], tail: &[&str]| -> Vec<String> {
        head.iter()
            .chain(target.iter())
            .chain(tail.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |args: Vec<String>, token: Option<&str>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        clodo(&home, token, &refs)
    };
    // The stored login is used when no env token is set.
    let (code, out, err) = run(
        with(
            &["lock", "acquire"],
            &["--holder", "cli-1", "--lease", "30"],
        ),
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["outcome"],
        "granted"
    );
    let (code, out, _) = run(with(&["lock", "status"], &[]), None);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["holder"]["holder_id"],
        "cli-1"
    );
    // The holder renews its lease; a second caller queues, then leaves the queue.
    let (code, out, err) = run(with(&["lock", "heartbeat"], &["--holder", "cli-1"]), None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lease_until_ms"), "{out}");
    let (code, out, err) = run(with(&["lock", "acquire"], &["--holder", "cli-2"]), None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["position"], 1);
    let (code, _, err) = run(with(&["lock", "cancel"], &["--holder", "cli-2"]), None);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(with(&["lock", "status"], &[]), None);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert!(status["queue"].as_array().unwrap().is_empty(), "{status}");
    let (code, _, err) = run(with(&["lock", "heartbeat"], &["--holder", "cli-2"]), None);
    assert_eq!(code, 1, "only the holder renews");
    assert!(err.contains("409"), "{err}");
    let (code, _, err) = run(
        with(&["lock", "force-unlock"], &["--reason", "x", "--yes"]),
        None,
    );
    assert_eq!(code, 1, "a deployer cannot force-unlock");
    assert!(err.contains("admin"), "{err}");
    let (code, out, err) = run(with(&["lock", "release"], &["--holder", "cli-1"]), None);
    assert_eq!(code, 0, "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap()["next_holder"].is_null());
    // Approve a deployment someone else requested, then see it in history.
    team.admin
        .put(
            &format!("{}/policy", team.env_path()),
            json!({ "required_approvals": 1 }),
        )
        .await;
    let (_, dep) = deployer
        .post(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production" }),
        )
        .await;
    let id = dep["id"].as_str().unwrap();
    let (code, _, err) = clodo(&home, None, &["approve", id, "--json"]);
    assert_eq!(code, 1, "a deployer cannot approve, not even their own");
    assert!(err.contains("approver role"), "{err}");
    let (code, out, err) = clodo(
        &home,
        Some(&approver.token),
        &["approve", id, "-c", "ship it", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["deployment"]["status"],
        "queued"
    );
    let (code, out, _) = clodo(&home, None, &["history", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["items"][0]["id"],
        id
    );
    let file = home.join("audit.csv");
    let file_arg = file.to_str().unwrap();
    let (code, out, err) = clodo(
        &home,
        Some(&team.admin.token),
        &[
            "audit", "export", "--format", "csv", "--output", file_arg, "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(csv.starts_with("id,at,actor,action"));
    assert_eq!(
        summary["rows"].as_u64().unwrap() as usize,
        csv.lines().count() - 1
    );
    assert!(csv.contains("deployment.approve"));
    let _ = std::fs::remove_dir_all(&home);
}
