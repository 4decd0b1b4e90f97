//! What one lock operation changed, as audit records, and which hold is stuck: the pure part
//! of "every lock change is audited, by the object itself" and of `lock.stuck`.
//!
//! The `DeployLock` object compares the lock before and after each operation (a request or
//! its alarm), so changes no request names (a lease that ran out, the queue's head taking
//! over, a silent waiter dropped) are recorded like the ones it was asked for. Renewals (a
//! heartbeat, a holder or waiter acquiring again) extend a lease or keep a place; they change
//! no holder and no queue member, so they are not audit entries.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{DeployLock, Lease, Waiter};

/// The actor of changes nobody asked for in that request: expiry by the alarm, the
/// hand-over to the next waiter, a silent waiter dropped.
pub const SYSTEM_ACTOR: &str = "clodo:deploy-lock";

/// How long a hold may last before it is reported as `lock.stuck`, unless the Worker's
/// `LOCK_STUCK_AFTER_SECS` says otherwise.
pub const DEFAULT_STUCK_AFTER_MS: i64 = 30 * 60 * 1000;

/// What started an operation, as far as the audit cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause<'a> {
    /// A request from the Worker; `released` names the holder it asked to release,
    /// `cancelled` the waiter it asked to remove, `forced` is an admin's force-unlock (the
    /// Worker writes that entry itself, with the reason).
    Request {
        actor: &'a str,
        released: Option<&'a str>,
        cancelled: Option<&'a str>,
        forced: bool,
    },
    /// The object's alarm (a lease that ran out).
    Alarm,
}

/// One audit entry of a lock change, as the object keeps it until it is in D1. `before` and
/// `after` are JSON text (the object's storage keeps plain strings, not JSON maps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The object's own sequence number: with the environment id, the entry's key in D1, so a
    /// flush that is retried after it committed writes nothing twice.
    pub seq: u64,
    pub at: i64,
    pub actor: String,
    /// `lock.acquire`, `lock.queue`, `lock.release`, `lock.handover`, `lock.expire`,
    /// `lock.cancel` or `lock.drop`.
    pub action: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A change before it gets its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub actor: String,
    pub action: &'static str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

fn lease_json(lease: &Lease) -> serde_json::Value {
    json!({
        "holder_id": lease.claim.holder_id,
        "actor": lease.claim.actor,
        "purpose": lease.claim.purpose,
        "owner": lease.claim.owner,
        "acquired_at_ms": lease.acquired_at_ms,
        "lease_until_ms": lease.lease_until_ms,
    })
}

fn waiter_json(waiter: &Waiter, position: Option<usize>) -> serde_json::Value {
    json!({
        "holder_id": waiter.claim.holder_id,
        "actor": waiter.claim.actor,
        "purpose": waiter.claim.purpose,
        "owner": waiter.claim.owner,
        "queued_at_ms": waiter.queued_at_ms,
        "position": position,
    })
}

/// The same hold: one holder id granted at one instant (a later grant to the same id is a
/// new hold).
fn same_hold(a: &Lease, b: &Lease) -> bool {
    a.claim.holder_id == b.claim.holder_id && a.acquired_at_ms == b.acquired_at_ms
}

/// The changes from `before` to `after` made by one operation, in the order they happened:
/// the old hold's end, the new holder, waiters removed, waiters added.
#[must_use]
pub fn changes(before: &DeployLock, after: &DeployLock, cause: &Cause<'_>) -> Vec<Change> {
    let (actor, released, cancelled, forced) = match cause {
        Cause::Request {
            actor,
            released,
            cancelled,
            forced,
        } => (*actor, *released, *cancelled, *forced),
        Cause::Alarm => (SYSTEM_ACTOR, None, None, false),
    };
    let system = || SYSTEM_ACTOR.to_owned();
    let mut out = Vec::new();
    let held_on = match (&before.holder, &after.holder) {
        (Some(old), Some(new)) => same_hold(old, new),
        _ => false,
    };
    if let (Some(old), false) = (&before.holder, held_on) {
        let ended = if forced {
            None
        } else if released == Some(old.claim.holder_id.as_str()) {
            Some(("lock.release", actor.to_owned()))
        } else {
            Some(("lock.expire", system()))
        };
        if let Some((action, who)) = ended {
            out.push(Change {
                actor: who,
                action,
                before: Some(lease_json(old)),
                after: None,
            });
        }
    }
    if let (Some(new), false) = (&after.holder, held_on) {
        let was_waiting = before
            .queue
            .iter()
            .any(|w| w.claim.holder_id == new.claim.holder_id);
        let (action, who) = if was_waiting {
            ("lock.handover", system())
        } else {
            ("lock.acquire", actor.to_owned())
        };
        out.push(Change {
            actor: who,
            action,
            before: before.holder.as_ref().map(lease_json),
            after: Some(lease_json(new)),
        });
    }
    let promoted = after.holder.as_ref().map(|l| l.claim.holder_id.as_str());
    for waiter in &before.queue {
        let id = waiter.claim.holder_id.as_str();
        if after.position_of(id).is_some() || promoted == Some(id) {
            continue;
        }
        let (action, who) = if cancelled == Some(id) {
            ("lock.cancel", actor.to_owned())
        } else {
            // Skipped by the hand-over: silent for longer than its lease.
            ("lock.drop", system())
        };
        out.push(Change {
            actor: who,
            action,
            before: Some(waiter_json(waiter, None)),
            after: None,
        });
    }
    for (i, waiter) in after.queue.iter().enumerate() {
        if before.position_of(&waiter.claim.holder_id).is_none() {
            out.push(Change {
                actor: actor.to_owned(),
                action: "lock.queue",
                before: None,
                after: Some(waiter_json(waiter, Some(i + 1))),
            });
        }
    }
    out
}

/// The hold a `lock.stuck` event was sent for: its holder id and grant time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldId {
    pub holder_id: String,
    pub acquired_at_ms: i64,
}

impl HoldId {
    #[must_use]
    pub fn of(lease: &Lease) -> Self {
        Self {
            holder_id: lease.claim.holder_id.clone(),
            acquired_at_ms: lease.acquired_at_ms,
        }
    }
}

/// When the current hold becomes stuck: `stuck_after_ms` after it was granted (renewals do
/// not reset it: a holder that heartbeats for hours is exactly what this reports).
#[must_use]
pub fn stuck_at(lease: &Lease, stuck_after_ms: i64) -> i64 {
    lease.acquired_at_ms.saturating_add(stuck_after_ms)
}

/// The hold to report as `lock.stuck` now, if any: held for `stuck_after_ms` or longer and
/// not reported yet (`reported` is the last hold reported; one event per hold).
#[must_use]
pub fn stuck_hold<'a>(
    lock: &'a DeployLock,
    reported: Option<&HoldId>,
    stuck_after_ms: i64,
    now_ms: i64,
) -> Option<&'a Lease> {
    let lease = lock.holder.as_ref()?;
    let already = reported.is_some_and(|r| *r == HoldId::of(lease));
    (!already && now_ms >= stuck_at(lease, stuck_after_ms)).then_some(lease)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{test_claim, Requester};

    fn request<'a>(actor: &'a str) -> Cause<'a> {
        Cause::Request {
            actor,
            released: None,
            cancelled: None,
            forced: false,
        }
    }

    fn actions(changes: &[Change]) -> Vec<(&'static str, &str)> {
        changes
            .iter()
            .map(|c| (c.action, c.actor.as_str()))
            .collect()
    }

    fn ci() -> Requester {
        Requester::Owner("token:ci".to_owned())
    }

    #[test]
    fn acquire_queue_release_handover_and_expiry_are_one_entry_each() {
        let mut lock = DeployLock::default();
        let before = lock.clone();
        lock.acquire(test_claim("a", "token:ci"), 0).unwrap();
        let got = changes(&before, &lock, &request("member:ana"));
        assert_eq!(actions(&got), [("lock.acquire", "member:ana")]);
        assert_eq!(got[0].after.as_ref().unwrap()["holder_id"], "a");

        let before = lock.clone();
        lock.acquire(test_claim("b", "token:ci"), 1).unwrap();
        let got = changes(&before, &lock, &request("member:bo"));
        assert_eq!(actions(&got), [("lock.queue", "member:bo")]);
        assert_eq!(got[0].after.as_ref().unwrap()["position"], 1);

        // Renewals and a waiter's sign of life change nobody: no entry.
        let before = lock.clone();
        lock.heartbeat("a", &ci(), 2).unwrap();
        lock.acquire(test_claim("b", "token:ci"), 3).unwrap();
        assert!(changes(&before, &lock, &request("member:ana")).is_empty());

        let before = lock.clone();
        lock.release("a", &ci(), 4).unwrap();
        let cause = Cause::Request {
            actor: "member:ana",
            released: Some("a"),
            cancelled: None,
            forced: false,
        };
        let got = changes(&before, &lock, &cause);
        assert_eq!(
            actions(&got),
            [
                ("lock.release", "member:ana"),
                ("lock.handover", SYSTEM_ACTOR)
            ]
        );
        assert_eq!(got[1].before.as_ref().unwrap()["holder_id"], "a");
        assert_eq!(got[1].after.as_ref().unwrap()["holder_id"], "b");

        let before = lock.clone();
        lock.expire(4 + 30_000);
        let got = changes(&before, &lock, &Cause::Alarm);
        assert_eq!(actions(&got), [("lock.expire", SYSTEM_ACTOR)]);
        assert_eq!(got[0].before.as_ref().unwrap()["holder_id"], "b");
    }

    #[test]
    fn cancel_drop_and_force_unlock() {
        let mut lock = DeployLock::default();
        for id in ["a", "b", "dead", "c"] {
            lock.acquire(test_claim(id, "token:ci"), 0).unwrap();
        }
        let before = lock.clone();
        lock.cancel("b", &ci()).unwrap();
        let cause = Cause::Request {
            actor: "token:t1",
            released: None,
            cancelled: Some("b"),
            forced: false,
        };
        assert_eq!(
            actions(&changes(&before, &lock, &cause)),
            [("lock.cancel", "token:t1")]
        );
        // `c` showed life, `dead` did not: the force-unlock at 40 s hands over to `c`, `dead`
        // is dropped, and the broken lease itself is the Worker's entry (with its reason).
        lock.heartbeat("a", &ci(), 25_000).unwrap();
        lock.acquire(test_claim("c", "token:ci"), 35_000).unwrap();
        let before = lock.clone();
        lock.force_unlock(40_000);
        let cause = Cause::Request {
            actor: "member:admin",
            released: None,
            cancelled: None,
            forced: true,
        };
        assert_eq!(
            actions(&changes(&before, &lock, &cause)),
            [("lock.handover", SYSTEM_ACTOR), ("lock.drop", SYSTEM_ACTOR)]
        );
    }

    #[test]
    fn an_acquire_that_finds_an_expired_lease_records_its_end_first() {
        let mut lock = DeployLock::default();
        lock.acquire(test_claim("a", "token:ci"), 0).unwrap();
        let before = lock.clone();
        lock.acquire(test_claim("b", "token:ci"), 31_000).unwrap();
        assert_eq!(
            actions(&changes(&before, &lock, &request("member:bo"))),
            [("lock.expire", SYSTEM_ACTOR), ("lock.acquire", "member:bo")]
        );
        // The same holder id granted again later is a new hold, not a renewal.
        let mut again = DeployLock::default();
        again.acquire(test_claim("a", "token:ci"), 0).unwrap();
        let before = again.clone();
        again.acquire(test_claim("a", "token:ci"), 31_000).unwrap();
        assert_eq!(
            actions(&changes(&before, &again, &request("member:ana"))),
            [
                ("lock.expire", SYSTEM_ACTOR),
                ("lock.acquire", "member:ana")
            ]
        );
    }

    #[test]
    fn a_hold_is_stuck_once_past_the_threshold_and_reported_once() {
        let mut lock = DeployLock::default();
        assert_eq!(stuck_hold(&lock, None, 60_000, 1_000_000), None);
        let mut claim = test_claim("a", "token:ci");
        claim.lease_ms = 40_000;
        lock.acquire(claim, 1_000).unwrap();
        assert_eq!(stuck_hold(&lock, None, 60_000, 60_999), None);
        // Renewed past the threshold: still the same hold, now stuck.
        lock.heartbeat("a", &ci(), 30_000).unwrap();
        lock.heartbeat("a", &ci(), 60_000).unwrap();
        let stuck = stuck_hold(&lock, None, 60_000, 61_000).unwrap();
        let reported = HoldId::of(stuck);
        assert_eq!(
            reported,
            HoldId {
                holder_id: "a".into(),
                acquired_at_ms: 1_000
            }
        );
        assert_eq!(stuck_hold(&lock, Some(&reported), 60_000, 500_000), None);
        // A new hold by the same id is reported again.
        lock.release("a", &ci(), 70_000).unwrap();
        lock.acquire(test_claim("a", "token:ci"), 70_000).unwrap();
        assert!(stuck_hold(&lock, Some(&reported), 60_000, 130_000).is_some());
    }
}
