//! End-to-end tests of the weekly summary and of disabling a channel that keeps failing
//! (issue 15), against the built Worker under local workerd with a loopback fake peer
//! standing in for Slack, a mail API and a webhook receiver: `POST …/summary` sends one
//! message per subscribed channel with the counts of the deployments made in the test, and a
//! second call sends nothing more; a channel whose deliveries are all given up ends disabled,
//! with its reason and an audit entry, and works again once enabled.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod fake_peers;

use std::time::Duration;

use clodo::notify::signature::{decode_secret, verify};
use clodo::notify::summary::IsoWeek;
use e2e_support::{str_of, Api, Team};
use fake_peers::{Answer, FakePeer};
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(60);

/// Runs a deployment of shop/production from request through `path` (the statuses after
/// `deploying`), holding and releasing the environment lock as the CLI does.
async fn deploy(team: &Team, sha: &str, path: &[&str]) -> String {
    team.run_deployment(json!({ "git_ref": "main", "git_sha": sha }), path)
        .await
}

async fn channel(admin: &Api, id: &str) -> Value {
    let (_, list) = admin.get("/api/v1/channels").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(id))
        .unwrap_or_else(|| panic!("no channel {id}: {list}"))
        .clone()
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn the_summary_route_sends_one_message_per_channel_with_the_weeks_counts_once() {
    let team = Team::new().await;
    let peer = FakePeer::start().await;
    let url = &peer.url;
    let weekly = json!(["summary.weekly"]);
    team.add_channel(json!({ "name": "slack", "kind": "slack",
        "url": format!("{url}/slack/T1/B1/tok"), "events": weekly }))
        .await;
    team.add_channel(
        json!({ "name": "mail", "kind": "email", "api_key": "re_key",
        "base_url": format!("{url}/mail"), "from": "clodo@example.com", "to": ["ops@example.com"],
        "events": weekly }),
    )
    .await;
    let hook = team
        .add_channel(json!({ "name": "hook", "kind": "webhook",
        "url": format!("{url}/hook"), "events": ["summary.weekly", "deployment.failed"] }))
        .await;
    let secret = str_of(&hook["secret"]).to_owned();
    // A channel with the default events never gets the summary (it is opt-in).
    team.add_channel(
        json!({ "name": "deploys", "kind": "slack", "url": format!("{url}/deploys") }),
    )
    .await;
    // A marker cannot take it.
    let (status, body) = team
        .admin
        .post(
            "/api/v1/channels",
            json!({ "project": "shop", "name": "dd", "kind": "datadog", "api_key": "k",
                "events": ["summary.weekly"] }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("weekly summary"), "{body}");

    // This week so far: two successes, a failure and a rollback.
    deploy(&team, "a1", &["verifying", "succeeded"]).await;
    deploy(&team, "a2", &["failed"]).await;
    deploy(&team, "a3", &["verifying", "rolled_back"]).await;
    deploy(&team, "a4", &["verifying", "succeeded"]).await;
    // The webhook's deployment.failed notification arrives first (it is a deployment event).
    peer.wait_for("/hook", 1, PATIENCE).await;

    let week = IsoWeek::of(chrono::Utc::now().timestamp_millis()).to_string();
    let route = format!("/api/v1/projects/shop/summary?week={week}");
    let (status, sent) = team.admin.post(&route, json!({})).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["week"], json!(week));
    assert_eq!(sent["complete"], false, "{sent}");
    assert_eq!(sent["queued"], 3, "{sent}");
    let ids: Vec<String> = sent["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(&d["id"]).to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{sent}");
    for id in &ids {
        assert!(
            id.starts_with("sum_") && id.contains(&format!("_{week}-sofar_")),
            "{id}"
        );
    }

    let slack = peer.wait_for("/slack/", 1, PATIENCE).await;
    let message = slack[0].json();
    assert!(
        str_of(&message["text"]).contains(&format!("shop: weekly summary {week}")),
        "{message}"
    );
    assert_eq!(message["blocks"][0]["type"], "header");
    assert_eq!(
        message["blocks"][2]["text"]["text"],
        "*production*: 4 deployments: 2 succeeded, 1 failed, 1 rolled back; 0 rollbacks",
        "{message}"
    );
    assert!(
        message
            .to_string()
            .contains("Change fail rate*\\n50% (low)"),
        "{message}"
    );

    let mail = peer.wait_for("/mail/", 1, PATIENCE).await;
    assert_eq!(mail[0].path, "/mail/emails");
    let mail_body = mail[0].json();
    assert!(
        str_of(&mail_body["subject"]).starts_with("[clodo] shop: weekly summary"),
        "{mail_body}"
    );
    let text = str_of(&mail_body["text"]);
    assert!(
        text.contains("4 deployments: 2 succeeded, 1 failed, 1 rolled back"),
        "{text}"
    );
    assert!(text.contains("Change fail rate: 50% (low)"), "{text}");
    let mail_key = mail[0].header("idempotency-key").to_owned();
    assert!(ids.contains(&mail_key), "{mail_key} {ids:?}");

    let hooks = peer.wait_for("/hook", 2, PATIENCE).await;
    let r = &hooks[1];
    let payload = r.json();
    assert_eq!(payload["type"], "summary.weekly", "{payload}");
    let production = &payload["data"]["weekly_summary"]["environments"][0];
    assert_eq!(production["environment"], "production");
    assert_eq!(
        [
            &production["deployments"],
            &production["succeeded"],
            &production["failed"],
            &production["rolled_back"]
        ],
        [&json!(4), &json!(2), &json!(1), &json!(1)],
        "{payload}"
    );
    assert_eq!(production["change_fail_rate"]["value"], 0.5);
    let key = decode_secret(&secret).unwrap();
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    verify(
        &key,
        r.header("webhook-id"),
        ts,
        r.header("webhook-signature"),
        &r.body,
        ts,
    )
    .unwrap();
    assert!(ids.iter().any(|i| i == r.header("webhook-id")), "{ids:?}");
    assert_ne!(r.header("webhook-id"), mail_key);

    // Asked again for the same week: nothing queued, the same deliveries answered.
    let (status, again) = team.admin.post(&route, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["queued"], 0, "{again}");
    let again_ids: Vec<&str> = again["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(&d["id"]))
        .collect();
    assert_eq!(again_ids, ids);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(peer.received("/slack/").len(), 1, "sent once");
    assert_eq!(peer.received("/mail/").len(), 1, "sent once");
    assert_eq!(peer.received("/hook").len(), 2, "sent once");
    for r in peer.received("/deploys") {
        assert!(!r.body.contains("weekly summary"), "{}", r.body);
    }
    let (_, log) = team.admin.get("/api/v1/deliveries?limit=100").await;
    let summaries: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event_type"] == "summary.weekly")
        .collect();
    assert_eq!(summaries.len(), 3, "{log}");
    assert!(summaries.iter().all(|d| d["state"] == "delivered"), "{log}");
    assert_eq!(team.audit("summary.send").await.len(), 1);

    // Bad input says what and how; a project nobody subscribed is a clear 409.
    team.admin
        .post_refused(
            "/api/v1/projects/shop/summary?week=2026-49",
            json!({}),
            (400, "bad_request"),
        )
        .await;
    let next = IsoWeek::of(chrono::Utc::now().timestamp_millis() + 8 * 86_400_000).to_string();
    team.admin
        .post_refused(
            &format!("/api/v1/projects/shop/summary?week={next}"),
            json!({}),
            (400, "bad_request"),
        )
        .await;
    team.admin
        .create("/api/v1/projects", json!({ "slug": "quiet" }))
        .await;
    let refused = team
        .admin
        .post_refused(
            "/api/v1/projects/quiet/summary",
            json!({}),
            (409, "conflict"),
        )
        .await;
    assert!(refused.to_string().contains("summary.weekly"), "{refused}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_channel_whose_deliveries_keep_failing_ends_disabled_with_its_reason() {
    let team = Team::new().await;
    let peer = FakePeer::start().await;
    let events = json!([
        "deployment.created",
        "deployment.started",
        "deployment.succeeded"
    ]);
    let broken = team
        .add_channel(json!({ "name": "broken", "kind": "webhook",
        "url": format!("{}/broken", peer.url), "events": events }))
        .await;
    let broken_id = str_of(&broken["channel"]["id"]).to_owned();
    // 404: refused at once, not retried; every delivery is given up.
    peer.script("/broken", &[Answer::status(404); 12]);
    let ok = team
        .add_channel(json!({ "name": "ok", "kind": "slack",
        "url": format!("{}/ok", peer.url), "events": events }))
        .await;
    let ok_id = str_of(&ok["channel"]["id"]).to_owned();

    // Two deployments: six events each channel. The fifth given up disables it.
    deploy(&team, "b1", &["verifying", "succeeded"]).await;
    deploy(&team, "b2", &["verifying", "succeeded"]).await;
    peer.wait_for("/ok", 6, PATIENCE).await;
    let mut disabled = Value::Null;
    for _ in 0..150 {
        disabled = channel(&team.admin, &broken_id).await;
        if disabled["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(disabled["enabled"], false, "{disabled}");
    let reason = str_of(&disabled["disabled_reason"]);
    assert!(
        reason.starts_with("5 deliveries in a row were given up"),
        "{reason}"
    );
    assert!(reason.contains("404"), "{reason}");
    assert!(
        disabled["failed_streak"].as_u64().unwrap() >= 5,
        "{disabled}"
    );
    let received = peer.received("/broken").len();
    assert!((5..=6).contains(&received), "{received}");
    let healthy = channel(&team.admin, &ok_id).await;
    assert_eq!(
        (healthy["enabled"].clone(), healthy["failed_streak"].clone()),
        (json!(true), json!(0))
    );
    let audit = team.audit("channel.disable").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["actor"], "system:outbox", "{audit:?}");

    // Disabled: the next deployment sends it nothing.
    deploy(&team, "b3", &["verifying", "succeeded"]).await;
    peer.wait_for("/ok", 9, PATIENCE).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(peer.received("/broken").len(), received);

    // Fixed and enabled: the streak starts again and deliveries arrive.
    peer.script("/broken", &[]);
    let enabled = team
        .admin
        .post_ok(&format!("/api/v1/channels/{broken_id}/enable"), json!({}))
        .await;
    assert_eq!(
        (enabled["enabled"].clone(), enabled["failed_streak"].clone()),
        (json!(true), json!(0)),
        "{enabled}"
    );
    deploy(&team, "b4", &["verifying", "succeeded"]).await;
    peer.wait_for("/broken", received + 3, PATIENCE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = channel(&team.admin, &broken_id).await;
    assert_eq!(
        (after["enabled"].clone(), after["failed_streak"].clone()),
        (json!(true), json!(0)),
        "{after}"
    );
}
