//! The protocol of the `Rollout` Durable Object: its operations as an enum, their typed
//! bodies, and `RolloutClient`, the Worker's typed caller (no string paths at call sites).

use serde::{Deserialize, Serialize};
use worker::{Env, Method};

use super::{call_object, ROLLOUT_BINDING};
use crate::api::{ApiError, ErrorCode};
use crate::rollout::driver::Owner;
use crate::rollout::{Command, RolloutStatus, Spec};
use crate::worker::deadline;

/// An operation of the `Rollout` object: one method and path each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutOp {
    /// `POST /start` with a [`StartRollout`]: 201 and the status.
    Start,
    /// `GET /status`: the status (and an alarm if a lost one left the rollout stuck).
    Status,
    /// `POST /preview` with a [`QueuedCommand`]: 202 and the status it would lead to.
    Preview,
    /// `POST /wake`: run now (after a command was recorded).
    Wake,
    /// `GET /live` with `Upgrade: websocket`: the live status stream.
    Live,
    /// `GET /__probe`: the readiness probe.
    Probe,
}

impl RolloutOp {
    const ALL: [RolloutOp; 6] = [
        RolloutOp::Start,
        RolloutOp::Status,
        RolloutOp::Preview,
        RolloutOp::Wake,
        RolloutOp::Live,
        RolloutOp::Probe,
    ];

    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            RolloutOp::Start => "start",
            RolloutOp::Status => "status",
            RolloutOp::Preview => "preview",
            RolloutOp::Wake => "wake",
            RolloutOp::Live => "live",
            RolloutOp::Probe => "__probe",
        }
    }

    #[must_use]
    pub fn method(self) -> Method {
        match self {
            RolloutOp::Start | RolloutOp::Preview | RolloutOp::Wake => Method::Post,
            RolloutOp::Status | RolloutOp::Live | RolloutOp::Probe => Method::Get,
        }
    }

    /// The operation a request to the object asks for.
    #[must_use]
    pub fn of(method: &Method, path: &str) -> Option<RolloutOp> {
        let path = path.strip_prefix('/').unwrap_or(path);
        Self::ALL
            .into_iter()
            .find(|op| op.path() == path && op.method() == *method)
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

/// The body of [`RolloutOp::Preview`]: a command and who gives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedCommand {
    pub command: Command,
    pub by: String,
}

/// How the object refuses an operation (with a 4xx status).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    pub error: String,
}

/// The answer of [`RolloutOp::Wake`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Woken {
    pub woken: bool,
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

    pub async fn start(&self, start: &StartRollout) -> Result<RolloutStatus, ApiError> {
        self.call(RolloutOp::Start, Some(to_value(start)?)).await
    }

    pub async fn status(&self) -> Result<RolloutStatus, ApiError> {
        self.call(RolloutOp::Status, None).await
    }

    /// The status `command` would lead to; 409 when it does not apply.
    pub async fn preview(&self, command: &QueuedCommand) -> Result<RolloutStatus, ApiError> {
        self.call(RolloutOp::Preview, Some(to_value(command)?))
            .await
    }

    pub async fn wake(&self) -> Result<Woken, ApiError> {
        self.call(RolloutOp::Wake, None).await
    }

    /// Opens the live-status WebSocket: the object's `101` answer, whose socket the caller
    /// hands on to the client.
    pub async fn live(&self) -> Result<worker::Response, ApiError> {
        let op = RolloutOp::Live;
        let fail = |e: worker::Error| ApiError::internal(format!("Rollout live: {e}"));
        let object = self
            .env
            .durable_object(ROLLOUT_BINDING)
            .and_then(|ns| ns.get_by_name(self.deployment_id))
            .map_err(fail)?;
        let forwarded = worker::Headers::new();
        forwarded.set("upgrade", "websocket").map_err(fail)?;
        let mut init = worker::RequestInit::new();
        init.with_method(op.method()).with_headers(forwarded);
        let url = format!("https://rollout.internal/{}", op.path());
        let req = worker::Request::new_with_init(&url, &init).map_err(fail)?;
        let mut resp = deadline::within(deadline::OBJECT_CALL_MS, object.fetch_with_request(req))
            .await
            .ok_or_else(|| ApiError::unavailable("the Rollout object did not answer in time"))?
            .map_err(fail)?;
        match resp.status_code() {
            101 => Ok(resp),
            404 => Err(ApiError::new(
                ErrorCode::NotFound,
                format!("deployment {} has no rollout", self.deployment_id),
            )),
            _ => {
                let text = resp.text().await.unwrap_or_default();
                Err(ApiError::internal(format!("Rollout live: {text}")))
            }
        }
    }

    /// Calls `op`; a refusal becomes the API error its status says.
    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        op: RolloutOp,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        let (status, value) = call_object(
            self.env,
            ROLLOUT_BINDING,
            self.deployment_id,
            op.method(),
            op.path(),
            body.as_ref(),
        )
        .await?;
        if status < 300 {
            return serde_json::from_value(value).map_err(|e| {
                ApiError::internal(format!("Rollout {}: unexpected answer: {e}", op.path()))
            });
        }
        let message = serde_json::from_value::<Refusal>(value)
            .map_or_else(|_| "rollout refused".to_owned(), |r| r.error);
        Err(match status {
            400 => ApiError::new(ErrorCode::BadRequest, message),
            404 => ApiError::new(
                ErrorCode::NotFound,
                format!("deployment {} has no rollout", self.deployment_id),
            )
            .with_hint("`clodo deploy` starts one after uploading"),
            409 => ApiError::new(ErrorCode::Conflict, message),
            _ => ApiError::internal(message),
        })
    }
}

fn to_value<T: Serialize>(body: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(body).map_err(ApiError::internal)
}
