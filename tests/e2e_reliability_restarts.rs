//! Reliability suite, restarts (issue 18): a Worker of the test's own (same bundle, its own
//! port and state) is killed with SIGKILL (no graceful shutdown) and started again on the same
//! local D1 and Durable Object state during a rollout step, around lock hand-overs and in a
//! notification's retry window. Everything must resume: the rollout finishes with each step
//! applied once and the sandbox's split matching Clodo's record, the lock keeps one holder
//! and its FIFO order with every audit entry written once, the notification is delivered
//! exactly once. Each test prints its counts (restarts, items lost, items duplicated).
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod fake_peers;

use std::collections::HashMap;
use std::time::Duration;

use e2e_support::lock_audit::{replay, rows_for_chain, settled_rows};
use e2e_support::own_worker::OwnWorker;
use e2e_support::shop::{
    follow_at, live, new_version, rollout_team_at, splits, start_rollout_at, Project, SERVICES,
};
use e2e_support::{items, str_of, wait_for_delivery, wait_for_rollout, Api, Team};
use fake_peers::{Answer, FakePeer};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(120);

/// Asserts that the Worker's log over every launch carries none of `secrets`.
fn assert_log_free_of(worker: &OwnWorker, secrets: &[&str]) {
    let log = worker.log();
    assert!(!log.is_empty(), "the own Worker's log is empty");
    for secret in secrets {
        assert!(secret.len() >= 8, "too short to grep for");
        assert!(
            !log.contains(secret),
            "a secret is in the Worker's log: {secret}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_rollout_killed_at_two_steps_finishes_each_step_once_and_matches_the_sandbox() {
    let mut worker = OwnWorker::start().await;
    let team = rollout_team_at(&worker.url).await;
    let p = Project::with(
        r#"
[deploy]
strategy = "gradual"
steps = [10, 50, 100]
step_wait_secs = 3
"#,
    );
    let (id, report) = start_rollout_at(&worker.url, &p, &team);
    let new: HashMap<&str, String> = SERVICES
        .iter()
        .map(|s| (*s, new_version(&report, s)))
        .collect();

    // Killed while each of the first two steps holds, its traffic live and its next move an
    // alarm in storage. Before each kill, Clodo's record and the sandbox's split agree.
    for percent in [10.0, 50.0] {
        let at = wait_for_rollout(&team.admin, &id, "a live step", PATIENCE, |s| {
            s["traffic_percent"] == json!(percent) && s["step_applied"] == true
        })
        .await;
        worker.kill();
        for s in SERVICES {
            let now = splits(&p.script(s)).await;
            let ours = now[0].iter().find(|(v, _)| *v == new[s]).map(|(_, pc)| *pc);
            assert_eq!(
                ours,
                Some(percent),
                "{s}: the sandbox serves {now:?} while Clodo recorded {at}"
            );
        }
        worker.restart().await;
    }

    let end = follow_at(&worker.url, &p, &team, &id);
    assert_eq!(end["phase"], "succeeded", "{end}");
    assert_eq!(end["traffic_percent"], json!(100.0), "{end}");
    // It continued, not restarted: one start, each step once.
    let log = items(&end["log"]);
    let count = |kind: &str| log.iter().filter(|l| l["kind"] == kind).count();
    assert_eq!(count("started"), 1, "{log:?}");
    assert_eq!(count("step"), 3, "{log:?}");
    let mut duplicated = 0;
    for s in SERVICES {
        assert_eq!(live(&p.script(s)).await, Some(new[s].clone()), "{s}");
        // The sandbox's history of this Worker since the rollout began: 10, 50, then 100,
        // each split once.
        let history = splits(&p.script(s)).await;
        for percent in [10.0, 50.0] {
            let applied = history
                .iter()
                .filter(|d| d.iter().any(|(v, pc)| *v == new[s] && *pc == percent))
                .count();
            assert_eq!(
                applied, 1,
                "{s}: the {percent}% split applied {applied} times"
            );
            duplicated += applied - 1;
        }
    }
    team.admin.assert_status(&id, "succeeded").await;
    assert_log_free_of(&worker, &[&team.admin.token]);
    println!(
        "restarts, rollout: {} restarts (SIGKILL at the 10% and 50% steps), 3 steps each applied once on 3 services, final split 100% = Clodo's record; 0 lost, {duplicated} duplicated",
        worker.restarts
    );
}

/// The lock as `GET …/lock` tells it: holder and queue, by holder id.
async fn lock_state(api: &Api, lock: &str) -> (Option<String>, Vec<String>) {
    let info = api.read(lock).await;
    let queue = items(&info["queue"])
        .iter()
        .map(|w| str_of(&w["holder_id"]).to_owned())
        .collect();
    (
        info["holder"]["holder_id"].as_str().map(str::to_owned),
        queue,
    )
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn lock_hand_overs_survive_kills_with_one_holder_fifo_and_every_audit_entry_once() {
    let mut worker = OwnWorker::start().await;
    let team = Team::new_at(&worker.url).await;
    let lock = team.lock();
    let holders: Vec<String> = (0..6).map(|i| format!("job-{i}")).collect();
    // In order, so the FIFO order is known; leases long enough to outlive every restart.
    for (i, h) in holders.iter().enumerate() {
        let answer = team.admin.acquire(&lock, h, Some(600_000)).await;
        let want = if i == 0 { "granted" } else { "queued" };
        assert_eq!(answer["outcome"], want, "{h}: {answer}");
    }

    // Each holder's release is sent and the Worker killed a few milliseconds later: before,
    // during or after the object applied it. After the restart the lock must be in one of
    // the two states the release allows; a release that did not happen is sent again (a
    // client's retry).
    let delays = [0u64, 5, 15, 30, 60, 120];
    let mut lost = 0;
    for (i, h) in holders.iter().enumerate() {
        let request = team
            .admin
            .http
            .post(format!("{}{lock}/release", worker.url))
            .bearer_auth(&team.admin.token)
            .json(&json!({ "holder_id": h }))
            .send();
        let sent = tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) });
        tokio::time::sleep(Duration::from_millis(delays[i])).await;
        worker.kill();
        // The answer, or why none came (the kill cut the connection).
        let answered = sent.await.unwrap().map_err(|e| e.to_string());
        worker.restart().await;
        let rest: Vec<String> = holders[i + 1..].to_vec();
        let (holder, queue) = lock_state(&team.admin, &lock).await;
        let applied = holder.as_deref() != Some(h.as_str());
        if applied {
            // Handed over to the head of the queue, the rest still in order.
            assert_eq!(holder.as_ref(), rest.first(), "after {h}'s release");
            assert_eq!(queue, rest.get(1..).unwrap_or_default(), "queue after {h}");
        } else {
            assert_eq!(queue, rest, "queue while {h} still holds");
            // `Ok(200)` means the object answered the release; it must then have applied it.
            assert_ne!(answered, Ok(200), "{h}: release answered 200, not applied");
            let (s, body) = team.admin.lock_op(&lock, "release", h).await;
            assert_eq!(s, 200, "{h}: {body}");
            let (holder, queue) = lock_state(&team.admin, &lock).await;
            assert_eq!(holder.as_ref(), rest.first(), "after {h}'s retried release");
            assert_eq!(queue, rest.get(1..).unwrap_or_default());
        }
        println!(
            "  release of {h}: killed after {} ms, answered {answered:?}, applied before the kill: {applied}",
            delays[i]
        );
        if holder.is_none() && !rest.is_empty() {
            lost += 1;
        }
    }
    assert_eq!(lock_state(&team.admin, &lock).await, (None, Vec::new()));

    // The audit log: each change once, in order, one holder at a time, FIFO.
    let env = team.admin.read(&team.env_path()).await;
    let env_id = str_of(&env["id"]).to_owned();
    let want_rows = rows_for_chain(holders.len());
    let rows = settled_rows(&team.admin, &[&env_id], want_rows)
        .await
        .remove(&env_id)
        .unwrap_or_default();
    assert_eq!(rows.len(), want_rows, "the lock's audit rows: {rows:#?}");
    let grants = replay(&rows).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(grants, holders, "grant order");
    assert_log_free_of(&worker, &[&team.admin.token]);
    println!(
        "restarts, lock: {} restarts around {} releases with 5 waiters queued; {} audit rows, each change once in FIFO order; {lost} lost, 0 duplicated",
        worker.restarts,
        holders.len(),
        rows.len()
    );
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_webhook_retried_across_two_kills_is_delivered_exactly_once() {
    let mut worker = OwnWorker::start().await;
    let team = Team::new_at(&worker.url).await;
    let peer = FakePeer::start().await;
    let hook = team
        .add_channel(json!({ "name": "hook", "kind": "webhook",
            "url": format!("{}/hook", peer.url), "events": ["deployment.succeeded"] }))
        .await;
    let secret = str_of(&hook["secret"]).to_owned();
    let channel = str_of(&hook["channel"]["id"]).to_owned();
    // The receiver fails twice, then accepts; the Worker is killed right after each failure,
    // inside the retry's backoff (2 s, then 6 s, with jitter).
    peer.script("/hook", &[Answer::status(503), Answer::status(503)]);
    let request = json!({ "git_ref": "main", "git_sha": "abc", "message": "restarts" });
    team.run_deployment(request, &["verifying", "succeeded"])
        .await;
    for failures in 1..=2 {
        peer.wait_for("/hook", failures, PATIENCE).await;
        worker.kill();
        worker.restart().await;
    }
    let got = peer.wait_for("/hook", 3, PATIENCE).await;
    let id = got[0].header("webhook-id").to_owned();
    assert!(got.iter().all(|r| r.header("webhook-id") == id), "{got:#?}");
    let detail = wait_for_delivery(&team.admin, &id, "delivered").await;
    assert_eq!(detail["delivery"]["attempts"], 3, "{detail}");
    // Nothing more arrives, and the channel has that one delivery record.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let received = peer.received("/hook").len();
    assert_eq!(received, 3, "2 refused + 1 accepted, nothing after it");
    let list = team
        .admin
        .read(&format!("/api/v1/deliveries?channel={channel}"))
        .await;
    let records = items(&list["items"]);
    assert_eq!(records.len(), 1, "{list}");
    assert_eq!(records[0]["state"], "delivered", "{list}");
    assert_log_free_of(&worker, &[&team.admin.token, &secret]);
    println!(
        "restarts, notification: {} restarts in the retry windows; receiver got {received} requests (2 refused, 1 accepted), 1 delivery record, attempts 3; 0 lost, 0 duplicated",
        worker.restarts
    );
}
