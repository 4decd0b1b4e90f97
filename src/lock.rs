//! The deployment lock of one (project, environment): one holder with a lease, a FIFO queue.
//!
//! Pure state machine; the `DeployLock` Durable Object stores it and calls it with the current
//! time. Invariant after every operation: there is at most one holder, and when there is no
//! holder the queue is empty (the head of the queue is promoted as soon as the lock frees).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Shortest and longest lease a holder may ask for. A lease shorter than a heartbeat round
/// trip would flap; one longer than an hour would let a vanished CI job block a team.
pub const MIN_LEASE_MS: i64 = 5_000;
pub const MAX_LEASE_MS: i64 = 60 * 60 * 1000;

/// Who holds (or waits for) the lock and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The deployment (or other operation) id; the key for release, heartbeat and cancel.
    pub holder_id: String,
    /// The person or token that asked.
    pub actor: String,
    /// What the holder is doing, shown to people waiting.
    pub purpose: String,
    pub lease_ms: i64,
}

/// The current holder's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    #[serde(flatten)]
    pub claim: Claim,
    pub acquired_at_ms: i64,
    pub lease_until_ms: i64,
}

/// A claim waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    #[serde(flatten)]
    pub claim: Claim,
    pub queued_at_ms: i64,
}

/// What `acquire` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AcquireOutcome {
    /// The caller holds the lock now (or already did; the lease was renewed).
    Granted { lease: Lease },
    /// The caller waits; `position` 1 is next in line.
    Queued { position: usize, holder: Lease },
}

/// Why an operation on the lock was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error("lease of {0} ms is outside {MIN_LEASE_MS}..={MAX_LEASE_MS} ms")]
    LeaseOutOfRange(i64),
    #[error("holder id must be 1 to 128 characters of letters, digits, '-', '_', '.' or ':'")]
    InvalidHolderId,
    #[error("`{0}` does not hold this lock")]
    NotHolder(String),
    #[error("`{0}` is not waiting for this lock")]
    NotQueued(String),
}

/// The lock of one environment, as stored by the `DeployLock` Durable Object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployLock {
    pub holder: Option<Lease>,
    pub queue: VecDeque<Waiter>,
}

/// A read-only view for `lock status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockInfo {
    pub held: bool,
    pub holder: Option<Lease>,
    pub queue: Vec<Waiter>,
}

fn valid_holder_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

impl DeployLock {
    /// Grants the lock when free, renews it for its own holder, or queues the claim (FIFO).
    /// A claim already queued keeps its place.
    ///
    /// # Errors
    /// `LeaseOutOfRange` or `InvalidHolderId` for a malformed claim.
    pub fn acquire(&mut self, claim: Claim, now_ms: i64) -> Result<AcquireOutcome, LockError> {
        if !(MIN_LEASE_MS..=MAX_LEASE_MS).contains(&claim.lease_ms) {
            return Err(LockError::LeaseOutOfRange(claim.lease_ms));
        }
        if !valid_holder_id(&claim.holder_id) {
            return Err(LockError::InvalidHolderId);
        }
        self.expire(now_ms);
        if let Some(lease) = self.holder.as_mut() {
            if lease.claim.holder_id == claim.holder_id {
                lease.lease_until_ms = now_ms + claim.lease_ms;
                return Ok(AcquireOutcome::Granted {
                    lease: lease.clone(),
                });
            }
            let holder = lease.clone();
            let position = match self.position_of(&claim.holder_id) {
                Some(position) => position,
                None => {
                    self.queue.push_back(Waiter {
                        claim,
                        queued_at_ms: now_ms,
                    });
                    self.queue.len()
                }
            };
            return Ok(AcquireOutcome::Queued { position, holder });
        }
        let lease = Lease {
            acquired_at_ms: now_ms,
            lease_until_ms: now_ms + claim.lease_ms,
            claim,
        };
        self.holder = Some(lease.clone());
        Ok(AcquireOutcome::Granted { lease })
    }

    /// Extends the holder's lease by its lease length from now.
    ///
    /// # Errors
    /// `NotHolder` when `holder_id` does not hold the lock (its lease may have expired).
    pub fn heartbeat(&mut self, holder_id: &str, now_ms: i64) -> Result<Lease, LockError> {
        self.expire(now_ms);
        match self.holder.as_mut() {
            Some(lease) if lease.claim.holder_id == holder_id => {
                lease.lease_until_ms = now_ms + lease.claim.lease_ms;
                Ok(lease.clone())
            }
            _ => Err(LockError::NotHolder(holder_id.to_owned())),
        }
    }

    /// Releases the lock; only its holder may. Returns the next holder, promoted from the queue.
    ///
    /// # Errors
    /// `NotHolder` when `holder_id` does not hold the lock.
    pub fn release(&mut self, holder_id: &str, now_ms: i64) -> Result<Option<Lease>, LockError> {
        self.expire(now_ms);
        match &self.holder {
            Some(lease) if lease.claim.holder_id == holder_id => {
                self.holder = None;
                self.promote(now_ms);
                Ok(self.holder.clone())
            }
            _ => Err(LockError::NotHolder(holder_id.to_owned())),
        }
    }

    /// Removes a waiting claim from the queue.
    ///
    /// # Errors
    /// `NotQueued` when the claim is not waiting.
    pub fn cancel(&mut self, holder_id: &str) -> Result<Waiter, LockError> {
        let index = self
            .queue
            .iter()
            .position(|w| w.claim.holder_id == holder_id)
            .ok_or_else(|| LockError::NotQueued(holder_id.to_owned()))?;
        Ok(self.queue.remove(index).expect("index from position"))
    }

    /// Takes the lock from whoever holds it (an admin's audited action). Returns the lease
    /// that was broken; the next waiter is promoted.
    pub fn force_unlock(&mut self, now_ms: i64) -> Option<Lease> {
        let broken = self.holder.take();
        self.promote(now_ms);
        broken
    }

    /// Frees the lock when its lease has run out, promoting the next waiter with a fresh lease
    /// from `now_ms`. Returns the expired lease, if any.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Lease> {
        let mut expired = Vec::new();
        while let Some(lease) = &self.holder {
            if lease.lease_until_ms > now_ms {
                break;
            }
            expired.push(self.holder.take().expect("checked above"));
            self.promote(now_ms);
        }
        expired
    }

    /// When the current lease runs out: the time the Durable Object's alarm should fire.
    #[must_use]
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.holder.as_ref().map(|l| l.lease_until_ms)
    }

    /// 1-based queue position of a waiting claim.
    #[must_use]
    pub fn position_of(&self, holder_id: &str) -> Option<usize> {
        self.queue
            .iter()
            .position(|w| w.claim.holder_id == holder_id)
            .map(|i| i + 1)
    }

    #[must_use]
    pub fn info(&self) -> LockInfo {
        LockInfo {
            held: self.holder.is_some(),
            holder: self.holder.clone(),
            queue: self.queue.iter().cloned().collect(),
        }
    }

    fn promote(&mut self, now_ms: i64) {
        if self.holder.is_none() {
            if let Some(next) = self.queue.pop_front() {
                self.holder = Some(Lease {
                    acquired_at_ms: now_ms,
                    lease_until_ms: now_ms + next.claim.lease_ms,
                    claim: next.claim,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: &str) -> Claim {
        Claim {
            holder_id: id.to_owned(),
            actor: "ci".to_owned(),
            purpose: "deploy".to_owned(),
            lease_ms: 30_000,
        }
    }

    fn holder(lock: &DeployLock) -> &str {
        &lock.holder.as_ref().unwrap().claim.holder_id
    }

    #[test]
    fn first_claim_is_granted_and_later_ones_queue_in_order() {
        let mut lock = DeployLock::default();
        assert!(matches!(
            lock.acquire(claim("a"), 0).unwrap(),
            AcquireOutcome::Granted { .. }
        ));
        for (i, id) in ["b", "c", "d"].into_iter().enumerate() {
            match lock.acquire(claim(id), 1).unwrap() {
                AcquireOutcome::Queued { position, holder } => {
                    assert_eq!(position, i + 1);
                    assert_eq!(holder.claim.holder_id, "a");
                }
                other => panic!("expected queued, got {other:?}"),
            }
        }
        assert_eq!(lock.release("a", 2).unwrap().unwrap().claim.holder_id, "b");
        assert_eq!(lock.release("b", 3).unwrap().unwrap().claim.holder_id, "c");
        assert_eq!(lock.position_of("d"), Some(1));
    }

    #[test]
    fn acquiring_twice_renews_or_keeps_the_place() {
        let mut lock = DeployLock::default();
        lock.acquire(claim("a"), 0).unwrap();
        lock.acquire(claim("b"), 0).unwrap();
        lock.acquire(claim("c"), 0).unwrap();
        match lock.acquire(claim("b"), 10).unwrap() {
            AcquireOutcome::Queued { position, .. } => assert_eq!(position, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(lock.queue.len(), 2);
        match lock.acquire(claim("a"), 10_000).unwrap() {
            AcquireOutcome::Granted { lease } => assert_eq!(lease.lease_until_ms, 40_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_holder_releases_or_heartbeats() {
        let mut lock = DeployLock::default();
        lock.acquire(claim("a"), 0).unwrap();
        lock.acquire(claim("b"), 0).unwrap();
        assert_eq!(
            lock.release("b", 1),
            Err(LockError::NotHolder("b".to_owned()))
        );
        assert_eq!(
            lock.heartbeat("b", 1),
            Err(LockError::NotHolder("b".to_owned()))
        );
        assert_eq!(lock.heartbeat("a", 20_000).unwrap().lease_until_ms, 50_000);
        assert_eq!(holder(&lock), "a");
    }

    #[test]
    fn an_expired_lease_frees_the_lock_for_the_next_waiter() {
        let mut lock = DeployLock::default();
        lock.acquire(claim("a"), 0).unwrap();
        lock.acquire(claim("b"), 1).unwrap();
        assert_eq!(lock.next_deadline_ms(), Some(30_000));
        assert!(lock.expire(29_999).is_empty());
        let expired = lock.expire(30_000);
        assert_eq!(expired[0].claim.holder_id, "a");
        assert_eq!(holder(&lock), "b");
        assert_eq!(lock.next_deadline_ms(), Some(60_000));
        assert!(lock.heartbeat("a", 30_001).is_err());
    }

    #[test]
    fn a_late_expiry_gives_the_next_waiter_a_full_lease() {
        // The waiter could not heartbeat a lock it did not hold yet, so its lease starts when
        // the expiry is noticed, not when the previous lease ran out.
        let mut lock = DeployLock::default();
        lock.acquire(claim("a"), 0).unwrap();
        lock.acquire(claim("b"), 0).unwrap();
        let expired = lock.expire(100_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(holder(&lock), "b");
        assert_eq!(lock.next_deadline_ms(), Some(130_000));
        assert!(lock.queue.is_empty());
        assert_eq!(lock.expire(130_000).len(), 1);
        assert!(lock.holder.is_none());
    }

    #[test]
    fn cancel_and_force_unlock() {
        let mut lock = DeployLock::default();
        lock.acquire(claim("a"), 0).unwrap();
        lock.acquire(claim("b"), 0).unwrap();
        lock.acquire(claim("c"), 0).unwrap();
        assert_eq!(lock.cancel("b").unwrap().claim.holder_id, "b");
        assert_eq!(lock.cancel("b"), Err(LockError::NotQueued("b".to_owned())));
        assert_eq!(lock.force_unlock(5).unwrap().claim.holder_id, "a");
        assert_eq!(holder(&lock), "c");
    }

    #[test]
    fn malformed_claims_are_refused() {
        let mut lock = DeployLock::default();
        let mut short = claim("a");
        short.lease_ms = 10;
        assert_eq!(lock.acquire(short, 0), Err(LockError::LeaseOutOfRange(10)));
        assert_eq!(
            lock.acquire(claim("a b"), 0),
            Err(LockError::InvalidHolderId)
        );
        assert_eq!(lock.acquire(claim(""), 0), Err(LockError::InvalidHolderId));
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let mut lock = DeployLock::default();
        lock.acquire(claim("a"), 0).unwrap();
        lock.acquire(claim("b"), 0).unwrap();
        let json = serde_json::to_string(&lock).unwrap();
        let back: DeployLock = serde_json::from_str(&json).unwrap();
        assert_eq!(back, lock);
    }
}
