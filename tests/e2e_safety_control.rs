//! End-to-end regression tests of issue 11 for the control plane, against the built Worker
//! under local workerd (real D1 and Durable Objects): idempotency keys that never bypass
//! authentication, roles or the "secret shown once" rule and never run twice; locks that
//! only their holder can touch, with a bounded queue that drops silent waiters; the policy
//! checked again at approval and at the start of deploying; approvals that count people;
//! tokens that die with the member who made them; a team that always keeps an admin.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::time::Duration;

use e2e_support::{assert_error, assert_says, find_by, unique, Api, Team};
use serde_json::{json, Value};

fn deployment_request() -> Value {
    json!({ "project": "shop", "environment": "production", "git_ref": "main" })
}

async fn deployment_count(team: &Team) -> usize {
    let list = team.admin.read("/api/v1/deployments?limit=100").await;
    list["items"].as_array().unwrap().len()
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_replayed_idempotency_key_never_answers_another_token_or_a_lower_role() {
    let team = Team::new().await;
    let (viewer, _) = team.person("vic", "viewer").await;
    let key = unique("idem");
    let request = json!({ "name": "ci", "role": "admin" });
    let (status, created) = team
        .admin
        .post_with_key("/api/v1/tokens", request.clone(), &key)
        .await;
    assert_eq!(status, 201, "{created}");
    // The viewer sends the very same request with the same key: it is the viewer's own
    // request, role-checked like any other, never the admin's stored answer.
    let (status, answer) = viewer.post_with_key("/api/v1/tokens", request, &key).await;
    assert_error(status, &answer, 403, "forbidden");
    assert!(!answer.to_string().contains("clodo_"), "{answer}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn idempotency_keys_belong_to_the_token_not_the_team() {
    let team = Team::new().await;
    let (dora, _) = team.person("dora", "deployer").await;
    let (dan, _) = team.person("dan", "deployer").await;
    let key = unique("idem");
    let (s1, first) = dora
        .post_with_key("/api/v1/deployments", deployment_request(), &key)
        .await;
    let (s2, second) = dan
        .post_with_key("/api/v1/deployments", deployment_request(), &key)
        .await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_ne!(
        first["id"], second["id"],
        "dan's request is his own deployment"
    );
    assert_eq!(second["requested_by"], "member:dan@example.test");
    // Dora's retry still gets her first answer.
    let (s3, again) = dora
        .post_with_key("/api/v1/deployments", deployment_request(), &key)
        .await;
    assert_eq!(s3, 201);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(deployment_count(&team).await, 2);
}

/// A key's claim rides in the token lookup's D1 batch and its answer is stored just after it
/// was sent: a refused request frees its key for a retry sent the moment the refusal arrived,
/// a success is replayed to a repeat sent the moment it arrived, and once the token is revoked
/// its keyed request is refused, never answered from storage.
#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_refused_keyed_request_frees_its_key_and_a_revoked_token_gets_no_stored_answer() {
    let team = Team::new().await;
    let (dora, token_id) = team.admin.team_token("ci", "deployer").await;
    let key = unique("idem");
    let missing = json!({ "project": "no-such-project", "environment": "production" });
    let (status, refused) = dora
        .post_with_key("/api/v1/deployments", missing, &key)
        .await;
    assert_error(status, &refused, 404, "not_found");
    // Another body with the same key: had the refusal kept the key, this would be a 409.
    let (status, created) = dora
        .post_with_key("/api/v1/deployments", deployment_request(), &key)
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, headers, again) = dora
        .raw(
            "POST",
            "/api/v1/deployments",
            Some(deployment_request()),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(headers["idempotent-replayed"], "true");
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["id"], created["id"]);
    let (status, _) = team
        .admin
        .delete(&format!("/api/v1/tokens/{token_id}"))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = dora
        .post_with_key("/api/v1/deployments", deployment_request(), &key)
        .await;
    assert_error(status, &answer, 401, "unauthorized");
    assert_eq!(deployment_count(&team).await, 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_replay_of_a_token_creation_never_returns_the_secret() {
    let team = Team::new().await;
    let key = unique("idem");
    let request = json!({ "name": "ci", "role": "deployer" });
    let (status, created) = team
        .admin
        .post_with_key("/api/v1/tokens", request.clone(), &key)
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let token_id = created["id"].as_str().unwrap().to_owned();
    let (status, headers, text) = team
        .admin
        .raw(
            "POST",
            "/api/v1/tokens",
            Some(request),
            &[("idempotency-key", &key)],
        )
        .await;
    assert!(!text.contains(&secret), "the secret was replayed: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_error(status, &answer, 409, "conflict");
    assert!(headers.get("idempotent-replayed").is_none());
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("shown once"), "{message}");
    assert!(
        message.contains(&token_id),
        "names what was created: {message}"
    );
    // Exactly one token was created.
    let (_, tokens) = team.admin.get("/api/v1/tokens").await;
    let named_ci = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "ci")
        .count();
    assert_eq!(named_ci, 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn concurrent_requests_with_one_key_run_once() {
    let team = Team::new().await;
    let (dora, _) = team.person("dora", "deployer").await;
    let key = unique("idem");
    let calls = (0..25).map(|_| {
        let api = dora.clone();
        let key = key.clone();
        tokio::spawn(async move {
            api.post_with_key("/api/v1/deployments", deployment_request(), &key)
                .await
        })
    });
    let answers: Vec<(u16, Value)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut ids: Vec<&str> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b["id"].as_str().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one deployment for one key: {answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == 201 || (*status == 409 && body["error"]["code"] == "conflict"),
            "{status} {body}"
        );
    }
    assert_eq!(deployment_count(&team).await, 1, "{answers:?}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn only_the_token_that_acquired_a_lock_entry_can_touch_it() {
    let team = Team::new().await;
    let (dora, _) = team.person("dora", "deployer").await;
    let (mallory, _) = team.person("mallory", "deployer").await;
    let lock = team.lock();
    let held = dora.acquire(&lock, "job-a", Some(600_000)).await;
    assert_eq!(held["outcome"], "granted", "{held}");
    let queued = dora.acquire(&lock, "job-b", Some(600_000)).await;
    assert_eq!(queued["outcome"], "queued", "{queued}");
    for (op, holder) in [
        ("release", "job-a"),
        ("heartbeat", "job-a"),
        ("cancel", "job-b"),
    ] {
        let err = mallory
            .post_refused(
                &format!("{lock}/{op}"),
                json!({ "holder_id": holder }),
                (403, "forbidden"),
            )
            .await;
        assert_says(&err, "hint", "force-unlock");
    }
    // Acquiring under the holder's id neither renews nor takes over the entry.
    mallory
        .post_refused(
            &format!("{lock}/acquire"),
            json!({ "holder_id": "job-a", "lease_ms": 600_000 }),
            (403, "forbidden"),
        )
        .await;
    let (_, info) = dora.get(&lock).await;
    assert_eq!(info["holder"]["holder_id"], "job-a");
    assert_eq!(info["queue"][0]["holder_id"], "job-b");
    // Breaking someone else's lock is the admin's force-unlock, which needs a reason.
    team.admin
        .post_refused(
            &format!("{lock}/force-unlock"),
            json!({}),
            (400, "invalid_json"),
        )
        .await;
    team.admin
        .post_refused(
            &format!("{lock}/force-unlock"),
            json!({ "reason": "  " }),
            (400, "bad_request"),
        )
        .await;
    assert_eq!(team.audit("lock.force_unlock").await.len(), 0);
    // The holder itself may.
    let body = dora
        .post_ok(&format!("{lock}/release"), json!({ "holder_id": "job-a" }))
        .await;
    assert_eq!(body["next_holder"]["holder_id"], "job-b");
    // The entry shows the server's record of who acquired it.
    assert_eq!(
        body["next_holder"]["owner"]
            .as_str()
            .map(|o| o.starts_with("token:tok_")),
        Some(true),
        "{body}"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn the_lock_queue_is_bounded_at_100_waiters() {
    let team = Team::new().await;
    let (dora, _) = team.person("dora", "deployer").await;
    let lock = team.lock();
    let acquire = format!("{lock}/acquire");
    let held = dora.acquire(&lock, "holder", Some(600_000)).await;
    assert_eq!(held["outcome"], "granted");
    let calls = (0..100).map(|i| {
        let api = dora.clone();
        let lock = lock.clone();
        tokio::spawn(async move {
            api.acquire(&lock, &format!("w-{i:03}"), Some(600_000))
                .await
        })
    });
    for answer in futures::future::join_all(calls).await {
        let body = answer.unwrap();
        assert_eq!(body["outcome"], "queued");
    }
    let err = dora
        .post_refused(
            &acquire,
            json!({ "holder_id": "one-too-many", "lease_ms": 600_000 }),
            (429, "too_many_requests"),
        )
        .await;
    assert!(
        err["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{err}"
    );
    // A waiter already in line keeps its place.
    let again = dora.acquire(&lock, "w-042", Some(600_000)).await;
    assert_eq!(again["outcome"], "queued");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_waiter_that_stopped_asking_is_dropped_when_its_turn_comes() {
    let team = Team::new().await;
    let (dora, _) = team.person("dora", "deployer").await;
    let lock = team.lock();
    dora.acquire(&lock, "holder", Some(600_000)).await;
    // `dead` queues with a 5 s lease and is never heard from again; `alive` asks again.
    let dead = dora.acquire(&lock, "dead", Some(5_000)).await;
    assert_eq!(dead["position"], 1, "{dead}");
    let alive = dora.acquire(&lock, "alive", Some(60_000)).await;
    assert_eq!(alive["position"], 2, "{alive}");
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let alive = dora.acquire(&lock, "alive", Some(60_000)).await;
    assert_eq!(alive["outcome"], "queued", "{alive}");
    let body = dora
        .post_ok(&format!("{lock}/release"), json!({ "holder_id": "holder" }))
        .await;
    assert_eq!(body["next_holder"]["holder_id"], "alive", "{body}");
    let (_, info) = dora.get(&lock).await;
    assert_eq!(info["queue"].as_array().unwrap().len(), 0, "{info}");
}

async fn freeze_now(team: &Team, extra: Value) {
    let now = chrono::Utc::now();
    let mut policy = json!({
        "freezes": [{
            "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "reason": "incident review",
        }],
    });
    if let (Some(p), Some(e)) = (policy.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    team.set_policy(policy).await;
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_freeze_that_begins_while_a_deployment_waits_blocks_its_approval() {
    let team = Team::new().await;
    let (alice, _) = team.person("alice", "approver").await;
    let (bob, _) = team.person("bob", "approver").await;
    team.set_policy(json!({ "required_approvals": 1 })).await;
    let dep = alice.request_deployment(json!({ "git_ref": "main" })).await;
    assert_eq!(dep["status"], "awaiting_approval");
    freeze_now(&team, json!({ "required_approvals": 1 })).await;
    let id = dep["id"].as_str().unwrap();
    let err = bob
        .post_refused(
            &format!("/api/v1/deployments/{id}/approvals"),
            json!({}),
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "incident review");
    let now = bob.assert_status(id, "awaiting_approval").await;
    assert_eq!(now["approvals"].as_array().unwrap().len(), 0);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_freeze_that_begins_while_a_deployment_is_queued_blocks_deploying() {
    let team = Team::new().await;
    let (carol, _) = team.person("carol", "deployer").await;
    let dep = carol.request_deployment(json!({ "git_ref": "main" })).await;
    assert_eq!(dep["status"], "queued");
    let id = dep["id"].as_str().unwrap();
    let lock = team.lock();
    let held = carol.acquire(&lock, id, None).await;
    assert_eq!(held["outcome"], "granted", "{held}");
    freeze_now(&team, json!({})).await;
    let transitions = format!("/api/v1/deployments/{id}/transitions");
    let err = carol
        .post_refused(
            &transitions,
            json!({ "to": "deploying" }),
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "incident review");
    carol.assert_status(id, "queued").await;
    // Giving up is always allowed, and frees the environment.
    carol
        .post_ok(&transitions, json!({ "to": "cancelled" }))
        .await;
    let (_, info) = carol.get(&lock).await;
    assert_eq!(info["held"], false, "{info}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn approvals_count_people_not_tokens() {
    let team = Team::new().await;
    let (alice, _) = team.person("alice", "admin").await;
    let (bob, bob_actor) = team.person("bob", "approver").await;
    team.set_policy(json!({ "required_approvals": 1 })).await;
    // Alice makes a CI token (tied to no member) and requests a deployment with it.
    let (alice_ci, _) = alice.team_token("alice-ci", "approver").await;
    let dep = alice_ci
        .request_deployment(json!({ "git_ref": "main" }))
        .await;
    let approvals = format!(
        "/api/v1/deployments/{}/approvals",
        dep["id"].as_str().unwrap()
    );
    // Her own member token is still her: no self-approval through a second token.
    let err = alice
        .post_refused(&approvals, json!({}), (403, "forbidden"))
        .await;
    assert_says(&err, "message", "someone else");
    // A token tied to no member is nobody: it cannot approve, whatever its role.
    let (admin_ci, _) = team.admin.team_token("robot", "admin").await;
    let err = admin_ci
        .post_refused(&approvals, json!({}), (403, "forbidden"))
        .await;
    assert_says(&err, "message", "people");
    // The same person under another spelling of the email cannot be added.
    team.admin
        .post_refused(
            "/api/v1/members",
            json!({ "email": "ALICE@Example.test", "role": "approver" }),
            (409, "conflict"),
        )
        .await;
    // A token for her, named in another case, is hers.
    let tok = team
        .admin
        .create(
            "/api/v1/tokens",
            json!({ "name": "alice-2", "role": "approver", "member_email": "Alice@EXAMPLE.test" }),
        )
        .await;
    let alice_2 = Api::new(tok["secret"].as_str().unwrap());
    alice_2
        .post_refused(&approvals, json!({}), (403, "forbidden"))
        .await;
    // Somebody else approves.
    let ok = bob.create(&approvals, json!({})).await;
    assert_eq!(ok["deployment"]["status"], "queued");
    let (_, list) = bob.get(&approvals).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["actor"], bob_actor);
    // The deployment names its author as a person.
    assert_eq!(
        ok["deployment"]["requested_by_member"],
        "alice@example.test"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn removing_a_member_revokes_the_tokens_they_made_and_the_last_admin_stays() {
    let team = Team::new().await;
    // An admin token tied to no member cannot remove the team's only admin member.
    let (robot, _) = team.admin.team_token("robot", "admin").await;
    let (_, members) = team.admin.get("/api/v1/members").await;
    let first_admin = members["items"][0]["id"].as_str().unwrap().to_owned();
    let err = robot
        .refused(
            "DELETE",
            &format!("/api/v1/members/{first_admin}"),
            None,
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "last admin");
    assert_eq!(team.audit("member.remove").await.len(), 0);
    // Erin (admin) mints a CI token, then leaves the team: the CI token goes with her.
    let (erin, _) = team.person("erin", "admin").await;
    let (erin_ci, erin_ci_id) = erin.team_token("erin-ci", "deployer").await;
    let _ = erin_ci.read("/api/v1/me").await;
    team.remove_member("erin@example.test").await;
    erin_ci.assert_signed_out().await;
    let (_, tokens) = team.admin.get("/api/v1/tokens").await;
    let ci = find_by(&tokens["items"], "id", erin_ci_id.as_str()).clone();
    assert!(ci["revoked_at"].is_number(), "{ci}");
    // With Erin gone, the first admin is the last one again.
    robot
        .refused(
            "DELETE",
            &format!("/api/v1/members/{first_admin}"),
            None,
            (409, "conflict"),
        )
        .await;
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_refused_or_lost_change_writes_no_audit_and_a_done_one_writes_exactly_one() {
    let team = Team::new().await;
    let (dora, _) = team.person("dora", "deployer").await;
    let dep = dora.request_deployment(json!({ "git_ref": "main" })).await;
    let id = dep["id"].as_str().unwrap().to_owned();
    // Eight racing cancels: one moves it, the rest are refused, one event and one audit entry.
    let calls = (0..8).map(|_| {
        let api = dora.clone();
        let path = format!("/api/v1/deployments/{id}/transitions");
        tokio::spawn(async move { api.post(&path, json!({ "to": "cancelled" })).await })
    });
    let answers: Vec<(u16, Value)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 200).count(),
        1,
        "{answers:?}"
    );
    let (_, full) = dora.get(&format!("/api/v1/deployments/{id}")).await;
    let cancels = full["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to_status"] == "cancelled")
        .count();
    assert_eq!(cancels, 1, "{full}");
    let audits = team
        .audit("deployment.transition")
        .await
        .into_iter()
        .filter(|e| e["target_id"] == id.as_str())
        .count();
    assert_eq!(audits, 1);
    // Revoking twice: one revocation, one audit entry, then 404.
    let (_, tok_id) = team.admin.team_token("short-lived", "viewer").await;
    let path = format!("/api/v1/tokens/{tok_id}");
    team.admin.expect(200, "DELETE", &path, None).await;
    team.admin
        .refused("DELETE", &path, None, (404, "not_found"))
        .await;
    let revokes = team
        .audit("token.revoke")
        .await
        .into_iter()
        .filter(|e| e["target_id"] == tok_id.as_str())
        .count();
    assert_eq!(revokes, 1);
    // Deleting a credential that does not exist writes nothing.
    team.admin
        .refused(
            "DELETE",
            "/api/v1/credentials/cred_missing",
            None,
            (404, "not_found"),
        )
        .await;
    assert_eq!(team.audit("credential.delete").await.len(), 0);
}
