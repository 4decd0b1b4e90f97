//! End-to-end tests of the deploy lock (issue 5) against the built Worker under local workerd
//! with real Durable Objects: 100 concurrent callers get one holder and a FIFO queue, an expired
//! lease is freed by the alarm, and force-unlock is an admin's, audited and exported.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::time::Duration;

use e2e_support::{str_of, Team};
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
