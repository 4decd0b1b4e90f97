//! Runs one D1 `/query` or `/raw` call against a real SQLite file: every statement of the call in
//! one transaction (a failing statement rolls back the earlier ones, which is what wrangler's
//! `d1 migrations apply` relies on), one result per statement with D1's `meta`.

use std::path::Path;
use std::time::Instant;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Connection, StatementStatus};
use serde_json::{json, Map, Value};

/// One entry of a call: SQL text (possibly several `;`-joined statements) and its parameters.
#[derive(Debug, Clone, Default)]
pub struct SqlInput {
    pub sql: String,
    pub params: Vec<Value>,
}

/// How rows are answered: objects (`/query`) or column list plus arrays (`/raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowShape {
    Objects,
    Arrays,
}

/// What a call did.
#[derive(Debug)]
pub struct BatchOutcome {
    /// One D1 QueryResult per statement, in order.
    pub results: Vec<Value>,
    /// Whether any statement could change the database (the call then gets a new bookmark).
    pub changed_db: bool,
}

/// Why a call failed.
#[derive(Debug, PartialEq)]
pub enum SqlFailure {
    /// SQLite refused a statement: D1's message text (`<sqlite message>: SQLITE_<CODE>`).
    Sql(String),
    /// The statements would write but the caller may only read.
    WriteNotAllowed,
}

/// Runs `inputs` in one transaction on the database file at `path` (created if missing).
pub fn run_batch(
    path: &Path,
    inputs: &[SqlInput],
    shape: RowShape,
    may_write: bool,
) -> Result<BatchOutcome, SqlFailure> {
    let mut conn = Connection::open(path).map_err(describe)?;
    // D1 enforces foreign keys; SQLite's default is off.
    conn.execute_batch("PRAGMA foreign_keys = ON; BEGIN")
        .map_err(describe)?;
    conn.authorizer(Some(d1_authorizer)).map_err(describe)?;
    let ran = run_statements(&conn, inputs, shape);
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)
        .map_err(describe)?;
    let outcome = match ran {
        Ok(outcome) if outcome.changed_db && !may_write => Err(SqlFailure::WriteNotAllowed),
        other => other,
    };
    match outcome {
        Ok(mut outcome) => {
            let size = database_size(&conn);
            conn.execute_batch("COMMIT").map_err(describe)?;
            for result in &mut outcome.results {
                result["meta"]["size_after"] = json!(size);
            }
            Ok(outcome)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn run_statements(
    conn: &Connection,
    inputs: &[SqlInput],
    shape: RowShape,
) -> Result<BatchOutcome, SqlFailure> {
    let mut results = Vec::new();
    let mut changed_db = false;
    for input in inputs {
        let mut params = input.params.iter();
        let mut batch = Batch::new(conn, &input.sql);
        while let Some(mut stmt) = batch.next().map_err(describe)? {
            let started = Instant::now();
            for index in 1..=stmt.parameter_count() {
                let value = params.next().ok_or_else(wrong_parameter_count)?;
                bind(&mut stmt, index, value)?;
            }
            let columns: Vec<String> = stmt.column_names().map(String::from).collect();
            let readonly = stmt.readonly();
            let mut rows = Vec::new();
            {
                let mut cursor = stmt.raw_query();
                while let Some(row) = cursor.next().map_err(describe)? {
                    let mut values = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        values.push(json_value(row.get_ref(i).map_err(describe)?));
                    }
                    rows.push(values);
                }
            }
            let scanned = stmt.get_status(StatementStatus::FullscanStep).max(0) as u64;
            let changes = if readonly { 0 } else { conn.changes() };
            changed_db |= !readonly;
            let duration = started.elapsed().as_secs_f64() * 1000.0;
            let meta = json!({
                "served_by": "clodo-sandbox",
                "served_by_region": "SANDBOX",
                "served_by_primary": true,
                "timings": { "sql_duration_ms": duration },
                "duration": duration,
                "changes": changes,
                "last_row_id": conn.last_insert_rowid(),
                "changed_db": !readonly,
                "size_after": 0,
                "rows_read": scanned.max(rows.len() as u64),
                "rows_written": changes,
            });
            let body = match shape {
                RowShape::Objects => Value::Array(
                    rows.into_iter()
                        .map(|values| {
                            let row: Map<String, Value> =
                                columns.iter().cloned().zip(values).collect();
                            Value::Object(row)
                        })
                        .collect(),
                ),
                RowShape::Arrays => json!({ "columns": columns, "rows": rows }),
            };
            results.push(json!({ "results": body, "success": true, "meta": meta }));
        }
        if params.next().is_some() {
            return Err(wrong_parameter_count());
        }
    }
    Ok(BatchOutcome {
        results,
        changed_db,
    })
}

/// D1 runs each call as its own transaction and keeps the database file to itself: SQL that
/// manages transactions or attaches other files is refused, as on D1 (`SQLITE_AUTH`).
fn d1_authorizer(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Transaction { .. } | AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

fn bind(stmt: &mut rusqlite::Statement<'_>, index: usize, value: &Value) -> Result<(), SqlFailure> {
    let bound = match value {
        Value::Null => stmt.raw_bind_parameter(index, rusqlite::types::Null),
        Value::Bool(b) => stmt.raw_bind_parameter(index, i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => stmt.raw_bind_parameter(index, i),
            None => stmt.raw_bind_parameter(index, n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => stmt.raw_bind_parameter(index, s.as_str()),
        Value::Array(_) | Value::Object(_) => {
            return Err(SqlFailure::Sql(format!(
                "Type '{}' not supported for value '{value}': SQLITE_MISMATCH",
                if value.is_array() { "array" } else { "object" }
            )))
        }
    };
    bound.map_err(describe)
}

fn wrong_parameter_count() -> SqlFailure {
    SqlFailure::Sql("Wrong number of parameter bindings for SQL query.: SQLITE_RANGE".into())
}

/// A column value as D1 answers it: BLOBs become arrays of byte values.
fn json_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => json!(b),
    }
}

fn database_size(conn: &Connection) -> i64 {
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap_or(0)
    };
    pragma("page_count") * pragma("page_size")
}

/// D1's error text: SQLite's message, then the primary result code's name.
fn describe(err: rusqlite::Error) -> SqlFailure {
    match err {
        rusqlite::Error::SqliteFailure(e, message) => {
            let text = message.unwrap_or_else(|| e.to_string());
            SqlFailure::Sql(format!("{text}: {}", code_name(e.extended_code & 0xff)))
        }
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            SqlFailure::Sql(format!("{msg} at offset {offset}: SQLITE_ERROR"))
        }
        other => SqlFailure::Sql(format!("{other}: SQLITE_ERROR")),
    }
}

fn code_name(primary: i32) -> &'static str {
    match primary {
        2 => "SQLITE_INTERNAL",
        3 => "SQLITE_PERM",
        4 => "SQLITE_ABORT",
        5 => "SQLITE_BUSY",
        6 => "SQLITE_LOCKED",
        7 => "SQLITE_NOMEM",
        8 => "SQLITE_READONLY",
        9 => "SQLITE_INTERRUPT",
        10 => "SQLITE_IOERR",
        11 => "SQLITE_CORRUPT",
        13 => "SQLITE_FULL",
        18 => "SQLITE_TOOBIG",
        19 => "SQLITE_CONSTRAINT",
        20 => "SQLITE_MISMATCH",
        21 => "SQLITE_MISUSE",
        23 => "SQLITE_AUTH",
        25 => "SQLITE_RANGE",
        _ => "SQLITE_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> Vec<SqlInput> {
        vec![SqlInput {
            sql: text.into(),
            params: vec![],
        }]
    }

    fn temp_db() -> (std::path::PathBuf, impl Drop) {
        struct Cleanup(std::path::PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("d1-sql-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("db.sqlite"), Cleanup(dir))
    }

    #[test]
    fn one_result_per_statement_with_meta() {
        let (db, _guard) = temp_db();
        let out = run_batch(
            &db,
            &sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB); INSERT INTO t (name, data) VALUES ('a', x'0102'), ('b', NULL); SELECT * FROM t ORDER BY id"),
            RowShape::Objects,
            true,
        )
        .unwrap();
        assert!(out.changed_db);
        assert_eq!(out.results.len(), 3);
        assert_eq!(out.results[1]["meta"]["changes"], 2);
        assert_eq!(out.results[1]["meta"]["last_row_id"], 2);
        assert_eq!(out.results[2]["meta"]["changed_db"], false);
        assert_eq!(
            out.results[2]["results"],
            json!([{ "id": 1, "name": "a", "data": [1, 2] }, { "id": 2, "name": "b", "data": null }])
        );
        assert!(out.results[2]["meta"]["size_after"].as_i64().unwrap() > 0);
        let raw = run_batch(&db, &sql("SELECT name FROM t"), RowShape::Arrays, false).unwrap();
        assert_eq!(
            raw.results[0]["results"],
            json!({ "columns": ["name"], "rows": [["a"], ["b"]] })
        );
    }

    #[test]
    fn a_failing_statement_rolls_back_the_whole_call() {
        let (db, _guard) = temp_db();
        run_batch(
            &db,
            &sql("CREATE TABLE t (x TEXT UNIQUE)"),
            RowShape::Objects,
            true,
        )
        .unwrap();
        let err = run_batch(
            &db,
            &sql("INSERT INTO t VALUES ('a'); CREATE TABLE u (y); INSERT INTO nope VALUES (1)"),
            RowShape::Objects,
            true,
        )
        .unwrap_err();
        assert_eq!(
            err,
            SqlFailure::Sql("no such table: nope: SQLITE_ERROR".into())
        );
        let left = run_batch(
            &db,
            &sql("SELECT count(*) AS n FROM t; SELECT count(*) AS n FROM sqlite_master WHERE name = 'u'"),
            RowShape::Objects,
            false,
        )
        .unwrap();
        assert_eq!(left.results[0]["results"][0]["n"], 0);
        assert_eq!(left.results[1]["results"][0]["n"], 0);
        let dup = run_batch(
            &db,
            &sql("INSERT INTO t VALUES ('a'); INSERT INTO t VALUES ('a')"),
            RowShape::Objects,
            true,
        )
        .unwrap_err();
        assert_eq!(
            dup,
            SqlFailure::Sql("UNIQUE constraint failed: t.x: SQLITE_CONSTRAINT".into())
        );
    }

    #[test]
    fn params_bind_in_order_and_must_match() {
        let (db, _guard) = temp_db();
        let input = |text: &str, params: Vec<Value>| {
            vec![SqlInput {
                sql: text.into(),
                params,
            }]
        };
        let out = run_batch(
            &db,
            &input("SELECT ? AS a, ? AS b", vec![json!("x"), json!(2)]),
            RowShape::Objects,
            false,
        )
        .unwrap();
        assert_eq!(out.results[0]["results"], json!([{ "a": "x", "b": 2 }]));
        assert!(matches!(
            run_batch(&db, &input("SELECT ?", vec![]), RowShape::Objects, false),
            Err(SqlFailure::Sql(m)) if m.ends_with("SQLITE_RANGE")
        ));
        assert!(matches!(
            run_batch(&db, &input("SELECT 1", vec![json!(1)]), RowShape::Objects, false),
            Err(SqlFailure::Sql(m)) if m.ends_with("SQLITE_RANGE")
        ));
    }

    #[test]
    fn transactions_attach_and_writes_without_permission_are_refused() {
        let (db, _guard) = temp_db();
        for text in [
            "BEGIN TRANSACTION",
            "COMMIT",
            "ATTACH DATABASE '/tmp/x.db' AS x",
        ] {
            assert!(
                matches!(
                    run_batch(&db, &sql(text), RowShape::Objects, true),
                    Err(SqlFailure::Sql(m)) if m.ends_with("SQLITE_AUTH")
                ),
                "{text}"
            );
        }
        assert_eq!(
            run_batch(&db, &sql("CREATE TABLE t (x)"), RowShape::Objects, false).unwrap_err(),
            SqlFailure::WriteNotAllowed
        );
        let tables = run_batch(
            &db,
            &sql("SELECT count(*) AS n FROM sqlite_master"),
            RowShape::Objects,
            false,
        )
        .unwrap();
        assert_eq!(tables.results[0]["results"][0]["n"], 0);
    }
}
