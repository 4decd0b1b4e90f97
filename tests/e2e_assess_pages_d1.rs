//! End-to-end: the Pages and D1-migration checks give the same findings through `clodo
//! assess` (the CLI, reading the checkout) and the hosted `POST /api/v1/assessments` (the
//! Worker, from the request), for the example shop with a pending destructive migration and a
//! Pages project whose D1 binding names a database that does not exist; and a hosted request
//! that carries no migration files is told the check could not be made (never ready).
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;

use e2e_support::pages::{cf, run, shop_toml};
use e2e_support::shop::Project;
use e2e_support::{items, str_of};
use serde_json::{json, Value};

const DESTRUCTIVE: &str = "ALTER TABLE orders DROP COLUMN status;";

fn clodo_toml(storefront: &str) -> String {
    shop_toml(storefront, "[deploy]\nstrategy = \"gradual\"\n")
}

/// The Pages and D1-migration findings of a report, comparable across the two paths (the
/// location differs: the CLI knows clodo.toml's lines).
fn pages_d1(report: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = items(&report["findings"])
        .iter()
        .filter(|f| {
            let kind = str_of(&f["kind"]);
            f["service"] == "storefront"
                || kind.starts_with("d1_migration")
                || kind == "d1_destructive_gradual"
        })
        .map(|f| {
            json!({
                "kind": f["kind"], "severity": f["severity"], "message": f["message"],
                "fix": f["fix"], "service": f["service"],
            })
        })
        .collect();
    out.sort_by_key(ToString::to_string);
    out
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn the_cli_and_the_hosted_assessment_agree_on_pages_and_d1_migrations() {
    let team = e2e_support::shop::shop_team().await;
    let p = Project::new("project = \"shop\"\n");
    let storefront = format!("{}-storefront", p.prefix);
    std::fs::write(p.dir.join("clodo.toml"), clodo_toml(&storefront)).unwrap();
    std::fs::write(p.dir.join("storefront/public/index.html"), "<h1>shop</h1>").unwrap();
    // A Pages project whose production D1 binding names a database the account lacks.
    cf(
        "POST",
        "/pages/projects",
        Some(json!({
            "name": storefront,
            "production_branch": "main",
            "deployment_configs": {
                "production": { "d1_databases": { "DB": { "id": "0dead000-0000-4000-8000-00000000dead" } } },
                "preview": {}
            }
        })),
    )
    .await;
    // A database of this copy's own with 0001 applied (as wrangler records it); 0002 drops a
    // column and is pending.
    let db_name = format!("{}-db", p.prefix);
    let db = cf("POST", "/d1/database", Some(json!({ "name": db_name }))).await;
    let db_id = str_of(&db["uuid"]).to_owned();
    let migrations = p.dir.join("api/migrations");
    let first = std::fs::read_to_string(migrations.join("0001_orders.sql")).unwrap();
    std::fs::remove_file(migrations.join("0002_add_column.sql")).unwrap();
    std::fs::write(migrations.join("0002_drop_status.sql"), DESTRUCTIVE).unwrap();
    cf(
        "POST",
        &format!("/d1/database/{db_id}/query"),
        Some(json!({ "sql": format!(
            "{first}\nCREATE TABLE d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);\nINSERT INTO d1_migrations (name) VALUES ('0001_orders.sql');"
        ) })),
    )
    .await;
    let api_toml = p.dir.join("api/wrangler.toml");
    let text = std::fs::read_to_string(&api_toml).unwrap().replace(
        "database_name = \"shop-db-staging\"\ndatabase_id = \"5e0d1000-0000-4000-8000-000000000002\"\n",
        &format!("database_name = \"{db_name}\"\ndatabase_id = \"{db_id}\"\nmigrations_dir = \"migrations\"\n"),
    );
    assert!(text.contains(&db_id));
    std::fs::write(&api_toml, &text).unwrap();

    // The CLI, from the checkout.
    let (_, out, err) = run(&p, &team, &["assess", "--env", "staging", "--json"]);
    let cli: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}\n{err}"));
    let cli_found = pages_d1(&cli);
    let kinds: Vec<&str> = cli_found.iter().map(|f| str_of(&f["kind"])).collect();
    for kind in [
        "d1_missing",
        "d1_migrations_pending",
        "d1_migration_destructive",
        "d1_destructive_gradual",
    ] {
        assert!(kinds.contains(&kind), "{kind} not in {cli_found:#?}");
    }

    // The hosted assessment, from a request carrying the same facts.
    let request = json!({
        "config": text,
        "file": "wrangler.toml",
        "env": "staging",
        "project": "shop",
        "environment": "staging",
        "service": "api",
        "strategy": "gradual",
        "pages": [{ "service": "storefront", "project": storefront, "production_branch": "main" }],
        "migrations": [{ "binding": "DB", "files": [
            { "name": "0001_orders.sql", "sql": first },
            { "name": "0002_drop_status.sql", "sql": DESTRUCTIVE },
        ] }],
    });
    let hosted = team
        .admin
        .create("/api/v1/assessments", request.clone())
        .await;
    assert_eq!(pages_d1(&hosted["report"]), cli_found, "hosted vs CLI");
    assert_eq!(hosted["report"]["ready"], false);

    // Without the files, the hosted check says it could not be made.
    let mut without = request;
    without.as_object_mut().unwrap().remove("migrations");
    let hosted = team.admin.create("/api/v1/assessments", without).await;
    let report = &hosted["report"];
    assert_eq!(report["ready"], false, "{report}");
    let not_made = items(&report["findings"])
        .iter()
        .find(|f| str_of(&f["message"]).contains("pending-migration check could not be made"))
        .cloned()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(not_made["kind"], "inconclusive", "{not_made}");
    assert!(!items(&report["findings"])
        .iter()
        .any(|f| str_of(&f["kind"]).starts_with("d1_migration")));
}
