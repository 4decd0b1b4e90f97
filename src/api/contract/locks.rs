//! Contract types of the environment lock routes (`…/environments/{environment}/lock…`): the
//! request bodies, the answers (the lock core's `LockInfo`, `Lease`, `Waiter` and
//! `AcquireOutcome`, re-exported), and the one mapping of a lock refusal to an `ApiError`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ErrorCode};
pub use crate::lock::{AcquireOutcome, Lease, LockError, LockInfo, Waiter};
use crate::lock::{LockErrorCode, HOLDER_ID_PATTERN, MAX_LEASE_MS, MIN_LEASE_MS};

/// Longest `purpose` the acquire route accepts (bytes).
pub const MAX_PURPOSE_LEN: usize = 500;
/// Longest force-unlock reason (bytes, after trimming).
pub const MAX_REASON_LEN: usize = 1000;

/// `POST …/lock/acquire`: take the lock, or join its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireRequest {
    /// Your holder id (e.g. the deployment or CI job id).
    #[schemars(pattern(HOLDER_ID_PATTERN))]
    pub holder_id: String,
    /// What you are doing, shown to those waiting (default `deploy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_PURPOSE_LEN))]
    pub purpose: Option<String>,
    /// Lease length in milliseconds (default 60 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_LEASE_MS, max = MAX_LEASE_MS))]
    pub lease_ms: Option<i64>,
}

/// `POST …/lock/heartbeat`, `…/release` and `…/cancel`: the entry the caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HolderRequest {
    #[schemars(pattern(HOLDER_ID_PATTERN))]
    pub holder_id: String,
}

/// `POST …/lock/force-unlock`: break the current lease (admin, audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForceUnlockRequest {
    /// Why (kept in the audit log); 1-1000 bytes after trimming.
    #[schemars(length(min = 1, max = MAX_REASON_LEN), pattern(r"\S"))]
    pub reason: String,
}

/// The answer of `POST …/lock/release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("required" = ["next_holder"]))]
pub struct Released {
    /// Who holds the lock now (promoted from the queue), or null when it is free.
    pub next_holder: Option<Lease>,
}

/// The answer of `POST …/lock/force-unlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("required" = ["broken_lease", "lock", "reason"]))]
pub struct ForceUnlocked {
    /// The lease that was broken, or null when nobody held the lock.
    pub broken_lease: Option<Lease>,
    /// The lock afterwards (the head of the queue took over).
    pub lock: LockInfo,
    pub reason: String,
}

/// The HTTP error code and the hint for each kind of lock refusal.
#[must_use]
pub fn refusal(code: LockErrorCode) -> (ErrorCode, &'static str) {
    const SEE_THE_LOCK: &str = "GET the lock to see who holds it and who waits";
    match code {
        LockErrorCode::LeaseOutOfRange | LockErrorCode::InvalidHolderId => {
            (ErrorCode::BadRequest, SEE_THE_LOCK)
        }
        LockErrorCode::NotYours => (
            ErrorCode::Forbidden,
            "use the token that acquired it; an admin can break the lock with POST …/lock/force-unlock {reason} (audited)",
        ),
        LockErrorCode::QueueFull => (
            ErrorCode::TooManyRequests,
            "too many deploys are waiting for this environment; retry after some finish, or cancel stale ones",
        ),
        LockErrorCode::NotHolder | LockErrorCode::NotQueued => (ErrorCode::Conflict, SEE_THE_LOCK),
    }
}

impl From<LockError> for ApiError {
    fn from(err: LockError) -> Self {
        let (code, hint) = refusal(err.code());
        ApiError::new(code, err.to_string()).with_hint(hint)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn each_refusal_keeps_its_status() {
        let status = |code| refusal(code).0.status().as_u16();
        assert_eq!(status(LockErrorCode::LeaseOutOfRange), 400);
        assert_eq!(status(LockErrorCode::InvalidHolderId), 400);
        assert_eq!(status(LockErrorCode::NotYours), 403);
        assert_eq!(status(LockErrorCode::NotHolder), 409);
        assert_eq!(status(LockErrorCode::NotQueued), 409);
        assert_eq!(status(LockErrorCode::QueueFull), 429);
        let err = ApiError::from(LockError::NotHolder("dep-1".to_owned()));
        assert_eq!(err.code, ErrorCode::Conflict);
        assert_eq!(err.message, "`dep-1` does not hold this lock");
        assert!(err.hint.is_some());
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_and_default_what_is_optional() {
        let body: AcquireRequest = serde_json::from_str(r#"{"holder_id":"dep-1"}"#).unwrap();
        assert_eq!(body.lease_ms, None);
        assert_eq!(body.purpose, None);
        assert!(serde_json::from_str::<HolderRequest>(r#"{"holder_id":"a","owner":"x"}"#).is_err());
        assert!(serde_json::from_str::<ForceUnlockRequest>(r#"{"reason":"r","x":1}"#).is_err());
    }

    /// The answers always carry every field (null when empty), and the document says so:
    /// each schema requires exactly its properties (`extend("required")` lists cannot
    /// drift from the fields), and a field that may be null allows null.
    #[test]
    fn answers_list_every_field_as_required() {
        let doc = crate::api::openapi::document("0.0.0");
        let schemas = &doc["components"]["schemas"];
        for name in ["Lease", "Waiter", "LockInfo", "Released", "ForceUnlocked"] {
            let schema = &schemas[name];
            let properties: Option<BTreeSet<String>> = schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect());
            let required = serde_json::from_value(schema["required"].clone()).ok();
            assert_eq!(properties, required, "{name}");
        }
        let nullable = |schema: &serde_json::Value| {
            let text = schema.to_string();
            text.contains("\"null\"")
        };
        assert!(nullable(&schemas["LockInfo"]["properties"]["holder"]));
        assert!(nullable(&schemas["Waiter"]["properties"]["last_seen_ms"]));
        assert!(nullable(&schemas["Released"]["properties"]["next_holder"]));
        assert!(nullable(
            &schemas["ForceUnlocked"]["properties"]["broken_lease"]
        ));
    }

    #[test]
    fn answers_have_the_fields_the_cli_reads() {
        let released = serde_json::to_value(Released { next_holder: None }).unwrap();
        assert_eq!(released, serde_json::json!({ "next_holder": null }));
        let info = LockInfo {
            held: false,
            holder: None,
            queue: vec![],
        };
        let forced = ForceUnlocked {
            broken_lease: None,
            lock: info,
            reason: "stuck".to_owned(),
        };
        let value = serde_json::to_value(&forced).unwrap();
        assert_eq!(value["lock"]["held"], false);
        assert_eq!(
            serde_json::from_value::<ForceUnlocked>(value).unwrap(),
            forced
        );
    }
}
