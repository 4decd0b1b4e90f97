//! The one error type of the sandbox and its single mapping to the Cloudflare v4 envelope.

use serde_json::{json, Value};

/// Everything that can go wrong while answering a request or starting the sandbox.
///
/// Each API variant carries the Cloudflare error code and HTTP status it is answered with, so the
/// mapping to the wire lives in one place (`status` / `envelope`).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No `Authorization` header (nor the legacy `X-Auth-*` pair): 9106.
    #[error("Missing X-Auth-Key, X-Auth-Email or Authorization headers")]
    MissingAuth,
    /// An `Authorization` header that is not `Bearer <token>`: 6003 with a 6111 chain.
    #[error("Invalid request headers")]
    MalformedAuth,
    /// A token the sandbox does not know: 9109.
    #[error("Invalid access token")]
    UnknownToken,
    /// A known token that is disabled or expired, or one that cannot read what it asked: 9109.
    #[error("Unauthorized to access requested resource")]
    Unauthorized,
    /// `/user/tokens/verify` with an account-owned or unknown token (or the reverse): 1000.
    #[error("Invalid API Token")]
    InvalidApiToken,
    /// The token cannot act on this account or zone, or lacks the product permission: 10000.
    #[error("Authentication error")]
    Forbidden,
    /// `/memberships` asked with an account-owned token: 9106.
    #[error("Account API tokens are not supported for this endpoint")]
    AccountTokenNotAllowed,
    /// An account or zone id that does not exist: 7003 + 7000.
    #[error("Could not route to {0}, perhaps your object identifier is invalid?")]
    BadIdentifier(String),
    /// No handler for this method and path: 7000 (also logged to stderr).
    #[error("No route for that URI: {method} {path}")]
    NoRoute { method: String, path: String },
    /// A resource lookup failed; the code depends on the product (7404, 10006, 10007, ...).
    #[error("{message}")]
    NotFound { code: u32, message: String },
    /// A request the sandbox understood but refuses; code and HTTP status are the real ones.
    #[error("{message}")]
    Rejected {
        status: u16,
        code: u32,
        message: String,
    },
    /// The request body is malformed (bad JSON, bad multipart): 10026-style 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request body is over the size limit of its endpoint.
    #[error("Request body is larger than the {limit} byte limit of this endpoint")]
    BodyTooLarge { limit: usize, code: u32 },
    /// Reading the seed or the state directory, or binding the port, failed.
    #[error("{0}")]
    Startup(String),
    /// Writing the state directory failed after a mutation.
    #[error("could not persist sandbox state: {0}")]
    Persist(String),
}

impl SandboxError {
    /// Shorthand for a not-found error with a product-specific code.
    pub fn not_found(code: u32, message: impl Into<String>) -> Self {
        SandboxError::NotFound {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for a refusal with a real Cloudflare code and status.
    pub fn rejected(status: u16, code: u32, message: impl Into<String>) -> Self {
        SandboxError::Rejected {
            status,
            code,
            message: message.into(),
        }
    }

    /// The HTTP status Cloudflare answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            SandboxError::MissingAuth | SandboxError::MalformedAuth => 400,
            SandboxError::UnknownToken | SandboxError::InvalidApiToken => 401,
            SandboxError::Unauthorized
            | SandboxError::Forbidden
            | SandboxError::AccountTokenNotAllowed => 403,
            SandboxError::BadIdentifier(_) => 400,
            SandboxError::NoRoute { .. } | SandboxError::NotFound { .. } => 404,
            SandboxError::Rejected { status, .. } => *status,
            SandboxError::BadRequest(_) => 400,
            SandboxError::BodyTooLarge { .. } => 413,
            SandboxError::Startup(_) | SandboxError::Persist(_) => 500,
        }
    }

    /// The `errors[]` entries of the envelope.
    pub fn errors(&self) -> Value {
        let message = self.to_string();
        match self {
            SandboxError::MissingAuth | SandboxError::AccountTokenNotAllowed => {
                json!([{ "code": 9106, "message": message }])
            }
            SandboxError::MalformedAuth => json!([{
                "code": 6003,
                "message": message,
                "error_chain": [{ "code": 6111, "message": "Invalid format for Authorization header" }]
            }]),
            SandboxError::UnknownToken | SandboxError::Unauthorized => {
                json!([{ "code": 9109, "message": message }])
            }
            SandboxError::InvalidApiToken => json!([{ "code": 1000, "message": message }]),
            SandboxError::Forbidden => json!([{ "code": 10000, "message": message }]),
            SandboxError::BadIdentifier(_) => json!([
                { "code": 7003, "message": message },
                { "code": 7000, "message": "No route for that URI" }
            ]),
            SandboxError::NoRoute { .. } => json!([{ "code": 7000, "message": message }]),
            SandboxError::NotFound { code, .. } | SandboxError::Rejected { code, .. } => {
                json!([{ "code": code, "message": message }])
            }
            SandboxError::BadRequest(_) => json!([{ "code": 10026, "message": message }]),
            SandboxError::BodyTooLarge { code, .. } => {
                json!([{ "code": code, "message": message }])
            }
            SandboxError::Startup(_) | SandboxError::Persist(_) => {
                json!([{ "code": 10013, "message": message }])
            }
        }
    }

    /// The whole Cloudflare failure envelope.
    pub fn envelope(&self) -> Value {
        json!({
            "success": false,
            "errors": self.errors(),
            "messages": [],
            "result": null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_identifier_carries_7003_then_7000() {
        let err = SandboxError::BadIdentifier("/accounts/nope/workers/scripts".into());
        let env = err.envelope();
        assert_eq!(env["success"], false);
        assert_eq!(env["errors"][0]["code"], 7003);
        assert_eq!(env["errors"][1]["code"], 7000);
        assert!(env["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/accounts/nope/workers/scripts"));
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn not_found_uses_product_code() {
        let err = SandboxError::not_found(10007, "This Worker does not exist on your account.");
        assert_eq!(err.status(), 404);
        assert_eq!(err.envelope()["errors"][0]["code"], 10007);
    }
}
