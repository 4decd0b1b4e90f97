//! Real wrangler (the repository's pinned version) against an in-process sandbox for D1 SQL,
//! D1 Time Travel and Pages direct upload: `d1 migrations apply --remote`, `d1 execute --remote`,
//! `d1 time-travel info/restore`, `pages deploy`, then the effects read back through the API and
//! the sandbox's Pages serving endpoint.

mod sandbox_support;

use std::path::Path;

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

fn combined(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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
