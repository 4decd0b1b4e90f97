//! The lock's state machine: one holder with a lease, a FIFO queue, and the operations that
//! move claims between them (acquire, heartbeat, release, cancel, force-unlock, expiry).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{
    valid_holder_id, AcquireOutcome, Claim, Lease, LockError, LockInfo, Requester, Waiter,
    MAX_LEASE_MS, MAX_WAITERS, MIN_LEASE_MS,
};

/// The lock of one environment, as stored by the `DeployLock` Durable Object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployLock {
    pub holder: Option<Lease>,
    pub queue: VecDeque<Waiter>,
}

impl DeployLock {
    /// Grants the lock when free, renews it for its own holder, or queues the claim (FIFO).
    /// A claim already queued keeps its place and counts as a sign of life. A holder id in
    /// use by another owner is refused: acquiring never takes over someone else's entry.
    ///
    /// # Errors
    /// `LeaseOutOfRange` or `InvalidHolderId` for a malformed claim, `NotYours` for another
    /// owner's holder id, `QueueFull` when `MAX_WAITERS` already wait.
    pub fn acquire(&mut self, claim: Claim, now_ms: i64) -> Result<AcquireOutcome, LockError> {
        if !(MIN_LEASE_MS..=MAX_LEASE_MS).contains(&claim.lease_ms) {
            return Err(LockError::LeaseOutOfRange(claim.lease_ms));
        }
        if !valid_holder_id(&claim.holder_id) {
            return Err(LockError::InvalidHolderId);
        }
        self.expire(now_ms);
        let requester = Requester::Owner(claim.owner.clone());
        if let Some(lease) = self.holder.as_mut() {
            if lease.claim.holder_id == claim.holder_id {
                if !requester.may_touch(&lease.claim) {
                    return Err(LockError::NotYours(claim.holder_id));
                }
                lease.lease_until_ms = now_ms + claim.lease_ms;
                return Ok(AcquireOutcome::Granted {
                    lease: lease.clone(),
                });
            }
            let holder = lease.clone();
            let position = match self.position_of(&claim.holder_id) {
                Some(position) => {
                    let waiter = &mut self.queue[position - 1];
                    if !requester.may_touch(&waiter.claim) {
                        return Err(LockError::NotYours(claim.holder_id));
                    }
                    waiter.last_seen_ms = Some(now_ms);
                    position
                }
                None if self.queue.len() >= MAX_WAITERS => return Err(LockError::QueueFull),
                None => {
                    self.queue.push_back(Waiter {
                        claim,
                        queued_at_ms: now_ms,
                        last_seen_ms: Some(now_ms),
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
    /// `NotHolder` when `holder_id` does not hold the lock (its lease may have expired, or it
    /// was force-unlocked), `NotYours` when the requester is not its owner.
    pub fn heartbeat(
        &mut self,
        holder_id: &str,
        by: &Requester,
        now_ms: i64,
    ) -> Result<Lease, LockError> {
        self.expire(now_ms);
        match self.holder.as_mut() {
            Some(lease) if lease.claim.holder_id == holder_id => {
                if !by.may_touch(&lease.claim) {
                    return Err(LockError::NotYours(holder_id.to_owned()));
                }
                lease.lease_until_ms = now_ms + lease.claim.lease_ms;
                Ok(lease.clone())
            }
            _ => Err(LockError::NotHolder(holder_id.to_owned())),
        }
    }

    /// Releases the lock; only its holder may. Returns the next holder, promoted from the queue.
    ///
    /// # Errors
    /// `NotHolder` when `holder_id` does not hold the lock, `NotYours` when the requester is
    /// not its owner.
    pub fn release(
        &mut self,
        holder_id: &str,
        by: &Requester,
        now_ms: i64,
    ) -> Result<Option<Lease>, LockError> {
        self.expire(now_ms);
        match &self.holder {
            Some(lease) if lease.claim.holder_id == holder_id => {
                if !by.may_touch(&lease.claim) {
                    return Err(LockError::NotYours(holder_id.to_owned()));
                }
                self.holder = None;
                self.promote(now_ms);
                Ok(self.holder.clone())
            }
            _ => Err(LockError::NotHolder(holder_id.to_owned())),
        }
    }

    /// Removes a waiting claim from the queue; only its owner (or the server) may.
    ///
    /// # Errors
    /// `NotQueued` when the claim is not waiting, `NotYours` when the requester is not its
    /// owner.
    pub fn cancel(&mut self, holder_id: &str, by: &Requester) -> Result<Waiter, LockError> {
        let index = self
            .queue
            .iter()
            .position(|w| w.claim.holder_id == holder_id)
            .ok_or_else(|| LockError::NotQueued(holder_id.to_owned()))?;
        if !by.may_touch(&self.queue[index].claim) {
            return Err(LockError::NotYours(holder_id.to_owned()));
        }
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

    /// Hands a free lock to the first waiter that is still alive; silent waiters ahead of it
    /// are dropped (they would otherwise hold everyone up for a whole lease).
    fn promote(&mut self, now_ms: i64) {
        if self.holder.is_some() {
            return;
        }
        while let Some(next) = self.queue.pop_front() {
            if next.is_stale(now_ms) {
                continue;
            }
            self.holder = Some(Lease {
                acquired_at_ms: now_ms,
                lease_until_ms: now_ms + next.claim.lease_ms,
                claim: next.claim,
            });
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::lock::test_claim as owned;

    fn claim(id: &str) -> Claim {
        owned(id, "token:ci")
    }

    /// A lock taken by `ids[0]` at time 0, the others queued behind it in order.
    fn lock_with(ids: &[&str]) -> DeployLock {
        let mut lock = DeployLock::default();
        for id in ids {
            lock.acquire(claim(id), 0).unwrap();
        }
        lock
    }

    /// Who holds the lock after `id` releases it at `at`.
    fn next_after(lock: &mut DeployLock, id: &str, at: i64) -> String {
        lock.release(id, &ci(), at)
            .unwrap()
            .unwrap()
            .claim
            .holder_id
    }

    fn ci() -> Requester {
        Requester::Owner("token:ci".to_owned())
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
        assert_eq!(next_after(&mut lock, "a", 2), "b");
        assert_eq!(next_after(&mut lock, "b", 3), "c");
        assert_eq!(lock.position_of("d"), Some(1));
    }

    #[test]
    fn acquiring_twice_renews_or_keeps_the_place() {
        let mut lock = lock_with(&["a", "b", "c"]);
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
        let mut lock = lock_with(&["a", "b"]);
        assert_eq!(
            lock.release("b", &ci(), 1),
            Err(LockError::NotHolder("b".to_owned()))
        );
        assert_eq!(
            lock.heartbeat("b", &ci(), 1),
            Err(LockError::NotHolder("b".to_owned()))
        );
        assert_eq!(
            lock.heartbeat("a", &ci(), 20_000).unwrap().lease_until_ms,
            50_000
        );
        assert_eq!(holder(&lock), "a");
    }

    #[test]
    fn an_expired_lease_frees_the_lock_for_the_next_waiter() {
        let mut lock = lock_with(&["a"]);
        lock.acquire(claim("b"), 1).unwrap();
        assert_eq!(lock.next_deadline_ms(), Some(30_000));
        assert!(lock.expire(29_999).is_empty());
        let expired = lock.expire(30_000);
        assert_eq!(expired[0].claim.holder_id, "a");
        assert_eq!(holder(&lock), "b");
        assert_eq!(lock.next_deadline_ms(), Some(60_000));
        assert!(lock.heartbeat("a", &ci(), 30_001).is_err());
    }

    #[test]
    fn a_late_expiry_gives_the_next_waiter_a_full_lease() {
        // The waiter could not heartbeat a lock it did not hold yet, so its lease starts when
        // the expiry is noticed, not when the previous lease ran out.
        let mut lock = lock_with(&["a", "b"]);
        // b keeps its place alive by acquiring again while it waits.
        lock.acquire(claim("b"), 25_000).unwrap();
        let expired = lock.expire(50_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(holder(&lock), "b");
        assert_eq!(lock.next_deadline_ms(), Some(80_000));
        assert!(lock.queue.is_empty());
        assert_eq!(lock.expire(80_000).len(), 1);
        assert!(lock.holder.is_none());
    }

    #[test]
    fn cancel_and_force_unlock() {
        let mut lock = lock_with(&["a", "b", "c"]);
        assert_eq!(lock.cancel("b", &ci()).unwrap().claim.holder_id, "b");
        assert_eq!(
            lock.cancel("b", &ci()),
            Err(LockError::NotQueued("b".to_owned()))
        );
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
        let lock = lock_with(&["a", "b"]);
        let json = serde_json::to_string(&lock).unwrap();
        let back: DeployLock = serde_json::from_str(&json).unwrap();
        assert_eq!(back, lock);
    }

    #[test]
    fn only_the_owner_or_the_server_touches_an_entry() {
        let mut lock = DeployLock::default();
        let mallory = Requester::Owner("token:mallory".to_owned());
        lock.acquire(owned("dep-a", "token:alice"), 0).unwrap();
        lock.acquire(owned("dep-b", "token:bob"), 0).unwrap();
        let not_yours = |id: &str| Err(LockError::NotYours(id.to_owned()));
        assert_eq!(
            lock.release("dep-a", &mallory, 1).map(|_| ()),
            not_yours("dep-a")
        );
        assert_eq!(
            lock.heartbeat("dep-a", &mallory, 1).map(|_| ()),
            not_yours("dep-a")
        );
        assert_eq!(
            lock.cancel("dep-b", &mallory).map(|_| ()),
            not_yours("dep-b")
        );
        // Acquiring with someone else's holder id neither renews nor joins their entry.
        assert_eq!(
            lock.acquire(owned("dep-a", "token:mallory"), 2).map(|_| ()),
            not_yours("dep-a")
        );
        assert_eq!(
            lock.acquire(owned("dep-b", "token:mallory"), 2).map(|_| ()),
            not_yours("dep-b")
        );
        // An entry stored before owners were recorded belongs to nobody who asks.
        let legacy = Requester::Owner(String::new());
        assert!(lock.heartbeat("dep-a", &legacy, 3).is_err());
        assert_eq!(holder(&lock), "dep-a");
        assert_eq!(lock.queue.len(), 1);
        // The owner, and the server acting for the deployment, may.
        let alice = Requester::Owner("token:alice".to_owned());
        assert!(lock.heartbeat("dep-a", &alice, 4).is_ok());
        assert!(lock.heartbeat("dep-a", &Requester::Server, 5).is_ok());
        let next = lock.release("dep-a", &Requester::Server, 6).unwrap();
        assert_eq!(next.unwrap().claim.holder_id, "dep-b");
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut lock = lock_with(&["holder"]);
        for i in 0..MAX_WAITERS {
            let outcome = lock.acquire(claim(&format!("w{i}")), 1).unwrap();
            assert!(
                matches!(outcome, AcquireOutcome::Queued { position, .. } if position == i + 1)
            );
        }
        assert_eq!(
            lock.acquire(claim("one-too-many"), 2),
            Err(LockError::QueueFull)
        );
        // A waiter already in line still keeps its place.
        assert!(matches!(
            lock.acquire(claim("w5"), 3).unwrap(),
            AcquireOutcome::Queued { position: 6, .. }
        ));
        lock.cancel("w0", &ci()).unwrap();
        assert!(lock.acquire(claim("now-there-is-room"), 4).is_ok());
    }

    #[test]
    fn a_silent_waiter_is_dropped_when_its_turn_comes() {
        let mut lock = lock_with(&["a"]);
        // `dead` queues once and never shows life again; `alive` renews its place.
        lock.acquire(claim("dead"), 0).unwrap();
        lock.acquire(claim("alive"), 0).unwrap();
        lock.heartbeat("a", &ci(), 20_000).unwrap();
        lock.acquire(claim("alive"), 40_000).unwrap();
        // a releases at 45 s: dead has been silent for 45 s, longer than its 30 s lease.
        let next = lock.release("a", &ci(), 45_000).unwrap().unwrap();
        assert_eq!(next.claim.holder_id, "alive");
        assert!(lock.queue.is_empty());
        // A waiter heard from within its lease is promoted as usual.
        let mut lock = lock_with(&["a"]);
        lock.acquire(claim("b"), 10_000).unwrap();
        lock.heartbeat("a", &ci(), 20_000).unwrap();
        assert_eq!(next_after(&mut lock, "a", 39_000), "b");
        // The same holds when the holder's lease runs out rather than being released.
        let mut lock = lock_with(&["a", "dead"]);
        lock.expire(31_000);
        assert_eq!(lock.holder, None);
        assert!(lock.queue.is_empty());
    }

    #[test]
    fn waiters_stored_before_last_seen_existed_count_from_their_queue_time() {
        let json = r#"{"holder":null,"queue":[]}"#;
        let lock: DeployLock = serde_json::from_str(json).unwrap();
        assert_eq!(lock, DeployLock::default());
        let waiter: Waiter = serde_json::from_str(
            r#"{"holder_id":"x","actor":"a","purpose":"p","lease_ms":30000,"queued_at_ms":100}"#,
        )
        .unwrap();
        assert_eq!(waiter.claim.owner, "");
        assert!(!waiter.is_stale(30_100));
        assert!(waiter.is_stale(30_101));
    }
}
