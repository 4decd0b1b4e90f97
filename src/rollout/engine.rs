//! The rollout's state and its transitions: where it starts, what it asks for next, and how
//! each reported outcome (traffic set, restore done, a command, a lost lock) moves it on.

use serde::{Deserialize, Serialize};

use super::{
    phase_word, short, Action, Command, CommandError, LogEntry, Phase, Spec, SpecError, Split,
    Tally, LOG_CAP, MAX_ATTEMPTS, RETRY_AFTER_MS,
};
use crate::config::{OnDeadline, Pause, Strategy};
use crate::control::lifecycle::DeploymentStatus;

/// The whole state of one rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub deployment_id: String,
    pub spec: Spec,
    pub phase: Phase,
    /// Index into the traffic steps.
    pub step: usize,
    /// The traffic of `step` is live.
    pub step_applied: bool,
    pub step_started_ms: i64,
    /// The health checks of the current step passed.
    pub step_checked: bool,
    /// Failed attempts at the current traffic change or restore.
    pub attempts: u32,
    /// Do nothing before this time (a retry's pause).
    pub not_before_ms: i64,
    pub tallies: Vec<Tally>,
    /// Why it paused, rolled back or failed.
    pub reason: Option<String>,
    /// The end is written on the deployment record.
    pub recorded: bool,
    /// The deployment no longer holds its environment's lock (the lease ran out or an admin
    /// broke it): nothing moves traffic any more; only `abort` (which ends the rollout where
    /// it stands) applies.
    #[serde(default)]
    pub lock_lost: bool,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub log: Vec<LogEntry>,
    pub next_seq: u64,
    /// When the current pause began (`None`: not paused, or paused before this was kept).
    #[serde(default)]
    pub paused_at_ms: Option<i64>,
    /// Time the current step spent paused: it does not count toward the step's hold.
    #[serde(default)]
    pub step_paused_ms: i64,
    /// The last progress (start, step advance, resume, end of a timed pause): the progress
    /// deadline counts from here (`None` in rollouts stored before: the step's start).
    #[serde(default)]
    pub progress_ms: Option<i64>,
    /// A/B tests only: the window clock, the result and the version kept.
    #[serde(default)]
    pub ab: Option<super::ab::AbState>,
    /// Rolling back: the Workers are back on their previous versions; the Pages sites are
    /// next (see `pages.rs`).
    #[serde(default)]
    pub workers_restored: bool,
    /// Rolling back: the Pages sites (services) already back on their previous production
    /// deployment, so a retry only calls for the others.
    #[serde(default)]
    pub pages_restored: Vec<String>,
}

impl Rollout {
    /// A rollout at its first step, not yet applied.
    pub fn new(deployment_id: &str, spec: Spec, now: i64) -> Result<Rollout, SpecError> {
        spec.validate()?;
        let spec = super::ab::prepared(spec);
        let tallies = vec![Tally::default(); spec.analysis.len()];
        let mut r = Rollout {
            deployment_id: deployment_id.to_owned(),
            phase: Phase::Running,
            step: 0,
            step_applied: false,
            step_started_ms: now,
            step_checked: false,
            attempts: 0,
            not_before_ms: now,
            tallies,
            reason: None,
            recorded: false,
            lock_lost: false,
            started_ms: now,
            finished_ms: None,
            log: Vec::new(),
            next_seq: 1,
            paused_at_ms: None,
            step_paused_ms: 0,
            progress_ms: Some(now),
            ab: None,
            workers_restored: false,
            pages_restored: Vec::new(),
            spec,
        };
        let steps = r.spec.traffic_steps();
        r.note(
            now,
            "started",
            format!(
                "{} rollout of {} service(s), steps {}",
                r.spec.strategy,
                r.spec.services.len(),
                steps
                    .iter()
                    .map(|p| format!("{p}%"))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
        );
        r.enter_gate(now);
        Ok(r)
    }

    /// Holds at the gate before the current step, if it has one: a manual gate pauses for a
    /// human, a timed one waits (the progress deadline counts from its end).
    fn enter_gate(&mut self, now: i64) {
        let Some(pause) = self.spec.gate_before(self.step) else {
            return;
        };
        let n = self.spec.traffic_steps().len();
        let at = format!("before step {}/{n} ({}%)", self.step + 1, self.percent());
        match pause {
            Pause::Manual => self.pause(
                now,
                "gate",
                format!("manual gate {at}"),
                "waiting for `clodo resume` (or `clodo promote`, `clodo abort`)",
            ),
            Pause::Secs(secs) => {
                let until =
                    now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX / 2000) * 1000);
                self.not_before_ms = until;
                self.progress_ms = Some(until);
                self.note(now, "gate", format!("timed pause of {secs} s {at}"));
            }
        }
    }

    /// Pauses for a human: `why` becomes the reason, `then` tells what ends the pause. The
    /// pause's clock starts (it stops the step's hold and the progress deadline).
    pub(super) fn pause(&mut self, now: i64, kind: &str, why: String, then: &str) {
        let line = if then.is_empty() {
            why.clone()
        } else {
            format!("{why}; {then}")
        };
        self.note(now, kind, line);
        self.reason = Some(why);
        self.phase = Phase::Paused;
        self.paused_at_ms = Some(now);
    }

    /// When the progress deadline passes, while the rollout runs.
    #[must_use]
    pub fn deadline_at(&self) -> Option<i64> {
        (self.phase == Phase::Running && !self.lock_lost).then(|| {
            let mut allowed = secs_ms(self.spec.progress_deadline_secs);
            if self.ab_holds() {
                // An A/B split holds for its whole window by design, and a decided test then
                // waits for a person, bounded like a pause by `max_pause_secs`.
                allowed = allowed.saturating_add(self.ab_window_ms());
                if self.ab.as_ref().is_some_and(|a| a.result.is_some()) {
                    allowed = allowed.saturating_add(secs_ms(self.spec.max_pause_secs));
                }
            }
            self.progress_ms
                .unwrap_or(self.step_started_ms)
                .saturating_add(allowed)
        })
    }

    /// When a pause nobody ends is aborted.
    #[must_use]
    pub fn pause_expires_at(&self) -> Option<i64> {
        match (self.phase, self.paused_at_ms) {
            (Phase::Paused, Some(at)) => Some(at.saturating_add(secs_ms(self.spec.max_pause_secs))),
            _ => None,
        }
    }

    /// Acts on [`Action::Expire`]: a pause past `max_pause_secs` aborts; a running rollout
    /// past its progress deadline aborts or pauses (`on_deadline`), saying so.
    pub fn expire(&mut self, now: i64) {
        if self.pause_expires_at().is_some_and(|t| now >= t) {
            let why = format!(
                "paused for more than max_pause_secs ({} s) without a resume, promote or abort ({})",
                self.spec.max_pause_secs,
                self.reason.as_deref().unwrap_or("paused")
            );
            if self.lock_lost {
                // Without the lock nothing moves: the rollout ends where it stands.
                let _ = self.command(now, Command::Abort, "the max_pause_secs cap");
            } else {
                self.spec.auto_rollback = true;
                self.fail(now, why);
            }
            return;
        }
        if self.deadline_at().is_none_or(|t| now < t) {
            return;
        }
        let why = format!(
            "no progress within progress_deadline_secs ({} s) at step {}/{} ({}%): {}",
            self.spec.progress_deadline_secs,
            self.step + 1,
            self.spec.traffic_steps().len(),
            self.percent(),
            self.waiting_for(now)
        );
        match self.spec.on_deadline {
            OnDeadline::Abort => {
                self.spec.auto_rollback = true;
                self.fail(now, format!("{why}; on_deadline = abort"));
            }
            OnDeadline::Pause => self.pause(
                now,
                "deadline",
                format!("{why}; on_deadline = pause"),
                "waiting for `clodo resume`, `clodo promote` or `clodo abort`",
            ),
        }
    }

    pub(super) fn note(&mut self, now: i64, kind: &str, message: String) {
        self.log.push(LogEntry {
            seq: self.next_seq,
            at_ms: now,
            kind: kind.to_owned(),
            message,
        });
        self.next_seq += 1;
        if self.log.len() > LOG_CAP {
            let extra = self.log.len() - LOG_CAP;
            self.log.drain(..extra);
        }
    }

    /// The traffic percentage of the current step.
    #[must_use]
    pub fn percent(&self) -> f64 {
        self.spec
            .traffic_steps()
            .get(self.step)
            .copied()
            .unwrap_or(100.0)
    }

    pub(super) fn is_last_step(&self) -> bool {
        self.step + 1 >= self.spec.traffic_steps().len()
    }

    /// The splits that put `percent` of every service's traffic on its new version.
    pub(super) fn splits_at(&self, percent: f64) -> Vec<Split> {
        self.spec
            .services
            .iter()
            .filter(|s| !s.already_live)
            .map(|s| {
                let versions = match &s.previous_version {
                    Some(prev) if percent < 100.0 => vec![
                        (s.new_version.clone(), percent),
                        (prev.clone(), 100.0 - percent),
                    ],
                    _ => vec![(s.new_version.clone(), 100.0)],
                };
                Split {
                    script: s.script.clone(),
                    versions,
                }
            })
            .collect()
    }

    /// The splits that put every service that had a previous version back on it.
    pub(super) fn restore_splits(&self) -> Vec<Split> {
        self.spec
            .services
            .iter()
            .filter_map(|s| {
                s.previous_version.as_ref().map(|prev| Split {
                    script: s.script.clone(),
                    versions: vec![(prev.clone(), 100.0)],
                })
            })
            .collect()
    }

    /// The splits the record names as live: the last applied step's, or (before any step
    /// was applied) every previous version at 100%.
    pub(super) fn recorded_splits(&self) -> Vec<Split> {
        match self.applied_percent() {
            Some(percent) => self.splits_at(percent),
            None => self.restore_splits(),
        }
    }

    pub(super) fn step_wait_ms(&self) -> i64 {
        // Immediate verifies after its one step without holding it: the checks are the wait.
        if self.spec.strategy == Strategy::Immediate {
            return 0;
        }
        secs_ms(self.spec.step_wait_secs)
    }

    /// What to do at `now`.
    #[must_use]
    pub fn next(&self, now: i64) -> Action {
        match self.phase {
            Phase::Paused if self.pause_expires_at().is_some_and(|t| now >= t) => Action::Expire,
            Phase::Paused => Action::Idle,
            _ if self.phase.is_terminal() => {
                if self.recorded {
                    Action::Idle
                } else {
                    Action::Record {
                        status: self
                            .phase
                            .deployment_status()
                            .unwrap_or(DeploymentStatus::Failed),
                        summary: self.summary(),
                    }
                }
            }
            Phase::Running if self.deadline_at().is_some_and(|t| now >= t) => Action::Expire,
            _ if now < self.not_before_ms => Action::WaitUntil(
                self.deadline_at()
                    .map_or(self.not_before_ms, |d| d.min(self.not_before_ms)),
            ),
            Phase::RollingBack if self.workers_restored => {
                Action::RestorePages(self.pages_to_restore())
            }
            Phase::RollingBack => Action::Restore(self.restore_splits()),
            _ if !self.step_applied => Action::ApplyTraffic(self.splits_at(self.percent())),
            _ => self.next_while_holding(now),
        }
    }

    /// Reports the outcome of [`Action::ApplyTraffic`]: `Ok` when every split was set,
    /// else why not.
    pub fn traffic_applied(&mut self, now: i64, outcome: Result<(), String>) {
        if self.phase != Phase::Running || self.step_applied {
            return;
        }
        match outcome {
            Ok(()) => {
                self.attempts = 0;
                self.step_applied = true;
                self.step_started_ms = now;
                self.step_paused_ms = 0;
                self.step_checked = self.spec.health_checks.is_empty();
                for t in &mut self.tallies {
                    t.this_step = 0;
                }
                let p = self.percent();
                let n = self.spec.traffic_steps().len();
                let message = if self.splits_at(p).is_empty() {
                    // Every Worker went live through `wrangler deploy` (new, or a Durable
                    // Object migration): there is no split to make, only the checks.
                    format!(
                        "step {}/{n}: every service already serves its new version (wrangler deploy); checking",
                        self.step + 1
                    )
                } else {
                    format!("step {}/{n}: new versions at {p}%", self.step + 1)
                };
                self.note(now, "step", message);
            }
            Err(why) => {
                self.attempts += 1;
                if self.attempts >= MAX_ATTEMPTS {
                    self.attempts = 0;
                    self.fail(
                        now,
                        format!(
                            "setting traffic to {}% failed {MAX_ATTEMPTS} times: {why}",
                            self.percent()
                        ),
                    );
                } else {
                    self.not_before_ms = now + RETRY_AFTER_MS;
                    self.note(
                        now,
                        "retry",
                        format!("setting traffic failed ({why}); retrying"),
                    );
                }
            }
        }
    }

    /// Moves on after [`Action::Advance`]: to the next step, or done after the last.
    pub fn advance(&mut self, now: i64) {
        if self.phase != Phase::Running || !self.step_applied {
            return;
        }
        if self.is_last_step() {
            self.succeed(now, "every service serves its new version".into());
        } else {
            self.step += 1;
            self.step_applied = false;
            self.progress_ms = Some(now);
            self.enter_gate(now);
        }
    }

    pub(super) fn succeed(&mut self, now: i64, why: String) {
        self.end(now, Phase::Succeeded, "succeeded", why);
    }

    /// Ends the rollout in `phase` at `now`, with the log entry that says why.
    pub(super) fn end(&mut self, now: i64, phase: Phase, kind: &str, why: String) {
        self.phase = phase;
        self.finished_ms = Some(now);
        self.note(now, kind, why);
    }

    /// A check failed or traffic could not move: roll back (or pause, without auto rollback).
    pub(super) fn fail(&mut self, now: i64, why: String) {
        if self.spec.auto_rollback {
            self.note(
                now,
                "rolling_back",
                format!("{why}; rolling every service back"),
            );
            self.reason = Some(why);
            self.phase = Phase::RollingBack;
            self.attempts = 0;
            self.not_before_ms = now;
        } else {
            self.pause(
                now,
                "paused",
                why,
                "auto_rollback is off, waiting for `clodo abort` or `clodo promote`",
            );
        }
    }

    /// Reports the outcome of [`Action::Restore`]: per Worker, `Ok` or why not.
    pub fn restore_done(&mut self, now: i64, outcomes: &[(String, Result<(), String>)]) {
        if self.phase != Phase::RollingBack {
            return;
        }
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|(s, r)| r.as_ref().err().map(|e| format!("{s}: {e}")))
            .collect();
        if failed.is_empty() {
            let restored: Vec<String> = self
                .restore_splits()
                .iter()
                .map(|s| format!("{} → {}", s.script, short(&s.versions[0].0)))
                .collect();
            let new_ones: Vec<&str> = self
                .spec
                .services
                .iter()
                .filter(|s| s.previous_version.is_none())
                .map(|s| s.script.as_str())
                .collect();
            let mut msg = if restored.is_empty() {
                "nothing to restore".to_owned()
            } else {
                format!("restored {}", restored.join(", "))
            };
            if !new_ones.is_empty() {
                msg.push_str(&format!(
                    "; {} had no previous version and keep the new one",
                    new_ones.join(", ")
                ));
            }
            self.attempts = 0;
            if !self.pages_to_restore().is_empty() {
                // The Pages sites go back next, each reported on its own.
                self.workers_restored = true;
                self.note(now, "restored", format!("{msg}; Pages sites next"));
                return;
            }
            msg.push_str(&self.pages_kept_note());
            self.end(now, Phase::RolledBack, "rolled_back", msg);
            return;
        }
        self.restore_failed(
            now,
            format!(
                "restoring failed {MAX_ATTEMPTS} times: {}",
                failed.join("; ")
            ),
            format!("restore failed ({}); retrying", failed.join("; ")),
        );
    }

    /// A restore attempt (Workers or Pages sites) failed: retried after a pause, and after
    /// [`MAX_ATTEMPTS`] the rollout ends `failed` with `gave_up` added to its reason.
    pub(super) fn restore_failed(&mut self, now: i64, gave_up: String, retrying: String) {
        self.attempts += 1;
        if self.attempts >= MAX_ATTEMPTS {
            self.reason = Some(match self.reason.take() {
                Some(r) => format!("{r}; {gave_up}"),
                None => gave_up.clone(),
            });
            self.end(now, Phase::Failed, "failed", gave_up);
        } else {
            self.not_before_ms = now + RETRY_AFTER_MS;
            self.note(now, "retry", retrying);
        }
    }

    /// Reports that the driver's heartbeat on the environment lock was refused: the
    /// deployment no longer holds it, so another deployment (or a person who broke the lock)
    /// may be changing these Workers. The rollout pauses where it stands, moves no more
    /// traffic (not even a restore) and says why. Returns whether this changed anything (the
    /// first report does; later ones are no-ops).
    pub fn lost_lock(&mut self, now: i64, why: &str) -> bool {
        if self.phase.is_terminal() || self.lock_lost {
            return false;
        }
        let why = format!(
            "the deployment no longer holds the environment lock ({why}); traffic stays as it is ({})",
            self.traffic_words()
        );
        self.lock_lost = true;
        self.pause(
            now,
            "lock_lost",
            why,
            "`clodo abort` ends the rollout without moving traffic",
        );
        true
    }

    /// The traffic on the new versions right now, in words.
    pub(super) fn traffic_words(&self) -> String {
        match self.applied_percent() {
            Some(p) => format!("{p}% on the new versions"),
            None => "no traffic moved yet".to_owned(),
        }
    }

    /// The percentage of the last traffic step that was applied.
    pub(crate) fn applied_percent(&self) -> Option<f64> {
        let steps = self.spec.traffic_steps();
        if self.step_applied {
            steps.get(self.step).copied()
        } else if self.step > 0 {
            steps.get(self.step - 1).copied()
        } else {
            None
        }
    }

    /// Reports that the end is recorded on the deployment.
    pub fn recorded(&mut self) {
        self.recorded = true;
    }

    /// Applies a human's command.
    pub fn command(&mut self, now: i64, cmd: Command, by: &str) -> Result<(), CommandError> {
        self.ab_command(now, cmd)?;
        let refuse = || CommandError {
            command: cmd.as_str(),
            phase: phase_word(self.phase),
        };
        match (cmd, self.phase) {
            (_, p) if p.is_terminal() => return Err(refuse()),
            // Without the lock nothing may move traffic: abort ends the rollout as it stands.
            (Command::Abort, _) if self.lock_lost => {
                let why = format!(
                    "aborted by {by} after the environment lock was lost; traffic left as it was ({})",
                    self.traffic_words()
                );
                self.reason = Some(why.clone());
                self.end(now, Phase::Failed, "failed", why);
            }
            (_, _) if self.lock_lost => {
                return Err(CommandError {
                    command: cmd.as_str(),
                    phase: "paused after losing the environment lock (only abort applies)",
                })
            }
            (Command::Pause, Phase::Running) => {
                self.pause(now, "paused", format!("paused by {by}"), "");
            }
            (Command::Resume, Phase::Paused) => {
                self.phase = Phase::Running;
                self.reason = None;
                // The pause stopped the step's clock and the progress deadline.
                if let Some(at) = self.paused_at_ms.take() {
                    self.step_paused_ms += (now - at).max(0);
                }
                self.progress_ms = Some(now);
                // The inconclusive measurements that paused it were seen by a human.
                for t in &mut self.tallies {
                    t.inconclusive = 0;
                    for s in &mut t.services {
                        s.inconclusive = 0;
                    }
                }
                self.not_before_ms = now;
                self.note(now, "resumed", format!("resumed by {by}"));
            }
            (Command::Promote, Phase::Running | Phase::Paused) => {
                self.phase = Phase::Running;
                self.paused_at_ms = None;
                self.progress_ms = Some(now);
                self.step = self.spec.traffic_steps().len() - 1;
                self.step_applied = false;
                self.not_before_ms = now;
                // Holding and checking at 100% is what promote skips.
                self.spec.step_wait_secs = 0;
                self.spec.analysis.clear();
                self.spec.health_checks.clear();
                self.tallies.clear();
                self.note(
                    now,
                    "promoted",
                    format!("promoted by {by}: every service to 100% now"),
                );
            }
            (Command::Abort, Phase::Running | Phase::Paused) => {
                self.spec.auto_rollback = true;
                self.fail(now, format!("aborted by {by}"));
            }
            _ => return Err(refuse()),
        }
        Ok(())
    }

    /// Why the rollout ended the way it did, for the deployment's record.
    #[must_use]
    pub fn summary(&self) -> String {
        if let Some(ab) = self.ab_summary() {
            return ab;
        }
        match (self.phase, &self.reason) {
            (Phase::Succeeded, _) => format!(
                "{} rollout finished: every service serves its new version",
                self.spec.strategy
            ),
            (_, Some(r)) => r.clone(),
            (p, None) => phase_word(p).to_owned(),
        }
    }
}

/// Seconds as milliseconds, saturating.
pub(super) fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 2000)
        .saturating_mul(1000)
}
