//! Per-environment deployment policy: required approvals (approver role, never the requester),
//! deployment windows (recurring weekly, in an IANA time zone), one-off freezes, branch rules
//! (globs), and the emergency override that lets a blocked deploy through but is audited.

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Role;

/// Upper bounds that keep a stored policy small and evaluation cheap.
pub const MAX_REQUIRED_APPROVALS: u32 = 10;
const MAX_ITEMS: usize = 50;

/// `HH:MM` on a 24-hour clock, as the schema states it (`parse_hm` is the server's check).
const HOUR_MINUTE_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// The policy document of one environment (`PUT .../policy`). Empty lists mean "no rule".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    #[schemars(range(max = MAX_REQUIRED_APPROVALS))]
    pub required_approvals: u32,
    /// Branch globs a deployment's `git_ref` must match (`main`, `release/*`, `hotfix/**`):
    /// `*` within a segment, `**` across `/`, `?` one character.
    #[serde(default)]
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1, max = 200)))]
    pub branches: Vec<String>,
    /// When deploys may start; none means any time.
    #[serde(default)]
    #[schemars(length(max = MAX_ITEMS))]
    pub windows: Vec<Window>,
    /// One-off periods in which nothing deploys.
    #[serde(default)]
    #[schemars(length(max = MAX_ITEMS))]
    pub freezes: Vec<Freeze>,
}

/// A recurring weekly window, e.g. Mon–Thu 09:00–16:00 Europe/Berlin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Three-letter English day names: `mon` … `sun`.
    #[schemars(schema_with = "week_days_schema")]
    pub days: Vec<String>,
    /// Local `HH:MM`, inclusive.
    #[schemars(pattern(HOUR_MINUTE_PATTERN))]
    pub start: String,
    /// Local `HH:MM`, exclusive; after `start` (windows do not span midnight; use two).
    #[schemars(pattern(HOUR_MINUTE_PATTERN))]
    pub end: String,
    /// IANA zone, e.g. `America/New_York`; daylight saving is applied.
    #[schemars(schema_with = "time_zone_schema")]
    pub timezone: String,
}

/// A one-off freeze, `[starts_at, ends_at)` in RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`.
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub ends_at: DateTime<Utc>,
    #[schemars(length(max = 500))]
    pub reason: String,
}

/// The day names `parse_day` accepts, at least one.
fn week_days_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "items": { "type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] },
    })
}

/// Every IANA zone the server accepts (`chrono_tz`).
fn time_zone_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    schemars::json_schema!({ "type": "string", "enum": zones })
}

/// One rule a deployment request breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    Frozen {
        reason: String,
        until: DateTime<Utc>,
    },
    OutsideWindow,
    BranchNotAllowed {
        git_ref: Option<String>,
        allowed: Vec<String>,
    },
}

impl Violation {
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Violation::Frozen { reason, until } => format!("frozen until {until}: {reason}"),
            Violation::OutsideWindow => "outside every deployment window".into(),
            Violation::BranchNotAllowed { git_ref, allowed } => format!(
                "ref {} does not match the allowed branches {}",
                git_ref.as_deref().unwrap_or("(none)"),
                allowed.join(", ")
            ),
        }
    }
}

fn parse_day(day: &str) -> Option<Weekday> {
    Some(match day {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn parse_hm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

impl Window {
    /// Whether `now` falls inside the window in its own time zone.
    fn contains(&self, now: DateTime<Utc>) -> bool {
        let (Ok(tz), Some(start), Some(end)) = (
            self.timezone.parse::<Tz>(),
            parse_hm(&self.start),
            parse_hm(&self.end),
        ) else {
            return false;
        };
        let local = now.with_timezone(&tz);
        let day_ok = self
            .days
            .iter()
            .filter_map(|d| parse_day(d))
            .any(|d| d == local.weekday());
        let t = local.time();
        day_ok && start <= t && t < end
    }
}

impl Policy {
    /// Checks the document's shape so that a stored policy always evaluates.
    ///
    /// # Errors
    /// A message naming the first invalid field.
    pub fn validate(&self) -> Result<(), String> {
        if self.required_approvals > MAX_REQUIRED_APPROVALS {
            return Err(format!(
                "required_approvals must be at most {MAX_REQUIRED_APPROVALS}"
            ));
        }
        if self.branches.len() > MAX_ITEMS
            || self.windows.len() > MAX_ITEMS
            || self.freezes.len() > MAX_ITEMS
        {
            return Err(format!(
                "at most {MAX_ITEMS} branches, windows and freezes each"
            ));
        }
        for pattern in &self.branches {
            if pattern.is_empty() || pattern.len() > 200 {
                return Err(format!(
                    "branch pattern `{pattern}` must be 1 to 200 characters"
                ));
            }
        }
        for (i, w) in self.windows.iter().enumerate() {
            if w.timezone.parse::<Tz>().is_err() {
                return Err(format!(
                    "windows[{i}].timezone `{}` is not an IANA time zone (e.g. Europe/Berlin)",
                    w.timezone
                ));
            }
            let (Some(start), Some(end)) = (parse_hm(&w.start), parse_hm(&w.end)) else {
                return Err(format!("windows[{i}]: start and end must be HH:MM"));
            };
            if start >= end {
                return Err(format!("windows[{i}]: start must be before end"));
            }
            if w.days.is_empty() {
                return Err(format!("windows[{i}].days must not be empty"));
            }
            if let Some(bad) = w.days.iter().find(|d| parse_day(d).is_none()) {
                return Err(format!("windows[{i}].days: `{bad}` is not one of mon..sun"));
            }
        }
        for (i, f) in self.freezes.iter().enumerate() {
            if f.starts_at >= f.ends_at {
                return Err(format!("freezes[{i}]: starts_at must be before ends_at"));
            }
            if f.reason.len() > 500 {
                return Err(format!(
                    "freezes[{i}].reason must be at most 500 characters"
                ));
            }
        }
        Ok(())
    }

    /// Every rule a deployment of `git_ref` at `now` breaks; empty means allowed.
    #[must_use]
    pub fn violations(&self, now: DateTime<Utc>, git_ref: Option<&str>) -> Vec<Violation> {
        let mut out = Vec::new();
        for f in &self.freezes {
            if f.starts_at <= now && now < f.ends_at {
                out.push(Violation::Frozen {
                    reason: f.reason.clone(),
                    until: f.ends_at,
                });
            }
        }
        if !self.windows.is_empty() && !self.windows.iter().any(|w| w.contains(now)) {
            out.push(Violation::OutsideWindow);
        }
        if !self.branches.is_empty() {
            let branch = git_ref.map(|r| r.strip_prefix("refs/heads/").unwrap_or(r));
            let ok = branch.is_some_and(|b| self.branches.iter().any(|p| glob_match(p, b)));
            if !ok {
                out.push(Violation::BranchNotAllowed {
                    git_ref: git_ref.map(str::to_owned),
                    allowed: self.branches.clone(),
                });
            }
        }
        out
    }
}

impl Policy {
    /// Each opening of each window between `from` and `until`, in UTC (daylight saving
    /// applied), sorted; the calendar feed shows them.
    #[must_use]
    pub fn window_openings(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        use chrono::TimeZone;
        let mut out = Vec::new();
        for w in &self.windows {
            let (Ok(tz), Some(start), Some(end)) = (
                w.timezone.parse::<Tz>(),
                parse_hm(&w.start),
                parse_hm(&w.end),
            ) else {
                continue;
            };
            let days: Vec<Weekday> = w.days.iter().filter_map(|d| parse_day(d)).collect();
            let mut date = from
                .with_timezone(&tz)
                .date_naive()
                .pred_opt()
                .unwrap_or_default();
            let last = until.with_timezone(&tz).date_naive();
            while date <= last {
                if days.contains(&date.weekday()) {
                    let local = |t: NaiveTime| {
                        tz.from_local_datetime(&date.and_time(t))
                            .earliest()
                            .map(|l| l.with_timezone(&Utc))
                    };
                    if let (Some(s), Some(e)) = (local(start), local(end)) {
                        if e > from && s < until {
                            out.push((s, e));
                        }
                    }
                }
                let Some(next) = date.succ_opt() else { break };
                date = next;
            }
        }
        out.sort();
        out
    }
}

/// Branch globs as in branch protection rules: `*` matches within one path segment, `**`
/// across `/`, `?` one character; everything else literally.
///
/// A table over (pattern position, text position), filled from the ends: time and memory
/// grow with pattern length × text length. Backtracking instead takes exponential time on a
/// pattern of many stars (`*a*a*a…` against a long ref), which froze the single-threaded
/// Worker on one policy check.
#[must_use]
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let width = t.len() + 1;
    // matches[i * width + j]: does p[i..] match t[j..]? Row p.len() is the empty pattern.
    let mut matches = vec![false; (p.len() + 1) * width];
    matches[p.len() * width + t.len()] = true;
    for i in (0..p.len()).rev() {
        let double_star = p[i] == b'*' && p.get(i + 1) == Some(&b'*');
        for j in (0..=t.len()).rev() {
            let here = t.get(j).copied();
            let next_char = |row: usize| here.is_some() && matches[row * width + j + 1];
            matches[i * width + j] = match p[i] {
                // `**`: skip it, or let it take one more character of any kind.
                b'*' if double_star => matches[(i + 2) * width + j] || next_char(i),
                // `*`: skip it, or let it take one more character within the segment.
                b'*' => matches[(i + 1) * width + j] || (here != Some(b'/') && next_char(i)),
                b'?' => here.is_some_and(|c| c != b'/') && next_char(i + 1),
                c => here == Some(c) && next_char(i + 1),
            };
        }
    }
    matches[0]
}

/// Why an approval is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("you requested this deployment; someone else must approve it")]
    SelfApproval,
    #[error("approving needs the approver role; yours is {0}")]
    NotApprover(Role),
    #[error("you already approved this deployment")]
    AlreadyApproved,
    #[error(
        "approvals count people: this token is not tied to a team member, so it cannot approve"
    )]
    NotAPerson,
}

/// The person behind an actor string (`member:<email>`), as a lower-cased email; `None` for a
/// token that acts for nobody (`token:<id>`) or the control plane itself.
#[must_use]
pub fn person_of(actor: &str) -> Option<String> {
    actor
        .strip_prefix("member:")
        .filter(|email| !email.is_empty())
        .map(str::to_lowercase)
}

/// Checks one approval. Approvals count people, not tokens: the approver must be a member
/// (`member:<email>`) with the approver role or above, must not be the deployment's author
/// (`author`: the accountable person's email, compared without case, so a second token of
/// the author does not help), and approves once however many tokens they hold.
///
/// # Errors
/// The `ApprovalError` that applies.
pub fn check_approval(
    author: Option<&str>,
    approver_actor: &str,
    approver_role: Role,
    existing_approvers: &[String],
) -> Result<(), ApprovalError> {
    if !approver_role.allows(Role::Approver) {
        return Err(ApprovalError::NotApprover(approver_role));
    }
    let approver = person_of(approver_actor).ok_or(ApprovalError::NotAPerson)?;
    if author.is_some_and(|a| a.eq_ignore_ascii_case(&approver)) {
        return Err(ApprovalError::SelfApproval);
    }
    if existing_approvers
        .iter()
        .any(|a| person_of(a).as_deref() == Some(approver.as_str()))
    {
        return Err(ApprovalError::AlreadyApproved);
    }
    Ok(())
}

/// The blocking rules when a deployment moves on (approved into the queue, or starting to
/// deploy): the policy as it is now, not as it was at creation, so a freeze that began while
/// the deployment waited holds it. A deployment created with the audited emergency override
/// keeps it for its whole life.
#[must_use]
pub fn recheck(
    policy: &Policy,
    now: DateTime<Utc>,
    git_ref: Option<&str>,
    has_override: bool,
) -> Vec<Violation> {
    if has_override {
        return Vec::new();
    }
    policy.violations(now, git_ref)
}

/// Who may use the emergency override: approvers and admins, never a plain deployer, so an
/// override always involves someone trusted to approve.
#[must_use]
pub fn may_override(role: Role) -> bool {
    role.allows(Role::Approver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_glob_of_many_stars_against_a_long_ref_answers_at_once() {
        // Backtracking took exponential time here and froze the Worker; a second thread keeps
        // a regression from hanging the test run.
        let pattern = "*a".repeat(100);
        let text = format!("{}b", "a".repeat(255));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(glob_match(&pattern, &text) || glob_match(&"**a".repeat(66), &text));
        });
        let matched = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("glob matching took longer than 5 s");
        assert!(!matched);
    }

    #[test]
    fn globs_keep_their_meaning() {
        for (pattern, text, want) in [
            ("main", "main", true),
            ("main", "mainline", false),
            ("release/*", "release/1.2", true),
            ("release/*", "release/1/2", false),
            ("release/**", "release/1/2", true),
            ("hotfix/**", "hotfix/", true),
            ("**", "", true),
            ("*", "", true),
            ("*", "a/b", false),
            ("r?l", "rel", true),
            ("r?l", "r/l", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("**/x", "a/b/x", true),
            ("*/x", "a/b/x", false),
            ("", "", true),
            ("", "a", false),
        ] {
            assert_eq!(glob_match(pattern, text), want, "{pattern} vs {text}");
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn weekday_window(tz: &str) -> Window {
        Window {
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "09:00".into(),
            end: "17:00".into(),
            timezone: tz.into(),
        }
    }

    #[test]
    fn windows_follow_the_time_zone_and_daylight_saving() {
        let p = Policy {
            windows: vec![weekday_window("Europe/Berlin")],
            ..Policy::default()
        };
        p.validate().unwrap();
        // Mon 2026-01-05 08:30 UTC = 09:30 CET (winter, UTC+1): inside.
        assert!(p.violations(at("2026-01-05T08:30:00Z"), None).is_empty());
        // Mon 2026-07-06 07:30 UTC = 09:30 CEST (summer, UTC+2): inside.
        assert!(p.violations(at("2026-07-06T07:30:00Z"), None).is_empty());
        // Same UTC time in winter is 08:30 local: outside.
        assert_eq!(
            p.violations(at("2026-01-05T07:30:00Z"), None),
            vec![Violation::OutsideWindow]
        );
        // Saturday.
        assert_eq!(
            p.violations(at("2026-01-10T10:00:00Z"), None),
            vec![Violation::OutsideWindow]
        );
        // End is exclusive: 17:00 CET.
        assert!(!p.violations(at("2026-01-05T16:00:00Z"), None).is_empty());
    }

    /// A freeze from 20 December 2026 to 2 January 2027.
    fn holiday_freeze() -> Policy {
        Policy {
            freezes: vec![Freeze {
                starts_at: at("2026-12-20T00:00:00Z"),
                ends_at: at("2027-01-02T00:00:00Z"),
                reason: "holidays".into(),
            }],
            ..Policy::default()
        }
    }

    #[test]
    fn freezes_block_inside_their_interval_only() {
        let p = holiday_freeze();
        let v = p.violations(at("2026-12-24T12:00:00Z"), Some("main"));
        assert!(matches!(&v[..], [Violation::Frozen { reason, .. }] if reason == "holidays"));
        assert!(p.violations(at("2027-01-02T00:00:00Z"), None).is_empty());
        assert!(p
            .violations(
                Utc.with_ymd_and_hms(2026, 12, 19, 23, 59, 59).unwrap(),
                None
            )
            .is_empty());
    }

    #[test]
    fn branch_rules_use_globs() {
        assert!(glob_match("main", "main"));
        assert!(glob_match("release/*", "release/1.2"));
        assert!(!glob_match("release/*", "release/1/hotfix"));
        assert!(glob_match("hotfix/**", "hotfix/a/b"));
        assert!(glob_match("v?.x", "v1.x"));
        assert!(!glob_match("main", "main2"));
        let p = Policy {
            branches: vec!["main".into(), "release/*".into()],
            ..Policy::default()
        };
        let now = at("2026-01-05T10:00:00Z");
        assert!(p.violations(now, Some("refs/heads/main")).is_empty());
        assert!(p.violations(now, Some("release/2")).is_empty());
        assert_eq!(p.violations(now, Some("feature/x")).len(), 1);
        assert_eq!(p.violations(now, None).len(), 1);
    }

    #[test]
    fn invalid_policies_are_refused_with_the_field() {
        let mut p = Policy {
            windows: vec![weekday_window("Mars/Olympus")],
            ..Policy::default()
        };
        assert!(p.validate().unwrap_err().contains("timezone"));
        p.windows = vec![Window {
            end: "08:00".into(),
            ..weekday_window("UTC")
        }];
        assert!(p.validate().unwrap_err().contains("before end"));
        p.windows.clear();
        p.required_approvals = 11;
        assert!(p.validate().is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"approvals":1}"#).is_err());
    }

    /// Alice requested the deployment; `approver` (an actor) with `role` tries to approve it
    /// after the approvals `earlier`.
    fn alice_asks(approver: &str, role: Role, earlier: &[&str]) -> Result<(), ApprovalError> {
        let earlier: Vec<String> = earlier.iter().map(|a| (*a).to_owned()).collect();
        check_approval(Some("alice@x.test"), approver, role, &earlier)
    }

    #[test]
    fn approvals_need_another_approver() {
        let cases = [
            (
                "member:alice@x.test",
                Role::Admin,
                &[][..],
                Err(ApprovalError::SelfApproval),
            ),
            (
                "member:bob@x.test",
                Role::Deployer,
                &[],
                Err(ApprovalError::NotApprover(Role::Deployer)),
            ),
            (
                "member:bob@x.test",
                Role::Approver,
                &["member:bob@x.test"],
                Err(ApprovalError::AlreadyApproved),
            ),
            ("member:bob@x.test", Role::Approver, &[], Ok(())),
        ];
        for (approver, role, earlier, want) in cases {
            assert_eq!(
                alice_asks(approver, role, earlier),
                want,
                "{approver} {role:?}"
            );
        }
        assert!(may_override(Role::Approver) && !may_override(Role::Deployer));
    }

    #[test]
    fn approvals_count_people_not_tokens() {
        // A token tied to no member is nobody: it cannot approve, whatever its role.
        assert_eq!(
            alice_asks("token:tok_ci", Role::Admin, &[]),
            Err(ApprovalError::NotAPerson)
        );
        // The author is compared by person, without case: another token of Alice's (or one
        // she made for CI, which is accountable to her) does not make her someone else.
        assert_eq!(
            alice_asks("member:Alice@X.test", Role::Approver, &[]),
            Err(ApprovalError::SelfApproval)
        );
        // One approval per person, however the email was spelt on the earlier one.
        assert_eq!(
            alice_asks("member:bob@x.test", Role::Approver, &["member:BOB@x.test"]),
            Err(ApprovalError::AlreadyApproved)
        );
        assert_eq!(
            person_of("member:Ann@X.test").as_deref(),
            Some("ann@x.test")
        );
        assert_eq!(person_of("token:tok_1"), None);
        assert_eq!(person_of("clodo:rollout"), None);
    }

    #[test]
    fn the_policy_is_checked_again_when_a_deployment_moves_on() {
        let p = holiday_freeze();
        // Created before the freeze, approved or started during it: blocked.
        assert!(recheck(&p, at("2026-12-19T12:00:00Z"), None, false).is_empty());
        assert_eq!(
            recheck(&p, at("2026-12-21T12:00:00Z"), None, false).len(),
            1
        );
        // The audited emergency override stays with the deployment.
        assert!(recheck(&p, at("2026-12-21T12:00:00Z"), None, true).is_empty());
    }
}
