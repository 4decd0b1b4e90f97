//! The CLI's transport: reqwest over tokio.

use super::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// A reqwest client plus a start instant for `now_ms`.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    http: reqwest::Client,
    started: std::time::Instant,
}

impl Default for ReqwestTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl ReqwestTransport {
    #[must_use]
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .user_agent(concat!("clodo/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            started: std::time::Instant::now(),
        }
    }
}

/// The error and its causes: reqwest's own text hides the useful part (connection refused,
/// an untrusted certificate, a DNS failure) in its source chain.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

impl Transport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| TransportError::Connect(format!("bad method: {e}")))?;
        let mut builder = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(|e| {
            if e.is_connect() {
                TransportError::Connect(with_causes(&e))
            } else {
                TransportError::Io(with_causes(&e))
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError::Io(e.to_string()))?
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
