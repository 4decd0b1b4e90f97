//! `QueryParams<T>`: axum's query-string extractor with its rejection rendered as the API's
//! JSON error (axum's own answers 400 in plain text, which no client of this API expects).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{ApiError, ErrorCode};

/// The query string parsed into `T`; a value of the wrong type is a `bad_request`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| QueryParams(value))
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("query string: {}", rejection.body_text()),
                )
                .with_hint("check the parameters against GET /api/v1/openapi.json")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    #[derive(Debug, serde::Deserialize)]
    struct Page {
        limit: Option<u32>,
    }

    fn parse(uri: &str) -> Result<Option<u32>, ApiError> {
        let (mut parts, ()) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        futures::executor::block_on(QueryParams::<Page>::from_request_parts(&mut parts, &()))
            .map(|QueryParams(p)| p.limit)
    }

    #[test]
    fn parses_typed_parameters() {
        assert_eq!(parse("/x?limit=5").unwrap(), Some(5));
        assert_eq!(parse("/x").unwrap(), None);
    }

    #[test]
    fn a_mistyped_parameter_is_a_json_bad_request() {
        let err = parse("/x?limit=-1").unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(err.message.contains("limit"), "{}", err.message);
        assert!(err.hint.is_some());
    }
}
