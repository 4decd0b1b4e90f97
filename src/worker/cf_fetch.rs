//! The Worker's transport for the Cloudflare API client: `worker::Fetch` (each exchange
//! bounded by `deadline::OUTBOUND_FETCH_MS`) and `Delay`.

use std::time::Duration;

use worker::{Delay, Fetch, Headers, Method, Request, RequestInit};

use super::deadline;
use crate::cloudflare::{HttpRequest, HttpResponse, Transport, TransportError};

/// Sends API calls with the runtime's `fetch`.
pub struct FetchTransport;

/// The runtime's method for an upper-case method name (`GET` for anything unknown).
pub(super) fn method(name: &str) -> Method {
    match name {
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        _ => Method::Get,
    }
}

impl Transport for FetchTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let fail = |e: worker::Error| TransportError::Connect(e.to_string());
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(fail)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method(&request.method))
            .with_headers(headers);
        if let Some(body) = &request.body {
            init.with_body(Some(wasm_bindgen::JsValue::from_str(body)));
        }
        let outgoing = Request::new_with_init(&request.url, &init).map_err(fail)?;
        // The whole exchange, body included, is bounded: a peer that accepts the connection
        // and never answers would otherwise hold the request (or the Rollout object's alarm)
        // until the runtime kills it. The client's retry policy treats it like a lost line.
        let exchange = async {
            let mut response = Fetch::Request(outgoing).send().await.map_err(fail)?;
            let status = response.status_code();
            let headers = response
                .headers()
                .entries()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let body = response
                .bytes()
                .await
                .map_err(|e| TransportError::Io(e.to_string()))?;
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        };
        deadline::within(deadline::OUTBOUND_FETCH_MS, exchange)
            .await
            .unwrap_or_else(|| {
                Err(TransportError::Io(format!(
                    "no complete answer within {} s",
                    deadline::OUTBOUND_FETCH_MS / 1000
                )))
            })
    }

    async fn sleep(&self, ms: u64) {
        Delay::from(Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        // Date.now() in workerd advances across I/O, which is what deadlines measure.
        worker::Date::now().as_millis()
    }
}
