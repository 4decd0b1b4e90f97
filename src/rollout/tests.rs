//! The rollout engine driven by hand: every action it asks for is answered in memory.

use super::analytics::{query_body, read_performance, read_sample};
use super::*;
use crate::config::{AnalysisMetric, Condition, HealthCheck, Metric, Step, Strategy};

pub(super) const OLD_API: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub(super) const NEW_API: &str = "bbbbbbbb-0000-4000-8000-000000000002";
pub(super) const OLD_WEB: &str = "cccccccc-0000-4000-8000-000000000003";
const NEW_WEB: &str = "dddddddd-0000-4000-8000-000000000004";

pub(super) fn services() -> Vec<ServiceRollout> {
    vec![
        ServiceRollout {
            service: "api".into(),
            script: "shop-api".into(),
            previous_version: Some(OLD_API.into()),
            new_version: NEW_API.into(),
            already_live: false,
        },
        ServiceRollout {
            service: "web".into(),
            script: "shop-web".into(),
            previous_version: Some(OLD_WEB.into()),
            new_version: NEW_WEB.into(),
            already_live: false,
        },
    ]
}

pub(super) fn check(service: Option<&str>) -> HealthCheck {
    HealthCheck {
        name: "api healthz".into(),
        service: service.map(str::to_owned),
        url: "http://127.0.0.1:9/healthz".into(),
        method: "GET".into(),
        headers: Default::default(),
        body: None,
        expect_status: vec![200],
        expect_body_contains: Some("ok".into()),
        max_latency_ms: Some(500),
        timeout_ms: 1000,
        version_override: true,
        location: Default::default(),
    }
}

fn error_rate(failure_limit: u32) -> AnalysisMetric {
    AnalysisMetric {
        condition: Some(Condition::parse("< 0.05").unwrap()),
        interval_secs: 10,
        count: 2,
        failure_limit,
        ..AnalysisMetric::with_defaults("error_rate", Metric::ErrorRate)
    }
}

pub(super) fn gradual(steps: &[f64]) -> Spec {
    Spec {
        strategy: Strategy::Gradual,
        steps: Step::traffic(steps),
        step_wait_secs: 60,
        auto_rollback: true,
        services: services(),
        health_checks: vec![],
        analysis: vec![],
        progress_deadline_secs: crate::config::DEFAULT_PROGRESS_DEADLINE_SECS,
        on_deadline: crate::config::OnDeadline::Abort,
        max_pause_secs: crate::config::DEFAULT_MAX_PAUSE_SECS,
        ab: None,
        pages: vec![],
    }
}

/// A measurement that was taken: `value` over a window with 100 requests.
pub(super) fn taken(query: MetricQuery, value: Option<f64>) -> Measurement {
    Measurement {
        query,
        value: Ok(value),
        requests: Some(100.0),
        baseline: None,
    }
}

/// A spec whose fields tests leave at their defaults (deadline, pause cap).
pub(super) fn defaults() -> Spec {
    gradual(&[100.0])
}

pub(super) fn percent_of(split: &Split, version: &str) -> f64 {
    split
        .versions
        .iter()
        .find(|(v, _)| v == version)
        .map_or(0.0, |(_, p)| *p)
}

/// Plays the driver: answers every action with healthy results (or the given metric value)
/// until the engine goes idle; returns the splits it applied, in order.
fn drive(
    r: &mut Rollout,
    start: i64,
    metric_value: impl Fn(&MetricQuery) -> Option<f64>,
) -> Vec<Vec<Split>> {
    let mut now = start;
    let mut applied = Vec::new();
    for _ in 0..1000 {
        match r.next(now) {
            Action::ApplyTraffic(splits) => {
                applied.push(splits);
                r.traffic_applied(now, Ok(()));
            }
            Action::RunChecks { health, metrics } => {
                let h: Vec<HealthResponse> = health
                    .iter()
                    .map(|q| HealthResponse {
                        check: q.check,
                        result: Ok((200, "ok".into(), 5)),
                    })
                    .collect();
                let m: Vec<Measurement> = metrics
                    .iter()
                    .map(|q| taken(q.clone(), metric_value(q)))
                    .collect();
                r.checks_done(now, &h, &m);
            }
            Action::Restore(splits) => {
                applied.push(splits.clone());
                let ok: Vec<(String, Result<(), String>)> =
                    splits.iter().map(|s| (s.script.clone(), Ok(()))).collect();
                r.restore_done(now, &ok);
            }
            Action::RestorePages(sites) => {
                let ok: Vec<(String, Result<(), String>)> =
                    sites.iter().map(|s| (s.service.clone(), Ok(()))).collect();
                r.pages_restore_done(now, &ok);
            }
            Action::Advance => r.advance(now),
            Action::Expire => r.expire(now),
            Action::Record { .. } => r.recorded(),
            Action::WaitUntil(t) => {
                assert!(t > now, "waits move time forward ({t} <= {now})");
                now = t;
            }
            Action::Idle => return applied,
        }
    }
    panic!("the rollout never settled: {:?}", r.phase);
}

#[test]
fn gradual_moves_every_service_through_each_step_and_holds_each() {
    let mut r = Rollout::new("dep_1", gradual(&[10.0, 50.0, 100.0]), 0).unwrap();
    let Action::ApplyTraffic(first) = r.next(0) else {
        panic!("starts by moving traffic");
    };
    assert_eq!(first.len(), 2);
    assert_eq!(percent_of(&first[0], NEW_API), 10.0);
    assert_eq!(percent_of(&first[0], OLD_API), 90.0);
    r.traffic_applied(0, Ok(()));
    // The step holds for step_wait_secs before the next.
    assert_eq!(r.next(1_000), Action::WaitUntil(60_000));
    assert_eq!(r.next(60_000), Action::Advance);
    r.advance(60_000);
    let Action::ApplyTraffic(second) = r.next(60_000) else {
        panic!("second step");
    };
    assert_eq!(percent_of(&second[1], NEW_WEB), 50.0);
    let applied = drive(&mut r, 60_000, |_| None);
    assert_eq!(applied.len(), 2, "50% then 100%");
    assert_eq!(applied[1][0].versions, vec![(NEW_API.to_owned(), 100.0)]);
    assert_eq!(r.phase, Phase::Succeeded);
    assert!(r.recorded);
    assert!(r.log.iter().any(|l| l.kind == "succeeded"));
}

#[test]
fn failing_analysis_beyond_the_limit_rolls_every_service_back() {
    let mut spec = gradual(&[20.0, 100.0]);
    spec.analysis = vec![error_rate(1)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    // api fails (30% errors), web is fine: two rounds of measurements → 2 failures > limit 1.
    let applied = drive(&mut r, 0, |q| {
        Some(if q.service == "api" { 0.3 } else { 0.0 })
    });
    assert_eq!(r.phase, Phase::RolledBack);
    let restore = applied.last().unwrap();
    assert_eq!(
        restore.len(),
        2,
        "both services go back, not only the failing one"
    );
    assert_eq!(restore[0].versions, vec![(OLD_API.to_owned(), 100.0)]);
    assert_eq!(restore[1].versions, vec![(OLD_WEB.to_owned(), 100.0)]);
    assert_eq!(r.tallies[0].failed, 2);
    assert!(r.reason.as_deref().unwrap().contains("failure limit of 1"));
    assert!(applied
        .iter()
        .all(|s| s.iter().all(|x| percent_of(x, NEW_API) < 100.0)));
    assert_eq!(r.next(10_000_000), Action::Idle, "recorded and settled");
}

#[test]
fn one_failure_within_the_limit_does_not_roll_back() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.analysis = vec![error_rate(1)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    let failures = std::cell::Cell::new(0);
    drive(&mut r, 0, |_| {
        if failures.get() == 0 {
            failures.set(1);
            Some(0.5)
        } else {
            Some(0.0)
        }
    });
    assert_eq!(r.phase, Phase::Succeeded);
    assert_eq!(r.tallies[0].failed, 1);
}

#[test]
fn measurements_cover_the_step_window_at_the_configured_interval() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.analysis = vec![error_rate(0)];
    spec.step_wait_secs = 5;
    let mut r = Rollout::new("dep_1", spec, 1_000).unwrap();
    r.traffic_applied(1_000, Ok(()));
    assert_eq!(
        r.next(2_000),
        Action::WaitUntil(11_000),
        "first measurement after one interval"
    );
    let Action::RunChecks { health, metrics } = r.next(11_000) else {
        panic!("measures");
    };
    assert!(health.is_empty());
    assert_eq!(metrics.len(), 2, "one query per service of the deployment");
    assert_eq!((metrics[0].since_ms, metrics[0].until_ms), (1_000, 11_000));
    assert_eq!(metrics[0].version, NEW_API);
    let m: Vec<Measurement> = metrics.into_iter().map(|q| taken(q, Some(0.0))).collect();
    r.checks_done(11_000, &[], &m);
    // Held 5 s but measured once: the step waits for its count (2), Argo inline-analysis
    // style (before issue 13 it advanced here).
    assert_eq!(r.next(11_000), Action::WaitUntil(21_000));
    let Action::RunChecks { metrics, .. } = r.next(21_000) else {
        panic!("the second measurement");
    };
    assert_eq!((metrics[0].since_ms, metrics[0].until_ms), (11_000, 21_000));
    let m: Vec<Measurement> = metrics.into_iter().map(|q| taken(q, Some(0.0))).collect();
    r.checks_done(21_000, &[], &m);
    assert_eq!(r.next(21_000), Action::Advance);
}

#[test]
fn blue_green_smoke_tests_the_new_version_at_zero_percent_before_the_flip() {
    let spec = Spec {
        strategy: Strategy::BlueGreen,
        steps: vec![],
        step_wait_secs: 0,
        auto_rollback: true,
        services: services(),
        health_checks: vec![check(Some("api"))],
        analysis: vec![error_rate(0)],
        ..defaults()
    };
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    let Action::ApplyTraffic(zero) = r.next(0) else {
        panic!("first the new versions join at 0%");
    };
    assert_eq!(
        zero[0].versions,
        vec![(NEW_API.to_owned(), 0.0), (OLD_API.to_owned(), 100.0)]
    );
    r.traffic_applied(0, Ok(()));
    let Action::RunChecks { health, metrics } = r.next(0) else {
        panic!("smoke test");
    };
    assert!(metrics.is_empty(), "no traffic at 0%: nothing to measure");
    assert_eq!(health.len(), 1);
    assert!(health[0].headers.contains(&(
        "Cloudflare-Workers-Version-Overrides".to_owned(),
        format!("shop-api=\"{NEW_API}\"")
    )));
    r.checks_done(
        0,
        &[HealthResponse {
            check: 0,
            result: Ok((200, "ok".into(), 3)),
        }],
        &[],
    );
    assert_eq!(
        r.next(0),
        Action::Advance,
        "flip once the smoke test passed"
    );
    r.advance(0);
    let Action::ApplyTraffic(flip) = r.next(0) else {
        panic!("flip");
    };
    assert_eq!(flip[0].versions, vec![(NEW_API.to_owned(), 100.0)]);
    drive(&mut r, 0, |_| Some(0.0));
    assert_eq!(r.phase, Phase::Succeeded);
}

#[test]
fn a_failing_health_check_aborts_and_restores_the_old_versions() {
    let spec = Spec {
        strategy: Strategy::BlueGreen,
        steps: vec![],
        step_wait_secs: 30,
        auto_rollback: true,
        services: services(),
        health_checks: vec![check(Some("api"))],
        analysis: vec![],
        ..defaults()
    };
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    r.checks_done(
        0,
        &[HealthResponse {
            check: 0,
            result: Ok((503, "down".into(), 3)),
        }],
        &[],
    );
    assert_eq!(r.phase, Phase::RollingBack);
    assert!(r
        .reason
        .as_deref()
        .unwrap()
        .contains("status 503, expected 200"));
    let Action::Restore(splits) = r.next(0) else {
        panic!("restore");
    };
    assert_eq!(splits.len(), 2);
    r.restore_done(
        0,
        &[("shop-api".into(), Ok(())), ("shop-web".into(), Ok(()))],
    );
    assert_eq!(r.phase, Phase::RolledBack);
    assert_eq!(
        r.next(0),
        Action::Record {
            status: DeploymentStatus::RolledBack,
            summary: r.reason.clone().unwrap()
        }
    );
}

#[test]
fn inconclusive_beyond_its_limit_pauses_for_a_human_who_can_resume_or_promote() {
    let mut spec = gradual(&[10.0, 50.0, 100.0]);
    spec.analysis = vec![error_rate(0)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    drive(&mut r, 0, |_| None);
    assert_eq!(r.phase, Phase::Paused);
    assert!(r.reason.as_deref().unwrap().contains("inconclusive"));
    assert_eq!(r.next(1_000_000), Action::Idle, "paused: no alarm");
    r.command(100_000, Command::Resume, "ann").unwrap();
    assert_eq!(r.phase, Phase::Running);
    r.command(100_000, Command::Promote, "ann").unwrap();
    let applied = drive(&mut r, 100_000, |_| None);
    assert_eq!(applied.len(), 1, "promote goes straight to 100%");
    assert_eq!(applied[0][0].versions, vec![(NEW_API.to_owned(), 100.0)]);
    assert_eq!(r.phase, Phase::Succeeded);
    assert!(r
        .log
        .iter()
        .any(|l| l.kind == "promoted" && l.message.contains("ann")));
    let err = r.command(100_000, Command::Abort, "ann").unwrap_err();
    assert_eq!(err.to_string(), "cannot abort a rollout that is succeeded");
}

#[test]
fn abort_rolls_back_and_pause_stops_the_clock() {
    let mut r = Rollout::new("dep_1", gradual(&[10.0, 100.0]), 0).unwrap();
    r.traffic_applied(0, Ok(()));
    r.command(1_000, Command::Pause, "bob").unwrap();
    assert_eq!(r.next(500_000), Action::Idle);
    assert!(
        r.command(1_000, Command::Pause, "bob").is_err(),
        "already paused"
    );
    r.command(2_000, Command::Abort, "bob").unwrap();
    let applied = drive(&mut r, 2_000, |_| None);
    assert_eq!(r.phase, Phase::RolledBack);
    assert_eq!(applied.len(), 1);
    assert_eq!(r.summary(), "aborted by bob");
}

#[test]
fn a_restarted_driver_continues_from_the_stored_state() {
    let mut spec = gradual(&[10.0, 50.0, 100.0]);
    spec.analysis = vec![error_rate(0)];
    spec.step_wait_secs = 20;
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    let Action::RunChecks { metrics, .. } = r.next(10_000) else {
        panic!("measures");
    };
    let m: Vec<Measurement> = metrics.into_iter().map(|q| taken(q, Some(0.01))).collect();
    r.checks_done(10_000, &[], &m);
    // The Durable Object stores this and the isolate dies; a new one loads it.
    let stored = serde_json::to_string(&r).unwrap();
    let mut back: Rollout = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.next(12_000), Action::WaitUntil(20_000));
    drive(&mut back, 12_000, |_| Some(0.0));
    assert_eq!(back.phase, Phase::Succeeded);
}

#[test]
fn traffic_errors_are_retried_then_roll_back() {
    let mut r = Rollout::new("dep_1", gradual(&[10.0, 100.0]), 0).unwrap();
    r.traffic_applied(0, Err("503".into()));
    assert_eq!(r.next(0), Action::WaitUntil(RETRY_AFTER_MS));
    r.traffic_applied(RETRY_AFTER_MS, Err("503".into()));
    r.traffic_applied(2 * RETRY_AFTER_MS, Err("503".into()));
    assert_eq!(r.phase, Phase::RollingBack);
    // A restore that never goes through ends as failed, for a human.
    for i in 0..MAX_ATTEMPTS {
        let now = 10 * RETRY_AFTER_MS * (i64::from(i) + 1);
        assert!(matches!(r.next(now), Action::Restore(_)));
        r.restore_done(
            now,
            &[
                ("shop-api".into(), Err("403".into())),
                ("shop-web".into(), Ok(())),
            ],
        );
    }
    assert_eq!(r.phase, Phase::Failed);
    assert!(r.reason.as_deref().unwrap().contains("restoring failed"));
    assert!(matches!(
        r.next(0),
        Action::Record {
            status: DeploymentStatus::Failed,
            ..
        }
    ));
}

#[test]
fn workers_already_at_100_percent_are_checked_and_restored_but_not_split() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.services[0].already_live = true;
    spec.services.push(ServiceRollout {
        service: "jobs".into(),
        script: "shop-jobs".into(),
        previous_version: None,
        new_version: "eeeeeeee-0000-4000-8000-000000000005".into(),
        already_live: true,
    });
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    let Action::ApplyTraffic(splits) = r.next(0) else {
        panic!("traffic");
    };
    assert_eq!(splits.len(), 1, "only web is split");
    assert_eq!(splits[0].script, "shop-web");
    r.traffic_applied(0, Ok(()));
    r.command(1, Command::Abort, "ci").unwrap();
    let Action::Restore(back) = r.next(1) else {
        panic!("restore");
    };
    let scripts: Vec<&str> = back.iter().map(|s| s.script.as_str()).collect();
    assert_eq!(
        scripts,
        ["shop-api", "shop-web"],
        "jobs is new: nothing to go back to"
    );
    r.restore_done(1, &[]);
    assert!(r
        .log
        .last()
        .unwrap()
        .message
        .contains("shop-jobs had no previous version"));
}

#[test]
fn specs_the_engine_cannot_run_are_refused_with_the_field() {
    let cases: Vec<(Spec, &str)> = vec![
        (gradual(&[50.0, 10.0, 100.0]), "`steps`"),
        (gradual(&[10.0, 50.0]), "ending at 100"),
        (
            Spec {
                services: vec![],
                ..gradual(&[100.0])
            },
            "`services`",
        ),
        (
            Spec {
                strategy: Strategy::BlueGreen,
                ..gradual(&[])
            },
            "blue-green needs a health check",
        ),
        (
            Spec {
                health_checks: vec![check(Some("nope"))],
                ..gradual(&[100.0])
            },
            "`health_checks[0]`",
        ),
        (
            Spec {
                services: vec![ServiceRollout {
                    previous_version: Some(NEW_API.into()),
                    ..services()[0].clone()
                }],
                ..gradual(&[100.0])
            },
            "already serving",
        ),
    ];
    for (spec, want) in cases {
        let err = Rollout::new("d", spec, 0).unwrap_err();
        assert!(err.0.contains(want), "{err} should mention {want}");
    }
}

#[test]
fn analytics_queries_filter_by_version_and_read_each_metric() {
    let body = query_body("acc", "shop-api", NEW_API, 0, 60_000);
    assert_eq!(body["variables"]["filter"]["scriptVersion"], NEW_API);
    assert_eq!(
        body["variables"]["filter"]["datetime_geq"],
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(
        body["variables"]["filter"]["datetime_leq"],
        "1970-01-01T00:01:00.000Z"
    );
    let answer = serde_json::json!({ "data": { "viewer": { "accounts": [ { "workersInvocationsAdaptive": [
        { "dimensions": { "scriptName": "shop-api", "scriptVersion": NEW_API },
          "sum": { "requests": 200, "errors": 30 }, "quantiles": { "wallTimeP50": 20000.0, "wallTimeP99": 900000.0 } },
        { "dimensions": { "scriptName": "shop-api", "scriptVersion": OLD_API },
          "sum": { "requests": 800, "errors": 0 }, "quantiles": { "wallTimeP50": 20000.0, "wallTimeP99": 80000.0 } }
    ] } ] } }, "errors": null })
    .to_string();
    let read = |m| read_sample(m, NEW_API, answer.as_bytes()).unwrap().value;
    assert_eq!(read(Metric::ErrorRate), Some(0.15));
    assert_eq!(read(Metric::P99LatencyMs), Some(900.0));
    assert_eq!(read(Metric::Requests), Some(200.0));
    let perf = read_performance(NEW_API, answer.as_bytes()).unwrap();
    assert_eq!(
        (perf.requests, perf.error_rate, perf.p50_ms, perf.p99_ms),
        (200.0, Some(0.15), Some(20.0), Some(900.0))
    );
    let idle =
        r#"{"data":{"viewer":{"accounts":[{"workersInvocationsAdaptive":[]}]}},"errors":null}"#;
    assert_eq!(
        read_sample(Metric::ErrorRate, NEW_API, idle.as_bytes())
            .unwrap()
            .value,
        None
    );
    let nothing = read_performance(NEW_API, idle.as_bytes()).unwrap();
    assert_eq!(
        (nothing.requests, nothing.error_rate, nothing.p99_ms),
        (0.0, None, None),
        "no requests is nothing measured, never a zero"
    );
    let refused = r#"{"data":null,"errors":[{"message":"not authorized for that account"}]}"#;
    assert!(read_sample(Metric::ErrorRate, NEW_API, refused.as_bytes())
        .unwrap_err()
        .contains("not authorized"));
}

#[test]
fn a_rollout_that_loses_its_lock_pauses_where_it_stands_and_moves_no_more_traffic() {
    let mut r = Rollout::new("dep_1", gradual(&[10.0, 50.0, 100.0]), 0).unwrap();
    assert!(matches!(r.next(0), Action::ApplyTraffic(_)));
    r.traffic_applied(0, Ok(()));
    // The heartbeat at the next run is refused: someone broke the lock.
    assert!(r.lost_lock(5_000, "lock held by another deployment"));
    assert!(!r.lost_lock(6_000, "again"), "reported once");
    assert_eq!(r.phase, Phase::Paused);
    assert!(r.lock_lost);
    let reason = r.reason.clone().unwrap();
    assert!(
        reason.contains("no longer holds the environment lock") && reason.contains("10%"),
        "{reason}"
    );
    assert!(r.log.iter().any(|l| l.kind == "lock_lost"));
    // Long after the step's hold: still nothing to do, above all no traffic.
    assert_eq!(r.next(10_000_000), Action::Idle);
    assert_eq!(r.status(5_000).traffic_percent, Some(10.0));
    assert!(r.status(5_000).lock_lost);
    // Late answers of an in-flight step change nothing.
    r.advance(70_000);
    assert_eq!(r.step, 0);
    // Resume and promote would move traffic: refused with the reason.
    for cmd in [Command::Resume, Command::Promote, Command::Pause] {
        let err = r.command(7_000, cmd, "member:ann@x.test").unwrap_err();
        assert!(
            err.to_string().contains("losing the environment lock"),
            "{err}"
        );
    }
    // Abort ends it as it stands: failed, recorded, never a restore.
    r.command(8_000, Command::Abort, "member:ann@x.test")
        .unwrap();
    assert_eq!(r.phase, Phase::Failed);
    match r.next(8_000) {
        Action::Record { status, summary } => {
            assert_eq!(status, DeploymentStatus::Failed);
            assert!(summary.contains("traffic left as it was"), "{summary}");
        }
        other => panic!("records the end, got {other:?}"),
    }
}

#[test]
fn a_rollback_that_loses_its_lock_stops_restoring() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.analysis = vec![error_rate(0)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    r.command(1_000, Command::Abort, "member:ann@x.test")
        .unwrap();
    assert!(matches!(r.next(1_000), Action::Restore(_)));
    assert!(r.lost_lock(1_000, "lease expired"));
    assert_eq!(r.next(1_000), Action::Idle, "no restore without the lock");
    // A restore answer arriving after the loss does not end the rollout as rolled back.
    r.restore_done(
        1_500,
        &[("shop-api".into(), Ok(())), ("shop-web".into(), Ok(()))],
    );
    assert_eq!(r.phase, Phase::Paused);
}

#[test]
fn immediate_verifies_after_moving_traffic_without_holding_and_rolls_back_on_failure() {
    let spec = |checks: Vec<HealthCheck>| Spec {
        strategy: Strategy::Immediate,
        steps: vec![],
        // The configured hold of gradual steps does not slow an immediate deploy down.
        step_wait_secs: 600,
        auto_rollback: true,
        services: services(),
        health_checks: checks,
        analysis: vec![],
        ..defaults()
    };
    // No checks: every Worker at 100% in one action, then done at once.
    let mut r = Rollout::new("dep_1", spec(vec![]), 0).unwrap();
    let Action::ApplyTraffic(splits) = r.next(0) else {
        panic!("moves traffic first");
    };
    assert_eq!(splits.len(), 2, "every Worker at once");
    assert!(splits
        .iter()
        .all(|s| s.versions.len() == 1 && s.versions[0].1 == 100.0));
    r.traffic_applied(10, Ok(()));
    assert_eq!(r.next(10), Action::Advance);
    r.advance(10);
    assert_eq!(r.phase, Phase::Succeeded);

    // With a health check: it runs after the move, and its failure rolls every service back.
    let mut r = Rollout::new("dep_2", spec(vec![check(Some("api"))]), 0).unwrap();
    assert!(matches!(r.next(0), Action::ApplyTraffic(_)));
    r.traffic_applied(10, Ok(()));
    let Action::RunChecks { health, .. } = r.next(10) else {
        panic!("verifies after the move");
    };
    assert_eq!(health.len(), 1);
    r.checks_done(
        20,
        &[HealthResponse {
            check: 0,
            result: Ok((503, "down".into(), 5)),
        }],
        &[],
    );
    assert_eq!(r.phase, Phase::RollingBack);
    let Action::Restore(back) = r.next(20) else {
        panic!("restores");
    };
    assert_eq!(back[0].versions, vec![(OLD_API.to_owned(), 100.0)]);
    assert_eq!(back[1].versions, vec![(OLD_WEB.to_owned(), 100.0)]);
}

#[test]
fn rollout_settings_carry_no_account_workers_or_versions() {
    let ok: RolloutSettings =
        serde_json::from_value(serde_json::json!({ "steps": [50, 100], "step_wait_secs": 5 }))
            .unwrap();
    let spec = ok.into_spec(Strategy::Gradual, services());
    assert_eq!(spec.services, services());
    assert!(spec.auto_rollback);
    for field in ["account_id", "services", "strategy"] {
        let body = serde_json::json!({ "step_wait_secs": 5, field: "x" });
        let err = serde_json::from_value::<RolloutSettings>(body).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{field}: {err}");
    }
}

#[test]
fn script_names_and_version_ids_are_safe_path_segments() {
    for good in ["shop-api", "shop_api-staging", "a"] {
        assert!(valid_script_name(good), "{good}");
    }
    for bad in [
        "",
        "../acc_x",
        "a/b",
        "a?b",
        "a#b",
        "Shop",
        "a.b",
        &"x".repeat(64),
    ] {
        assert!(!valid_script_name(bad), "{bad}");
    }
    assert!(valid_version_id("bbbbbbbb-0000-4000-8000-000000000002"));
    for bad in ["", "..", "v/1", "v?x", "v#x", "v%2F"] {
        assert!(!valid_version_id(bad), "{bad}");
    }
}
