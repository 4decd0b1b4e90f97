//! What Clodo tells GitHub: the commit status for an assessment, the pull request comment
//! (findings grouped by severity, a marker so the same comment is edited later), and the
//! decision on a deployment review from the environment's policies, the lock and approvals.

use chrono::{DateTime, Utc};

use super::client::StatusState;
use crate::assess::{Report, Severity};
use crate::control::policy::Policy;

/// The hidden first line of Clodo's pull request comment.
pub const COMMENT_MARKER: &str = "<!-- clodo:assessment -->";

/// GitHub caps a status description at 140 characters.
const MAX_DESCRIPTION: usize = 140;

fn count(report: &Report, severity: Severity) -> usize {
    report
        .findings
        .iter()
        .filter(|f| f.severity == severity)
        .count()
}

/// `text` cut to `max` characters (GitHub refuses longer status descriptions).
#[must_use]
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The commit status of an assessment: success only when the report is ready. `account_checked`
/// false says only the checks needing no API ran (no environment configured), so a green
/// status never reads as more than it is.
#[must_use]
pub fn status_of(report: &Report, account_checked: bool) -> (StatusState, String) {
    let (errors, warnings) = (
        count(report, Severity::Error),
        count(report, Severity::Warning),
    );
    let state = if report.ready {
        StatusState::Success
    } else {
        StatusState::Failure
    };
    let mut text = format!(
        "{}: {errors} error(s), {warnings} warning(s)",
        if report.ready { "ready" } else { "not ready" }
    );
    if report.unverified > 0 {
        text.push_str(&format!(", {} check(s) not made", report.unverified));
    }
    if !account_checked {
        text.push_str(" (config checks only: no account)");
    }
    (state, truncate(&text, MAX_DESCRIPTION))
}

/// The pull request comment for an assessment of `sha` (stored as `report_url`).
#[must_use]
pub fn comment_of(report: &Report, account_checked: bool, sha: &str, report_url: &str) -> String {
    let short = &sha[..sha.len().min(7)];
    let (_, summary) = status_of(report, account_checked);
    let mut out = format!(
        "{COMMENT_MARKER}\n### Clodo assessment of `{short}`\n\n{} **{summary}** · [full report]({report_url})\n",
        if report.ready { "✅" } else { "❌" }
    );
    out.push_str(&report.markdown_findings());
    if out.chars().count() > MAX_COMMENT {
        out = truncate(&out, MAX_COMMENT - 80);
        out.push_str(&format!(
            "\n\n… the rest is in the [full report]({report_url})\n"
        ));
    }
    out
}

/// GitHub refuses comments longer than 65 536 characters.
const MAX_COMMENT: usize = 60_000;

/// One preview deployment of the pull request's head branch, as the comment lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewLine {
    pub environment: String,
    pub service: String,
    pub url: String,
    pub git_sha: Option<String>,
}

/// The most previews a comment lists (newest first); the dashboard has them all.
pub const MAX_PREVIEW_LINES: usize = 20;

/// The pull request comment: the assessment part as the last delivery rendered it, then the
/// previews of the head branch (`previews` newest first; only the newest of each environment
/// and service is listed). Re-rendered whenever either changes, so the comment is edited in
/// place rather than a second one posted.
#[must_use]
pub fn comment_with_previews(assessment: &str, branch: &str, previews: &[PreviewLine]) -> String {
    let mut seen = std::collections::HashSet::new();
    let newest: Vec<&PreviewLine> = previews
        .iter()
        .filter(|p| seen.insert((p.environment.as_str(), p.service.as_str())))
        .take(MAX_PREVIEW_LINES)
        .collect();
    if newest.is_empty() {
        return assessment.to_owned();
    }
    let mut out = assessment.trim_end().to_owned();
    out.push_str(&format!(
        "\n\n### Previews of `{}`\n\n| environment | service | URL | commit |\n| --- | --- | --- | --- |\n",
        cell(branch)
    ));
    for p in newest {
        let commit = p
            .git_sha
            .as_deref()
            .map_or_else(|| "–".to_owned(), |s| format!("`{}`", &s[..s.len().min(7)]));
        out.push_str(&format!(
            "| {} | {} | {} | {commit} |\n",
            cell(&p.environment),
            cell(&p.service),
            cell(&p.url)
        ));
    }
    out
}

/// A table cell: no line breaks, pipes escaped (the values come from API callers).
fn cell(text: &str) -> String {
    truncate(text, 300)
        .replace(['\n', '\r'], " ")
        .replace('|', "\\|")
}

/// What Clodo could find out for a deployment review; `Err` is a check that could not be
/// made, with why.
pub struct ReviewFacts {
    pub policy: Result<Policy, String>,
    pub now: DateTime<Utc>,
    pub git_ref: Option<String>,
    /// Who holds the environment's deploy lock, if anyone.
    pub lock_holder: Result<Option<String>, String>,
    /// The most approvals any Clodo deployment of this commit to the environment has.
    pub approvals: Result<u32, String>,
    /// Whether the latest stored assessment of this commit is ready (`None`: never assessed).
    pub assessment: Result<Option<bool>, String>,
}

/// The review: approved only when every check was made and passed; the comment lists every
/// reason otherwise.
#[must_use]
pub fn review(facts: &ReviewFacts) -> (bool, String) {
    let mut reasons = Vec::new();
    match &facts.policy {
        Err(e) => reasons.push(format!("the policy could not be read: {e}")),
        Ok(policy) => {
            for v in policy.violations(facts.now, facts.git_ref.as_deref()) {
                reasons.push(v.describe());
            }
            match &facts.approvals {
                Err(e) => reasons.push(format!("approvals could not be counted: {e}")),
                Ok(n) if *n < policy.required_approvals => reasons.push(format!(
                    "{n} of {} required approval(s) in Clodo",
                    policy.required_approvals
                )),
                Ok(_) => {}
            }
        }
    }
    match &facts.lock_holder {
        Err(e) => reasons.push(format!("the deploy lock could not be checked: {e}")),
        Ok(Some(holder)) => reasons.push(format!("the deploy lock is held by {holder}")),
        Ok(None) => {}
    }
    match &facts.assessment {
        Err(e) => reasons.push(format!("the assessment could not be read: {e}")),
        Ok(None) => reasons.push("this commit has no Clodo assessment yet".into()),
        Ok(Some(false)) => reasons.push("the commit's assessment is not ready".into()),
        Ok(Some(true)) => {}
    }
    if reasons.is_empty() {
        (true, "Clodo: every policy check passed".into())
    } else {
        (
            false,
            truncate(&format!("Clodo rejected: {}", reasons.join("; ")), 1000),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assess::{Finding, Kind};
    use crate::control::policy::Freeze;

    fn passing() -> ReviewFacts {
        ReviewFacts {
            policy: Ok(Policy::default()),
            now: Utc::now(),
            git_ref: Some("refs/heads/main".into()),
            lock_holder: Ok(None),
            approvals: Ok(0),
            assessment: Ok(Some(true)),
        }
    }

    #[test]
    fn a_review_passes_only_when_every_check_was_made_and_passed() {
        assert!(review(&passing()).0);
        let frozen = ReviewFacts {
            policy: Ok(Policy {
                freezes: vec![Freeze {
                    starts_at: Utc::now() - chrono::Duration::hours(1),
                    ends_at: Utc::now() + chrono::Duration::hours(1),
                    reason: "launch week".into(),
                }],
                ..Policy::default()
            }),
            ..passing()
        };
        let (ok, comment) = review(&frozen);
        assert!(!ok);
        assert!(comment.contains("launch week"), "{comment}");
        for facts in [
            ReviewFacts {
                lock_holder: Ok(Some("dep-1".into())),
                ..passing()
            },
            ReviewFacts {
                lock_holder: Err("timeout".into()),
                ..passing()
            },
            ReviewFacts {
                policy: Err("D1".into()),
                ..passing()
            },
            ReviewFacts {
                assessment: Ok(None),
                ..passing()
            },
            ReviewFacts {
                assessment: Ok(Some(false)),
                ..passing()
            },
            ReviewFacts {
                approvals: Err("D1".into()),
                ..passing()
            },
            ReviewFacts {
                policy: Ok(Policy {
                    required_approvals: 2,
                    ..Policy::default()
                }),
                approvals: Ok(1),
                ..passing()
            },
        ] {
            assert!(!review(&facts).0, "{}", review(&facts).1);
        }
    }

    #[test]
    fn previews_are_appended_newest_per_environment_and_service() {
        let line = |env: &str, service: &str, url: &str| PreviewLine {
            environment: env.into(),
            service: service.into(),
            url: url.into(),
            git_sha: Some("0123456789abcdef".into()),
        };
        let body = "<!-- clodo:assessment -->\n### Clodo assessment\n";
        assert_eq!(comment_with_previews(body, "feature/x", &[]), body);
        let text = comment_with_previews(
            body,
            "feature/x",
            &[
                line("staging", "storefront", "https://new.site.pages.dev"),
                line("staging", "storefront", "https://old.site.pages.dev"),
                line("production", "storefront", "https://p|ipe.pages.dev"),
            ],
        );
        assert!(text.starts_with(body.trim_end()));
        assert!(text.contains("### Previews of `feature/x`"), "{text}");
        assert!(text.contains("| staging | storefront | https://new.site.pages.dev | `0123456` |"));
        assert!(!text.contains("old.site"), "{text}");
        assert!(text.contains("p\\|ipe"), "{text}");
    }

    #[test]
    fn statuses_and_comments_say_what_the_report_says() {
        let mut finding = Finding::new(Kind::ConfigInvalid, Severity::Error, "bad | key", "fix it");
        finding.service = Some("api".into());
        let report = Report::new(vec![finding]);
        let (state, text) = status_of(&report, true);
        assert_eq!(state, StatusState::Failure);
        assert_eq!(text, "not ready: 1 error(s), 0 warning(s)");
        let comment = comment_of(&report, true, "0123456789abcdef", "https://c/r/1");
        assert!(comment.starts_with(COMMENT_MARKER));
        assert!(comment.contains("`0123456`"));
        assert!(comment.contains("#### Errors (1)"));
        assert!(comment.contains("bad \\| key"));
        assert!(comment.contains("(https://c/r/1)"));
        let ready = Report::new(vec![]);
        let (state, text) = status_of(&ready, false);
        assert_eq!(state, StatusState::Success);
        assert!(text.ends_with("(config checks only: no account)"), "{text}");
        assert_eq!(truncate(&"x".repeat(200), 140).chars().count(), 140);
        let many: Vec<Finding> = (0..2000)
            .map(|i| {
                Finding::new(
                    Kind::ConfigInvalid,
                    Severity::Warning,
                    format!("finding {i} {}", "x".repeat(40)),
                    "fix",
                )
            })
            .collect();
        let long = comment_of(
            &Report::new(many),
            true,
            "0123456789abcdef",
            "https://c/r/1",
        );
        assert!(
            long.chars().count() <= MAX_COMMENT,
            "{}",
            long.chars().count()
        );
        assert!(long.ends_with("[full report](https://c/r/1)\n"));
    }
}
