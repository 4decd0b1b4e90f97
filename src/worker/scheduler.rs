//! The scheduler's sweep: creates the deployments of due recurring schedules, then starts
//! each due scheduled deployment. Run by the `Scheduler` object's alarm and by the
//! every-minute cron trigger; both may run at once, so every start is claimed in D1 first
//! (`UPDATE … WHERE state IN ('pending','waiting') …`: one run wins) and every step after the
//! claim is guarded by the deployment's recorded status, so a start resumes where a crashed
//! run stopped (a `starting` claim older than `STALE_CLAIM_MS` is taken over) and never runs
//! twice. The decisions are the pure core's (`control::schedule`, `control::deployments`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Env};

use super::db::{self, audit_if_changed_stmt, audit_stmt, now_ms};
use super::deployment_store::{load, D1Deployments};
use super::durable::client::LockClient;
use super::policies::load_policy;
use super::rollout_io::Owner;
use super::rollout_io::{Io, VersionCheck};
use super::rollouts::{begin_rollout, environment_account, uploads_of};
use crate::api::contract::deployments::{Deployment, NewDeployment, TransitionRequest};
use crate::api::ApiError;
use crate::control::deployments::{self as service, Actor, DeploymentError};
use crate::control::lifecycle::DeploymentStatus;
use crate::control::schedule::cron::Cron;
use crate::control::schedule::{
    self, decide_start, RecordedVersion, ScheduleState, StartDecision, MAX_LOCK_WAIT_MS,
    MAX_START_ATTEMPTS, MAX_UPLOAD_WAIT_MS, SCHEDULER, STALE_CLAIM_MS,
};
use crate::lock::{AcquireOutcome, Claim, Requester};
use crate::rollout::RolloutSettings;

const ACTOR: Actor = Actor::Server(SCHEDULER);
/// How soon a start waiting for the lock (or retrying after an error) is tried again.
const RETRY_MS: i64 = 5_000;
/// The scheduler's lease on the environment lock until the rollout heartbeats it.
const LEASE_MS: i64 = 120_000;
/// Starts and occurrences handled per sweep (the next sweep takes the rest).
const BATCH: i64 = 20;

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// One sweep; answers when the next one is due (`None`: nothing scheduled).
///
/// # Errors
/// D1 could not be read.
pub async fn sweep(env: &Env) -> Result<Option<i64>, ApiError> {
    let db = db::db(env)?;
    let now = now_ms();
    for r in due_recurring(&db, now).await? {
        if let Err(e) = occur(env, &db, &r, now).await {
            worker::console_error!("schedule {}: occurrence failed: {}", r.id, e.message);
        }
    }
    let due = db::all::<DueRow>(worker::query!(
        &db,
        "SELECT deployment_id, team_id, due_at, settings, attempts FROM deployment_schedules
          WHERE (state IN ('pending', 'waiting') AND due_at <= ?1) OR (state = 'starting' AND claimed_at < ?2)
          ORDER BY due_at LIMIT ?3",
        &now,
        &(now - STALE_CLAIM_MS),
        &BATCH
    ))
    .await?;
    for row in due {
        if let Err(e) = start(env, &db, &row).await {
            worker::console_error!(
                "scheduled {}: start failed: {}",
                row.deployment_id,
                e.message
            );
        }
    }
    next_wake(&db, now_ms()).await
}

#[derive(Deserialize)]
struct NextRow {
    at: Option<i64>,
}

/// The earliest pending start or occurrence; soon when a start waits or retries.
async fn next_wake(db: &D1Database, now: i64) -> Result<Option<i64>, ApiError> {
    let row = db::first::<NextRow>(worker::query!(
        db,
        "SELECT MIN(t) AS at FROM (
           SELECT MIN(due_at) AS t FROM deployment_schedules WHERE state = 'pending'
           UNION ALL SELECT MIN(next_at) FROM recurring_schedules WHERE deleted_at IS NULL
           UNION ALL SELECT MIN(?1) FROM deployment_schedules WHERE state IN ('waiting', 'starting'))",
        &(now + RETRY_MS)
    ))
    .await?;
    Ok(row.and_then(|r| r.at))
}

#[derive(Debug, Deserialize)]
struct DueRow {
    deployment_id: String,
    team_id: String,
    due_at: i64,
    settings: String,
    attempts: i64,
}

/// What one start attempt came to.
enum Outcome {
    Started,
    /// Queued behind another deployment for the lock; tried again soon.
    Waiting,
    Skipped(String),
    Failed(String),
}

/// Claims and starts one due deployment.
async fn start(env: &Env, db: &D1Database, row: &DueRow) -> Result<(), ApiError> {
    let now = now_ms();
    let claimed = db::run(worker::query!(
        db,
        "UPDATE deployment_schedules SET state = 'starting', claimed_at = ?2
          WHERE deployment_id = ?1 AND ((state IN ('pending', 'waiting') AND due_at <= ?2)
                OR (state = 'starting' AND claimed_at < ?3))",
        &row.deployment_id,
        &now,
        &(now - STALE_CLAIM_MS)
    ))
    .await?;
    if claimed == 0 {
        return Ok(()); // another run has it
    }
    let outcome = match attempt(env, db, row, now).await {
        Ok(o) => o,
        Err(e) if row.attempts + 1 >= MAX_START_ATTEMPTS => Outcome::Failed(format!(
            "starting failed {MAX_START_ATTEMPTS} times; last: {}",
            e.message
        )),
        Err(e) => {
            // Tried again shortly (the claim is released as `waiting`), a bounded number of times.
            db::run(worker::query!(
                db,
                "UPDATE deployment_schedules SET state = 'waiting', attempts = attempts + 1, reason = ?2
                  WHERE deployment_id = ?1 AND state = 'starting'",
                &row.deployment_id,
                &e.message
            ))
            .await?;
            return Ok(());
        }
    };
    match outcome {
        Outcome::Waiting => {
            db::run(worker::query!(
                db,
                "UPDATE deployment_schedules SET state = 'waiting' WHERE deployment_id = ?1 AND state = 'starting'",
                &row.deployment_id
            ))
            .await?;
        }
        Outcome::Started => end_schedule(db, row, ScheduleState::Started, None).await?,
        Outcome::Skipped(reason) => {
            end_deployment(env, db, row, DeploymentStatus::Cancelled, &reason).await?;
            end_schedule(db, row, ScheduleState::Skipped, Some(&reason)).await?;
        }
        Outcome::Failed(reason) => {
            end_deployment(env, db, row, DeploymentStatus::Failed, &reason).await?;
            end_schedule(db, row, ScheduleState::Failed, Some(&reason)).await?;
        }
    }
    Ok(())
}

/// The deployment service's store for one team (its own D1 handle: handles are not `Clone`).
fn store<'a>(env: &'a Env, team_id: &'a str) -> Result<D1Deployments<'a>, ApiError> {
    Ok(D1Deployments {
        env,
        db: db::db(env)?,
        team_id,
    })
}

/// One attempt, resuming from the deployment's recorded status: queued → (policy at the
/// start time, lock) deploying → (live versions) verifying → rollout started.
async fn attempt(env: &Env, db: &D1Database, row: &DueRow, now: i64) -> Result<Outcome, ApiError> {
    let team = row.team_id.as_str();
    let store = store(env, team)?;
    let mut d = load(db, team, &row.deployment_id).await?;
    if matches!(
        d.status,
        DeploymentStatus::Queued | DeploymentStatus::AwaitingApproval
    ) {
        // `clodo deploy --at` records the versions once wrangler has uploaded them, which
        // may end after the start time: the start waits for them, for a bounded time.
        if uploads_of(db, &d.id).await?.is_empty() {
            if now - row.due_at > MAX_UPLOAD_WAIT_MS {
                return Ok(Outcome::Failed(format!(
                    "no versions were recorded for it within {} minutes of its start time (POST …/services while it is scheduled)",
                    MAX_UPLOAD_WAIT_MS / 60_000
                )));
            }
            return Ok(Outcome::Waiting);
        }
        let policy = load_policy(db, team, &d.environment_id).await?;
        let approvals = super::deployment_store::approvals_of(db, team, &d.id).await?;
        let decision = decide_start(
            d.status,
            approvals.len() as i64,
            d.required_approvals,
            &policy,
            utc(now),
            d.git_ref.as_deref(),
            d.override_reason.is_some(),
        );
        if let StartDecision::Skip(reason) = decision {
            return Ok(Outcome::Skipped(reason));
        }
        let lock = LockClient::new(env.clone(), &d.environment_id);
        let claim = Claim {
            holder_id: d.id.clone(),
            actor: SCHEDULER.to_owned(),
            purpose: "scheduled deploy".to_owned(),
            lease_ms: LEASE_MS,
            owner: String::new(),
        };
        match lock.acquire(claim).await? {
            AcquireOutcome::Granted { .. } => {}
            AcquireOutcome::Queued { holder, .. } => {
                if now - row.due_at > MAX_LOCK_WAIT_MS {
                    let _ = lock.cancel(&d.id, Requester::Server).await;
                    return Ok(Outcome::Skipped(format!(
                        "the environment stayed busy ({} held its lock) for {} minutes after its start time",
                        holder.claim.holder_id,
                        MAX_LOCK_WAIT_MS / 60_000
                    )));
                }
                return Ok(Outcome::Waiting);
            }
        }
        let request = TransitionRequest {
            to: DeploymentStatus::Deploying,
            detail: Some(json!({ "scheduled_for": d.scheduled_for, "started_by": SCHEDULER })),
        };
        // The same guarded move (policy rechecked, lock holder checked) as the normal path.
        match service::transition(&store, &ACTOR, &d.id, &request, now).await {
            Ok(moved) => d = moved,
            Err(DeploymentError::Blocked(v)) => {
                let reasons: Vec<String> = v.iter().map(|v| v.describe()).collect();
                return Ok(Outcome::Skipped(format!(
                    "blocked by the environment's policy at its start time: {}",
                    reasons.join("; ")
                )));
            }
            Err(DeploymentError::NoLonger { .. }) => d = load(db, team, &row.deployment_id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    if d.status == DeploymentStatus::Deploying {
        if let Some(failed) = refresh_previous_versions(env, db, team, &d).await? {
            return Ok(Outcome::Failed(failed));
        }
        let request = TransitionRequest {
            to: DeploymentStatus::Verifying,
            detail: Some(
                json!({ "message": "scheduled start: versions uploaded when it was scheduled" }),
            ),
        };
        match service::transition(&store, &ACTOR, &d.id, &request, now).await {
            Ok(moved) => d = moved,
            Err(DeploymentError::NoLonger { .. }) => d = load(db, team, &row.deployment_id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    if d.status == DeploymentStatus::Verifying {
        let settings: RolloutSettings = serde_json::from_str(&row.settings)
            .map_err(|e| ApiError::internal(format!("stored rollout settings: {e}")))?;
        let account = match environment_account(db, &d).await {
            Ok(a) => a,
            Err(e) => return Ok(Outcome::Failed(e.message)),
        };
        return match begin_rollout(env, db, team, SCHEDULER, &d, account, settings).await {
            Ok(_) => Ok(Outcome::Started),
            // A refusal (nothing recorded, settings that cannot run) will not change on retry.
            Err(e) if e.code.status().is_client_error() => Ok(Outcome::Failed(format!(
                "the rollout did not start: {}",
                e.message
            ))),
            Err(e) => Err(e),
        };
    }
    // Ended (cancelled meanwhile, or a resumed start whose rollout already ran).
    let started = db::first::<serde_json::Value>(worker::query!(
        db,
        "SELECT deployment_id FROM rollouts WHERE deployment_id = ?1",
        &d.id
    ))
    .await?;
    Ok(if started.is_some() {
        Outcome::Started
    } else {
        Outcome::Skipped(format!("it was {} at its start time", d.status))
    })
}

/// Fills in what each Worker serves now as the version to split against and restore; checks
/// each recorded version still exists in the environment's account. `Some(reason)` fails it.
async fn refresh_previous_versions(
    env: &Env,
    db: &D1Database,
    team: &str,
    d: &Deployment,
) -> Result<Option<String>, ApiError> {
    let account = match environment_account(db, d).await {
        Ok(a) => a,
        Err(e) => return Ok(Some(e.message)),
    };
    let owner = Owner {
        team_id: team.to_owned(),
        account_id: account.clone(),
        environment_id: d.environment_id.clone(),
    };
    let io = match Io::open(env, &owner).await {
        Ok(io) => io,
        Err(e) => return Ok(Some(e.to_string())),
    };
    let uploads = uploads_of(db, &d.id).await?;
    if uploads.is_empty() {
        return Ok(Some(
            "no versions were recorded for it before its start time (POST …/services while it is scheduled)".into(),
        ));
    }
    let mut stmts = Vec::new();
    for u in &uploads {
        match io.verify_version(&u.script, &u.version_id).await {
            VersionCheck::Exists => {}
            VersionCheck::Missing(why) => {
                return Ok(Some(format!(
                    "version {} of Worker `{}` is gone from account {account}: {why}",
                    u.version_id, u.script
                )))
            }
            VersionCheck::Unknown(why) | VersionCheck::Refused(why) => {
                return Err(ApiError::unavailable(format!(
                    "checking version {} of `{}`: {why}",
                    u.version_id, u.script
                )))
            }
        }
        let live = io.live_version(&u.script).await.map_err(|e| {
            ApiError::unavailable(format!("reading `{}`'s deployments: {e}", u.script))
        })?;
        let already_live = live.as_deref() == Some(u.version_id.as_str());
        let previous = if already_live { None } else { live };
        stmts.push(worker::query!(
            db,
            "UPDATE deployment_services SET previous_version_id = ?1, already_live = ?2
              WHERE deployment_id = ?3 AND script_name = ?4",
            &previous,
            &i64::from(already_live),
            &d.id,
            &u.script
        ));
    }
    db::batch(db, stmts).await?;
    Ok(None)
}

/// Ends the deployment (cancelled when skipped, failed when starting failed) with the reason,
/// as the scheduler; this frees the environment's lock or queue place.
async fn end_deployment(
    env: &Env,
    db: &D1Database,
    row: &DueRow,
    to: DeploymentStatus,
    reason: &str,
) -> Result<(), ApiError> {
    let store = store(env, &row.team_id)?;
    let d = load(db, &row.team_id, &row.deployment_id).await?;
    // Not started: cancelled; once deploying, a stop is a failure (nothing took traffic).
    let to = if matches!(
        d.status,
        DeploymentStatus::Queued | DeploymentStatus::AwaitingApproval
    ) {
        DeploymentStatus::Cancelled
    } else {
        to
    };
    let detail = json!({ "reason": reason, "by": SCHEDULER });
    match service::finish(&store, &ACTOR, &d.id, to, &detail, now_ms()).await {
        Ok(()) | Err(DeploymentError::NoLonger { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Records how the start ended, with an audit entry written only if this run recorded it.
async fn end_schedule(
    db: &D1Database,
    row: &DueRow,
    state: ScheduleState,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let detail = json!({ "state": state, "reason": reason });
    db::batch(
        db,
        vec![
            worker::query!(
                db,
                "UPDATE deployment_schedules SET state = ?2, reason = ?3, ended_at = ?4
                  WHERE deployment_id = ?1 AND state = 'starting'",
                &row.deployment_id,
                &state.as_str(),
                &reason,
                &now_ms()
            ),
            audit_if_changed_stmt(
                db,
                &row.team_id,
                SCHEDULER,
                &format!("deployment.schedule_{}", state.as_str()),
                "deployment",
                &row.deployment_id,
                None,
                Some(&detail),
            ),
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(super) struct RecurringRow {
    pub id: String,
    pub team_id: String,
    pub project_id: String,
    pub environment_id: String,
    pub cron: String,
    pub source_environment_id: Option<String>,
    pub strategy: String,
    pub settings: String,
    pub message: Option<String>,
    pub next_at: i64,
}

async fn due_recurring(db: &D1Database, now: i64) -> Result<Vec<RecurringRow>, ApiError> {
    db::all::<RecurringRow>(worker::query!(
        db,
        "SELECT id, team_id, project_id, environment_id, cron, source_environment_id, strategy, settings,
                message, next_at
           FROM recurring_schedules WHERE deleted_at IS NULL AND next_at <= ?1 ORDER BY next_at LIMIT ?2",
        &now,
        &BATCH
    ))
    .await
}

#[derive(Deserialize)]
struct Names {
    project: String,
    environment: String,
}

#[derive(Deserialize)]
struct SourceRow {
    id: String,
    git_ref: Option<String>,
    git_sha: Option<String>,
    git_committed_at: Option<i64>,
}

/// The versions an occurrence ships, or why it cannot.
async fn occurrence_versions(
    db: &D1Database,
    r: &RecurringRow,
) -> Result<Result<(Vec<RecordedVersion>, SourceRow), String>, ApiError> {
    let source_env = r
        .source_environment_id
        .as_deref()
        .unwrap_or(&r.environment_id);
    let source = db::first::<SourceRow>(worker::query!(
        db,
        "SELECT d.id, d.git_ref, d.git_sha, d.git_committed_at FROM deployments d
          WHERE d.team_id = ?1 AND d.environment_id = ?2 AND d.status = 'succeeded'
            AND EXISTS (SELECT 1 FROM deployment_services x WHERE x.deployment_id = d.id AND x.version_id IS NOT NULL)
          ORDER BY d.finished_at DESC, d.id DESC LIMIT 1",
        &r.team_id,
        &source_env
    ))
    .await?;
    let source_name = environment_name(db, source_env).await?;
    let Some(source) = source else {
        return Ok(Err(format!(
            "{source_name} has no succeeded deployment with recorded versions yet"
        )));
    };
    let recorded: Vec<RecordedVersion> = uploads_of(db, &source.id)
        .await?
        .into_iter()
        .map(|u| RecordedVersion {
            service: u.service,
            script: u.script,
            version_id: u.version_id,
        })
        .collect();
    let target = super::schedules::scripts_of(db, &r.team_id, &r.environment_id).await?;
    Ok(schedule::versions_for_target(&recorded, &target, &source_name).map(|v| (v, source)))
}

#[derive(Deserialize)]
struct NameRow {
    name: String,
}

async fn environment_name(db: &D1Database, id: &str) -> Result<String, ApiError> {
    Ok(db::first::<NameRow>(worker::query!(
        db,
        "SELECT name FROM environments WHERE id = ?1",
        &id
    ))
    .await?
    .map_or_else(|| id.to_owned(), |r| r.name))
}

/// One occurrence of a recurring schedule: a deployment (its id fixed by the schedule and the
/// occurrence, so a retried occurrence finds the one it made) with the versions to ship,
/// started right away like a scheduled one; then the schedule moves to its next occurrence
/// (guarded by the occurrence it handled). A policy that blocks now, or no versions to ship,
/// creates nothing and is recorded as the schedule's `last_error` (and audited).
async fn occur(env: &Env, db: &D1Database, r: &RecurringRow, now: i64) -> Result<(), ApiError> {
    let cron = Cron::parse(&r.cron).map_err(ApiError::internal)?;
    let next = cron
        .next_after(utc(now.max(r.next_at)))
        .map_or(i64::MAX, |t| t.timestamp_millis());
    let id = format!(
        "dep_{}_{}",
        r.id.trim_start_matches("sch_"),
        r.next_at / 1000
    );
    let mut error = None;
    let exists = db::first::<serde_json::Value>(worker::query!(
        db,
        "SELECT id FROM deployments WHERE id = ?1",
        &id
    ))
    .await?
    .is_some();
    if !exists {
        match occurrence_versions(db, r).await? {
            Err(why) => error = Some(why),
            Ok((versions, source)) => {
                if let Err(why) = create_occurrence(env, db, r, &id, &versions, &source).await? {
                    error = Some(why);
                }
            }
        }
    }
    let created = error.is_none().then_some(id.as_str());
    let detail = json!({ "occurrence": r.next_at, "deployment_id": created, "error": error });
    db::batch(
        db,
        vec![
            worker::query!(
                db,
                "UPDATE recurring_schedules SET next_at = ?2, last_occurrence_at = ?3,
                   last_deployment_id = ?4, last_error = ?5 WHERE id = ?1 AND next_at = ?3",
                &r.id,
                &next,
                &r.next_at,
                &created,
                &error
            ),
            audit_if_changed_stmt(
                db,
                &r.team_id,
                SCHEDULER,
                if error.is_some() {
                    "schedule.occurrence_skipped"
                } else {
                    "schedule.occurrence"
                },
                "schedule",
                &r.id,
                None,
                Some(&detail),
            ),
        ],
    )
    .await?;
    Ok(())
}

/// Creates the occurrence's deployment through the deployment service (policy checked now,
/// as the scheduler), then its scheduled start and versions in one batch.
async fn create_occurrence(
    env: &Env,
    db: &D1Database,
    r: &RecurringRow,
    id: &str,
    versions: &[RecordedVersion],
    source: &SourceRow,
) -> Result<Result<(), String>, ApiError> {
    let names = db::first::<Names>(worker::query!(
        db,
        "SELECT p.slug AS project, e.name AS environment FROM environments e JOIN projects p ON p.id = e.project_id
          WHERE e.id = ?1",
        &r.environment_id
    ))
    .await?
    .ok_or_else(|| db::not_found("environment", &r.environment_id))?;
    let request =
        NewDeployment {
            project: names.project,
            environment: names.environment,
            git_ref: source.git_ref.clone(),
            git_sha: source.git_sha.clone(),
            git_committed_at: source.git_committed_at,
            strategy: crate::config::Strategy::parse(&r.strategy),
            message: Some(r.message.clone().unwrap_or_else(|| {
                format!("recurring schedule {} (versions of {})", r.id, source.id)
            })),
            emergency_override: None,
            scheduled_for: None,
            rollout: None,
        };
    let store = FixedId {
        inner: store(env, &r.team_id)?,
        id: id.to_owned(),
    };
    match service::create(&store, &ACTOR, &request, now_ms()).await {
        Ok(_) => {}
        Err(DeploymentError::Blocked(v)) => {
            let reasons: Vec<String> = v.iter().map(|v| v.describe()).collect();
            return Ok(Err(format!(
                "blocked by the environment's policy: {}",
                reasons.join("; ")
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let now = now_ms();
    let mut stmts = vec![
        worker::query!(
            db,
            "UPDATE deployments SET scheduled_for = ?2 WHERE id = ?1",
            &id,
            &r.next_at
        ),
        worker::query!(
            db,
            "INSERT INTO deployment_schedules (deployment_id, team_id, environment_id, due_at, settings, state,
               recurring_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)
             ON CONFLICT (deployment_id) DO NOTHING",
            &id,
            &r.team_id,
            &r.environment_id,
            &now,
            &r.settings,
            &r.id,
            &now
        ),
    ];
    for v in versions {
        stmts.push(worker::query!(
            db,
            "INSERT INTO deployment_services (deployment_id, service_id, version_id, status, script_name,
               already_live, recorded_by, recorded_at)
             SELECT ?1, s.id, ?2, 'uploaded', ?3, 0, ?4, ?5 FROM services s
              WHERE s.project_id = ?6 AND s.name = ?7
             ON CONFLICT (deployment_id, service_id) DO NOTHING",
            &id,
            &v.version_id,
            &v.script,
            &SCHEDULER,
            &now,
            &r.project_id,
            &v.service
        ));
    }
    stmts.push(audit_stmt(
        db,
        &r.team_id,
        SCHEDULER,
        "deployment.uploads",
        "deployment",
        id,
        None,
        Some(&json!({ "from_deployment": source.id, "schedule": r.id })),
    ));
    db::batch(db, stmts).await?;
    Ok(Ok(()))
}

/// The deployment store with the new deployment's id fixed (an occurrence's), so creating it
/// again after a crash is refused by the key instead of making a second one.
struct FixedId<'a> {
    inner: D1Deployments<'a>,
    id: String,
}

impl service::DeploymentStore for FixedId<'_> {
    type Error = ApiError;

    async fn target(&self, project: &str, environment: &str) -> Result<service::Target, ApiError> {
        self.inner.target(project, environment).await
    }
    async fn deployment(&self, id: &str) -> Result<Option<Deployment>, ApiError> {
        self.inner.deployment(id).await
    }
    async fn approvers(&self, id: &str) -> Result<Vec<String>, ApiError> {
        self.inner.approvers(id).await
    }
    async fn policy(
        &self,
        environment_id: &str,
    ) -> Result<crate::control::policy::Policy, ApiError> {
        self.inner.policy(environment_id).await
    }
    async fn lock_holder(&self, environment_id: &str) -> Result<Option<String>, ApiError> {
        self.inner.lock_holder(environment_id).await
    }
    async fn commit(&self, change: service::Change) -> Result<service::Committed, ApiError> {
        self.inner.commit(change).await
    }
    async fn free_environment(
        &self,
        environment_id: &str,
        deployment_id: &str,
    ) -> Result<(), ApiError> {
        self.inner
            .free_environment(environment_id, deployment_id)
            .await
    }
    fn new_id(&self, _prefix: &str) -> String {
        self.id.clone()
    }
}
