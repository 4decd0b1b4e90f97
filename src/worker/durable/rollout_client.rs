//! The protocol of the `Rollout` Durable Object and `RolloutClient`, the Worker's typed caller.
//! Its operations are an enum sent through the generic `client::call` (one typed answer, a
//! deadline); a refusal carries a code, mapped once to an `ApiError` here. Two requests are
//! not operations: the live-status WebSocket (`GET /live` with `Upgrade: websocket`, whose
//! `101` answer is handed on to the client) and the readiness probe (`GET /__probe`).

use serde::{Deserialize, Serialize};
use worker::{Env, Method};

use super::client::{call, ObjectError, ObjectOp};
use super::ROLLOUT_BINDING;
use crate::api::{ApiError, ErrorCode};
use crate::rollout::driver::Owner;
use crate::rollout::{Command, RolloutStatus, Spec};
use crate::worker::deadline;

/// The path of the live-status WebSocket on the object.
pub const LIVE_PATH: &str = "/live";
/// A header of the live request: open the socket even before the rollout has started. A
/// header, not a query: reading the URL would link the `url` crate's parser into the bundle.
pub const WAIT_HEADER: &str = "x-clodo-live-wait";

/// An operation of the `Rollout` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RolloutOp {
    /// Store a new rollout at its first step and run it now: its status.
    Start { start: StartRollout },
    /// The status (and an alarm if a lost one left the rollout stuck).
    Status,
    /// The status `command` by `by` would lead to; nothing is stored.
    Preview {
        command: Command,
        by: String,
        /// `promote --version` of an A/B test.
        #[serde(default)]
        version: Option<String>,
    },
    /// Run now (after a command was recorded).
    Wake,
}

impl ObjectOp for RolloutOp {
    type Reply = RolloutReply;
    type Refusal = RolloutRefusal;
    fn name(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Status => "status",
            Self::Preview { .. } => "preview",
            Self::Wake => "wake",
        }
    }
}

/// The body of [`RolloutOp::Start`]: built by the control plane from its records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRollout {
    pub deployment_id: String,
    #[serde(flatten)]
    pub owner: Owner,
    pub spec: Spec,
}

/// What the object answers an operation it performed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum RolloutReply {
    /// The rollout's status after the operation (start, status, preview).
    Status { status: Box<RolloutStatus> },
    /// The rollout runs now (wake).
    Woken,
}

/// Why the object refused an operation (its state is unchanged); the variant is the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RolloutRefusal {
    /// No rollout was started for this deployment.
    #[error("no rollout recorded")]
    NoRollout,
    #[error("this deployment already has a rollout")]
    AlreadyStarted,
    /// The spec cannot run (the engine's words).
    #[error("{message}")]
    InvalidSpec { message: String },
    /// The command does not apply in the phase it would meet (the engine's words).
    #[error("{message}")]
    CommandRefused { message: String },
}

/// The Worker's typed caller of one deployment's `Rollout` object.
pub struct RolloutClient<'a> {
    env: &'a Env,
    deployment_id: &'a str,
}

impl<'a> RolloutClient<'a> {
    #[must_use]
    pub fn new(env: &'a Env, deployment_id: &'a str) -> Self {
        RolloutClient { env, deployment_id }
    }

    /// Starts the rollout; 409 when it was started already, 400 when the spec cannot run.
    pub async fn start(&self, start: StartRollout) -> Result<RolloutStatus, ApiError> {
        self.status_of(RolloutOp::Start { start }).await
    }

    /// The status; 404 when no rollout was started.
    pub async fn status(&self) -> Result<RolloutStatus, ApiError> {
        self.status_of(RolloutOp::Status).await
    }

    /// The status `command` by `by` would lead to; 409 when it does not apply.
    pub async fn preview(
        &self,
        command: Command,
        version: Option<&str>,
        by: &str,
    ) -> Result<RolloutStatus, ApiError> {
        let by = by.to_owned();
        let version = version.map(str::to_owned);
        self.status_of(RolloutOp::Preview {
            command,
            by,
            version,
        })
        .await
    }

    /// Runs the rollout now; 404 when no rollout was started.
    pub async fn wake(&self) -> Result<(), ApiError> {
        match self.send(&RolloutOp::Wake).await? {
            RolloutReply::Woken => Ok(()),
            other => Err(unexpected("wake", &other)),
        }
    }

    /// Opens the live-status WebSocket: the object's `101` answer, whose socket the caller
    /// hands on to the client. `wait`: before the rollout has started the socket is opened
    /// anyway and its first message is the start's status (otherwise: 404, no rollout).
    pub async fn live(&self, wait: bool) -> Result<worker::Response, ApiError> {
        let fail = |e: worker::Error| ApiError::internal(format!("Rollout live: {e}"));
        let object = self
            .env
            .durable_object(ROLLOUT_BINDING)
            .and_then(|ns| ns.get_by_name(self.deployment_id))
            .map_err(fail)?;
        let forwarded = worker::Headers::new();
        forwarded.set("upgrade", "websocket").map_err(fail)?;
        if wait {
            forwarded.set(WAIT_HEADER, "1").map_err(fail)?;
        }
        let mut init = worker::RequestInit::new();
        init.with_method(Method::Get).with_headers(forwarded);
        let url = format!("https://rollout.internal{LIVE_PATH}");
        let req = worker::Request::new_with_init(&url, &init).map_err(fail)?;
        let mut resp = deadline::within(deadline::OBJECT_CALL_MS, object.fetch_with_request(req))
            .await
            .ok_or_else(|| ApiError::unavailable("the Rollout object did not answer in time"))?
            .map_err(fail)?;
        match resp.status_code() {
            101 => Ok(resp),
            404 => Err(self.refused(RolloutRefusal::NoRollout)),
            _ => {
                let text = resp.text().await.unwrap_or_default();
                Err(ApiError::internal(format!("Rollout live: {text}")))
            }
        }
    }

    async fn status_of(&self, op: RolloutOp) -> Result<RolloutStatus, ApiError> {
        let name = op.name();
        match self.send(&op).await? {
            RolloutReply::Status { status } => Ok(*status),
            other => Err(unexpected(name, &other)),
        }
    }

    /// Sends `op`; a refusal becomes the API error its code says.
    async fn send(&self, op: &RolloutOp) -> Result<RolloutReply, ApiError> {
        call(self.env, ROLLOUT_BINDING, self.deployment_id, op)
            .await
            .map_err(|err| match err {
                ObjectError::Refused(refusal) => self.refused(refusal),
                ObjectError::Failed(err) => err,
            })
    }

    fn refused(&self, refusal: RolloutRefusal) -> ApiError {
        match refusal {
            RolloutRefusal::NoRollout => ApiError::new(
                ErrorCode::NotFound,
                format!("deployment {} has no rollout", self.deployment_id),
            )
            .with_hint("`clodo deploy` starts one after uploading"),
            RolloutRefusal::InvalidSpec { .. } => {
                ApiError::new(ErrorCode::BadRequest, refusal.to_string())
            }
            RolloutRefusal::AlreadyStarted | RolloutRefusal::CommandRefused { .. } => {
                ApiError::new(ErrorCode::Conflict, refusal.to_string())
            }
        }
    }
}

/// The object answered a reply of another operation: a protocol bug, never a user error.
fn unexpected(op: &str, reply: &RolloutReply) -> ApiError {
    ApiError::internal(format!("{ROLLOUT_BINDING} {op}: answered {reply:?}"))
}
