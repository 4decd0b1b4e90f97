//! End-to-end tests of issue 11's rollout rules against the local Worker, the sandbox and real
//! wrangler: a rollout's account, Workers and versions come from the server's records only;
//! a rollout that loses its environment's lock stops moving traffic; immediate deploys are
//! verified too; hosted assessments use only the environment's account.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::shop::{
    clodo, deploy, edit_clodo_toml, live_all, new_version, shop_team, splits, start_detached,
    Project, HELD_AT_FIRST_STEP, SERVICES,
};
use e2e_support::{assert_says, str_of, strings, wait_for_rollout, wait_for_traffic, Api, Team};
use serde_json::{json, Value};

fn project(extra: &str) -> Project {
    Project::with(extra)
}

/// Polls the rollout until `done` says so (or fails after 90 s).
async fn wait_for(api: &Api, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_for_rollout(api, id, what, Duration::from_secs(90), done).await
}

/// A deployment of `shop/<env>` by `api`, holding the environment's lock and `deploying`.
async fn deploying(api: &Api, env: &str) -> String {
    let created = api
        .create(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": env, "strategy": "gradual" }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    api.acquire(
        &format!("/api/v1/projects/shop/environments/{env}/lock"),
        &id,
        None,
    )
    .await;
    let (status, body) = api.transition(&id, "deploying").await;
    assert_eq!(status, 200, "{body}");
    id
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_rollout_moves_only_what_its_deployment_recorded_in_its_environments_account() {
    let team = shop_team().await;
    // The team also holds a credential for another account: no request may point a rollout
    // at it.
    team.admin
        .create(
            "/api/v1/credentials",
            json!({ "account_id": "acc_test", "name": "other", "api_token": "user-edit-token" }),
        )
        .await;
    let p = project("");
    // An admin's first deploy registers each service's Worker for staging.
    let (code, first, err) = deploy(&p, &team, &["--strategy", "immediate"]);
    assert_eq!(code, 0, "{first}\n{err}");
    let (_, registered) = team
        .admin
        .get("/api/v1/projects/shop/environments/staging/services")
        .await;
    let names: Vec<&str> = strings(&registered["items"], "script");
    assert_eq!(names.len(), 3, "{registered}");
    assert!(names.contains(&p.script("api").as_str()), "{registered}");
    let before = live_all(&p).await;
    let history_before = splits(&p.script("web")).await.len();

    let (deployer, _) = team.person("dora", "deployer").await;
    // A deployer cannot point a service at another Worker.
    deployer
        .refused(
            "PUT",
            "/api/v1/projects/shop/environments/staging/services/api",
            Some(json!({ "script": "someone-elses-worker" })),
            (403, "forbidden"),
        )
        .await;
    team.admin
        .refused(
            "PUT",
            "/api/v1/projects/shop/environments/staging/services/api",
            Some(json!({ "script": "../acc_test/workers/scripts/x" })),
            (400, "bad_request"),
        )
        .await;

    let id = deploying(&deployer, "staging").await;
    let uploads = format!("/api/v1/deployments/{id}/services");
    // A version Cloudflare does not know for that Worker in the environment's account.
    let body = deployer.post_refused(&uploads, json!({ "services": [{ "service": "api", "version_id": "00000000-0000-4000-8000-00000000dead" }] }), (400, "bad_request")).await;
    assert_says(&body, "message", "is not a version of Worker");
    // The web Worker's version is not a version of the api Worker.
    deployer
        .post_refused(
            &uploads,
            json!({ "services": [{ "service": "api", "version_id": before[1] }] }),
            (400, "bad_request"),
        )
        .await;
    // A service nobody registered for staging.
    let body = deployer
        .post_refused(
            &uploads,
            json!({ "services": [{ "service": "billing", "version_id": before[0] }] }),
            (409, "conflict"),
        )
        .await;
    assert_says(
        &body,
        "hint",
        "PUT /api/v1/projects/shop/environments/staging/services/billing",
    );

    // The old contract: the caller names the account, the Workers and the versions. Refused,
    // and nothing moves.
    deployer
        .post_ok(
            &format!("/api/v1/deployments/{id}/transitions"),
            json!({ "to": "verifying" }),
        )
        .await;
    deployer.post_refused(&format!("/api/v1/deployments/{id}/rollout"), json!({
                "account_id": "acc_shop",
                "strategy": "immediate",
                "step_wait_secs": 0,
                "services": [{ "service": "web", "script": p.script("web"), "previous_version": before[1], "new_version": before[0] }],
            }), (400, "invalid_json")).await;
    // Settings alone: the deployment recorded nothing, so there is nothing to roll out.
    let body = deployer
        .post_refused(
            &format!("/api/v1/deployments/{id}/rollout"),
            json!({ "steps": [50, 100], "step_wait_secs": 0 }),
            (409, "conflict"),
        )
        .await;
    assert_says(&body, "message", "recorded no uploaded versions");
    // Recording is only for a deployment that is deploying.
    deployer
        .post_refused(
            &uploads,
            json!({ "services": [{ "service": "api", "version_id": before[0] }] }),
            (409, "conflict"),
        )
        .await;
    assert_eq!(live_all(&p).await, before, "no traffic moved");
    assert_eq!(splits(&p.script("web")).await.len(), history_before);

    // An environment bound to no account: no uploads, no rollout, and the fix in the hint.
    team.admin
        .create(
            "/api/v1/projects/shop/environments",
            json!({ "name": "dev" }),
        )
        .await;
    let id = deploying(&deployer, "dev").await;
    let body = deployer
        .post_refused(
            &format!("/api/v1/deployments/{id}/services"),
            json!({ "services": [{ "service": "api", "version_id": before[0] }] }),
            (409, "conflict"),
        )
        .await;
    assert_says(&body, "message", "not bound to a Cloudflare account");
    assert_says(
        &body,
        "hint",
        "PATCH /api/v1/projects/shop/environments/dev",
    );
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn an_immediate_deploy_is_verified_after_traffic_moves_and_rolled_back_on_failure() {
    let team = shop_team().await;
    let p = project(
        r#"
[deploy]
strategy = "immediate"
step_wait_secs = 600

[[health_checks]]
name = "api healthz"
service = "api"
url = "{SANDBOX}/__sandbox/workers/{API}/healthz"
expect_body_contains = "ok"
"#,
    );
    let started = Instant::now();
    let (code, first, err) = deploy(&p, &team, &[]);
    assert_eq!(code, 0, "{first}\n{err}");
    assert_eq!(first["deployment"]["status"], "succeeded", "{first}");
    assert!(
        err.contains("health check api healthz passed"),
        "verified: {err}"
    );
    // The 600 s hold of gradual steps does not apply: immediate ends with its checks.
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "took {:?}",
        started.elapsed()
    );
    let v1 = live_all(&p).await;

    // The next release fails its check after it took the traffic: every service goes back.
    edit_clodo_toml(
        &p,
        "expect_body_contains = \"ok\"",
        "expect_body_contains = \"v2-ready\"",
    );
    let (code, second, err) = deploy(&p, &team, &[]);
    assert_eq!(code, 1, "{second}\n{err}");
    assert_eq!(second["deployment"]["status"], "rolled_back", "{second}");
    assert!(
        str_of(&second["rollout"]["reason"]).contains("health check failed: api healthz"),
        "{second}"
    );
    for (i, s) in SERVICES.iter().enumerate() {
        let v2 = new_version(&second, s);
        let history = splits(&p.script(s)).await;
        // Newest first: the restore, and before it the new version alone (every Worker at
        // once, no intermediate step).
        assert_eq!(history[0], vec![(v1[i].clone(), 100.0)], "{s}: {history:?}");
        assert_eq!(history[1], vec![(v2, 100.0)], "{s}: {history:?}");
    }
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_rollout_whose_lock_is_broken_pauses_and_moves_no_more_traffic() {
    let team = shop_team().await;
    let p = project(HELD_AT_FIRST_STEP);
    let (code, first, err) = deploy(&p, &team, &["--strategy", "immediate"]);
    assert_eq!(code, 0, "{first}\n{err}");
    let (id, report) = start_detached(&p, &team);
    wait_for_traffic(&team.admin, &id, 10.0, Duration::from_secs(90)).await;

    // An admin breaks the lock mid-rollout.
    team.admin
        .post_ok(
            "/api/v1/projects/shop/environments/staging/lock/force-unlock",
            json!({ "reason": "stuck, taking over" }),
        )
        .await;
    let paused = wait_for(&team.admin, &id, "the pause after the lock loss", |s| {
        s["phase"] == "paused"
    })
    .await;
    assert_eq!(paused["lock_lost"], true, "{paused}");
    assert!(
        str_of(&paused["reason"]).contains("no longer holds the environment lock"),
        "{paused}"
    );
    assert_eq!(paused["traffic_percent"], 10.0, "{paused}");
    let history: Vec<usize> = {
        let mut h = Vec::new();
        for s in SERVICES {
            let d = splits(&p.script(s)).await;
            assert_eq!(d[0][0], (new_version(&report, s), 10.0), "{s}: {d:?}");
            h.push(d.len());
        }
        h
    };
    let (_, record) = team.admin.get(&format!("/api/v1/deployments/{id}")).await;
    assert!(
        record["events"].to_string().contains("rollout_lock_lost"),
        "{record}"
    );

    // Resume would move traffic without the lock: refused. Abort ends it where it stands.
    let (code, out, err) = clodo(&p.dir, &team.admin.token, &["resume", &id]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("losing the environment lock"), "{err}");
    let (code, out, err) = clodo(&p.dir, &team.admin.token, &["abort", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let end = wait_for(&team.admin, &id, "the end", |s| s["recorded"] == true).await;
    assert_eq!(end["phase"], "failed", "{end}");
    assert!(
        str_of(&end["reason"]).contains("traffic left as it was"),
        "{end}"
    );
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            splits(&p.script(s)).await.len(),
            history[i],
            "{s}: no traffic moved"
        );
    }
    let record = team.admin.assert_status(&id, "failed").await;
    // The command went to the audit log with its event.
    assert_eq!(team.audit("rollout.abort").await.len(), 1);
    assert!(
        record["events"].to_string().contains("rollout_command"),
        "{record}"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn hosted_assessments_use_only_the_account_of_the_environment() {
    let team = Team::new().await;
    team.admin
        .create(
            "/api/v1/credentials",
            json!({ "account_id": "acc_test", "name": "sandbox", "api_token": "user-edit-token" }),
        )
        .await;
    let config = "name = \"x\"\nmain = \"src/index.js\"\ncompatibility_date = \"2026-06-01\"\n";
    // Naming an account is no longer possible.
    team.admin
        .post_refused(
            "/api/v1/assessments",
            json!({ "config": config, "account_id": "acc_test" }),
            (400, "invalid_json"),
        )
        .await;
    // An environment bound to no account cannot be assessed against one.
    let assess = json!({ "config": config, "project": "shop", "environment": "production" });
    let body = team
        .admin
        .post_refused("/api/v1/assessments", assess.clone(), (409, "conflict"))
        .await;
    assert_says(&body, "hint", "PATCH");
    // Binding is an admin's, validated and audited.
    let env = "/api/v1/projects/shop/environments/production";
    let (deployer, _) = team.person("dan", "deployer").await;
    deployer
        .refused(
            "PATCH",
            env,
            Some(json!({ "cloudflare_account_id": "acc_test" })),
            (403, "forbidden"),
        )
        .await;
    team.admin
        .refused(
            "PATCH",
            env,
            Some(json!({ "cloudflare_account_id": "../acc_test" })),
            (400, "bad_request"),
        )
        .await;
    team.admin
        .expect(
            200,
            "PATCH",
            env,
            Some(json!({ "cloudflare_account_id": "acc_test" })),
        )
        .await;
    assert_eq!(team.audit("environment.update").await.len(), 1);
    // The field is required: an empty PATCH is refused, never read as "unbind".
    team.admin
        .refused("PATCH", env, Some(json!({})), (400, "invalid_json"))
        .await;
    let (_, bound) = team.admin.get(env).await;
    assert_eq!(bound["cloudflare_account_id"], "acc_test", "{bound}");
    let created = deployer.create("/api/v1/assessments", assess).await;
    assert_eq!(created["account_id"], "acc_test", "{created}");
    assert!(
        created["report"]["api_calls"].as_u64().unwrap() > 0,
        "{created}"
    );
}
