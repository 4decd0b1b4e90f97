//! The sandbox's in-memory model of one Cloudflare universe, its seed format and its persistence.
//!
//! The seed file and the persisted state share one JSON shape (`State`): every field has a
//! default, and `State::normalize` fills in ids, timestamps and version numbers a hand-written
//! seed leaves out, then checks that references (token → account, record → zone, ...) resolve.
//! So a state file is always a valid seed, and `docs/sandbox.schema.json` describes both.

mod model;
mod normalize;
mod store;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{RwLock, RwLockReadGuard};

use super::analytics::AnalyticsModel;
use super::auth::{Access, Product};
use super::error::SandboxError;

pub use self::{model::*, normalize::*, store::*};

/// A 32-hex-digit id, the shape Cloudflare uses for tags, zone ids, KV ids and token ids.
pub fn hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A hyphenated UUID, the shape of version, deployment and D1 ids.
pub fn uuid_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The current time in the RFC 3339 form Cloudflare returns (`2024-01-01T00:00:00.000000Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
