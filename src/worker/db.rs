//! D1 helpers shared by the control-plane routes: the binding, ids, time, error mapping, the
//! audit writer, and team-scoped lookups (a row of another team is simply "not found").

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::api::{ApiError, ErrorCode};

pub const DB_BINDING: &str = "DB";

pub fn db(env: &Env) -> Result<D1Database, ApiError> {
    env.d1(DB_BINDING)
        .map_err(|e| ApiError::internal(format!("D1 binding {DB_BINDING}: {e}")))
}

pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// A prefixed random id (`dep_…`) so ids say what they name in logs and URLs.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Maps a D1 failure: unique-key violations are the caller's conflict, the rest internal.
pub fn d1(err: worker::Error) -> ApiError {
    let text = err.to_string();
    if text.contains("UNIQUE constraint failed") {
        ApiError::new(ErrorCode::Conflict, "that already exists")
            .with_hint("pick another name, or GET the existing one")
    } else {
        ApiError::internal(format!("D1: {text}"))
    }
}

pub fn not_found(what: &str, name: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("{what} `{name}` not found"))
        .with_hint("check the name; only your team's resources are visible to your token")
}

pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// Runs a statement that must return at most one row.
pub async fn first<T: for<'de> Deserialize<'de>>(
    stmt: worker::Result<D1PreparedStatement>,
) -> Result<Option<T>, ApiError> {
    stmt.map_err(d1)?.first::<T>(None).await.map_err(d1)
}

pub async fn all<T: for<'de> Deserialize<'de>>(
    stmt: worker::Result<D1PreparedStatement>,
) -> Result<Vec<T>, ApiError> {
    stmt.map_err(d1)?
        .all()
        .await
        .map_err(d1)?
        .results::<T>()
        .map_err(d1)
}

/// Runs a write and returns how many rows it changed.
pub async fn run(stmt: worker::Result<D1PreparedStatement>) -> Result<usize, ApiError> {
    let result = stmt.map_err(d1)?.run().await.map_err(d1)?;
    Ok(result
        .meta()
        .map_err(d1)?
        .and_then(|m| m.changes)
        .unwrap_or(0))
}

/// Where an insert's row comes from: always, or only when the statement batched just before
/// it changed a row (SQLite's `changes()`), so that a conditional update that matched nothing
/// leaves no record, and one that did commits with its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Always,
    IfChanged,
}

impl Rows {
    /// The row source of an insert of `n` placeholders (`?1` to `?n`).
    #[must_use]
    pub fn source(self, n: usize) -> String {
        let params: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        match self {
            Rows::Always => format!("VALUES ({})", params.join(", ")),
            Rows::IfChanged => format!("SELECT {} WHERE changes() > 0", params.join(", ")),
        }
    }
}

/// Defines a public audit writer with the shared parameter list, writing its rows as `$rows`.
macro_rules! audit_writer {
    ($(#[$doc:meta])* $name:ident, $rows:expr) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name(
            db: &D1Database,
            team_id: &str,
            actor: &str,
            action: &str,
            target_type: &str,
            target_id: &str,
            before: Option<&serde_json::Value>,
            after: Option<&serde_json::Value>,
        ) -> worker::Result<D1PreparedStatement> {
            let before = before.map(serde_json::Value::to_string);
            let after = after.map(serde_json::Value::to_string);
            worker::query!(
                db,
                &format!(
                    "INSERT INTO audit_log (team_id, at, actor, action, target_type, target_id, before_json, after_json) {}",
                    $rows.source(8)
                ),
                &team_id,
                &now_ms(),
                &actor,
                &action,
                &target_type,
                &target_id,
                &before,
                &after
            )
        }
    };
}

/// The shape both audit writers share, so a caller can pick one.
pub type AuditWriter = fn(
    &D1Database,
    &str,
    &str,
    &str,
    &str,
    &str,
    Option<&serde_json::Value>,
    Option<&serde_json::Value>,
) -> worker::Result<D1PreparedStatement>;

audit_writer!(
    /// The audit insert for one state change; callers batch it with the change itself so the
    /// change and its record commit together.
    audit_stmt,
    Rows::Always
);

audit_writer!(
    /// The audit insert of a guarded change, batched right after it: written only when the
    /// statement just before it changed a row (see `Rows::IfChanged`).
    audit_if_changed_stmt,
    Rows::IfChanged
);

/// Runs statements as one D1 batch (a transaction: all or nothing).
pub async fn batch(
    db: &D1Database,
    stmts: Vec<worker::Result<D1PreparedStatement>>,
) -> Result<Vec<worker::D1Result>, ApiError> {
    let stmts = stmts
        .into_iter()
        .collect::<worker::Result<Vec<_>>>()
        .map_err(d1)?;
    db.batch(stmts).await.map_err(d1)
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProjectRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub repository: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EnvironmentRow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub cloudflare_account_id: Option<String>,
    pub created_at: i64,
}

pub async fn project(db: &D1Database, team_id: &str, slug: &str) -> Result<ProjectRow, ApiError> {
    first::<ProjectRow>(worker::query!(
        db,
        "SELECT id, slug, name, repository, created_at FROM projects WHERE team_id = ?1 AND slug = ?2",
        &team_id,
        &slug
    ))
    .await?
    .ok_or_else(|| not_found("project", slug))
}

pub async fn environment(
    db: &D1Database,
    team_id: &str,
    project_slug: &str,
    env_name: &str,
) -> Result<(ProjectRow, EnvironmentRow), ApiError> {
    let project = project(db, team_id, project_slug).await?;
    let env = first::<EnvironmentRow>(worker::query!(
        db,
        "SELECT id, project_id, name, cloudflare_account_id, created_at FROM environments
         WHERE team_id = ?1 AND project_id = ?2 AND name = ?3",
        &team_id,
        &project.id,
        &env_name
    ))
    .await?
    .ok_or_else(|| not_found("environment", &format!("{project_slug}/{env_name}")))?;
    Ok((project, env))
}

/// Rows changed by statement `index` of a batch's results (0 when it is missing).
pub fn changes(results: &[worker::D1Result], index: usize) -> usize {
    results
        .get(index)
        .and_then(|r| r.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0)
}
