//! The deployment service's decisions against an in-memory store that can fail on demand.

use std::cell::{Cell, RefCell};

use futures::executor::block_on;
use serde_json::json;

use super::*;
use crate::api::contract::deployments::EmergencyOverride;

/// Everything the in-memory store holds.
#[derive(Debug, Clone, Default)]
struct State {
    deployments: Vec<Deployment>,
    /// (deployment id, actor label)
    approvals: Vec<(String, String)>,
    events: Vec<(String, Event)>,
    audits: Vec<Audit>,
    freed: Vec<String>,
    /// (deployment id, its scheduled start)
    schedules: Vec<(String, NewScheduledStart)>,
}

#[derive(Default)]
struct MemoryStore {
    state: RefCell<State>,
    policy: Policy,
    lock_holder: Option<String>,
    /// The next commit fails (after doing part of its work on a scratch copy).
    fail_next_commit: Cell<bool>,
    ids: Cell<u32>,
}

#[derive(Debug, Clone, PartialEq)]
struct Failed;

impl DeploymentStore for MemoryStore {
    type Error = Failed;

    async fn target(&self, project: &str, environment: &str) -> Result<Target, Failed> {
        Ok(Target {
            project_id: format!("prj_{project}"),
            project: project.to_owned(),
            environment_id: format!("env_{environment}"),
            environment: environment.to_owned(),
        })
    }

    async fn deployment(&self, id: &str) -> Result<Option<Deployment>, Failed> {
        let state = self.state.borrow();
        Ok(state.deployments.iter().find(|d| d.id == id).cloned())
    }

    async fn approvers(&self, id: &str) -> Result<Vec<String>, Failed> {
        let state = self.state.borrow();
        Ok(state
            .approvals
            .iter()
            .filter(|(d, _)| d == id)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn policy(&self, _environment_id: &str) -> Result<Policy, Failed> {
        Ok(self.policy.clone())
    }

    async fn lock_holder(&self, _environment_id: &str) -> Result<Option<String>, Failed> {
        Ok(self.lock_holder.clone())
    }

    async fn commit(&self, change: Change) -> Result<Committed, Failed> {
        // Work on a copy and swap it in at the end: a failure leaves the state untouched,
        // like a D1 batch.
        let mut next = self.state.borrow().clone();
        let id = change.deployment_id.clone();
        if let Some(d) = change.insert {
            next.deployments.push(d);
        }
        if let Some(s) = change.schedule {
            next.schedules.push((id.clone(), s));
        }
        if let Some(a) = change.approval {
            next.approvals.push((id.clone(), a.actor));
        }
        next.events
            .extend(change.events.into_iter().map(|e| (id.clone(), e)));
        next.audits.extend(change.audits);
        if self.fail_next_commit.replace(false) {
            return Err(Failed);
        }
        let approvals = next.approvals.iter().filter(|(d, _)| *d == id).count() as i64;
        let mut moved = false;
        if let Some(step) = change.guarded {
            let enough = step.min_approvals.is_none_or(|n| approvals >= n);
            if let Some(d) = next.deployments.iter_mut().find(|d| d.id == id) {
                if d.status == step.from && enough {
                    d.status = step.to;
                    moved = true;
                }
            }
            if moved {
                next.events.push((id.clone(), step.event));
                next.audits.push(step.audit);
            }
        }
        *self.state.borrow_mut() = next;
        Ok(Committed { moved, approvals })
    }

    async fn free_environment(&self, _environment_id: &str, id: &str) -> Result<(), Failed> {
        self.state.borrow_mut().freed.push(id.to_owned());
        Ok(())
    }

    fn new_id(&self, prefix: &str) -> String {
        self.ids.set(self.ids.get() + 1);
        format!("{prefix}_{}", self.ids.get())
    }
}

fn member(email: &str, role: Role) -> Actor {
    Actor::Token {
        label: format!("member:{email}"),
        role,
        accountable_email: Some(email.to_owned()),
    }
}

fn request() -> NewDeployment {
    NewDeployment {
        project: "shop".into(),
        environment: "production".into(),
        git_ref: Some("main".into()),
        git_sha: None,
        git_committed_at: None,
        strategy: None,
        message: None,
        emergency_override: None,
        scheduled_for: None,
        rollout: None,
    }
}

const NOW: i64 = 1_767_000_000_000;

fn store_needing(approvals: u32) -> MemoryStore {
    MemoryStore {
        policy: Policy {
            required_approvals: approvals,
            ..Policy::default()
        },
        ..MemoryStore::default()
    }
}

fn created(store: &MemoryStore, by: &Actor) -> Deployment {
    let id = block_on(create(store, by, &request(), NOW)).unwrap();
    block_on(store.deployment(&id)).unwrap().unwrap()
}

fn move_to(
    store: &MemoryStore,
    actor: &Actor,
    id: &str,
    to: DeploymentStatus,
) -> Result<Deployment, DeploymentError<Failed>> {
    let request = TransitionRequest { to, detail: None };
    block_on(transition(store, actor, id, &request, NOW))
}

fn approve_as(
    store: &MemoryStore,
    actor: &Actor,
    id: &str,
) -> Result<ApprovalOutcome, DeploymentError<Failed>> {
    block_on(approve(store, actor, id, &ApprovalRequest::default(), NOW))
}

#[test]
fn a_deployment_without_required_approvals_is_queued_with_its_events_and_audit() {
    let store = store_needing(0);
    let d = created(&store, &member("dev@x.io", Role::Deployer));
    assert_eq!(d.status, DeploymentStatus::Queued);
    assert_eq!(d.strategy, Strategy::Immediate);
    assert_eq!(d.requested_by_member.as_deref(), Some("dev@x.io"));
    let state = store.state.borrow();
    let kinds: Vec<_> = state.events.iter().map(|(_, e)| e.kind).collect();
    assert_eq!(kinds, ["requested", "transition"]);
    assert_eq!(state.audits[0].action, "deployment.create");
    assert_eq!(state.audits[0].actor, "member:dev@x.io");
}

#[test]
fn the_approval_that_reaches_the_count_queues_the_deployment() {
    let store = store_needing(2);
    let d = created(&store, &member("dev@x.io", Role::Deployer));
    assert_eq!(d.status, DeploymentStatus::AwaitingApproval);
    let first = approve_as(&store, &member("a@x.io", Role::Approver), &d.id).unwrap();
    assert_eq!(first.approvals, 1);
    assert_eq!(first.deployment.status, DeploymentStatus::AwaitingApproval);
    let second = block_on(approve(
        &store,
        &member("b@x.io", Role::Admin),
        &d.id,
        &ApprovalRequest {
            comment: Some("ok".into()),
        },
        NOW,
    ))
    .unwrap();
    assert_eq!(second.approvals, 2);
    assert_eq!(second.deployment.status, DeploymentStatus::Queued);
    let state = store.state.borrow();
    let moves: Vec<_> = state
        .audits
        .iter()
        .filter(|a| a.action == "deployment.transition")
        .collect();
    assert_eq!(moves.len(), 1, "queued once, by the second approver");
    assert_eq!(moves[0].actor, "member:b@x.io");
}

#[test]
fn self_approval_a_second_approval_and_a_token_without_a_person_are_refused() {
    let store = store_needing(2);
    let d = created(&store, &member("dev@x.io", Role::Approver));
    let approve_as = |actor: &Actor| approve_as(&store, actor, &d.id);
    // The author, even with another token of theirs (the email compared without case).
    let err = approve_as(&member("DEV@x.io", Role::Admin)).unwrap_err();
    assert_eq!(err, DeploymentError::Approval(ApprovalError::SelfApproval));
    approve_as(&member("a@x.io", Role::Approver)).unwrap();
    let err = approve_as(&member("a@x.io", Role::Approver)).unwrap_err();
    assert_eq!(
        err,
        DeploymentError::Approval(ApprovalError::AlreadyApproved)
    );
    let token = Actor::Token {
        label: "token:t1".into(),
        role: Role::Admin,
        accountable_email: None,
    };
    let err = approve_as(&token).unwrap_err();
    assert_eq!(err, DeploymentError::Approval(ApprovalError::NotAPerson));
    let err = approve_as(&ROLLOUT).unwrap_err();
    assert_eq!(err, DeploymentError::Approval(ApprovalError::NotAPerson));
    assert_eq!(store.state.borrow().approvals.len(), 1);
}

#[test]
fn an_illegal_transition_is_refused_and_writes_nothing() {
    let store = store_needing(0);
    let dev = member("dev@x.io", Role::Deployer);
    let d = created(&store, &dev);
    let before = store.state.borrow().clone();
    let err = move_to(&store, &dev, &d.id, DeploymentStatus::Succeeded).unwrap_err();
    assert!(matches!(err, DeploymentError::Illegal(_)), "{err:?}");
    assert_eq!(store.state.borrow().events.len(), before.events.len());
    assert_eq!(store.state.borrow().audits.len(), before.audits.len());
}

#[test]
fn only_approvals_release_a_deployment_awaiting_them() {
    let store = store_needing(1);
    let dev = member("dev@x.io", Role::Admin);
    let d = created(&store, &dev);
    let err = move_to(&store, &dev, &d.id, DeploymentStatus::Queued).unwrap_err();
    assert_eq!(err, DeploymentError::WaitingForApprovals);
}

#[test]
fn deploying_needs_the_environment_lock() {
    let mut store = store_needing(0);
    let dev = member("dev@x.io", Role::Deployer);
    let d = created(&store, &dev);
    let start = DeploymentStatus::Deploying;
    let err = move_to(&store, &dev, &d.id, start).unwrap_err();
    assert!(
        matches!(err, DeploymentError::LockNotHeld { .. }),
        "{err:?}"
    );
    store.lock_holder = Some(d.id.clone());
    let after = move_to(&store, &dev, &d.id, start).unwrap();
    assert_eq!(after.status, DeploymentStatus::Deploying);
}

#[test]
fn a_retried_transition_does_not_change_the_outcome() {
    let store = store_needing(0);
    let dev = member("dev@x.io", Role::Deployer);
    let d = created(&store, &dev);
    let cancel = TransitionRequest {
        to: DeploymentStatus::Cancelled,
        detail: Some(json!("changed my mind")),
    };
    let done = block_on(transition(&store, &dev, &d.id, &cancel, NOW)).unwrap();
    assert_eq!(done.status, DeploymentStatus::Cancelled);
    let after_first = store.state.borrow().clone();
    assert_eq!(after_first.freed, vec![d.id.clone()]);
    // The retry is refused (a final state moves no more) and leaves no second trace.
    let err = block_on(transition(&store, &dev, &d.id, &cancel, NOW)).unwrap_err();
    assert!(matches!(err, DeploymentError::Illegal(_)), "{err:?}");
    let after_retry = store.state.borrow().clone();
    assert_eq!(after_retry.events, after_first.events);
    assert_eq!(after_retry.audits, after_first.audits);
    assert_eq!(after_retry.deployments, after_first.deployments);
    // The rollout finishing it afterwards is a no-op as well.
    block_on(finish(
        &store,
        &ROLLOUT,
        &d.id,
        DeploymentStatus::Failed,
        &json!({}),
        NOW,
    ))
    .unwrap();
    assert_eq!(store.state.borrow().deployments, after_first.deployments);
}

#[test]
fn a_lost_race_is_reported_and_leaves_no_record() {
    let store = store_needing(0);
    let dev = member("dev@x.io", Role::Deployer);
    let d = created(&store, &dev);
    let step = guarded_move::<Failed>(
        &dev,
        DeploymentStatus::Requested,
        DeploymentStatus::Queued,
        None,
        NOW,
    )
    .unwrap();
    let before = store.state.borrow().clone();
    let err = block_on(apply_move(&store, &d, step)).unwrap_err();
    assert!(matches!(err, DeploymentError::NoLonger { .. }), "{err:?}");
    assert_eq!(store.state.borrow().events, before.events);
    assert_eq!(store.state.borrow().audits, before.audits);
}

#[test]
fn a_failed_write_leaves_nothing_half_done() {
    let store = store_needing(1);
    let dev = member("dev@x.io", Role::Deployer);
    store.fail_next_commit.set(true);
    let err = block_on(create(&store, &dev, &request(), NOW)).unwrap_err();
    assert_eq!(err, DeploymentError::Store(Failed));
    assert!(store.state.borrow().deployments.is_empty());
    assert!(store.state.borrow().events.is_empty());
    assert!(store.state.borrow().audits.is_empty());

    let d = created(&store, &dev);
    let before = store.state.borrow().clone();
    store.fail_next_commit.set(true);
    let approver = member("a@x.io", Role::Approver);
    let err = approve_as(&store, &approver, &d.id).unwrap_err();
    assert_eq!(err, DeploymentError::Store(Failed));
    let after = store.state.borrow().clone();
    assert_eq!(after.approvals, before.approvals);
    assert_eq!(after.events, before.events);
    assert_eq!(after.deployments, before.deployments);
    // The retry then does the whole thing once.
    let ok = approve_as(&store, &approver, &d.id).unwrap();
    assert_eq!(ok.deployment.status, DeploymentStatus::Queued);
}

#[test]
fn the_rollout_finishes_a_deployment_under_its_own_name() {
    let mut store = store_needing(0);
    let dev = member("dev@x.io", Role::Deployer);
    let d = created(&store, &dev);
    store.lock_holder = Some(d.id.clone());
    move_to(&store, &dev, &d.id, DeploymentStatus::Deploying).unwrap();
    let detail = json!({ "phase": "succeeded" });
    block_on(finish(
        &store,
        &ROLLOUT,
        &d.id,
        DeploymentStatus::Succeeded,
        &detail,
        NOW,
    ))
    .unwrap();
    let state = store.state.borrow();
    let last = state.audits.last().unwrap();
    assert_eq!(last.actor, "clodo:rollout");
    assert_eq!(
        last.after,
        Some(json!({ "status": "succeeded", "detail": detail }))
    );
    let (_, event) = state.events.last().unwrap();
    assert_eq!(
        event.detail,
        Some(json!({ "by": "clodo:rollout", "detail": detail }))
    );
    assert_eq!(state.freed, vec![d.id.clone()]);
}

#[test]
fn a_policy_violation_blocks_unless_an_approver_overrides_it() {
    let mut store = store_needing(0);
    store.policy.branches = vec!["main".into()];
    let mut req = request();
    req.git_ref = Some("feature/x".into());
    let dev = member("dev@x.io", Role::Deployer);
    let err = block_on(create(&store, &dev, &req, NOW)).unwrap_err();
    assert!(matches!(err, DeploymentError::Blocked(_)), "{err:?}");
    req.emergency_override = Some(EmergencyOverride {
        reason: "outage".into(),
    });
    let err = block_on(create(&store, &dev, &req, NOW)).unwrap_err();
    assert_eq!(
        err,
        DeploymentError::OverrideNeedsApprover(Some(Role::Deployer))
    );
    let lead = member("lead@x.io", Role::Approver);
    let id = block_on(create(&store, &lead, &req, NOW)).unwrap();
    let d = block_on(store.deployment(&id)).unwrap().unwrap();
    assert_eq!(d.override_reason.as_deref(), Some("outage"));
    assert!(d.overridden_rules.is_some());
    let actions: Vec<_> = store
        .state
        .borrow()
        .audits
        .iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        ["deployment.create", "deployment.emergency_override"]
    );
}

#[test]
fn a_promoted_deployment_records_its_source_and_waits_for_the_targets_approvals() {
    let store = store_needing(1);
    let promoted = PromotedFrom {
        deployment_id: "dep_staging".into(),
        detail: json!({ "environment": "staging", "services": [{"service": "api", "version_id": "v1"}] }),
    };
    let by = member("dev@x.io", Role::Deployer);
    let id = block_on(create_from(&store, &by, &request(), Some(&promoted), NOW)).unwrap();
    let d = block_on(store.deployment(&id)).unwrap().unwrap();
    // The target's policy applies unchanged: one approval is required.
    assert_eq!(d.status, DeploymentStatus::AwaitingApproval);
    assert_eq!(d.promoted_from.as_deref(), Some("dep_staging"));
    let state = store.state.borrow();
    let event = state
        .events
        .iter()
        .find(|(_, e)| e.kind == "promoted")
        .map(|(_, e)| e.detail.clone().unwrap())
        .expect("a promoted event");
    assert_eq!(event["from_deployment"], "dep_staging");
    assert_eq!(event["services"][0]["version_id"], "v1");
    assert_eq!(
        state.audits[0].after.as_ref().unwrap()["promoted_from"],
        "dep_staging"
    );
    drop(state);
    // A plain deployment has no source.
    let plain = created(&store, &by);
    assert_eq!(plain.promoted_from, None);
}

#[test]
fn a_scheduled_deployment_is_judged_at_its_time_not_now() {
    use crate::control::policy::Freeze;
    let mut store = store_needing(0);
    let at = |ms: i64| utc(ms);
    // A freeze covering the scheduled time does not refuse it now: it is recorded as a
    // warning and checked again at the start time.
    store.policy.freezes = vec![Freeze {
        starts_at: at(NOW + 3_600_000),
        ends_at: at(NOW + 7_200_000),
        reason: "release freeze".into(),
    }];
    let dev = member("dev@x.io", Role::Deployer);
    let mut req = request();
    req.scheduled_for = Some(at(NOW + 5_400_000));
    let id = block_on(create(&store, &dev, &req, NOW)).unwrap();
    let d = block_on(store.deployment(&id)).unwrap().unwrap();
    assert_eq!(d.status, DeploymentStatus::Queued);
    assert_eq!(d.scheduled_for, Some(NOW + 5_400_000));
    {
        let state = store.state.borrow();
        assert_eq!(state.schedules.len(), 1);
        assert_eq!(state.schedules[0].1.due_at, NOW + 5_400_000);
        assert_eq!(state.schedules[0].1.settings, json!({}));
        let scheduled = state
            .events
            .iter()
            .find(|(_, e)| e.kind == "scheduled")
            .unwrap();
        let warning = scheduled.1.detail.as_ref().unwrap().to_string();
        assert!(warning.contains("release freeze"), "{warning}");
    }
    // The control plane starts it; a token moving it to deploying is refused.
    let err = move_to(&store, &dev, &id, DeploymentStatus::Deploying).unwrap_err();
    assert!(
        err.to_string().contains("started by the control plane"),
        "{err}"
    );
    // Branch rules do not change with time: refused now.
    store.policy.branches = vec!["release/*".into()];
    let err = block_on(create(&store, &dev, &req, NOW)).unwrap_err();
    assert!(matches!(err, DeploymentError::Blocked(_)), "{err:?}");
    // In the past, beyond the horizon, or settings without a time: refused.
    store.policy.branches.clear();
    req.scheduled_for = Some(at(NOW - 1000));
    let err = block_on(create(&store, &dev, &req, NOW)).unwrap_err();
    assert!(
        matches!(err, DeploymentError::InvalidSchedule(_)),
        "{err:?}"
    );
    req.scheduled_for = Some(at(NOW + 91 * 86_400_000));
    assert!(block_on(create(&store, &dev, &req, NOW)).is_err());
    req.scheduled_for = None;
    req.rollout = Some(serde_json::from_value(json!({})).unwrap());
    let err = block_on(create(&store, &dev, &req, NOW)).unwrap_err();
    assert!(matches!(err, DeploymentError::Invalid(_)), "{err:?}");
}

#[test]
fn a_commit_time_is_kept_for_lead_time_and_one_in_seconds_or_the_future_is_refused() {
    let store = store_needing(0);
    let by = member("dev@x.io", Role::Deployer);
    let at = NOW - 3_600_000;
    let ok = NewDeployment {
        git_committed_at: Some(at),
        ..request()
    };
    let id = block_on(create_from(&store, &by, &ok, None, NOW)).unwrap();
    let stored = block_on(store.deployment(&id)).unwrap().unwrap();
    assert_eq!(stored.git_committed_at, Some(at));
    for wrong in [NOW / 1000, NOW + 2 * 86_400_000] {
        let bad = NewDeployment {
            git_committed_at: Some(wrong),
            ..request()
        };
        let err = block_on(create_from(&store, &by, &bad, None, NOW)).unwrap_err();
        assert!(
            matches!(err, DeploymentError::Invalid(m) if m.contains("git_committed_at")),
            "{wrong}"
        );
    }
}
