//! The A/B engine driven by hand: the window, the per-version measurements, the winner rule,
//! auto-promotion and `promote --version`; plus the `clodo.toml` A/B settings.

use super::ab::{judge, AbConfig, Affinity, Favours};
use super::*;
use crate::config::{parse_project, AnalysisMetric, Metric, Strategy};

const OLD: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const NEW: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const THIRD: &str = "cccccccc-0000-4000-8000-000000000003";
const WINDOW_MS: i64 = 3_600_000;

fn metric(name: &str, metric: Metric) -> AnalysisMetric {
    AnalysisMetric::with_defaults(name, metric)
}

fn config(auto_promote: bool) -> AbConfig {
    AbConfig {
        split: 50.0,
        window_secs: 3600,
        affinity: Affinity::Cookie("uid".into()),
        auto_promote,
        min_requests: 100,
    }
}

fn spec(auto_promote: bool) -> Spec {
    Spec {
        strategy: Strategy::Ab,
        steps: vec![],
        step_wait_secs: 0,
        auto_rollback: true,
        services: vec![ServiceRollout {
            service: "api".into(),
            script: "shop-api".into(),
            previous_version: Some(OLD.into()),
            new_version: NEW.into(),
            already_live: false,
        }],
        health_checks: vec![],
        analysis: vec![
            metric("errors", Metric::ErrorRate),
            metric("p99", Metric::P99LatencyMs),
        ],
        progress_deadline_secs: crate::config::DEFAULT_PROGRESS_DEADLINE_SECS,
        on_deadline: crate::config::OnDeadline::Abort,
        max_pause_secs: crate::config::DEFAULT_MAX_PAUSE_SECS,
        ab: Some(config(auto_promote)),
        pages: vec![],
    }
}

/// Per-version values: (requests, error rate, p99) of the old and the new version.
type Values = ((f64, f64, f64), (f64, f64, f64));

fn answer(r: &Rollout, q: &MetricQuery, values: Values) -> Option<f64> {
    let (req, err, p99) = if q.version == OLD { values.0 } else { values.1 };
    Some(match r.spec.analysis[q.metric].metric {
        Metric::Requests => req,
        Metric::ErrorRate => err,
        Metric::P99LatencyMs => p99,
    })
}

/// Starts the test and runs it to the end of its window; returns the time it decided.
fn run_window(r: &mut Rollout, values: Values) -> i64 {
    let Action::ApplyTraffic(splits) = r.next(0) else {
        panic!("expected the split first, got {:?}", r.next(0));
    };
    assert_eq!(
        splits[0].versions,
        vec![(NEW.to_owned(), 50.0), (OLD.to_owned(), 50.0)]
    );
    r.traffic_applied(0, Ok(()));
    assert_eq!(r.next(1000), Action::WaitUntil(WINDOW_MS));
    let Action::RunChecks { health, metrics } = r.next(WINDOW_MS) else {
        panic!("expected the window's measurements");
    };
    assert!(health.is_empty());
    // Every metric (and the added `requests`) for both versions over the whole window.
    assert_eq!(metrics.len(), 6);
    assert!(metrics
        .iter()
        .all(|q| q.since_ms == 0 && q.until_ms == WINDOW_MS));
    for v in [OLD, NEW] {
        assert_eq!(metrics.iter().filter(|q| q.version == v).count(), 3);
    }
    let measured: Vec<Measurement> = metrics
        .iter()
        .map(|q| Measurement {
            query: q.clone(),
            value: Ok(answer(r, q, values)),
            requests: None,
            baseline: None,
        })
        .collect();
    r.checks_done(WINDOW_MS, &[], &measured);
    WINDOW_MS
}

fn result(r: &Rollout) -> ab::AbResult {
    r.ab_status(0)
        .and_then(|s| s.result)
        .expect("the test decided")
}

const HEALTHY: (f64, f64, f64) = (1000.0, 0.01, 80.0);

#[test]
fn a_worse_new_version_makes_the_current_one_the_winner_and_a_person_keeps_it() {
    let mut r = Rollout::new("dep_ab", spec(false), 0).unwrap();
    let t = run_window(&mut r, (HEALTHY, (1000.0, 0.30, 80.0)));
    let res = result(&r);
    assert_eq!(res.winner.as_deref(), Some(OLD));
    assert_eq!(res.recommended, OLD);
    assert!(res.reason.contains("worse on errors"), "{}", res.reason);
    let errors = res.metrics.iter().find(|m| m.name == "errors").unwrap();
    assert_eq!((errors.control, errors.candidate), (Some(0.01), Some(0.30)));
    assert_eq!(errors.favours, Some(Favours::Control));
    // Without auto_promote it waits for a person, traffic still split.
    assert_eq!(r.next(t + 10), Action::Idle);
    assert_eq!(r.phase, Phase::Running);
    r.promote_version(t + 20, OLD, "alice").unwrap();
    assert_eq!(r.phase, Phase::RollingBack);
    let Action::Restore(splits) = r.next(t + 20) else {
        panic!("expected the restore");
    };
    assert_eq!(splits[0].versions, vec![(OLD.to_owned(), 100.0)]);
    r.restore_done(t + 21, &[("shop-api".into(), Ok(()))]);
    assert_eq!(r.phase, Phase::RolledBack);
    let Action::Record { summary, .. } = r.next(t + 22) else {
        panic!("expected the record");
    };
    assert!(
        summary.contains(&format!("A/B test kept {OLD}")),
        "{summary}"
    );
    assert!(
        summary.contains("errors: current 0.0100 / new 0.3000"),
        "{summary}"
    );
    assert_eq!(r.ab_status(t).unwrap().kept.as_deref(), Some(OLD));
}

#[test]
fn a_better_new_version_wins_and_promote_version_takes_it_to_100() {
    let mut r = Rollout::new("dep_ab", spec(false), 0).unwrap();
    let t = run_window(&mut r, (HEALTHY, (1000.0, 0.01, 40.0)));
    let res = result(&r);
    assert_eq!(res.winner.as_deref(), Some(NEW));
    assert!(res.reason.contains("better on p99"), "{}", res.reason);
    r.promote_version(t, NEW, "bob").unwrap();
    let Action::ApplyTraffic(splits) = r.next(t) else {
        panic!("expected 100%");
    };
    assert_eq!(splits[0].versions, vec![(NEW.to_owned(), 100.0)]);
    r.traffic_applied(t, Ok(()));
    assert_eq!(r.next(t), Action::Advance);
    r.advance(t);
    assert_eq!(r.phase, Phase::Succeeded);
    // A second decision is refused: the test is over.
    assert!(r.promote_version(t, OLD, "bob").is_err());
}

#[test]
fn a_tie_is_no_clear_winner_and_recommends_the_current_version() {
    let mut r = Rollout::new("dep_ab", spec(false), 0).unwrap();
    // 0.010 vs 0.012 and 80 vs 84 ms are within 10% plus the floor.
    run_window(&mut r, (HEALTHY, (1000.0, 0.012, 84.0)));
    let res = result(&r);
    assert_eq!(res.winner, None);
    assert_eq!(res.recommended, OLD);
    assert!(
        res.reason.starts_with("no clear winner (a tie"),
        "{}",
        res.reason
    );
}

#[test]
fn too_little_data_on_either_side_is_no_clear_winner() {
    let mut r = Rollout::new("dep_ab", spec(false), 0).unwrap();
    // The new version looks much better, but on 40 requests.
    run_window(&mut r, (HEALTHY, (40.0, 0.0, 10.0)));
    let res = result(&r);
    assert_eq!(res.winner, None);
    assert_eq!(res.recommended, OLD);
    assert!(res.reason.contains("too little data"), "{}", res.reason);
    assert!(res.reason.contains("100 needed on each"), "{}", res.reason);
}

#[test]
fn an_unmeasured_metric_decides_nothing_but_a_regression_still_does() {
    let ab = config(false);
    let (e, p) = (
        metric("errors", Metric::ErrorRate),
        metric("p99", Metric::P99LatencyMs),
    );
    let req = metric("requests", Metric::Requests);
    let unmeasured = judge(
        &ab,
        ("api", "shop-api"),
        (OLD, NEW),
        &[
            (&req, Some(500.0), Some(500.0)),
            (&e, Some(0.02), None),
            (&p, Some(90.0), Some(20.0)),
        ],
        7,
    );
    assert_eq!(unmeasured.winner, None);
    assert!(unmeasured.reason.contains("could not compare"));
    let regression = judge(
        &ab,
        ("api", "shop-api"),
        (OLD, NEW),
        &[
            (&req, Some(500.0), Some(500.0)),
            (&e, Some(0.02), None),
            (&p, Some(20.0), Some(90.0)),
        ],
        7,
    );
    assert_eq!(regression.winner.as_deref(), Some(OLD));
}

#[test]
fn auto_promote_applies_the_winner_without_a_person() {
    let mut r = Rollout::new("dep_ab", spec(true), 0).unwrap();
    let t = run_window(&mut r, (HEALTHY, (1000.0, 0.0, 30.0)));
    let Action::ApplyTraffic(splits) = r.next(t) else {
        panic!("expected the winner at 100%");
    };
    assert_eq!(splits[0].versions, vec![(NEW.to_owned(), 100.0)]);
    assert_eq!(r.ab_status(t).unwrap().kept.as_deref(), Some(NEW));

    // No clear winner: auto-promote keeps the current version.
    let mut r = Rollout::new("dep_ab", spec(true), 0).unwrap();
    run_window(&mut r, (HEALTHY, (10.0, 0.0, 30.0)));
    assert_eq!(r.phase, Phase::RollingBack);
    assert!(r
        .reason
        .as_deref()
        .unwrap()
        .contains("auto_promote keeps the current version"));
}

#[test]
fn promote_version_refuses_a_third_version_and_plain_promote() {
    let mut r = Rollout::new("dep_ab", spec(false), 0).unwrap();
    run_window(&mut r, (HEALTHY, HEALTHY));
    let err = r.promote_version(1, THIRD, "eve").unwrap_err();
    assert!(err.to_string().contains("two other versions"), "{err}");
    let err = r.command(1, Command::Promote, "eve").unwrap_err();
    assert!(err.to_string().contains("--version"), "{err}");
    assert_eq!(r.phase, Phase::Running);
    assert_eq!(r.ab_status(1).unwrap().kept, None);
    // Not an A/B test: `--version` is refused.
    let mut g = Rollout::new("dep_g", super::tests::gradual(&[50.0, 100.0]), 0).unwrap();
    assert!(g.promote_version(1, super::tests::NEW_API, "eve").is_err());
}

#[test]
fn a_pause_stops_the_window_clock() {
    let mut r = Rollout::new("dep_ab", spec(false), 0).unwrap();
    let _ = r.next(0);
    r.traffic_applied(0, Ok(()));
    let half = WINDOW_MS / 2;
    r.command(half, Command::Pause, "alice").unwrap();
    assert_eq!(r.next(half + 10), Action::Idle);
    // Two hours paused: the window has not advanced.
    let later = half + 2 * WINDOW_MS;
    assert_eq!(r.ab_elapsed_ms(later), half);
    r.command(later, Command::Resume, "alice").unwrap();
    assert_eq!(r.next(later + 1), Action::WaitUntil(later + half));
    assert_eq!(r.ab_status(later + 1000).unwrap().elapsed_secs, 1801);
    // It survives a restart (serialise, reload) mid-window.
    let reloaded: Rollout = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert!(matches!(
        reloaded.next(later + half),
        Action::RunChecks { .. }
    ));
}

#[test]
fn specs_an_ab_test_cannot_run_are_refused() {
    let mut two = spec(false);
    two.services.push(ServiceRollout {
        service: "web".into(),
        script: "shop-web".into(),
        previous_version: Some(THIRD.into()),
        new_version: "dddddddd-0000-4000-8000-000000000004".into(),
        already_live: false,
    });
    let err = Rollout::new("d", two, 0).unwrap_err();
    assert!(err.0.contains("one Worker"), "{err}");
    let mut nothing = spec(false);
    nothing.analysis = vec![metric("requests", Metric::Requests)];
    assert!(Rollout::new("d", nothing, 0)
        .unwrap_err()
        .0
        .contains("error_rate"));
    let mut missing = spec(false);
    missing.ab = None;
    assert!(Rollout::new("d", missing, 0)
        .unwrap_err()
        .0
        .contains("needs `ab` settings"));
    let mut split = spec(false);
    split.ab.as_mut().unwrap().split = 100.0;
    assert!(Rollout::new("d", split, 0)
        .unwrap_err()
        .0
        .contains("ab.split"));
}

#[test]
fn affinity_gives_the_transform_rule_expression() {
    assert_eq!(
        Affinity::Cookie("uid".into()).key_expression().as_deref(),
        Some("http.request.cookies[\"uid\"][0]")
    );
    assert_eq!(
        Affinity::Header("X-User-Id".into())
            .key_expression()
            .as_deref(),
        Some("http.request.headers[\"x-user-id\"][0]")
    );
    assert_eq!(Affinity::Client.key_expression(), None);
    assert!(Affinity::Cookie("a\"b".into()).problem().is_some());
}

const AB_TOML: &str = r#"project = "shop"
[[services]]
name = "api"
config = "api"

[deploy]
strategy = "ab"
ab = { split = 30, window_secs = 600, affinity = { header = "x-user-id" }, auto_promote = true }

[[analysis]]
metric = "error_rate"
condition = "< 0.05"
"#;

#[test]
fn clodo_toml_ab_settings_are_read_and_bad_ones_refused_with_their_key() {
    let p = parse_project(AB_TOML, "clodo.toml").unwrap_or_else(|e| panic!("{e}"));
    let s = p.settings(None);
    assert_eq!(s.strategy, Strategy::Ab);
    let ab = s.ab.clone().unwrap();
    assert_eq!(
        (ab.split, ab.window_secs, ab.auto_promote, ab.min_requests),
        (30.0, 600, true, 100)
    );
    assert_eq!(ab.affinity, Affinity::Header("x-user-id".into()));
    assert_eq!(s.traffic_steps(), vec![30.0, 100.0]);

    let cases = [
        (
            AB_TOML.replace(
                "ab = { split = 30, window_secs = 600, affinity = { header = \"x-user-id\" }, auto_promote = true }\n",
                "",
            ),
            "deploy.strategy",
            "needs its settings",
        ),
        (AB_TOML.replace("split = 30", "split = 0"), "deploy.ab", "1 to 99"),
        (
            AB_TOML.replace("window_secs = 600", "window_secs = 5"),
            "deploy.ab.window_secs",
            "at least 60",
        ),
        (
            AB_TOML.replace("affinity = { header = \"x-user-id\" }", "affinity = \"sticky\""),
            "deploy.ab.affinity",
            "client",
        ),
        (
            AB_TOML.replace("affinity = { header = \"x-user-id\" }, ", ""),
            "deploy.ab.affinity",
            "no `affinity`",
        ),
        (
            AB_TOML.replace("auto_promote = true", "winner = true"),
            "deploy.ab.winner",
            "unknown key",
        ),
        (
            AB_TOML.replace("metric = \"error_rate\"", "metric = \"requests\""),
            "deploy.ab",
            "compares metrics",
        ),
    ];
    for (text, path, words) in cases {
        let err = parse_project(&text, "clodo.toml").expect_err(path);
        let shown = format!("{err:?}");
        assert!(shown.contains(path), "{path}: {shown}");
        assert!(shown.contains(words), "{words}: {shown}");
    }
}

#[test]
fn the_affinity_rule_is_added_once_kept_on_a_retry_and_removed_leaving_other_rules() {
    use super::ab::{with_affinity_rule, without_affinity_rule, AFFINITY_RULE_REF};
    use serde_json::json;
    let other = json!({ "id": "r0", "ref": "theirs", "version": "3", "action": "rewrite",
        "expression": "true", "action_parameters": { "headers": { "x": { "operation": "remove" } } } });
    let expr = "http.request.cookies[\"uid\"][0]";
    let added = with_affinity_rule(std::slice::from_ref(&other), expr).expect("added");
    assert_eq!(added.len(), 2);
    assert_eq!(added[0]["ref"], "theirs");
    assert!(
        added[0].get("version").is_none(),
        "read-only fields are not written back"
    );
    assert_eq!(added[1]["ref"], AFFINITY_RULE_REF);
    assert_eq!(
        added[1]["action_parameters"]["headers"]["Cloudflare-Workers-Version-Key"]["expression"],
        expr
    );
    // As read back (with ids and versions), it is already in place: nothing to write.
    let mut read_back = added.clone();
    read_back[1]["id"] = json!("r1");
    read_back[1]["version"] = json!("1");
    assert_eq!(with_affinity_rule(&read_back, expr), None);
    // Another expression replaces it instead of adding a second rule.
    let replaced =
        with_affinity_rule(&read_back, "http.request.headers[\"x-user-id\"][0]").unwrap();
    assert_eq!(
        replaced
            .iter()
            .filter(|r| r["ref"] == AFFINITY_RULE_REF)
            .count(),
        1
    );
    let removed = without_affinity_rule(&read_back).expect("removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["ref"], "theirs");
    assert_eq!(without_affinity_rule(&removed), None);
}

#[test]
fn ab_settings_no_environment_uses_are_refused_and_another_strategy_drops_them() {
    let gradual = AB_TOML.replace("strategy = \"ab\"", "strategy = \"gradual\"");
    let err = parse_project(&gradual, "clodo.toml").expect_err("unused ab settings");
    assert!(
        format!("{err:?}").contains("no environment uses strategy"),
        "{err:?}"
    );
    // Used by one env: fine; the other scopes run without them.
    let per_env = format!("{gradual}\n[env.prod.deploy]\nstrategy = \"ab\"\n");
    let p = parse_project(&per_env, "clodo.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(p.settings(None).ab.is_none());
    assert!(p.settings(Some("prod")).ab.is_some());
    // `clodo deploy --strategy immediate` on an ab environment sends no ab settings.
    let p = parse_project(AB_TOML, "clodo.toml").unwrap();
    let s = p.settings(None).with_strategy(Strategy::Immediate).unwrap();
    assert!(s.ab.is_none());
}
