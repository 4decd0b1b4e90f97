//! Scheduled deploys and recurring schedules: what is decided without I/O. When a scheduled
//! time is acceptable, whether a scheduled deployment may start at its time (the same policy
//! recheck the normal path runs, at the start time), what a cancel does in each state, how a
//! recurring schedule's versions are chosen, and how long a start may wait or retry.
//! `cron` parses expressions; `ics` writes the calendar feed.

pub mod cron;
pub mod ics;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::lifecycle::DeploymentStatus;
use super::policy::{self, Policy};

/// The furthest ahead a deploy may be scheduled.
pub const MAX_HORIZON_DAYS: i64 = 90;
/// How long a due deployment waits for its environment's lock (another deploy running)
/// before it is skipped.
pub const MAX_LOCK_WAIT_MS: i64 = 30 * 60 * 1000;
/// How long a due deployment waits for its versions to be recorded (`clodo deploy --at`
/// records them once wrangler has uploaded, which may end after the start time).
pub const MAX_UPLOAD_WAIT_MS: i64 = 10 * 60 * 1000;
/// A start claimed this long ago without an outcome crashed midway; another run takes it
/// over and resumes from the deployment's recorded status.
pub const STALE_CLAIM_MS: i64 = 60 * 1000;
/// Starts that failed on an error (storage, an object not answering) are retried this many
/// times, then the deployment fails with the last error: never a silent retry for ever.
pub const MAX_START_ATTEMPTS: i64 = 5;
/// The actor label of the scheduler's own changes (events, audit entries).
pub const SCHEDULER: &str = "clodo:scheduler";

/// Where a scheduled deployment's start is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    /// Waiting for its time.
    Pending,
    /// A run claimed it and is starting it now.
    Starting,
    /// Due, queued behind another deployment for the environment's lock.
    Waiting,
    /// Its rollout started.
    Started,
    /// Not started at its time (freeze, window, approvals, branch, lock wait); `reason` says why.
    Skipped,
    /// Starting failed (`reason`); the deployment ended `failed`.
    Failed,
    /// Cancelled before it started.
    Cancelled,
}

impl ScheduleState {
    pub const ALL: [ScheduleState; 7] = [
        Self::Pending,
        Self::Starting,
        Self::Waiting,
        Self::Started,
        Self::Skipped,
        Self::Failed,
        Self::Cancelled,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Starting => "starting",
            Self::Waiting => "waiting",
            Self::Started => "started",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored state.
    ///
    /// # Errors
    /// An unknown state.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown schedule state `{s}`"))
    }
}

/// Checks a requested start time: in the future and within `MAX_HORIZON_DAYS`.
///
/// # Errors
/// What is wrong with it and what is allowed.
pub fn check_time(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if at <= now {
        return Err(format!(
            "scheduled_for {} is not in the future (now is {})",
            at.to_rfc3339(),
            now.to_rfc3339()
        ));
    }
    if at > now + chrono::Duration::days(MAX_HORIZON_DAYS) {
        return Err(format!(
            "scheduled_for {} is more than {MAX_HORIZON_DAYS} days ahead",
            at.to_rfc3339()
        ));
    }
    Ok(())
}

/// Reads a start time as the CLI takes it: RFC 3339, seconds optional
/// (`2026-12-02T09:00Z`, `2026-12-02T09:00:00+01:00`).
///
/// # Errors
/// The expected form.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text).or_else(|_| {
        // Insert the missing seconds before the zone designator.
        let cut = text.rfind(['Z', 'z', '+', '-']).filter(|i| *i > 10);
        match cut {
            Some(i) => DateTime::parse_from_rfc3339(&format!("{}:00{}", &text[..i], &text[i..])),
            None => DateTime::parse_from_rfc3339(text),
        }
    });
    parsed.map(|t| t.with_timezone(&Utc)).map_err(|_| {
        format!(
            "`{text}` is not an RFC 3339 time; e.g. 2026-12-02T09:00Z or 2026-12-02T10:00:00+01:00"
        )
    })
}

/// What a due scheduled deployment does at its start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    /// Take the environment's lock and start.
    Start,
    /// Do not start; the reason is recorded on the deployment, its schedule and the audit log.
    Skip(String),
}

/// Decides at the start time, with the policy as it is then (the same `policy::recheck` the
/// normal path runs when a deployment moves on): a freeze or a time outside every window, a
/// branch no longer allowed, or approvals still missing skip the deployment.
#[must_use]
pub fn decide_start(
    status: DeploymentStatus,
    approvals: i64,
    required_approvals: i64,
    policy: &Policy,
    now: DateTime<Utc>,
    git_ref: Option<&str>,
    has_override: bool,
) -> StartDecision {
    match status {
        DeploymentStatus::Queued => {}
        DeploymentStatus::AwaitingApproval => {
            return StartDecision::Skip(format!(
                "it still needed approvals at its start time ({approvals} of {required_approvals})"
            ))
        }
        other => {
            return StartDecision::Skip(format!("it was {other} at its start time, not queued"))
        }
    }
    let violations = policy::recheck(policy, now, git_ref, has_override);
    if violations.is_empty() {
        StartDecision::Start
    } else {
        let reasons: Vec<String> = violations.iter().map(policy::Violation::describe).collect();
        StartDecision::Skip(format!(
            "blocked by the environment's policy at its start time: {}",
            reasons.join("; ")
        ))
    }
}

/// What cancelling a scheduled deployment does in each state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelDecision {
    /// Mark it cancelled (guarded by the state it was read in) and cancel the deployment.
    Cancel,
    /// Cancelled already: answer the same, change nothing (a second click).
    AlreadyCancelled,
    /// Too late or never scheduled; the message says what to do instead.
    Refuse(String),
}

#[must_use]
pub fn decide_cancel(state: ScheduleState) -> CancelDecision {
    match state {
        ScheduleState::Pending | ScheduleState::Waiting => CancelDecision::Cancel,
        ScheduleState::Cancelled => CancelDecision::AlreadyCancelled,
        ScheduleState::Starting => CancelDecision::Refuse(
            "it is starting right now; once its rollout runs, `clodo abort` stops it".into(),
        ),
        ScheduleState::Started => CancelDecision::Refuse(
            "it has already started; `clodo abort` stops its rollout and rolls back".into(),
        ),
        ScheduleState::Skipped | ScheduleState::Failed => {
            CancelDecision::Refuse(format!("it has already ended ({})", state.as_str()))
        }
    }
}

/// A version recorded by a deployment: the service, its Worker and the version id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedVersion {
    pub service: String,
    pub script: String,
    pub version_id: String,
}

/// The versions a recurring schedule ships to its environment from a source environment's
/// verified deployment. A version is a version of one Worker: only the same Worker names
/// can be re-served; different names need environment promotion (which uploads the same
/// code to the other Workers), so that is refused with that advice.
///
/// # Errors
/// Which service's Worker differs (or is not registered in the target).
pub fn versions_for_target(
    source: &[RecordedVersion],
    target_scripts: &[(String, String)],
    source_environment: &str,
) -> Result<Vec<RecordedVersion>, String> {
    if source.is_empty() {
        return Err(format!(
            "{source_environment} has no succeeded deployment with recorded versions yet"
        ));
    }
    source
        .iter()
        .map(|v| {
            let script = target_scripts
                .iter()
                .find(|(service, _)| *service == v.service)
                .map(|(_, s)| s);
            match script {
                Some(s) if *s == v.script => Ok(v.clone()),
                Some(s) => Err(same_workers_only(
                    &v.service,
                    &v.script,
                    s,
                    source_environment,
                )),
                None => Err(format!(
                    "service `{}` has no Worker registered in the target environment",
                    v.service
                )),
            }
        })
        .collect()
}

/// The refusal for environments whose Workers have different names.
#[must_use]
pub fn same_workers_only(service: &str, source: &str, target: &str, from: &str) -> String {
    format!(
        "service `{service}` is Worker `{source}` in {from} but `{target}` here: a schedule re-serves versions of the same Workers only; ship {from}'s code to other Workers with environment promotion (`clodo promote --from {from} --to …`)"
    )
}

#[cfg(test)]
mod tests;
