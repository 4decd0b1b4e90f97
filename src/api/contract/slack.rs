//! The team's Slack app (`/api/v1/slack`): the signing secret Slack signs commands and clicks
//! with, the bot token Clodo posts with, where approval requests and reports go, and the
//! one-time codes that link a Slack user to a Clodo member. Secrets go in, never out.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;
use super::github::API_BASE_URL_PATTERN;

/// `PUT /api/v1/slack`: connects (or reconfigures) the team's Slack app. Both secrets are
/// required every time, so a rotation is one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// The app's Signing Secret (Basic Information → App Credentials).
    #[schemars(length(min = 16, max = 256), pattern(r"^[!-~]+$"))]
    pub signing_secret: String,
    /// The Bot User OAuth Token (`xoxb-…`), for `chat.postMessage`.
    #[schemars(length(min = 8, max = 512), pattern(r"^[!-~]+$"))]
    pub bot_token: String,
    /// The channel id (`C…`) approval requests and assessment reports are posted to; without
    /// one, nothing is posted unasked.
    #[serde(default)]
    #[schemars(length(min = 1, max = 80), pattern(r"^[A-Za-z0-9_-]+$"))]
    pub channel: Option<String>,
    /// Slack's Web API base URL: `https://slack.com/api` (default); tests point it at a fake.
    #[serde(default)]
    #[schemars(length(min = 1, max = 500), pattern(API_BASE_URL_PATTERN))]
    pub api_base_url: Option<String>,
}

/// The stored app; the secrets are never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct SlackApp {
    pub api_base_url: String,
    pub channel: Option<String>,
    /// Where Slack sends slash commands and button clicks, relative to this server.
    pub commands_path: String,
    pub interactions_path: String,
    /// Slack users linked to members of the team.
    #[schemars(range(min = 0))]
    pub linked_users: i64,
    pub updated_by: String,
    /// Unix time in milliseconds.
    pub updated_at: i64,
}

/// `POST /api/v1/slack/link-codes`: a one-time code for the calling member, to type in Slack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct SlackLinkCode {
    pub code: String,
    /// What to type in Slack.
    pub command: String,
    /// Unix time in milliseconds; the code is refused afterwards and after its first use.
    pub expires_at: i64,
}

/// `POST /api/v1/assessments/{assessment_id}/slack`: the report is queued for the app's channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct SlackPostQueued {
    /// The outbox delivery (see `GET /api/v1/deliveries/{delivery_id}`).
    pub delivery_id: String,
    pub channel: String,
}
