//! The iCalendar feed (RFC 5545) of a team's schedule: scheduled deploys, recurring schedules,
//! deploy windows and freezes as `VEVENT`s. Times are UTC (`…Z`), so the feed needs no
//! `VTIMEZONE`; text is escaped (`\\`, `\;`, `\,`, `\n`), lines end with CRLF and are folded
//! at 75 octets without splitting a UTF-8 character.

use chrono::{DateTime, Duration, Utc};

use super::cron::Cron;
use crate::control::policy::Policy;

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// Stable per item (the same deployment, schedule, window day or freeze keeps its UID
    /// across fetches), so a subscribed calendar updates it instead of duplicating it.
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: Option<String>,
    /// `RRULE` value (without the name), for a recurring schedule that has one.
    pub rrule: Option<String>,
    /// `CATEGORIES`: `deploy`, `schedule`, `window`, `freeze`.
    pub category: &'static str,
}

/// How long a deploy shows in a calendar: it has a start, not a known end.
pub const DEPLOY_SLOT_MINUTES: i64 = 15;
/// How far ahead windows and recurring schedules without an `RRULE` are expanded.
pub const EXPAND_WEEKS: i64 = 8;
/// At most this many expanded occurrences per recurring schedule.
pub const MAX_EXPANDED: usize = 200;

/// Escapes a TEXT value (RFC 5545 3.3.11).
#[must_use]
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds one content line at 75 octets (RFC 5545 3.1): continuation lines start with a
/// space, which counts toward their 75; a UTF-8 character is never split.
#[must_use]
pub fn fold_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
    out
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The whole feed: one `VCALENDAR` with every event, CRLF line endings, folded lines.
#[must_use]
pub fn render(name: &str, events: &[CalendarEvent], now: DateTime<Utc>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Clodo//Deploy calendar//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        format!("X-WR-CALNAME:{}", escape_text(name)),
    ];
    for e in events {
        lines.push("BEGIN:VEVENT".to_owned());
        lines.push(format!("UID:{}", escape_text(&e.uid)));
        lines.push(format!("DTSTAMP:{}", stamp(now)));
        lines.push(format!("DTSTART:{}", stamp(e.start)));
        lines.push(format!("DTEND:{}", stamp(e.end)));
        if let Some(rule) = &e.rrule {
            lines.push(format!("RRULE:{rule}"));
        }
        lines.push(format!("SUMMARY:{}", escape_text(&e.summary)));
        if let Some(d) = &e.description {
            lines.push(format!("DESCRIPTION:{}", escape_text(d)));
        }
        lines.push(format!("CATEGORIES:{}", e.category.to_ascii_uppercase()));
        lines.push("TRANSP:TRANSPARENT".to_owned());
        lines.push("END:VEVENT".to_owned());
    }
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold_line(l)).collect()
}

/// A deployment scheduled for `at`.
#[must_use]
pub fn deploy_event(
    deployment_id: &str,
    label: &str,
    at: DateTime<Utc>,
    detail: &str,
) -> CalendarEvent {
    CalendarEvent {
        uid: format!("{deployment_id}@clodo"),
        start: at,
        end: at + Duration::minutes(DEPLOY_SLOT_MINUTES),
        summary: format!("Deploy {label}"),
        description: Some(detail.to_owned()),
        rrule: None,
        category: "deploy",
    }
}

/// A recurring schedule: one event with an `RRULE` when cron's meaning has one, else its
/// occurrences in the next `EXPAND_WEEKS` weeks, each with its own UID.
#[must_use]
pub fn schedule_events(
    schedule_id: &str,
    label: &str,
    cron: &Cron,
    from: DateTime<Utc>,
    detail: &str,
) -> Vec<CalendarEvent> {
    let event = |uid: String, at: DateTime<Utc>, rrule: Option<String>| CalendarEvent {
        uid,
        start: at,
        end: at + Duration::minutes(DEPLOY_SLOT_MINUTES),
        summary: format!("Scheduled deploy {label} ({})", cron.as_str()),
        description: Some(detail.to_owned()),
        rrule,
        category: "schedule",
    };
    match (cron.rrule(), cron.next_after(from)) {
        (Some(rule), Some(first)) => vec![event(format!("{schedule_id}@clodo"), first, Some(rule))],
        _ => cron
            .occurrences(from, from + Duration::weeks(EXPAND_WEEKS), MAX_EXPANDED)
            .into_iter()
            .map(|at| event(format!("{schedule_id}-{}@clodo", at.timestamp()), at, None))
            .collect(),
    }
}

/// An environment's deploy windows (each day's opening in the next `EXPAND_WEEKS` weeks, in
/// UTC, daylight saving applied) and its freezes that have not ended.
#[must_use]
pub fn policy_events(
    environment_id: &str,
    label: &str,
    policy: &Policy,
    from: DateTime<Utc>,
) -> Vec<CalendarEvent> {
    let mut out = Vec::new();
    for (start, end) in policy.window_openings(from, from + Duration::weeks(EXPAND_WEEKS)) {
        out.push(CalendarEvent {
            uid: format!("window-{environment_id}-{}@clodo", start.timestamp()),
            start,
            end,
            summary: format!("Deploy window {label}"),
            description: Some("Deploys may start in this window.".to_owned()),
            rrule: None,
            category: "window",
        });
    }
    for f in policy.freezes.iter().filter(|f| f.ends_at > from) {
        out.push(CalendarEvent {
            uid: format!(
                "freeze-{environment_id}-{}-{}@clodo",
                f.starts_at.timestamp(),
                f.ends_at.timestamp()
            ),
            start: f.starts_at,
            end: f.ends_at,
            summary: format!("Deploy freeze {label}"),
            description: Some(f.reason.clone()),
            rrule: None,
            category: "freeze",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::policy::{Freeze, Window};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d\ne\r\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let line = format!("SUMMARY:{}", "é".repeat(100));
        let folded = fold_line(&line);
        assert!(folded.ends_with("\r\n"));
        for physical in folded.trim_end_matches("\r\n").split("\r\n") {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        // Unfolding (drop CRLF + one space) gives the line back.
        assert_eq!(folded.trim_end_matches("\r\n").replace("\r\n ", ""), line);
        assert_eq!(fold_line("short"), "short\r\n");
        let exactly = "x".repeat(75);
        assert_eq!(fold_line(&exactly), format!("{exactly}\r\n"));
    }

    #[test]
    fn the_feed_has_crlf_lines_and_every_required_property() {
        let now = at("2026-12-01T10:00:00Z");
        let events = vec![deploy_event(
            "dep_1",
            "shop to production",
            at("2026-12-02T09:00:00Z"),
            "by member:ann@x, strategy gradual; message: fix, again",
        )];
        let text = render("Clodo: shop", &events, now);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        for want in [
            "UID:dep_1@clodo",
            "DTSTAMP:20261201T100000Z",
            "DTSTART:20261202T090000Z",
            "DTEND:20261202T091500Z",
            "SUMMARY:Deploy shop to production",
            "message: fix\\, again",
        ] {
            assert!(text.replace("\r\n ", "").contains(want), "{want} in {text}");
        }
    }

    #[test]
    fn schedules_use_rrule_or_expand() {
        let from = at("2026-12-01T10:00:00Z");
        let weekly = Cron::parse("0 9 * * wed").unwrap();
        let one = schedule_events("sch_1", "shop/production", &weekly, from, "d");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].start, at("2026-12-02T09:00:00Z"));
        assert_eq!(one[0].uid, "sch_1@clodo");
        assert!(one[0].rrule.as_deref().unwrap().contains("BYDAY=WE"));
        let either = Cron::parse("0 9 1 * mon").unwrap();
        let many = schedule_events("sch_2", "x", &either, from, "d");
        assert!(many.len() >= 8, "{}", many.len());
        assert!(many.iter().all(|e| e.rrule.is_none()));
        let uids: std::collections::BTreeSet<_> = many.iter().map(|e| &e.uid).collect();
        assert_eq!(uids.len(), many.len());
    }

    #[test]
    fn windows_and_freezes_become_events() {
        let policy = Policy {
            windows: vec![Window {
                days: vec!["wed".into()],
                start: "09:00".into(),
                end: "16:00".into(),
                timezone: "Europe/Berlin".into(),
            }],
            freezes: vec![
                Freeze {
                    starts_at: at("2026-12-20T00:00:00Z"),
                    ends_at: at("2027-01-04T00:00:00Z"),
                    reason: "holidays; no deploys".into(),
                },
                Freeze {
                    starts_at: at("2026-01-01T00:00:00Z"),
                    ends_at: at("2026-01-02T00:00:00Z"),
                    reason: "over".into(),
                },
            ],
            ..Policy::default()
        };
        let events = policy_events(
            "env_1",
            "shop/production",
            &policy,
            at("2026-12-01T10:00:00Z"),
        );
        let windows: Vec<_> = events.iter().filter(|e| e.category == "window").collect();
        assert_eq!(windows.len(), 8);
        // 09:00 in Berlin in winter is 08:00 UTC.
        assert_eq!(windows[0].start, at("2026-12-02T08:00:00Z"));
        assert_eq!(windows[0].end, at("2026-12-02T15:00:00Z"));
        let freezes: Vec<_> = events.iter().filter(|e| e.category == "freeze").collect();
        assert_eq!(freezes.len(), 1, "ended freezes are left out");
        assert_eq!(
            freezes[0].description.as_deref(),
            Some("holidays; no deploys")
        );
    }
}
