//! The `Rollout` Durable Object: the progressive rollout of one deployment, as a shell. The
//! engine (`crate::rollout`) decides and the driver (`crate::rollout::driver`) runs it; this
//! object routes its operations, turns the driver's wake-ups into alarms and keeps the
//! live-status WebSockets.

use std::time::Duration;

use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use super::rollout_client::{QueuedCommand, Refusal, RolloutOp, StartRollout, Woken};
use super::{answer_probe, now_ms};
use crate::rollout::driver::{Preview, RolloutStore, StartError, Wake};
use crate::worker::rollout_io::{object_driver, ObjectDriver};

fn refuse(status: u16, message: impl Into<String>) -> Result<Response> {
    let error = message.into();
    Ok(Response::from_json(&Refusal { error })?.with_status(status))
}

fn failed(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// The progressive rollout of one deployment (named by the deployment id). Commands from
/// people are recorded in D1 with their audit entry and applied, in order, by the next alarm
/// run, so they never race an in-flight step.
#[durable_object]
pub struct Rollout {
    state: State,
    env: Env,
}

impl Rollout {
    fn driver(&self) -> ObjectDriver<'_> {
        object_driver(&self.state, &self.env)
    }

    async fn wake(&self, wake: Wake) -> Result<()> {
        let storage = self.state.storage();
        match wake {
            Wake::At(at) => {
                let wait = u64::try_from(at - now_ms()).unwrap_or(0);
                storage.set_alarm(Duration::from_millis(wait)).await
            }
            Wake::Never => storage.delete_alarm().await,
        }
    }

    /// The stored rollout; one with work to do but no alarm (the runtime lost it, e.g. the
    /// process was killed between runs) gets one, so reading the status also resumes it.
    async fn load_awake(&self) -> Result<Option<crate::rollout::Rollout>> {
        let Some(r) = self.driver().store.load().await.map_err(failed)? else {
            return Ok(None);
        };
        let busy = !(r.phase.is_terminal() && r.recorded);
        if busy && self.state.storage().get_alarm().await?.is_none() {
            self.wake(Wake::At(0)).await?;
        }
        Ok(Some(r))
    }

    async fn live(&self, req: &Request) -> Result<Response> {
        let Some(r) = self.load_awake().await? else {
            return refuse(404, "no rollout recorded");
        };
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return refuse(426, "live status is a WebSocket: send `Upgrade: websocket`");
        }
        let pair = WebSocketPair::new()?;
        // Hibernation API: the object may sleep between steps with sockets open.
        self.state.accept_web_socket(&pair.server);
        pair.server
            .send_with_str(serde_json::to_string(&r.status(now_ms()))?)?;
        if r.phase.is_terminal() && r.recorded {
            pair.server.close(Some(1000), Some("rollout ended"))?;
        }
        Response::from_websocket(pair.client)
    }
}

impl DurableObject for Rollout {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Some(op) = RolloutOp::of(&req.method(), &req.path()) else {
            return Response::error("no such rollout operation", 404);
        };
        match op {
            RolloutOp::Probe => answer_probe(&self.state).await,
            RolloutOp::Start => {
                let start: StartRollout = match req.json().await {
                    Ok(s) => s,
                    Err(e) => return refuse(400, format!("rollout start: {e}")),
                };
                let driver = self.driver();
                match driver
                    .start(&start.deployment_id, &start.owner, start.spec)
                    .await
                {
                    Ok(r) => {
                        self.wake(Wake::At(0)).await?;
                        Ok(Response::from_json(&r.status(now_ms()))?.with_status(201))
                    }
                    Err(e @ StartError::AlreadyStarted) => refuse(409, e.to_string()),
                    Err(e @ StartError::Spec(_)) => refuse(400, e.to_string()),
                    Err(StartError::Io(e)) => Err(failed(e)),
                }
            }
            RolloutOp::Live => self.live(&req).await,
            RolloutOp::Status => match self.load_awake().await? {
                None => refuse(404, "no rollout recorded"),
                Some(r) => Response::from_json(&r.status(now_ms())),
            },
            RolloutOp::Preview => {
                let cmd: QueuedCommand = match req.json().await {
                    Ok(c) => c,
                    Err(e) => return refuse(400, format!("rollout command: {e}")),
                };
                match self
                    .driver()
                    .preview(cmd.command, &cmd.by)
                    .await
                    .map_err(failed)?
                {
                    Preview::NoRollout => refuse(404, "no rollout recorded"),
                    Preview::Refused(e) => refuse(409, e.to_string()),
                    Preview::Accepted(r) => {
                        Ok(Response::from_json(&r.status(now_ms()))?.with_status(202))
                    }
                }
            }
            RolloutOp::Wake => {
                if self.driver().store.load().await.map_err(failed)?.is_none() {
                    return refuse(404, "no rollout recorded");
                }
                self.wake(Wake::At(0)).await?;
                Response::from_json(&Woken { woken: true })
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let report = match self.driver().run().await {
            Ok(report) => report,
            Err(e) => {
                // The runtime retries a failed alarm; the stored state is where it stopped.
                worker::console_error!("rollout alarm: {e}");
                return Err(failed(e));
            }
        };
        for problem in &report.problems {
            worker::console_error!("{problem}");
        }
        self.wake(report.wake).await?;
        Response::ok("rollout advanced")
    }

    /// Any message asks for the current status again.
    async fn websocket_message(&self, ws: WebSocket, _: WebSocketIncomingMessage) -> Result<()> {
        if let Some(r) = self.driver().store.load().await.map_err(failed)? {
            ws.send_with_str(serde_json::to_string(&r.status(now_ms()))?)?;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Completes the closing handshake the client started.
        let code = u16::try_from(code)
            .ok()
            .filter(|c| *c == 1000 || (3000..5000).contains(c));
        let _ = ws.close(code.or(Some(1000)), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        Ok(())
    }
}
