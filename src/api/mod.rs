//! The HTTP API's shared vocabulary: the one error type, body limits and the JSON extractor.
//!
//! Plain Rust over axum types only (no `worker::`), so it is unit-tested natively and reused
//! by every route the Worker serves.

pub mod contract;
mod error;
mod json;
pub mod openapi;
mod query;

pub use error::{ApiError, ErrorBody, ErrorCode, ErrorDetail};
pub use json::{parse_json, read_limited, require_json, JsonBody, MAX_BODY_BYTES};
pub use query::QueryParams;

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

/// The one log line a panic leaves: its message and where it happened. The Worker's panic
/// hook logs it, since a panic aborts the wasm instance and loses everything else.
#[must_use]
pub fn panic_line(info: &std::panic::PanicHookInfo<'_>) -> String {
    let message = info
        .payload_as_str()
        .unwrap_or("(a panic without a message)");
    match info.location() {
        Some(at) => format!("panic: {message} at {}:{}", at.file(), at.line()),
        None => format!("panic: {message}"),
    }
}

/// What `GET /api/v1/version` answers: which build and which database schema are live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    use super::{origin_allowed, panic_line};

    #[test]
    fn a_panic_is_logged_with_its_formatted_message_and_location() {
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&seen);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            *sink.lock().unwrap() = panic_line(info);
        }));
        let outcome = std::panic::catch_unwind(|| {
            let index: usize = "7".parse().unwrap();
            panic!("index {index} is out of range");
        });
        std::panic::set_hook(previous);
        assert!(outcome.is_err());
        let line = seen.lock().unwrap().clone();
        assert!(
            line.starts_with("panic: index 7 is out of range at src/api/mod.rs:"),
            "{line}"
        );
    }

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
