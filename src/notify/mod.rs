//! Notifications and monitoring markers, pure: the event types, the channel kinds, checking a
//! new channel (which fields each kind takes, which are secret), and what each kind sends for
//! an event (`render`). The Worker stores channels and queues deliveries in the outbox; the
//! outbox's `channel` handler renders them here and sends them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::contract::notify::{ChannelSettings, NewChannel};

pub mod render;
pub mod signature;
pub mod summary;
pub mod template;

#[cfg(test)]
mod tests;

/// What happened to a deployment. The names are the `type` of the JSON payload; the trigger
/// in migrations/0010 derives them from deployment events (a test keeps the two in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum EventType {
    #[serde(rename = "deployment.created")]
    Created,
    #[serde(rename = "deployment.awaiting_approval")]
    AwaitingApproval,
    #[serde(rename = "deployment.started")]
    Started,
    #[serde(rename = "deployment.paused")]
    Paused,
    #[serde(rename = "deployment.succeeded")]
    Succeeded,
    #[serde(rename = "deployment.failed")]
    Failed,
    #[serde(rename = "deployment.rolled_back")]
    RolledBack,
    #[serde(rename = "deployment.cancelled")]
    Cancelled,
    #[serde(rename = "deployment.lock_lost")]
    LockLost,
    /// Not a deployment event: the project's weekly summary (`summary`), queued by the
    /// cron once per ISO week for the channels that name it (never a default).
    #[serde(rename = "summary.weekly")]
    SummaryWeekly,
    // An environment lock held longer than its threshold: queued by the `DeployLock` object
    // (`worker/lock_audit.rs`), not by the trigger; `deployment.id` is the holder id. (A
    // plain comment: a doc comment would turn the schema's enum into a `oneOf`.)
    #[serde(rename = "lock.stuck")]
    LockStuck,
}

use EventType as E;

impl EventType {
    pub const ALL: [E; 11] = [
        E::Created,
        E::AwaitingApproval,
        E::Started,
        E::Paused,
        E::Succeeded,
        E::Failed,
        E::RolledBack,
        E::Cancelled,
        E::LockLost,
        E::SummaryWeekly,
        E::LockStuck,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            E::Created => "deployment.created",
            E::AwaitingApproval => "deployment.awaiting_approval",
            E::Started => "deployment.started",
            E::Paused => "deployment.paused",
            E::Succeeded => "deployment.succeeded",
            E::Failed => "deployment.failed",
            E::RolledBack => "deployment.rolled_back",
            E::Cancelled => "deployment.cancelled",
            E::LockLost => "deployment.lock_lost",
            E::SummaryWeekly => "summary.weekly",
            E::LockStuck => "lock.stuck",
        }
    }

    /// A type by its name (`deployment.succeeded`).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// A few words for people ("succeeded", "is waiting for approval").
    #[must_use]
    pub fn phrase(self) -> &'static str {
        match self {
            E::Created => "was requested",
            E::AwaitingApproval => "is waiting for approval",
            E::Started => "started",
            E::Paused => "was paused",
            E::Succeeded => "succeeded",
            E::Failed => "failed",
            E::RolledBack => "was rolled back",
            E::Cancelled => "was cancelled",
            E::LockLost => "lost its environment lock",
            E::SummaryWeekly => "weekly summary",
            E::LockStuck => "has held the environment lock too long",
        }
    }

    /// Whether the deployment-events trigger (migrations/0010) queues it; the weekly summary
    /// is queued by the cron and the summary route instead, `lock.stuck` by the `DeployLock`
    /// object (`worker/lock_audit.rs`).
    #[must_use]
    pub fn is_deployment_event(self) -> bool {
        !matches!(self, E::SummaryWeekly | E::LockStuck)
    }

    /// Whether it is bad news (red in chat, `error` in Datadog).
    #[must_use]
    pub fn is_bad(self) -> bool {
        matches!(self, E::Failed | E::RolledBack | E::LockLost | E::LockStuck)
    }
}

/// Where a channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A Slack incoming webhook (Block Kit message).
    Slack,
    /// A Discord webhook (an embed).
    Discord,
    /// Email through an HTTP mail API (Resend-style `POST {base_url}/emails`).
    Email,
    /// Any HTTP endpoint, signed per Standard Webhooks.
    Webhook,
    /// Sentry: a release and its deploy.
    Sentry,
    /// Datadog: an event (and a DORA deployment event on success).
    Datadog,
    /// New Relic change tracking: a deployment marker.
    Newrelic,
}

impl ChannelKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Email => "email",
            Self::Webhook => "webhook",
            Self::Sentry => "sentry",
            Self::Datadog => "datadog",
            Self::Newrelic => "newrelic",
        }
    }

    /// Monitoring markers rather than messages for people.
    #[must_use]
    pub fn is_marker(self) -> bool {
        matches!(self, Self::Sentry | Self::Datadog | Self::Newrelic)
    }

    /// The events a channel of this kind receives when none are given: for people, what
    /// needs them or ends a deployment; for markers, the deploys that changed what runs.
    #[must_use]
    pub fn default_events(self) -> Vec<EventType> {
        if self.is_marker() {
            vec![E::Succeeded, E::RolledBack]
        } else {
            vec![
                E::AwaitingApproval,
                E::Paused,
                E::Succeeded,
                E::Failed,
                E::RolledBack,
                E::LockLost,
            ]
        }
    }

    /// The public service's API when `base_url` is not given (kinds that take one).
    #[must_use]
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Email => Some("https://api.resend.com"),
            Self::Sentry => Some("https://sentry.io"),
            Self::Datadog => Some("https://api.datadoghq.com"),
            Self::Newrelic => Some("https://api.newrelic.com"),
            Self::Slack | Self::Discord | Self::Webhook => None,
        }
    }
}

/// The parts of a channel that are secret, stored encrypted as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// A stored channel, decrypted, as the renderer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    pub kind: ChannelKind,
    pub settings: ChannelSettings,
    pub secrets: ChannelSecrets,
}

/// A new channel, checked: what to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedChannel {
    pub events: Vec<EventType>,
    /// Scheme and host of where it sends (shown instead of the secret URL).
    pub endpoint: String,
    pub settings: ChannelSettings,
    pub secrets: ChannelSecrets,
    /// The signing secret was generated (the answer shows it once).
    pub generated_secret: Option<String>,
}

/// Why a new channel is refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ChannelError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> ChannelError {
    ChannelError {
        field,
        message: message.into(),
    }
}

/// Which optional fields each kind takes (besides project, environment, name, kind, events).
fn fields_of(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Slack | ChannelKind::Discord => &["url"],
        ChannelKind::Webhook => &["url", "signing_secret", "template"],
        ChannelKind::Email => &["api_key", "base_url", "from", "to"],
        ChannelKind::Sentry => &["api_key", "base_url", "org", "projects"],
        ChannelKind::Datadog => &["api_key", "base_url"],
        ChannelKind::Newrelic => &["api_key", "base_url", "entity_guid"],
    }
}

/// Scheme and host of an `http(s)` URL, or why it is not one.
///
/// # Errors
/// Not an absolute `http://` or `https://` URL with a host.
pub fn endpoint_of(url: &str) -> Result<String, String> {
    let (scheme, _) = crate::config::check_url(url).map_err(|why| format!("the URL {why}"))?;
    let authority = url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    // Credentials in the authority would end up shown as the endpoint; refuse them.
    if authority.contains('@') {
        return Err("the URL must not carry user:password@".into());
    }
    Ok(format!("{scheme}://{authority}"))
}

/// Checks a new channel: each field the kind needs is there and well-formed, no field it
/// does not use is given, the webhook template renders to JSON. Generates a webhook signing
/// secret when none is given (`random` supplies its bytes).
///
/// # Errors
/// The first field that is missing, not for this kind, or malformed.
pub fn check_channel(
    new: &NewChannel,
    random: impl FnOnce() -> Result<[u8; 32], String>,
) -> Result<CheckedChannel, ChannelError> {
    let kind = new.kind;
    let given: [(&'static str, bool); 9] = [
        ("url", new.url.is_some()),
        ("signing_secret", new.signing_secret.is_some()),
        ("api_key", new.api_key.is_some()),
        ("base_url", new.base_url.is_some()),
        ("from", new.from.is_some()),
        ("to", new.to.is_some()),
        ("org", new.org.is_some()),
        ("projects", new.projects.is_some()),
        ("entity_guid", new.entity_guid.is_some()),
    ];
    let allowed = fields_of(kind);
    let template_given = ("template", new.template.is_some());
    for (field, present) in given.into_iter().chain([template_given]) {
        if present && !allowed.contains(&field) {
            return Err(refuse(
                field,
                format!(
                    "a {} channel does not use it (it takes: {})",
                    kind.as_str(),
                    allowed.join(", ")
                ),
            ));
        }
    }
    if new.name.is_empty() || new.name.len() > 64 {
        return Err(refuse("name", "1-64 characters"));
    }
    let events = match &new.events {
        Some(list) if list.is_empty() => return Err(refuse("events", "name at least one")),
        Some(list) => {
            let mut list = list.clone();
            list.dedup();
            list
        }
        None => kind.default_events(),
    };
    if kind.is_marker() && events.contains(&E::SummaryWeekly) {
        return Err(refuse(
            "events",
            format!(
                "a {} channel records deploy markers; the weekly summary goes to slack, discord, email or webhook channels",
                kind.as_str()
            ),
        ));
    }
    let required = |field: &'static str, value: &Option<String>| -> Result<String, ChannelError> {
        value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| refuse(field, format!("a {} channel needs it", kind.as_str())))
    };
    let url_field =
        |field: &'static str, value: &str| endpoint_of(value).map_err(|m| refuse(field, m));
    let mut settings = ChannelSettings::default();
    let mut secrets = ChannelSecrets::default();
    let mut generated_secret = None;
    let endpoint = if allowed.contains(&"url") {
        let url = required("url", &new.url)?;
        let endpoint = url_field("url", &url)?;
        secrets.url = Some(url);
        endpoint
    } else {
        let base = new
            .base_url
            .clone()
            .or_else(|| kind.default_base_url().map(str::to_owned))
            .unwrap_or_default();
        let endpoint = url_field("base_url", &base)?;
        settings.base_url = Some(base.trim_end_matches('/').to_owned());
        secrets.api_key = Some(required("api_key", &new.api_key)?);
        endpoint
    };
    match kind {
        ChannelKind::Webhook => {
            let secret = match &new.signing_secret {
                Some(s) => s.clone(),
                None => {
                    let bytes = random().map_err(|e| refuse("signing_secret", e))?;
                    let s = signature::encode_secret(&bytes);
                    generated_secret = Some(s.clone());
                    s
                }
            };
            signature::decode_secret(&secret).map_err(|m| refuse("signing_secret", m))?;
            secrets.signing_secret = Some(secret);
            if let Some(t) = &new.template {
                template::check(t).map_err(|m| refuse("template", m))?;
                settings.template = Some(t.clone());
            }
        }
        ChannelKind::Email => {
            let from = required("from", &new.from)?;
            let to = new.to.clone().unwrap_or_default();
            if to.is_empty() {
                return Err(refuse(
                    "to",
                    "an email channel needs at least one recipient",
                ));
            }
            for address in std::iter::once(&from).chain(&to) {
                if !address.contains('@') || address.chars().any(char::is_whitespace) {
                    return Err(refuse("to", format!("`{address}` is not an email address")));
                }
            }
            settings.from = Some(from);
            settings.to = Some(to);
        }
        ChannelKind::Sentry => {
            settings.org = Some(required("org", &new.org)?);
            let projects = new.projects.clone().unwrap_or_default();
            if projects.is_empty() {
                return Err(refuse("projects", "name the Sentry project slugs"));
            }
            settings.projects = Some(projects);
        }
        ChannelKind::Newrelic => {
            settings.entity_guid = Some(required("entity_guid", &new.entity_guid)?);
        }
        ChannelKind::Slack | ChannelKind::Discord | ChannelKind::Datadog => {}
    }
    Ok(CheckedChannel {
        events,
        endpoint,
        settings,
        secrets,
        generated_secret,
    })
}

/// The filter as stored: `,type,type,` so SQL `instr` matches whole names.
#[must_use]
pub fn stored_events(events: &[EventType]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    format!(",{},", names.join(","))
}

/// The filter as stored, read back (unknown names are skipped).
#[must_use]
pub fn parse_events(stored: &str) -> Vec<EventType> {
    stored.split(',').filter_map(EventType::parse).collect()
}

/// The deployment as it was when the event happened (the snapshot the trigger stores).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSnapshot {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub status: String,
    pub strategy: Option<String>,
    pub git_ref: Option<String>,
    pub git_sha: Option<String>,
    pub message: Option<String>,
    pub requested_by: Option<String>,
    pub created_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub promoted_from: Option<String>,
}

/// One event as queued: a `channel` outbox row's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub event_id: i64,
    /// Unix ms.
    pub at: i64,
    pub deployment: DeploymentSnapshot,
}
