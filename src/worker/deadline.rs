//! Deadlines for every await that leaves the isolate (Durable Object calls, D1 in readiness,
//! outbound fetches): a call that never answers must become an error, not a request that
//! hangs until the runtime gives up on it.

use std::future::Future;
use std::time::Duration;

use futures::future::{select, Either};
use worker::Delay;

/// How long one Durable Object call may take. The objects answer from their own storage in
/// milliseconds; ten seconds only passes when the object is stuck or the runtime restarted it.
pub const OBJECT_CALL_MS: u64 = 10_000;

/// How long one outbound HTTP request (the Cloudflare API, health checks) may take, body
/// included. The API client's retry policy decides what happens after a timeout.
pub const OUTBOUND_FETCH_MS: u64 = 20_000;

/// Runs `fut` for at most `ms` milliseconds: `None` when the time ran out first. The
/// abandoned future is dropped; its JavaScript promise settles unobserved.
pub async fn within<F: Future>(ms: u64, fut: F) -> Option<F::Output> {
    let fut = std::pin::pin!(fut);
    let delay = std::pin::pin!(Delay::from(Duration::from_millis(ms)));
    match select(fut, delay).await {
        Either::Left((out, _)) => Some(out),
        Either::Right(_) => None,
    }
}
