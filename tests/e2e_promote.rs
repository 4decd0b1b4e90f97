//! End-to-end test of environment promotion (`clodo promote --from staging --to production`)
//! with the real `clodo` CLI, real wrangler, the local Worker (control plane with D1 and
//! Durable Objects) and the sandbox Cloudflare API: staging's verified code reaches production
//! byte for byte (read back from the sandbox), through production's own approvals and lock,
//! and the production deployment records where it came from.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;

use std::time::{Duration, Instant};

use clodo::deploy::content::{ModuleDigest, VersionContent};
use e2e_support::shop::{
    clodo_command, deploy, live, sandbox_call, sandbox_url, shop_setup, splits, Project, ACCOUNT,
    SERVICES, TOKEN,
};
use e2e_support::{assert_error, base_url, items, outcome, str_of, Api, Team};
use serde_json::{json, Value};

/// A Worker version's modules and their SHA-256 as the sandbox stores them.
async fn modules_of(script: &str, version: &str) -> (VersionContent, Vec<ModuleDigest>) {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/accounts/{ACCOUNT}/workers/scripts/{script}/content/v2?version={version}",
            sandbox_url()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{script} {version}");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, entry) = (header("content-type").unwrap(), header("cf-entrypoint"));
    let body = resp.bytes().await.unwrap();
    let content = VersionContent::parse(&content_type, entry.as_deref(), &body).unwrap();
    let digests = content.digests();
    (content, digests)
}

/// A version's bindings in the sandbox.
async fn bindings_of(script: &str, version: &str) -> Vec<Value> {
    let path = format!("/accounts/{ACCOUNT}/workers/scripts/{script}/versions/{version}");
    let (_, body) = sandbox_call("GET", &path, None).await;
    items(&body["result"]["resources"]["bindings"]).clone()
}

fn production_script(p: &Project, service: &str) -> String {
    format!("{}-{service}-production", p.prefix)
}

/// `clodo promote --from staging --to production --yes --json` as `token`, started.
fn start_promote(p: &Project, token: &str) -> std::process::Child {
    clodo_command(&base_url(), &p.dir, token)
        .args([
            "promote",
            "--from",
            "staging",
            "--to",
            "production",
            "--yes",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("clodo runs")
}

/// The newest production deployment once one exists with `status`.
async fn wait_for_production(team: &Team, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let page = team
            .admin
            .read("/api/v1/deployments?project=shop&environment=production&limit=1")
            .await;
        if let Some(d) = items(&page["items"]).first() {
            if d["status"] == status {
                return d.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no production deployment {status}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn promotion_ships_stagings_exact_modules_through_productions_approvals_and_lock() {
    let (team, project) = shop_setup().await;
    team.bind(ACCOUNT).await;
    let promotions = "/api/v1/projects/shop/environments/production/promotions";

    // Nothing verified in staging yet: refused, by the API and the CLI, and nothing recorded.
    let (status, body) = team
        .admin
        .post(promotions, json!({ "from": "staging" }))
        .await;
    assert_error(status, &body, 409, "conflict");
    assert!(
        str_of(&body["error"]["message"]).contains("staging has no succeeded deployment"),
        "{body}"
    );
    let (code, out, err) = outcome(
        start_promote(&project, &team.admin.token)
            .wait_with_output()
            .unwrap(),
    );
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("no succeeded deployment"), "{err}");
    // The same environment, an unknown one, an unknown field: refused.
    let (status, body) = team
        .admin
        .post(promotions, json!({ "from": "production" }))
        .await;
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = team.admin.post(promotions, json!({ "from": "qa" })).await;
    assert_error(status, &body, 404, "not_found");
    let (status, _) = team
        .admin
        .post(promotions, json!({ "from": "staging", "version": "x" }))
        .await;
    assert_eq!(status, 400);
    let none = team
        .admin
        .read("/api/v1/deployments?project=shop&environment=production")
        .await;
    assert!(items(&none["items"]).is_empty(), "{none}");

    // Production needs one approval by someone other than the author.
    team.set_policy(json!({ "required_approvals": 1 })).await;
    let (approver, _) = team.person("approver", "approver").await;

    // Staging: a normal deploy that succeeds.
    let (code, staged, err) = deploy(&project, &team, &["--strategy", "immediate"]);
    assert_eq!(code, 0, "{staged}\n{err}");
    let staging_id = str_of(&staged["deployment"]["id"]).to_owned();
    assert_eq!(staged["deployment"]["status"], "succeeded", "{staged}");

    let child = start_promote(&project, &team.admin.token);
    let waiting = wait_for_production(&team, "awaiting_approval").await;
    let id = str_of(&waiting["id"]).to_owned();
    assert_eq!(waiting["promoted_from"], staging_id.as_str(), "{waiting}");
    // Held by the approval: nothing reached production's Workers yet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for s in SERVICES {
        assert!(
            splits(&production_script(&project, s)).await.is_empty(),
            "{s} must not be deployed before the approval"
        );
    }
    // A fresh client: the pooled connection sat idle through the deploy and a write is
    // never retried.
    let approver = Api::at(&base_url(), &approver.token);
    approver
        .create(&format!("/api/v1/deployments/{id}/approvals"), json!({}))
        .await;
    let (code, out, err) = outcome(child.wait_with_output().unwrap());
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["deployment"]["id"], id.as_str(), "{report}");
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");

    // The record: promoted from staging's deployment, approved, through the lock (deploying).
    let record = team.admin.read(&format!("/api/v1/deployments/{id}")).await;
    assert_eq!(record["promoted_from"], staging_id.as_str(), "{record}");
    assert_eq!(items(&record["approvals"]).len(), 1, "{record}");
    let events = items(&record["events"]);
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "promoted"
                && e["detail"]["from_deployment"] == staging_id.as_str()),
        "{record}"
    );
    assert!(
        events.iter().any(|e| e["to_status"] == "deploying"),
        "{record}"
    );

    // Byte-identical modules: each production version read back from the sandbox equals the
    // staging version it was promoted from, and the recorded hashes are those.
    let staging_uploads = team
        .admin
        .read(&format!("/api/v1/deployments/{staging_id}/services"))
        .await;
    let production_uploads = team
        .admin
        .read(&format!("/api/v1/deployments/{id}/services"))
        .await;
    assert_eq!(items(&production_uploads["items"]).len(), SERVICES.len());
    for s in SERVICES {
        let from = items(&staging_uploads["items"])
            .iter()
            .find(|u| u["service"] == s)
            .unwrap();
        let to = items(&production_uploads["items"])
            .iter()
            .find(|u| u["service"] == s)
            .unwrap();
        assert_eq!(to["script"], production_script(&project, s).as_str());
        assert_ne!(to["version_id"], from["version_id"]);
        let (staged_content, staged) =
            modules_of(str_of(&from["script"]), str_of(&from["version_id"])).await;
        let (promoted_content, promoted) =
            modules_of(str_of(&to["script"]), str_of(&to["version_id"])).await;
        assert!(!staged.is_empty());
        assert_eq!(staged, promoted, "{s}: modules differ");
        assert_eq!(staged_content.main_module, promoted_content.main_module);
        for (a, b) in staged_content.modules.iter().zip(&promoted_content.modules) {
            assert_eq!(a.bytes, b.bytes, "{s}: {}", a.name);
        }
        let recorded: Vec<ModuleDigest> =
            serde_json::from_value(to["module_hashes"].clone()).unwrap();
        assert_eq!(recorded, promoted, "{s}: recorded hashes");
        assert!(
            from["module_hashes"].is_null(),
            "a plain deploy records none"
        );
    }
    // Same code, production's configuration: the api's vars are production's.
    let api = items(&production_uploads["items"])
        .iter()
        .find(|u| u["service"] == "api")
        .unwrap();
    let bindings = bindings_of(str_of(&api["script"]), str_of(&api["version_id"])).await;
    assert!(
        bindings
            .iter()
            .any(|b| b["name"] == "ENVIRONMENT" && b["text"] == "production"),
        "{bindings:?}"
    );

    // History shows the link.
    let history = outcome(
        clodo_command(&base_url(), &project.dir, &team.admin.token)
            .args(["history", "--project", "shop", "--env", "production"])
            .output()
            .unwrap(),
    );
    assert_eq!(history.0, 0, "{}", history.2);
    assert!(
        history.1.contains(&format!("[promoted from {staging_id}]")),
        "{}",
        history.1
    );

    // A production build step that changes the code (here: appends a line to web's module
    // before wrangler uploads it) is caught: the hashes differ, the deployment fails before
    // its rollout starts, and production keeps serving what it served.
    let admin = Api::at(&base_url(), &team.admin.token);
    admin
        .expect(
            200,
            "PUT",
            "/api/v1/projects/shop/environments/production/policy",
            Some(json!({ "required_approvals": 0 })),
        )
        .await;
    let web_config = project.dir.join("web/wrangler.toml");
    let mut text = std::fs::read_to_string(&web_config).unwrap();
    text.push_str(
        "\n[env.production.build]\ncommand = '''for f in \"${TMPDIR:-/tmp}\"/clodo-promote-*/web/*.js; do echo '// rebuilt' >> \"$f\"; done'''\n",
    );
    std::fs::write(&web_config, text).unwrap();
    let mut serving = Vec::new();
    for s in SERVICES {
        serving.push(live(&production_script(&project, s)).await);
    }
    let (code, out, err) = outcome(
        start_promote(&project, &team.admin.token)
            .wait_with_output()
            .unwrap(),
    );
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("differs from what the source deployment verified") && err.contains("web"),
        "{err}"
    );
    let failed = wait_for_production(&team, "failed").await;
    assert_eq!(failed["promoted_from"], staging_id.as_str(), "{failed}");
    let failed_id = str_of(&failed["id"]);
    let (status, _) = team
        .admin
        .get(&format!("/api/v1/deployments/{failed_id}/rollout"))
        .await;
    assert_ne!(status, 200, "no rollout started");
    for (i, s) in SERVICES.iter().enumerate() {
        assert_eq!(
            live(&production_script(&project, s)).await,
            serving[i],
            "{s} still serves the verified version"
        );
    }
}
