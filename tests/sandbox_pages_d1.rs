//! Real wrangler (the repository's pinned version) against an in-process sandbox for D1 SQL,
//! D1 Time Travel and Pages direct upload: `d1 migrations apply --remote`, `d1 execute --remote`,
//! `d1 time-travel info/restore`, `pages deploy`, then the effects read back through the API and
//! the sandbox's Pages serving endpoint.

mod sandbox_support;

use std::path::Path;

use clodo::sandbox;
use sandbox_support::*;
use serde_json::{json, Value};

const DB_ID: &str = "11111111-1111-4111-8111-111111111111";

/// A wrangler project binding the seeded `app-db` with a `migrations/` dir holding `migrations`.
fn d1_project(migrations: &[(&str, &str)]) -> TempDir {
    let dir = temp_dir("d1-project");
    std::fs::write(
        dir.join("wrangler.toml"),
        format!(
            "name = \"shop\"\ncompatibility_date = \"2025-01-01\"\n\n[[d1_databases]]\nbinding = \"DB\"\ndatabase_name = \"app-db\"\ndatabase_id = \"{DB_ID}\"\n"
        ),
    )
    .expect("wrangler.toml");
    std::fs::create_dir_all(dir.join("migrations")).expect("migrations dir");
    for (name, sql) in migrations {
        add_migration(&dir, name, sql);
    }
    dir
}

fn add_migration(project: &Path, name: &str, sql: &str) {
    std::fs::write(project.join("migrations").join(name), sql).expect("migration file");
}

/// `SELECT` through the API; the rows of its (single) statement.
async fn rows(api: &Api, sql: &str) -> Vec<Value> {
    let body = api
        .post_ok(
            &format!("/accounts/{ACCOUNT}/d1/database/{DB_ID}/query"),
            json!({ "sql": sql }),
        )
        .await;
    body["result"][0]["results"]
        .as_array()
        .expect("rows")
        .clone()
}

#[tokio::test]
async fn migrations_apply_in_order_and_a_failing_one_stops_the_run_without_partial_writes() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = d1_project(&[
        (
            "0001_products.sql",
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO products (name) VALUES ('kettle');\n",
        ),
        (
            "0002_price.sql",
            "ALTER TABLE products ADD COLUMN price INTEGER NOT NULL DEFAULT 0;\nUPDATE products SET price = 25;\n",
        ),
    ]);
    let apply = ["d1", "migrations", "apply", "DB", "--remote"];
    let out = wrangler_ok(&sandbox, &project, &apply, None).await;
    assert!(
        out.contains("0001_products.sql") && out.contains("0002_price.sql"),
        "{out}"
    );
    let applied = rows(&api, "SELECT name FROM d1_migrations ORDER BY id").await;
    assert_eq!(
        applied,
        vec![
            json!({ "name": "0001_products.sql" }),
            json!({ "name": "0002_price.sql" })
        ]
    );
    assert_eq!(
        rows(&api, "SELECT name, price FROM products").await,
        vec![json!({ "name": "kettle", "price": 25 })]
    );

    // A third migration writes, then fails: the run fails, and its first statements are undone.
    add_migration(
        &project,
        "0003_broken.sql",
        "INSERT INTO products (name, price) VALUES ('teapot', 30);\nUPDATE products SET price = 0;\nINSERT INTO no_such_table VALUES (1);\n",
    );
    add_migration(&project, "0004_after.sql", "CREATE TABLE never (x);\n");
    let failed = wrangler(&sandbox, &project, &apply, None).await;
    let text = combined(&failed);
    assert!(
        !failed.status.success(),
        "a failing migration must fail the run:\n{text}"
    );
    assert!(text.contains("no such table: no_such_table"), "{text}");
    assert!(text.contains("7500"), "{text}");
    assert_eq!(
        rows(&api, "SELECT name, price FROM products").await,
        vec![json!({ "name": "kettle", "price": 25 })],
        "the failed migration left no partial writes"
    );
    assert_eq!(
        rows(&api, "SELECT name FROM d1_migrations ORDER BY id")
            .await
            .len(),
        2,
        "neither the failed migration nor the one after it is recorded"
    );
    assert!(
        rows(&api, "SELECT name FROM sqlite_master WHERE name = 'never'")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn d1_execute_writes_and_reads_rows_back() {
    let sandbox = start_seeded().await;
    let project = d1_project(&[]);
    wrangler_ok(
        &sandbox,
        &project,
        &[
            "d1", "execute", "DB", "--remote", "--command",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('first'), ('second')",
        ],
        None,
    )
    .await;
    let out = wrangler_ok(
        &sandbox,
        &project,
        &[
            "d1",
            "execute",
            "DB",
            "--remote",
            "--json",
            "--command",
            "SELECT body FROM notes ORDER BY id",
        ],
        None,
    )
    .await;
    let start = out.find('[').expect("JSON output");
    let end = out.rfind(']').expect("JSON output");
    let printed: Value = serde_json::from_str(&out[start..=end]).expect("wrangler --json output");
    assert_eq!(
        printed[0]["results"],
        json!([{ "body": "first" }, { "body": "second" }]),
        "{out}"
    );
    assert_eq!(printed[0]["success"], true);

    // A read-only token can read, but not write.
    let read_only = Api::new(&sandbox, Some("read-only-token"));
    let path = format!("/accounts/{ACCOUNT}/d1/database/{DB_ID}/query");
    let (status, _) = read_only
        .post(&path, json!({ "sql": "SELECT count(*) FROM notes" }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        read_only
            .refused("POST", &path, Some(json!({ "sql": "DELETE FROM notes" })))
            .await,
        (403, 10000)
    );
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    assert_eq!(
        rows(&api, "SELECT count(*) AS n FROM notes").await,
        vec![json!({ "n": 2 })]
    );
    // A SQL error answers D1's envelope: HTTP 400, code 7500, SQLite's text.
    let (status, body) = api.post(&path, json!({ "sql": "SELEC 1" })).await;
    assert_eq!((status, error_code(&body)), (400, 7500));
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("SQLITE_ERROR"),
        "{body}"
    );
}

/// The bookmark `wrangler d1 time-travel info` prints ("The current bookmark is '<b>'").
fn bookmark_in(output: &str) -> String {
    output
        .split_once("current bookmark is '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(bookmark, _)| bookmark.to_string())
        .unwrap_or_else(|| panic!("no bookmark in wrangler output:\n{output}"))
}

#[tokio::test]
async fn time_travel_restore_to_a_bookmark_brings_the_data_back() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = d1_project(&[]);
    let execute = |sql: &'static str| ["d1", "execute", "DB", "--remote", "--command", sql];
    wrangler_ok(
        &sandbox,
        &project,
        &execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO orders (total) VALUES (10), (20)"),
        None,
    )
    .await;
    let info = wrangler_ok(
        &sandbox,
        &project,
        &["d1", "time-travel", "info", "DB"],
        None,
    )
    .await;
    let bookmark = bookmark_in(&info);
    let current = api
        .account(&format!("/d1/database/{DB_ID}/time_travel/bookmark"))
        .await;
    assert_eq!(current["bookmark"], bookmark.as_str());

    wrangler_ok(&sandbox, &project, &execute("DELETE FROM orders"), None).await;
    assert!(rows(&api, "SELECT * FROM orders").await.is_empty());

    let out = wrangler_ok(
        &sandbox,
        &project,
        &[
            "d1",
            "time-travel",
            "restore",
            "DB",
            "--bookmark",
            &bookmark,
        ],
        None,
    )
    .await;
    assert!(out.contains("restored back to bookmark"), "{out}");
    assert_eq!(
        rows(&api, "SELECT total FROM orders ORDER BY id").await,
        vec![json!({ "total": 10 }), json!({ "total": 20 })]
    );
    // The restore is undoable: the previous bookmark is the state with the rows deleted.
    let after = api
        .account(&format!("/d1/database/{DB_ID}/time_travel/bookmark"))
        .await;
    assert_ne!(after["bookmark"], bookmark.as_str());
    let (status, body) = api
        .post(
            &format!("/accounts/{ACCOUNT}/d1/database/{DB_ID}/time_travel/restore?bookmark=00000999-00000000-00000000-00000000000000000000000000000000"),
            json!({}),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, 7500));
}

/// A directory of static files for `wrangler pages deploy`.
fn site(files: &[(&str, &str)]) -> TempDir {
    let dir = temp_dir("pages-site");
    for (path, body) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("site dir");
        std::fs::write(file, body).expect("site file");
    }
    dir
}

/// GET of a deployment's file through the sandbox's Pages endpoint: (status, deployment id
/// header, body).
async fn fetch_page(sandbox: &sandbox::RunningSandbox, rest: &str) -> (u16, String, String) {
    let url = format!("http://{}/__sandbox/pages/{rest}", sandbox.addr());
    let resp = reqwest::get(url).await.expect("sandbox reachable");
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-sandbox-pages-deployment")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, id, resp.text().await.expect("body"))
}

async fn pages_deploy(sandbox: &sandbox::RunningSandbox, dir: &Path, branch: &str) -> String {
    let cwd = temp_dir("pages-cwd");
    let dir = dir.to_str().expect("utf-8 path");
    wrangler_ok(
        sandbox,
        &cwd,
        &[
            "pages",
            "deploy",
            dir,
            "--project-name",
            "storefront",
            "--branch",
            branch,
            "--commit-hash",
            "abc123",
            "--commit-message",
            "sandbox test",
            "--commit-dirty=true",
        ],
        None,
    )
    .await
}

/// `wrangler pages project create storefront --production-branch main`.
async fn create_storefront(sandbox: &sandbox::RunningSandbox, cwd: &Path) {
    let args = [
        "pages",
        "project",
        "create",
        "storefront",
        "--production-branch",
        "main",
    ];
    wrangler_ok(sandbox, cwd, &args, None).await;
}

async fn pages_deployments(api: &Api) -> Vec<Value> {
    let list = api.account("/pages/projects/storefront/deployments").await;
    list.as_array().expect("deployments").clone()
}

#[tokio::test]
async fn pages_deploy_uploads_serves_and_rolls_back() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let cwd = temp_dir("pages-cwd");
    create_storefront(&sandbox, &cwd).await;
    let project = api.account("/pages/projects/storefront").await;
    assert_eq!(project["production_branch"], "main");
    assert_eq!(project["subdomain"], "storefront.pages.dev");
    assert!(project["deployment_configs"]["production"].is_object());

    let v1 = site(&[
        ("index.html", "<h1>shop v1</h1>"),
        ("css/site.css", "body { color: red }"),
    ]);
    let out = pages_deploy(&sandbox, &v1, "main").await;
    assert!(out.contains("Deployment complete"), "{out}");
    let deps = pages_deployments(&api).await;
    assert_eq!(deps.len(), 1);
    let first = deps[0]["id"].as_str().unwrap().to_string();
    assert_eq!(deps[0]["environment"], "production");
    assert_eq!(deps[0]["latest_stage"]["status"], "success");
    assert_eq!(
        deps[0]["deployment_trigger"]["metadata"]["commit_hash"],
        "abc123"
    );
    let url = deps[0]["url"].as_str().unwrap();
    assert!(
        out.contains(url),
        "wrangler prints the deployment URL {url}:\n{out}"
    );

    let (status, id, body) = fetch_page(&sandbox, "storefront/production/").await;
    assert_eq!(
        (status, id.as_str(), body.as_str()),
        (200, first.as_str(), "<h1>shop v1</h1>")
    );
    let (status, _, css) = fetch_page(&sandbox, &format!("storefront/{first}/css/site.css")).await;
    assert_eq!((status, css.as_str()), (200, "body { color: red }"));
    // The same answer by Host, as `<short id>.storefront.pages.dev`.
    let short = &first[..8];
    let resp = reqwest::Client::new()
        .get(format!("http://{}/index.html", sandbox.addr()))
        .header("host", format!("{short}.storefront.pages.dev"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), "<h1>shop v1</h1>");

    // Second deploy: unchanged assets are not uploaded again; production serves v2.
    admin(&sandbox, "DELETE", "/requests", None).await;
    let v2 = site(&[
        ("index.html", "<h1>shop v2</h1>"),
        ("css/site.css", "body { color: red }"),
    ]);
    pages_deploy(&sandbox, &v2, "main").await;
    let log = requests(&sandbox).await;
    assert!(
        log.iter().any(|(m, p, s)| m == "POST"
            && p.ends_with("/pages/assets/check-missing")
            && *s == 200),
        "{log:?}"
    );
    let (_, second, body) = fetch_page(&sandbox, "storefront/production/").await;
    assert_eq!(body, "<h1>shop v2</h1>");
    assert_ne!(second, first);

    // A preview branch gets its alias and leaves production alone.
    let preview = site(&[
        ("index.html", "<h1>preview</h1>"),
        (
            "_worker.js",
            "export default { fetch(request, env) { return env.ASSETS.fetch(request); } };",
        ),
    ]);
    let out = pages_deploy(&sandbox, &preview, "feature/new-look").await;
    assert!(
        out.contains("https://feature-new-look.storefront.pages.dev"),
        "{out}"
    );
    let (_, _, body) = fetch_page(&sandbox, "storefront/feature-new-look/").await;
    assert_eq!(body, "<h1>preview</h1>");
    let (_, _, body) = fetch_page(&sandbox, "storefront/production/").await;
    assert_eq!(body, "<h1>shop v2</h1>");
    let newest = pages_deployments(&api).await[0].clone();
    assert_eq!(newest["environment"], "preview");
    assert_eq!(
        newest["uses_functions"], true,
        "the _worker.js bundle was received"
    );
    let preview_id = newest["id"].as_str().unwrap().to_string();
    assert_eq!(
        api.refused(
            "POST",
            &format!(
                "/accounts/{ACCOUNT}/pages/projects/storefront/deployments/{preview_id}/rollback"
            ),
            None
        )
        .await
        .0,
        400,
        "a preview deployment is no rollback target"
    );

    // Rollback to the first production deployment: production serves v1 again.
    let rolled = api
        .post_ok(
            &format!("/accounts/{ACCOUNT}/pages/projects/storefront/deployments/{first}/rollback"),
            json!({}),
        )
        .await;
    assert_eq!(rolled["result"]["environment"], "production");
    let (status, _, body) = fetch_page(&sandbox, "storefront/production/").await;
    assert_eq!((status, body.as_str()), (200, "<h1>shop v1</h1>"));
    let project = api.account("/pages/projects/storefront").await;
    assert_eq!(
        project["canonical_deployment"]["id"],
        rolled["result"]["id"]
    );
}

#[tokio::test]
async fn pages_refusals_and_injected_failures() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    // Unknown project: 8000007, which wrangler reads as "not found".
    assert_eq!(
        api.refused(
            "GET",
            &format!("/accounts/{ACCOUNT}/pages/projects/nope"),
            None
        )
        .await,
        (404, 8000007)
    );
    // Asset calls need an upload token the sandbox issued.
    let unauthorised = Api::at(&sandbox.base_url(), Some(EDIT_TOKEN));
    assert_eq!(
        unauthorised
            .refused(
                "POST",
                "/pages/assets/check-missing",
                Some(json!({ "hashes": [] }))
            )
            .await,
        (401, 8000013)
    );
    let jwt = api.account("/pages/projects/docs-site/upload-token").await["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    let uploader = Api::at(&sandbox.base_url(), Some(&jwt));
    let missing = uploader
        .post_ok(
            "/pages/assets/check-missing",
            json!({ "hashes": ["2082190357cfd3617ccfe04f340c6247"] }),
        )
        .await;
    assert_eq!(
        missing["result"],
        json!(["2082190357cfd3617ccfe04f340c6247"])
    );
    assert_eq!(
        uploader
            .refused(
                "POST",
                "/pages/assets/check-missing",
                Some(json!({ "hashes": ["../x"] }))
            )
            .await
            .0,
        400
    );

    // PATCH merges deployment configs: one binding added, none lost.
    let patched = api
        .send(
            "PATCH",
            &format!("/accounts/{ACCOUNT}/pages/projects/docs-site"),
            Some(json!({ "deployment_configs": { "production": {
                "d1_databases": { "DB": { "id": DB_ID } },
                "compatibility_date": "2025-01-01",
            } } })),
            &[],
        )
        .await;
    assert_eq!(patched.0, 200, "{}", patched.1);
    let project = api.account("/pages/projects/docs-site").await;
    assert_eq!(
        project["deployment_configs"]["production"]["d1_databases"]["DB"]["id"],
        DB_ID
    );
    assert!(project["deployment_configs"]["preview"].is_object());
    assert_eq!(
        api.refused(
            "PATCH",
            &format!("/accounts/{ACCOUNT}/pages/projects/docs-site"),
            Some(json!({ "build_config": {} }))
        )
        .await
        .0,
        400
    );

    // A fault rule makes the deployment creation fail, and wrangler with it.
    let cwd = temp_dir("pages-cwd");
    create_storefront(&sandbox, &cwd).await;
    admin(
        &sandbox,
        "POST",
        "/faults",
        Some(json!({ "kind": "server_error", "method": "POST", "path": "/client/v4/accounts/*/pages/projects/storefront/deployments", "times": 1 })),
    )
    .await;
    let dir = site(&[("index.html", "x")]);
    let failed = wrangler(
        &sandbox,
        &cwd,
        &[
            "pages",
            "deploy",
            dir.to_str().unwrap(),
            "--project-name",
            "storefront",
            "--branch",
            "main",
        ],
        None,
    )
    .await;
    assert!(!failed.status.success(), "{}", combined(&failed));
    assert!(pages_deployments(&api).await.is_empty());
    let (status, _, _) = fetch_page(&sandbox, "storefront/production/").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn d1_data_bookmarks_and_pages_assets_survive_a_restart_with_a_state_dir() {
    let state = temp_dir("sbx-state");
    let options = || sandbox::SandboxOptions {
        state_dir: Some(state.to_path_buf()),
        ..sandbox::SandboxOptions::with_seed_json(seed())
    };
    let hash = "2082190357cfd3617ccfe04f340c6247";
    let first_bookmark = {
        let sandbox = sandbox::start(options()).await.expect("sandbox starts");
        let api = Api::new(&sandbox, Some(EDIT_TOKEN));
        let empty = api
            .account(&format!("/d1/database/{DB_ID}/time_travel/bookmark"))
            .await["bookmark"]
            .clone();
        api.post_ok(
            &format!("/accounts/{ACCOUNT}/d1/database/{DB_ID}/query"),
            json!({ "sql": "CREATE TABLE kept (x); INSERT INTO kept VALUES (?)", "params": ["still here"] }),
        )
        .await;
        let jwt = api.account("/pages/projects/docs-site/upload-token").await["jwt"]
            .as_str()
            .unwrap()
            .to_string();
        Api::at(&sandbox.base_url(), Some(&jwt))
            .post_ok(
                "/pages/assets/upload",
                json!([{ "key": hash, "value": "Zm9vYmFy", "metadata": { "contentType": "image/png" }, "base64": true }]),
            )
            .await;
        sandbox.shutdown().await;
        empty
    };
    let sandbox = sandbox::start(options()).await.expect("sandbox restarts");
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    assert_eq!(
        rows(&api, "SELECT x FROM kept").await,
        vec![json!({ "x": "still here" })]
    );
    // Upload tokens do not survive a restart (wrangler fetches a new one on 8000013) ...
    let jwt = api.account("/pages/projects/docs-site/upload-token").await["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    // ... but the assets do.
    let missing = Api::at(&sandbox.base_url(), Some(&jwt))
        .post_ok("/pages/assets/check-missing", json!({ "hashes": [hash] }))
        .await;
    assert_eq!(missing["result"], json!([]));
    // The bookmark taken before the restart still restores.
    api.post_ok(
        &format!(
            "/accounts/{ACCOUNT}/d1/database/{DB_ID}/time_travel/restore?bookmark={}",
            first_bookmark.as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert!(
        rows(&api, "SELECT name FROM sqlite_master WHERE name = 'kept'")
            .await
            .is_empty()
    );
}
