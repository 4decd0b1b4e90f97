//! Unit tests of pending-migration order and destructive-statement detection.

use super::*;

fn file(name: &str, sql: &str) -> MigrationFile {
    MigrationFile {
        name: name.to_owned(),
        sql: sql.to_owned(),
    }
}

const ORDERS: &str = "-- orders\nCREATE TABLE IF NOT EXISTS orders (\n  id TEXT PRIMARY KEY,\n  cart_id TEXT NOT NULL,\n  total_cents INTEGER NOT NULL DEFAULT (0),\n  status TEXT NOT NULL DEFAULT 'placed;',\n  UNIQUE (id, cart_id)\n);";

#[test]
fn pending_is_what_is_not_applied_in_wranglers_order() {
    let files = vec![
        file("10_later.sql", ""),
        file("0002_add_column.sql", ""),
        file("0001_orders.sql", ""),
        file("README.md", ""),
        file("2_two.sql", ""),
    ];
    let applied = vec!["0001_orders.sql".to_owned()];
    let names: Vec<&str> = pending(&files, &applied)
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["0002_add_column.sql", "2_two.sql", "10_later.sql"]
    );
    let all: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    assert!(pending(&files, &all).is_empty());
}

#[test]
fn additive_migrations_are_not_destructive() {
    let found = destructive_statements(
        "ALTER TABLE orders ADD COLUMN note TEXT; CREATE INDEX orders_cart ON orders(cart_id); INSERT INTO orders (id, cart_id, total_cents) VALUES ('a', 'b', 1); DROP INDEX IF EXISTS old_idx;",
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn drops_and_renames_are_destructive() {
    let found = destructive_statements(
        "/* cleanup */ DROP TABLE IF EXISTS \"legacy\";\nALTER TABLE orders DROP COLUMN note; -- gone\nALTER TABLE orders RENAME COLUMN status TO state;\nalter table carts rename to baskets;",
    );
    assert_eq!(
        found,
        vec![
            Destructive::DropTable {
                table: "legacy".into()
            },
            Destructive::DropColumn {
                table: "orders".into(),
                column: "note".into()
            },
            Destructive::RenameColumn {
                table: "orders".into(),
                column: "status".into(),
                to: "state".into()
            },
            Destructive::RenameTable {
                table: "carts".into(),
                to: "baskets".into()
            },
        ]
    );
    assert_eq!(found[1].to_string(), "ALTER TABLE orders DROP COLUMN note");
}

#[test]
fn a_semicolon_inside_a_string_or_comment_does_not_split() {
    let found =
        destructive_statements("INSERT INTO t (a) VALUES ('x; DROP TABLE t'); -- ; DROP TABLE u\n");
    assert!(found.is_empty(), "{found:?}");
}

const REBUILD_LOSING: &str = "CREATE TABLE orders_new (id TEXT PRIMARY KEY, cart_id TEXT NOT NULL, total_cents INTEGER NOT NULL);\nINSERT INTO orders_new (id, cart_id, total_cents) SELECT id, cart_id, total_cents FROM orders;\nDROP TABLE orders;\nALTER TABLE orders_new RENAME TO orders;";

#[test]
fn table_rebuild_that_loses_columns_is_destructive() {
    let all = vec![
        file("0001_orders.sql", ORDERS),
        file("0002_rebuild.sql", REBUILD_LOSING),
    ];
    let reports = analyse(&all, &["0001_orders.sql".to_owned()]);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].name, "0002_rebuild.sql");
    assert_eq!(
        reports[0].destructive,
        vec![Destructive::TableRebuild {
            table: "orders".into(),
            lost: vec!["status".into()]
        }]
    );
    assert!(reports[0].destructive[0]
        .to_string()
        .contains("drops column(s) status"));
}

#[test]
fn table_rebuild_that_keeps_every_column_is_safe() {
    let keeping = "CREATE TABLE orders_new (id TEXT PRIMARY KEY, cart_id TEXT NOT NULL, total_cents INTEGER NOT NULL CHECK (total_cents >= 0), status TEXT);\nINSERT INTO orders_new SELECT id, cart_id, total_cents, status FROM orders;\nDROP TABLE orders;\nALTER TABLE orders_new RENAME TO orders;";
    let all = vec![
        file("0001_orders.sql", ORDERS),
        file("0002_rebuild.sql", keeping),
    ];
    let reports = analyse(&all, &["0001_orders.sql".to_owned()]);
    assert!(
        reports[0].destructive.is_empty(),
        "{:?}",
        reports[0].destructive
    );
    let star = "CREATE TABLE o2 (x TEXT); INSERT INTO o2 SELECT * FROM orders; DROP TABLE orders; ALTER TABLE o2 RENAME TO orders;";
    let all = vec![file("0001_orders.sql", ORDERS), file("0002_star.sql", star)];
    assert!(analyse(&all, &[])[1].destructive.is_empty());
}

#[test]
fn rebuild_of_an_unknown_table_is_flagged_since_nothing_proves_the_copy_complete() {
    let found = destructive_statements(REBUILD_LOSING);
    assert_eq!(
        found,
        vec![Destructive::TableRebuild {
            table: "orders".into(),
            lost: vec![]
        }]
    );
}

#[test]
fn schema_replay_follows_adds_renames_and_drops() {
    let all = vec![
        file("0001_orders.sql", ORDERS),
        file("0002_add.sql", "ALTER TABLE orders ADD COLUMN note TEXT;"),
        file("0003_rebuild.sql", "CREATE TABLE n (id TEXT, cart_id TEXT, total_cents INTEGER, status TEXT); INSERT INTO n (id, cart_id, total_cents, status) SELECT id, cart_id, total_cents, status FROM orders; DROP TABLE orders; ALTER TABLE n RENAME TO orders;"),
    ];
    let reports = analyse(&all, &["0001_orders.sql".to_owned()]);
    assert_eq!(reports.len(), 2);
    assert!(reports[0].destructive.is_empty());
    assert_eq!(
        reports[1].destructive,
        vec![Destructive::TableRebuild {
            table: "orders".into(),
            lost: vec!["note".into()]
        }]
    );
}
