//! End-to-end tests of notifications and the outbox (issue 15) against the built Worker under
//! local workerd, with a loopback fake peer standing in for Slack, Discord, a mail API, a
//! webhook receiver, Sentry, Datadog and New Relic (their base URLs are channel settings):
//! a deployment notifies every configured channel once, with verifiable Standard Webhooks
//! signatures; a receiver failing three times gets the event exactly once after retries
//! (same webhook-id); 429 waits for Retry-After; 410 disables the channel; and killing the
//! Worker mid-retry loses nothing.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod fake_peers;

use std::time::Duration;

use clodo::notify::signature::{decode_secret, verify};
use e2e_support::own_worker::OwnWorker;
use e2e_support::{str_of, wait_for_delivery, Api, Team};
use fake_peers::{Answer, FakePeer, Received};
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(60);

/// Runs a deployment of shop/production from request to `succeeded` through the API.
async fn succeed(team: &Team, sha: &str) -> String {
    let request = json!({ "git_ref": "main", "git_sha": sha, "message": "ship <it>" });
    team.run_deployment(request, &["verifying", "succeeded"])
        .await
}

/// Checks a webhook delivery's Standard Webhooks signature with the channel's secret.
fn assert_signed(r: &Received, secret: &str) {
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    let key = decode_secret(secret).unwrap();
    let now = chrono::Utc::now().timestamp();
    verify(
        &key,
        r.header("webhook-id"),
        ts,
        r.header("webhook-signature"),
        &r.body,
        now,
    )
    .unwrap_or_else(|e| panic!("{e}: {r:#?}"));
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_deploy_notifies_every_configured_channel_once() {
    let team = Team::new().await;
    let peer = FakePeer::start().await;
    let url = &peer.url;
    team.add_channel(json!({ "name": "slack", "kind": "slack", "url": format!("{url}/slack/T1/B1/secret-token") })).await;
    team.add_channel(json!({ "name": "discord", "kind": "discord", "url": format!("{url}/discord/api/webhooks/1/tok") })).await;
    team.add_channel(json!({ "name": "mail", "kind": "email", "api_key": "re_key", "base_url": format!("{url}/mail"),
        "from": "clodo@example.com", "to": ["ops@example.com"] })).await;
    let hook = team
        .add_channel(
            json!({ "name": "hook", "kind": "webhook", "environment": "production",
        "url": format!("{url}/hook"), "events": ["deployment.created", "deployment.succeeded"] }),
        )
        .await;
    let secret = str_of(&hook["secret"]).to_owned();
    assert!(secret.starts_with("whsec_"), "{hook}");
    team.add_channel(json!({ "name": "sentry", "kind": "sentry", "api_key": "sntrys_tok", "base_url": format!("{url}/sentry"),
        "org": "acme", "projects": ["web"] })).await;
    team.add_channel(json!({ "name": "datadog", "kind": "datadog", "api_key": "dd_key", "base_url": format!("{url}/dd") })).await;
    team.add_channel(json!({ "name": "newrelic", "kind": "newrelic", "api_key": "NRAK-x", "base_url": format!("{url}/nr"),
        "entity_guid": "MXxBUE18" })).await;

    // Secrets never come back out.
    let (_, list) = team.admin.get("/api/v1/channels?project=shop").await;
    let text = list.to_string();
    for secret_part in [
        "secret-token",
        "re_key",
        "sntrys_tok",
        "dd_key",
        "NRAK-x",
        &secret,
    ] {
        assert!(!text.contains(secret_part), "{secret_part} leaked: {text}");
    }
    assert_eq!(list["items"].as_array().unwrap().len(), 7);
    assert_eq!(list["items"][0]["endpoint"], json!(url));

    let id = succeed(&team, "0123456789abcdef").await;

    let slack = peer.wait_for("/slack/", 1, PATIENCE).await;
    assert_eq!(slack[0].path, "/slack/T1/B1/secret-token");
    let message = slack[0].json();
    assert!(str_of(&message["text"]).contains(&id), "{message}");
    assert!(str_of(&message["text"]).ends_with("succeeded"), "{message}");
    assert_eq!(message["blocks"][0]["type"], "header");
    assert_eq!(
        message["blocks"][2]["elements"][0]["text"],
        "ship &lt;it&gt;"
    );

    let discord = peer.wait_for("/discord/", 1, PATIENCE).await;
    assert_eq!(discord[0].json()["allowed_mentions"]["parse"], json!([]));

    let mail = peer.wait_for("/mail/", 1, PATIENCE).await;
    assert_eq!(mail[0].path, "/mail/emails");
    assert_eq!(mail[0].header("authorization"), "Bearer re_key");
    assert_eq!(mail[0].json()["to"], json!(["ops@example.com"]));
    assert!(!mail[0].header("idempotency-key").is_empty());

    // The webhook got both events it asked for, each signed, in order.
    let hooks = peer.wait_for("/hook", 2, PATIENCE).await;
    let types: Vec<Value> = hooks.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types,
        [json!("deployment.created"), json!("deployment.succeeded")]
    );
    for r in &hooks {
        assert_signed(r, &secret);
        assert_eq!(r.json()["data"]["deployment"]["id"], json!(id));
    }
    assert_ne!(hooks[0].header("webhook-id"), hooks[1].header("webhook-id"));
    // A tampered body does not verify with that signature.
    let mut tampered = hooks[1].clone();
    tampered.body = tampered.body.replace("succeeded", "failed");
    let key = decode_secret(&secret).unwrap();
    let ts: i64 = tampered.header("webhook-timestamp").parse().unwrap();
    assert!(verify(
        &key,
        tampered.header("webhook-id"),
        ts,
        tampered.header("webhook-signature"),
        &tampered.body,
        ts
    )
    .is_err());

    let sentry = peer.wait_for("/sentry/", 2, PATIENCE).await;
    assert_eq!(sentry[0].path, "/sentry/api/0/organizations/acme/releases/");
    assert_eq!(sentry[0].json()["version"], "0123456789abcdef");
    assert_eq!(
        sentry[1].path,
        "/sentry/api/0/organizations/acme/releases/0123456789abcdef/deploys/"
    );
    assert_eq!(sentry[1].json()["environment"], "production");
    assert_eq!(sentry[1].header("authorization"), "Bearer sntrys_tok");

    let dd = peer.wait_for("/dd/", 2, PATIENCE).await;
    assert_eq!(dd[0].path, "/dd/api/v1/events");
    assert_eq!(dd[0].header("dd-api-key"), "dd_key");
    assert_eq!(dd[0].json()["alert_type"], "success");
    assert_eq!(dd[1].path, "/dd/api/v2/dora/deployment");
    assert_eq!(dd[1].json()["data"]["attributes"]["service"], "shop");

    let nr = peer.wait_for("/nr/", 1, PATIENCE).await;
    assert_eq!(nr[0].path, "/nr/graphql");
    assert_eq!(nr[0].header("api-key"), "NRAK-x");
    assert_eq!(
        nr[0].json()["variables"]["deployment"]["entityGuid"],
        "MXxBUE18"
    );

    // Nothing more arrives (one delivery per channel and event), and the log says delivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (prefix, n) in [
        ("/slack/", 1),
        ("/discord/", 1),
        ("/mail/", 1),
        ("/hook", 2),
        ("/sentry/", 2),
        ("/dd/", 2),
        ("/nr/", 1),
    ] {
        assert_eq!(peer.received(prefix).len(), n, "{prefix}");
    }
    let (_, log) = team.admin.get("/api/v1/deliveries?limit=50").await;
    let states: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| str_of(&d["state"]))
        .collect();
    assert_eq!(states.len(), 8, "{log}");
    assert!(states.iter().all(|s| *s == "delivered"), "{log}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_failing_receiver_gets_the_event_once_and_410_disables_the_channel() {
    let team = Team::new().await;
    let peer = FakePeer::start().await;
    let flaky = team
        .add_channel(
            json!({ "name": "flaky", "kind": "webhook", "url": format!("{}/flaky", peer.url),
        "events": ["deployment.succeeded"] }),
        )
        .await;
    let secret = str_of(&flaky["secret"]).to_owned();
    peer.script(
        "/flaky",
        &[
            Answer::status(500),
            Answer::status(500),
            Answer::status(500),
        ],
    );
    let gone = team
        .add_channel(
            json!({ "name": "gone", "kind": "webhook", "url": format!("{}/gone", peer.url),
        "events": ["deployment.succeeded"] }),
        )
        .await;
    let gone_id = str_of(&gone["channel"]["id"]).to_owned();
    peer.script("/gone", &[Answer::status(410)]);
    let busy = team
        .add_channel(
            json!({ "name": "busy", "kind": "slack", "url": format!("{}/busy", peer.url),
        "events": ["deployment.succeeded"] }),
        )
        .await;
    peer.script(
        "/busy",
        &[Answer {
            status: 429,
            retry_after: Some(3),
        }],
    );
    let busy_id = str_of(&busy["channel"]["id"]).to_owned();

    succeed(&team, "abc").await;

    // 500, 500, 500, then accepted: four attempts of one delivery, the same webhook-id, each
    // signed at its own time.
    let got = peer.wait_for("/flaky", 4, Duration::from_secs(90)).await;
    let ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    for r in &got {
        assert_signed(r, &secret);
        assert_eq!(r.body, got[0].body, "every attempt sends the same body");
    }
    // Backing off: each wait at least half its step (1 s, 3 s, 9 s).
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, least) in gaps.iter().zip([1_000, 3_000, 9_000]) {
        assert!(gap.as_millis() >= least - 300, "{gaps:?}");
    }
    let delivery_id = ids[0].to_owned();
    let detail = team
        .admin
        .read(&format!("/api/v1/deliveries/{delivery_id}"))
        .await;
    assert_eq!(detail["delivery"]["state"], "delivered", "{detail}");
    assert_eq!(detail["delivery"]["attempts"], 4);
    let outcomes: Vec<&str> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| str_of(&a["outcome"]))
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "delivered"]);

    // 429: the second attempt waited for Retry-After (3 s), then delivered.
    let busy_got = peer.wait_for("/busy", 2, PATIENCE).await;
    assert!(
        (busy_got[1].at - busy_got[0].at) >= Duration::from_millis(2_700),
        "{busy_got:#?}"
    );

    // 410: one attempt, and the channel is disabled.
    let gone_got = peer.wait_for("/gone", 1, PATIENCE).await;
    let gone_delivery = gone_got[0].header("webhook-id").to_owned();
    let channel = wait_disabled(&team.admin, &gone_id).await;
    assert!(
        str_of(&channel["disabled_reason"]).contains("410"),
        "{channel}"
    );
    let detail = team
        .admin
        .read(&format!("/api/v1/deliveries/{gone_delivery}"))
        .await;
    assert_eq!(detail["delivery"]["state"], "failed", "{detail}");

    // A second deployment: the disabled channel gets nothing, the others one more each.
    succeed(&team, "def").await;
    peer.wait_for("/flaky", 5, PATIENCE).await;
    peer.wait_for("/busy", 3, PATIENCE).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(peer.received("/gone").len(), 1);
    assert_eq!(peer.received("/flaky").len(), 5, "nothing was sent twice");

    // Replay: refused while the channel is disabled; after enabling, the same delivery (same
    // webhook-id) is sent again; replaying a delivery that is still queued changes nothing.
    let replay = format!("/api/v1/deliveries/{gone_delivery}/replay");
    team.admin
        .post_refused(&replay, json!({}), (409, "conflict"))
        .await;
    team.admin
        .post_ok(&format!("/api/v1/channels/{gone_id}/enable"), json!({}))
        .await;
    let (status, queued) = team.admin.post(&replay, json!({})).await;
    assert_eq!(status, 202, "{queued}");
    let again = peer.wait_for("/gone", 2, PATIENCE).await;
    assert_eq!(again[1].header("webhook-id"), gone_delivery);
    let detail = wait_for_delivery(&team.admin, &gone_delivery, "delivered").await;
    assert_eq!(detail["delivery"]["attempts"], 1);
    let (_, channels) = team.admin.get("/api/v1/channels").await;
    let busy_channel = channels["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(busy_id))
        .unwrap()
        .clone();
    assert_eq!(busy_channel["enabled"], true, "429 never disables");
    let audit = team.audit("delivery.replay").await;
    assert_eq!(audit.len(), 1);
}

async fn wait_disabled(admin: &Api, id: &str) -> Value {
    for _ in 0..100 {
        let (_, list) = admin.get("/api/v1/channels").await;
        if let Some(c) = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == json!(id))
        {
            if c["enabled"] == false {
                return c.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("channel {id} was not disabled");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn killing_the_worker_mid_retry_loses_nothing() {
    let mut worker = OwnWorker::start().await;
    let team = Team::new_at(&worker.url).await;
    let peer = FakePeer::start().await;
    let hook = team
        .add_channel(
            json!({ "name": "hook", "kind": "webhook", "url": format!("{}/hook", peer.url),
        "events": ["deployment.succeeded"] }),
        )
        .await;
    let secret = str_of(&hook["secret"]).to_owned();
    // Enough failures that a retry is due while the Worker is down.
    peer.script("/hook", &[Answer::status(503), Answer::status(503)]);
    succeed(&team, "abc").await;
    let first = peer.wait_for("/hook", 1, PATIENCE).await;
    let id = first[0].header("webhook-id").to_owned();
    worker.kill();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let while_down = peer.received("/hook").len();
    worker.restart().await;
    // The row, its attempt count and its alarm survived: it is retried and delivered once
    // (the third request is the first the receiver accepts, and nothing follows it).
    let got = peer.wait_for("/hook", 3, Duration::from_secs(120)).await;
    assert!(while_down <= 2, "{while_down}");
    assert!(got.iter().all(|r| r.header("webhook-id") == id), "{got:#?}");
    for r in &got {
        assert_signed(r, &secret);
    }
    let detail = wait_for_delivery(&team.admin, &id, "delivered").await;
    assert_eq!(detail["delivery"]["attempts"], 3, "{detail}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(peer.received("/hook").len(), 3, "delivered exactly once");
}
