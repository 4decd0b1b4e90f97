//! Contract types of notification channels (`/api/v1/channels`) and the delivery log
//! (`/api/v1/deliveries`). A channel's secrets (webhook URLs with tokens, API keys, signing
//! secrets) go in once, in `NewChannel`, and never come back out.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;
use super::teams::SLUG_PATTERN;
pub use crate::notify::{ChannelKind, EventType};
pub use crate::outbox::EntryState as DeliveryState;

/// `POST /api/v1/channels`: which fields a kind takes is in docs/notifications.md; a field the
/// kind does not use is refused (400 naming it), never ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    #[schemars(pattern(SLUG_PATTERN))]
    pub project: String,
    /// Only this environment's events; absent: every environment of the project.
    #[schemars(pattern(SLUG_PATTERN))]
    pub environment: Option<String>,
    /// Unique within the project.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    pub kind: ChannelKind,
    /// The events it receives; absent: the kind's defaults.
    #[schemars(length(min = 1, max = 16))]
    pub events: Option<Vec<EventType>>,
    /// slack, discord, webhook: where to POST (secret: stored encrypted, never shown).
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    /// webhook: the Standard Webhooks secret (`whsec_` + base64 of 24-64 bytes); absent: one
    /// is generated and shown once in the answer.
    #[schemars(length(min = 1, max = 200))]
    pub signing_secret: Option<String>,
    /// email, sentry, datadog, newrelic: the API key or token (secret).
    #[schemars(length(min = 1, max = 1024))]
    pub api_key: Option<String>,
    /// email, sentry, datadog, newrelic: the API's base URL; absent: the public service's.
    #[schemars(length(min = 1, max = 2048))]
    pub base_url: Option<String>,
    /// email: the sender.
    #[schemars(length(min = 3, max = 320))]
    pub from: Option<String>,
    /// email: the recipients.
    #[schemars(length(min = 1, max = 20))]
    pub to: Option<Vec<String>>,
    /// sentry: the organization slug.
    #[schemars(length(min = 1, max = 100))]
    pub org: Option<String>,
    /// sentry: the Sentry project slugs the release belongs to.
    #[schemars(length(min = 1, max = 20))]
    pub projects: Option<Vec<String>>,
    /// newrelic: the entity (application) GUID the change is recorded on.
    #[schemars(length(min = 1, max = 200))]
    pub entity_guid: Option<String>,
    /// webhook: the body to send instead of the standard payload, with `{{placeholders}}`
    /// (docs/notifications.md); it must render to JSON.
    #[schemars(length(min = 1, max = 8192))]
    pub template: Option<String>,
}

/// A channel's settings that are not secret, as stored and shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ChannelSettings {
    pub base_url: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub org: Option<String>,
    pub projects: Option<Vec<String>>,
    pub entity_guid: Option<String>,
    pub template: Option<String>,
}

/// A channel as listed: never its secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Channel {
    pub id: String,
    pub project: String,
    /// None: every environment of the project.
    pub environment: Option<String>,
    pub name: String,
    pub kind: ChannelKind,
    pub events: Vec<EventType>,
    /// Where it sends, without anything secret: scheme and host.
    pub endpoint: String,
    pub settings: ChannelSettings,
    /// False once the endpoint answered 410 Gone, or after
    /// `outbox::DISABLE_AFTER_GIVEN_UP` deliveries in a row were given up.
    pub enabled: bool,
    /// Why it was disabled (the 410, or the streak and the last failure).
    pub disabled_reason: Option<String>,
    /// Deliveries given up in a row since the last delivered one (or since it was enabled).
    pub failed_streak: u32,
    pub created_by: String,
    pub created_at: i64,
}

/// `POST /api/v1/channels`: the channel, and a generated webhook signing secret (shown once;
/// a replay of the request cannot show it again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ChannelCreated {
    pub channel: Channel,
    /// webhook channels without a given `signing_secret`: the generated one. Shown once.
    pub secret: Option<String>,
}

/// One delivery: an outbox row (a notification or marker for one channel and one event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Delivery {
    /// Also the `webhook-id` of every attempt and its idempotency key.
    pub id: String,
    /// The handler kind (`channel` for notifications and markers).
    pub kind: String,
    /// The channel (for `channel` deliveries).
    pub channel_id: Option<String>,
    pub event_type: Option<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// `GET /api/v1/deliveries`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// The `cursor` of the next page; none on the last one.
    pub next_cursor: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub at: i64,
    /// The receiver's HTTP status; none when it did not answer.
    pub status: Option<u16>,
    /// delivered, retry, failed or endpoint_disabled.
    pub outcome: String,
    /// The start of the receiver's answer, or why there was none.
    pub detail: Option<String>,
}

/// `GET /api/v1/deliveries/{delivery_id}`: the delivery and its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<DeliveryAttempt>,
}

/// The query of `GET /api/v1/channels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelFilter {
    /// Only this project's (slug).
    pub project: Option<String>,
}

/// The query of `GET /api/v1/deliveries`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFilter {
    /// Only this channel's deliveries.
    pub channel: Option<String>,
    pub state: Option<DeliveryState>,
    /// Page size: default 50, clamped to 1..200.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The query of `POST /api/v1/projects/{project}/summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryQuery {
    /// The ISO week (`2026-W49`); absent: the last complete week. The current week sends
    /// the week to date.
    pub week: Option<String>,
}

/// `POST /api/v1/projects/{project}/summary`: the summary's delivery to each channel that
/// receives `summary.weekly`. A week already sent answers its existing deliveries and
/// queues nothing (`queued: 0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct SummarySent {
    pub project: String,
    /// `2026-W49`.
    pub week: String,
    /// The span summarised, Unix ms: [from, to).
    pub from: i64,
    pub to: i64,
    /// False for the week to date (its key differs from the complete week's).
    pub complete: bool,
    /// Deliveries this request queued (0 when every channel already had this week's).
    pub queued: u32,
    /// One delivery per channel, new or existing (its id is the idempotency key).
    pub deliveries: Vec<Delivery>,
}
