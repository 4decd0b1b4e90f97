use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::control::policy::{Freeze, Window};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn start_times_must_be_ahead_and_within_the_horizon() {
    let now = at("2026-12-01T10:00:00Z");
    assert!(check_time(now + Duration::seconds(5), now).is_ok());
    assert!(check_time(now, now)
        .unwrap_err()
        .contains("not in the future"));
    assert!(check_time(now - Duration::hours(1), now).is_err());
    assert!(check_time(now + Duration::days(MAX_HORIZON_DAYS), now).is_ok());
    assert!(check_time(now + Duration::days(MAX_HORIZON_DAYS + 1), now)
        .unwrap_err()
        .contains("90 days"));
}

#[test]
fn start_times_parse_with_or_without_seconds() {
    assert_eq!(
        parse_time("2026-12-02T09:00Z").unwrap(),
        at("2026-12-02T09:00:00Z")
    );
    assert_eq!(
        parse_time("2026-12-02T10:00+01:00").unwrap(),
        at("2026-12-02T09:00:00Z")
    );
    assert_eq!(
        parse_time("2026-12-02T09:00:30Z").unwrap(),
        at("2026-12-02T09:00:30Z")
    );
    assert!(parse_time("tomorrow").unwrap_err().contains("RFC 3339"));
    assert!(parse_time("2026-12-02 09:00").is_err());
}

fn frozen_policy() -> Policy {
    Policy {
        freezes: vec![Freeze {
            starts_at: at("2026-12-20T00:00:00Z"),
            ends_at: at("2027-01-04T00:00:00Z"),
            reason: "holidays".into(),
        }],
        ..Policy::default()
    }
}

#[test]
fn a_start_in_a_freeze_is_skipped_with_the_reason() {
    let p = frozen_policy();
    let q = DeploymentStatus::Queued;
    assert_eq!(
        decide_start(q, 0, 0, &p, at("2026-12-19T23:59:00Z"), None, false),
        StartDecision::Start
    );
    let StartDecision::Skip(why) =
        decide_start(q, 0, 0, &p, at("2026-12-24T09:00:00Z"), None, false)
    else {
        panic!("a frozen start must be skipped");
    };
    assert!(
        why.contains("frozen until") && why.contains("holidays"),
        "{why}"
    );
    // The audited emergency override made at creation stays with the deployment.
    assert_eq!(
        decide_start(q, 0, 0, &p, at("2026-12-24T09:00:00Z"), None, true),
        StartDecision::Start
    );
}

#[test]
fn a_start_outside_every_window_or_without_approvals_is_skipped() {
    let p = Policy {
        windows: vec![Window {
            days: vec!["wed".into()],
            start: "09:00".into(),
            end: "12:00".into(),
            timezone: "UTC".into(),
        }],
        branches: vec!["main".into()],
        ..Policy::default()
    };
    let q = DeploymentStatus::Queued;
    let wed = at("2026-12-02T09:30:00Z");
    assert_eq!(
        decide_start(q, 0, 0, &p, wed, Some("main"), false),
        StartDecision::Start
    );
    let skip = |d| matches!(d, StartDecision::Skip(_));
    assert!(skip(decide_start(
        q,
        0,
        0,
        &p,
        at("2026-12-02T12:00:00Z"),
        Some("main"),
        false
    )));
    assert!(skip(decide_start(
        q,
        0,
        0,
        &p,
        wed,
        Some("feature/x"),
        false
    )));
    let StartDecision::Skip(why) = decide_start(
        DeploymentStatus::AwaitingApproval,
        1,
        2,
        &p,
        wed,
        Some("main"),
        false,
    ) else {
        panic!()
    };
    assert!(why.contains("1 of 2"), "{why}");
    assert!(skip(decide_start(
        DeploymentStatus::Cancelled,
        0,
        0,
        &p,
        wed,
        Some("main"),
        false
    )));
}

#[test]
fn cancel_is_idempotent_and_refuses_once_started() {
    assert_eq!(
        decide_cancel(ScheduleState::Pending),
        CancelDecision::Cancel
    );
    assert_eq!(
        decide_cancel(ScheduleState::Waiting),
        CancelDecision::Cancel
    );
    assert_eq!(
        decide_cancel(ScheduleState::Cancelled),
        CancelDecision::AlreadyCancelled
    );
    for s in [
        ScheduleState::Starting,
        ScheduleState::Started,
        ScheduleState::Skipped,
        ScheduleState::Failed,
    ] {
        assert!(
            matches!(decide_cancel(s), CancelDecision::Refuse(_)),
            "{s:?}"
        );
    }
    let CancelDecision::Refuse(m) = decide_cancel(ScheduleState::Started) else {
        panic!()
    };
    assert!(m.contains("clodo abort"));
}

#[test]
fn states_round_trip() {
    for s in ScheduleState::ALL {
        assert_eq!(ScheduleState::parse(s.as_str()).unwrap(), s);
    }
    assert!(ScheduleState::parse("gone").is_err());
}

#[test]
fn recurring_versions_need_the_same_workers() {
    let v = |service: &str, script: &str| RecordedVersion {
        service: service.into(),
        script: script.into(),
        version_id: format!("{script}-v1"),
    };
    let source = vec![v("api", "shop-api"), v("web", "shop-web")];
    let same = vec![
        ("api".to_owned(), "shop-api".to_owned()),
        ("web".to_owned(), "shop-web".to_owned()),
    ];
    assert_eq!(
        versions_for_target(&source, &same, "staging").unwrap(),
        source
    );
    let renamed = vec![
        ("api".to_owned(), "shop-api-prod".to_owned()),
        ("web".to_owned(), "shop-web".to_owned()),
    ];
    let err = versions_for_target(&source, &renamed, "staging").unwrap_err();
    assert!(
        err.contains("environment promotion") && err.contains("shop-api-prod"),
        "{err}"
    );
    assert!(versions_for_target(&source, &same[..1], "staging")
        .unwrap_err()
        .contains("no Worker registered"));
    assert!(versions_for_target(&[], &same, "staging")
        .unwrap_err()
        .contains("no succeeded deployment"));
}
