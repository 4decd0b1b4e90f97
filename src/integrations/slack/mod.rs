//! The Slack app's pure core: request signatures (`v0`, five-minute window), the form fields
//! of slash commands and button clicks, what `/clodo …` asks for (`Command`), what a click
//! asks for (`Click`), link codes, and the Block Kit messages Clodo posts (`blocks`). The shell
//! is `src/worker/slack.rs` (routes) and `slack_work.rs` (the outbox kind `slack`).

pub mod blocks;

use serde::Deserialize;

use super::signature::{self, SignatureError};

/// Where Slack sends slash commands and button clicks (outside `/api/v1`: they authenticate by
/// the app's signing secret, not a token).
pub const COMMANDS_PATH: &str = "/integrations/slack/commands";
pub const INTERACTIONS_PATH: &str = "/integrations/slack/interactions";

/// Slack's Web API; the tests' fake sets its own.
pub const DEFAULT_API_BASE_URL: &str = "https://slack.com/api";

/// Slack signs a request with its time; older (or further ahead) than this it is refused, so a
/// captured request cannot be replayed later.
pub const MAX_SKEW_SECS: i64 = 300;

/// Slack's requests are small forms; anything larger is refused before it is verified.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a link code from `clodo slack link` may be used.
pub const LINK_CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// Why a request was refused. Answered to Slack the same way (401); the variants are for logs
/// and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no or malformed X-Slack-Request-Timestamp")]
    NoTimestamp,
    #[error("the request is {0} s away from now (more than {MAX_SKEW_SECS} s)")]
    Stale(i64),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Checks `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)>` on
/// the raw body, in constant time, and that the timestamp is within [`MAX_SKEW_SECS`] of
/// `now_secs`.
///
/// # Errors
/// A stale or missing timestamp, or a missing, malformed or mismatching signature.
pub fn verify(
    signing_secret: &str,
    timestamp: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), Refused> {
    let ts = timestamp.map(str::trim).ok_or(Refused::NoTimestamp)?;
    let at: i64 = ts
        .parse()
        .ok()
        .filter(|_| !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Refused::NoTimestamp)?;
    let skew = (now_secs - at).abs();
    if skew > MAX_SKEW_SECS {
        return Err(Refused::Stale(skew));
    }
    signature::verify_prefixed_hex(
        signing_secret.as_bytes(),
        &[b"v0:", ts.as_bytes(), b":", body],
        signature_header,
        "v0=",
    )?;
    Ok(())
}

/// The value of form field `name` (the last one, as Slack sends each once).
#[must_use]
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .last()
}

/// A slash command's fields Clodo uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    pub slack_team: String,
    pub user_id: String,
    pub text: String,
    pub response_url: String,
    pub channel_id: String,
}

impl SlashCommand {
    /// From the verified form body.
    ///
    /// # Errors
    /// A field Slack always sends is missing.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let need = |k: &str| form_field(body, k).ok_or_else(|| format!("no `{k}` field"));
        Ok(Self {
            slack_team: form_field(body, "team_id").unwrap_or_default(),
            user_id: need("user_id")?,
            text: form_field(body, "text").unwrap_or_default(),
            response_url: need("response_url")?,
            channel_id: form_field(body, "channel_id").unwrap_or_default(),
        })
    }
}

/// Where a command applies: `project/env`, or `env` when the team has one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub project: Option<String>,
    pub environment: String,
}

impl Place {
    fn parse(word: &str) -> Result<Self, String> {
        let (project, environment) = match word.split_once('/') {
            Some((p, e)) => (Some(p.to_owned()), e.to_owned()),
            None => (None, word.to_owned()),
        };
        let ok = |s: &str| crate::control::valid_slug(s);
        if !ok(&environment) || project.as_deref().is_some_and(|p| !ok(p)) {
            return Err(format!(
                "`{word}` is not an environment: write `ENV` or `PROJECT/ENV` (lowercase letters, digits, '-')"
            ));
        }
        Ok(Self {
            project,
            environment,
        })
    }
}

/// What `/clodo TEXT` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// `link CODE`: the code `clodo slack link` printed.
    Link(String),
    Status(Place),
    History(Place),
    /// The server builds nothing: the answer says where deploys come from.
    Deploy(Option<Place>),
    Rollback {
        place: Place,
        reason: Option<String>,
    },
    Approve {
        deployment: String,
        comment: Option<String>,
    },
    Lock {
        place: Place,
        reason: Option<String>,
    },
    Unlock(Place),
}

/// The usage text (`/clodo help`).
pub const HELP: &str = "*Clodo* commands (`ENV` is `staging` or `PROJECT/ENV`):\n\
• `/clodo status ENV` – the lock and the latest deployments\n\
• `/clodo history ENV` – the last 10 deployments\n\
• `/clodo deploy ENV` – where deploys come from (CI or `clodo deploy`)\n\
• `/clodo rollback ENV [reason]` – back to the last good deployment (deployer)\n\
• `/clodo approve DEPLOYMENT_ID [comment]` – approve a deployment (approver)\n\
• `/clodo lock ENV [reason]` / `/clodo unlock ENV` – hold the deploy lock for up to an hour (deployer)\n\
• `/clodo link CODE` – link your Slack user to your Clodo member (`clodo slack link` prints the code)";

fn rest(words: &[&str]) -> Option<String> {
    let text = words.join(" ");
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(1000).collect())
}

impl Command {
    /// Parses the command's text.
    ///
    /// # Errors
    /// The usage problem, to show the user.
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let place = |i: usize, verb: &str| -> Result<Place, String> {
            let word = words.get(i).ok_or_else(|| {
                format!("`/clodo {verb}` needs an environment: `/clodo {verb} ENV`")
            })?;
            Place::parse(word)
        };
        match words.first().copied().unwrap_or("help") {
            "help" => Ok(Self::Help),
            "link" => match words.get(1) {
                Some(code) if words.len() == 2 => Ok(Self::Link((*code).to_owned())),
                _ => Err("`/clodo link CODE`: run `clodo slack link` to get a code".into()),
            },
            "status" => Ok(Self::Status(place(1, "status")?)),
            "history" => Ok(Self::History(place(1, "history")?)),
            "deploy" => Ok(Self::Deploy(
                words.get(1).map(|w| Place::parse(w)).transpose()?,
            )),
            "rollback" => Ok(Self::Rollback {
                place: place(1, "rollback")?,
                reason: rest(words.get(2..).unwrap_or_default()),
            }),
            "approve" => {
                let deployment = words
                    .get(1)
                    .filter(|d| d.len() <= 64)
                    .ok_or("`/clodo approve DEPLOYMENT_ID [comment]`")?;
                Ok(Self::Approve {
                    deployment: (*deployment).to_owned(),
                    comment: rest(words.get(2..).unwrap_or_default()),
                })
            }
            "lock" => Ok(Self::Lock {
                place: place(1, "lock")?,
                reason: rest(words.get(2..).unwrap_or_default()),
            }),
            "unlock" => Ok(Self::Unlock(place(1, "unlock")?)),
            other => Err(format!(
                "unknown command `{other}`; `/clodo help` lists them"
            )),
        }
    }
}

/// The buttons Clodo's messages carry (`action_id`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Approve,
    Reject,
    Rollback,
}

impl Action {
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Self::Approve => "clodo.approve",
            Self::Reject => "clodo.reject",
            Self::Rollback => "clodo.rollback",
        }
    }

    fn from_id(id: &str) -> Option<Self> {
        [Self::Approve, Self::Reject, Self::Rollback]
            .into_iter()
            .find(|a| a.id() == id)
    }
}

/// A button click (`block_actions`): who clicked which button on which deployment's message.
/// The button's value only names the deployment; what the user may do is decided from the
/// server's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub user_id: String,
    pub action: Action,
    pub deployment_id: String,
    pub response_url: String,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: Id,
    #[serde(default)]
    actions: Vec<ActionPayload>,
    #[serde(default)]
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct ActionPayload {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

impl Click {
    /// From the verified form body's `payload` field.
    ///
    /// # Errors
    /// Not a click on one of Clodo's buttons.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let payload = form_field(body, "payload").ok_or("no `payload` field")?;
        let p: Payload = serde_json::from_str(&payload).map_err(|e| format!("payload: {e}"))?;
        if p.kind != "block_actions" {
            return Err(format!("`{}` interactions are not handled", p.kind));
        }
        let action = p.actions.first().ok_or("no action in the payload")?;
        let kind = Action::from_id(&action.action_id)
            .ok_or_else(|| format!("unknown action `{}`", action.action_id))?;
        let deployment_id = action
            .value
            .clone()
            .filter(|v| !v.is_empty() && v.len() <= 64)
            .ok_or("the button carries no deployment id")?;
        Ok(Self {
            user_id: p.user.id,
            action: kind,
            deployment_id,
            response_url: p.response_url.ok_or("no response_url")?,
        })
    }
}

/// Whether `url` may receive a `response_url` post: Slack's hooks, or the origin of the app's
/// own `api_base_url` (where a test's fake Slack lives). Anything else is refused, so a
/// request cannot make the Worker post elsewhere.
#[must_use]
pub fn valid_response_url(url: &str, api_base_url: &str) -> bool {
    let origin = |u: &str| -> Option<String> {
        let (scheme, rest) = u.split_once("://")?;
        let host = rest.split('/').next()?;
        (!host.is_empty()).then(|| format!("{scheme}://{host}"))
    };
    url.len() <= 2000
        && (url.starts_with("https://hooks.slack.com/")
            || (origin(url).is_some() && origin(url) == origin(api_base_url)))
}

#[cfg(test)]
mod tests;
