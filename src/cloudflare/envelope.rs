//! The `{success, errors, messages, result, result_info}` envelope every v4 endpoint answers with.

use serde::Deserialize;
use serde_json::Value;

/// One entry of `errors[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CfError {
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// A decoded envelope. Success is read from `success` alone: `messages` may carry codes on a
/// successful answer (a good token verify says code 10000 there), so they are never read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<CfError>,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub result_info: Option<Value>,
}

impl Envelope {
    /// Parses a body; an empty body (204/205) is a success with a null result.
    ///
    /// # Errors
    /// The JSON error when the body is not an envelope.
    pub fn parse(status: u16, body: &[u8]) -> Result<Self, serde_json::Error> {
        if body.iter().all(u8::is_ascii_whitespace) && (status == 204 || status == 205) {
            return Ok(Self {
                success: true,
                errors: vec![],
                result: Value::Null,
                result_info: None,
            });
        }
        serde_json::from_slice(body)
    }

    /// Whether any error has this code.
    #[must_use]
    pub fn has_code(&self, code: i64) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_ignores_codes_in_messages() {
        let env = Envelope::parse(
            200,
            br#"{"success":true,"errors":[],"messages":[{"code":10000,"message":"valid"}],"result":{"status":"active"}}"#,
        )
        .unwrap();
        assert!(env.success);
        assert!(!env.has_code(10000));
        assert_eq!(env.result["status"], "active");
    }

    #[test]
    fn failures_carry_their_codes_and_empty_bodies_succeed() {
        let env = Envelope::parse(
            404,
            br#"{"success":false,"errors":[{"code":7404,"message":"not found"}],"messages":[],"result":null}"#,
        )
        .unwrap();
        assert!(!env.success && env.has_code(7404));
        assert!(Envelope::parse(204, b"").unwrap().success);
        assert!(Envelope::parse(200, b"<html>").is_err());
    }
}
