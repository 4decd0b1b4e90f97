//! `JsonBody<T>`: a JSON request-body extractor with a hard size limit and `ApiError` rejections.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::{ApiError, ErrorCode};

/// The largest request body the API accepts. Configs and webhook payloads are far smaller;
/// the limit keeps an untrusted client from making the isolate buffer megabytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body, read with the `MAX_BODY_BYTES` limit and parsed into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body_bytes(req).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The bytes of a request body that says it is JSON. Not generic, so its code is linked once
/// rather than once per body type (the Worker's bundle size, docs/performance.md).
async fn json_body_bytes(req: Request) -> Result<axum::body::Bytes, ApiError> {
    require_json(req.headers())?;
    read_limited(req.into_body()).await
}

/// Refuses a request whose `content-type` does not say JSON.
///
/// # Errors
/// `UnsupportedMediaType`, with the header to send.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(
            ApiError::new(ErrorCode::UnsupportedMediaType, "request body must be JSON")
                .with_hint("send the header `content-type: application/json`"),
        )
    }
}

/// Reads a whole body, refusing it once it passes `MAX_BODY_BYTES`.
///
/// # Errors
/// `PayloadTooLarge` past the limit, `BadRequest` when the body stream fails.
pub async fn read_limited(body: Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || err.to_string().contains("length limit");
            if too_large {
                ApiError::payload_too_large(MAX_BODY_BYTES)
            } else {
                ApiError::new(ErrorCode::BadRequest, format!("could not read body: {err}"))
            }
        })
}

/// Parses JSON, reporting line and column of the first problem.
///
/// # Errors
/// `InvalidJson` with the position and serde's description.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_array(bytes)?;
    let err = match serde_json::from_slice(bytes) {
        Ok(parsed) => return Ok(parsed),
        Err(err) => err,
    };
    // The retry parses bytes again with the same `from_slice`: one deserializer per body type
    // in the Worker's bundle, not a second one over `serde_json::Value`.
    if let Some(rewritten) = with_integral_numbers_as_integers(bytes, &err) {
        if let Ok(parsed) = serde_json::from_slice(&rewritten) {
            return Ok(parsed);
        }
    }
    Err(invalid_body(&err))
}

/// Every request body is a JSON object, but serde's derived structs also accept an array of
/// their fields in order (`[null]` was a valid environment change); the reliability suite's
/// property tests found it (tests/reliability_input.rs).
fn refuse_array(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "request body is a JSON array (line 1): it must be a JSON object",
        )
        .with_hint("send an object, `{...}`, as GET /api/v1/openapi.json describes"));
    }
    Ok(())
}

/// JSON (and the OpenAPI document's `integer`) counts `5.0` as an integer; serde's integer
/// types refuse it. When the body's problem is of that kind (a data error) and it has such
/// numbers, the body written again with them as integers, so a schema-valid request is not
/// refused; `None` otherwise.
fn with_integral_numbers_as_integers(bytes: &[u8], err: &serde_json::Error) -> Option<Vec<u8>> {
    if err.classify() != serde_json::error::Category::Data {
        return None;
    }
    let mut value = serde_json::from_slice::<serde_json::Value>(bytes).ok()?;
    if !integral_numbers_as_integers(&mut value) {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

/// The refusal of a body serde could not read, with the line and column of the problem.
fn invalid_body(err: &serde_json::Error) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidJson,
        format!(
            "request body is not valid: {err} (line {}, column {})",
            err.line(),
            err.column()
        ),
    )
    .with_hint("check the body against GET /api/v1/openapi.json")
}

/// Rewrites every number with no fractional part (within the range where `f64` is exact) as
/// an integer; says whether it changed anything.
fn integral_numbers_as_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => {
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, v| {
            integral_numbers_as_integers(v) | changed
        }),
        Value::Object(map) => map.values_mut().fold(false, |changed, v| {
            integral_numbers_as_integers(v) | changed
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Named {
        name: String,
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn json_request(body: impl Into<Body>) -> Request {
        Request::builder()
            .method("POST")
            .uri("/x")
            .header(CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap()
    }

    #[test]
    fn parses_a_valid_body() {
        let JsonBody(named) = block_on(JsonBody::<Named>::from_request(
            json_request(r#"{"name":"api"}"#),
            &(),
        ))
        .unwrap();
        assert_eq!(named.name, "api");
    }

    #[test]
    fn rejects_a_body_over_the_limit_with_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        let err = block_on(JsonBody::<Named>::from_request(json_request(big), &())).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn reports_where_the_json_is_broken() {
        let err = block_on(JsonBody::<Named>::from_request(
            json_request("{\n  \"name\": }"),
            &(),
        ))
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert!(err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn an_integer_written_with_a_zero_fraction_is_an_integer() {
        #[derive(Debug, serde::Deserialize)]
        struct Lease {
            lease_ms: i64,
            steps: Vec<f64>,
        }
        let lease: Lease = parse_json(br#"{"lease_ms": 438164.0, "steps": [50.0, 100]}"#).unwrap();
        assert_eq!(lease.lease_ms, 438_164);
        assert_eq!(lease.steps, vec![50.0, 100.0]);
        let err = parse_json::<Lease>(br#"{"lease_ms": 5.5, "steps": []}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert!(err.message.contains("line 1"), "{}", err.message);
    }

    #[test]
    fn refuses_a_struct_written_as_an_array_of_its_fields() {
        #[derive(Debug, serde::Deserialize)]
        struct Change {
            #[allow(dead_code)]
            name: Option<String>,
        }
        // serde alone reads `[null]` as `Change { name: None }`.
        let err = parse_json::<Change>(b" [null]").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert!(
            err.message.contains("must be a JSON object"),
            "{}",
            err.message
        );
    }

    #[test]
    fn refuses_a_body_that_is_not_declared_json() {
        let req = Request::builder()
            .method("POST")
            .uri("/x")
            .body(Body::from("name=api"))
            .unwrap();
        let err = block_on(JsonBody::<Named>::from_request(req, &())).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
    }
}
