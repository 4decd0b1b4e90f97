//! The HTTP API's shared vocabulary: the one error type, body limits and the JSON extractor.
//!
//! Plain Rust over axum types only (no `worker::`), so it is unit-tested natively and reused
//! by every route the Worker serves.

mod error;
mod json;

pub use error::{ApiError, ErrorCode};
pub use json::{JsonBody, MAX_BODY_BYTES};

use serde::Serialize;

/// What `GET /api/v1/version` answers: which build and which database schema are live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: &'static str,
    pub git_sha: &'static str,
    /// Name of the newest applied D1 migration (e.g. `0001_initial.sql`), or `None` when no
    /// migration has been applied yet.
    pub schema_version: Option<String>,
}

impl VersionInfo {
    /// The build's own version and sha, with the schema version read from the database.
    #[must_use]
    pub fn current(schema_version: Option<String>) -> Self {
        Self {
            version: crate::VERSION,
            git_sha: crate::GIT_SHA,
            schema_version,
        }
    }
}
