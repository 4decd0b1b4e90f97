//! The audit log API (`GET /api/v1/audit`: a JSON page, or an export as JSON lines or CSV)
//! and the OpenAPI document route.

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Caller;
use super::db;
use super::routes::AppState;
use crate::api::contract::audit::{AuditEntry, AuditPage, ExportFormat};
use crate::api::{ApiError, QueryParams};
use crate::control::audit;
use crate::control::cursor;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/openapi.json", get(openapi))
}

/// `GET /api/v1/openapi.json`: the OpenAPI object itself (its shape is OpenAPI's, not a
/// contract type). Served as written by `scripts/gen-api-types.sh` (`docs/openapi.json`, which
/// a test keeps equal to `api::openapi::document`): building it here would put the whole
/// schema generator in the Worker's bundle.
async fn openapi() -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        crate::api::openapi::DOCUMENT_JSON,
    )
        .into_response()
}

#[derive(Deserialize)]
struct AuditQuery {
    format: Option<ExportFormat>,
    limit: Option<u32>,
    cursor: Option<String>,
    action: Option<String>,
}

/// Most rows one export answer carries; the `clodo-next-cursor` header continues it.
const MAX_EXPORT_ROWS: u32 = 5000;

#[derive(Deserialize)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    before_json: Option<String>,
    after_json: Option<String>,
}

impl AuditRow {
    fn entry(self) -> AuditEntry {
        let parse = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
        AuditEntry {
            id: self.id,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            before: parse(self.before_json),
            after: parse(self.after_json),
        }
    }
}

/// `GET /api/v1/audit?format=json|jsonl|csv&action=&limit=&cursor=`: oldest first.
#[worker::send]
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.unwrap_or(ExportFormat::Json);
    let limit = match format {
        ExportFormat::Json => cursor::limit(q.limit),
        _ => q.limit.unwrap_or(MAX_EXPORT_ROWS).clamp(1, MAX_EXPORT_ROWS),
    };
    let after: i64 = q
        .cursor
        .as_deref()
        .map(cursor::decode)
        .transpose()
        .map_err(db::bad_request)?
        .unwrap_or(0);
    let db = db::db(&state.env)?;
    let rows = db::all::<AuditRow>(worker::query!(
        &db,
        "SELECT id, at, actor, action, target_type, target_id, before_json, after_json FROM audit_log
         WHERE team_id = ?1 AND id > ?2 AND (?3 IS NULL OR action = ?3) ORDER BY id LIMIT ?4",
        &caller.team_id,
        &after,
        &q.action,
        &(i64::from(limit) + 1)
    ))
    .await?;
    let entries: Vec<AuditEntry> = rows.into_iter().map(AuditRow::entry).collect();
    let page = cursor::paginate(entries, limit, |e| e.id);
    if format == ExportFormat::Json {
        let page = AuditPage {
            items: page.items,
            next_cursor: page.next_cursor,
        };
        return Ok(Json(page).into_response());
    }
    let (content_type, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        _ => ("application/x-ndjson", "jsonl"),
    };
    let mut resp = audit::render(&page.items, format).into_response();
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"clodo-audit.{ext}\"")) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if let Some(next) = page
        .next_cursor
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        headers.insert("clodo-next-cursor", next);
    }
    Ok(resp)
}
