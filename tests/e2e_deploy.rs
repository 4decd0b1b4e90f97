//! End-to-end tests of deploying and rolling back the example project (examples/shop: three
//! Workers) with the real `clodo` CLI, real wrangler, the local Worker (control plane with real
//! D1 and Durable Objects) and the sandbox Cloudflare API it is configured with.
//!
//! Each test copies the example and renames its Workers so tests never share a Worker.
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use e2e_support::shop::{clodo, deploy_args, live, release_now, shop_setup, wrangler, SERVICES};
use e2e_support::str_of;
use serde_json::{json, Value};

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn rollback_restores_every_service_and_an_emergency_breaks_the_queue() {
    let (team, project) = shop_setup().await;
    // Two releases of each service with plain wrangler: the second is live.
    let mut first = Vec::new();
    for s in SERVICES {
        let dir = project.dir.join(s);
        wrangler(&dir, &["deploy", "--env", "staging"]);
        first.push(live(&project.script(s)).await.expect("first release live"));
    }
    let mut second = Vec::new();
    for (i, s) in SERVICES.iter().enumerate() {
        wrangler(&project.dir.join(s), &["deploy", "--env", "staging"]);
        let v = live(&project.script(s)).await.expect("second release live");
        assert_ne!(v, first[i]);
        second.push(v);
    }

    let (code, out, err) = clodo(
        &project.dir,
        &team.admin.token,
        &["rollback", "--env", "staging", "--yes", "--json"],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            live(&project.script(s)).await.as_deref(),
            Some(first[i].as_str()),
            "{s} is back on its first release"
        );
    }
    // The api declares Durable Object migrations: the rollback says what it cannot undo.
    assert!(err.contains("Durable Object migrations"), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["services"].as_array().unwrap().len(), 3);
    // Recorded as a deployment that went through the lock and succeeded.
    let id = report["deployment_id"].as_str().unwrap();
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert!(str_of(&record["message"]).starts_with("rollback:"));

    // Emergency: someone holds the environment's lock; an emergency rollback of one service to
    // a named version does not queue behind them: it breaks the lock (audited) and proceeds.
    team.admin
        .acquire(
            "/api/v1/projects/shop/environments/staging/lock",
            "stuck-deploy",
            Some(600000),
        )
        .await;
    let (code, out, err) = clodo(
        &project.dir,
        &team.admin.token,
        &[
            "rollback",
            "--env",
            "staging",
            "--service",
            "web",
            "--to",
            &second[1],
            "--emergency",
            "--reason",
            "checkout broken",
            "--yes",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(live(&project.script("web")).await, Some(second[1].clone()));
    assert_eq!(live(&project.script("api")).await, Some(first[0].clone()));
    let audit = team.audit("lock.force_unlock").await;
    assert!(
        audit
            .iter()
            .any(|e| e.to_string().contains("checkout broken")),
        "{audit:?}"
    );
    // Without a reason an emergency is refused before anything changes.
    let (code, _, err) = clodo(
        &project.dir,
        &team.admin.token,
        &["rollback", "--env", "staging", "--emergency", "--yes"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--reason"), "{err}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn deploy_ships_three_services_in_waves_and_rollback_restores_all_three() {
    let (team, project) = shop_setup().await;
    let deploy = |label: &str| release_now(&project, &team, &["-m", label]);
    // First release: every Worker is new, so wrangler must `deploy` each (callee api first).
    let (first, err) = deploy("first");
    assert_eq!(first["deployment"]["status"], "succeeded", "{first}");
    let wave_api = err.find("wave 1: api").expect("api in the first wave");
    let wave_web = err
        .find("wave 2: web")
        .expect("web after the api it binds to");
    assert!(wave_api < wave_web, "{err}");
    let services = first["services"].as_array().unwrap();
    assert_eq!(services.len(), 3);
    assert!(services.iter().all(|s| s["command"] == "deploy"), "{first}");
    let api_first = services.iter().find(|s| s["service"] == "api").unwrap();
    assert_eq!(api_first["migrations_applied"], json!(["v1"]));
    let mut v1 = Vec::new();
    for s in SERVICES {
        let live = live(&project.script(s)).await.expect("live at 100%");
        let shipped = services.iter().find(|x| x["service"] == s).unwrap();
        assert_eq!(shipped["new_version"], live.as_str(), "{s}");
        v1.push(live);
    }

    // Second release: the Workers exist and the migration is applied: `versions upload`,
    // then this deploy moves each to 100%.
    let (second, _) = deploy("second");
    let services = second["services"].as_array().unwrap();
    assert!(
        services.iter().all(|s| s["command"] == "versions_upload"),
        "{second}"
    );
    for (i, s) in SERVICES.iter().enumerate() {
        let shipped = services.iter().find(|x| x["service"] == *s).unwrap();
        assert_eq!(shipped["previous_version"], v1[i].as_str());
        assert_eq!(
            live(&project.script(s)).await.as_deref(),
            shipped["new_version"].as_str(),
            "{s} serves the second release"
        );
    }

    // The diff of the two deployments names each service's version change.
    let (a, b) = (
        first["deployment"]["id"].as_str().unwrap(),
        second["deployment"]["id"].as_str().unwrap(),
    );
    let (code, out, err) = clodo(&project.dir, &team.admin.token, &["diff", a, b, "--json"]);
    assert_eq!(code, 0, "{err}");
    let diff: Value = serde_json::from_str(&out).unwrap();
    let versions = diff["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["what"] == "version")
        .count();
    assert_eq!(versions, 3, "{diff}");

    // One command puts all three back on the first release.
    let (code, out, err) = clodo(
        &project.dir,
        &team.admin.token,
        &["rollback", "--env", "staging", "--yes"],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            live(&project.script(s)).await.as_deref(),
            Some(v1[i].as_str())
        );
    }
    // The first release applied the api's migration; the rollback does not say it undoes it.
    assert!(err.contains("Durable Object"), "{err}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn deploy_refuses_blocking_findings_and_unrunnable_strategies_before_any_change() {
    let (team, project) = shop_setup().await;
    // Blue-green needs a health check that reaches the new version: refused, exit 2.
    let (code, _, err) = clodo(&project.dir, &team.admin.token, &deploy_args("blue-green"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a health check"), "{err}");
    assert_eq!(live(&project.script("api")).await, None, "nothing deployed");
    // A D1 database the account does not have blocks the deploy: exit 1, nothing uploaded.
    let file = project.dir.join("api/wrangler.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "5e0d1000-0000-4000-8000-000000000002",
        "5e0d1000-0000-4000-8000-0000000000ff",
    );
    std::fs::write(&file, text).unwrap();
    let (code, _, err) = clodo(&project.dir, &team.admin.token, &deploy_args("immediate"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("d1_missing"), "{err}");
    let (_, history) = team.admin.get("/api/v1/deployments").await;
    assert!(
        history["items"].as_array().unwrap().is_empty(),
        "no deployment was recorded: {history}"
    );
}
