//! End-to-end tests of deploy and rollback correctness (issue 11): a deploy that stops midway
//! ends `failed` with the reason and frees the lock at once, never leaving a Durable Object
//! migration half-restored; live versions are read after the lock is held; a rollback goes to
//! the previous *good* version and skips what has nothing to go back to. Real `clodo`, real
//! wrangler, the local Worker and the sandbox (see tests/e2e_deploy.rs).
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use e2e_support::shop::{
    clodo, clodo_command, deploy_args, live, live_all, release_all, shop_setup, splits, wrangler,
    Project, ACCOUNT, SERVICES,
};
use e2e_support::{base_url, find_by, items, outcome, str_of, strings, Team};
use serde_json::{json, Value};

const LOCK: &str = "/api/v1/projects/shop/environments/staging/lock";

/// The environment's newest deployment record (with its events).
async fn newest_deployment(team: &Team) -> Value {
    let list = team
        .admin
        .read("/api/v1/deployments?project=shop&environment=staging")
        .await;
    let id = str_of(&list["items"][0]["id"]);
    team.admin.read(&format!("/api/v1/deployments/{id}")).await
}

/// The detail of the deployment's event that moved it to `to`, as text.
fn event_detail(record: &Value, to: &str) -> String {
    find_by(&record["events"], "to_status", to)["detail"].to_string()
}

/// Deletes the team's stored Cloudflare credentials, so the control plane cannot check the
/// uploaded versions: a deploy then stops right after uploading.
async fn forget_credentials(team: &Team) {
    let list = team.admin.read("/api/v1/credentials").await;
    for c in items(&list["items"]) {
        let path = format!("/api/v1/credentials/{}", str_of(&c["id"]));
        let (status, body) = team.admin.delete(&path).await;
        assert!(status == 204 || status == 200, "{status} {body}");
    }
}

/// The services a deployment recorded as shipped: on its `verifying` event, or on its
/// `failed` event when it stopped before that.
fn shipped_services(record: &Value) -> Vec<Value> {
    items(&record["events"])
        .iter()
        .filter_map(|e| {
            let detail = match &e["detail"] {
                Value::String(text) => serde_json::from_str(text).ok()?,
                other => other.clone(),
            };
            let services = detail["detail"]["services"]
                .as_array()
                .or_else(|| detail["services"].as_array())?;
            (!services.is_empty()).then(|| services.clone())
        })
        .next()
        .unwrap_or_else(|| panic!("no event names what was shipped: {record}"))
}

async fn lock_state(team: &Team) -> Value {
    let lock = team.admin.read(LOCK).await;
    lock
}

/// Adds a second Durable Object migration to the api (a new class), so the next deploy of it
/// must go through `wrangler deploy` and cannot be undone by serving the older version.
fn add_api_migration(project: &Project) {
    let file = project.dir.join("api/wrangler.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "new_sqlite_classes = [\"Cart\"]\n",
        "new_sqlite_classes = [\"Cart\"]\n\n[[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"Ledger\"]\n",
    );
    std::fs::write(&file, text).unwrap();
    let src = project.dir.join("api/src/index.js");
    let code = std::fs::read_to_string(&src).unwrap();
    std::fs::write(
        &src,
        format!("{code}\nimport {{ DurableObject as LedgerBase }} from \"cloudflare:workers\";\nexport class Ledger extends LedgerBase {{}}\n"),
    )
    .unwrap();
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_wave_two_failure_ends_failed_frees_the_lock_and_never_half_restores_a_migration() {
    let (team, project) = shop_setup().await;
    release_all(&project);
    // jobs gets a second plain release, so it has something earlier to roll back to.
    wrangler(&project.dir.join("jobs"), &["deploy", "--env", "staging"]);
    let before = live_all(&project).await;
    // Wave 1: the api applies a new migration (`wrangler deploy`, live at once) and jobs
    // uploads a version; wave 2: the storefront does not build.
    add_api_migration(&project);
    std::fs::write(
        project.dir.join("web/src/index.js"),
        "export default { fetch( { broken\n",
    )
    .unwrap();

    let (code, out, err) = clodo(&project.dir, &team.admin.token, &deploy_args("gradual"));
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("wave 2: web"), "{err}");

    let record = newest_deployment(&team).await;
    assert_eq!(record["status"], "failed", "{record}");
    let detail = event_detail(&record, "failed");
    assert!(
        detail.contains("upload failed") && detail.contains("web"),
        "{detail}"
    );
    // The api cannot go back across its new migration: flagged and left on its new version,
    // never sent back to code older than its Durable Objects' migration.
    assert!(
        detail.contains("FLAGGED") && detail.contains("v2"),
        "{detail}"
    );
    // The lock is free at once (no lease to wait for), so the next deployment can start.
    let lock = lock_state(&team).await;
    assert_eq!(lock["held"], false, "{lock}");

    let api_now = live(&project.script("api")).await.expect("api whole");
    assert_ne!(api_now, before[0], "the api serves its migrated version");
    let api_history = splits(&project.script("api")).await;
    assert!(
        !api_history[0].iter().any(|(v, _)| *v == before[0]),
        "no restore across the migration: {api_history:?}"
    );
    assert_eq!(live(&project.script("web")).await, Some(before[1].clone()));
    assert_eq!(live(&project.script("jobs")).await, Some(before[2].clone()));

    // A rollback afterwards has nothing it may do: the api cannot go back across its
    // migration, web has nothing earlier, and jobs already serves what served before the
    // failed deployment (its upload never took traffic), so it is not sent one good release
    // further back. Exit 1, nothing recorded, nothing moved, each reason said.
    let (code, out, err) = clodo(
        &project.dir,
        &team.admin.token,
        &["rollback", "--env", "staging", "--yes", "--json"],
    );
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("nothing to roll back"), "{err}");
    let reason = |service: &str| {
        err.lines()
            .find(|l| l.trim_start().starts_with(&format!("skipped {service} (")))
            .unwrap_or_else(|| panic!("{service} not skipped: {err}"))
            .to_owned()
    };
    assert!(reason("api").contains("Durable Object migration"), "{err}");
    assert!(reason("web").contains("no earlier"), "{err}");
    let failed = str_of(&record["id"]);
    assert!(
        reason("jobs").contains(&format!(
            "already serves {}, the version that served before {failed} which failed",
            before[2]
        )),
        "{err}"
    );
    assert_eq!(newest_deployment(&team).await["id"], record["id"]);
    assert_eq!(live(&project.script("api")).await, Some(api_now));
    assert_eq!(live(&project.script("jobs")).await, Some(before[2].clone()));
}

/// `clodo` without `CLOUDFLARE_ACCOUNT_ID` (the configs name the account, as wrangler allows).
fn clodo_without_account_env(dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = clodo_command(&base_url(), dir, token);
    cmd.env_remove("CLOUDFLARE_ACCOUNT_ID");
    outcome(cmd.args(args).output().expect("clodo runs"))
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_deploy_that_stops_after_uploading_ends_failed_and_frees_the_lock_at_once() {
    let (team, project) = shop_setup().await;
    for s in SERVICES {
        let file = project.dir.join(s).join("wrangler.toml");
        let text = std::fs::read_to_string(&file).unwrap().replacen(
            "compatibility_date",
            &format!("account_id = \"{ACCOUNT}\"\ncompatibility_date"),
            1,
        );
        std::fs::write(&file, text).unwrap();
    }
    release_all(&project);
    let before = live_all(&project).await;
    // Uploading works (wrangler takes the account from the configs), but the control plane
    // cannot record the uploads (no stored credential to check them with).
    forget_credentials(&team).await;
    let (code, out, err) =
        clodo_without_account_env(&project.dir, &team.admin.token, &deploy_args("gradual"));
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let record = newest_deployment(&team).await;
    assert_eq!(
        record["status"], "failed",
        "nothing is left in verifying: {record}\nstderr:\n{err}"
    );
    let lock = lock_state(&team).await;
    assert_eq!(lock["held"], false, "{lock}");
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            live(&project.script(s)).await,
            Some(before[i].clone()),
            "{s}"
        );
    }
    // The next deploy is not stuck behind it.
    let body = team.admin.acquire(LOCK, "next-deploy", Some(10000)).await;
    assert_eq!(body["outcome"], "granted", "{body}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn deploy_reads_what_serves_after_it_holds_the_lock() {
    let (team, project) = shop_setup().await;
    release_all(&project);
    let first_api = live(&project.script("api")).await.unwrap();
    // Someone else holds the environment; the deploy queues behind them.
    team.admin.acquire(LOCK, "other-deploy", Some(600000)).await;
    let child = clodo_command(&base_url(), &project.dir, &team.admin.token)
        .args([
            "deploy",
            "--env",
            "staging",
            "--strategy",
            "gradual",
            "--yes",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clodo starts");
    let mut queued = false;
    for _ in 0..120 {
        let lock = lock_state(&team).await;
        if lock["queue"].as_array().is_some_and(|q| !q.is_empty()) {
            queued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(queued, "the deploy never queued for the lock");
    // While it waits, another release of the api finishes.
    wrangler(&project.dir.join("api"), &["deploy", "--env", "staging"]);
    let meanwhile = live(&project.script("api")).await.unwrap();
    assert_ne!(meanwhile, first_api);
    team.admin
        .post_ok(
            &format!("{LOCK}/release"),
            json!({ "holder_id": "other-deploy" }),
        )
        .await;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // The deployment recorded what served when it held the lock as the api's previous version:
    // that is what a canary splits against and what a restore goes back to.
    let record = newest_deployment(&team).await;
    let shipped = &event_detail(&record, "verifying");
    let snapshot: Value = serde_json::from_str(shipped).unwrap();
    let api = snapshot["detail"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "api")
        .unwrap_or_else(|| panic!("{snapshot}\n{err}"))
        .clone();
    assert_eq!(api["previous_version"], meanwhile.as_str(), "{api}\n{err}");
    // Whatever became of the rollout, the api is not back on the release from before the wait.
    assert_ne!(live(&project.script("api")).await, Some(first_api), "{err}");
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn rollback_passes_over_versions_of_failed_deployments() {
    let (team, project) = shop_setup().await;
    release_all(&project);
    wrangler(&project.dir.join("api"), &["deploy", "--env", "staging"]);
    let good_api = live(&project.script("api")).await.unwrap();
    // A deploy whose new versions were uploaded and then failed (the control plane could not
    // record them: the credential is gone): Clodo records it `failed` with what it shipped.
    forget_credentials(&team).await;
    let (code, _, err) = clodo(&project.dir, &team.admin.token, &deploy_args("gradual"));
    assert_ne!(code, 0, "{err}");
    let record = newest_deployment(&team).await;
    assert_eq!(record["status"], "failed", "{record}");
    let bad_api = shipped_services(&record)
        .iter()
        .find(|s| s["service"] == "api")
        .unwrap()["new_version"]
        .as_str()
        .unwrap()
        .to_owned();
    // What the rollback decides from, in one request: the failed deployment with the snapshots
    // of its move to `failed` (it never reached `verifying`).
    let shipped = team
        .admin
        .read("/api/v1/projects/shop/environments/staging/shipped")
        .await;
    let newest = &items(&shipped["items"])[0];
    assert_eq!(newest["id"], record["id"], "{shipped}");
    assert_eq!(newest["status"], "failed", "{shipped}");
    assert_eq!(
        newest["services"],
        json!(shipped_services(&record)),
        "the same snapshots as the record's events: {shipped}"
    );
    // That bad version served all traffic for a while (someone put it live by hand), then a
    // new good release followed.
    wrangler(
        &project.dir.join("api"),
        &[
            "versions",
            "deploy",
            &format!("{bad_api}@100"),
            "-y",
            "--env",
            "staging",
        ],
    );
    wrangler(&project.dir.join("api"), &["deploy", "--env", "staging"]);

    // wrangler's rule would go back to the bad version (the newest earlier one at 100%);
    // Clodo goes back to the good one before it. Web and jobs have one release each: skipped
    // and reported, not a failure of the whole rollback.
    let (code, out, err) = clodo(
        &project.dir,
        &team.admin.token,
        &["rollback", "--env", "staging", "--yes", "--json"],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(live(&project.script("api")).await, Some(good_api.clone()));
    assert!(err.contains(&format!("passing over {bad_api}")), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let skipped: Vec<&str> = strings(&report["skipped"], "service");
    assert_eq!(skipped.len(), 2, "{report}");
    assert!(
        skipped.contains(&"web") && skipped.contains(&"jobs"),
        "{report}"
    );
    let (_, record) = team
        .admin
        .get(&format!(
            "/api/v1/deployments/{}",
            report["deployment_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert!(
        event_detail(&record, "succeeded").contains("skipped"),
        "{record}"
    );
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_deployer_whose_workers_are_not_registered_is_cancelled_before_anything_ships() {
    // `clodo deploy` sends the Workers' registrations beside the deployment's record (one
    // round trip): a registration only an admin may make cancels the record at once.
    let (team, project) = shop_setup().await;
    release_all(&project);
    let before = live_all(&project).await;
    let (deployer, _) = team.admin.team_token("first-deployer", "deployer").await;
    let (code, out, err) = clodo(&project.dir, &deployer.token, &deploy_args("immediate"));
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("only an admin may register"), "{err}");
    let record = newest_deployment(&team).await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(
        event_detail(&record, "cancelled").contains("cancelled before deploying"),
        "{record}"
    );
    assert_eq!(lock_state(&team).await["held"], false);
    assert_eq!(live_all(&project).await, before, "nothing shipped");
}
