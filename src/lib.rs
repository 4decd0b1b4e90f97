//! Clodo: the Worker (compiled to wasm32) and the pure core shared with the native CLI.
//!
//! Module boundary: everything outside `worker` is plain Rust with no `worker::` types, so it
//! is unit-tested natively with `cargo test`. `worker` holds the axum routes, Durable Object
//! shells and D1 stores and is only compiled for wasm32. `cli` is native only; `sandbox` is the
//! `clodo-sandbox` crate (crates/clodo-sandbox), re-exported natively for `clodo sandbox` and
//! the tests.

pub mod api;
pub mod assess;
pub mod cloudflare;
pub mod config;
pub mod control;
pub mod deploy;
pub mod integrations;
pub mod lock;
pub mod notify;
pub mod outbox;
pub mod rollout;
// `clodo plan`, `clodo drift` and `clodo export` (issue 17).
pub mod iac;
pub mod plan;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub use clodo_sandbox as sandbox;

#[cfg(target_arch = "wasm32")]
mod worker;

/// The version of this build, shared by the Worker's `/api/v1/version` and `clodo --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit this build came from, injected by the build (`CLODO_GIT_SHA`), else "unknown".
pub const GIT_SHA: &str = match option_env!("CLODO_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};
