//! The rollout driver: what one alarm run of a rollout does, over small I/O traits.
//!
//! The engine ([`Rollout`]) decides; the driver performs what it asks for and reports back:
//! it renews the deployment's hold on the environment lock, applies the commands people
//! recorded (in order, once), opens the Cloudflare API when a step needs it, moves traffic,
//! runs checks, records the end on the deployment, and says when the next run is due. Every
//! effect goes through a trait ([`RolloutStore`], [`Clock`], [`EnvironmentLock`],
//! [`CommandSource`], [`DeploymentRecorder`], [`Effects`]), so the whole loop runs natively
//! against in-memory fakes (`driver_tests.rs`); the `Rollout` Durable Object implements them
//! over its storage, the lock object, D1 and the Cloudflare API.
//!
//! The traits use plain `async fn` without `Send` bounds: the Worker's futures are `!Send`.

use serde::{Deserialize, Serialize};

use super::{
    Action, Command, CommandError, HealthRequest, HealthResponse, Measurement, MetricQuery,
    PagesSite, Rollout, Spec, SpecError, Split,
};
use crate::cloudflare::CallError;
use crate::control::lifecycle::DeploymentStatus;

/// Engine steps one run takes at most before yielding to a fresh run.
pub const STEPS_PER_RUN: usize = 64;
/// Wait before retrying a deployment record the database refused.
pub const RECORD_RETRY_MS: i64 = 5_000;
/// Longest gap between runs of an unfinished rollout: each run renews the deployment's hold
/// on the environment lock (leases are minutes), also while paused for a human.
pub const MAX_ALARM_GAP_MS: i64 = 30_000;
/// Wait before asking the lock again when its answer did not come (nothing moves meanwhile).
pub const LOCK_RETRY_MS: i64 = 5_000;
/// Who writes the deployment events of a rollout.
pub const ROLLOUT_ACTOR: &str = "clodo:rollout";

/// Who the rollout runs for, stored beside the engine state. Built by the control plane from
/// its records, never from a request: the account is the environment's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub team_id: String,
    /// The Cloudflare account the deployment's environment is bound to.
    pub account_id: String,
    /// The environment whose deploy lock the deployment holds while the rollout runs.
    pub environment_id: String,
}

/// A command recorded in D1 (with its audit entry), as the command source reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCommand {
    /// Increasing: the driver applies each id once, in order.
    pub id: i64,
    /// A [`Command`] word; an unknown one (a newer writer) is skipped.
    pub command: String,
    pub actor: String,
    /// `promote --version` of an A/B test: the version to keep.
    #[serde(default)]
    pub version: Option<String>,
}

/// What the environment lock said to the deployment's heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAnswer {
    Held,
    /// The lock refused: the deployment is not its holder any more.
    Lost(String),
    /// No answer: not known either way, so nothing moves until it is.
    Unknown(String),
}

/// When the next run is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// At this time (epoch ms; a time in the past means now).
    At(i64),
    /// Never: the rollout ended and is recorded (or there is none).
    Never,
}

/// What one run leaves behind for its shell: the next wake-up and the problems to log (each
/// once, by the shell; each names the rollout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub wake: Wake,
    pub problems: Vec<String>,
}

/// An I/O failure the run cannot continue past: the shell reports it and the runtime retries
/// the whole run (everything before it was stored, so the retry continues from there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("rollout storage: {0}")]
    Storage(String),
    #[error("reading recorded rollout commands: {0}")]
    Commands(String),
}

/// The deployment record refused a write (the database was unavailable, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

/// Why the Cloudflare API could not be opened for a run: no usable credential for the
/// owner's account. The engine treats it like any failed call (it retries, rolls back or
/// fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credential for {account}: {reason}")]
pub struct OpenError {
    pub account: String,
    pub reason: String,
}

/// A Worker whose traffic did not move, and the Cloudflare call's error (on
/// `is_unanswered`, the split may or may not have been applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{script}: {error}")]
pub struct WorkerError {
    pub script: String,
    pub error: CallError,
}

/// The rollout's own storage: engine state, owner and the last applied command id.
#[allow(async_fn_in_trait)]
pub trait RolloutStore {
    async fn owner(&self) -> Result<Option<Owner>, DriverError>;
    async fn save_owner(&self, owner: &Owner) -> Result<(), DriverError>;
    async fn load(&self) -> Result<Option<Rollout>, DriverError>;
    /// Stores the state (and tells whoever watches it).
    async fn save(&self, rollout: &Rollout) -> Result<(), DriverError>;
    /// The id of the last recorded command applied (0: none yet).
    async fn last_command(&self) -> Result<i64, DriverError>;
    /// Stores the state with the id of the last command it applied, in one write (a crash
    /// cannot leave a command applied but not marked, or marked but not applied).
    async fn save_applied(&self, rollout: &Rollout, last_command: i64) -> Result<(), DriverError>;
}

/// The time, in ms since the epoch.
pub trait Clock {
    fn now_ms(&self) -> i64;
}

/// The environment's deploy lock, which the deployment holds while its rollout runs.
#[allow(async_fn_in_trait)]
pub trait EnvironmentLock {
    /// Renews the hold of `deployment_id` (the holder id) and reads the answer.
    async fn heartbeat(&self, owner: &Owner, deployment_id: &str) -> LockAnswer;
}

/// Where people's commands are recorded (D1's `rollout_commands`).
#[allow(async_fn_in_trait)]
pub trait CommandSource {
    /// The commands recorded for the deployment after command id `after`, oldest first.
    async fn after(
        &self,
        deployment_id: &str,
        after: i64,
    ) -> Result<Vec<RecordedCommand>, DriverError>;
}

/// How a rollout ended, for the deployment's record.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutEnd<'a> {
    pub owner: &'a Owner,
    pub deployment_id: &'a str,
    pub status: DeploymentStatus,
    /// The event's detail: the summary and the rollout's last log lines.
    pub detail: serde_json::Value,
}

/// The deployment's record (D1): its end and its events.
#[allow(async_fn_in_trait)]
pub trait DeploymentRecorder {
    /// Moves the deployment to `end.status` (a no-op once the deployment has ended: a
    /// repeated call after a crash changes nothing) and frees its environment.
    async fn finish(&self, end: &RolloutEnd<'_>) -> Result<(), RecordError>;
    /// Adds the event saying the rollout lost the environment lock.
    async fn lock_lost(
        &self,
        deployment_id: &str,
        detail: &serde_json::Value,
    ) -> Result<(), RecordError>;
    /// Records that the rollback put `site` back on its previous production deployment
    /// (`live`: the Pages deployment that serves it now), on the deployment's Pages record
    /// with its event and audit entry. Repeating it after a crash records nothing new.
    async fn pages_restored(
        &self,
        owner: &Owner,
        deployment_id: &str,
        site: &PagesSite,
        live: &str,
    ) -> Result<(), RecordError>;
}

/// The outside world a rollout acts on: the Cloudflare API (opened per run with the team's
/// credential) and plain HTTP health checks.
#[allow(async_fn_in_trait)]
pub trait Effects {
    type Api: CloudflareApi;
    /// Opens the API for the owner's account.
    async fn open(&self, owner: &Owner) -> Result<Self::Api, OpenError>;
    /// Makes one health request.
    async fn health(&self, request: &HealthRequest) -> HealthResponse;
}

/// The Cloudflare calls of a run.
#[allow(async_fn_in_trait)]
pub trait CloudflareApi {
    /// Sets every split; `Err` lists the Workers that did not take theirs.
    async fn apply(&self, splits: &[Split], message: &str) -> Result<(), Vec<WorkerError>>;
    /// Sets every split, reporting per Worker.
    async fn restore(
        &self,
        splits: &[Split],
        message: &str,
    ) -> Vec<(String, Result<(), CallError>)>;
    /// Measures one version over its window.
    async fn measure(&self, spec: &Spec, query: &MetricQuery) -> Measurement;
    /// Makes the site's previous production deployment live again (the Pages rollback
    /// API); the id of the deployment that serves production now.
    async fn restore_pages(&self, site: &PagesSite) -> Result<String, CallError>;
}

/// Why a rollout could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("this deployment already has a rollout")]
    AlreadyStarted,
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Io(#[from] DriverError),
}

/// What a command would lead to, judged against the state it will meet.
#[derive(Debug, Clone, PartialEq)]
pub enum Preview {
    NoRollout,
    Refused(CommandError),
    Accepted(Box<Rollout>),
}

/// Applies recorded commands to `r`, in order; refused ones (e.g. the rollout ended
/// meanwhile) and unknown words change nothing.
pub fn apply_recorded(r: &mut Rollout, now: i64, commands: &[RecordedCommand]) {
    for c in commands {
        if let Some(cmd) = Command::parse(&c.command) {
            let _ = r.steer(now, cmd, c.version.as_deref(), &c.actor);
        }
    }
}

/// One rollout's driver over its I/O.
pub struct Driver<S, C, L, Q, R, E> {
    pub store: S,
    pub clock: C,
    pub lock: L,
    pub commands: Q,
    pub recorder: R,
    pub effects: E,
}

/// How a heartbeat ended for the run.
enum Heartbeat {
    Held,
    /// Lost (now recorded on the rollout): nothing moves.
    Lost,
    /// No answer: the run stops and asks again later.
    Unknown,
}

impl<S, C, L, Q, R, E> Driver<S, C, L, Q, R, E>
where
    S: RolloutStore,
    C: Clock,
    L: EnvironmentLock,
    Q: CommandSource,
    R: DeploymentRecorder,
    E: Effects,
{
    /// Stores a new rollout for `deployment_id` at its first step; the shell wakes it now.
    pub async fn start(
        &self,
        deployment_id: &str,
        owner: &Owner,
        spec: Spec,
    ) -> Result<Rollout, StartError> {
        if self.store.load().await?.is_some() {
            return Err(StartError::AlreadyStarted);
        }
        let r = Rollout::new(deployment_id, spec, self.clock.now_ms())?;
        self.store.save_owner(owner).await?;
        self.store.save(&r).await?;
        Ok(r)
    }

    /// The state `cmd` by `by` leads to, after the recorded commands not applied yet; nothing
    /// is stored.
    pub async fn preview(&self, cmd: Command, by: &str) -> Result<Preview, DriverError> {
        self.preview_steer(cmd, None, by).await
    }

    /// As [`Self::preview`], for `promote --version V` of an A/B test too.
    pub async fn preview_steer(
        &self,
        cmd: Command,
        version: Option<&str>,
        by: &str,
    ) -> Result<Preview, DriverError> {
        let Some(mut r) = self.store.load().await? else {
            return Ok(Preview::NoRollout);
        };
        let after = self.store.last_command().await?;
        let pending = self.commands.after(&r.deployment_id, after).await?;
        let now = self.clock.now_ms();
        apply_recorded(&mut r, now, &pending);
        Ok(match r.steer(now, cmd, version, by) {
            Ok(()) => Preview::Accepted(Box::new(r)),
            Err(e) => Preview::Refused(e),
        })
    }

    /// One run: renew the lock, apply recorded commands, then step the engine until it waits.
    pub async fn run(&self) -> Result<RunReport, DriverError> {
        let mut problems = Vec::new();
        let Some(owner) = self.store.owner().await? else {
            return Ok(RunReport {
                wake: Wake::Never,
                problems,
            });
        };
        if let Some(mut r) = self.store.load().await? {
            if !r.phase.is_terminal() && !r.lock_lost {
                if let Heartbeat::Unknown = self.heartbeat(&owner, &mut r, &mut problems).await? {
                    return Ok(self.retry_after(LOCK_RETRY_MS, problems));
                }
            }
        }
        // Opened at the first step that needs the API; an error stands for the whole run.
        let mut api: Option<Result<E::Api, String>> = None;
        let mut commands_read = false;
        for _ in 0..STEPS_PER_RUN {
            let Some(mut r) = self.store.load().await? else {
                return Ok(RunReport {
                    wake: Wake::Never,
                    problems,
                });
            };
            if !commands_read {
                commands_read = true;
                self.apply_commands(&mut r).await?;
            }
            let now = self.clock.now_ms();
            let action = r.next(now);
            let moves_traffic = matches!(
                action,
                Action::ApplyTraffic(_) | Action::Restore(_) | Action::RestorePages(_)
            );
            if moves_traffic {
                // Traffic moves only right after the lock said this deployment holds it.
                match self.heartbeat(&owner, &mut r, &mut problems).await? {
                    Heartbeat::Held => {}
                    Heartbeat::Lost => continue,
                    Heartbeat::Unknown => return Ok(self.retry_after(LOCK_RETRY_MS, problems)),
                }
            }
            if (moves_traffic || matches!(action, Action::RunChecks { .. })) && api.is_none() {
                // The engine keeps the reason as text in its log.
                api = Some(self.effects.open(&owner).await.map_err(|e| e.to_string()));
            }
            let message = format!("clodo rollout {}", r.deployment_id);
            match action {
                Action::ApplyTraffic(splits) => {
                    let outcome = match opened(&api) {
                        Ok(api) => match api.apply(&splits, &message).await {
                            Ok(()) => Ok(()),
                            Err(failed) => {
                                Err(undo_half_step(api, &r, &splits, &failed, &message).await)
                            }
                        },
                        Err(why) => Err(why),
                    };
                    r.traffic_applied(self.clock.now_ms(), outcome);
                }
                Action::Restore(splits) => {
                    let message = format!("{message}: roll back");
                    let outcomes: Vec<(String, Result<(), String>)> = match opened(&api) {
                        Ok(api) => api
                            .restore(&splits, &message)
                            .await
                            .into_iter()
                            .map(|(script, result)| (script, result.map_err(|e| e.to_string())))
                            .collect(),
                        Err(why) => splits
                            .iter()
                            .map(|s| (s.script.clone(), Err(why.clone())))
                            .collect(),
                    };
                    r.restore_done(self.clock.now_ms(), &outcomes);
                }
                Action::RestorePages(sites) => {
                    let mut outcomes = Vec::new();
                    for site in &sites {
                        let outcome = match opened(&api) {
                            Ok(api) => self.restore_site(api, &owner, &r, site).await,
                            Err(why) => Err(why),
                        };
                        outcomes.push((site.service.clone(), outcome));
                    }
                    r.pages_restore_done(self.clock.now_ms(), &outcomes);
                }
                Action::RunChecks { health, metrics } => {
                    let (health, measured) = self.checks(&api, &r.spec, &health, &metrics).await;
                    r.checks_done(self.clock.now_ms(), &health, &measured);
                }
                Action::Advance => r.advance(now),
                Action::Expire => r.expire(now),
                Action::Record { status, summary } => {
                    let end = RolloutEnd {
                        owner: &owner,
                        deployment_id: &r.deployment_id,
                        status,
                        detail: serde_json::json!({
                        "message": summary,
                        "rollout": {
                            "phase": r.phase,
                            "reason": r.reason,
                            // A/B tests: the results per version, the winner and the
                            // version kept, in the deployment's history.
                            "ab": r.ab_status(self.clock.now_ms()),
                            "log": r.log.iter().rev().take(20).rev().collect::<Vec<_>>(),
                        },
                        }),
                    };
                    match self.recorder.finish(&end).await {
                        Ok(()) => r.recorded(),
                        Err(e) => {
                            problems.push(format!(
                                "rollout {}: recording the end: {e}",
                                r.deployment_id
                            ));
                            return Ok(self.retry_after(RECORD_RETRY_MS, problems));
                        }
                    }
                }
                Action::WaitUntil(at) => {
                    return Ok(RunReport {
                        wake: Wake::At(at.min(now + MAX_ALARM_GAP_MS)),
                        problems,
                    });
                }
                // Paused: nothing to do but keep the lock (and read commands) until a human
                // decides.
                Action::Idle if !r.phase.is_terminal() => {
                    return Ok(self.retry_after(MAX_ALARM_GAP_MS, problems));
                }
                Action::Idle => {
                    return Ok(RunReport {
                        wake: Wake::Never,
                        problems,
                    })
                }
            }
            self.store.save(&r).await?;
        }
        // A long burst of work: continue in a fresh run rather than hold this one.
        Ok(self.retry_after(0, problems))
    }

    fn retry_after(&self, ms: i64, problems: Vec<String>) -> RunReport {
        RunReport {
            wake: Wake::At(self.clock.now_ms() + ms),
            problems,
        }
    }

    /// Renews the lock for `r`; a refusal pauses the rollout (stored, with the deployment's
    /// event), no answer is a problem to log.
    async fn heartbeat(
        &self,
        owner: &Owner,
        r: &mut Rollout,
        problems: &mut Vec<String>,
    ) -> Result<Heartbeat, DriverError> {
        match self.lock.heartbeat(owner, &r.deployment_id).await {
            LockAnswer::Held => Ok(Heartbeat::Held),
            LockAnswer::Lost(why) => {
                self.lose_lock(r, &why, problems).await?;
                Ok(Heartbeat::Lost)
            }
            LockAnswer::Unknown(why) => {
                problems.push(format!(
                    "rollout {}: lock heartbeat: {why}",
                    r.deployment_id
                ));
                Ok(Heartbeat::Unknown)
            }
        }
    }

    /// The engine learns the lock is gone: it pauses and says why; the deployment's record
    /// gets an event saying the same.
    async fn lose_lock(
        &self,
        r: &mut Rollout,
        why: &str,
        problems: &mut Vec<String>,
    ) -> Result<(), DriverError> {
        if !r.lost_lock(self.clock.now_ms(), why) {
            return Ok(());
        }
        problems.push(format!("rollout {}: lock lost: {why}", r.deployment_id));
        self.store.save(r).await?;
        let detail =
            serde_json::json!({ "by": ROLLOUT_ACTOR, "reason": r.reason, "phase": r.phase });
        if let Err(e) = self.recorder.lock_lost(&r.deployment_id, &detail).await {
            // The rollout's own status says it; the event is the deployment's copy.
            problems.push(format!(
                "rollout {}: recording the lock loss: {e}",
                r.deployment_id
            ));
        }
        Ok(())
    }

    /// Applies the commands recorded since the last one applied, in order, and stores the
    /// state with the new last id in one write: each command is applied exactly once.
    async fn apply_commands(&self, r: &mut Rollout) -> Result<(), DriverError> {
        let after = self.store.last_command().await?;
        let rows = self.commands.after(&r.deployment_id, after).await?;
        let Some(last) = rows.last().map(|c| c.id) else {
            return Ok(());
        };
        apply_recorded(r, self.clock.now_ms(), &rows);
        self.store.save_applied(r, last).await
    }

    /// Puts one Pages site back and records it; a site whose record failed is reported as
    /// not restored, so the next attempt calls the rollback again (it makes the same
    /// deployment live, which changes nothing) and records it then.
    async fn restore_site(
        &self,
        api: &E::Api,
        owner: &Owner,
        r: &Rollout,
        site: &PagesSite,
    ) -> Result<(), String> {
        let live = api.restore_pages(site).await.map_err(|e| e.to_string())?;
        self.recorder
            .pages_restored(owner, &r.deployment_id, site, &live)
            .await
            .map_err(|e| format!("restored as {live}, but recording it failed: {e}"))
    }

    /// Makes the health requests and measurements of one round, concurrently.
    async fn checks(
        &self,
        api: &Option<Result<E::Api, String>>,
        spec: &Spec,
        health: &[HealthRequest],
        metrics: &[MetricQuery],
    ) -> (Vec<HealthResponse>, Vec<Measurement>) {
        let health = futures::future::join_all(health.iter().map(|h| self.effects.health(h)));
        let measured = async {
            match opened(api) {
                Ok(api) => {
                    futures::future::join_all(metrics.iter().map(|q| api.measure(spec, q))).await
                }
                Err(why) => metrics
                    .iter()
                    .map(|q| Measurement::error(q, why.clone()))
                    .collect(),
            }
        };
        futures::future::join(health, measured).await
    }
}

/// A step some Workers took and others refused is undone on the ones that took it: they go
/// back to the split the record names (the last applied step's, or their previous versions),
/// so between attempts, and when the rollout gives the step up and pauses or rolls back, what
/// is live is what the record says. The text says which Workers refused, and any that could
/// not be put back (for those the record is not exact, and the reason says so).
async fn undo_half_step<A: CloudflareApi + ?Sized>(
    api: &A,
    r: &Rollout,
    splits: &[Split],
    failed: &[WorkerError],
    message: &str,
) -> String {
    let refused: Vec<String> = failed.iter().map(WorkerError::to_string).collect();
    let took: Vec<&str> = splits
        .iter()
        .map(|s| s.script.as_str())
        .filter(|script| !failed.iter().any(|f| f.script == *script))
        .collect();
    let back: Vec<Split> = r
        .recorded_splits()
        .into_iter()
        .filter(|s| took.contains(&s.script.as_str()))
        .collect();
    if back.is_empty() {
        return refused.join("; ");
    }
    let outcomes = api
        .restore(&back, &format!("{message}: undo a half-applied step"))
        .await;
    let moved_back: Vec<&str> = outcomes
        .iter()
        .filter(|(_, result)| result.is_ok())
        .map(|(script, _)| script.as_str())
        .collect();
    let not_back: Vec<String> = outcomes
        .iter()
        .filter_map(|(script, result)| result.as_ref().err().map(|e| format!("{script}: {e}")))
        .collect();
    let mut text = refused.join("; ");
    if !moved_back.is_empty() {
        text.push_str(&format!(
            "; put back on the recorded split: {}",
            moved_back.join(", ")
        ));
    }
    if !not_back.is_empty() {
        text.push_str(&format!(
            "; could not be put back (live differs from the record): {}",
            not_back.join("; ")
        ));
    }
    text
}

/// The API opened for this run, or why not (also when it was never opened: a bug upstream,
/// reported like a failed open rather than a panic).
fn opened<A>(api: &Option<Result<A, String>>) -> Result<&A, String> {
    match api {
        Some(Ok(api)) => Ok(api),
        Some(Err(why)) => Err(why.clone()),
        None => Err("the Cloudflare API was not opened for this run".to_owned()),
    }
}
