//! End-to-end: the example shop with its Pages storefront and D1 migrations, deployed and
//! rolled back by the real `clodo` CLI with real wrangler, the local Worker (control plane) and
//! the sandbox (Pages direct upload, D1 on SQLite, Time Travel). One copy of the example gets a
//! D1 database and a Pages project of its own.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;

use std::path::Path;

use e2e_support::pages::{cf, create_pages_project, run, shop_toml, storefront_page};
use e2e_support::shop::{live_all, Project};
use e2e_support::{items, str_of};
use serde_json::{json, Value};

/// The copy's clodo.toml: the three Workers and the storefront, rolled out at once.
fn clodo_toml(storefront: &str) -> String {
    shop_toml(storefront, "[deploy]\nstrategy = \"immediate\"\n")
}

/// The columns of `orders` in the copy's database.
async fn order_columns(database_id: &str) -> Vec<String> {
    let result = cf(
        "POST",
        &format!("/d1/database/{database_id}/query"),
        Some(json!({"sql": "PRAGMA table_info(orders)"})),
    )
    .await;
    items(&result[0]["results"])
        .iter()
        .map(|r| str_of(&r["name"]).to_owned())
        .collect()
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

const DEPLOY: [&str; 5] = ["deploy", "--env", "staging", "--yes", "--json"];

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn migrations_pages_and_workers_deploy_in_order_and_roll_back_together() {
    let team = e2e_support::shop::shop_team().await;
    let p = Project::new(&clodo_toml("placeholder"));
    let storefront = format!("{}-storefront", p.prefix);
    write(&p.dir, "clodo.toml", &clodo_toml(&storefront));
    // A database and a Pages project of this copy's own.
    let db_name = format!("{}-db", p.prefix);
    let db = cf("POST", "/d1/database", Some(json!({ "name": db_name }))).await;
    let db_id = str_of(&db["uuid"]).to_owned();
    create_pages_project(&storefront).await;
    let api_toml = p.dir.join("api/wrangler.toml");
    let text = std::fs::read_to_string(&api_toml)
        .unwrap()
        .replace(
            "database_name = \"shop-db-staging\"\ndatabase_id = \"5e0d1000-0000-4000-8000-000000000002\"\n",
            &format!("database_name = \"{db_name}\"\ndatabase_id = \"{db_id}\"\nmigrations_dir = \"migrations\"\n"),
        );
    assert!(
        text.contains(&db_id),
        "the staging D1 binding was rewritten"
    );
    std::fs::write(&api_toml, text).unwrap();
    let migrations = p.dir.join("api/migrations");
    let add_column = std::fs::read_to_string(migrations.join("0002_add_column.sql")).unwrap();
    std::fs::remove_file(migrations.join("0002_add_column.sql")).unwrap();
    let site = p.dir.join("storefront/public");
    write(&site, "index.html", "<h1>storefront v1</h1>");

    // Release 1: the first migration, the Workers and the site.
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let first_workers = live_all(&p).await;
    assert!(storefront_page(&storefront).await.contains("storefront v1"));
    assert_eq!(order_columns(&db_id).await.len(), 5);

    // Release 2: an added column, new Workers and a new site, in one deploy.
    write(&migrations, "0002_add_column.sql", &add_column);
    write(&site, "index.html", "<h1>storefront v2</h1>");
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // Migrations before any wave, the Pages site in the wave after api.
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("{needle} not in:\n{err}"))
    };
    assert!(at("recorded; applying 0002_add_column.sql") < at("migrations applied"));
    assert!(at("migrations applied") < at("▸ wave 1"));
    assert!(at("▸ wave 1") < at("storefront: verified"));
    assert!(order_columns(&db_id)
        .await
        .contains(&"gift_note".to_owned()));
    assert!(storefront_page(&storefront).await.contains("storefront v2"));
    let report: Value = serde_json::from_str(&out).unwrap();
    let deployment = str_of(&report["deployment"]["id"]).to_owned();
    let recorded = team
        .admin
        .read(&format!("/api/v1/deployments/{deployment}/migrations"))
        .await;
    let migration = &items(&recorded["items"])[0];
    assert_eq!(migration["state"], "applied", "{recorded}");
    assert_eq!(migration["migrations"], json!(["0002_add_column.sql"]));
    assert_eq!(migration["database_name"], db_name.as_str());
    let bookmark = str_of(&migration["bookmark"]).to_owned();
    assert!(!bookmark.is_empty());
    let pages = team
        .admin
        .read(&format!("/api/v1/deployments/{deployment}/pages"))
        .await;
    let shipped = &items(&pages["items"])[0];
    assert_eq!(shipped["project"], storefront.as_str());
    assert!(!shipped["previous_deployment_id"].is_null(), "{pages}");
    let second_workers = live_all(&p).await;
    assert_ne!(second_workers[0], first_workers[0]);

    // Rollback: Workers and site back to release 1; the data stays, the restore command shown.
    let (code, out, err) = run(
        &p,
        &team,
        &["rollback", "--env", "staging", "--yes", "--json"],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(live_all(&p).await, first_workers);
    assert!(storefront_page(&storefront).await.contains("storefront v1"));
    let restore = format!("wrangler d1 time-travel restore {db_name} --bookmark {bookmark}");
    assert!(err.contains(&restore), "{restore} not in:\n{err}");
    let rolled: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rolled["status"], "succeeded");
    assert_eq!(items(&rolled["pages"]).len(), 1, "{rolled}");
    assert!(
        order_columns(&db_id)
            .await
            .contains(&"gift_note".to_owned()),
        "a rollback never restores data by itself"
    );

    // A failing migration stops the deploy before any traffic moves.
    let live_before = live_all(&p).await;
    write(
        &migrations,
        "0003_broken.sql",
        "ALTER TABLE no_such_table ADD COLUMN x TEXT;",
    );
    write(&site, "index.html", "<h1>storefront v3</h1>");
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("migration failed"), "{err}");
    assert_eq!(live_all(&p).await, live_before, "no Worker moved");
    assert!(storefront_page(&storefront).await.contains("storefront v1"));
    let list = team
        .admin
        .read("/api/v1/deployments?project=shop&environment=staging&limit=1")
        .await;
    let failed = &items(&list["items"])[0];
    assert_eq!(failed["status"], "failed", "{failed}");
    let id = str_of(&failed["id"]);
    let recorded = team
        .admin
        .read(&format!("/api/v1/deployments/{id}/migrations"))
        .await;
    assert_eq!(
        items(&recorded["items"])[0]["state"],
        "failed",
        "{recorded}"
    );
    let uploads = team
        .admin
        .read(&format!("/api/v1/deployments/{id}/services"))
        .await;
    assert!(
        items(&uploads["items"]).is_empty(),
        "nothing was uploaded: {uploads}"
    );

    // A destructive migration is refused without --allow-destructive: nothing is recorded.
    write(
        &migrations,
        "0003_broken.sql",
        "ALTER TABLE orders DROP COLUMN gift_note;",
    );
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("--allow-destructive"), "{err}");
    assert!(err.contains("DROP COLUMN gift_note"), "{err}");
    let after = team
        .admin
        .read("/api/v1/deployments?project=shop&environment=staging&limit=1")
        .await;
    assert_eq!(
        items(&after["items"])[0]["id"],
        failed["id"],
        "no new deployment"
    );
    assert!(order_columns(&db_id)
        .await
        .contains(&"gift_note".to_owned()));

    // A deployment that applied a migration and then failed (its Workers never took traffic)
    // leaves the migration applied; a later rollback past it warns about it too, with the
    // bookmark from before it, not only about the live deployment's.
    std::fs::remove_file(migrations.join("0003_broken.sql")).unwrap();
    write(
        &migrations,
        "0003_wrapped.sql",
        "ALTER TABLE orders ADD COLUMN wrapped INTEGER;",
    );
    let web_src = p.dir.join("web/src/index.js");
    let web_code = std::fs::read_to_string(&web_src).unwrap();
    std::fs::write(&web_src, "export default { fetch( { broken\n").unwrap();
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(order_columns(&db_id).await.contains(&"wrapped".to_owned()));
    let bookmark_of = |id: String| {
        let admin = &team.admin;
        async move {
            let recorded = admin
                .read(&format!("/api/v1/deployments/{id}/migrations"))
                .await;
            let applied = items(&recorded["items"])
                .iter()
                .find(|m| m["state"] == "applied")
                .unwrap_or_else(|| panic!("an applied migration: {recorded}"))
                .clone();
            str_of(&applied["bookmark"]).to_owned()
        }
    };
    let newest = || async {
        let list = team
            .admin
            .read("/api/v1/deployments?project=shop&environment=staging&limit=1")
            .await;
        items(&list["items"])[0].clone()
    };
    let failed_after_migrating = newest().await;
    assert_eq!(failed_after_migrating["status"], "failed");
    let failed_bookmark = bookmark_of(str_of(&failed_after_migrating["id"]).to_owned()).await;
    std::fs::write(&web_src, web_code).unwrap();
    write(
        &migrations,
        "0004_ribbon.sql",
        "ALTER TABLE orders ADD COLUMN ribbon TEXT;",
    );
    let (code, out, err) = run(&p, &team, &DEPLOY);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let live_bookmark = bookmark_of(str_of(&newest().await["id"]).to_owned()).await;
    let (code, out, err) = run(
        &p,
        &team,
        &["rollback", "--env", "staging", "--yes", "--json"],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for (migration, bookmark) in [
        ("0004_ribbon.sql", &live_bookmark),
        ("0003_wrapped.sql", &failed_bookmark),
    ] {
        assert!(err.contains(migration), "{migration} not in:\n{err}");
        let restore = format!("wrangler d1 time-travel restore {db_name} --bookmark {bookmark}");
        assert!(err.contains(&restore), "{restore} not in:\n{err}");
    }
    let rolled: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        items(&rolled["d1_restore_points"]).len(),
        2,
        "the live deployment's and the failed one's: {rolled}"
    );
}
