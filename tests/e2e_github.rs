//! End-to-end: the GitHub integration against the local Worker (real D1, the `Outbox` object
//! running the deferred work) and a fake GitHub API this test starts on loopback, configured as
//! the integration's `api_base_url`. The fake serves the commits' files through the contents
//! API and records the statuses, comments, comment edits and deployment reviews it receives.
//! Deliveries are signed here with the hmac crate, independently of the code under test.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod fake_github;

use std::time::Duration;

use e2e_support::{str_of, unique};
use fake_github::{connected, Connected, ACCOUNT, CLODO_TOML, GITHUB_TOKEN, SHA_A, SHA_B};
use serde_json::json;

const PRESENT: &str = include_str!("fixtures/assess/present.toml");

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_signed_push_gets_a_commit_status_once_and_bad_signatures_change_nothing() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, "name = \"broken\nmain = ");

    let (status, body) = gh
        .deliver(
            "ping",
            &unique("d"),
            json!({ "zen": "Keep it logically awesome.", "hook_id": 1 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A push to the tracked branch: answered at once, assessed by the outbox, reported.
    let delivery = unique("d");
    let (status, body) = gh
        .deliver("push", &delivery, Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the status of A", |r| {
        r.statuses.iter().any(|(s, _)| s == SHA_A)
    })
    .await;
    let statuses = gh.statuses_for(SHA_A);
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let posted = &statuses[0];
    assert_eq!(posted["context"], "clodo/assessment");
    assert_eq!(posted["state"], "success", "{posted}");
    // The link is to the stored report, which says what the status says.
    let url = str_of(&posted["target_url"]);
    let path = &url[url.find("/api/v1/assessments/").expect(url)..];
    let stored = gh.team.admin.read(path).await;
    assert_eq!(stored["report"]["ready"], true, "{stored}");
    assert_eq!(stored["account_id"], ACCOUNT, "{stored}");
    assert!(
        stored["report"]["api_calls"].as_u64().unwrap() >= 3,
        "{stored}"
    );
    assert!(gh
        .recorded
        .lock()
        .unwrap()
        .auth
        .iter()
        .all(|a| a == &format!("Bearer {GITHUB_TOKEN}")));

    // A redelivery (same X-GitHub-Delivery) does nothing twice.
    let (status, body) = gh
        .deliver("push", &delivery, Connected::push("main", SHA_A))
        .await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");

    // A broken config is reported as a failure.
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_B))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the status of B", |r| {
        r.statuses.iter().any(|(s, _)| s == SHA_B)
    })
    .await;
    assert_eq!(gh.statuses_for(SHA_B)[0]["state"], "failure");

    // Untracked branches are ignored.
    let (status, body) = gh
        .deliver("push", &unique("d"), Connected::push("dev", SHA_A))
        .await;
    assert_eq!((status, &body["state"]), (202, &json!("ignored")), "{body}");

    // Bad signatures: a tampered body, another secret, a malformed header, none at all. All
    // are 401 with the same message, and nothing is done.
    let mut payload = Connected::push("main", SHA_B);
    payload["repository"] = json!({ "full_name": gh.repository });
    let body = serde_json::to_vec(&payload).unwrap();
    let good = gh.sign(&gh.secret, &body);
    let mut tampered = body.clone();
    *tampered.last_mut().unwrap() = b' ';
    let mut messages = Vec::new();
    for (bytes, signature) in [
        (tampered.clone(), good.clone()),
        (body.clone(), gh.sign("another-secret-0123456789", &body)),
        (body.clone(), good.trim_start_matches("sha256=").to_owned()),
        (body.clone(), String::new()),
    ] {
        let (status, answer) = gh
            .deliver_raw("push", &unique("d"), &bytes, &signature)
            .await;
        assert_eq!(status, 401, "{answer}");
        messages.push(answer["error"]["message"].clone());
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(gh.statuses_for(SHA_A).len(), 1);
    assert_eq!(gh.statuses_for(SHA_B).len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_pull_request_gets_one_comment_edited_in_place_on_the_next_push() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, "name = \"broken\nmain = ");

    let (status, body) = gh
        .deliver(
            "pull_request",
            &unique("d"),
            Connected::pull_request("opened", 7, SHA_A),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the comment", |r| !r.comments.is_empty()).await;
    let (id, number, text) = gh.recorded.lock().unwrap().comments[0].clone();
    assert_eq!(number, 7);
    assert!(
        text.contains("Clodo assessment of `aaaaaaa`") && text.contains("ready"),
        "{text}"
    );

    let (status, _) = gh
        .deliver(
            "pull_request",
            &unique("d"),
            Connected::pull_request("synchronize", 7, SHA_B),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the edit", |r| !r.edits.is_empty()).await;
    let s = gh.recorded.lock().unwrap();
    assert_eq!(s.comments.len(), 1, "one comment only: {:?}", s.comments);
    assert_eq!(s.edits.len(), 1, "{:?}", s.edits);
    assert_eq!(s.edits[0].0, id);
    assert!(
        s.edits[0].1.contains("`bbbbbbb`") && s.edits[0].1.contains("not ready"),
        "{}",
        s.edits[0].1
    );
    assert!(s
        .statuses
        .iter()
        .any(|(sha, b)| sha == SHA_B && b["state"] == "failure"));
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn deployment_reviews_follow_the_environment_policy_and_a_freeze_rejects() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the status of A", |r| !r.statuses.is_empty())
        .await;

    // An assessed, ready commit with nothing against it is approved.
    let (status, body) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(41, SHA_A),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the first review", |r| !r.reviews.is_empty())
        .await;
    let first = gh.recorded.lock().unwrap().reviews[0].clone();
    assert_eq!(first.0, 41);
    assert_eq!(first.1["state"], "approved", "{}", first.1);
    assert_eq!(first.1["environment_name"], "production");

    // During a freeze it is rejected, saying why.
    let now = chrono::Utc::now();
    gh.team
        .set_policy(json!({ "freezes": [{
            "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "reason": "launch week" }] }))
        .await;
    let (status, _) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(42, SHA_A),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the second review", |r| r.reviews.len() == 2)
        .await;
    let second = gh.recorded.lock().unwrap().reviews[1].clone();
    assert_eq!(second.0, 42);
    assert_eq!(second.1["state"], "rejected", "{}", second.1);
    assert!(
        str_of(&second.1["comment"]).contains("launch week"),
        "{}",
        second.1
    );

    // A commit Clodo never assessed is not approved either (a check that could not be made).
    gh.team.set_policy(json!({})).await;
    let (status, _) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(43, SHA_B),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the third review", |r| r.reviews.len() == 3)
        .await;
    let third = gh.recorded.lock().unwrap().reviews[2].clone();
    assert_eq!(third.1["state"], "rejected", "{}", third.1);
    assert!(
        str_of(&third.1["comment"]).contains("no Clodo assessment"),
        "{}",
        third.1
    );

    // Disconnected: the same delivery is refused like a forgery.
    gh.team
        .admin
        .expect(204, "DELETE", "/api/v1/projects/shop/github", None)
        .await;
    let (status, _) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(44, SHA_A),
        )
        .await;
    assert_eq!(status, 401);
}
