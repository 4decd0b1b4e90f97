//! Helpers of the Pages e2e tests: the sandbox's Cloudflare API as the example's token, what a
//! Pages project serves on its production alias, and `clodo` verifying Pages through the
//! sandbox.

use serde_json::{json, Value};

use super::shop::{clodo_command, sandbox_call, sandbox_root, Project, ACCOUNT};
use super::{base_url, outcome, Team};

/// The example's clodo.toml with its three Workers and the storefront (Pages project
/// `storefront` in staging, deployed after the api), then `deploy` (the `[deploy]` section and
/// checks).
pub fn shop_toml(storefront: &str, deploy: &str) -> String {
    format!(
        r#"project = "shop"

[[services]]
name = "api"
config = "api"

[[services]]
name = "web"
config = "web/wrangler.toml"

[[services]]
name = "jobs"
config = "jobs"

[[services]]
name = "storefront"
kind = "pages"
build_output_dir = "storefront/public"
production_branch = "main"
depends_on = ["api"]
project_names = {{ staging = "{storefront}" }}

{deploy}"#
    )
}

/// A call to the sandbox's Cloudflare API as the example's token; the `result`.
pub async fn cf(method: &str, path: &str, body: Option<Value>) -> Value {
    let body = (method == "POST").then(|| body.unwrap_or(json!({})));
    let (_, answer) = sandbox_call(method, &format!("/accounts/{ACCOUNT}{path}"), body).await;
    assert_eq!(answer["success"], true, "{method} {path}: {answer}");
    answer["result"].clone()
}

/// A Pages project of the example's account, production branch `main`.
pub async fn create_pages_project(name: &str) {
    cf(
        "POST",
        "/pages/projects",
        Some(json!({ "name": name, "production_branch": "main" })),
    )
    .await;
}

/// What the project's production alias serves now.
pub async fn storefront_page(project: &str) -> String {
    reqwest::get(format!(
        "{}/__sandbox/pages/{project}/production/",
        sandbox_root()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
}

/// `clodo <args>` in the copy as the team's admin, verifying Pages through the sandbox.
pub fn run(p: &Project, team: &Team, args: &[&str]) -> (i32, String, String) {
    let mut cmd = clodo_command(&base_url(), &p.dir, &team.admin.token);
    cmd.env("CLODO_PAGES_ORIGIN", sandbox_root());
    outcome(cmd.args(args).output().expect("clodo runs"))
}
