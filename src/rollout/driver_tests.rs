//! The rollout driver run natively against in-memory fakes that fail on demand: storage that
//! refuses a write after the traffic moved, a lock that refuses or does not answer, a database
//! that refuses the deployment record, alarms that fire twice. Every test asserts on what the
//! fakes saw.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use futures::executor::block_on;

use super::driver::*;
use super::tests::{check, gradual, percent_of, NEW_API, OLD_API, OLD_WEB};
use super::*;
use crate::cloudflare::{CallError, CfError};
use crate::control::lifecycle::DeploymentStatus;

const DEPLOYMENT: &str = "dep_1";
const START_MS: i64 = 1_000_000;

pub(super) fn owner() -> Owner {
    Owner {
        team_id: "team_1".into(),
        account_id: "acc_1".into(),
        environment_id: "env_1".into(),
    }
}

/// The object's storage; `fail_writes` makes that many next writes fail (nothing stored).
#[derive(Default)]
pub(super) struct FakeStore {
    owner: RefCell<Option<Owner>>,
    rollout: RefCell<Option<Rollout>>,
    last_command: Cell<i64>,
    fail_writes: Cell<u32>,
}

impl FakeStore {
    fn write(&self) -> Result<(), DriverError> {
        if self.fail_writes.get() > 0 {
            self.fail_writes.set(self.fail_writes.get() - 1);
            return Err(DriverError::Storage("injected write failure".into()));
        }
        Ok(())
    }

    pub(super) fn state(&self) -> Rollout {
        self.rollout.borrow().clone().expect("a stored rollout")
    }
}

impl RolloutStore for FakeStore {
    async fn owner(&self) -> Result<Option<Owner>, DriverError> {
        Ok(self.owner.borrow().clone())
    }
    async fn save_owner(&self, owner: &Owner) -> Result<(), DriverError> {
        self.write()?;
        *self.owner.borrow_mut() = Some(owner.clone());
        Ok(())
    }
    async fn load(&self) -> Result<Option<Rollout>, DriverError> {
        Ok(self.rollout.borrow().clone())
    }
    async fn save(&self, rollout: &Rollout) -> Result<(), DriverError> {
        self.write()?;
        *self.rollout.borrow_mut() = Some(rollout.clone());
        Ok(())
    }
    async fn last_command(&self) -> Result<i64, DriverError> {
        Ok(self.last_command.get())
    }
    async fn save_applied(&self, rollout: &Rollout, last_command: i64) -> Result<(), DriverError> {
        self.write()?;
        *self.rollout.borrow_mut() = Some(rollout.clone());
        self.last_command.set(last_command);
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct FakeClock(Cell<i64>);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.get()
    }
}

/// The environment lock: answers `Held` unless told otherwise (queued answers, then `then`).
pub(super) struct FakeLock {
    queued: RefCell<VecDeque<LockAnswer>>,
    then: RefCell<LockAnswer>,
    heartbeats: Cell<u32>,
}

impl Default for FakeLock {
    fn default() -> Self {
        FakeLock {
            queued: RefCell::default(),
            then: RefCell::new(LockAnswer::Held),
            heartbeats: Cell::new(0),
        }
    }
}

impl EnvironmentLock for FakeLock {
    async fn heartbeat(&self, owner: &Owner, deployment_id: &str) -> LockAnswer {
        assert_eq!(owner.environment_id, "env_1");
        assert_eq!(deployment_id, DEPLOYMENT);
        self.heartbeats.set(self.heartbeats.get() + 1);
        let queued = self.queued.borrow_mut().pop_front();
        queued.unwrap_or_else(|| self.then.borrow().clone())
    }
}

/// D1: recorded commands, and the deployment's record (whose end, like
/// `finish_for_rollout`, is written once: a later finish is a no-op).
#[derive(Default)]
pub(super) struct FakeDatabase {
    commands: RefCell<Vec<RecordedCommand>>,
    fail_finishes: Cell<u32>,
    finish_calls: Cell<u32>,
    /// The ends actually written on the deployment.
    pub(super) ended: RefCell<Vec<DeploymentStatus>>,
    lock_events: RefCell<Vec<serde_json::Value>>,
    /// Pages sites recorded as restored: (service, live deployment).
    pub(super) pages_records: RefCell<Vec<(String, String)>>,
}

impl FakeDatabase {
    fn record(&self, command: &str, actor: &str) {
        let mut commands = self.commands.borrow_mut();
        let id = commands.len() as i64 + 1;
        commands.push(RecordedCommand {
            version: None,
            id,
            command: command.into(),
            actor: actor.into(),
        });
    }
}

impl CommandSource for FakeDatabase {
    async fn after(
        &self,
        deployment_id: &str,
        after: i64,
    ) -> Result<Vec<RecordedCommand>, DriverError> {
        assert_eq!(deployment_id, DEPLOYMENT);
        let commands = self.commands.borrow();
        Ok(commands.iter().filter(|c| c.id > after).cloned().collect())
    }
}

impl DeploymentRecorder for FakeDatabase {
    async fn finish(&self, end: &RolloutEnd<'_>) -> Result<(), RecordError> {
        assert_eq!(
            (end.owner.team_id.as_str(), end.deployment_id),
            ("team_1", DEPLOYMENT)
        );
        assert!(end.detail["message"].is_string());
        self.finish_calls.set(self.finish_calls.get() + 1);
        if self.fail_finishes.get() > 0 {
            self.fail_finishes.set(self.fail_finishes.get() - 1);
            return Err(RecordError("D1 unavailable".into()));
        }
        if self.ended.borrow().is_empty() {
            self.ended.borrow_mut().push(end.status);
        }
        Ok(())
    }

    async fn lock_lost(
        &self,
        deployment_id: &str,
        detail: &serde_json::Value,
    ) -> Result<(), RecordError> {
        assert_eq!(deployment_id, DEPLOYMENT);
        self.lock_events.borrow_mut().push(detail.clone());
        Ok(())
    }

    async fn pages_restored(
        &self,
        owner: &Owner,
        deployment_id: &str,
        site: &PagesSite,
        live: &str,
    ) -> Result<(), RecordError> {
        assert_eq!(
            (owner.team_id.as_str(), deployment_id),
            ("team_1", DEPLOYMENT)
        );
        self.pages_records
            .borrow_mut()
            .push((site.service.clone(), live.to_owned()));
        Ok(())
    }
}

/// Each Worker's live versions and percentages.
type LiveTraffic = BTreeMap<String, Vec<(String, f64)>>;

/// What the fake Cloudflare saw, in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Call {
    Open,
    Apply(Vec<Split>),
    Restore(Vec<Split>),
    Health(usize),
    Measure(usize),
    /// A Pages rollback: the project and the deployment made live.
    RestorePages(String, String),
}

/// Cloudflare and the health endpoints: records every call and keeps the live traffic of
/// each Worker; health checks pass unless `unhealthy`, the API opens unless
/// `no_credential`, and the next `refuse_traffic` traffic changes fail with an API error.
#[derive(Default)]
pub(super) struct FakeCloudflare {
    calls: Rc<RefCell<Vec<Call>>>,
    live: Rc<RefCell<LiveTraffic>>,
    pub(super) unhealthy: Cell<bool>,
    no_credential: Cell<bool>,
    refuse_traffic: Rc<Cell<u32>>,
    /// The next this many Pages rollbacks fail with an API error.
    pub(super) refuse_pages: Rc<Cell<u32>>,
}

impl FakeCloudflare {
    pub(super) fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn traffic_moves(&self) -> Vec<Call> {
        let calls = self.calls.borrow();
        calls
            .iter()
            .filter(|c| matches!(c, Call::Apply(_) | Call::Restore(_)))
            .cloned()
            .collect()
    }

    /// The share of Worker `shop-api` on its new version.
    pub(super) fn api_on_new(&self) -> f64 {
        let live = self.live.borrow();
        live.get("shop-api").map_or(0.0, |versions| {
            versions
                .iter()
                .find(|(v, _)| v == NEW_API)
                .map_or(0.0, |(_, p)| *p)
        })
    }
}

pub(super) struct FakeApi {
    calls: Rc<RefCell<Vec<Call>>>,
    live: Rc<RefCell<LiveTraffic>>,
    refuse_traffic: Rc<Cell<u32>>,
    refuse_pages: Rc<Cell<u32>>,
}

impl FakeApi {
    fn set(&self, splits: &[Split]) {
        let mut live = self.live.borrow_mut();
        for s in splits {
            live.insert(s.script.clone(), s.versions.clone());
        }
    }
}

impl CloudflareApi for FakeApi {
    async fn apply(&self, splits: &[Split], message: &str) -> Result<(), Vec<WorkerError>> {
        assert_eq!(message, "clodo rollout dep_1");
        self.calls.borrow_mut().push(Call::Apply(splits.to_vec()));
        if self.refuse_traffic.get() > 0 {
            self.refuse_traffic.set(self.refuse_traffic.get() - 1);
            let error = CallError::Api {
                status: 500,
                errors: vec![CfError {
                    code: 10013,
                    message: "internal error".into(),
                }],
            };
            // The first Worker refuses; the others take their split (a partial change, as a
            // Cloudflare outage of one Worker's endpoint leaves it).
            self.set(&splits[1..]);
            let script = splits[0].script.clone();
            return Err(vec![WorkerError { script, error }]);
        }
        self.set(splits);
        Ok(())
    }
    async fn restore(&self, splits: &[Split], _: &str) -> Vec<(String, Result<(), CallError>)> {
        self.calls.borrow_mut().push(Call::Restore(splits.to_vec()));
        self.set(splits);
        splits.iter().map(|s| (s.script.clone(), Ok(()))).collect()
    }
    async fn measure(&self, _: &Spec, query: &MetricQuery) -> Measurement {
        self.calls.borrow_mut().push(Call::Measure(query.metric));
        super::tests::taken(query.clone(), Some(0.0))
    }
    async fn restore_pages(&self, site: &PagesSite) -> Result<String, CallError> {
        let to = site
            .previous_deployment_id
            .clone()
            .expect("a previous deployment");
        self.calls
            .borrow_mut()
            .push(Call::RestorePages(site.project.clone(), to.clone()));
        if self.refuse_pages.get() > 0 {
            self.refuse_pages.set(self.refuse_pages.get() - 1);
            return Err(CallError::Api {
                status: 503,
                errors: vec![CfError {
                    code: 8000000,
                    message: "service unavailable".into(),
                }],
            });
        }
        Ok(format!("rollback-of-{to}"))
    }
}

impl Effects for FakeCloudflare {
    type Api = FakeApi;
    async fn open(&self, owner: &Owner) -> Result<FakeApi, OpenError> {
        assert_eq!(owner.account_id, "acc_1");
        self.calls.borrow_mut().push(Call::Open);
        if self.no_credential.get() {
            return Err(OpenError {
                account: owner.account_id.clone(),
                reason: "no credential stored".into(),
            });
        }
        Ok(FakeApi {
            calls: Rc::clone(&self.calls),
            live: Rc::clone(&self.live),
            refuse_traffic: Rc::clone(&self.refuse_traffic),
            refuse_pages: Rc::clone(&self.refuse_pages),
        })
    }
    async fn health(&self, request: &HealthRequest) -> HealthResponse {
        self.calls.borrow_mut().push(Call::Health(request.check));
        let result = if self.unhealthy.get() {
            Ok((503, "down".into(), 5))
        } else {
            Ok((200, "ok".into(), 5))
        };
        HealthResponse {
            check: request.check,
            result,
        }
    }
}

pub(super) type TestDriver =
    Driver<FakeStore, FakeClock, FakeLock, FakeDatabase, FakeDatabase, FakeCloudflare>;

pub(super) fn driver() -> TestDriver {
    // Three steps held a minute each, with one health check of the api service.
    let mut spec = gradual(&[10.0, 50.0, 100.0]);
    spec.health_checks = vec![check(Some("api"))];
    driver_of(spec)
}

/// A driver with fresh fakes that started a rollout of `spec`.
fn driver_of(spec: Spec) -> TestDriver {
    let d = Driver {
        store: FakeStore::default(),
        clock: FakeClock(Cell::new(START_MS)),
        lock: FakeLock::default(),
        commands: FakeDatabase::default(),
        recorder: FakeDatabase::default(),
        effects: FakeCloudflare::default(),
    };
    block_on(d.start(DEPLOYMENT, &owner(), spec)).expect("starts");
    d
}

/// One alarm run: the clock moves to when the last run asked to be woken (the runtime's
/// alarm), then the driver runs.
pub(super) fn alarm(d: &TestDriver, wake: Wake) -> Result<RunReport, DriverError> {
    if let Wake::At(at) = wake {
        d.clock.0.set(d.clock.0.get().max(at));
    }
    block_on(d.run())
}

/// Runs alarms until the rollout sleeps for good; returns the number of runs.
pub(super) fn run_to_the_end(d: &TestDriver) -> u32 {
    let mut wake = Wake::At(0);
    for runs in 1..200 {
        wake = match alarm(d, wake) {
            Ok(report) => report.wake,
            // The runtime retries a failed alarm.
            Err(_) => Wake::At(0),
        };
        if wake == Wake::Never {
            return runs;
        }
    }
    panic!("the rollout never ended: {:?}", d.store.state().phase);
}

fn api_percent(call: &Call) -> f64 {
    match call {
        Call::Apply(splits) | Call::Restore(splits) => percent_of(&splits[0], NEW_API),
        _ => panic!("not a traffic move: {call:?}"),
    }
}

#[test]
fn a_rollout_goes_through_its_steps_and_records_its_end_once() {
    let d = driver();
    run_to_the_end(&d);
    let moves: Vec<f64> = d.effects.traffic_moves().iter().map(api_percent).collect();
    assert_eq!(moves, vec![10.0, 50.0, 100.0]);
    assert_eq!(d.effects.api_on_new(), 100.0);
    // One health round per step, and the API opened once per run that needed it.
    let health = d
        .effects
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Health(0)))
        .count();
    assert_eq!(health, 3);
    let r = d.store.state();
    assert_eq!((r.phase, r.recorded), (Phase::Succeeded, true));
    assert_eq!(
        *d.recorder.ended.borrow(),
        vec![DeploymentStatus::Succeeded]
    );
    assert_eq!(d.recorder.finish_calls.get(), 1);
    // Each step's traffic moved right after the lock said the deployment holds it.
    assert!(d.lock.heartbeats.get() >= 3);
}

#[test]
fn a_crash_between_moving_traffic_and_storing_state_reapplies_the_same_split() {
    let d = driver();
    d.store.fail_writes.set(1);
    let crashed = alarm(&d, Wake::At(0));
    assert!(matches!(crashed, Err(DriverError::Storage(_))));
    // The traffic moved, the state did not record it.
    assert_eq!(d.effects.traffic_moves().len(), 1);
    assert!(!d.store.state().step_applied);
    run_to_the_end(&d);
    let moves: Vec<f64> = d.effects.traffic_moves().iter().map(api_percent).collect();
    // The retry set the same split again (idempotent), then the rollout went on as usual.
    assert_eq!(moves, vec![10.0, 10.0, 50.0, 100.0]);
    assert_eq!(d.effects.traffic_moves()[0], d.effects.traffic_moves()[1]);
    let r = d.store.state();
    assert_eq!((r.phase, r.recorded), (Phase::Succeeded, true));
    assert_eq!(
        *d.recorder.ended.borrow(),
        vec![DeploymentStatus::Succeeded]
    );
}

#[test]
fn a_lost_lock_pauses_the_rollout_which_moves_no_more_traffic() {
    let d = driver();
    let first = alarm(&d, Wake::At(0)).unwrap();
    assert_eq!(d.effects.traffic_moves().len(), 1);
    *d.lock.then.borrow_mut() = LockAnswer::Lost("broken by an admin".into());
    let report = alarm(&d, first.wake).unwrap();
    assert!(report.problems.iter().any(|p| p.contains("lock lost")));
    let r = d.store.state();
    assert_eq!(r.phase, Phase::Paused);
    assert!(r.lock_lost);
    assert!(r.reason.as_deref().unwrap().contains("broken by an admin"));
    assert_eq!(d.recorder.lock_events.borrow().len(), 1);
    assert_eq!(d.recorder.lock_events.borrow()[0]["by"], ROLLOUT_ACTOR);
    // Paused runs keep coming (a human may abort) but move nothing and ask the lock nothing.
    let heartbeats = d.lock.heartbeats.get();
    let mut wake = report.wake;
    for _ in 0..5 {
        wake = alarm(&d, wake).unwrap().wake;
    }
    assert_eq!(d.effects.traffic_moves().len(), 1);
    assert_eq!(d.lock.heartbeats.get(), heartbeats);
    assert_eq!(d.recorder.lock_events.borrow().len(), 1);
    assert!(d.recorder.ended.borrow().is_empty());
    assert_eq!(d.effects.api_on_new(), 10.0);
    // Abort ends it where it stands: no restore without the lock.
    d.commands.record("abort", "alice@example.com");
    run_to_the_end(&d);
    assert_eq!(d.effects.traffic_moves().len(), 1);
    assert_eq!(d.store.state().phase, Phase::Failed);
    assert_eq!(*d.recorder.ended.borrow(), vec![DeploymentStatus::Failed]);
}

#[test]
fn a_lock_refusal_just_before_a_traffic_change_stops_that_change() {
    let d = driver();
    // The run's first heartbeat is held, the one right before the traffic change refused.
    d.lock.queued.borrow_mut().push_back(LockAnswer::Held);
    *d.lock.then.borrow_mut() = LockAnswer::Lost("lease expired".into());
    alarm(&d, Wake::At(0)).unwrap();
    assert!(d.effects.traffic_moves().is_empty());
    assert!(d.store.state().lock_lost);
}

#[test]
fn a_lock_that_does_not_answer_moves_nothing_and_is_asked_again_soon() {
    let d = driver();
    *d.lock.then.borrow_mut() = LockAnswer::Unknown("lock object timed out".into());
    let report = alarm(&d, Wake::At(0)).unwrap();
    assert_eq!(report.wake, Wake::At(START_MS + LOCK_RETRY_MS));
    assert!(report.problems[0].contains("lock object timed out"));
    assert!(d.effects.calls().is_empty());
    let r = d.store.state();
    assert!(!r.lock_lost && r.phase == Phase::Running);
    // The answer comes back: the rollout carries on.
    *d.lock.then.borrow_mut() = LockAnswer::Held;
    alarm(&d, report.wake).unwrap();
    assert_eq!(d.effects.traffic_moves().len(), 1);
}

#[test]
fn an_alarm_that_fires_twice_does_nothing_extra() {
    let d = driver();
    let first = alarm(&d, Wake::At(0)).unwrap();
    let calls = d.effects.calls();
    // The same alarm again, at the same time: the step holds, nothing to do yet.
    let again = alarm(&d, Wake::At(0)).unwrap();
    assert_eq!(again.wake, first.wake);
    assert_eq!(d.effects.calls(), calls);
    run_to_the_end(&d);
    let calls = d.effects.calls();
    let state = d.store.state();
    // After the end: any number of extra runs change nothing and record nothing.
    for _ in 0..3 {
        assert_eq!(alarm(&d, Wake::At(0)).unwrap().wake, Wake::Never);
    }
    assert_eq!(d.effects.calls(), calls);
    assert_eq!(d.store.state(), state);
    assert_eq!(d.recorder.finish_calls.get(), 1);
}

#[test]
fn commands_apply_in_order_exactly_once_across_runs() {
    let d = driver();
    let mut wake = alarm(&d, Wake::At(0)).unwrap().wake;
    d.commands.record("pause", "alice@example.com");
    d.commands.record("resume", "bob@example.com");
    d.commands.record("pause", "carol@example.com");
    // The write of the applied commands fails once: none counts as applied.
    d.store.fail_writes.set(1);
    assert!(alarm(&d, wake).is_err());
    assert_eq!(d.store.last_command.get(), 0);
    assert_eq!(d.store.state().phase, Phase::Running);
    for _ in 0..3 {
        wake = alarm(&d, wake).unwrap().wake;
    }
    let r = d.store.state();
    assert_eq!(d.store.last_command.get(), 3);
    assert_eq!(r.phase, Phase::Paused);
    assert_eq!(r.reason.as_deref(), Some("paused by carol@example.com"));
    let story: Vec<&str> = r
        .log
        .iter()
        .filter(|e| e.kind == "paused" || e.kind == "resumed")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(
        story,
        vec![
            "paused by alice@example.com",
            "resumed by bob@example.com",
            "paused by carol@example.com"
        ]
    );
    // A command that does not apply (the rollout is paused) is read once and changes nothing.
    d.commands.record("pause", "dave@example.com");
    d.commands.record("resume", "erin@example.com");
    run_to_the_end(&d);
    let r = d.store.state();
    assert_eq!(r.phase, Phase::Succeeded);
    assert_eq!(r.log.iter().filter(|e| e.kind == "resumed").count(), 2);
    assert_eq!(d.store.last_command.get(), 5);
}

#[test]
fn a_refused_deployment_record_is_retried_later_without_finishing_twice() {
    let d = driver();
    d.recorder.fail_finishes.set(1);
    let mut wake = Wake::At(0);
    let mut retried = None;
    for _ in 0..50 {
        let report = alarm(&d, wake).unwrap();
        if report
            .problems
            .iter()
            .any(|p| p.contains("recording the end"))
        {
            retried = Some(report.wake);
            break;
        }
        wake = report.wake;
    }
    let retry = retried.expect("the record failed once");
    assert_eq!(retry, Wake::At(d.clock.now_ms() + RECORD_RETRY_MS));
    let r = d.store.state();
    assert_eq!((r.phase, r.recorded), (Phase::Succeeded, false));
    // The retry records it; a crash right after (the state not stored) calls it once more,
    // which the deployment's record takes as done.
    d.store.fail_writes.set(1);
    assert!(alarm(&d, retry).is_err());
    run_to_the_end(&d);
    assert_eq!(d.recorder.finish_calls.get(), 3);
    assert_eq!(
        *d.recorder.ended.borrow(),
        vec![DeploymentStatus::Succeeded]
    );
    assert!(d.store.state().recorded);
    assert_eq!(d.effects.traffic_moves().len(), 3);
}

#[test]
fn no_alarm_is_further_away_than_the_cap_while_paused_or_holding() {
    let d = driver();
    // A step held for an hour still wakes every MAX_ALARM_GAP_MS to renew the lock.
    d.store
        .rollout
        .borrow_mut()
        .as_mut()
        .unwrap()
        .spec
        .step_wait_secs = 3600;
    let report = alarm(&d, Wake::At(0)).unwrap();
    assert_eq!(report.wake, Wake::At(START_MS + MAX_ALARM_GAP_MS));
    d.commands.record("pause", "alice@example.com");
    let mut wake = report.wake;
    let heartbeats = d.lock.heartbeats.get();
    for _ in 0..4 {
        let before = d.clock.now_ms().max(match wake {
            Wake::At(at) => at,
            Wake::Never => 0,
        });
        wake = alarm(&d, wake).unwrap().wake;
        assert_eq!(wake, Wake::At(before + MAX_ALARM_GAP_MS));
    }
    assert_eq!(d.store.state().phase, Phase::Paused);
    // Every paused run renewed the deployment's hold on the lock.
    assert_eq!(d.lock.heartbeats.get(), heartbeats + 4);
    assert_eq!(d.effects.traffic_moves().len(), 1);
}

#[test]
fn a_failing_check_restores_the_previous_versions_and_records_a_rollback() {
    let d = driver();
    d.effects.unhealthy.set(true);
    run_to_the_end(&d);
    let moves = d.effects.traffic_moves();
    assert_eq!(moves.len(), 2);
    assert!(matches!(&moves[1], Call::Restore(s) if percent_of(&s[0], OLD_API) == 100.0));
    assert_eq!(d.store.state().phase, Phase::RolledBack);
    assert_eq!(
        *d.recorder.ended.borrow(),
        vec![DeploymentStatus::RolledBack]
    );
}

#[test]
fn a_refused_traffic_change_is_logged_with_the_workers_api_error_and_retried() {
    let d = driver();
    d.effects.refuse_traffic.set(1);
    run_to_the_end(&d);
    let moves = d.effects.traffic_moves();
    // shop-web took the refused 10% step and was put back on its previous version.
    assert_eq!(
        moves[1],
        Call::Restore(vec![Split {
            script: "shop-web".into(),
            versions: vec![(OLD_WEB.to_owned(), 100.0)],
        }])
    );
    let applied: Vec<f64> = moves
        .iter()
        .filter(|c| matches!(c, Call::Apply(_)))
        .map(api_percent)
        .collect();
    assert_eq!(applied, vec![10.0, 10.0, 50.0, 100.0]);
    let r = d.store.state();
    assert_eq!(r.phase, Phase::Succeeded);
    assert!(
        r.log.iter().any(|e| e.kind == "retry"
            && e.message.contains("shop-api: HTTP 500")
            && e.message
                .contains("put back on the recorded split: shop-web")),
        "{:?}",
        r.log
    );
}

#[test]
fn a_step_one_worker_keeps_refusing_pauses_on_the_split_the_record_names() {
    let mut spec = gradual(&[10.0, 50.0, 100.0]);
    spec.auto_rollback = false;
    let d = driver_of(spec);
    // The first step goes through; from the second on, shop-api refuses every change.
    let mut wake = Wake::At(0);
    for _ in 0..50 {
        let r = d.store.state();
        if r.phase == Phase::Paused {
            break;
        }
        if r.step == 0 && r.step_applied {
            d.effects.refuse_traffic.set(u32::MAX);
        }
        wake = alarm(&d, wake).expect("runs").wake;
    }
    let r = d.store.state();
    assert_eq!(r.phase, Phase::Paused, "{:?}", r.log);
    // The record: step 2 not applied, 10% on the new versions; and that is what is live.
    assert!(!r.step_applied);
    assert_eq!(r.applied_percent(), Some(10.0));
    let live = d.effects.live.borrow().clone();
    for split in r.recorded_splits() {
        assert_eq!(live.get(&split.script), Some(&split.versions), "{live:?}");
    }
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|why| why.contains("put back on the recorded split: shop-web")),
        "{:?}",
        r.reason
    );
}

#[test]
fn an_api_that_cannot_be_opened_moves_no_traffic_and_says_why() {
    let d = driver();
    d.effects.no_credential.set(true);
    run_to_the_end(&d);
    assert!(d.effects.traffic_moves().is_empty());
    let r = d.store.state();
    assert!(r.phase.is_terminal() && r.recorded, "{:?}", r.phase);
    assert!(
        r.log.iter().any(|e| e
            .message
            .contains("credential for acc_1: no credential stored")),
        "{:?}",
        r.log
    );
}

#[test]
fn a_preview_judges_a_command_against_the_commands_not_applied_yet() {
    let d = driver();
    d.commands.record("pause", "alice@example.com");
    let resume = block_on(d.preview(Command::Resume, "bob@example.com")).unwrap();
    assert!(matches!(resume, Preview::Accepted(r) if r.phase == Phase::Running));
    let pause = block_on(d.preview(Command::Pause, "bob@example.com")).unwrap();
    assert!(matches!(pause, Preview::Refused(_)));
    // Nothing was stored by either preview.
    assert_eq!(d.store.state().phase, Phase::Running);
    assert_eq!(d.store.last_command.get(), 0);
    let again = block_on(d.start(DEPLOYMENT, &owner(), gradual(&[100.0])));
    assert_eq!(again, Err(StartError::AlreadyStarted));
}

/// The driver's `gradual` rollout with a manual gate between its 10% and 50% steps.
fn gated_driver(max_pause_secs: u64) -> TestDriver {
    let d = driver();
    {
        let mut stored = d.store.rollout.borrow_mut();
        let spec = &mut stored.as_mut().unwrap().spec;
        spec.steps.insert(
            1,
            crate::config::Step::Gate(crate::config::Gate {
                pause: crate::config::Pause::Manual,
            }),
        );
        spec.max_pause_secs = max_pause_secs;
    }
    d
}

/// Runs alarms until the rollout is paused; returns the next wake-up.
fn run_until_paused(d: &TestDriver) -> Wake {
    let mut wake = Wake::At(0);
    for _ in 0..50 {
        wake = alarm(d, wake).unwrap().wake;
        if d.store.state().phase == Phase::Paused {
            return wake;
        }
    }
    panic!("never paused: {:?}", d.store.state().log);
}

#[test]
fn a_manual_gate_holds_across_runs_until_a_recorded_resume() {
    let d = gated_driver(86_400);
    let mut wake = run_until_paused(&d);
    assert!(d.store.state().reason.unwrap().contains("manual gate"));
    assert_eq!(d.effects.traffic_moves().len(), 1, "the 10% step only");
    // An hour of alarms: each renews the lock, none moves traffic.
    let heartbeats = d.lock.heartbeats.get();
    for _ in 0..120 {
        wake = alarm(&d, wake).unwrap().wake;
    }
    assert_eq!(d.store.state().phase, Phase::Paused);
    assert_eq!(d.effects.traffic_moves().len(), 1);
    assert_eq!(d.lock.heartbeats.get(), heartbeats + 120);
    d.commands.record("resume", "bob@example.com");
    run_to_the_end(&d);
    assert_eq!(d.store.state().phase, Phase::Succeeded);
    let moves: Vec<f64> = d.effects.traffic_moves().iter().map(api_percent).collect();
    assert_eq!(moves, vec![10.0, 50.0, 100.0]);
}

#[test]
fn a_gate_nobody_resumes_is_aborted_by_the_pause_cap() {
    let d = gated_driver(120);
    run_until_paused(&d);
    let paused_at = d.clock.now_ms();
    run_to_the_end(&d);
    let r = d.store.state();
    assert_eq!(r.phase, Phase::RolledBack);
    assert!(r
        .reason
        .as_deref()
        .unwrap()
        .contains("max_pause_secs (120 s)"));
    assert!(d.clock.now_ms() >= paused_at + 120_000);
    assert_eq!(
        *d.recorder.ended.borrow(),
        vec![DeploymentStatus::RolledBack]
    );
}
