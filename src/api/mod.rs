//! The HTTP API's shared vocabulary: the one error type, body limits and the JSON extractor.
//!
//! Plain Rust over axum types only (no `worker::`), so it is unit-tested natively and reused
//! by every route the Worker serves.

mod error;
mod json;

pub use error::{ApiError, ErrorCode};
pub use json::{JsonBody, MAX_BODY_BYTES};

use serde::Serialize;

/// Whether a browser `Origin` is one of the comma-separated allowed origins. Exact match
/// only: a prefix or wildcard match would let `https://app.example.com.evil.test` in.
#[must_use]
pub fn origin_allowed(origin: &str, allowed: &str) -> bool {
    allowed
        .split(',')
        .map(str::trim)
        .any(|candidate| !candidate.is_empty() && candidate == origin)
}

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

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn origins_match_exactly() {
        let allowed = "http://127.0.0.1:8789, https://clodo.pages.dev";
        assert!(origin_allowed("http://127.0.0.1:8789", allowed));
        assert!(origin_allowed("https://clodo.pages.dev", allowed));
        assert!(!origin_allowed(
            "https://clodo.pages.dev.evil.test",
            allowed
        ));
        assert!(!origin_allowed("http://127.0.0.1:8788", allowed));
        assert!(!origin_allowed("", ""));
    }
}
