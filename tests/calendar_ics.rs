//! The calendar feed (`control::schedule::ics`) read back by a real iCalendar parser
//! (`icalendar` from PyPI): escaping, folding, UTC times, RRULEs and expanded occurrences
//! survive the round trip exactly.

mod ics_support;

use chrono::{DateTime, Utc};
use clodo::control::policy::{Freeze, Policy, Window};
use clodo::control::schedule::cron::Cron;
use clodo::control::schedule::ics;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn the_feed_parses_with_icalendar_and_keeps_every_text_exactly() {
    let now = at("2026-12-01T10:00:00Z");
    let tricky = "fix checkout, again; path C:\\shop\nsecond line — ünïcödé ".repeat(4);
    let mut events = vec![ics::deploy_event(
        "dep_1",
        "shop/production (dep_1)",
        at("2026-12-02T09:00:00Z"),
        &tricky,
    )];
    events.extend(ics::schedule_events(
        "sch_weekly",
        "shop/production",
        &Cron::parse("0 9 * * wed").unwrap(),
        now,
        "immediate deploy of the newest succeeded deployment of staging",
    ));
    events.extend(ics::schedule_events(
        "sch_either",
        "shop/staging",
        &Cron::parse("30 6 1 * mon").unwrap(),
        now,
        "either the 1st or a Monday",
    ));
    let policy = Policy {
        windows: vec![Window {
            days: vec!["mon".into(), "wed".into()],
            start: "09:00".into(),
            end: "16:00".into(),
            timezone: "America/New_York".into(),
        }],
        freezes: vec![Freeze {
            starts_at: at("2026-12-20T00:00:00Z"),
            ends_at: at("2027-01-04T00:00:00Z"),
            reason: "holidays; nothing ships, at all".into(),
        }],
        ..Policy::default()
    };
    events.extend(ics::policy_events("env_1", "shop/production", &policy, now));
    let feed = ics::render("Clodo deploys: shop", &events, now);
    let parsed = ics_support::parse(&feed);
    assert_eq!(parsed.len(), events.len());
    let deploy = &parsed[0];
    assert_eq!(deploy["uid"], "dep_1@clodo");
    assert_eq!(deploy["description"], tricky.replace('\r', ""));
    assert_eq!(deploy["start"], "2026-12-02T09:00:00+00:00");
    let weekly = parsed
        .iter()
        .find(|e| e["uid"] == "sch_weekly@clodo")
        .unwrap();
    let rule = weekly["rrule"].as_str().unwrap();
    assert!(
        rule.contains("FREQ=DAILY") && rule.contains("BYDAY=WE"),
        "{rule}"
    );
    assert_eq!(weekly["start"], "2026-12-02T09:00:00+00:00");
    let either: Vec<_> = parsed
        .iter()
        .filter(|e| e["uid"].as_str().unwrap().starts_with("sch_either-"))
        .collect();
    assert!(either.len() >= 8 && either.iter().all(|e| e["rrule"].is_null()));
    let freeze = parsed
        .iter()
        .find(|e| e["categories"][0] == "FREEZE")
        .unwrap();
    assert_eq!(freeze["description"], "holidays; nothing ships, at all");
    // New York's 09:00 is 14:00 UTC in December.
    let window = parsed
        .iter()
        .find(|e| e["categories"][0] == "WINDOW")
        .unwrap();
    assert!(
        window["start"]
            .as_str()
            .unwrap()
            .ends_with("T14:00:00+00:00"),
        "{window}"
    );
}
