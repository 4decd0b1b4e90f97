//! The `DeployLock` object's audit journal: which entries wait for D1, when they are written,
//! and when the object's alarm must fire. Pure bookkeeping, so the object stays a shell.
//!
//! Each change's entry is stored under its own key (`entry_key`) in the same write as the
//! change, so a request writes only its new entries, never the list of those still waiting.
//! The alarm writes the waiting entries to D1 `FLUSH_DELAY_MS` after the first of them was
//! made: changes made meanwhile share one D1 batch instead of costing one each.

use serde::{Deserialize, Serialize};

use super::audit::{self, AuditRecord, Change, HoldId};
use super::DeployLock;

/// How long an entry may wait for D1 before the alarm writes it (and every entry made since).
/// At most `MIN_LEASE_MS`, so a flush never waits behind a deadline the change created.
pub const FLUSH_DELAY_MS: i64 = 1_000;
/// Most entries that may wait. More means D1 has refused them for a while: the object writes
/// them before any new change, and refuses the change if it cannot (a lock change is never
/// made without its record). Far above what a busy lock makes in `FLUSH_DELAY_MS`.
pub const MAX_WAITING: u64 = 1_000;
/// Most entries one flush writes (one D1 statement); the rest go in the next, at once.
pub const FLUSH_MAX: usize = 250;
/// A flush this late means its alarm did not run (a failed `set_alarm`): the next change
/// arms it again.
pub const OVERDUE_MS: i64 = 5_000;
/// A failed flush is retried this soon.
pub const RETRY_MS: i64 = 10_000;
/// The prefix of the entries' storage keys.
pub const ENTRY_PREFIX: &str = "audit:";

/// The storage key of entry `seq`: zero-padded, so listing the prefix reads them in order.
#[must_use]
pub fn entry_key(seq: u64) -> String {
    format!("{ENTRY_PREFIX}{seq:020}")
}

/// What the object keeps besides the lock itself (storage key `lock_meta`). Objects stored by
/// the version that kept the waiting entries inside this value (`pending`) still load: those
/// entries are written like the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The environment whose lock this is (the object's name; learnt from the first request).
    #[serde(default)]
    pub environment_id: String,
    /// The next entry's sequence number.
    #[serde(default)]
    pub next_seq: u64,
    /// Entries an older version stored here, oldest first; new entries have their own keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<AuditRecord>,
    /// The last hold reported as `lock.stuck` (one event per hold).
    #[serde(default)]
    pub stuck_reported: Option<HoldId>,
    /// The first sequence number not known to be in D1 (absent in an older version's value:
    /// then the first of `pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_below: Option<u64>,
    /// When the waiting entries must be written; `None` when none wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_due_ms: Option<i64>,
}

impl Journal {
    fn first_unwritten(&self) -> u64 {
        self.written_below
            .unwrap_or_else(|| self.pending.first().map_or(self.next_seq, |r| r.seq))
    }

    /// How many entries wait for D1.
    #[must_use]
    pub fn waiting(&self) -> u64 {
        self.next_seq.saturating_sub(self.first_unwritten())
    }

    /// Whether entries wait and can be written (an object stored before it learnt its
    /// environment keeps them until a request names it).
    #[must_use]
    pub fn flushable(&self) -> bool {
        self.waiting() > 0 && !self.environment_id.is_empty()
    }

    /// Numbers `changes` made at `at` as the next entries, to be stored under their
    /// `entry_key`s with the change. The first entry to wait sets when they are written.
    pub fn record(&mut self, changes: Vec<Change>, at: i64) -> Vec<AuditRecord> {
        self.written_below = Some(self.first_unwritten());
        let text = |v: Option<serde_json::Value>| v.map(|v| v.to_string());
        let records: Vec<AuditRecord> = changes
            .into_iter()
            .zip(self.next_seq..)
            .map(|(change, seq)| AuditRecord {
                seq,
                at,
                actor: change.actor,
                action: change.action.to_owned(),
                before: text(change.before),
                after: text(change.after),
            })
            .collect();
        self.next_seq += records.len() as u64;
        if !records.is_empty() && self.flush_due_ms.is_none() {
            self.flush_due_ms = Some(at + FLUSH_DELAY_MS);
        }
        records
    }

    /// Every entry up to `through` is in D1 (or was found gone from storage) after a flush
    /// that started at `started_at`. Entries still waiting were made after it started, unless
    /// the flush took only the first `FLUSH_MAX` (`truncated`): then the rest is due at once.
    pub fn written(&mut self, through: u64, started_at: i64, truncated: bool) {
        let below = self.first_unwritten().max(through + 1).min(self.next_seq);
        self.written_below = Some(below);
        self.pending.retain(|r| r.seq >= below);
        self.flush_due_ms = (self.waiting() > 0).then_some(if truncated {
            started_at
        } else {
            started_at + FLUSH_DELAY_MS
        });
    }

    /// Whether a request that recorded `recorded` entries at `now` must set the alarm, the
    /// flush having been due at `due_before` before it: only the first entry to wait does
    /// (the alarm then fires `FLUSH_DELAY_MS` on, before any deadline a change makes), or
    /// any once the flush is overdue. The others leave the armed alarm alone.
    #[must_use]
    pub fn arms_alarm(due_before: Option<i64>, recorded: usize, now: i64) -> bool {
        recorded > 0 && due_before.is_none_or(|due| now > due + OVERDUE_MS)
    }

    /// A flush at `now` failed: the entries wait `RETRY_MS` more (and requests, seeing a
    /// flush due, leave the alarm set for the retry).
    pub fn failed(&mut self, now: i64) {
        self.flush_due_ms = Some(now + RETRY_MS);
    }

    /// When the object's alarm must fire next: the earliest of the waiting entries' flush,
    /// the lease's end and the moment the hold becomes stuck (unless already reported).
    #[must_use]
    pub fn next_alarm_ms(&self, lock: &DeployLock, stuck_after_ms: i64) -> Option<i64> {
        let flush = self.flush_due_ms.filter(|_| self.flushable());
        let hold = lock.holder.as_ref().map(|lease| {
            let unreported = self
                .stuck_reported
                .as_ref()
                .is_none_or(|r| *r != HoldId::of(lease));
            let stuck = unreported.then(|| audit::stuck_at(lease, stuck_after_ms));
            stuck.map_or(lease.lease_until_ms, |s| s.min(lease.lease_until_ms))
        });
        match (flush, hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::audit::{changes, Cause};
    use crate::lock::{test_claim, Requester};

    fn cause(actor: &str) -> Cause<'_> {
        Cause::Request {
            actor,
            released: None,
            cancelled: None,
            forced: false,
        }
    }

    fn acquired(lock: &mut DeployLock, id: &str, at: i64) -> Vec<Change> {
        let before = lock.clone();
        lock.acquire(test_claim(id, "token:ci"), at).unwrap();
        changes(&before, lock, &cause("member:ana"))
    }

    fn journal() -> Journal {
        Journal {
            environment_id: "env_1".into(),
            ..Journal::default()
        }
    }

    #[test]
    fn keys_sort_like_their_sequence_numbers() {
        assert_eq!(entry_key(7), "audit:00000000000000000007");
        assert!(entry_key(9) < entry_key(10) && entry_key(99) < entry_key(100));
    }

    #[test]
    fn the_first_waiting_entry_sets_the_flush_and_later_ones_share_it() {
        let mut lock = DeployLock::default();
        let mut j = journal();
        assert_eq!(j.next_alarm_ms(&lock, 600_000), None);
        let first = j.record(acquired(&mut lock, "a", 1_000), 1_000);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].seq, j.waiting()), (0, 1));
        assert_eq!(j.flush_due_ms, Some(1_000 + FLUSH_DELAY_MS));
        let second = j.record(acquired(&mut lock, "b", 1_500), 1_500);
        assert_eq!(
            (second[0].seq, second[0].action.as_str()),
            (1, "lock.queue")
        );
        assert_eq!(j.flush_due_ms, Some(1_000 + FLUSH_DELAY_MS), "not moved");
        // Due before the lease's end (31 s) and the hold's stuck time (601 s).
        assert_eq!(j.next_alarm_ms(&lock, 600_000), Some(2_000));
        // Only the first entry arms the alarm; an overdue flush is armed again.
        assert!(Journal::arms_alarm(None, 1, 1_000));
        assert!(!Journal::arms_alarm(Some(2_000), 1, 1_500));
        assert!(!Journal::arms_alarm(None, 0, 1_500));
        assert!(Journal::arms_alarm(Some(2_000), 1, 2_001 + OVERDUE_MS));
        // Nothing changed, nothing recorded, nothing re-armed.
        assert!(j.record(vec![], 1_700).is_empty());
        assert_eq!(j.waiting(), 2);
    }

    #[test]
    fn a_flush_forgets_what_it_wrote_and_dates_what_came_during_it() {
        let mut lock = DeployLock::default();
        let mut j = journal();
        j.record(acquired(&mut lock, "a", 0), 0);
        j.record(acquired(&mut lock, "b", 10), 10);
        // The flush started at 1 000 with entries 0 and 1; entry 2 came while D1 wrote.
        let before = lock.clone();
        lock.release("a", &Requester::Server, 1_010).unwrap();
        let during = j.record(changes(&before, &lock, &cause("x")), 1_010);
        assert_eq!(during.len(), 2, "release and hand-over");
        j.written(1, 1_000, false);
        assert_eq!(j.waiting(), 2);
        assert_eq!(j.flush_due_ms, Some(1_000 + FLUSH_DELAY_MS));
        j.written(3, 2_000, false);
        assert_eq!((j.waiting(), j.flush_due_ms), (0, None));
        // Only the lease's end (or the stuck time) is left to wake for.
        assert_eq!(j.next_alarm_ms(&lock, 600_000), Some(1_010 + 30_000));
        // A flush that took only part of the entries leaves the rest due at once; a repeated
        // report of what was written changes nothing.
        j.record(acquired(&mut DeployLock::default(), "c", 3_000), 3_000);
        j.record(acquired(&mut DeployLock::default(), "d", 3_000), 3_000);
        j.written(4, 4_000, true);
        assert_eq!((j.waiting(), j.flush_due_ms), (1, Some(4_000)));
        j.written(4, 4_000, true);
        assert_eq!(j.waiting(), 1);
    }

    #[test]
    fn a_failed_flush_waits_for_its_retry_and_entries_keep_counting_toward_the_limit() {
        let mut lock = DeployLock::default();
        let mut j = journal();
        j.record(acquired(&mut lock, "a", 0), 0);
        j.failed(1_000);
        assert_eq!(j.flush_due_ms, Some(1_000 + RETRY_MS));
        j.record(acquired(&mut lock, "b", 1_100), 1_100);
        assert_eq!(
            j.flush_due_ms,
            Some(1_000 + RETRY_MS),
            "a request keeps the retry"
        );
        assert_eq!(j.waiting(), 2);
        assert!(u64::try_from(FLUSH_MAX).unwrap() < MAX_WAITING);
        const { assert!(FLUSH_DELAY_MS <= crate::lock::MIN_LEASE_MS) };
    }

    #[test]
    fn the_alarm_wakes_for_the_earlier_of_lease_end_and_stuck_unless_reported() {
        let mut lock = DeployLock::default();
        let mut j = journal();
        lock.acquire(test_claim("a", "token:ci"), 0).unwrap(); // lease until 30 s
        assert_eq!(j.next_alarm_ms(&lock, 60_000), Some(30_000));
        assert_eq!(j.next_alarm_ms(&lock, 10_000), Some(10_000));
        j.stuck_reported = Some(HoldId::of(lock.holder.as_ref().unwrap()));
        assert_eq!(j.next_alarm_ms(&lock, 10_000), Some(30_000));
    }

    #[test]
    fn an_object_without_its_environment_keeps_its_entries_unflushed() {
        let mut lock = DeployLock::default();
        let mut j = Journal::default();
        j.record(acquired(&mut lock, "a", 0), 0);
        assert!(!j.flushable());
        // The lease's end is still a deadline; the flush is not until a request names it.
        assert_eq!(j.next_alarm_ms(&lock, 600_000), Some(30_000));
        j.environment_id = "env_1".into();
        assert_eq!(j.next_alarm_ms(&lock, 600_000), Some(FLUSH_DELAY_MS));
    }

    #[test]
    fn an_older_versions_value_loads_and_its_entries_are_written_first() {
        // Stored by the version that kept the waiting entries in `pending` (seq 5 and 6).
        let old = r#"{"environment_id":"env_1","next_seq":7,"pending":[
            {"seq":5,"at":1,"actor":"a","action":"lock.acquire","before":null,"after":"{}"},
            {"seq":6,"at":2,"actor":"a","action":"lock.release","before":"{}","after":null}],
            "stuck_reported":null}"#;
        let mut j: Journal = serde_json::from_str(old).unwrap();
        assert_eq!(j.waiting(), 2);
        let new = j.record(acquired(&mut DeployLock::default(), "a", 3), 3);
        assert_eq!((new[0].seq, j.waiting()), (7, 3));
        j.written(6, 10, false);
        assert!(j.pending.is_empty());
        assert_eq!(j.waiting(), 1);
        // Written back without the old list.
        let json = serde_json::to_value(&j).unwrap();
        assert!(json.get("pending").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Journal>(json).unwrap(), j);
    }
}
