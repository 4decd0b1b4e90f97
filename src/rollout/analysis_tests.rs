//! The analysis and step semantics of issue 13 on the pure engine: no advance on red, `count`
//! measurements per step, per-service limits, analytics errors, baseline comparison,
//! `min_requests`, pauses that stop the clock, the progress deadline, the pause cap and
//! manual gates.

use super::tests::{gradual, percent_of, taken, NEW_API, OLD_API};
use super::*;
use crate::config::{AnalysisMetric, Condition, Gate, Metric, OnDeadline, Pause, Step};

fn metric(condition: &str, failure_limit: u32, count: u32) -> AnalysisMetric {
    AnalysisMetric {
        condition: Some(Condition::parse(condition).unwrap()),
        interval_secs: 10,
        count,
        failure_limit,
        ..AnalysisMetric::with_defaults("error_rate", Metric::ErrorRate)
    }
}

/// Answers one measurement round with `value(query)` (an `Err` is an analytics error).
fn measure(
    r: &mut Rollout,
    now: i64,
    value: impl Fn(&MetricQuery) -> Result<Option<f64>, String>,
) -> Vec<MetricQuery> {
    let Action::RunChecks { metrics, .. } = r.next(now) else {
        panic!(
            "expected a measurement round at {now}, got {:?}",
            r.next(now)
        );
    };
    let m: Vec<Measurement> = metrics
        .iter()
        .map(|q| Measurement {
            value: value(q),
            ..taken(q.clone(), None)
        })
        .collect();
    r.checks_done(now, &[], &m);
    metrics
}

fn applied_percent_of_api(action: &Action) -> Option<f64> {
    match action {
        Action::ApplyTraffic(splits) => Some(percent_of(&splits[0], NEW_API)),
        _ => None,
    }
}

/// The issue's report: a 52% error measurement with `failure_limit = 1` advanced the canary
/// to the next step. Now the step holds on the red measurement, measures again, and the
/// second failure (beyond the limit) rolls back: traffic never went past 10%.
#[test]
fn a_red_measurement_never_advances_the_step_even_within_the_failure_limit() {
    let mut spec = gradual(&[10.0, 50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.analysis = vec![metric("< 0.05", 1, 1)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    assert_eq!(applied_percent_of_api(&r.next(0)), Some(10.0));
    r.traffic_applied(0, Ok(()));
    measure(&mut r, 10_000, |q| {
        Ok(Some(if q.service == "api" { 0.52 } else { 0.0 }))
    });
    assert_eq!(r.phase, Phase::Running, "one failure is within the limit");
    // Count (1) is taken and the hold is over, but the latest measurement is red.
    assert_eq!(r.next(10_000), Action::WaitUntil(20_000));
    measure(&mut r, 20_000, |q| {
        Ok(Some(if q.service == "api" { 0.52 } else { 0.0 }))
    });
    assert_eq!(r.phase, Phase::RollingBack);
    assert!(r
        .reason
        .as_deref()
        .unwrap()
        .contains("analysis error_rate of api: 2 failed"));
    assert_eq!(r.step, 0, "never left the 10% step");
}

#[test]
fn a_red_measurement_followed_by_a_green_one_advances() {
    let mut spec = gradual(&[10.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.analysis = vec![metric("< 0.05", 1, 1)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    measure(&mut r, 10_000, |_| Ok(Some(0.3)));
    assert_ne!(r.next(10_000), Action::Advance);
    measure(&mut r, 20_000, |_| Ok(Some(0.01)));
    assert_eq!(r.next(20_000), Action::Advance);
}

#[test]
fn a_step_waits_for_count_measurements_at_the_interval() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.analysis = vec![metric("< 0.05", 0, 3)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    for (round, at) in [10_000, 20_000, 30_000].into_iter().enumerate() {
        assert_eq!(r.next(at - 1), Action::WaitUntil(at), "round {round}");
        measure(&mut r, at, |_| Ok(Some(0.0)));
    }
    assert_eq!(r.tallies[0].this_step, 3);
    assert_eq!(r.next(30_000), Action::Advance);
    let status = r.status(30_000);
    assert_eq!(status.analysis[0].measurements_this_step, 3);
    assert_eq!(status.analysis[0].count, 3);
    assert_eq!(status.analysis[0].services.len(), 2);
    assert_eq!(
        status.analysis[0].services[0].last_verdict,
        Some(Verdict::Successful)
    );
}

#[test]
fn a_background_metric_does_not_hold_the_step_but_its_failures_count() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 15;
    let mut m = metric("< 0.05", 0, 5);
    m.background = true;
    spec.analysis = vec![m];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    measure(&mut r, 10_000, |_| Ok(Some(0.0)));
    // One of five measurements, yet the step ends with its hold.
    assert_eq!(r.next(15_000), Action::Advance);
    r.advance(15_000);
    r.traffic_applied(15_000, Ok(()));
    // Across steps: the next window starts where the last ended, not at the step.
    let q = measure(&mut r, 20_000, |_| Ok(Some(0.9)));
    assert_eq!(q[0].since_ms, 10_000);
    assert_eq!(r.phase, Phase::RollingBack, "its failure still rolls back");
}

#[test]
fn failure_limits_count_per_service() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.analysis = vec![metric("< 0.05", 1, 1)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    // api fails, then web fails: two failures of the metric, one per service.
    measure(&mut r, 10_000, |q| {
        Ok(Some(if q.service == "api" { 0.5 } else { 0.0 }))
    });
    measure(&mut r, 20_000, |q| {
        Ok(Some(if q.service == "web" { 0.5 } else { 0.0 }))
    });
    assert_eq!(r.phase, Phase::Running);
    assert_eq!(r.tallies[0].failed, 2);
    let per: Vec<u32> = r.tallies[0].services.iter().map(|s| s.failed).collect();
    assert_eq!(per, vec![1, 1]);
    measure(&mut r, 30_000, |_| Ok(Some(0.0)));
    assert_eq!(r.next(30_000), Action::Advance);
    // A second failure of the same service is beyond its limit.
    r.advance(30_000);
    r.traffic_applied(30_000, Ok(()));
    measure(&mut r, 40_000, |q| {
        Ok(Some(if q.service == "web" { 0.5 } else { 0.0 }))
    });
    assert_eq!(r.phase, Phase::RollingBack);
    assert!(r.reason.as_deref().unwrap().contains("of web: 2 failed"));
}

#[test]
fn analytics_errors_are_errors_and_fail_past_the_consecutive_limit_a_success_resets() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    let mut m = metric("< 0.05", 0, 1);
    m.consecutive_error_limit = 2;
    spec.analysis = vec![m];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    let error = |_: &MetricQuery| Err("analytics: HTTP 502".to_owned());
    measure(&mut r, 10_000, error);
    measure(&mut r, 20_000, error);
    assert_eq!(
        r.phase,
        Phase::Running,
        "two errors: at the limit, not beyond"
    );
    assert_eq!(r.tallies[0].inconclusive, 0, "an error is not inconclusive");
    assert_eq!(r.tallies[0].services[0].error_streak, 2);
    assert_ne!(
        r.next(20_000),
        Action::Advance,
        "an error is no green light"
    );
    measure(&mut r, 30_000, |_| Ok(Some(0.0)));
    assert_eq!(r.tallies[0].services[0].error_streak, 0, "a success resets");
    // Keep the step from ending so the streak can build again.
    r.tallies[0].this_step = 0;
    measure(&mut r, 40_000, error);
    measure(&mut r, 50_000, error);
    assert_eq!(r.phase, Phase::Running);
    measure(&mut r, 60_000, error);
    assert_eq!(r.phase, Phase::RollingBack);
    let why = r.reason.clone().unwrap();
    assert!(why.contains("3 consecutive errors"), "{why}");
    assert!(why.contains("consecutive error limit of 2"), "{why}");
    assert_eq!(r.status(60_000).analysis[0].errors, 10);
}

#[test]
fn a_pause_stops_the_steps_clock() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 60;
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    assert_eq!(r.next(0), Action::WaitUntil(60_000));
    r.command(10_000, Command::Pause, "alice").unwrap();
    r.command(110_000, Command::Resume, "alice").unwrap();
    // 10 s held before the pause, 100 s paused: 50 s still to hold.
    assert_eq!(r.next(110_000), Action::WaitUntil(160_000));
    assert_eq!(r.status(110_000).hold_until, Some(160_000));
    assert_eq!(r.next(160_000), Action::Advance);
}

#[test]
fn no_progress_within_the_deadline_aborts_and_says_why() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.progress_deadline_secs = 120;
    let mut m = metric("< 0.05", 0, 1);
    m.consecutive_error_limit = 1000;
    spec.analysis = vec![m];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    let mut now = 10_000;
    while now < 120_000 {
        measure(&mut r, now, |_| Err("analytics: HTTP 502".to_owned()));
        now += 10_000;
    }
    assert_eq!(r.status(now).progress_deadline_at, Some(120_000));
    assert_eq!(r.next(120_000), Action::Expire);
    r.expire(120_000);
    assert_eq!(r.phase, Phase::RollingBack);
    let why = r.reason.clone().unwrap();
    assert!(
        why.contains("no progress within progress_deadline_secs (120 s)"),
        "{why}"
    );
    assert!(why.contains("on_deadline = abort"), "{why}");
    assert!(why.contains("analysis error_rate: 11/1"), "{why}");
}

#[test]
fn on_deadline_pause_pauses_and_the_pause_cap_then_aborts() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.progress_deadline_secs = 120;
    spec.on_deadline = OnDeadline::Pause;
    spec.max_pause_secs = 600;
    spec.auto_rollback = false;
    let mut m = metric("< 0.05", 0, 1);
    m.consecutive_error_limit = 1000;
    spec.analysis = vec![m];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    measure(&mut r, 10_000, |_| Err("analytics: HTTP 502".to_owned()));
    // Waiting for the next measurement, but never past the deadline.
    assert_eq!(r.next(15_000), Action::WaitUntil(20_000));
    assert_eq!(r.next(120_000), Action::Expire);
    r.expire(120_000);
    assert_eq!(r.phase, Phase::Paused);
    assert!(r.reason.as_deref().unwrap().contains("on_deadline = pause"));
    // Paused time does not count toward the deadline: none while paused.
    assert_eq!(r.status(300_000).progress_deadline_at, None);
    assert_eq!(r.status(300_000).pause_expires_at, Some(720_000));
    assert_eq!(r.next(719_999), Action::Idle);
    assert_eq!(r.next(720_000), Action::Expire);
    r.expire(720_000);
    assert_eq!(
        r.phase,
        Phase::RollingBack,
        "the cap aborts, auto_rollback or not"
    );
    assert!(r
        .reason
        .as_deref()
        .unwrap()
        .contains("max_pause_secs (600 s)"));
}

#[test]
fn the_deadline_restarts_after_a_resume() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 100;
    spec.progress_deadline_secs = 120;
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    r.command(50_000, Command::Pause, "alice").unwrap();
    r.command(5_000_000, Command::Resume, "alice").unwrap();
    assert_eq!(r.status(5_000_000).progress_deadline_at, Some(5_120_000));
    // Held 50 s before, 50 s after: advances well within the deadline.
    assert_eq!(r.next(5_050_000), Action::Advance);
}

fn gated(pause: Pause) -> Spec {
    let mut spec = gradual(&[]);
    spec.steps = vec![
        Step::Traffic(10.0),
        Step::Gate(Gate { pause }),
        Step::Traffic(50.0),
        Step::Traffic(100.0),
    ];
    spec.step_wait_secs = 0;
    spec
}

#[test]
fn a_manual_gate_holds_until_resumed() {
    let mut r = Rollout::new("dep_1", gated(Pause::Manual), 0).unwrap();
    assert_eq!(r.spec.traffic_steps(), vec![10.0, 50.0, 100.0]);
    assert_eq!(applied_percent_of_api(&r.next(0)), Some(10.0));
    r.traffic_applied(0, Ok(()));
    assert_eq!(r.next(0), Action::Advance);
    r.advance(0);
    assert_eq!(r.phase, Phase::Paused);
    let why = r.reason.clone().unwrap();
    assert!(why.contains("manual gate before step 2/3 (50%)"), "{why}");
    // Hours later: still holding (the pause cap is a day).
    assert_eq!(r.next(3_600_000), Action::Idle);
    assert_eq!(r.status(3_600_000).traffic_percent, Some(10.0));
    r.command(3_600_000, Command::Resume, "bob").unwrap();
    assert_eq!(applied_percent_of_api(&r.next(3_600_000)), Some(50.0));
}

#[test]
fn a_timed_gate_waits_then_continues_by_itself() {
    let mut r = Rollout::new("dep_1", gated(Pause::Secs(600)), 0).unwrap();
    r.traffic_applied(0, Ok(()));
    r.advance(0);
    assert_eq!(r.phase, Phase::Running);
    assert_eq!(r.next(1_000), Action::WaitUntil(600_000));
    assert_eq!(applied_percent_of_api(&r.next(600_000)), Some(50.0));
}

#[test]
fn gates_are_refused_where_they_hold_nothing() {
    let mut spec = gated(Pause::Manual);
    spec.steps.push(Step::Gate(Gate {
        pause: Pause::Manual,
    }));
    let err = Rollout::new("dep_1", spec, 0).unwrap_err();
    assert!(err.0.contains("after the last percentage"), "{err}");
    let mut spec = gated(Pause::Manual);
    spec.steps.insert(
        1,
        Step::Gate(Gate {
            pause: Pause::Manual,
        }),
    );
    let err = Rollout::new("dep_1", spec, 0).unwrap_err();
    assert!(err.0.contains("two pauses in a row"), "{err}");
    // A gate first holds before any traffic moves.
    let mut spec = gated(Pause::Manual);
    spec.steps.insert(
        0,
        Step::Gate(Gate {
            pause: Pause::Manual,
        }),
    );
    spec.steps.remove(2);
    let r = Rollout::new("dep_1", spec, 0).unwrap();
    assert_eq!(r.phase, Phase::Paused);
    assert_eq!(r.next(0), Action::Idle);
}

#[test]
fn a_deadline_shorter_than_a_step_is_refused() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.analysis = vec![metric("< 0.05", 0, 3)];
    spec.analysis[0].interval_secs = 60;
    spec.progress_deadline_secs = 120;
    spec.step_wait_secs = 0;
    let err = Rollout::new("dep_1", spec, 0).unwrap_err();
    assert!(err.0.contains("a step takes at least 180 s"), "{err}");
}

#[test]
fn a_baseline_metric_compares_with_the_previous_version_over_the_same_window() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.analysis = vec![metric("< baseline * 1.5 + 0.01", 0, 1)];
    spec.services[1].previous_version = None; // web is a new Worker
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    let Action::RunChecks { metrics, .. } = r.next(10_000) else {
        panic!("measures");
    };
    assert_eq!(metrics[0].baseline_version.as_deref(), Some(OLD_API));
    assert_eq!(
        metrics[1].baseline_version, None,
        "web has no previous version"
    );
    let answer = |q: &MetricQuery, value: f64, baseline: f64| Measurement {
        baseline: q.baseline_version.as_ref().map(|_| Ok(Some(baseline))),
        ..taken(q.clone(), Some(value))
    };
    let mut only_api = r.clone();
    only_api.spec.analysis[0].service = Some("api".into());
    // 10% errors where the old version has 8%: under 8% × 1.5 + 1% = 13%.
    let m = vec![answer(&metrics[0], 0.10, 0.08)];
    only_api.checks_done(10_000, &[], &m);
    let api = &only_api.tallies[0].services[0];
    assert_eq!(api.last_verdict, Some(Verdict::Successful));
    assert_eq!(api.baseline_value, Some(0.08));
    // 20% against 8%: failed.
    let mut failing = only_api.clone();
    failing.tallies[0].this_step = 0;
    let m = vec![answer(&metrics[0], 0.20, 0.08)];
    failing.checks_done(20_000, &[], &m);
    assert_eq!(failing.phase, Phase::RollingBack);
    // Without a previous version there is no baseline: inconclusive, saying why.
    let m: Vec<Measurement> = metrics.iter().map(|q| answer(q, 0.0, 0.0)).collect();
    r.checks_done(10_000, &[], &m);
    let web = &r.tallies[0].services[1];
    assert_eq!(web.last_verdict, Some(Verdict::Inconclusive));
    assert!(web
        .last_message
        .as_deref()
        .unwrap()
        .contains("no baseline: the service had no previous version"));
    assert_eq!(r.phase, Phase::Paused, "inconclusive beyond the limit of 0");
}

#[test]
fn a_window_with_fewer_requests_than_min_requests_is_inconclusive() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    let mut m = metric("< 0.05", 0, 1);
    m.min_requests = 50;
    spec.analysis = vec![m];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    let Action::RunChecks { metrics, .. } = r.next(10_000) else {
        panic!("measures");
    };
    let m: Vec<Measurement> = metrics
        .iter()
        .map(|q| Measurement {
            requests: Some(3.0),
            ..taken(q.clone(), Some(0.0))
        })
        .collect();
    r.checks_done(10_000, &[], &m);
    assert_eq!(r.phase, Phase::Paused);
    let why = r.reason.clone().unwrap();
    assert!(
        why.contains("only 3 requests in the window, min_requests = 50"),
        "{why}"
    );
}

#[test]
fn baseline_conditions_parse_and_print() {
    for (text, shown, x, baseline, holds) in [
        (
            "< baseline * 1.5 + 0.01",
            "< baseline * 1.5 + 0.01",
            0.12,
            0.08,
            true,
        ),
        (
            "<baseline*1.5+0.01",
            "< baseline * 1.5 + 0.01",
            0.14,
            0.08,
            false,
        ),
        ("<= baseline", "<= baseline", 5.0, 5.0, true),
        (
            "> baseline * 0.5 - 10",
            "> baseline * 0.5 - 10",
            41.0,
            100.0,
            true,
        ),
        ("< baseline * 1e1", "< baseline * 10", 9.0, 1.0, true),
    ] {
        let c = Condition::parse(text).unwrap();
        assert_eq!(c.to_string(), shown);
        let t = c.threshold(Some(baseline)).unwrap();
        assert_eq!(c.op.compare(x, t), holds, "{text} on {x} vs {baseline}");
        assert_eq!(c.threshold(None), None);
        assert_eq!(Condition::parse(shown).unwrap(), c);
    }
    assert!(Condition::parse("< baseline ^ 2").is_err());
    assert!(Condition::parse("< baseline * x").is_err());
}

/// Rollouts stored before these fields existed keep loading.
#[test]
fn a_rollout_stored_before_issue_13_still_loads() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.analysis = vec![metric("< 0.05", 0, 1)];
    let r = Rollout::new("dep_1", spec, 0).unwrap();
    let mut stored = serde_json::to_value(&r).unwrap();
    for key in ["paused_at_ms", "step_paused_ms", "progress_ms"] {
        stored.as_object_mut().unwrap().remove(key);
    }
    let spec = stored["spec"].as_object_mut().unwrap();
    for key in ["progress_deadline_secs", "on_deadline", "max_pause_secs"] {
        spec.remove(key);
    }
    for key in ["consecutive_error_limit", "min_requests", "background"] {
        spec["analysis"][0].as_object_mut().unwrap().remove(key);
    }
    let back: Rollout = serde_json::from_value(stored).unwrap();
    assert_eq!(back.spec.progress_deadline_secs, 1800);
    assert_eq!(back.spec.analysis[0].consecutive_error_limit, 4);
    assert_eq!(back.spec.steps, Step::traffic(&[50.0, 100.0]));
}

/// The start body's `steps`: numbers and gates; anything else refused saying what a step is.
#[test]
fn the_start_body_takes_gates_in_steps_and_refuses_the_rest_clearly() {
    let settings: RolloutSettings =
        serde_json::from_str(r#"{"steps": [10, {"pause": true}, 50, {"pause": 600}, 100]}"#)
            .unwrap();
    assert_eq!(
        Step::gates(&settings.steps).unwrap(),
        vec![None, Some(Pause::Manual), Some(Pause::Secs(600))]
    );
    assert_eq!(settings.progress_deadline_secs, 1800);
    assert_eq!(settings.on_deadline, OnDeadline::Abort);
    for (body, says) in [
        (
            r#"{"steps": [10, {"pause": false}, 100]}"#,
            "`pause = false` is no gate",
        ),
        (
            r#"{"steps": [10, {"pause": true, "x": 1}, 100]}"#,
            "unknown field `x`",
        ),
        (r#"{"steps": [10, "50", 100]}"#, "a step is a percentage"),
        (
            r#"{"steps": [10, {"pause": 0}, 100]}"#,
            "a timed pause is 1 to",
        ),
        (r#"{"on_deadline": "explode"}"#, "unknown variant"),
    ] {
        let err = serde_json::from_str::<RolloutSettings>(body)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{body}: {err}");
    }
}

/// The dashboard charts each version against the thresholds from the samples the status
/// carries: each measurement's values and the thresholds its conditions compared with.
#[test]
fn measurements_are_kept_as_samples_with_their_thresholds_and_bounded() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    let mut baseline = metric("< baseline * 1.5 + 0.01", 100, 1);
    baseline.failure_condition = Some(Condition::parse(">= baseline * 3").unwrap());
    baseline.service = Some("api".into());
    spec.analysis = vec![baseline];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    let Action::RunChecks { metrics, .. } = r.next(10_000) else {
        panic!("measures");
    };
    let api = metrics[0].clone();
    let m = Measurement {
        baseline: Some(Ok(Some(0.08))),
        ..taken(api.clone(), Some(0.10))
    };
    r.checks_done(10_000, &[], &[m]);
    let status = r.status(10_000);
    let analysis = &status.analysis[0];
    assert_eq!(
        analysis.condition.as_deref(),
        Some("< baseline * 1.5 + 0.01")
    );
    assert_eq!(
        analysis.failure_condition.as_deref(),
        Some(">= baseline * 3")
    );
    let samples = &analysis.services[0].samples;
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_eq!(
        (s.at_ms, s.value, s.baseline),
        (api.until_ms, Some(0.10), Some(0.08))
    );
    assert!((s.threshold.unwrap() - 0.13).abs() < 1e-9, "{s:?}");
    assert!((s.failure_threshold.unwrap() - 0.24).abs() < 1e-9, "{s:?}");
    assert_eq!(s.verdict, Verdict::Successful);

    // However long the rollout measures, only the last MAX_SAMPLES are kept, oldest first.
    for i in 0..(MAX_SAMPLES + 5) {
        let mut q = api.clone();
        q.until_ms = 20_000 + i as i64;
        let m = Measurement {
            baseline: Some(Ok(Some(0.08))),
            ..taken(q, Some(0.01))
        };
        r.tallies[0].this_step = 0;
        r.checks_done(20_000 + i as i64, &[], &[m]);
    }
    let samples = &r.status(30_000).analysis[0].services[0].samples;
    assert_eq!(samples.len(), MAX_SAMPLES);
    assert_eq!(samples[0].at_ms, 20_005);
    assert_eq!(
        samples[MAX_SAMPLES - 1].at_ms,
        20_000 + (MAX_SAMPLES + 4) as i64
    );
}

#[test]
fn a_fixed_threshold_is_its_number_and_errors_are_not_samples() {
    let mut spec = gradual(&[50.0, 100.0]);
    spec.step_wait_secs = 0;
    spec.analysis = vec![metric("< 0.05", 100, 1)];
    let mut r = Rollout::new("dep_1", spec, 0).unwrap();
    r.traffic_applied(0, Ok(()));
    measure(&mut r, 10_000, |q| {
        if q.service == "api" {
            Ok(Some(0.01))
        } else {
            Err("analytics down".into())
        }
    });
    let status = r.status(10_000);
    let services = &status.analysis[0].services;
    let api = services.iter().find(|s| s.service == "api").unwrap();
    assert_eq!(api.samples.len(), 1);
    assert_eq!(api.samples[0].threshold, Some(0.05));
    assert_eq!(api.samples[0].failure_threshold, None);
    let web = services.iter().find(|s| s.service == "web").unwrap();
    assert!(web.samples.is_empty(), "an analytics error is no sample");
}
