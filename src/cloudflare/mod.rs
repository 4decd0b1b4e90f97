//! The Cloudflare API v4 as plain data: the response envelope, a transport trait implemented
//! once per runtime (reqwest in the CLI, `worker::Fetch` in the Worker), a client that adds
//! retries with backoff, per-call timeouts, an overall deadline, pagination and a call count,
//! every endpoint Clodo calls described once (`endpoints`), and a client bound to one account
//! for the Workers calls the CLI and the rollout make (`AccountClient`).

mod account_client;
mod affinity;
mod client;
pub mod endpoints;
mod envelope;
mod pages_d1_client;
mod path;
#[cfg(not(target_arch = "wasm32"))]
mod reqwest_transport;
mod transport;

pub use account_client::AccountClient;
pub use client::{AttemptFailure, BadAnswer, CallError, Client, RetryPolicy};
pub use envelope::{CfError, Envelope};
pub use pages_d1_client::PAGES_PROJECT_NOT_FOUND;
pub use path::{api_path, check_path, segment, InvalidSegment, UnsafePath};
#[cfg(not(target_arch = "wasm32"))]
pub use reqwest_transport::ReqwestTransport;
pub use transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// The real API; `CLOUDFLARE_API_BASE_URL` overrides it (the sandbox, tests).
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
