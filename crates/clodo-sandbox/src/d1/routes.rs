//! `/accounts/{a}/d1/database/{id}/...`: `query`, `raw` and Time Travel (`time_travel/bookmark`,
//! `time_travel/restore`), answered from the database's SQLite file.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Database, RowShape, SqlInput};
use crate::api::{account_scope, no_route, ApiRequest, Reply};
use crate::auth::{self, Access, Product};
use crate::error::SandboxError;
use crate::resources::d1_find;
use crate::state::{Store, Token};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Statement {
    sql: String,
    #[serde(default)]
    params: Vec<Value>,
}

/// `{sql, params?}` or `{batch: [{sql, params?}]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    params: Vec<Value>,
    #[serde(default)]
    batch: Option<Vec<Statement>>,
}

impl QueryBody {
    fn into_inputs(self) -> Result<Vec<SqlInput>, SandboxError> {
        match (self.sql, self.batch) {
            (Some(sql), None) => Ok(vec![SqlInput {
                sql,
                params: self.params,
            }]),
            (None, Some(batch)) if self.params.is_empty() && !batch.is_empty() => Ok(batch
                .into_iter()
                .map(|s| SqlInput {
                    sql: s.sql,
                    params: s.params,
                })
                .collect()),
            _ => Err(SandboxError::rejected(
                400,
                super::D1_ERROR,
                "A query needs either `sql` (with optional `params`) or a non-empty `batch` of {sql, params}",
            )),
        }
    }
}

/// Routes `rest` (after `/accounts/{a}/d1/database/{id}/`).
pub async fn handle(
    store: &Store,
    token: &Token,
    req: &ApiRequest,
    account: &str,
    id: &str,
    rest: &[&str],
) -> Result<Reply, SandboxError> {
    let need = match req.method.as_str() {
        "POST" if rest == ["time_travel", "restore"] => Access::Edit,
        _ => Access::Read,
    };
    let database = {
        let st = store.read().await;
        account_scope(&st, token, req, account, Product::D1, need)?;
        let record = d1_find(&st, account, id)?;
        Database::new(store.files.d1_dir(&record.uuid), &record.created_at)
    };
    let _serialised = store
        .files
        .d1_lock
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match (req.method.as_str(), rest) {
        ("POST", ["query"]) => query(&database, token, req, account, RowShape::Objects),
        ("POST", ["raw"]) => query(&database, token, req, account, RowShape::Arrays),
        ("GET", ["time_travel", "bookmark"]) => {
            let at = req
                .query
                .get("timestamp")
                .map(parse_timestamp)
                .transpose()?;
            let bookmark = database.bookmark_at(at)?;
            Ok(Reply::ok(json!({ "bookmark": bookmark })))
        }
        ("POST", ["time_travel", "restore"]) => {
            let target = match (req.query.get("bookmark"), req.query.get("timestamp")) {
                (Some(b), None) => b.to_string(),
                (None, Some(t)) => database.bookmark_at(Some(parse_timestamp(t)?))?,
                _ => {
                    return Err(SandboxError::rejected(
                        400,
                        super::D1_ERROR,
                        "Give exactly one of the `bookmark` or `timestamp` query parameters",
                    ))
                }
            };
            let restored = database.restore(&target)?;
            Ok(Reply::ok(json!({
                "bookmark": restored.bookmark,
                "previous_bookmark": restored.previous_bookmark,
                "message": "Database restored successfully",
            })))
        }
        _ => Err(no_route(req)),
    }
}

fn query(
    database: &Database,
    token: &Token,
    req: &ApiRequest,
    account: &str,
    shape: RowShape,
) -> Result<Reply, SandboxError> {
    let body: QueryBody = req.json()?;
    let inputs = body.into_inputs()?;
    let may_write = auth::allows(token, account, Some(Product::D1), Access::Edit);
    let results = database.query(&inputs, shape, may_write)?;
    Ok(Reply::ok(Value::Array(results)))
}

/// The `timestamp` query parameter: RFC 3339 (what wrangler sends) or Unix seconds.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, SandboxError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    text.parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(|| {
            SandboxError::rejected(
                400,
                super::D1_ERROR,
                format!("Invalid timestamp {text:?}: give an RFC 3339 time or Unix seconds"),
            )
        })
}
