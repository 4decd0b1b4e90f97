//! A webhook channel's payload template: the body to send instead of the standard payload,
//! with `{{placeholder}}`s replaced by the event's values. Values are inserted JSON-escaped
//! and without quotes (write `"{{deployment.project}}"` to get a JSON string), so no value can
//! break out of its string; a template must render to JSON, checked when the channel is made.

use super::{DeploymentSnapshot, EventPayload, EventType};

/// Every placeholder a template may use.
pub const PLACEHOLDERS: [&str; 13] = [
    "type",
    "event_id",
    "timestamp",
    "summary",
    "deployment.id",
    "deployment.project",
    "deployment.environment",
    "deployment.status",
    "deployment.strategy",
    "deployment.git_ref",
    "deployment.git_sha",
    "deployment.message",
    "deployment.requested_by",
];

/// A placeholder's value for an event (empty when the deployment has none).
fn value(name: &str, event: &EventPayload) -> String {
    let d = &event.deployment;
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    match name {
        "type" => event.event_type.as_str().to_owned(),
        "event_id" => event.event_id.to_string(),
        "timestamp" => super::render::rfc3339(event.at),
        "summary" => super::render::summary(event),
        "deployment.id" => d.id.clone(),
        "deployment.project" => d.project.clone(),
        "deployment.environment" => d.environment.clone(),
        "deployment.status" => d.status.clone(),
        "deployment.strategy" => opt(&d.strategy),
        "deployment.git_ref" => opt(&d.git_ref),
        "deployment.git_sha" => opt(&d.git_sha),
        "deployment.message" => opt(&d.message),
        "deployment.requested_by" => opt(&d.requested_by),
        _ => String::new(),
    }
}

/// The text of a JSON string without its quotes.
fn escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Fills the template; an unknown placeholder is an error.
///
/// # Errors
/// A `{{` without its `}}`, or a placeholder not in `PLACEHOLDERS`.
pub fn fill(template: &str, event: &EventPayload) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` has no closing `}}`".to_owned())?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder `{{{{{name}}}}}` (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        out.push_str(&escaped(&value(name, event)));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks a template when a channel is made: it fills for a sample event and the result is
/// JSON.
///
/// # Errors
/// What is wrong with it.
pub fn check(template: &str) -> Result<(), String> {
    let sample = EventPayload {
        event_type: EventType::Succeeded,
        event_id: 1,
        at: 0,
        deployment: DeploymentSnapshot {
            id: "dep_sample".into(),
            project: "shop".into(),
            environment: "production".into(),
            status: "succeeded".into(),
            message: Some("a \"quoted\" message\nwith a newline".into()),
            ..DeploymentSnapshot::default()
        },
    };
    let body = fill(template, &sample)?;
    serde_json::from_str::<serde_json::Value>(&body)
        .map(drop)
        .map_err(|e| format!("does not render to JSON: {e}"))
}
