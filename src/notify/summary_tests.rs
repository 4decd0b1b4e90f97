//! Unit tests of the weekly summary: ISO weeks, the due week, windows, keys, assembly from
//! deployment records and what each channel kind sends.

use super::*;
use crate::api::contract::notify::ChannelSettings;
use crate::notify::ChannelSecrets;

/// 2026-12-02 (a Wednesday of ISO week 2026-W49) 14:00 UTC.
const WED: i64 = 1_796_220_000_000;
const HOUR: i64 = 3_600_000;

fn ms(date: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(date)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn iso_weeks_start_on_monday_and_cross_years() {
    assert_eq!(WED, ms("2026-12-02T14:00:00Z"));
    let w = IsoWeek::of(WED);
    assert_eq!(w.to_string(), "2026-W49");
    assert_eq!(w.start_ms(), ms("2026-11-30T00:00:00Z"));
    assert_eq!(w.end_ms(), ms("2026-12-07T00:00:00Z"));
    assert_eq!(w.previous().to_string(), "2026-W48");
    // 2027-01-01 is a Friday: it belongs to 2026's last week, W53.
    let new_year = IsoWeek::of(ms("2027-01-01T12:00:00Z"));
    assert_eq!(new_year.to_string(), "2026-W53");
    assert_eq!(IsoWeek::of(ms("2027-01-04T00:00:00Z")).previous(), new_year);
    // The last instant of a week is in it; the next Monday is not.
    assert_eq!(IsoWeek::of(w.end_ms() - 1), w);
    assert_ne!(IsoWeek::of(w.end_ms()), w);
}

#[test]
fn weeks_parse_back_and_bad_ones_say_how_to_write_them() {
    assert_eq!(IsoWeek::parse("2026-W49").unwrap(), IsoWeek::of(WED));
    assert_eq!(IsoWeek::parse("2026-W53").unwrap().to_string(), "2026-W53");
    assert!(IsoWeek::parse("2025-W53")
        .unwrap_err()
        .contains("no ISO week 53"));
    for bad in ["2026-49", "2026-W4", "26-W49", "2026-Wxx", ""] {
        assert!(
            IsoWeek::parse(bad).unwrap_err().contains("2026-W49"),
            "{bad}"
        );
    }
}

#[test]
fn the_cron_sends_the_previous_week_from_monday_nine_utc() {
    let monday = ms("2026-11-30T00:00:00Z");
    assert_eq!(due_week(monday + 9 * HOUR - 1), None);
    let (week, send_at) = due_week(monday + 9 * HOUR).unwrap();
    assert_eq!(week.to_string(), "2026-W48");
    assert_eq!(send_at, monday + 9 * HOUR);
    // All week long the due week stays the same (its key makes the send once).
    assert_eq!(due_week(WED).unwrap().0, week);
    assert_eq!(due_week(monday + 7 * 24 * HOUR - 1).unwrap().0, week);
    // The next Monday before nine: nothing due (W48 was sent; W49 is not due yet).
    assert_eq!(due_week(monday + 7 * 24 * HOUR + HOUR), None);
}

#[test]
fn windows_are_the_whole_week_or_the_week_to_date_in_whole_days() {
    let w49 = IsoWeek::of(WED);
    let done = window(w49.previous(), WED).unwrap();
    assert!(done.complete);
    assert_eq!(
        (done.from, done.to, done.days),
        (w49.previous().start_ms(), w49.start_ms(), 7)
    );
    let sofar = window(w49, WED).unwrap();
    assert!(!sofar.complete);
    // Monday, Tuesday and Wednesday so far.
    assert_eq!(sofar.days, 3);
    assert_eq!(sofar.from, w49.start_ms());
    assert_eq!(sofar.to, w49.start_ms() + 3 * 24 * HOUR);
    let next = IsoWeek::of(w49.end_ms());
    assert!(window(next, WED).unwrap_err().contains("not started"));
}

#[test]
fn keys_are_per_project_week_and_channel_and_a_week_to_date_has_its_own() {
    let w49 = IsoWeek::of(WED);
    let done = window(w49.previous(), WED).unwrap();
    let sofar = window(w49, WED).unwrap();
    let k = key("prj_1", &done, "chn_2");
    assert_eq!(k, "sum_prj_1_2026-W48_chn_2");
    assert!(crate::outbox::valid_key(&k));
    assert_eq!(
        key("prj_1", &sofar, "chn_2"),
        "sum_prj_1_2026-W49-sofar_chn_2"
    );
    assert_ne!(k, key("prj_1", &done, "chn_3"));
    assert_ne!(k, key("prj_9", &done, "chn_2"));
}

fn facts(status: &str, finished: i64, minutes: i64) -> DeploymentFacts {
    DeploymentFacts {
        status: status.into(),
        started_at: Some(finished - minutes * 60_000),
        finished_at: Some(finished),
        committed_at: Some(finished - 2 * HOUR),
        emergency: false,
    }
}

fn sample() -> WeeklySummary {
    let w48 = IsoWeek::of(WED).previous();
    let win = window(w48, WED).unwrap();
    let at = |day: i64| w48.start_ms() + day * 24 * HOUR + 10 * HOUR;
    let production = EnvironmentRecords {
        environment: "production".into(),
        deployments: vec![
            facts("succeeded", at(0), 5),
            facts("succeeded", at(1), 5),
            facts("failed", at(2), 5),
            facts("succeeded", at(2) + HOUR, 5), // recovers the failure after 1 h
            facts("rolled_back", at(3), 10),
            facts("succeeded", at(-1), 5), // the week before: not counted
            facts("succeeded", at(8), 5),  // the week after: not counted
            DeploymentFacts {
                finished_at: None,
                ..facts("deploying", at(4), 1)
            },
            facts("cancelled", at(4), 1),
        ],
        rollbacks: 1,
    };
    let staging = EnvironmentRecords {
        environment: "staging".into(),
        deployments: vec![],
        rollbacks: 0,
    };
    assemble("shop", &win, &[production, staging])
}

#[test]
fn the_summary_counts_what_ended_in_the_week_and_takes_doras_figures() {
    let s = sample();
    assert_eq!(s.week, "2026-W48");
    assert!(s.complete);
    let p = &s.environments[0];
    assert_eq!(
        (
            p.deployments,
            p.succeeded,
            p.failed,
            p.rolled_back,
            p.rollbacks
        ),
        (5, 3, 1, 1, 1)
    );
    // DORA over the same 7 days: 3 successes, 2 of 5 failed, lead time 2 h.
    assert_eq!(p.deployment_frequency.value, Some(3.0 / 7.0));
    assert_eq!(p.change_fail_rate.value, Some(0.4));
    assert_eq!(p.change_lead_time.value, Some(2.0 * HOUR as f64));
    assert_eq!(p.change_fail_rate.band, Some(Band::Low));
    let empty = &s.environments[1];
    assert_eq!(empty.deployments, 0);
    assert_eq!(empty.change_fail_rate.value, None);
    assert_eq!(show_figure(&empty.change_fail_rate), "n/a");
    assert_eq!(
        totals(&s),
        "5 deployments: 3 succeeded, 1 failed, 1 rolled back; 1 rollbacks"
    );
}

#[test]
fn figures_read_for_people() {
    assert_eq!(duration(30_000.0), "30 s");
    assert_eq!(duration(12.0 * 60_000.0), "12 min");
    assert_eq!(duration(3.5 * HOUR as f64), "3.5 h");
    assert_eq!(duration(50.0 * HOUR as f64), "2.1 d");
    let s = sample();
    let p = &s.environments[0];
    assert_eq!(show_figure(&p.change_fail_rate), "40% (low)");
    assert_eq!(show_figure(&p.deployment_frequency), "0.43/day (high)");
    assert_eq!(show_figure(&p.change_lead_time), "2.0 h (elite)");
    assert_eq!(
        title(&s),
        "shop: weekly summary 2026-W48 (2026-11-23 to 2026-11-29)"
    );
    let mut sofar = s.clone();
    sofar.complete = false;
    assert!(title(&sofar).ends_with("week to date)"));
}

fn channel(kind: ChannelKind) -> ChannelConfig {
    ChannelConfig {
        kind,
        settings: ChannelSettings {
            base_url: Some("http://mail.test".into()),
            from: Some("clodo@example.com".into()),
            to: Some(vec!["ops@example.com".into()]),
            ..ChannelSettings::default()
        },
        secrets: ChannelSecrets {
            url: Some("http://hooks.test/x".into()),
            signing_secret: Some(signature::encode_secret(&[7u8; 32])),
            api_key: Some("re_key".into()),
        },
    }
}

#[test]
fn each_kind_sends_the_summary_its_own_way() {
    let payload = SummaryPayload::new(sample(), WED);
    let stored = serde_json::to_string(&payload).unwrap();
    assert!(is_summary(&stored));
    assert!(!is_summary(r#"{"type":"deployment.succeeded"}"#));
    assert_eq!(
        serde_json::from_str::<SummaryPayload>(&stored).unwrap(),
        payload
    );

    let slack_req = &render(&channel(ChannelKind::Slack), &payload, "k1", 1).unwrap()[0];
    let body: Value = serde_json::from_str(slack_req.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("2026-W48"));
    assert!(body["blocks"][2]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("*production*: 5 deployments"));
    assert_eq!(body["blocks"][2]["fields"].as_array().unwrap().len(), 4);

    let mail = &render(&channel(ChannelKind::Email), &payload, "k1", 1).unwrap()[0];
    assert_eq!(mail.url, "http://mail.test/emails");
    assert!(mail
        .headers
        .contains(&("idempotency-key".into(), "k1".into())));
    let body: Value = serde_json::from_str(mail.body.as_deref().unwrap()).unwrap();
    assert!(body["subject"]
        .as_str()
        .unwrap()
        .starts_with("[clodo] shop: weekly summary"));
    assert!(body["text"]
        .as_str()
        .unwrap()
        .contains("Change fail rate: 40% (low)"));

    let hook = &render(
        &channel(ChannelKind::Webhook),
        &payload,
        "k1",
        1_700_000_000,
    )
    .unwrap()[0];
    let sent = hook.body.as_deref().unwrap();
    let body: Value = serde_json::from_str(sent).unwrap();
    assert_eq!(body["type"], "summary.weekly");
    assert_eq!(
        body["data"]["weekly_summary"]["environments"][0]["failed"],
        1
    );
    let signed = hook
        .headers
        .iter()
        .find(|(k, _)| k == "webhook-signature")
        .unwrap();
    signature::verify(
        &[7u8; 32],
        "k1",
        1_700_000_000,
        &signed.1,
        sent,
        1_700_000_000,
    )
    .unwrap();

    let discord_req = &render(&channel(ChannelKind::Discord), &payload, "k1", 1).unwrap()[0];
    let body: Value = serde_json::from_str(discord_req.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["embeds"][0]["fields"][0]["name"], "production");

    assert!(render(&channel(ChannelKind::Sentry), &payload, "k1", 1)
        .unwrap_err()
        .contains("no weekly summary"));
}

#[test]
fn markers_refuse_the_summary_and_nobody_gets_it_by_default() {
    for kind in [ChannelKind::Slack, ChannelKind::Sentry] {
        assert!(!kind.default_events().contains(&EventType::SummaryWeekly));
    }
    assert_eq!(
        EventType::parse("summary.weekly"),
        Some(EventType::SummaryWeekly)
    );
    assert!(!EventType::SummaryWeekly.is_deployment_event());
}
