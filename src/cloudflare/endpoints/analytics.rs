//! The GraphQL analytics endpoint. Its answer is GraphQL's `{data, errors}`, not the v4
//! envelope, so it is called with [`Client::analytics`] and the body is read by
//! `rollout::analytics::read_sample`.

use crate::cloudflare::client::{CallError, Client};
use crate::cloudflare::transport::Transport;

/// `POST /graphql` with a query body (built by `rollout::analytics::query_body`).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsQuery {
    pub body: serde_json::Value,
}

impl AnalyticsQuery {
    /// Relative to the API base URL.
    pub const PATH: &'static str = "/graphql";
}

impl<T: Transport> Client<T> {
    /// Sends an analytics query (with the client's retries and timeouts) and returns the raw
    /// answer body of a 2xx.
    ///
    /// # Errors
    /// `CallError::Api` for another status, the other variants when no answer came.
    pub async fn analytics(&self, query: &AnalyticsQuery) -> Result<Vec<u8>, CallError> {
        self.request_raw("POST", AnalyticsQuery::PATH, Some(query.body.to_string()))
            .await
    }
}
