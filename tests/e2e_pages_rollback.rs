//! End-to-end, Pages beyond a plain deploy. (1) A gradual deploy of the example shop whose
//! canary fails its health check is
//! rolled back by the control plane (the deployment's Rollout Durable Object), Workers AND
//! Pages storefront, without any `clodo rollback`: the storefront serves the previous
//! production deployment again (the sandbox's Pages deployment list and production alias say
//! so), and the deployment's Pages record, events and rollout log say it was put back; a
//! `clodo rollback` after it then has nothing to do and moves nothing. (2)
//! `clodo deploy --preview` records each site's branch preview on the environment, where the
//! API and `clodo history --previews` list it.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;

use std::path::Path;

use e2e_support::pages::{cf, create_pages_project, run, shop_toml, storefront_page};
use e2e_support::shop::{edit_clodo_toml, live_all, sandbox_root, Project};
use e2e_support::{items, str_of, Team};
use serde_json::Value;

/// The copy's clodo.toml: three Workers and the storefront, rolled out gradually with a
/// health check of the api.
fn clodo_toml(storefront: &str, api_script: &str) -> String {
    let deploy = format!(
        r#"[deploy]
strategy = "gradual"
steps = [50, 100]
step_wait_secs = 1

[[health_checks]]
name = "api healthz"
service = "api"
url = "{sandbox}/__sandbox/workers/{api_script}/healthz"
expect_body_contains = "ok"
max_latency_ms = 5000
"#,
        sandbox = sandbox_root()
    );
    shop_toml(storefront, &deploy)
}

fn write_site(dir: &Path, text: &str) {
    std::fs::write(dir.join("storefront/public/index.html"), text).unwrap();
}

/// A team, a copy of the example with the storefront, and its Pages project (its name).
async fn setup() -> (Team, Project, String) {
    let team = e2e_support::shop::shop_team().await;
    let p = Project::new("project = \"shop\"\n");
    let storefront = format!("{}-storefront", p.prefix);
    std::fs::write(
        p.dir.join("clodo.toml"),
        clodo_toml(&storefront, &p.script("api")),
    )
    .unwrap();
    create_pages_project(&storefront).await;
    (team, p, storefront)
}

const DEPLOY: [&str; 5] = ["deploy", "--env", "staging", "--yes", "--json"];

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_failed_canary_rolls_the_workers_and_the_pages_storefront_back() {
    let (team, p, storefront) = setup().await;

    // Release 1: Workers and storefront v1, healthy all the way.
    write_site(&p.dir, "<h1>storefront v1</h1>");
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let first_workers = live_all(&p).await;
    assert!(storefront_page(&storefront).await.contains("storefront v1"));
    let listed = cf(
        "GET",
        &format!("/pages/projects/{storefront}/deployments"),
        None,
    )
    .await;
    let v1 = str_of(&items(&listed)[0]["id"]).to_owned();

    // Release 2: new Workers and storefront v2; the canary's health check expects an answer
    // the api does not give, so the rollout fails at its first step.
    write_site(&p.dir, "<h1>storefront v2</h1>");
    edit_clodo_toml(
        &p,
        "expect_body_contains = \"ok\"",
        "expect_body_contains = \"v2-ready\"",
    );
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_eq!(
        code, 1,
        "a rolled back deploy fails:\nstdout:\n{out}\nstderr:\n{err}"
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["rollout"]["phase"], "rolled_back", "{report}");
    assert_eq!(report["deployment"]["status"], "rolled_back", "{report}");
    let deployment = str_of(&report["deployment"]["id"]).to_owned();

    // The Workers are back ...
    assert_eq!(live_all(&p).await, first_workers);
    // ... and so is the storefront: production serves v1's files again, through a rollback
    // deployment of v1 (the Pages rollback API), the newest in the project's list.
    assert!(
        storefront_page(&storefront).await.contains("storefront v1"),
        "the storefront is back on v1"
    );
    let listed = cf(
        "GET",
        &format!("/pages/projects/{storefront}/deployments"),
        None,
    )
    .await;
    let newest = &items(&listed)[0];
    assert_eq!(newest["is_rollback"], true, "{newest}");
    assert_eq!(newest["environment"], "production", "{newest}");

    // Recorded on the deployment: its Pages record, an event, and the rollout's log.
    let pages = team
        .admin
        .read(&format!("/api/v1/deployments/{deployment}/pages"))
        .await;
    let site = &items(&pages["items"])[0];
    assert_eq!(site["previous_deployment_id"], v1.as_str(), "{pages}");
    assert!(site["rolled_back_at"].is_i64(), "{pages}");
    assert_eq!(site["rolled_back_as"], newest["id"], "{pages}");
    let shown = team
        .admin
        .read(&format!("/api/v1/deployments/{deployment}"))
        .await;
    let text = shown.to_string();
    assert!(text.contains("pages_rolled_back"), "{shown}");
    let log = report["rollout"]["log"].as_array().unwrap();
    assert!(
        log.iter().any(|l| {
            let m = l["message"].as_str().unwrap_or_default();
            m.contains("storefront (Pages") && m.contains(&format!("back on deployment {v1}"))
        }),
        "{log:?}"
    );
    let (_, audit) = team
        .admin
        .get("/api/v1/audit?action=deployment.pages_rollback")
        .await;
    let entries = items(&audit["items"]);
    assert_eq!(entries.len(), 1, "recorded once: {audit}");
    assert_eq!(entries[0]["actor"], "clodo:rollout", "{audit}");

    // A person runs `clodo rollback` after the failed release: everything already serves what
    // served before it, so nothing moves (no Worker one version further back, no new Pages
    // deployment) and the command says so with exit 0, recording nothing.
    let (code, out, err) = run(
        &p,
        &team,
        &["rollback", "--env", "staging", "--yes", "--json"],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["status"], "nothing_to_do", "{answer}");
    assert_eq!(answer["deployment_id"], Value::Null, "{answer}");
    let skipped = answer["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 3, "the three Workers: {answer}");
    assert!(
        skipped.iter().all(|s| s["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("before {deployment} which rolled back")))),
        "{answer}"
    );
    assert!(err.contains("storefront (Pages): already serves"), "{err}");
    assert_eq!(live_all(&p).await, first_workers);
    let after = cf(
        "GET",
        &format!("/pages/projects/{storefront}/deployments"),
        None,
    )
    .await;
    assert_eq!(
        items(&after)[0]["id"],
        newest["id"],
        "no new Pages deployment"
    );
    assert!(storefront_page(&storefront).await.contains("storefront v1"));
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_preview_deploy_is_recorded_on_the_environment_with_its_url() {
    let (team, p, storefront) = setup().await;
    write_site(&p.dir, "<h1>storefront preview</h1>");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (code, out, err) = run(
        &p,
        &team,
        &[
            "deploy",
            "--env",
            "staging",
            "--preview",
            "--git-ref",
            "feature/gift-wrap",
            "--git-sha",
            sha,
            "--yes",
            "--json",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let json_start = out.find('{').expect("the JSON report");
    let report: Value = serde_json::from_str(&out[json_start..]).unwrap();
    let shown = &items(&report["preview"])[0];
    assert_eq!(shown["service"], "storefront", "{report}");
    assert_eq!(shown["branch"], "feature/gift-wrap");
    assert_eq!(shown["git_sha"], sha);
    let url = str_of(&shown["url"]).to_owned();
    assert!(
        url.contains(&format!("feature-gift-wrap.{storefront}.pages.dev")),
        "{url}"
    );
    assert!(
        out.contains(&format!("storefront: {url}")),
        "the URL is printed: {out}"
    );
    // What the sandbox made: a preview deployment (production untouched) serving the files.
    let pages_id = str_of(&shown["pages_deployment_id"]).to_owned();
    let listed = cf(
        "GET",
        &format!("/pages/projects/{storefront}/deployments"),
        None,
    )
    .await;
    let made = items(&listed)
        .iter()
        .find(|d| d["id"] == pages_id.as_str())
        .expect("the recorded deployment exists");
    assert_eq!(made["environment"], "preview", "{made}");
    let page = reqwest::get(format!(
        "{}/__sandbox/pages/{storefront}/{pages_id}/",
        sandbox_root()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(page.contains("storefront preview"), "{page}");

    // Recorded on the environment, for the dashboard and the PR comment.
    let path = "/api/v1/projects/shop/environments/staging/previews";
    let list = team.admin.read(path).await;
    let recorded = items(&list["items"]);
    assert_eq!(recorded.len(), 1, "{list}");
    assert_eq!(recorded[0]["id"], shown["id"]);
    assert_eq!(recorded[0]["url"], url.as_str());
    // Recording the same Pages deployment again answers the first record, adds nothing.
    let again = team
        .admin
        .create(
            path,
            serde_json::json!({
                "service": "storefront", "project": storefront, "pages_deployment_id": pages_id,
                "url": url, "branch": "feature/gift-wrap", "git_sha": sha,
            }),
        )
        .await;
    assert_eq!(again["id"], shown["id"]);
    let (_, audit) = team.admin.get("/api/v1/audit?action=preview.record").await;
    assert_eq!(items(&audit["items"]).len(), 1, "{audit}");
    // A deployment id the project does not have is refused, nothing recorded.
    team.admin
        .refused(
            "POST",
            path,
            Some(serde_json::json!({
                "service": "storefront", "project": storefront,
                "pages_deployment_id": "0000aaaa-0000-4000-8000-000000000000",
                "url": url, "branch": "feature/gift-wrap",
            })),
            (400, "bad_request"),
        )
        .await;
    let (code, out, err) = run(
        &p,
        &team,
        &[
            "history",
            "--previews",
            "--project",
            "shop",
            "--env",
            "staging",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&url) && out.contains("feature/gift-wrap"),
        "{out}"
    );
}
