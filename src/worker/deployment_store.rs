//! The deployment service's store in the Worker (`control::deployments::DeploymentStore`):
//! deployments, approvals and events in D1, the environment's lock in its `DeployLock`
//! Durable Object. A `Change` becomes one D1 batch (a transaction), its guarded move an
//! `UPDATE … WHERE status = from` whose event and audit entry are written only when it
//! changed the row.

use serde::Deserialize;
use serde_json::Value;
use worker::{D1Database, D1PreparedStatement};

use super::db::{self, now_ms, Rows};
use super::durable::client::{LockClient, ObjectError};
use super::teams::load_policy;
use crate::api::contract::deployments::{Approval, Deployment, DeploymentEvent, DeploymentStatus};
use crate::api::ApiError;
use crate::control::deployments::{
    Audit, Change, Committed, DeploymentStore, Event, Move, NewApproval, NewScheduledStart, Target,
};
use crate::control::policy::Policy;
use crate::lock::{LockError, Requester};

/// D1 keeps `overridden_rules` as JSON text; the contract carries it parsed (text that is
/// not JSON reads as absent). Statuses and strategies read straight into their enums: a value
/// the code does not know is a fault of the stored data (an internal error), not the request's.
fn from_d1(mut d: Deployment) -> Deployment {
    if let Some(Value::String(text)) = &d.overridden_rules {
        d.overridden_rules = parse_json(Some(text));
    }
    d
}

/// Stored JSON text as a value; text that is not JSON reads as absent.
fn parse_json(text: Option<&str>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

pub(super) const SELECT_DEPLOYMENT: &str = "SELECT d.id, d.project_id, d.environment_id, p.slug AS project, e.name AS environment,
    d.status, CASE WHEN d.ab_test = 1 THEN 'ab' ELSE d.strategy END AS strategy, d.requested_by, d.requested_by_member, d.git_ref, d.git_sha, d.git_committed_at, d.message, d.required_approvals,
    d.override_reason, d.overridden_rules, d.created_at, d.started_at, d.finished_at,
    d.promoted_from, d.scheduled_for
  FROM deployments d JOIN projects p ON p.id = d.project_id JOIN environments e ON e.id = d.environment_id";

async fn find(db: &D1Database, team_id: &str, id: &str) -> Result<Option<Deployment>, ApiError> {
    let found = db::first::<Deployment>(worker::query!(
        db,
        &format!("{SELECT_DEPLOYMENT} WHERE d.team_id = ?1 AND d.id = ?2"),
        &team_id,
        &id
    ))
    .await?;
    Ok(found.map(from_d1))
}

/// Deployments of a query on `SELECT_DEPLOYMENT`.
pub(super) async fn all_of(
    stmt: worker::Result<D1PreparedStatement>,
) -> Result<Vec<Deployment>, ApiError> {
    let rows = db::all::<Deployment>(stmt).await?;
    Ok(rows.into_iter().map(from_d1).collect())
}

/// A deployment of the team, or "not found".
pub(super) async fn load(db: &D1Database, team_id: &str, id: &str) -> Result<Deployment, ApiError> {
    find(db, team_id, id)
        .await?
        .ok_or_else(|| db::not_found("deployment", id))
}

#[derive(Deserialize)]
struct EventRow {
    id: i64,
    at: i64,
    kind: String,
    from_status: Option<String>,
    to_status: Option<String>,
    detail: Option<String>,
}

fn stored_status(text: Option<String>) -> Result<Option<DeploymentStatus>, ApiError> {
    text.map(|s| s.parse().map_err(ApiError::internal))
        .transpose()
}

/// The deployment's event log, oldest first.
pub(super) async fn events_of(
    db: &D1Database,
    deployment_id: &str,
) -> Result<Vec<DeploymentEvent>, ApiError> {
    let rows = db::all::<EventRow>(worker::query!(
        db,
        "SELECT id, at, kind, from_status, to_status, detail FROM deployment_events WHERE deployment_id = ?1 ORDER BY id",
        &deployment_id
    ))
    .await?;
    rows.into_iter()
        .map(|e| {
            Ok(DeploymentEvent {
                id: e.id,
                at: e.at,
                kind: e.kind,
                from_status: stored_status(e.from_status)?,
                to_status: stored_status(e.to_status)?,
                detail: parse_json(e.detail.as_deref()),
            })
        })
        .collect()
}

/// The deployment's approvals, oldest first.
pub(super) async fn approvals_of(
    db: &D1Database,
    team_id: &str,
    deployment_id: &str,
) -> Result<Vec<Approval>, ApiError> {
    db::all::<Approval>(worker::query!(
        db,
        "SELECT id, actor, role, comment, created_at FROM approvals WHERE team_id = ?1 AND deployment_id = ?2 ORDER BY created_at, id",
        &team_id,
        &deployment_id
    ))
    .await
}

/// One deployment-event insert.
fn event_stmt(
    db: &D1Database,
    deployment_id: &str,
    event: &Event,
    rows: Rows,
) -> worker::Result<D1PreparedStatement> {
    let rows = rows.source(6);
    let from = event.from.map(DeploymentStatus::as_str);
    let to = event.to.map(DeploymentStatus::as_str);
    let detail = event.detail.as_ref().map(Value::to_string);
    worker::query!(
        db,
        &format!(
            "INSERT INTO deployment_events (deployment_id, at, kind, from_status, to_status, detail) {rows}"
        ),
        &deployment_id,
        &now_ms(),
        &event.kind,
        &from,
        &to,
        &detail
    )
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// A lock call whose refusal changes nothing for the caller; only a failed call is an error.
fn ignore_refusal(answer: Result<(), ObjectError<LockError>>) -> Result<(), ApiError> {
    match answer {
        Ok(()) | Err(ObjectError::Refused(_)) => Ok(()),
        Err(ObjectError::Failed(err)) => Err(err),
    }
}

/// The deployments of one team.
pub(super) struct D1Deployments<'a> {
    pub env: &'a worker::Env,
    pub db: D1Database,
    pub team_id: &'a str,
}

impl D1Deployments<'_> {
    fn insert_stmt(&self, d: &Deployment) -> worker::Result<D1PreparedStatement> {
        let overridden = d.overridden_rules.as_ref().map(Value::to_string);
        worker::query!(
            &self.db,
            "INSERT INTO deployments (id, team_id, project_id, environment_id, status, strategy, requested_by,
               git_ref, git_sha, message, created_at, required_approvals, override_reason, overridden_rules,
               requested_by_member, promoted_from, ab_test, scheduled_for, git_committed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?6 = 'ab' THEN 'gradual' ELSE ?6 END, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?6 = 'ab', ?17, ?18)",
            &d.id,
            &self.team_id,
            &d.project_id,
            &d.environment_id,
            &d.status.as_str(),
            &d.strategy.as_str(),
            &d.requested_by,
            &d.git_ref,
            &d.git_sha,
            &d.message,
            &d.created_at,
            &d.required_approvals,
            &d.override_reason,
            &overridden,
            &d.requested_by_member,
            &d.promoted_from,
            &d.scheduled_for,
            &d.git_committed_at
        )
    }

    /// A scheduled deployment's start, inserted in the batch that creates it.
    fn schedule_stmt(
        &self,
        d: &Deployment,
        start: &NewScheduledStart,
    ) -> worker::Result<D1PreparedStatement> {
        worker::query!(
            &self.db,
            "INSERT INTO deployment_schedules (deployment_id, team_id, environment_id, due_at, settings, state,
               recurring_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
            &d.id,
            &self.team_id,
            &d.environment_id,
            &start.due_at,
            &start.settings.to_string(),
            &start.recurring_id,
            &d.created_at
        )
    }

    fn approval_stmt(&self, id: &str, a: &NewApproval) -> worker::Result<D1PreparedStatement> {
        worker::query!(
            &self.db,
            "INSERT INTO approvals (id, team_id, deployment_id, actor, role, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &a.id,
            &self.team_id,
            &id,
            &a.actor,
            &a.role.as_str(),
            &a.comment,
            &a.at
        )
    }

    /// The guarded update: only while the deployment is still `from` (and has enough
    /// approvals, when the move asks for them).
    fn move_stmt(&self, id: &str, m: &Move) -> worker::Result<D1PreparedStatement> {
        let started = (m.to == DeploymentStatus::Deploying).then_some(m.at);
        let finished = m.to.is_terminal().then_some(m.at);
        worker::query!(
            &self.db,
            "UPDATE deployments SET status = ?1, started_at = COALESCE(?2, started_at), finished_at = COALESCE(?3, finished_at)
             WHERE id = ?4 AND team_id = ?5 AND status = ?6
               AND (?7 IS NULL OR (SELECT COUNT(*) FROM approvals WHERE team_id = ?5 AND deployment_id = ?4) >= ?7)",
            &m.to.as_str(),
            &started,
            &finished,
            &id,
            &self.team_id,
            &m.from.as_str(),
            &m.min_approvals
        )
    }

    fn audit_stmt(&self, id: &str, a: &Audit, rows: Rows) -> worker::Result<D1PreparedStatement> {
        let write = match rows {
            Rows::Always => db::audit_stmt,
            Rows::IfChanged => db::audit_if_changed_stmt,
        };
        let (before, after) = (a.before.as_ref(), a.after.as_ref());
        write(
            &self.db,
            self.team_id,
            &a.actor,
            a.action,
            "deployment",
            id,
            before,
            after,
        )
    }

    fn count_stmt(&self, id: &str) -> worker::Result<D1PreparedStatement> {
        worker::query!(
            &self.db,
            "SELECT COUNT(*) AS n FROM approvals WHERE team_id = ?1 AND deployment_id = ?2",
            &self.team_id,
            &id
        )
    }

    /// The environment's `DeployLock` object.
    fn lock(&self, environment_id: &str) -> LockClient {
        LockClient::new(self.env.clone(), environment_id)
    }
}

impl DeploymentStore for D1Deployments<'_> {
    type Error = ApiError;

    async fn target(&self, project: &str, environment: &str) -> Result<Target, ApiError> {
        let (p, e) = db::environment(&self.db, self.team_id, project, environment).await?;
        Ok(Target {
            project_id: p.id,
            project: p.slug,
            environment_id: e.id,
            environment: e.name,
        })
    }

    async fn deployment(&self, id: &str) -> Result<Option<Deployment>, ApiError> {
        find(&self.db, self.team_id, id).await
    }

    async fn approvers(&self, id: &str) -> Result<Vec<String>, ApiError> {
        let approvals = approvals_of(&self.db, self.team_id, id).await?;
        Ok(approvals.into_iter().map(|a| a.actor).collect())
    }

    async fn policy(&self, environment_id: &str) -> Result<Policy, ApiError> {
        load_policy(&self.db, self.team_id, environment_id).await
    }

    async fn lock_holder(&self, environment_id: &str) -> Result<Option<String>, ApiError> {
        let info = self.lock(environment_id).info().await?;
        Ok(info.holder.map(|lease| lease.claim.holder_id))
    }

    async fn commit(&self, change: Change) -> Result<Committed, ApiError> {
        let id = change.deployment_id.as_str();
        let mut stmts = Vec::new();
        if let Some(d) = &change.insert {
            stmts.push(self.insert_stmt(d));
            if let Some(start) = &change.schedule {
                stmts.push(self.schedule_stmt(d, start));
            }
        }
        if let Some(a) = &change.approval {
            stmts.push(self.approval_stmt(id, a));
        }
        for event in &change.events {
            stmts.push(event_stmt(&self.db, id, event, Rows::Always));
        }
        for a in &change.audits {
            stmts.push(self.audit_stmt(id, a, Rows::Always));
        }
        let guard_index = change.guarded.as_ref().map(|m| {
            stmts.push(self.move_stmt(id, m));
            // Each written only if the statement before it wrote: a lost race leaves no
            // trace, and a change never commits without its record.
            stmts.push(event_stmt(&self.db, id, &m.event, Rows::IfChanged));
            stmts.push(self.audit_stmt(id, &m.audit, Rows::IfChanged));
            stmts.len() - 3
        });
        stmts.push(self.count_stmt(id));
        let results = db::batch(&self.db, stmts).await?;
        // The events' notifications were queued by the batch (a trigger on the events).
        super::outbox::kick(self.env).await;
        let moved = guard_index.is_some_and(|i| db::changes(&results, i) > 0);
        let approvals = results
            .last()
            .map(|r| r.results::<Count>())
            .transpose()
            .map_err(db::d1)?
            .and_then(|rows| rows.first().map(|c| c.n))
            .unwrap_or(0);
        Ok(Committed { moved, approvals })
    }

    async fn free_environment(
        &self,
        environment_id: &str,
        deployment_id: &str,
    ) -> Result<(), ApiError> {
        // The server acts for the deployment; a refusal only means it held nothing there
        // (e.g. cancelled while queued), a failed call is the caller's error.
        let lock = self.lock(environment_id);
        let released = lock
            .release(deployment_id, Requester::Server)
            .await
            .map(drop);
        ignore_refusal(released)?;
        let cancelled = lock
            .cancel(deployment_id, Requester::Server)
            .await
            .map(drop);
        ignore_refusal(cancelled)
    }

    fn new_id(&self, prefix: &str) -> String {
        db::new_id(prefix)
    }
}
