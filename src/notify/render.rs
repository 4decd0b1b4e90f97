//! What each channel kind sends for an event: the HTTP requests of one delivery, in order
//! (Sentry needs its release before the deploy; Datadog's DORA event follows its event). A
//! delivery succeeds when every request does; a retry sends them all again, each of which the
//! receiving API treats idempotently (an existing Sentry release answers 208) or dedupes by
//! the delivery's id (`webhook-id`, `Idempotency-Key`, Datadog's `aggregation_key`).

use serde_json::{json, Value};

use super::{signature, template, ChannelConfig, ChannelKind, EventPayload, EventType};
use crate::cloudflare::{api_path, HttpRequest};

/// Unix ms as RFC 3339 (UTC, seconds).
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One line for people: "shop/production: deployment dep_… succeeded".
#[must_use]
pub fn summary(event: &EventPayload) -> String {
    let d = &event.deployment;
    format!(
        "{}/{}: deployment {} {}",
        d.project,
        d.environment,
        d.id,
        event.event_type.phrase()
    )
}

/// The version monitoring tools know a deployment by: its commit, else its id.
fn version(event: &EventPayload) -> String {
    let d = &event.deployment;
    d.git_sha.clone().unwrap_or_else(|| d.id.clone())
}

/// The standard JSON payload of a webhook delivery (docs/notifications.md).
#[must_use]
pub fn standard_payload(event: &EventPayload) -> Value {
    json!({
        "type": event.event_type.as_str(),
        "timestamp": rfc3339(event.at),
        "data": {
            "event_id": event.event_id,
            "summary": summary(event),
            "deployment": event.deployment,
        },
    })
}

/// A Standard Webhooks POST of `body`: `webhook-id` is the delivery's key, signed with the
/// endpoint's secret at `now_secs` (one shape for deployment events and the weekly summary).
pub(super) fn signed_webhook(
    url: String,
    key_bytes: &[u8],
    key: &str,
    now_secs: i64,
    body: String,
) -> HttpRequest {
    let signed = signature::sign(key_bytes, key, now_secs, &body);
    HttpRequest {
        method: "POST".into(),
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("webhook-id".into(), key.to_owned()),
            ("webhook-timestamp".into(), now_secs.to_string()),
            ("webhook-signature".into(), signed),
        ],
        body: Some(body),
    }
}

pub(super) fn post(url: String, headers: &[(&str, &str)], body: &Value) -> HttpRequest {
    let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    HttpRequest {
        method: "POST".into(),
        url,
        headers: all,
        body: Some(body.to_string()),
    }
}

/// The requests of one delivery of `event` to `channel`. `key` is the delivery's idempotency
/// key (the `webhook-id`), `now_secs` the attempt's time (`webhook-timestamp`).
///
/// # Errors
/// The stored channel lacks what its kind needs (a fault of the stored row, not retried).
pub fn render(
    channel: &ChannelConfig,
    event: &EventPayload,
    key: &str,
    now_secs: i64,
) -> Result<Vec<HttpRequest>, String> {
    let secrets = &channel.secrets;
    let settings = &channel.settings;
    let missing =
        |what: &str| format!("the stored {} channel has no {what}", channel.kind.as_str());
    let url = || secrets.url.clone().ok_or_else(|| missing("url"));
    let api_key = || secrets.api_key.clone().ok_or_else(|| missing("api key"));
    let base = || settings.base_url.clone().ok_or_else(|| missing("base URL"));
    Ok(match channel.kind {
        ChannelKind::Slack => vec![post(url()?, &[], &slack(event))],
        ChannelKind::Discord => vec![post(url()?, &[], &discord(event))],
        ChannelKind::Webhook => {
            let secret = secrets
                .signing_secret
                .as_deref()
                .ok_or_else(|| missing("signing secret"))?;
            let key_bytes = signature::decode_secret(secret)?;
            let body = match &settings.template {
                Some(t) => template::fill(t, event)?,
                None => standard_payload(event).to_string(),
            };
            vec![signed_webhook(url()?, &key_bytes, key, now_secs, body)]
        }
        ChannelKind::Email => {
            let body = json!({
                "from": settings.from,
                "to": settings.to,
                "subject": format!("[clodo] {}", summary(event)),
                "text": email_text(event),
            });
            let auth = format!("Bearer {}", api_key()?);
            let headers = [("authorization", auth.as_str()), ("idempotency-key", key)];
            vec![post(format!("{}/emails", base()?), &headers, &body)]
        }
        ChannelKind::Sentry => sentry(channel, event, &base()?, &api_key()?)?,
        ChannelKind::Datadog => datadog(event, &base()?, &api_key()?),
        ChannelKind::Newrelic => {
            let d = &event.deployment;
            let body = json!({
                "query": "mutation($deployment: ChangeTrackingDeploymentInput!) { changeTrackingCreateDeployment(deployment: $deployment) { deploymentId } }",
                "variables": { "deployment": {
                    "entityGuid": settings.entity_guid.clone().ok_or_else(|| missing("entity GUID"))?,
                    "version": version(event),
                    "commit": d.git_sha,
                    "changelog": d.message,
                    "description": summary(event),
                    "user": d.requested_by,
                    "timestamp": event.at,
                } },
            });
            let key = api_key()?;
            vec![post(
                format!("{}/graphql", base()?),
                &[("api-key", key.as_str())],
                &body,
            )]
        }
    })
}

/// Slack's `mrkdwn` treats `&`, `<` and `>` as markup.
pub(super) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Label/value pairs shown in chat messages (values may be absent).
fn facts(event: &EventPayload) -> Vec<(&'static str, String)> {
    let d = &event.deployment;
    let short_sha = d.git_sha.as_deref().map(|s| s.chars().take(12).collect());
    [
        ("Project", Some(d.project.clone())),
        ("Environment", Some(d.environment.clone())),
        ("Status", Some(d.status.clone())),
        ("Strategy", d.strategy.clone()),
        ("Commit", short_sha),
        ("Requested by", d.requested_by.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect()
}

/// A Block Kit message: a header, the facts as fields, the message as context.
fn slack(event: &EventPayload) -> Value {
    let d = &event.deployment;
    let icon = if event.event_type.is_bad() {
        ":red_circle:"
    } else if event.event_type == EventType::Succeeded {
        ":large_green_circle:"
    } else {
        ":large_blue_circle:"
    };
    let header: String = format!(
        "{}/{}: {}",
        d.project,
        d.environment,
        event.event_type.phrase()
    )
    .chars()
    .take(150)
    .collect();
    let fields: Vec<Value> = facts(event)
        .into_iter()
        .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(&v)) }))
        .collect();
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": header } }),
        json!({ "type": "section",
                "text": { "type": "mrkdwn", "text": format!("{icon} Deployment `{}` {}", slack_escape(&d.id), event.event_type.phrase()) },
                "fields": fields }),
    ];
    if let Some(message) = d.message.as_deref().filter(|m| !m.is_empty()) {
        let message: String = message.chars().take(2000).collect();
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": slack_escape(&message) }] }));
    }
    json!({ "text": summary(event), "blocks": blocks })
}

/// A Discord message with one embed; mentions in user text never ping anyone.
fn discord(event: &EventPayload) -> Value {
    let color = if event.event_type.is_bad() {
        0x00d7_3a49
    } else if event.event_type == EventType::Succeeded {
        0x0028_a745
    } else {
        0x0003_66d6
    };
    let fields: Vec<Value> = facts(event)
        .into_iter()
        .map(|(k, v)| json!({ "name": k, "value": v.chars().take(1024).collect::<String>(), "inline": true }))
        .collect();
    let description: String = event
        .deployment
        .message
        .clone()
        .unwrap_or_default()
        .chars()
        .take(4000)
        .collect();
    let title: String = summary(event).chars().take(256).collect();
    json!({
        "content": title,
        "embeds": [{
            "title": title,
            "description": description,
            "color": color,
            "fields": fields,
            "timestamp": rfc3339(event.at),
        }],
        "allowed_mentions": { "parse": [] },
    })
}

fn email_text(event: &EventPayload) -> String {
    let mut text = format!("{}\n\n", summary(event));
    for (k, v) in facts(event) {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(m) = &event.deployment.message {
        text.push_str(&format!("\n{m}\n"));
    }
    text.push_str(&format!(
        "\nAt {} (event {}).\n",
        rfc3339(event.at),
        event.event_id
    ));
    text
}

/// A release (idempotent: an existing one answers 208), then its deploy to the environment.
fn sentry(
    channel: &ChannelConfig,
    event: &EventPayload,
    base: &str,
    token: &str,
) -> Result<Vec<HttpRequest>, String> {
    let d = &event.deployment;
    let org = channel
        .settings
        .org
        .as_deref()
        .ok_or("the stored sentry channel has no org")?;
    let release = version(event);
    let releases =
        api_path(&["api", "0", "organizations", org, "releases"]).map_err(|e| e.to_string())?;
    let deploys = api_path(&[
        "api",
        "0",
        "organizations",
        org,
        "releases",
        &release,
        "deploys",
    ])
    .map_err(|e| e.to_string())?;
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    let name = if event.event_type == EventType::RolledBack {
        format!("{} rolled back", d.id)
    } else {
        d.id.clone()
    };
    Ok(vec![
        post(
            format!("{base}{releases}/"),
            &headers,
            &json!({ "version": release, "projects": channel.settings.projects, "ref": d.git_ref }),
        ),
        post(
            format!("{base}{deploys}/"),
            &headers,
            &json!({
                "environment": d.environment,
                "name": name,
                "dateStarted": d.started_at.map(rfc3339),
                "dateFinished": rfc3339(d.finished_at.unwrap_or(event.at)),
            }),
        ),
    ])
}

/// An event (aggregated per deployment); for a success with known times, also a DORA
/// deployment event.
fn datadog(event: &EventPayload, base: &str, key: &str) -> Vec<HttpRequest> {
    let d = &event.deployment;
    let headers = [("dd-api-key", key)];
    let alert_type = match event.event_type {
        t if t.is_bad() => "error",
        EventType::Succeeded => "success",
        _ => "info",
    };
    let mut tags = vec![
        format!("project:{}", d.project),
        format!("env:{}", d.environment),
        format!("deployment:{}", d.id),
        format!("event:{}", event.event_type.as_str()),
        "source:clodo".to_owned(),
    ];
    if let Some(sha) = &d.git_sha {
        tags.push(format!("git.commit.sha:{sha}"));
    }
    let aggregation_key: String = d.id.chars().take(100).collect();
    let mut out = vec![post(
        format!("{base}/api/v1/events"),
        &headers,
        &json!({
            "title": summary(event),
            "text": d.message.clone().unwrap_or_default(),
            "tags": tags,
            "alert_type": alert_type,
            "aggregation_key": aggregation_key,
            "date_happened": event.at / 1000,
            "source_type_name": "clodo",
        }),
    )];
    if let (EventType::Succeeded, Some(started), Some(finished)) =
        (event.event_type, d.started_at, d.finished_at)
    {
        let ns = |ms: i64| ms.saturating_mul(1_000_000);
        out.push(post(
            format!("{base}/api/v2/dora/deployment"),
            &headers,
            &json!({ "data": { "attributes": {
                "id": d.id,
                "service": d.project,
                "env": d.environment,
                "started_at": ns(started),
                "finished_at": ns(finished),
                "version": version(event),
            } } }),
        ));
    }
    out
}
