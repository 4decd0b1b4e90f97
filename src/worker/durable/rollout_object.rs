//! The `Rollout` Durable Object: the progressive rollout of one deployment.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use super::{answer_probe, now_ms};
use crate::control::lifecycle::DeploymentStatus;
use crate::rollout::{self, Command, Spec};
use crate::worker::deployments::finish_for_rollout;
use crate::worker::locks::call_lock;
use crate::worker::rollout_io::{self, Io, Owner};

/// Storage keys of a rollout: the engine state, who it runs for, and the id of the last
/// command (from D1's `rollout_commands`) it applied.
const ROLLOUT_KEY: &str = "rollout";
const OWNER_KEY: &str = "owner";
const LAST_COMMAND_KEY: &str = "last_command_id";
/// Engine steps one alarm run takes at most before yielding to a fresh alarm.
const STEPS_PER_RUN: usize = 64;
/// Wait before retrying a deployment record the database refused.
const RECORD_RETRY_MS: u64 = 5_000;
/// Longest gap between alarm runs of an unfinished rollout: each run renews the deployment's
/// hold on the environment lock (leases are minutes), also while paused for a human.
const MAX_ALARM_GAP_MS: i64 = 30_000;
/// Wait before asking the lock again when its answer did not come (nothing moves meanwhile).
const LOCK_RETRY_MS: u64 = 5_000;

#[derive(Debug, Deserialize)]
struct StartRollout {
    deployment_id: String,
    #[serde(flatten)]
    owner: Owner,
    spec: Spec,
}

/// A command as the route sends it for a preview.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct QueuedCommand {
    command: Command,
    by: String,
}

/// A command recorded in D1 (with its audit entry) and not yet applied by this object.
#[derive(Debug, Deserialize)]
struct CommandRow {
    id: i64,
    command: String,
    actor: String,
}

/// What the environment lock said to the deployment's heartbeat.
enum LockAnswer {
    Held,
    /// The lock refused: the deployment is not its holder any more.
    Lost(String),
    /// No answer: not known either way, so nothing moves until it is.
    Unknown(String),
}

fn rollout_error(status: u16, message: impl Into<String>) -> Result<Response> {
    Ok(Response::from_json(&serde_json::json!({ "error": message.into() }))?.with_status(status))
}

/// The progressive rollout of one deployment (named by the deployment id). The engine in
/// `crate::rollout` decides; this shell stores its state, performs what it asks for from alarm
/// runs, and records the end on the deployment. Commands from people are recorded in D1 with
/// their audit entry and applied, in order, by the next alarm run, so they never race an
/// in-flight step. Every run, and every traffic change, first renews the deployment's hold on
/// the environment lock; once the lock refuses, the rollout pauses and moves nothing more.
#[durable_object]
pub struct Rollout {
    state: State,
    env: Env,
}

impl Rollout {
    async fn load(&self) -> Result<Option<rollout::Rollout>> {
        self.state
            .storage()
            .get::<rollout::Rollout>(ROLLOUT_KEY)
            .await
    }

    /// Sends the status to every live-status WebSocket; once the rollout has ended and is
    /// recorded, closes them (the last message is the final status).
    fn broadcast(&self, r: &rollout::Rollout) {
        let sockets = self.state.get_websockets();
        if sockets.is_empty() {
            return;
        }
        let text = r.status_json(now_ms()).to_string();
        let done = r.phase.is_terminal() && r.recorded;
        for ws in sockets {
            // A socket that went away meanwhile is dropped by the runtime; nothing to do.
            let _ = ws.send_with_str(&text);
            if done {
                let _ = ws.close(Some(1000), Some("rollout ended"));
            }
        }
    }

    async fn save(&self, r: &rollout::Rollout) -> Result<()> {
        self.state.storage().put(ROLLOUT_KEY, r).await?;
        self.broadcast(r);
        Ok(())
    }

    async fn wake_now(&self) -> Result<()> {
        self.state
            .storage()
            .set_alarm(Duration::from_millis(0))
            .await
    }

    /// A stored rollout that has work to do but no alarm (the runtime lost it, e.g. the
    /// process was killed between runs) gets one, so reading the status also resumes it.
    async fn ensure_alarm(&self, r: &rollout::Rollout) -> Result<()> {
        let busy = !(r.phase.is_terminal() && r.recorded);
        if busy && self.state.storage().get_alarm().await?.is_none() {
            self.wake_now().await?;
        }
        Ok(())
    }

    /// Renews the deployment's hold on its environment's lock (the Rollout object acts for the
    /// deployment: the holder id is the deployment id) and reads the answer.
    async fn heartbeat(&self, owner: &Owner, deployment_id: &str) -> LockAnswer {
        let who = serde_json::json!({ "holder_id": deployment_id });
        match call_lock(
            &self.env,
            &owner.environment_id,
            Method::Post,
            "heartbeat",
            Some(&who),
        )
        .await
        {
            Ok((status, _)) if status < 300 => LockAnswer::Held,
            Ok((409, body)) => LockAnswer::Lost(
                body["error"]
                    .as_str()
                    .unwrap_or("the lock refused the heartbeat")
                    .to_owned(),
            ),
            Ok((status, body)) => LockAnswer::Unknown(format!("lock answered {status}: {body}")),
            Err(e) => LockAnswer::Unknown(e.message),
        }
    }

    /// The engine learns the lock is gone: it pauses and says why; the deployment's record
    /// gets an event saying the same.
    async fn lose_lock(&self, r: &mut rollout::Rollout, why: &str) -> Result<()> {
        if !r.lost_lock(now_ms(), why) {
            return Ok(());
        }
        worker::console_error!("rollout {}: lock lost: {why}", r.deployment_id);
        self.save(r).await?;
        let detail =
            serde_json::json!({ "by": "clodo:rollout", "reason": r.reason, "phase": r.phase });
        let written = match crate::worker::db::db(&self.env) {
            Ok(db) => crate::worker::db::run(crate::worker::rollouts::event_stmt(
                &db,
                &r.deployment_id,
                "rollout_lock_lost",
                &detail,
            ))
            .await
            .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // The rollout's own status says it; the event is the deployment's copy.
            worker::console_error!(
                "rollout {}: recording the lock loss: {}",
                r.deployment_id,
                e.message
            );
        }
        Ok(())
    }

    /// Applies the commands recorded in D1 since the last one applied, in order.
    async fn apply_commands(&self, r: &mut rollout::Rollout) -> Result<bool> {
        let after = self
            .state
            .storage()
            .get::<i64>(LAST_COMMAND_KEY)
            .await?
            .unwrap_or(0);
        let rows = pending_commands(&self.env, &r.deployment_id, after).await?;
        let Some(last) = rows.last().map(|c| c.id) else {
            return Ok(false);
        };
        for c in &rows {
            if let Some(cmd) = Command::parse(&c.command) {
                // Refused commands (e.g. the rollout ended meanwhile) change nothing.
                let _ = r.command(now_ms(), cmd, &c.actor);
            }
        }
        self.save(r).await?;
        self.state.storage().put(LAST_COMMAND_KEY, last).await?;
        Ok(true)
    }

    /// One alarm run: renew the lock, apply recorded commands, then step the engine until it
    /// waits.
    async fn drive(&self) -> Result<()> {
        let Some(owner) = self.state.storage().get::<Owner>(OWNER_KEY).await? else {
            return Ok(());
        };
        if let Some(mut r) = self.load().await? {
            if !r.phase.is_terminal() && !r.lock_lost {
                match self.heartbeat(&owner, &r.deployment_id).await {
                    LockAnswer::Held => {}
                    LockAnswer::Lost(why) => self.lose_lock(&mut r, &why).await?,
                    LockAnswer::Unknown(why) => {
                        worker::console_error!(
                            "rollout {}: lock heartbeat: {why}",
                            r.deployment_id
                        );
                        return self
                            .state
                            .storage()
                            .set_alarm(Duration::from_millis(LOCK_RETRY_MS))
                            .await;
                    }
                }
            }
        }
        // Opened at the first step that needs the API; an error stands for the whole run and
        // is reported to the engine like any failed call (it retries, rolls back or fails).
        let mut io: Option<std::result::Result<Io, String>> = None;
        let mut commands_read = false;
        for _ in 0..STEPS_PER_RUN {
            let Some(mut r) = self.load().await? else {
                return Ok(());
            };
            if !commands_read {
                commands_read = true;
                self.apply_commands(&mut r).await?;
            }
            let now = now_ms();
            let action = r.next(now);
            let moves_traffic = matches!(
                action,
                rollout::Action::ApplyTraffic(_) | rollout::Action::Restore(_)
            );
            if moves_traffic {
                // Traffic moves only right after the lock said this deployment holds it.
                match self.heartbeat(&owner, &r.deployment_id).await {
                    LockAnswer::Held => {}
                    LockAnswer::Lost(why) => {
                        self.lose_lock(&mut r, &why).await?;
                        continue;
                    }
                    LockAnswer::Unknown(why) => {
                        worker::console_error!(
                            "rollout {}: lock heartbeat: {why}",
                            r.deployment_id
                        );
                        return self
                            .state
                            .storage()
                            .set_alarm(Duration::from_millis(LOCK_RETRY_MS))
                            .await;
                    }
                }
            }
            let needs_api = moves_traffic || matches!(action, rollout::Action::RunChecks { .. });
            if needs_api && io.is_none() {
                io = Some(Io::open(&self.env, &owner).await);
            }
            let message = format!("clodo rollout {}", r.deployment_id);
            match (action, io.as_ref()) {
                (rollout::Action::ApplyTraffic(splits), Some(api)) => {
                    let outcome = match api {
                        Ok(api) => api.apply(&splits, &message).await,
                        Err(why) => Err(why.clone()),
                    };
                    r.traffic_applied(now_ms(), outcome);
                }
                (rollout::Action::Restore(splits), Some(api)) => {
                    let outcomes = match api {
                        Ok(api) => api.restore(&splits, &format!("{message}: roll back")).await,
                        Err(why) => splits
                            .iter()
                            .map(|s| (s.script.clone(), Err(why.clone())))
                            .collect(),
                    };
                    r.restore_done(now_ms(), &outcomes);
                }
                (rollout::Action::RunChecks { health, metrics }, Some(api)) => {
                    let health = futures::future::join_all(health.iter().map(rollout_io::health));
                    let measured = async {
                        match api {
                            Ok(api) => {
                                futures::future::join_all(
                                    metrics.iter().map(|q| api.measure(&r.spec, q)),
                                )
                                .await
                            }
                            Err(why) => metrics
                                .iter()
                                .map(|q| rollout::Measurement {
                                    query: q.clone(),
                                    value: Err(why.clone()),
                                })
                                .collect(),
                        }
                    };
                    let (health, measured) = futures::future::join(health, measured).await;
                    r.checks_done(now_ms(), &health, &measured);
                }
                (rollout::Action::Advance, _) => r.advance(now),
                (rollout::Action::Record { status, summary }, _) => {
                    let to = status.parse().unwrap_or(DeploymentStatus::Failed);
                    let detail = serde_json::json!({
                        "message": summary,
                        "rollout": { "phase": r.phase, "reason": r.reason, "log": r.log.iter().rev().take(20).rev().collect::<Vec<_>>() },
                    });
                    match finish_for_rollout(
                        &self.env,
                        &owner.team_id,
                        &r.deployment_id,
                        to,
                        &detail,
                    )
                    .await
                    {
                        Ok(()) => r.recorded(),
                        Err(e) => {
                            worker::console_error!(
                                "rollout {}: recording the end: {}",
                                r.deployment_id,
                                e.message
                            );
                            return self
                                .state
                                .storage()
                                .set_alarm(Duration::from_millis(RECORD_RETRY_MS))
                                .await;
                        }
                    }
                }
                (rollout::Action::WaitUntil(at), _) => {
                    let at = at.min(now + MAX_ALARM_GAP_MS);
                    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at)
                        .unwrap_or_else(chrono::Utc::now);
                    return self.state.storage().set_alarm(at).await;
                }
                // Paused: nothing to do but keep the lock (and read commands) until a human
                // decides.
                (rollout::Action::Idle, _) if !r.phase.is_terminal() => {
                    let gap = Duration::from_millis(MAX_ALARM_GAP_MS as u64);
                    return self.state.storage().set_alarm(gap).await;
                }
                (rollout::Action::Idle, _) => return self.state.storage().delete_alarm().await,
                // The API actions always have `io` (opened above).
                (_, None) => {}
            }
            self.save(&r).await?;
        }
        // A long burst of work: continue in a fresh run rather than hold this one.
        self.wake_now().await
    }
}

/// The commands recorded for a deployment's rollout after command `after`, oldest first.
async fn pending_commands(env: &Env, deployment_id: &str, after: i64) -> Result<Vec<CommandRow>> {
    let db = crate::worker::db::db(env).map_err(|e| worker::Error::RustError(e.message))?;
    crate::worker::db::all::<CommandRow>(worker::query!(
        &db,
        "SELECT id, command, actor FROM rollout_commands WHERE deployment_id = ?1 AND id > ?2 ORDER BY id",
        &deployment_id,
        &after
    ))
    .await
    .map_err(|e| worker::Error::RustError(e.message))
}

impl DurableObject for Rollout {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/__probe") => answer_probe(&self.state).await,
            (Method::Post, "/start") => {
                let start: StartRollout = match req.json().await {
                    Ok(s) => s,
                    Err(e) => return rollout_error(400, format!("rollout start: {e}")),
                };
                if self.load().await?.is_some() {
                    return rollout_error(409, "this deployment already has a rollout");
                }
                let r = match rollout::Rollout::new(&start.deployment_id, start.spec, now_ms()) {
                    Ok(r) => r,
                    Err(e) => return rollout_error(400, e.0),
                };
                self.state.storage().put(OWNER_KEY, &start.owner).await?;
                self.state.storage().put(ROLLOUT_KEY, &r).await?;
                self.wake_now().await?;
                Response::from_json(&r.status_json(now_ms())).map(|r| r.with_status(201))
            }
            (Method::Get, "/live") => {
                let Some(r) = self.load().await? else {
                    return rollout_error(404, "no rollout recorded");
                };
                let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
                if !upgrade.eq_ignore_ascii_case("websocket") {
                    return rollout_error(
                        426,
                        "live status is a WebSocket: send `Upgrade: websocket`",
                    );
                }
                self.ensure_alarm(&r).await?;
                let pair = WebSocketPair::new()?;
                // Hibernation API: the object may sleep between steps with sockets open.
                self.state.accept_web_socket(&pair.server);
                pair.server
                    .send_with_str(r.status_json(now_ms()).to_string())?;
                if r.phase.is_terminal() && r.recorded {
                    pair.server.close(Some(1000), Some("rollout ended"))?;
                }
                Response::from_websocket(pair.client)
            }
            (Method::Get, "/status") => match self.load().await? {
                None => rollout_error(404, "no rollout recorded"),
                Some(r) => {
                    self.ensure_alarm(&r).await?;
                    Response::from_json(&r.status_json(now_ms()))
                }
            },
            (Method::Post, "/preview") => {
                let cmd: QueuedCommand = match req.json().await {
                    Ok(c) => c,
                    Err(e) => return rollout_error(400, format!("rollout command: {e}")),
                };
                let Some(r) = self.load().await? else {
                    return rollout_error(404, "no rollout recorded");
                };
                // Judge the command against the state it will meet: the stored one with the
                // recorded commands it has not applied yet.
                let after = self
                    .state
                    .storage()
                    .get::<i64>(LAST_COMMAND_KEY)
                    .await?
                    .unwrap_or(0);
                let mut preview = r;
                for c in pending_commands(&self.env, &preview.deployment_id.clone(), after).await? {
                    if let Some(cmd) = Command::parse(&c.command) {
                        let _ = preview.command(now_ms(), cmd, &c.actor);
                    }
                }
                if let Err(e) = preview.command(now_ms(), cmd.command, &cmd.by) {
                    return rollout_error(409, e.to_string());
                }
                Response::from_json(&preview.status_json(now_ms())).map(|r| r.with_status(202))
            }
            (Method::Post, "/wake") => {
                if self.load().await?.is_none() {
                    return rollout_error(404, "no rollout recorded");
                }
                self.wake_now().await?;
                Response::from_json(&serde_json::json!({ "woken": true }))
            }
            _ => Response::error("no such rollout operation", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.drive().await?;
        Response::ok("rollout advanced")
    }

    /// Any message asks for the current status again.
    async fn websocket_message(&self, ws: WebSocket, _: WebSocketIncomingMessage) -> Result<()> {
        if let Some(r) = self.load().await? {
            ws.send_with_str(r.status_json(now_ms()).to_string())?;
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
