//! The weekly summary of a project, pure: which ISO week is due, the delivery's idempotency
//! key, the summary assembled from deployment records (counts and DORA figures per
//! environment, through `control::dora`), and what each channel kind sends for it. The
//! Worker (`worker::summary`) loads the records, queues one outbox row per channel, and the
//! outbox's `channel` handler renders the stored summary here.

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::render::{post, rfc3339, signed_webhook, slack_escape};
use super::{signature, ChannelConfig, ChannelKind, EventType};
use crate::api::contract::metrics::{Band, Figure};
use crate::cloudflare::HttpRequest;
use crate::control::dora::{self, DeploymentFacts};

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// When, after the start of an ISO week (Monday 00:00 UTC), the cron sends the summary of
/// the week before: Monday 09:00 UTC, the start of a European working day (and the first
/// cron tick after it when the Worker was idle).
pub const SEND_AFTER_MS: i64 = 9 * 3_600_000;

/// An ISO 8601 week (weeks start on Monday; week 1 holds the year's first Thursday), in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u32,
}

impl IsoWeek {
    /// The week holding the instant `ms` (Unix ms, UTC).
    #[must_use]
    pub fn of(ms: i64) -> Self {
        let date = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .date_naive();
        let w = date.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    fn monday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default()
    }

    /// Monday 00:00 UTC of the week (Unix ms).
    #[must_use]
    pub fn start_ms(self) -> i64 {
        self.monday()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_millis()
    }

    /// The next Monday 00:00 UTC: the week is [start, end).
    #[must_use]
    pub fn end_ms(self) -> i64 {
        self.start_ms() + WEEK_MS
    }

    /// The week before.
    #[must_use]
    pub fn previous(self) -> Self {
        Self::of(self.start_ms() - 1)
    }

    /// Reads `2026-W49` (the form `Display` writes).
    ///
    /// # Errors
    /// Not `YYYY-Www`, or a week the year does not have (W53 exists in some years only).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an ISO week: write it like 2026-W49");
        let (year, week) = text.split_once("-W").ok_or_else(bad)?;
        if year.len() != 4 || week.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .ok_or_else(|| format!("{year} has no ISO week {week}"))?;
        Ok(Self { year, week })
    }
}

impl std::fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

/// The week whose summary the cron sends at `now`: the previous one, once Monday 09:00 UTC
/// of the current week has passed, with that send time (channels made after it wait for the
/// next week rather than receive an old summary mid-week). None before 09:00 on a Monday:
/// the week before the previous one was sent last Monday.
#[must_use]
pub fn due_week(now: i64) -> Option<(IsoWeek, i64)> {
    let current = IsoWeek::of(now);
    let send_at = current.start_ms() + SEND_AFTER_MS;
    (now >= send_at).then(|| (current.previous(), send_at))
}

/// The span a summary of `week` covers at `now`: the whole week once it is over, else its
/// start to now (a week to date, sent by hand). `days` is what DORA's per-day figures divide
/// by: whole days, so that `to` − `days` days is the week's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub week: IsoWeek,
    pub from: i64,
    pub to: i64,
    pub days: u32,
    pub complete: bool,
}

/// The window of `week` at `now`.
///
/// # Errors
/// The week has not started yet.
pub fn window(week: IsoWeek, now: i64) -> Result<Window, String> {
    let from = week.start_ms();
    if now < from {
        return Err(format!("{week} has not started yet"));
    }
    if now >= week.end_ms() {
        return Ok(Window {
            week,
            from,
            to: week.end_ms(),
            days: 7,
            complete: true,
        });
    }
    let days = (now - from).div_euclid(DAY_MS) + 1;
    Ok(Window {
        week,
        from,
        to: from + days * DAY_MS,
        days: u32::try_from(days).unwrap_or(7),
        complete: false,
    })
}

/// The idempotency key of the summary of `project_id` for `window` to `channel_id`: a second
/// cron tick, a retry, a replay or a second `POST …/summary` for the same week finds the row
/// and sends nothing more. A week to date (sent by hand before the week ended) has its own
/// key, so it never takes the place of the complete week's Monday summary.
#[must_use]
pub fn key(project_id: &str, window: &Window, channel_id: &str) -> String {
    let partial = if window.complete { "" } else { "-sofar" };
    format!("sum_{project_id}_{}{partial}_{channel_id}", window.week)
}

/// One environment's week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentWeek {
    pub environment: String,
    /// Deployments that ended in the window (succeeded, failed or rolled back).
    pub deployments: u32,
    pub succeeded: u32,
    pub failed: u32,
    /// Deployments that ended rolled back (their rollout undid them).
    pub rolled_back: u32,
    /// Environment rollbacks made in the window (`clodo rollback --server`, Slack's button).
    pub rollbacks: u32,
    pub deployment_frequency: Figure,
    pub change_lead_time: Figure,
    pub change_fail_rate: Figure,
    pub failed_deployment_recovery_time: Figure,
}

/// A project's weekly summary, as queued (a snapshot: every attempt sends the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklySummary {
    pub project: String,
    /// `2026-W49`.
    pub week: String,
    /// The window, Unix ms: [from, to).
    pub from: i64,
    pub to: i64,
    /// False for a week to date.
    pub complete: bool,
    pub environments: Vec<EnvironmentWeek>,
}

impl WeeklySummary {
    fn total(&self, f: impl Fn(&EnvironmentWeek) -> u32) -> u32 {
        self.environments.iter().map(f).sum()
    }
}

/// One environment's records, as the Worker loads them.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentRecords {
    pub environment: String,
    /// Its deployments that finished at or after the window's start (later ones matter for
    /// recovery times), as DORA reads them.
    pub deployments: Vec<DeploymentFacts>,
    /// Environment rollbacks made in the window.
    pub rollbacks: u32,
}

/// The summary of `project` over `window` from each environment's records: the counts of
/// deployments that ended in the window, and DORA's figures (`control::dora::report`, the
/// same computation as `GET /api/v1/metrics/dora`).
#[must_use]
pub fn assemble(project: &str, window: &Window, records: &[EnvironmentRecords]) -> WeeklySummary {
    let environments = records
        .iter()
        .map(|r| {
            let report = dora::report(
                (project, &r.environment, None),
                &r.deployments,
                window.days,
                window.to,
            );
            // The deployments DORA counts: terminal, started, and finished in the window.
            let ended = |status: &str| {
                let n = r
                    .deployments
                    .iter()
                    .filter(|d| d.status == status && d.started_at.is_some())
                    .filter(|d| {
                        d.finished_at
                            .is_some_and(|t| (window.from..window.to).contains(&t))
                    })
                    .count();
                u32::try_from(n).unwrap_or(u32::MAX)
            };
            EnvironmentWeek {
                environment: r.environment.clone(),
                deployments: report.deployments,
                succeeded: ended("succeeded"),
                failed: ended("failed"),
                rolled_back: ended("rolled_back"),
                rollbacks: r.rollbacks,
                deployment_frequency: report.deployment_frequency,
                change_lead_time: report.change_lead_time,
                change_fail_rate: report.change_fail_rate,
                failed_deployment_recovery_time: report.failed_deployment_recovery_time,
            }
        })
        .collect();
    WeeklySummary {
        project: project.to_owned(),
        week: window.week.to_string(),
        from: window.from,
        to: window.to,
        complete: window.complete,
        environments,
    }
}

/// A `channel` outbox row's payload for a summary (`type` tells it from a deployment event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPayload {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it was queued (Unix ms).
    pub at: i64,
    pub summary: WeeklySummary,
}

impl SummaryPayload {
    #[must_use]
    pub fn new(summary: WeeklySummary, at: i64) -> Self {
        Self {
            event_type: EventType::SummaryWeekly,
            at,
            summary,
        }
    }
}

/// Whether a queued payload (JSON text) is a summary rather than a deployment event.
#[must_use]
pub fn is_summary(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|t| t == EventType::SummaryWeekly.as_str())
}

fn band(b: Option<Band>) -> &'static str {
    match b {
        Some(Band::Elite) => " (elite)",
        Some(Band::High) => " (high)",
        Some(Band::Medium) => " (medium)",
        Some(Band::Low) => " (low)",
        None => "",
    }
}

/// A duration for people: "45 s", "12 min", "3.5 h", "2.1 d".
#[must_use]
pub fn duration(ms: f64) -> String {
    let secs = ms / 1000.0;
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 90.0 * 60.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 36.0 * 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

/// A DORA figure for people: its value in its unit and its band, or "n/a".
#[must_use]
pub fn show_figure(f: &Figure) -> String {
    let Some(v) = f.value else {
        return "n/a".into();
    };
    let value = match f.unit.as_str() {
        "per_day" => format!("{v:.2}/day"),
        "ratio" => format!("{:.0}%", v * 100.0),
        "ms" => duration(v),
        other => format!("{v} {other}"),
    };
    format!("{value}{}", band(f.band))
}

/// The counts of one environment in one line: "3 deployments: 2 succeeded, 1 failed, 0
/// rolled back; 1 rollback".
fn counts(e: &EnvironmentWeek) -> String {
    format!(
        "{} deployment{}: {} succeeded, {} failed, {} rolled back; {} rollback{}",
        e.deployments,
        if e.deployments == 1 { "" } else { "s" },
        e.succeeded,
        e.failed,
        e.rolled_back,
        e.rollbacks,
        if e.rollbacks == 1 { "" } else { "s" },
    )
}

/// The DORA figures of one environment as label/value pairs.
fn figures(e: &EnvironmentWeek) -> [(&'static str, String); 4] {
    [
        ("Deployment frequency", show_figure(&e.deployment_frequency)),
        ("Change lead time", show_figure(&e.change_lead_time)),
        ("Change fail rate", show_figure(&e.change_fail_rate)),
        (
            "Recovery time",
            show_figure(&e.failed_deployment_recovery_time),
        ),
    ]
}

/// The title: "shop: weekly summary 2026-W49 (2026-11-30 to 2026-12-06)", "… week to date".
#[must_use]
pub fn title(s: &WeeklySummary) -> String {
    let day = |ms: i64| rfc3339(ms).chars().take(10).collect::<String>();
    let last_day = day(s.to - 1);
    let span = if s.complete {
        format!("{} to {last_day}", day(s.from))
    } else {
        format!("{} to {last_day}, week to date", day(s.from))
    };
    format!("{}: weekly summary {} ({span})", s.project, s.week)
}

/// The totals over every environment in one line.
#[must_use]
pub fn totals(s: &WeeklySummary) -> String {
    format!(
        "{} deployments: {} succeeded, {} failed, {} rolled back; {} rollbacks",
        s.total(|e| e.deployments),
        s.total(|e| e.succeeded),
        s.total(|e| e.failed),
        s.total(|e| e.rolled_back),
        s.total(|e| e.rollbacks),
    )
}

/// The plain-text body (email).
#[must_use]
pub fn text(s: &WeeklySummary) -> String {
    let mut out = format!("{}\n\n{}\n", title(s), totals(s));
    if s.environments.is_empty() {
        out.push_str("\nThe project has no environment.\n");
    }
    for e in &s.environments {
        out.push_str(&format!("\n{}: {}\n", e.environment, counts(e)));
        for (label, value) in figures(e) {
            out.push_str(&format!("  {label}: {value}\n"));
        }
    }
    out.push_str("\nDORA figures as in `clodo metrics`; bands are DORA's published clusters.\n");
    out
}

/// The standard JSON payload of a summary to a webhook (docs/notifications.md).
#[must_use]
pub fn standard_payload(p: &SummaryPayload) -> Value {
    json!({
        "type": EventType::SummaryWeekly.as_str(),
        "timestamp": rfc3339(p.at),
        "data": { "summary": title(&p.summary), "weekly_summary": p.summary },
    })
}

fn slack(s: &WeeklySummary) -> Value {
    let header: String = title(s).chars().take(150).collect();
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": header } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": slack_escape(&totals(s)) } }),
    ];
    // Slack allows 50 blocks; a project with more environments than fit is cut with a note.
    for e in s.environments.iter().take(45) {
        let fields: Vec<Value> = figures(e)
            .into_iter()
            .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(&v)) }))
            .collect();
        blocks.push(json!({ "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*{}*: {}", slack_escape(&e.environment), slack_escape(&counts(e))) },
            "fields": fields }));
    }
    if s.environments.len() > 45 {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn",
            "text": format!("and {} more environments (`clodo metrics`)", s.environments.len() - 45) }] }));
    }
    json!({ "text": title(s), "blocks": blocks })
}

fn discord(s: &WeeklySummary, at: i64) -> Value {
    let title: String = title(s).chars().take(256).collect();
    // Discord allows 25 fields per embed.
    let fields: Vec<Value> = s
        .environments
        .iter()
        .take(25)
        .map(|e| {
            let mut value = counts(e);
            for (k, v) in figures(e) {
                value.push_str(&format!("\n{k}: {v}"));
            }
            json!({ "name": e.environment, "value": value.chars().take(1024).collect::<String>() })
        })
        .collect();
    json!({
        "content": title,
        "embeds": [{ "title": title, "description": totals(s), "color": 0x0003_66d6,
                     "fields": fields, "timestamp": rfc3339(at) }],
        "allowed_mentions": { "parse": [] },
    })
}

/// The requests of one summary delivery to `channel` (`key`: the delivery's idempotency key;
/// `now_secs`: the attempt's time, for the webhook signature). A webhook's template is for
/// deployment events: a summary always sends the standard summary payload.
///
/// # Errors
/// The channel is a monitoring marker, or the stored channel lacks what its kind needs.
pub fn render(
    channel: &ChannelConfig,
    payload: &SummaryPayload,
    key: &str,
    now_secs: i64,
) -> Result<Vec<HttpRequest>, String> {
    let s = &payload.summary;
    let missing =
        |what: &str| format!("the stored {} channel has no {what}", channel.kind.as_str());
    let url = || channel.secrets.url.clone().ok_or_else(|| missing("url"));
    Ok(match channel.kind {
        ChannelKind::Slack => vec![post(url()?, &[], &slack(s))],
        ChannelKind::Discord => vec![post(url()?, &[], &discord(s, payload.at))],
        ChannelKind::Email => {
            let settings = &channel.settings;
            let base = settings
                .base_url
                .clone()
                .ok_or_else(|| missing("base URL"))?;
            let api_key = channel
                .secrets
                .api_key
                .clone()
                .ok_or_else(|| missing("api key"))?;
            let body = json!({
                "from": settings.from,
                "to": settings.to,
                "subject": format!("[clodo] {}", title(s)),
                "text": text(s),
            });
            let auth = format!("Bearer {api_key}");
            let headers = [("authorization", auth.as_str()), ("idempotency-key", key)];
            vec![post(format!("{base}/emails"), &headers, &body)]
        }
        ChannelKind::Webhook => {
            let secret = channel
                .secrets
                .signing_secret
                .as_deref()
                .ok_or_else(|| missing("signing secret"))?;
            let key_bytes = signature::decode_secret(secret)?;
            let body = standard_payload(payload).to_string();
            vec![signed_webhook(url()?, &key_bytes, key, now_secs, body)]
        }
        ChannelKind::Sentry | ChannelKind::Datadog | ChannelKind::Newrelic => {
            return Err(format!(
                "a {} channel records deploy markers and takes no weekly summary",
                channel.kind.as_str()
            ))
        }
    })
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
