//! The Block Kit messages Clodo posts to Slack: an approval request with Approve / Reject /
//! Roll back buttons (each behind a confirm dialog, so a stray tap does nothing), the same
//! message once someone acted (no buttons left, who did what), command answers, and an
//! assessment report with its findings grouped by severity.

use serde_json::{json, Value};

use super::Action;
use crate::api::contract::deployments::Deployment;
use crate::assess::Severity;

/// Slack's limit on a section's text.
const MAX_SECTION: usize = 3000;

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
#[must_use]
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(text, MAX_SECTION) } })
}

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": clip(text, 75) })
}

/// A deployment in one line: `shop/production` `dep_…` (ref, by whom, message).
#[must_use]
pub fn summary(d: &Deployment) -> String {
    let mut s = format!(
        "*{}/{}* `{}` ({})",
        escape(&d.project),
        escape(&d.environment),
        escape(&d.id),
        d.status
    );
    if let Some(r) = &d.git_ref {
        s.push_str(&format!(" ref `{}`", escape(r)));
    }
    if let Some(sha) = &d.git_sha {
        s.push_str(&format!(
            " `{}`",
            escape(&sha.chars().take(10).collect::<String>())
        ));
    }
    s.push_str(&format!(" requested by {}", escape(&d.requested_by)));
    if let Some(m) = &d.message {
        s.push_str(&format!("\n> {}", escape(&clip(m, 300))));
    }
    s
}

fn button(action: Action, label: &str, deployment: &str, style: &str, confirm: &str) -> Value {
    json!({
        "type": "button",
        "action_id": action.id(),
        "text": plain(label),
        "value": deployment,
        "style": style,
        "confirm": {
            "title": plain(&format!("{label}?")),
            "text": { "type": "mrkdwn", "text": clip(confirm, 300) },
            "confirm": plain(label),
            "deny": plain("Cancel"),
        },
    })
}

/// The approval request for `d`, for `chat.postMessage` (the caller adds `channel`).
#[must_use]
pub fn approval_request(d: &Deployment) -> Value {
    let env = format!("{}/{}", escape(&d.project), escape(&d.environment));
    let text = format!(
        "Deployment awaiting approval ({} needed): {}",
        d.required_approvals,
        summary(d)
    );
    json!({
        "text": clip(&format!("Deployment {} to {}/{} awaits approval", d.id, d.project, d.environment), 300),
        "blocks": [
            section(&text),
            {
                "type": "actions",
                "block_id": format!("clodo_{}", d.id),
                "elements": [
                    button(Action::Approve, "Approve", &d.id, "primary",
                        &format!("Approve deployment `{}` to {env}?", escape(&d.id))),
                    button(Action::Reject, "Reject", &d.id, "danger",
                        &format!("Reject (cancel) deployment `{}` to {env}?", escape(&d.id))),
                    button(Action::Rollback, "Roll back", &d.id, "danger",
                        &format!("Roll {env} back to its last good deployment now?")),
                ],
            },
        ],
    })
}

/// The message after someone acted: the deployment as it is now and what was done, by whom
/// (a Slack mention), with no buttons left to click.
#[must_use]
pub fn acted(d: &Deployment, what: &str, slack_user: &str) -> Value {
    acted_by(d, what, &format!("<@{}>", escape(slack_user)))
}

/// `acted` for someone who acted outside Slack (the API, the CLI, the dashboard): named by
/// their Clodo actor (`member:ann@example.com`), not mentioned.
#[must_use]
pub fn acted_outside(d: &Deployment, what: &str, actor: &str) -> Value {
    acted_by(
        d,
        what,
        &format!("{} (outside Slack)", escape(&clip(actor, 200))),
    )
}

fn acted_by(d: &Deployment, what: &str, who: &str) -> Value {
    // Who acted comes last: the description is clipped, never who acted.
    let line = format!("{} by {who}", clip(what, 2000));
    json!({
        "replace_original": true,
        "text": clip(&format!("{what}: deployment {}", d.id), 300),
        "blocks": [
            section(&summary(d)),
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": line } ] },
        ],
    })
}

/// An answer only the user sees (`response_type: ephemeral`).
#[must_use]
pub fn ephemeral(text: &str) -> Value {
    json!({ "response_type": "ephemeral", "text": clip(text, MAX_SECTION) })
}

/// An answer the channel sees.
#[must_use]
pub fn in_channel(text: &str) -> Value {
    json!({ "response_type": "in_channel", "text": clip(text, MAX_SECTION) })
}

/// An assessment report as stored (the `Report` JSON), findings grouped by severity (errors
/// first), for `chat.postMessage`.
#[must_use]
pub fn assessment_report(title: &str, report: &Value, link: Option<&str>) -> Value {
    let verdict = if report["ready"] == true {
        "ready to deploy"
    } else {
        "NOT ready"
    };
    let mut head = format!("*{}*: {verdict}", escape(title));
    if let Some(url) = link {
        head.push_str(&format!(" (<{}|report>)", escape(url)));
    }
    let mut blocks = vec![section(&head)];
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let text = |f: &Value, k: &str| escape(f[k].as_str().unwrap_or_default());
    for (severity, label) in [
        (Severity::Error, "Errors"),
        (Severity::Warning, "Warnings"),
        (Severity::Info, "Info"),
    ] {
        let found: Vec<String> = findings
            .iter()
            .filter(|f| f["severity"] == severity.as_str())
            .map(|f| {
                let service = f["service"]
                    .as_str()
                    .map(|s| format!("{}: ", escape(s)))
                    .unwrap_or_default();
                format!(
                    "• `{}` {service}{}\n   fix: {}",
                    text(f, "kind"),
                    text(f, "message"),
                    text(f, "fix")
                )
            })
            .collect();
        if found.is_empty() {
            continue;
        }
        blocks.push(section(&format!(
            "*{label} ({})*\n{}",
            found.len(),
            found.join("\n")
        )));
    }
    if findings.is_empty() {
        blocks.push(section("No findings."));
    }
    // Slack allows 50 blocks a message.
    blocks.truncate(50);
    json!({ "text": clip(&format!("{title}: {verdict}"), 300), "blocks": blocks })
}
