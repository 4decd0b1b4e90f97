//! The one I/O seam of the API client: send a request, sleep, read the clock.
//!
//! No `Send` bounds: the Worker's JS-backed futures are `!Send`, and the CLI runs the client on
//! one task, joining futures rather than spawning them.

/// An outgoing request; `url` is absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// A response, body fully read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the connection failed mid-request: {0}")]
    Io(String),
}

/// Sends HTTP requests and keeps time. Implemented by reqwest + tokio natively and by
/// `worker::Fetch` + `Delay` in the Worker; unit tests use a scripted fake.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends one request and reads the whole body.
    ///
    /// # Errors
    /// `TransportError` when no complete response arrived.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
    /// Waits `ms` milliseconds.
    async fn sleep(&self, ms: u64);
    /// Milliseconds on a monotonic-enough clock, for deadlines and timing.
    fn now_ms(&self) -> u64;
}
