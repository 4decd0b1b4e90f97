//! The deployment lock of one (project, environment): one holder with a lease, a FIFO queue.
//!
//! Pure state machine (`queue`); the `DeployLock` Durable Object stores it and calls it with
//! the current time through the typed operations of `protocol`. Invariant after every
//! operation: there is at most one holder, and when there is no holder the queue is empty (the
//! head of the queue is promoted as soon as the lock frees).
//!
//! Who may touch an entry comes from the server's record, never from the request: each claim
//! carries the `owner` the API layer derived from the caller's token. Only that owner (or the
//! server itself, acting for a deployment: `Requester::Server`) may heartbeat, release or
//! cancel it; anyone else needs the admin's audited force-unlock.
//!
//! `Lease`, `Waiter`, `LockInfo` and `AcquireOutcome` are also the public API's answers
//! (re-exported by `api::contract::locks`), so they derive `JsonSchema`.

pub mod audit;
pub mod journal;
pub mod protocol;
mod queue;

pub use queue::DeployLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Shortest and longest lease a holder may ask for. A lease shorter than a heartbeat round
/// trip would flap; one longer than an hour would let a vanished CI job block a team.
pub const MIN_LEASE_MS: i64 = 5_000;
pub const MAX_LEASE_MS: i64 = 60 * 60 * 1000;
/// Most claims that may wait behind the holder; more is a runaway loop, not a team.
pub const MAX_WAITERS: usize = 100;
/// The holder ids `valid_holder_id` accepts, as a JSON Schema pattern for the API document.
pub const HOLDER_ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,128}$";

/// Who holds (or waits for) the lock and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Claim {
    /// The deployment (or other operation) id: what people see and what the deployment's own
    /// transitions look for.
    pub holder_id: String,
    /// The person or token that asked (for display and audit).
    pub actor: String,
    /// What the holder is doing, shown to people waiting.
    pub purpose: String,
    pub lease_ms: i64,
    /// `token:<id>` of the token that acquired it (empty for entries stored before owners
    /// were recorded); only it may renew, release or cancel the entry. Set by the API from
    /// the caller's token, never from the request; an empty owner only the server or a
    /// force-unlock can end.
    #[serde(default)]
    pub owner: String,
}

/// The current holder's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
// Every field is always in the answer, though stored entries may lack `owner` (see
// `api::contract::locks::tests::answers_list_every_field_as_required`).
#[schemars(extend("required" = ["holder_id", "actor", "purpose", "lease_ms", "owner", "acquired_at_ms", "lease_until_ms"]))]
pub struct Lease {
    #[serde(flatten)]
    pub claim: Claim,
    pub acquired_at_ms: i64,
    pub lease_until_ms: i64,
}

/// A claim waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("required" = ["holder_id", "actor", "purpose", "lease_ms", "owner", "queued_at_ms", "last_seen_ms"]))]
pub struct Waiter {
    #[serde(flatten)]
    pub claim: Claim,
    pub queued_at_ms: i64,
    /// When the waiter last acquired again (a sign of life); a waiter silent for longer than
    /// its lease is dropped when its turn comes.
    #[serde(default)]
    pub last_seen_ms: Option<i64>,
}

impl Waiter {
    fn last_seen(&self) -> i64 {
        self.last_seen_ms.unwrap_or(self.queued_at_ms)
    }

    /// Whether the waiter has been silent for longer than its own lease: a CLI that died in
    /// the queue, which must not be handed the lock and hold everyone up for a full lease.
    #[must_use]
    pub fn is_stale(&self, now_ms: i64) -> bool {
        now_ms - self.last_seen() > self.claim.lease_ms
    }
}

/// Who asks for an operation on an existing entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requester {
    /// The control plane itself, acting for the deployment named by the holder id (its
    /// lifecycle frees the lock, its rollout renews it). Never derived from a request field.
    Server,
    /// An API caller, identified by the owner string the API derived from its token.
    Owner(String),
}

impl Requester {
    fn may_touch(&self, claim: &Claim) -> bool {
        match self {
            Requester::Server => true,
            Requester::Owner(owner) => !owner.is_empty() && *owner == claim.owner,
        }
    }
}

/// What `acquire` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AcquireOutcome {
    /// The caller holds the lock now (or already did; the lease was renewed).
    Granted { lease: Lease },
    /// The caller waits; `position` 1 is next in line.
    Queued {
        #[schemars(range(min = 1))]
        position: usize,
        holder: Lease,
    },
}

/// Why an operation on the lock was refused. It travels from the Durable Object to the
/// Worker as `{"code": "...", "detail": ...}`, so the Worker maps the code, not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
pub enum LockError {
    #[error("lease of {0} ms is outside {MIN_LEASE_MS}..={MAX_LEASE_MS} ms")]
    LeaseOutOfRange(i64),
    #[error("holder id must be 1 to 128 characters of letters, digits, '-', '_', '.' or ':'")]
    InvalidHolderId,
    #[error("`{0}` does not hold this lock")]
    NotHolder(String),
    #[error("`{0}` is not waiting for this lock")]
    NotQueued(String),
    #[error("`{0}` was acquired by another token; only its holder may renew, release or cancel it (an admin can force-unlock)")]
    NotYours(String),
    #[error("{MAX_WAITERS} claims are already waiting for this lock")]
    QueueFull,
}

/// The kind of a `LockError` without its detail: what callers match on (the Worker maps it to
/// an HTTP status once, the rollout treats `NotHolder` as a lost lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockErrorCode {
    LeaseOutOfRange,
    InvalidHolderId,
    NotHolder,
    NotQueued,
    NotYours,
    QueueFull,
}

impl LockErrorCode {
    /// Every code; the protocol tests check each `LockError` maps into this list.
    pub const ALL: [LockErrorCode; 6] = [
        Self::LeaseOutOfRange,
        Self::InvalidHolderId,
        Self::NotHolder,
        Self::NotQueued,
        Self::NotYours,
        Self::QueueFull,
    ];
}

impl LockError {
    #[must_use]
    pub fn code(&self) -> LockErrorCode {
        match self {
            Self::LeaseOutOfRange(_) => LockErrorCode::LeaseOutOfRange,
            Self::InvalidHolderId => LockErrorCode::InvalidHolderId,
            Self::NotHolder(_) => LockErrorCode::NotHolder,
            Self::NotQueued(_) => LockErrorCode::NotQueued,
            Self::NotYours(_) => LockErrorCode::NotYours,
            Self::QueueFull => LockErrorCode::QueueFull,
        }
    }
}

/// A read-only view of the lock: the answer of `GET …/lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("required" = ["held", "holder", "queue"]))]
pub struct LockInfo {
    pub held: bool,
    pub holder: Option<Lease>,
    pub queue: Vec<Waiter>,
}

impl LockInfo {
    /// Whether `holder_id` holds the lock right now (a deployment may only start then).
    #[must_use]
    pub fn is_held_by(&self, holder_id: &str) -> bool {
        self.holder
            .as_ref()
            .is_some_and(|lease| lease.claim.holder_id == holder_id)
    }
}

/// Whether `id` is a holder id the lock accepts (`HOLDER_ID_PATTERN`).
#[must_use]
pub fn valid_holder_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// A 30-second claim by actor `ci` for the tests of the lock and its protocol.
#[cfg(test)]
pub(crate) fn test_claim(holder_id: &str, owner: &str) -> Claim {
    Claim {
        holder_id: holder_id.to_owned(),
        actor: "ci".to_owned(),
        purpose: "deploy".to_owned(),
        lease_ms: 30_000,
        owner: owner.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(id: &str) -> Lease {
        Lease {
            claim: test_claim(id, "token:ci"),
            acquired_at_ms: 0,
            lease_until_ms: 30_000,
        }
    }

    #[test]
    fn lock_info_knows_its_holder() {
        let free = LockInfo {
            held: false,
            holder: None,
            queue: vec![],
        };
        assert!(!free.is_held_by("a"));
        let held = LockInfo {
            held: true,
            holder: Some(lease("a")),
            queue: vec![],
        };
        assert!(held.is_held_by("a"));
        assert!(!held.is_held_by("b"));
    }

    #[test]
    fn answers_keep_their_flat_wire_shape() {
        // The API has always answered a lease as one flat object, and the CLI reads it so.
        let value = serde_json::to_value(lease("a")).unwrap();
        assert_eq!(value["holder_id"], "a");
        assert_eq!(value["lease_until_ms"], 30_000);
        let granted = AcquireOutcome::Granted { lease: lease("a") };
        let value = serde_json::to_value(&granted).unwrap();
        assert_eq!(value["outcome"], "granted");
        assert_eq!(value["lease"]["owner"], "token:ci");
        let back: AcquireOutcome = serde_json::from_value(value).unwrap();
        assert_eq!(back, granted);
    }
}
