//! End-to-end tests of scheduled deploys with the real `clodo` CLI, real wrangler, the local
//! Worker (D1, the Scheduler Durable Object's alarm, the Rollout object) and the sandbox: a
//! deploy scheduled a few seconds ahead starts by itself (no CLI call) and moves the traffic;
//! one scheduled into a freeze does not start and says why; cancel is idempotent and refuses
//! a started one; recurring schedules refuse other Worker names; the calendar feed parses with
//! a real iCalendar parser.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;
mod ics_support;

use std::time::{Duration, Instant};

use e2e_support::shop::{clodo, live, release_now, shop_setup, Project, ACCOUNT, SERVICES};
use e2e_support::{items, str_of, Team};
use serde_json::{json, Value};

/// An RFC 3339 time `secs` from now, as `--at` takes it.
fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// `clodo deploy --env staging --strategy immediate --yes --json` plus `extra`: the report.
fn deploy(project: &Project, team: &Team, extra: &[&str]) -> Value {
    release_now(project, team, extra).0
}

/// Polls the deployment until `done` says so.
async fn wait_for(team: &Team, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let d = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
        if done(&d) {
            return d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn staging_policy(team: &Team, policy: Value) {
    team.admin
        .expect(
            200,
            "PUT",
            "/api/v1/projects/shop/environments/staging/policy",
            Some(policy),
        )
        .await;
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_scheduled_deploy_starts_by_itself_and_one_in_a_freeze_does_not() {
    let (team, project) = shop_setup().await;
    // A first release now (first deploys go live with `wrangler deploy`; they cannot wait).
    let (code, _, err) = clodo(
        &project.dir,
        &team.admin.token,
        &[
            "deploy",
            "--env",
            "staging",
            "--yes",
            "--at",
            &in_secs(3600),
        ],
    );
    assert_ne!(code, 0, "a first deploy cannot be scheduled: {err}");
    assert!(err.contains("cannot schedule"), "{err}");
    let first = deploy(&project, &team, &[]);
    assert_eq!(first["deployment"]["status"], "succeeded", "{first}");
    let mut v1 = Vec::new();
    for s in SERVICES {
        v1.push(live(&project.script(s)).await.expect("first release live"));
    }

    // Scheduled a few seconds ahead: uploaded now without traffic, started by the control
    // plane at its time with no CLI call.
    let report = deploy(&project, &team, &["--at", &in_secs(45), "-m", "scheduled"]);
    let id = str_of(&report["deployment"]["id"]).to_owned();
    assert!(report["deployment"]["scheduled_for"].is_i64(), "{report}");
    let uploads = team
        .admin
        .read(&format!("/api/v1/deployments/{id}/services"))
        .await;
    assert_eq!(items(&uploads["items"]).len(), 3, "{uploads}");
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    if record["schedule"]["state"] == "pending" {
        // Before its time nothing moved.
        for (i, s) in SERVICES.iter().enumerate() {
            assert_eq!(
                live(&project.script(s)).await.as_deref(),
                Some(v1[i].as_str())
            );
        }
    }
    let done = wait_for(&team, &id, "the scheduled deploy to succeed", |d| {
        d["status"] == "succeeded" || d["status"] == "failed" || d["status"] == "cancelled"
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["schedule"]["state"], "started", "{done}");
    let started_by = items(&done["events"])
        .iter()
        .find(|e| e["to_status"] == "deploying")
        .map(|e| e["detail"]["by"].clone());
    assert_eq!(started_by, Some(json!("clodo:scheduler")), "{done}");
    for u in items(&uploads["items"]) {
        assert_eq!(
            live(str_of(&u["script"])).await.as_deref(),
            Some(str_of(&u["version_id"])),
            "{u}"
        );
    }
    // Cancelling a started deployment is refused clearly.
    let (code, _, err) = clodo(&project.dir, &team.admin.token, &["cancel", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("already started"), "{err}");

    // A freeze covers the next start time: it is accepted (the freeze might be lifted), does
    // not start at its time, and says why; nothing moves.
    let now = chrono::Utc::now();
    staging_policy(
        &team,
        json!({ "freezes": [{
            "starts_at": (now + chrono::Duration::seconds(5)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(2)).to_rfc3339(),
            "reason": "launch week"
        }]}),
    )
    .await;
    let served: Vec<Option<String>> = {
        let mut v = Vec::new();
        for s in SERVICES {
            v.push(live(&project.script(s)).await);
        }
        v
    };
    let frozen = deploy(&project, &team, &["--at", &in_secs(40)]);
    let frozen_id = str_of(&frozen["deployment"]["id"]).to_owned();
    let skipped = wait_for(&team, &frozen_id, "the frozen start to be skipped", |d| {
        d["status"]
            .as_str()
            .is_some_and(|s| ["succeeded", "failed", "cancelled", "rolled_back"].contains(&s))
    })
    .await;
    assert_eq!(skipped["status"], "cancelled", "{skipped}");
    assert_eq!(skipped["schedule"]["state"], "skipped", "{skipped}");
    let reason = str_of(&skipped["schedule"]["reason"]);
    assert!(
        reason.contains("frozen") && reason.contains("launch week"),
        "{reason}"
    );
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            live(&project.script(s)).await,
            served[i],
            "{s} did not move"
        );
    }
    let audit = team.audit("deployment.schedule_skipped").await;
    assert!(
        audit.iter().any(|e| e.to_string().contains("launch week")),
        "{audit:?}"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn cancel_is_idempotent_and_the_calendar_shows_what_is_planned() {
    let (team, project) = shop_setup().await;
    deploy(&project, &team, &[]);
    let later = deploy(
        &project,
        &team,
        &["--at", &in_secs(3600), "-m", "release, v2; big"],
    );
    let id = str_of(&later["deployment"]["id"]).to_owned();
    // The API refuses times in the past or beyond 90 days. (A read first: the client's pooled
    // connection may have gone stale during the CLI's minutes, and only reads are retried.)
    team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    for (at, why) in [
        (in_secs(-60), "not in the future"),
        (in_secs(91 * 86_400), "90 days"),
    ] {
        let (status, body) = team
            .admin
            .post(
                "/api/v1/deployments",
                json!({ "project": "shop", "environment": "staging", "scheduled_for": at }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains(why), "{body}");
    }

    // A recurring schedule and a freeze, for the calendar.
    let schedules = "/api/v1/projects/shop/environments/staging/schedules";
    let weekly = team
        .admin
        .create(
            schedules,
            json!({ "cron": "0 9 * * wed", "strategy": "immediate" }),
        )
        .await;
    let (status, body) = team
        .admin
        .post(schedules, json!({ "cron": "0 25 * * *" }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("hour"), "{body}");
    let now = chrono::Utc::now();
    staging_policy(
        &team,
        json!({ "freezes": [{
            "starts_at": (now + chrono::Duration::days(2)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::days(3)).to_rfc3339(),
            "reason": "audit, Q4"
        }]}),
    )
    .await;
    let (code, feed, err) = clodo(
        &project.dir,
        &team.admin.token,
        &["calendar", "--project", "shop"],
    );
    assert_eq!(code, 0, "{err}");
    let events = ics_support::parse(&feed);
    let uid = |u: &str| events.iter().find(|e| e["uid"] == u).cloned();
    let planned = uid(&format!("{id}@clodo")).expect("the scheduled deploy is in the feed");
    assert!(
        str_of(&planned["description"]).contains("release, v2; big"),
        "{planned}"
    );
    let train = uid(&format!("{}@clodo", str_of(&weekly["id"]))).expect("the schedule");
    assert!(str_of(&train["rrule"]).contains("BYDAY=WE"), "{train}");
    assert!(
        events
            .iter()
            .any(|e| e["categories"][0] == "FREEZE" && e["description"] == "audit, Q4"),
        "{events:?}"
    );

    // Cancel: once, then again (same answer, nothing changes).
    let (code, out, err) = clodo(&project.dir, &team.admin.token, &["cancel", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cancelled"), "{out}");
    let (code, out, err) = clodo(&project.dir, &team.admin.token, &["cancel", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("already cancelled"), "{out}");
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert_eq!(record["schedule"]["state"], "cancelled", "{record}");
    assert_eq!(team.audit("deployment.schedule_cancelled").await.len(), 1);
    // Gone from the calendar.
    let (status, _, feed) = team
        .admin
        .raw("GET", "/api/v1/calendar.ics?project=shop", None, &[])
        .await;
    assert_eq!(status, 200);
    assert!(!feed.contains(&format!("UID:{id}@clodo")), "{feed}");

    // Recurring schedules re-serve versions of the same Workers only.
    team.bind(ACCOUNT).await;
    team.admin
        .expect(
            200,
            "PUT",
            "/api/v1/projects/shop/environments/production/services/api",
            Some(json!({ "script": format!("{}-prod", project.script("api")) })),
        )
        .await;
    let (status, body) = team
        .admin
        .post(
            "/api/v1/projects/shop/environments/production/schedules",
            json!({ "cron": "0 9 * * wed", "source_environment": "staging" }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("environment promotion"), "{body}");
    // Listed, then deleted.
    let list = team.admin.read(schedules).await;
    assert_eq!(items(&list["items"]).len(), 1);
    let path = format!("{schedules}/{}", str_of(&weekly["id"]));
    let (status, _) = team.admin.delete(&path).await;
    assert_eq!(status, 204);
    let list = team.admin.read(schedules).await;
    assert!(items(&list["items"]).is_empty(), "{list}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_recurring_schedule_deploys_at_its_next_occurrence_once() {
    let (team, project) = shop_setup().await;
    let first = deploy(&project, &team, &[]);
    let shipped = str_of(&first["deployment"]["id"]).to_owned();
    // Every minute, re-deploy staging's own newest succeeded versions.
    let schedules = "/api/v1/projects/shop/environments/staging/schedules";
    team.admin.read(schedules).await;
    let schedule = team
        .admin
        .create(
            schedules,
            json!({ "cron": "* * * * *", "message": "train" }),
        )
        .await;
    let id = str_of(&schedule["id"]).to_owned();
    let started = Instant::now();
    let made = loop {
        let list = team.admin.read(schedules).await;
        let s = items(&list["items"])[0].clone();
        assert!(s["last_error"].is_null(), "{s}");
        if let Some(d) = s["last_deployment_id"].as_str() {
            break (d.to_owned(), s["last_occurrence_at"].clone());
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no occurrence: {s}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let done = wait_for(&team, &made.0, "the occurrence's deployment", |d| {
        d["status"]
            .as_str()
            .is_some_and(|s| ["succeeded", "failed", "cancelled", "rolled_back"].contains(&s))
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["message"], "train");
    assert_eq!(done["schedule"]["recurring_id"], id.as_str());
    // The versions of the deployment it re-served.
    let source = team
        .admin
        .read(&format!("/api/v1/deployments/{shipped}/services"))
        .await;
    let copy = team
        .admin
        .read(&format!("/api/v1/deployments/{}/services", made.0))
        .await;
    let versions = |v: &Value| {
        let mut out: Vec<String> = items(&v["items"])
            .iter()
            .map(|u| str_of(&u["version_id"]).to_owned())
            .collect();
        out.sort();
        out
    };
    assert_eq!(versions(&source), versions(&copy));
    // One deployment per occurrence: its id is fixed by the schedule and the occurrence.
    let (_, history) = team
        .admin
        .get("/api/v1/deployments?environment=staging")
        .await;
    let occurrence = made.1.as_i64().unwrap() / 1000;
    let same: Vec<_> = items(&history["items"])
        .iter()
        .filter(|d| str_of(&d["id"]).ends_with(&format!("_{occurrence}")))
        .collect();
    assert_eq!(same.len(), 1, "{history}");
    let (status, _) = team.admin.delete(&format!("{schedules}/{id}")).await;
    assert_eq!(status, 204);
}
