//! The deployment service: what creating, approving and moving a deployment decides, as
//! functions over a small store (`DeploymentStore`), so every decision is tested natively
//! against an in-memory store that can fail on demand.
//!
//! Each decision reads what it needs (the deployment, its approvals, the environment's policy,
//! who holds the environment's lock) and writes its outcome as one `Change`: the new status
//! with its event and audit entry, committed together or not at all. A status move is guarded
//! by the status it starts from, so two racing callers (or a retry) cannot both move it.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::lifecycle::{self, DeploymentStatus, IllegalTransition};
use super::policy::{self, ApprovalError, Policy, Violation};
use super::schedule;
use super::Role;
use crate::api::contract::deployments::{
    ApprovalRequest, Deployment, NewDeployment, Strategy, TransitionRequest,
};

#[cfg(test)]
mod tests;

/// Who makes a change; the audit entry and the events record its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A team token: its actor label (`member:<email>` or `token:<id>`), its role, and the
    /// person accountable for it (a member's lower-cased email), if any.
    Token {
        label: String,
        role: Role,
        accountable_email: Option<String>,
    },
    /// The control plane itself (the label says which part), e.g. a rollout finishing its
    /// deployment. It has no role: it never creates, approves or overrides.
    Server(&'static str),
}

/// The `Rollout` Durable Object ending the deployment it ran.
pub const ROLLOUT: Actor = Actor::Server("clodo:rollout");

impl Actor {
    /// The label written as the audit entry's actor and an event's `by`.
    #[must_use]
    pub fn label(&self) -> &str {
        match self {
            Actor::Token { label, .. } => label,
            Actor::Server(label) => label,
        }
    }

    fn role(&self) -> Option<Role> {
        match self {
            Actor::Token { role, .. } => Some(*role),
            Actor::Server(_) => None,
        }
    }
}

/// The project and environment a new deployment goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub project_id: String,
    /// The project's slug.
    pub project: String,
    pub environment_id: String,
    /// The environment's name.
    pub environment: String,
}

/// An event of a deployment's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `requested`, `transition`, `approved`, `emergency_override`.
    pub kind: &'static str,
    /// A transition's statuses.
    pub from: Option<DeploymentStatus>,
    pub to: Option<DeploymentStatus>,
    /// What the event records (who, why), as JSON.
    pub detail: Option<Value>,
}

/// An audit entry about a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// `Actor::label` of whoever made the change.
    pub actor: String,
    /// `deployment.create`, `deployment.transition`, …
    pub action: &'static str,
    /// The state before and after, as JSON.
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// An approval to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    pub id: String,
    /// The approver's `Actor::label` and role.
    pub actor: String,
    pub role: Role,
    pub comment: Option<String>,
    /// Unix ms.
    pub at: i64,
}

/// A status move, applied only while the deployment is still `from` (and, with
/// `min_approvals`, only once that many approvals are recorded, counted inside the same
/// write); its event and audit entry are written only when it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub from: DeploymentStatus,
    pub to: DeploymentStatus,
    /// Unix ms: the start or end time it records.
    pub at: i64,
    /// Approvals that must be recorded (after this write's own) for the move to apply.
    pub min_approvals: Option<i64>,
    /// Written with the move, and only if it applies.
    pub event: Event,
    pub audit: Audit,
}

/// The start of a scheduled deployment, inserted with it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewScheduledStart {
    /// Unix ms.
    pub due_at: i64,
    /// The rollout settings it starts with, as JSON.
    pub settings: Value,
    /// The recurring schedule that made it, if any.
    pub recurring_id: Option<String>,
}

/// One atomic write about one deployment, in this order: the new deployment row (and its
/// scheduled start), the approval, the unconditional events and audit entries, then the guarded move.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Change {
    pub deployment_id: String,
    /// A new deployment (creation).
    pub insert: Option<Deployment>,
    /// A scheduled deployment's start, inserted with it.
    pub schedule: Option<NewScheduledStart>,
    /// A new approval.
    pub approval: Option<NewApproval>,
    /// Records written whatever the guarded move does.
    pub events: Vec<Event>,
    pub audits: Vec<Audit>,
    /// The status move, if any.
    pub guarded: Option<Move>,
}

/// What a committed `Change` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The guarded move applied.
    pub moved: bool,
    /// The deployment's approvals after the write.
    pub approvals: i64,
}

/// What the service reads and writes. One implementation per platform: D1 and the lock's
/// Durable Object in the Worker, memory in the tests.
// The Worker's futures are not `Send` (JS objects), and the trait is only used generically.
#[allow(async_fn_in_trait)]
pub trait DeploymentStore {
    type Error;
    /// The project and environment named by a new deployment.
    async fn target(&self, project: &str, environment: &str) -> Result<Target, Self::Error>;
    async fn deployment(&self, id: &str) -> Result<Option<Deployment>, Self::Error>;
    /// The actor labels of the deployment's approvals so far.
    async fn approvers(&self, id: &str) -> Result<Vec<String>, Self::Error>;
    async fn policy(&self, environment_id: &str) -> Result<Policy, Self::Error>;
    /// The holder id of the environment's deploy lock, if it is held.
    async fn lock_holder(&self, environment_id: &str) -> Result<Option<String>, Self::Error>;
    /// Writes the change atomically: all of it or nothing.
    async fn commit(&self, change: Change) -> Result<Committed, Self::Error>;
    /// Lets the next deployment in the environment's queue go (a finished deployment holds
    /// nothing any more); nothing to do when it held nothing.
    async fn free_environment(
        &self,
        environment_id: &str,
        deployment_id: &str,
    ) -> Result<(), Self::Error>;
    /// A fresh id with a prefix saying what it names (`dep_…`, `apr_…`).
    fn new_id(&self, prefix: &str) -> String;
}

/// Why the service refused (or could not make) a change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeploymentError<E> {
    #[error("the store failed")]
    Store(E),
    #[error("deployment `{0}` not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{0}")]
    InvalidSchedule(String),
    #[error("blocked by the environment's policy")]
    Blocked(Vec<Violation>),
    #[error("the emergency override needs the approver role")]
    OverrideNeedsApprover(Option<Role>),
    #[error(transparent)]
    Illegal(IllegalTransition),
    #[error("this deployment is waiting for approvals")]
    WaitingForApprovals,
    #[error("deployment {deployment} does not hold the {environment} lock")]
    LockNotHeld {
        deployment: String,
        environment: String,
    },
    #[error("deployment {deployment} is no longer {from}")]
    NoLonger {
        deployment: String,
        from: DeploymentStatus,
    },
    #[error("deployment is {0}, not awaiting approval")]
    NotAwaitingApproval(DeploymentStatus),
    #[error(transparent)]
    Approval(ApprovalError),
}

type Outcome<T, S> = Result<T, DeploymentError<<S as DeploymentStore>::Error>>;

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn too_long(v: Option<&String>, max: usize) -> bool {
    v.is_some_and(|s| s.len() > max)
}

async fn current<S: DeploymentStore>(store: &S, id: &str) -> Outcome<Deployment, S> {
    store
        .deployment(id)
        .await
        .map_err(DeploymentError::Store)?
        .ok_or_else(|| DeploymentError::NotFound(id.to_owned()))
}

/// Checks the environment's policy again as a deployment moves on (approved into the queue,
/// or starting to deploy), with the time now: a freeze or window that began while it waited
/// holds it there.
async fn recheck_policy<S: DeploymentStore>(store: &S, d: &Deployment, now: i64) -> Outcome<(), S> {
    let policy = store
        .policy(&d.environment_id)
        .await
        .map_err(DeploymentError::Store)?;
    let violations = policy::recheck(
        &policy,
        utc(now),
        d.git_ref.as_deref(),
        d.override_reason.is_some(),
    );
    if violations.is_empty() {
        Ok(())
    } else {
        Err(DeploymentError::Blocked(violations))
    }
}

/// `POST /api/v1/deployments`: checks the policy (or the audited emergency override), then
/// records the deployment awaiting approval or queued. Answers the new deployment's id.
///
/// # Errors
/// `Invalid`, `Blocked`, `OverrideNeedsApprover`, or the store's error.
pub async fn create<S: DeploymentStore>(
    store: &S,
    actor: &Actor,
    request: &NewDeployment,
    now: i64,
) -> Outcome<String, S> {
    create_from(store, actor, request, None, now).await
}

/// What a promoted deployment ships: the source deployment the server chose, recorded as the
/// new one's `promoted_from` and on its `promoted` event (with the source versions).
#[derive(Debug, Clone, PartialEq)]
pub struct PromotedFrom {
    pub deployment_id: String,
    /// `{"environment", "services": [{service, script, version_id}]}` for the event.
    pub detail: Value,
}

/// As [`create`] (the same policy checks, approvals and queue), for a deployment that ships
/// what `promoted` verified elsewhere; `None` is a plain deployment.
///
/// # Errors
/// As [`create`].
/// 2000-01-01 in Unix ms: the earliest commit time a deployment may state.
const EARLIEST_COMMIT_MS: i64 = 946_684_800_000;
const DAY_MS: i64 = 86_400_000;

pub async fn create_from<S: DeploymentStore>(
    store: &S,
    actor: &Actor,
    request: &NewDeployment,
    promoted: Option<&PromotedFrom>,
    now: i64,
) -> Outcome<String, S> {
    if too_long(request.git_ref.as_ref(), 256)
        || too_long(request.git_sha.as_ref(), 64)
        || too_long(request.message.as_ref(), 2000)
    {
        return Err(DeploymentError::Invalid(
            "git_ref (256), git_sha (64) or message (2000) is too long",
        ));
    }
    // A commit time from before 2000 or more than a day ahead is a unit or clock mistake
    // (seconds for milliseconds); stored, it would skew DORA's change lead time.
    if request
        .git_committed_at
        .is_some_and(|t| !(EARLIEST_COMMIT_MS..=now + DAY_MS).contains(&t))
    {
        return Err(DeploymentError::Invalid(
            "git_committed_at must be Unix milliseconds between 2000 and a day from now",
        ));
    }
    let scheduled_for = match request.scheduled_for {
        Some(at) => {
            schedule::check_time(at, utc(now)).map_err(DeploymentError::InvalidSchedule)?;
            Some(at)
        }
        None if request.rollout.is_some() => {
            return Err(DeploymentError::Invalid(
                "rollout settings go with scheduled_for; a deployment started now sends them to POST …/rollout",
            ))
        }
        None => None,
    };
    let target = store
        .target(&request.project, &request.environment)
        .await
        .map_err(DeploymentError::Store)?;
    let policy = store
        .policy(&target.environment_id)
        .await
        .map_err(DeploymentError::Store)?;
    // A scheduled deployment is judged at its time. Freezes and windows are checked again
    // when it starts (the policy may change by then), so they do not refuse it now; they are
    // recorded as a warning. Branch rules do not change with time and refuse it now.
    let mut violations = policy.violations(
        scheduled_for.unwrap_or(utc(now)),
        request.git_ref.as_deref(),
    );
    let mut at_start_time = Vec::new();
    if scheduled_for.is_some() && request.emergency_override.is_none() {
        (at_start_time, violations) = violations
            .into_iter()
            .partition(|v| !matches!(v, Violation::BranchNotAllowed { .. }));
    }
    let mut override_reason = None;
    if !violations.is_empty() {
        let Some(emergency) = &request.emergency_override else {
            return Err(DeploymentError::Blocked(violations));
        };
        if !actor.role().is_some_and(policy::may_override) {
            return Err(DeploymentError::OverrideNeedsApprover(actor.role()));
        }
        if emergency.reason.trim().is_empty() || emergency.reason.len() > 1000 {
            return Err(DeploymentError::Invalid(
                "emergency_override.reason must be 1-1000 characters",
            ));
        }
        override_reason = Some(emergency.reason.clone());
    }
    let target_status = if policy.required_approvals > 0 {
        DeploymentStatus::AwaitingApproval
    } else {
        DeploymentStatus::Queued
    };
    lifecycle::transition(DeploymentStatus::Requested, target_status)
        .map_err(DeploymentError::Illegal)?;
    let strategy = request.strategy.unwrap_or(Strategy::Immediate);
    let required = i64::from(policy.required_approvals);
    let overridden = (!violations.is_empty()).then(|| json!(violations));
    let by = actor.label().to_owned();
    let id = store.new_id("dep");
    let after = json!({
        "project": target.project, "environment": target.environment, "status": target_status,
        "git_ref": request.git_ref, "git_sha": request.git_sha, "strategy": strategy,
        "required_approvals": required,
        "promoted_from": promoted.map(|p| &p.deployment_id),
    });
    let mut change = Change {
        deployment_id: id.clone(),
        events: vec![
            Event {
                kind: "requested",
                from: None,
                to: Some(DeploymentStatus::Requested),
                detail: None,
            },
            Event {
                kind: "transition",
                from: Some(DeploymentStatus::Requested),
                to: Some(target_status),
                detail: Some(json!({ "by": by, "policy": "checked" })),
            },
        ],
        audits: vec![audit(&by, "deployment.create", None, Some(after))],
        ..Change::default()
    };
    if let Some(at) = scheduled_for {
        // Absent: the defaults (`{}` reads as every field's default).
        let rollout = request
            .rollout
            .as_ref()
            .map_or_else(|| json!({}), |r| json!(r));
        let detail = json!({ "at": at.to_rfc3339(), "policy_at_that_time": at_start_time });
        change.events.push(Event {
            kind: "scheduled",
            from: None,
            to: None,
            detail: Some(detail),
        });
        change.schedule = Some(NewScheduledStart {
            due_at: at.timestamp_millis(),
            settings: rollout,
            recurring_id: None,
        });
    }
    if let Some(reason) = &override_reason {
        let detail = json!({ "reason": reason, "overridden": overridden });
        change.events.push(Event {
            kind: "emergency_override",
            from: None,
            to: None,
            detail: Some(detail.clone()),
        });
        change.audits.push(audit(
            &by,
            "deployment.emergency_override",
            None,
            Some(detail),
        ));
    }
    if let Some(p) = promoted {
        let mut detail = p.detail.clone();
        detail["from_deployment"] = json!(p.deployment_id);
        detail["by"] = json!(by);
        change.events.push(Event {
            kind: "promoted",
            from: None,
            to: None,
            detail: Some(detail),
        });
    }
    change.insert = Some(Deployment {
        id: id.clone(),
        project_id: target.project_id,
        environment_id: target.environment_id,
        project: target.project,
        environment: target.environment,
        status: target_status,
        strategy,
        requested_by: by,
        requested_by_member: match actor {
            Actor::Token {
                accountable_email, ..
            } => accountable_email.clone(),
            Actor::Server(_) => None,
        },
        git_ref: request.git_ref.clone(),
        git_sha: request.git_sha.clone(),
        git_committed_at: request.git_committed_at,
        message: request.message.clone(),
        required_approvals: required,
        override_reason,
        overridden_rules: overridden,
        created_at: now,
        started_at: None,
        finished_at: None,
        promoted_from: promoted.map(|p| p.deployment_id.clone()),
        scheduled_for: scheduled_for.map(|t| t.timestamp_millis()),
    });
    store.commit(change).await.map_err(DeploymentError::Store)?;
    Ok(id)
}

fn audit(actor: &str, action: &'static str, before: Option<Value>, after: Option<Value>) -> Audit {
    Audit {
        actor: actor.to_owned(),
        action,
        before,
        after,
    }
}

/// The guarded move `from → to` with its event and audit entry, refused when the lifecycle
/// does not allow it.
fn guarded_move<E>(
    actor: &Actor,
    from: DeploymentStatus,
    to: DeploymentStatus,
    detail: Option<&Value>,
    now: i64,
) -> Result<Move, DeploymentError<E>> {
    lifecycle::transition(from, to).map_err(DeploymentError::Illegal)?;
    let mut by = json!({ "by": actor.label() });
    if let Some(d) = detail {
        by["detail"] = d.clone();
    }
    Ok(Move {
        from,
        to,
        at: now,
        min_approvals: None,
        event: Event {
            kind: "transition",
            from: Some(from),
            to: Some(to),
            detail: Some(by),
        },
        audit: audit(
            actor.label(),
            "deployment.transition",
            Some(json!({ "status": from })),
            Some(json!({ "status": to, "detail": detail })),
        ),
    })
}

/// Commits a lone guarded move; `NoLonger` when someone else moved the deployment first.
async fn apply_move<S: DeploymentStore>(store: &S, d: &Deployment, step: Move) -> Outcome<(), S> {
    let from = step.from;
    let to = step.to;
    let committed = store
        .commit(Change {
            deployment_id: d.id.clone(),
            guarded: Some(step),
            ..Change::default()
        })
        .await
        .map_err(DeploymentError::Store)?;
    if !committed.moved {
        return Err(DeploymentError::NoLonger {
            deployment: d.id.clone(),
            from,
        });
    }
    if to.is_terminal() {
        store
            .free_environment(&d.environment_id, &d.id)
            .await
            .map_err(DeploymentError::Store)?;
    }
    Ok(())
}

/// `POST …/transitions`: moves a deployment on. Only approvals release one that awaits
/// them; only the holder of the environment's lock starts deploying, and only while the
/// policy allows it now. A finished deployment frees the environment. Answers the
/// deployment as it is afterwards.
///
/// # Errors
/// `Invalid`, `NotFound`, `WaitingForApprovals`, `Blocked`, `LockNotHeld`, `Illegal`,
/// `NoLonger`, or the store's error.
pub async fn transition<S: DeploymentStore>(
    store: &S,
    actor: &Actor,
    id: &str,
    request: &TransitionRequest,
    now: i64,
) -> Outcome<Deployment, S> {
    if request
        .detail
        .as_ref()
        .is_some_and(|d| d.to_string().len() > 8 * 1024)
    {
        return Err(DeploymentError::Invalid(
            "detail must be at most 8 KiB of JSON",
        ));
    }
    let d = current(store, id).await?;
    let to = request.to;
    if d.status == DeploymentStatus::AwaitingApproval && to == DeploymentStatus::Queued {
        return Err(DeploymentError::WaitingForApprovals);
    }
    if to == DeploymentStatus::Deploying {
        if d.scheduled_for.is_some() && matches!(actor, Actor::Token { .. }) {
            return Err(DeploymentError::Invalid(
                "a scheduled deployment is started by the control plane at its time; cancel it (POST …/cancel) to deploy now",
            ));
        }
        recheck_policy(store, &d, now).await?;
        // Strictly one deploy per environment: only the deployment holding the lock starts.
        let holder = store
            .lock_holder(&d.environment_id)
            .await
            .map_err(DeploymentError::Store)?;
        if holder.as_deref() != Some(d.id.as_str()) {
            return Err(DeploymentError::LockNotHeld {
                deployment: d.id,
                environment: d.environment,
            });
        }
    }
    let step = guarded_move(actor, d.status, to, request.detail.as_ref(), now)?;
    apply_move(store, &d, step).await?;
    current(store, id).await
}

/// Ends a deployment on behalf of the control plane itself (its rollout finished), with its
/// event and audit entry under `actor`'s label, and frees the environment. A deployment that
/// already ended is left as it is.
///
/// # Errors
/// `NotFound`, `Illegal`, `NoLonger`, or the store's error.
pub async fn finish<S: DeploymentStore>(
    store: &S,
    actor: &Actor,
    id: &str,
    to: DeploymentStatus,
    detail: &Value,
    now: i64,
) -> Outcome<(), S> {
    let d = current(store, id).await?;
    if d.status.is_terminal() {
        return Ok(());
    }
    let step = guarded_move(actor, d.status, to, Some(detail), now)?;
    apply_move(store, &d, step).await
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalOutcome {
    pub approval_id: String,
    /// Approvals recorded after this one.
    pub approvals: i64,
    /// The deployment afterwards: queued when this approval reached the required count.
    pub deployment: Deployment,
}

/// `POST …/approvals`: one approval by a person other than the author, with the approver
/// role, once; the approval that reaches the required count queues the deployment in the same
/// write (counted inside it, so two concurrent approvals cannot both miss the threshold).
///
/// # Errors
/// `Invalid`, `NotFound`, `Approval`, `NotAwaitingApproval`, `Blocked`, or the store's error.
pub async fn approve<S: DeploymentStore>(
    store: &S,
    actor: &Actor,
    id: &str,
    request: &ApprovalRequest,
    now: i64,
) -> Outcome<ApprovalOutcome, S> {
    if too_long(request.comment.as_ref(), 2000) {
        return Err(DeploymentError::Invalid(
            "comment must be at most 2000 characters",
        ));
    }
    let d = current(store, id).await?;
    let approvers = store
        .approvers(&d.id)
        .await
        .map_err(DeploymentError::Store)?;
    let Some(role) = actor.role() else {
        return Err(DeploymentError::Approval(ApprovalError::NotAPerson));
    };
    policy::check_approval(d.author().as_deref(), actor.label(), role, &approvers)
        .map_err(DeploymentError::Approval)?;
    if d.status != DeploymentStatus::AwaitingApproval {
        return Err(DeploymentError::NotAwaitingApproval(d.status));
    }
    // A scheduled deployment is approved for its time, not for the time of the approval.
    recheck_policy(store, &d, d.scheduled_for.map_or(now, |at| at.max(now))).await?;
    let by = actor.label().to_owned();
    let approval_id = store.new_id("apr");
    let seen = approvers.len() as i64 + 1;
    let mut queue = guarded_move(
        actor,
        DeploymentStatus::AwaitingApproval,
        DeploymentStatus::Queued,
        Some(&json!({ "approvals": seen })),
        now,
    )?;
    queue.min_approvals = Some(d.required_approvals);
    let change = Change {
        deployment_id: d.id.clone(),
        approval: Some(NewApproval {
            id: approval_id.clone(),
            actor: by.clone(),
            role,
            comment: request.comment.clone(),
            at: now,
        }),
        events: vec![Event {
            kind: "approved",
            from: None,
            to: None,
            detail: Some(json!({ "by": by, "comment": request.comment })),
        }],
        audits: vec![audit(
            &by,
            "deployment.approve",
            None,
            Some(json!({ "comment": request.comment })),
        )],
        guarded: Some(queue),
        ..Change::default()
    };
    let committed = store.commit(change).await.map_err(DeploymentError::Store)?;
    Ok(ApprovalOutcome {
        approval_id,
        approvals: committed.approvals,
        deployment: current(store, id).await?,
    })
}
