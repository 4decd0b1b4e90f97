//! `ApiError`: the one error type of the HTTP layer, rendered once as an `ErrorBody`
//! (`{"error":{"code","message","hint"}}`) with the matching status. The CLI parses the same
//! `ErrorBody`, and the OpenAPI document's `Error` component is its schema.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Stable, machine-readable error codes. Clients match on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidJson,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A bounded resource is full (e.g. an environment lock's queue); retry later.
    TooManyRequests,
    Unavailable,
    Internal,
    /// The request is well formed but names something the server's records do not allow
    /// (e.g. a version that is not one of an A/B test's two).
    Unprocessable,
}

impl ErrorCode {
    /// Every code, for the OpenAPI document's enum. A new code goes here too; the test
    /// `all_lists_every_code` fails until it does.
    pub const ALL: [ErrorCode; 13] = [
        Self::BadRequest,
        Self::InvalidJson,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::TooManyRequests,
        Self::Unavailable,
        Self::Internal,
        Self::Unprocessable,
    ];

    /// The code as it travels (`not_found`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidJson => "invalid_json",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests => "too_many_requests",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::Unprocessable => "unprocessable",
        }
    }

    /// The HTTP status each code is always served with.
    #[must_use]
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// The schema is a plain string enum of `ALL` (derived, a doc comment on one variant would turn
/// it into a `oneOf`).
impl JsonSchema for ErrorCode {
    fn schema_name() -> Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let codes: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": codes })
    }
}

/// What every failed request answers: `{"error": {"code", "message", "hint"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// Every field is always present (`hint` may be `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("required" = ["code", "message", "hint"]))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// How to fix it, when there is something to say.
    pub hint: Option<String>,
}

/// An error a handler returns. `message` says what went wrong, `hint` how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub hint: Option<String>,
}

impl ApiError {
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn not_found(method: &str, path: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no route for {method} {path}"))
            .with_hint("see GET /api/v1/openapi.json for the routes this API serves")
    }

    #[must_use]
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}"),
        )
        .with_hint("check the method for this route in GET /api/v1/openapi.json")
    }

    #[must_use]
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than the {limit}-byte limit"),
        )
        .with_hint("send a smaller body; large configs belong in the repository, not the request")
    }

    /// An internal failure. The detail is for logs only: clients get a generic message so
    /// that nothing about storage or bindings leaks.
    #[must_use]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let detail = detail.to_string();
        #[cfg(target_arch = "wasm32")]
        worker_log(&detail);
        #[cfg(not(target_arch = "wasm32"))]
        eprintln!("internal error: {detail}");
        Self::new(ErrorCode::Internal, "internal error")
            .with_hint("retry; if it persists, report it with the time of the request")
    }

    #[must_use]
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, what)
    }

    /// The JSON body this error is rendered as.
    #[must_use]
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                hint: self.hint.clone(),
            },
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn worker_log(detail: &str) {
    worker::console_error!("internal error: {detail}");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code.status(), axum::Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_code_message_and_hint_with_the_codes_status() {
        let err = ApiError::not_found("GET", "/nope");
        assert_eq!(err.code.status(), StatusCode::NOT_FOUND);
        let body = serde_json::to_value(err.body()).unwrap();
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "no route for GET /nope");
        assert!(body["error"]["hint"].as_str().unwrap().contains("openapi"));
        let parsed: ErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(parsed, err.body());
    }

    #[test]
    fn internal_errors_do_not_leak_their_detail() {
        let err = ApiError::internal("D1_ERROR: no such table: secrets_of_team_a");
        assert_eq!(err.message, "internal error");
        assert!(!serde_json::to_string(&err.body())
            .unwrap()
            .contains("secrets_of_team_a"));
    }

    #[test]
    fn every_code_maps_to_an_error_status() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            let status = code.status();
            assert!(status.is_client_error() || status.is_server_error());
        }
    }

    #[test]
    fn all_lists_every_code() {
        // An exhaustive match: a new variant does not compile until it is placed here, and
        // its position must then be in `ALL`.
        fn position(code: ErrorCode) -> usize {
            match code {
                ErrorCode::BadRequest => 0,
                ErrorCode::InvalidJson => 1,
                ErrorCode::Unauthorized => 2,
                ErrorCode::Forbidden => 3,
                ErrorCode::NotFound => 4,
                ErrorCode::MethodNotAllowed => 5,
                ErrorCode::Conflict => 6,
                ErrorCode::PayloadTooLarge => 7,
                ErrorCode::UnsupportedMediaType => 8,
                ErrorCode::TooManyRequests => 9,
                ErrorCode::Unavailable => 10,
                ErrorCode::Internal => 11,
                ErrorCode::Unprocessable => 12,
            }
        }
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), i, "{code:?}");
        }
        let highest = ErrorCode::ALL.into_iter().map(position).max().unwrap();
        assert_eq!(highest + 1, ErrorCode::ALL.len());
    }
}
