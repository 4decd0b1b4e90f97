//! End-to-end tests of progressive rollouts: the real `clodo` CLI uploads the example project
//! (three Workers) with real wrangler to the sandbox, and the local Worker's `Rollout` Durable
//! Object moves the traffic step by step, checks health through the sandbox's Worker
//! emulation and analytics, and rolls every service back when a check fails.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::time::Duration;

use e2e_support::own_worker::OwnWorker;
use e2e_support::shop::{
    clodo, clodo_ok, deploy, deploy_args, edit_clodo_toml, follow_at, live, live_all, new_version,
    patch_analytics, rollout_team, rollout_team_at, splits, start_detached, start_rollout_at,
    Project, HELD_AT_FIRST_STEP, SERVICES,
};
use e2e_support::{str_of, wait_for_rollout, wait_for_traffic, Team};
use serde_json::{json, Value};

fn project(extra: &str) -> Project {
    Project::with(extra)
}

/// Plenty of traffic on this project's Workers, so every measurement has data.
async fn busy(p: &Project) {
    let scripts: serde_json::Map<String, Value> = SERVICES
        .iter()
        .map(|s| (p.script(s), json!(60000.0)))
        .collect();
    patch_analytics(json!({ "scripts": scripts })).await;
}

/// First release with `--strategy immediate`: every Worker new, each at 100%.
async fn first_release(p: &Project, team: &Team) -> Vec<String> {
    clodo_ok(p, team, &deploy_args("immediate"));
    live_all(p).await
}

const HEALTH: &str = r#"
[[health_checks]]
name = "api healthz"
service = "api"
url = "{SANDBOX}/__sandbox/workers/{API}/healthz"
expect_body_contains = "ok"
max_latency_ms = 5000
"#;

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_gradual_deploy_moves_all_three_services_through_the_steps_and_completes() {
    let team = rollout_team().await;
    let p = project(&format!(
        r#"
[deploy]
strategy = "gradual"
steps = [50, 100]
step_wait_secs = 1
{HEALTH}
[[analysis]]
metric = "error_rate"
condition = "< 0.05"
interval_secs = 1
count = 1
failure_limit = 0
"#
    ));
    busy(&p).await;
    let before = first_release(&p, &team).await;

    let (code, report, err) = deploy(&p, &team, &[]);
    assert_eq!(code, 0, "{report}\n{err}");
    assert_eq!(report["rollout"]["phase"], "succeeded", "{report}");
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    assert!(err.contains("following live (WebSocket)"), "{err}");
    assert!(err.contains("step 1/2: new versions at 50%"), "{err}");
    assert!(err.contains("health check api healthz passed"), "{err}");
    assert!(
        err.contains("error_rate of web"),
        "every service is measured: {err}"
    );
    for (i, s) in SERVICES.iter().enumerate() {
        let new = new_version(&report, s);
        assert_eq!(live(&p.script(s)).await, Some(new.clone()), "{s} at 100%");
        // Before 100%, each Worker served a 50/50 split of the new and the old version.
        let history = splits(&p.script(s)).await;
        assert!(
            history.contains(&vec![(new.clone(), 50.0), (before[i].clone(), 50.0)]),
            "{s}: {history:?}"
        );
    }
    // `clodo status` tells the same story afterwards (here: the environment's newest).
    let id = report["deployment"]["id"].as_str().unwrap();
    let (code, out, err) = clodo(&p.dir, &team.admin.token, &["status", "--env", "staging"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(id), "{out}");
    assert!(
        out.contains("succeeded") && out.contains("50% → 100%"),
        "{out}"
    );
}

/// Polls the rollout until `done` says so (or fails after 60 s).
/// Waits until the rollout's traffic is at `percent`.
async fn wait_for_step(team: &Team, id: &str, percent: f64) {
    wait_for_traffic(&team.admin, id, percent, Duration::from_secs(60)).await;
}

async fn wait_for(team: &Team, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for_rollout(&team.admin, id, what, Duration::from_secs(60), done).await
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_version_whose_error_rate_rises_mid_rollout_is_rolled_back_automatically() {
    let team = rollout_team().await;
    let p = project(
        r#"
[deploy]
strategy = "gradual"
steps = [20, 60, 100]
step_wait_secs = 6

[[analysis]]
metric = "error_rate"
condition = "< 0.05"
interval_secs = 1
count = 6
failure_limit = 1
"#,
    );
    busy(&p).await;
    let before = first_release(&p, &team).await;

    let (code, report, err) = deploy(&p, &team, &["--detach"]);
    assert_eq!(code, 0, "{report}\n{err}");
    assert!(err.contains("detached"), "{err}");
    let id = report["deployment_id"].as_str().unwrap().to_owned();
    let api_new = new_version(&report, "api");

    // The CLI has exited; the rollout goes on. Once 20% of the traffic is on the new
    // versions, the api's new version starts failing half of its requests.
    wait_for_step(&team, &id, 20.0).await;
    patch_analytics(json!({ "versions": { api_new.clone(): { "error_ratio": 0.5 } } })).await;

    let (code, out, err) = clodo(
        &p.dir,
        &team.admin.token,
        &["status", &id, "--follow", "--json"],
    );
    assert_eq!(code, 1, "a rolled back deployment is a failure: {err}");
    let end: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(end["phase"], "rolled_back", "{end}");
    let reason = end["reason"].as_str().unwrap();
    assert!(
        reason.contains("more than the failure limit of 1"),
        "{reason}"
    );
    // Exactly failure_limit + 1 failed measurements: it reacted at the limit, not later.
    assert_eq!(end["analysis"][0]["failed"], 2, "{end}");
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            live(&p.script(s)).await.as_deref(),
            Some(before[i].as_str()),
            "{s} is back on its previous version"
        );
        let history = splits(&p.script(s)).await;
        assert!(
            history
                .iter()
                .all(|d| d.iter().all(|(v, pct)| before.contains(v) || *pct < 100.0)),
            "no new version ever got all the traffic: {history:?}"
        );
    }
    let record = team.admin.assert_status(&id, "rolled_back").await;
    assert!(
        record["events"].to_string().contains("clodo:rollout"),
        "{record}"
    );
    // The environment is free again: the next deployment gets the lock at once.
    let (_, lock) = team
        .admin
        .get("/api/v1/projects/shop/environments/staging/lock")
        .await;
    assert!(lock["holder"].is_null(), "{lock}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn blue_green_flips_after_the_smoke_check_and_a_failing_check_restores_the_old_versions() {
    let team = rollout_team().await;
    let p = project(&format!(
        r#"
[deploy]
strategy = "blue-green"
step_wait_secs = 1
{HEALTH}
"#
    ));
    busy(&p).await;
    let before = first_release(&p, &team).await;

    let (code, report, err) = deploy(&p, &team, &[]);
    assert_eq!(code, 0, "{report}\n{err}");
    let green = new_version(&report, "api");
    // Newest first: the flip to 100%, and before it the new version at 0% beside the old.
    let history = splits(&p.script("api")).await;
    assert_eq!(history[0], vec![(green.clone(), 100.0)]);
    assert_eq!(
        history[1],
        vec![(green.clone(), 0.0), (before[0].clone(), 100.0)]
    );
    // The smoke check reached the new version (through the override header) before the flip.
    let log = report["rollout"]["log"].as_array().unwrap();
    let pos = |needle: &str| {
        log.iter()
            .position(|l| l["message"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {log:?}"))
    };
    assert!(pos("health check api healthz passed") < pos("step 2/2"));

    // Next release: the smoke check expects an answer this version does not give.
    edit_clodo_toml(
        &p,
        "expect_body_contains = \"ok\"",
        "expect_body_contains = \"v3-ready\"",
    );
    let (code, failed, err) = deploy(&p, &team, &[]);
    assert_eq!(code, 1, "{failed}\n{err}");
    assert_eq!(failed["rollout"]["phase"], "rolled_back", "{failed}");
    assert_eq!(failed["deployment"]["status"], "rolled_back");
    assert!(
        str_of(&failed["rollout"]["reason"])
            .contains("health check failed: api healthz: the body does not contain \"v3-ready\""),
        "{failed}"
    );
    for s in SERVICES {
        let was = new_version(&report, s);
        assert_eq!(
            live(&p.script(s)).await,
            Some(was),
            "{s} keeps the green version"
        );
    }
    // The failed version never took traffic: 0%, then the old one alone again.
    let history = splits(&p.script("api")).await;
    let v3 = new_version(&failed, "api");
    assert_eq!(history[1], vec![(v3, 0.0), (green.clone(), 100.0)]);

    // The server's rollback (the dashboard's and Slack's button, pressed on the failure's
    // notice) goes back to what served before the failure, the green release, which the
    // rollout already put back: nothing moves, nothing is recorded (a no-op would count as
    // a deployment in DORA), and never back to the first release.
    let history = "/api/v1/deployments?project=shop&environment=staging&limit=100";
    let (_, before) = team.admin.get(history).await;
    let (status, answer) = team
        .admin
        .post(
            "/api/v1/projects/shop/environments/staging/rollback",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["from_deployment"], failed["deployment"]["id"],
        "{answer}"
    );
    assert_eq!(
        answer["to_deployment"], report["deployment"]["id"],
        "{answer}"
    );
    let outcomes = answer["services"].as_array().unwrap();
    assert_eq!(outcomes.len(), SERVICES.len(), "{answer}");
    assert!(
        outcomes.iter().all(|s| s["outcome"] == "already_live"),
        "{answer}"
    );
    assert_eq!(answer["changed"], false, "{answer}");
    assert_eq!(
        answer["deployment"]["id"], report["deployment"]["id"],
        "the answer names what serves: {answer}"
    );
    let (_, after) = team.admin.get(history).await;
    assert_eq!(
        after["items"].as_array().map(Vec::len),
        before["items"].as_array().map(Vec::len),
        "nothing recorded: {after}"
    );
    for s in SERVICES {
        assert_eq!(live(&p.script(s)).await, Some(new_version(&report, s)));
    }
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_rollout_resumes_from_durable_object_state_after_the_worker_is_killed() {
    // This test kills a Worker, so it runs its own (same bundle, its own port and state).
    let mut worker = OwnWorker::start().await;
    let team = rollout_team_at(&worker.url).await;
    let p = project(
        r#"
[deploy]
strategy = "gradual"
steps = [10, 50, 100]
step_wait_secs = 4
"#,
    );
    let (id, report) = start_rollout_at(&worker.url, &p, &team);
    wait_for_step(&team, &id, 10.0).await;

    // Killed mid-step: no graceful shutdown, the step's alarm is pending in storage.
    worker.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    worker.restart().await;

    let end = follow_at(&worker.url, &p, &team, &id);
    assert_eq!(end["phase"], "succeeded", "{end}");
    // It continued, not restarted: one start, each step once.
    let log = end["log"].as_array().unwrap();
    let count = |kind: &str| log.iter().filter(|l| l["kind"] == kind).count();
    assert_eq!(count("started"), 1, "{log:?}");
    assert_eq!(count("step"), 3, "{log:?}");
    for s in SERVICES {
        let new = new_version(&report, s);
        assert_eq!(live(&p.script(s)).await, Some(new.clone()), "{s}");
        let tens = splits(&p.script(s))
            .await
            .iter()
            .filter(|d| d.first() == Some(&(new.clone(), 10.0)))
            .count();
        assert_eq!(tens, 1, "{s}: the 10% step was applied once");
    }
    team.admin.assert_status(&id, "succeeded").await;
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn people_pause_resume_promote_and_abort_rollouts_from_the_cli() {
    let team = rollout_team().await;
    let p = project(HELD_AT_FIRST_STEP);
    let before = first_release(&p, &team).await;
    let start = || {
        let (code, report, err) = deploy(&p, &team, &["--detach"]);
        assert_eq!(code, 0, "{report}\n{err}");
        report
    };
    let steer = |args: &[&str]| {
        let (code, out, err) = clodo(&p.dir, &team.admin.token, args);
        (code, format!("{out}{err}"))
    };

    // A ten-minute step: pause holds it, resume lets it go on, promote skips to 100% now.
    let report = start();
    let id = report["deployment_id"].as_str().unwrap().to_owned();
    wait_for_step(&team, &id, 10.0).await;
    let (code, out) = steer(&["pause", &id]);
    assert_eq!(code, 0, "{out}");
    wait_for(&team, &id, "the pause", |s| s["phase"] == "paused").await;
    let (code, out) = steer(&["pause", &id]);
    assert_eq!(code, 1, "pausing twice is refused: {out}");
    assert!(
        out.contains("cannot pause a rollout that is paused"),
        "{out}"
    );
    let (code, out) = steer(&["resume", &id]);
    assert_eq!(code, 0, "{out}");
    wait_for(&team, &id, "the resume", |s| s["phase"] == "running").await;
    let (code, out) = steer(&["promote", &id]);
    assert_eq!(code, 0, "{out}");
    let end = wait_for(&team, &id, "the promotion", |s| s["recorded"] == true).await;
    assert_eq!(end["phase"], "succeeded", "{end}");
    for s in SERVICES {
        assert_eq!(live(&p.script(s)).await, Some(new_version(&report, s)));
    }
    // Who did what is in the audit log.
    for action in ["rollout.pause", "rollout.resume", "rollout.promote"] {
        assert_eq!(team.audit(action).await.len(), 1, "{action}");
    }

    // Abort puts every service back on the version it had before this deployment.
    let promoted: Vec<String> = SERVICES.iter().map(|s| new_version(&report, s)).collect();
    let report = start();
    let id = report["deployment_id"].as_str().unwrap().to_owned();
    wait_for_step(&team, &id, 10.0).await;
    // A plain rollback would race the rollout: it points at `clodo abort` instead.
    let (code, out) = steer(&["rollback", "--env", "staging", "--yes"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("clodo abort {id}")), "{out}");
    let (code, out) = steer(&["abort", &id]);
    assert_eq!(code, 0, "{out}");
    let end = wait_for(&team, &id, "the abort", |s| s["recorded"] == true).await;
    assert_eq!(end["phase"], "rolled_back", "{end}");
    assert!(
        str_of(&end["reason"]).starts_with("aborted by member:"),
        "{end}"
    );
    assert_eq!(live_all(&p).await, promoted);
    for (i, s) in SERVICES.iter().enumerate() {
        assert_ne!(promoted[i], before[i], "{s}");
    }
    let (code, out) = steer(&["abort", &id]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cannot abort a rollout that is rolled_back"),
        "{out}"
    );
    let (code, out) = steer(&["status", &id]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("rolled_back") && out.contains("aborted by"),
        "{out}"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_rollout_without_data_pauses_for_a_human_and_keeps_the_environment() {
    let team = rollout_team().await;
    let p = project(
        r#"
[deploy]
strategy = "gradual"
steps = [50, 100]
step_wait_secs = 1

[[analysis]]
metric = "error_rate"
condition = "< 0.05"
interval_secs = 1
count = 1
inconclusive_limit = 0
"#,
    );
    // The first release is verified too (immediate runs the analysis once): with traffic.
    busy(&p).await;
    first_release(&p, &team).await;
    // Then no traffic at all on these Workers: nothing to judge the new versions by.
    let idle: serde_json::Map<String, Value> =
        SERVICES.iter().map(|s| (p.script(s), json!(0.0))).collect();
    patch_analytics(json!({ "scripts": idle })).await;
    let (id, report) = start_detached(&p, &team);
    let paused = wait_for(&team, &id, "the pause", |s| s["phase"] == "paused").await;
    assert!(
        str_of(&paused["reason"]).contains("inconclusive"),
        "{paused}"
    );
    assert_eq!(paused["traffic_percent"], 50.0, "held where it was");
    // Still the environment's deployment: verifying, holding the lock.
    team.admin.assert_status(&id, "verifying").await;
    let (_, lock) = team
        .admin
        .get("/api/v1/projects/shop/environments/staging/lock")
        .await;
    assert_eq!(lock["holder"]["holder_id"], id.as_str(), "{lock}");
    // A human decides: promote.
    let (code, _, err) = clodo(&p.dir, &team.admin.token, &["promote", &id]);
    assert_eq!(code, 0, "{err}");
    let end = wait_for(&team, &id, "the promotion", |s| s["recorded"] == true).await;
    assert_eq!(end["phase"], "succeeded", "{end}");
    for s in SERVICES {
        assert_eq!(live(&p.script(s)).await, Some(new_version(&report, s)));
    }
}
