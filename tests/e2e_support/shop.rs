//! The example project (examples/shop) for the deploy and rollout e2e tests: renamed copies,
//! the `clodo` and wrangler commands against the local Worker and the sandbox, and what the
//! sandbox says is live.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::{base_url, copy_dir, items, outcome, str_of, succeeded, unique, Team};

/// The example's sandbox account and token (examples/shop/sandbox-seed.json, which
/// tests/e2e.sh loads next to the test fixture).
pub const ACCOUNT: &str = "acc_shop";
pub const TOKEN: &str = "shop-demo-token";
pub const SERVICES: [&str; 3] = ["api", "web", "jobs"];

/// A gradual rollout that stays at its first step (10%) for the whole of a test.
pub const HELD_AT_FIRST_STEP: &str =
    "[deploy]\nstrategy = \"gradual\"\nsteps = [10, 50, 100]\nstep_wait_secs = 600\n";

/// A call on the sandbox's Cloudflare API (`path` after its base) with the example's token:
/// the status and the JSON answer (null when it is not JSON).
pub async fn sandbox_call(method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", sandbox_url()))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the sandbox answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub fn sandbox_url() -> String {
    std::env::var("CLODO_E2E_SANDBOX_URL")
        .expect("CLODO_E2E_SANDBOX_URL is not set: run these tests through tests/e2e.sh")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of examples/shop whose Workers are `<prefix>-api-staging` and so on, with a
/// clodo.toml for the tests: no required secrets (the renamed Workers are new) and health
/// checks given by the caller.
pub struct Project {
    pub dir: PathBuf,
    pub prefix: String,
}

impl Project {
    pub fn new(clodo_toml: &str) -> Self {
        let prefix = unique("t").replace('-', "");
        let prefix = prefix[prefix.len().saturating_sub(12)..].to_owned();
        let prefix = format!("t{prefix}");
        let dir = std::env::temp_dir().join(unique("clodo-shop"));
        copy_dir(&repo().join("examples/shop"), &dir);
        for s in SERVICES {
            let file = dir.join(s).join("wrangler.toml");
            let text = std::fs::read_to_string(&file).unwrap();
            let text = text.replace("\"shop-api", &format!("\"{prefix}-api"));
            let text = text.replace("\"shop-web", &format!("\"{prefix}-web"));
            let text = text.replace("\"shop-jobs", &format!("\"{prefix}-jobs"));
            // Every copy shares the seeded D1 databases: without `migrations_dir`, deploys of
            // parallel tests do not apply the same migrations at once (tests/e2e_pages_d1.rs
            // gives its copy a database of its own and keeps them).
            let text = text.replace("migrations_dir = \"migrations\"\n", "");
            std::fs::write(&file, text).unwrap();
        }
        std::fs::write(dir.join("clodo.toml"), clodo_toml).unwrap();
        Self { dir, prefix }
    }

    /// A project whose clodo.toml adds `extra` (deploy settings, checks) to the three
    /// services; `{API}` in it becomes the api Worker's name, `{SANDBOX}` the sandbox's root.
    pub fn with(extra: &str) -> Self {
        let p = Self::new(SERVICES_TOML);
        let text = format!("{SERVICES_TOML}\n{extra}")
            .replace("{API}", &p.script("api"))
            .replace("{SANDBOX}", &sandbox_root());
        std::fs::write(p.dir.join("clodo.toml"), text).unwrap();
        p
    }

    pub fn script(&self, service: &str) -> String {
        format!("{}-{service}-staging", self.prefix)
    }
}

/// `clodo deploy --env staging --strategy <strategy> --yes`, as arguments.
pub const fn deploy_args(strategy: &str) -> [&str; 6] {
    [
        "deploy",
        "--env",
        "staging",
        "--strategy",
        strategy,
        "--yes",
    ]
}

/// The example's three services without its checks and secrets (also what bench/deploy.sh
/// deploys).
pub const SERVICES_TOML: &str = include_str!("../fixtures/shop/services.toml");

/// Runs the built `clodo` in `dir` as `token` of the control plane, against the sandbox.
pub fn clodo(dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
    clodo_at(&base_url(), dir, token, args)
}

/// `clodo` against the control plane at `api_url`.
pub fn clodo_at(api_url: &str, dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = clodo_command(api_url, dir, token);
    outcome(cmd.args(args).output().expect("clodo runs"))
}

/// The built `clodo` set up to run in `dir` as `token` of the control plane at `api_url`,
/// with the example's sandbox account and the repository's wrangler (arguments not yet given).
pub fn clodo_command(api_url: &str, dir: &Path, token: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clodo"));
    cmd.current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("CLODO_API_URL", api_url)
        .env("CLODO_TOKEN", token)
        .env("CLOUDFLARE_API_BASE_URL", sandbox_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("CLODO_WRANGLER", repo().join("node_modules/.bin/wrangler"))
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1");
    cmd
}

/// `clodo deploy --env staging --yes --json` plus `extra` flags as the team's admin: exit
/// code, the JSON report (Null when stdout is not JSON) and stderr.
pub fn deploy(p: &Project, team: &Team, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["deploy", "--env", "staging", "--yes", "--json"];
    args.extend_from_slice(extra);
    let (code, out, err) = clodo(&p.dir, &team.admin.token, &args);
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

/// `clodo deploy --env staging --strategy immediate --yes --json` plus `extra`, which must
/// succeed: the report and stderr.
pub fn release_now(p: &Project, team: &Team, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["--strategy", "immediate"];
    args.extend_from_slice(extra);
    let (code, report, err) = deploy(p, team, &args);
    assert_eq!(
        code, 0,
        "deploy {args:?}\nreport:\n{report}\nstderr:\n{err}"
    );
    (report, err)
}

/// Starts a rollout with `clodo deploy --detach` (which must be accepted): the deployment id
/// and the deploy report.
pub fn start_detached(p: &Project, team: &Team) -> (String, Value) {
    let (code, report, err) = deploy(p, team, &["--detach"]);
    assert_eq!(code, 0, "{report}\n{err}");
    (str_of(&report["deployment_id"]).to_owned(), report)
}

/// For a test with its own Worker at `api_url`: deploys the project at once (the versions its
/// rollout starts from), then starts its configured rollout with `clodo deploy --detach`; the
/// deployment id and the deploy report.
pub fn start_rollout_at(api_url: &str, p: &Project, team: &Team) -> (String, Value) {
    let token = &team.admin.token;
    let (code, _, err) = clodo_at(api_url, &p.dir, token, &deploy_args("immediate"));
    assert_eq!(code, 0, "{err}");
    let detached = ["deploy", "--env", "staging", "--yes", "--detach", "--json"];
    let (code, out, err) = clodo_at(api_url, &p.dir, token, &detached);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    (str_of(&report["deployment_id"]).to_owned(), report)
}

/// `clodo status <id> --follow --json` against the Worker at `api_url` (which must exit 0):
/// the deployment's final status.
pub fn follow_at(api_url: &str, p: &Project, team: &Team, id: &str) -> Value {
    let args = ["status", id, "--follow", "--json"];
    let (code, out, err) = clodo_at(api_url, &p.dir, &team.admin.token, &args);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(&out).unwrap()
}

/// `clodo <args>` as the team's admin in the project, which must succeed; stdout and stderr.
pub fn clodo_ok(p: &Project, team: &Team, args: &[&str]) -> (String, String) {
    let (code, out, err) = clodo(&p.dir, &team.admin.token, args);
    assert_eq!(code, 0, "clodo {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    (out, err)
}

/// The version a deploy report says `service` shipped.
pub fn new_version(report: &Value, service: &str) -> String {
    let shipped = items(&report["services"])
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("{service} not in {report}"));
    str_of(&shipped["new_version"]).to_owned()
}

/// The version serving 100% of each service's Worker, in `SERVICES` order.
pub async fn live_all(p: &Project) -> Vec<String> {
    live_each(p)
        .await
        .into_iter()
        .map(|v| v.expect("live at 100%"))
        .collect()
}

/// What each service serves at 100% now (`None`: a split), in `SERVICES` order.
pub async fn live_each(p: &Project) -> Vec<Option<String>> {
    let mut v = Vec::new();
    for s in SERVICES {
        v.push(live(&p.script(s)).await);
    }
    v
}

/// Every service of the project released with plain wrangler (`deploy --env staging`).
pub fn release_all(p: &Project) {
    for s in SERVICES {
        wrangler(&p.dir.join(s), &["deploy", "--env", "staging"]);
    }
}

/// Replaces `from` with `to` in the project's clodo.toml.
pub fn edit_clodo_toml(p: &Project, from: &str, to: &str) {
    let file = p.dir.join("clodo.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace(from, to);
    std::fs::write(file, text).unwrap();
}

/// Real wrangler in one service directory of the project, against the sandbox.
pub fn wrangler(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(repo().join("node_modules/.bin/wrangler"))
        .args(args)
        .current_dir(dir)
        .env("CLOUDFLARE_API_BASE_URL", sandbox_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .output()
        .expect("wrangler runs");
    succeeded(&format!("wrangler {args:?}"), &out, "")
}

/// The version serving 100% of a Worker's traffic in the sandbox (`None` during a split, or
/// when the Worker does not exist).
pub async fn live(script: &str) -> Option<String> {
    match splits(script).await.first()?.as_slice() {
        [(version, percent)] if *percent == 100.0 => Some(version.clone()),
        _ => None,
    }
}

/// A team whose project `shop` has a `staging` environment bound to the example's sandbox
/// account, with the admin's stored credential for it (the Rollout Durable Object moves
/// traffic and reads analytics with it, for every strategy).
pub async fn shop_team() -> Team {
    shop_team_at(&base_url()).await
}

/// A `shop_team` and a fresh copy of the example with its three services.
pub async fn shop_setup() -> (Team, Project) {
    (shop_team().await, Project::new(SERVICES_TOML))
}

/// `shop_team` on the Worker at `base`.
pub async fn shop_team_at(base: &str) -> Team {
    let team = Team::new_at(base).await;
    team.add_environment(json!({ "name": "staging", "cloudflare_account_id": ACCOUNT }))
        .await;
    team.add_credential(ACCOUNT, "sandbox", TOKEN).await;
    team
}

/// The team the rollout tests use: `shop_team`.
pub async fn rollout_team() -> Team {
    shop_team().await
}

/// `rollout_team` on the Worker at `base`.
pub async fn rollout_team_at(base: &str) -> Team {
    shop_team_at(base).await
}

/// The sandbox's root URL (`http://127.0.0.1:PORT`), where `/__sandbox/...` lives.
pub fn sandbox_root() -> String {
    sandbox_url().trim_end_matches("/client/v4").to_owned()
}

/// A Worker's deployments in the sandbox, newest first: each one's `[(version, percent)]`
/// (none when the Worker does not exist).
pub async fn splits(script: &str) -> Vec<Vec<(String, f64)>> {
    let (_, body) = sandbox_call(
        "GET",
        &format!("/accounts/{ACCOUNT}/workers/scripts/{script}/deployments"),
        None,
    )
    .await;
    let version = |v: &Value| {
        (
            v["version_id"].as_str().unwrap_or_default().to_owned(),
            v["percentage"].as_f64().unwrap_or_default(),
        )
    };
    body["result"]["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            d["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(version)
                .collect()
        })
        .collect()
}

/// Merges a change into the sandbox's analytics model (`PATCH /__sandbox/analytics`).
pub async fn patch_analytics(patch: Value) {
    let resp = reqwest::Client::new()
        .patch(format!("{}/__sandbox/analytics", sandbox_root()))
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}
