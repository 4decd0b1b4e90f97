//! The `Rollout` Durable Object: the progressive rollout of one deployment, as a shell. The
//! engine (`crate::rollout`) decides and the driver (`crate::rollout::driver`) runs it; this
//! object routes its operations, turns the driver's wake-ups into alarms and keeps the
//! live-status WebSockets.

use std::time::Duration;

use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use super::client::{answer, read_op};
use super::rollout_client::{RolloutOp, RolloutRefusal, RolloutReply, LIVE_PATH, WAIT_HEADER};
use super::{answer_probe, now_ms};
use crate::rollout::driver::{Preview, RolloutStore, StartError, Wake};
use crate::worker::rollout_io::{object_driver, ObjectDriver};

/// An operation's typed answer.
type Answer = std::result::Result<RolloutReply, RolloutRefusal>;

fn status_of(r: &crate::rollout::Rollout) -> RolloutReply {
    RolloutReply::Status {
        status: Box::new(r.status(now_ms())),
    }
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

    /// Performs one operation of the protocol; `Err` is a failure of the object itself
    /// (storage), which the runtime reports as a 500.
    async fn perform(&self, op: RolloutOp) -> Result<Answer> {
        let driver = self.driver();
        Ok(match op {
            RolloutOp::Start { start } => {
                match driver
                    .start(&start.deployment_id, &start.owner, start.spec)
                    .await
                {
                    Ok(r) => {
                        self.wake(Wake::At(0)).await?;
                        Ok(status_of(&r))
                    }
                    Err(StartError::AlreadyStarted) => Err(RolloutRefusal::AlreadyStarted),
                    Err(StartError::Spec(e)) => Err(RolloutRefusal::InvalidSpec {
                        message: e.to_string(),
                    }),
                    Err(StartError::Io(e)) => return Err(failed(e)),
                }
            }
            RolloutOp::Status => match self.load_awake().await? {
                None => Err(RolloutRefusal::NoRollout),
                Some(r) => Ok(status_of(&r)),
            },
            RolloutOp::Preview {
                command,
                by,
                version,
            } => {
                match driver
                    .preview_steer(command, version.as_deref(), &by)
                    .await
                    .map_err(failed)?
                {
                    Preview::NoRollout => Err(RolloutRefusal::NoRollout),
                    Preview::Refused(e) => Err(RolloutRefusal::CommandRefused {
                        message: e.to_string(),
                    }),
                    Preview::Accepted(r) => Ok(status_of(&r)),
                }
            }
            RolloutOp::Wake => {
                if driver.store.load().await.map_err(failed)?.is_none() {
                    Err(RolloutRefusal::NoRollout)
                } else {
                    self.wake(Wake::At(0)).await?;
                    Ok(RolloutReply::Woken)
                }
            }
        })
    }

    async fn live(&self, req: &Request) -> Result<Response> {
        let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
        if !upgrade.eq_ignore_ascii_case("websocket") {
            return Response::error("live status is a WebSocket: send `Upgrade: websocket`", 426);
        }
        let rollout = self.load_awake().await?;
        let waits = req.headers().get(WAIT_HEADER)?.is_some();
        if rollout.is_none() && !waits {
            return Response::error(RolloutRefusal::NoRollout.to_string(), 404);
        }
        let pair = WebSocketPair::new()?;
        // Hibernation API: the object may sleep between steps with sockets open. A socket
        // opened before the start gets the start's status first: every save is broadcast.
        self.state.accept_web_socket(&pair.server);
        if let Some(r) = rollout {
            pair.server
                .send_with_str(serde_json::to_string(&r.status(now_ms()))?)?;
            if r.phase.is_terminal() && r.recorded {
                pair.server.close(Some(1000), Some("rollout ended"))?;
            }
        }
        Response::from_websocket(pair.client)
    }
}

impl DurableObject for Rollout {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() == Method::Get {
            match req.path().as_str() {
                "/__probe" => return answer_probe(&self.state).await,
                LIVE_PATH => return self.live(&req).await,
                _ => {}
            }
        }
        let op: RolloutOp = read_op(&mut req).await?;
        answer(&self.perform(op).await?)
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
