//! End-to-end test of rotating the credential encryption key (docs/operations.md) against the
//! built Worker under local workerd, restarted with each key set an operator would configure:
//! a new key alone cannot read what the old one stored (reported, nothing changed); with the
//! old key as `CLODO_ENCRYPTION_KEY_PREVIOUS`, `POST /api/v1/credentials/reencrypt` moves every
//! stored secret to the new key once (a second call rewrites nothing); after the old key is
//! dropped everything is readable, proven by a real use: a notification signed with the
//! channel secret that was re-encrypted.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod fake_peers;

use std::time::Duration;

use clodo::notify::signature::{decode_secret, verify};
use e2e_support::own_worker::OwnWorker;
use e2e_support::{bootstrap_secret, str_of, Api, Team};
use fake_peers::FakePeer;
use serde_json::{json, Value};

/// The key that replaces the dev key (32 bytes, base64).
const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

async fn reencrypt(operator: &Api) -> Value {
    operator
        .expect(200, "POST", "/api/v1/credentials/reencrypt", None)
        .await
}

fn undecryptable(report: &Value) -> Vec<String> {
    report["undecryptable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| str_of(v).to_owned())
        .collect()
}

/// Runs a deployment of shop/production from request to `succeeded` through the API.
async fn succeed(team: &Team) {
    let request = json!({ "git_ref": "main", "git_sha": "abc", "message": "rotate" });
    team.run_deployment(request, &["verifying", "succeeded"])
        .await;
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_key_rotation_keeps_every_stored_secret_readable() {
    let mut worker = OwnWorker::start().await;
    let team = Team::new_at(&worker.url).await;
    let credential = team
        .add_credential("acc_rotation", "rotation", "cf-token-1")
        .await;
    let peer = FakePeer::start().await;
    let hook = team
        .admin
        .create(
            "/api/v1/channels",
            json!({ "project": "shop", "name": "hook", "kind": "webhook",
                    "url": format!("{}/hook", peer.url), "events": ["deployment.succeeded"] }),
        )
        .await;
    let secret = str_of(&hook["secret"]).to_owned();
    let stored = [
        format!(
            "cloudflare_credentials.ciphertext {}",
            str_of(&credential["id"])
        ),
        format!(
            "notification_channels.secret {}",
            str_of(&hook["channel"]["id"])
        ),
    ];
    let operator = Api::at(&worker.url, &bootstrap_secret());

    // Only the operator may run it: a team admin's token is not the bootstrap secret.
    let (status, body) = team
        .admin
        .send("POST", "/api/v1/credentials/reencrypt", None)
        .await;
    assert_eq!(status, 401, "{body}");

    // Nothing to do while the key is unchanged.
    let report = reencrypt(&operator).await;
    assert_eq!(
        (
            &report["rewritten"],
            &report["current"],
            &report["previous_key_configured"]
        ),
        (&json!(0), &json!(2), &json!(false)),
        "{report}"
    );

    // The new key alone cannot open the stored values: they are reported and left alone.
    worker.set_keys(NEW_KEY, None);
    worker.restart().await;
    let report = reencrypt(&operator).await;
    assert_eq!(report["rewritten"], 0, "{report}");
    let mut lost = undecryptable(&report);
    lost.sort();
    assert_eq!(lost, stored.to_vec(), "{report}");

    // With the old key as the previous one, every value moves to the new key, once.
    worker.set_keys(NEW_KEY, Some(OwnWorker::dev_key()));
    worker.restart().await;
    let report = reencrypt(&operator).await;
    assert_eq!(
        (
            &report["rewritten"],
            &report["current"],
            &report["previous_key_configured"]
        ),
        (&json!(2), &json!(0), &json!(true)),
        "{report}"
    );
    assert!(undecryptable(&report).is_empty(), "{report}");
    let again = reencrypt(&operator).await;
    assert_eq!(
        (&again["rewritten"], &again["current"]),
        (&json!(0), &json!(2)),
        "{again}"
    );

    // The old key retired: everything is readable with the new key alone...
    worker.set_keys(NEW_KEY, None);
    worker.restart().await;
    let report = reencrypt(&operator).await;
    assert_eq!(
        (&report["rewritten"], &report["current"]),
        (&json!(0), &json!(2)),
        "{report}"
    );
    assert!(undecryptable(&report).is_empty(), "{report}");

    // ...and used: the webhook is signed with the channel secret decrypted under the new key.
    succeed(&team).await;
    let got = peer.wait_for("/hook", 1, Duration::from_secs(60)).await;
    let r = &got[0];
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    verify(
        &decode_secret(&secret).unwrap(),
        r.header("webhook-id"),
        ts,
        r.header("webhook-signature"),
        &r.body,
        chrono::Utc::now().timestamp(),
    )
    .unwrap_or_else(|e| panic!("{e}: {r:#?}"));
}
