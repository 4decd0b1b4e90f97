//! End-to-end tests of the deploy lock (issue 5) against the built Worker under local workerd
//! with real Durable Objects: 100 concurrent callers get one holder and a FIFO queue, an expired
//! lease is freed by the alarm, and force-unlock is an admin's, audited and exported. Every
//! lock change (acquire, queue, release, hand-over, expiry) is audited once by the lock's
//! object, and a hold longer than `LOCK_STUCK_AFTER_SECS` (4 s under tests/e2e.sh) sends one
//! `lock.stuck` notification per hold.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod fake_peers;

use std::time::Duration;

use e2e_support::{str_of, Team};
use fake_peers::FakePeer;
use serde_json::{json, Value};

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
    let force_unlock = format!("{lock}/force-unlock");
    deployer.acquire(&lock, "stuck-job", Some(600_000)).await;
    deployer.acquire(&lock, "waiting-job", Some(600_000)).await;
    deployer
        .post_refused(
            &force_unlock,
            json!({ "reason": "mine" }),
            (403, "forbidden"),
        )
        .await;
    let body = team
        .admin
        .post_ok(&force_unlock, json!({ "reason": "CI runner died" }))
        .await;
    assert_eq!(body["broken_lease"]["holder_id"], "stuck-job");
    assert_eq!(body["lock"]["holder"]["holder_id"], "waiting-job");
    let entries = team.audit("lock.force_unlock").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert!(str_of(&e["actor"]).starts_with("member:admin@"));
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

/// The audit entries of `actions` once each has `want` entries (the object writes them from
/// its alarm, just after the change), checked again a little later: never more.
async fn audited_once(team: &Team, actions: &[&str]) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<usize> = futures::future::join_all(actions.iter().map(|a| team.audit(a)))
            .await
            .iter()
            .map(Vec::len)
            .collect();
        if counts.iter().all(|n| *n >= 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "audit entries of {actions:?} after 30 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut all = Vec::new();
    for action in actions {
        let entries = team.audit(action).await;
        assert_eq!(entries.len(), 1, "{action}: {entries:#?}");
        all.extend(entries);
    }
    all
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn every_lock_change_is_audited_once_by_the_lock_itself() {
    let team = Team::new().await;
    let (ana, ana_actor) = team.person("ana", "deployer").await;
    let (bo, bo_actor) = team.person("bo", "deployer").await;
    let lock = team.lock();
    assert_eq!(
        ana.acquire(&lock, "first", Some(60_000)).await["outcome"],
        "granted"
    );
    let queued = bo.acquire(&lock, "second", Some(5_000)).await;
    assert_eq!(queued["position"], 1, "{queued}");
    // A heartbeat and a waiter's sign of life renew; they change nobody and are not entries.
    let (status, body) = ana.lock_op(&lock, "heartbeat", "first").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bo.acquire(&lock, "second", Some(5_000)).await["position"],
        1
    );
    // Release hands over to the waiter, which then vanishes: its lease runs out by the alarm.
    let (status, body) = ana.lock_op(&lock, "release", "first").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["next_holder"]["holder_id"], "second");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (_, info) = ana.get(&lock).await;
    assert_eq!(info["held"], false, "{info}");

    let entries = audited_once(
        &team,
        &[
            "lock.acquire",
            "lock.queue",
            "lock.release",
            "lock.handover",
            "lock.expire",
        ],
    )
    .await;
    let by_action = |a: &str| entries.iter().find(|e| e["action"] == a).unwrap();
    let system = "clodo:deploy-lock";
    let acquire = by_action("lock.acquire");
    assert_eq!(acquire["actor"], ana_actor.as_str());
    assert_eq!(acquire["after"]["holder_id"], "first");
    let queue = by_action("lock.queue");
    assert_eq!(queue["actor"], bo_actor.as_str());
    assert_eq!(queue["after"]["position"], 1);
    let release = by_action("lock.release");
    assert_eq!(release["actor"], ana_actor.as_str());
    assert_eq!(release["before"]["holder_id"], "first");
    let handover = by_action("lock.handover");
    assert_eq!(handover["actor"], system);
    assert_eq!(handover["before"]["holder_id"], "first");
    assert_eq!(handover["after"]["holder_id"], "second");
    let expire = by_action("lock.expire");
    assert_eq!(expire["actor"], system);
    assert_eq!(expire["before"]["holder_id"], "second");
    // All about this environment, in the order they happened.
    let target = str_of(&acquire["target_id"]);
    assert!(target.starts_with("env_"), "{acquire}");
    for e in &entries {
        assert_eq!(e["target_type"], "environment", "{e}");
        assert_eq!(e["target_id"], target, "{e}");
    }
    let ats: Vec<i64> = entries.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{ats:?}");
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_lock_held_past_its_threshold_sends_lock_stuck_once_per_hold() {
    let team = Team::new().await;
    let peer = FakePeer::start().await;
    let channel = |name: &str, events: Value| {
        json!({ "project": "shop", "name": name, "kind": "webhook",
                "url": format!("{}/{name}", peer.url), "events": events })
    };
    team.admin
        .create("/api/v1/channels", channel("stuck", json!(["lock.stuck"])))
        .await;
    team.admin
        .create(
            "/api/v1/channels",
            channel("deploys", json!(["deployment.succeeded"])),
        )
        .await;
    let lock = team.lock();
    let held = team.admin.acquire(&lock, "long-job", Some(60_000)).await;
    let acquired_at = held["lease"]["acquired_at_ms"].as_i64().unwrap();
    // The threshold is 4 s: the object's alarm reports the hold, once.
    let got = peer.wait_for("/stuck", 1, Duration::from_secs(40)).await;
    let body = got[0].json();
    assert_eq!(body["type"], "lock.stuck", "{body}");
    let d = &body["data"]["deployment"];
    assert_eq!(d["id"], "long-job", "{body}");
    assert_eq!(d["project"], "shop");
    assert_eq!(d["environment"], "production");
    assert_eq!(d["started_at"], acquired_at);
    let id = got[0].header("webhook-id").to_owned();
    assert!(id.starts_with("lock_stuck_env_"), "{id}");
    assert!(id.contains(&format!("_{acquired_at}_")), "{id}");
    // Still held and renewed past the threshold: no second event for the same hold.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (status, body) = team.admin.lock_op(&lock, "heartbeat", "long-job").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(peer.received("/stuck").len(), 1);
    // A new hold (same holder id, granted again) is a new event with its own key.
    let (status, body) = team.admin.lock_op(&lock, "release", "long-job").await;
    assert_eq!(status, 200, "{body}");
    team.admin.acquire(&lock, "long-job", Some(60_000)).await;
    let got = peer.wait_for("/stuck", 2, Duration::from_secs(40)).await;
    assert_ne!(got[1].header("webhook-id"), id);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(peer.received("/stuck").len(), 2);
    assert!(
        peer.received("/deploys").is_empty(),
        "not subscribed to lock.stuck"
    );
}
