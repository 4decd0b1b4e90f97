//! The outbox kind `slack`: everything Clodo sends to Slack, each a stored job attempted (and
//! retried with backoff) by the outbox: answers posted to a command's or click's
//! `response_url`, the approval request posted with the bot token (`chat.postMessage`), the
//! same message updated once someone acted (`chat.update`), a rollback asked for from Slack
//! (run here, not in the 3-second answer) and an assessment report. A retried rollback asks
//! the rollback route's function again, which answers the rollback already made instead of
//! moving traffic twice.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{D1Database, D1PreparedStatement, Env};

use super::cf_fetch::FetchTransport;
use super::deployment_store::load;
use super::outbox::{self, send, Attempted};
use super::slack::{app_of, describe, AppRow};
use super::slack_commands::caller_for;
use super::teams::cipher;
use crate::api::contract::env_rollback::{RollbackRequest, ServiceRollbackOutcome};
use crate::api::ApiError;
use crate::cloudflare::{HttpRequest, Transport};
use crate::integrations::slack::{blocks, valid_response_url};
use crate::outbox::{AttemptResult, Entry};

pub const KIND: &str = "slack";

/// One job of the kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub(super) enum Job {
    Respond {
        response_url: String,
        body: Value,
    },
    ApprovalRequest {
        deployment_id: String,
    },
    UpdateMessage {
        deployment_id: String,
        what: String,
        slack_user: String,
        /// Set when the act was made outside Slack (API, CLI, dashboard): the Clodo actor,
        /// shown instead of a Slack mention (`slack_user` is empty then).
        #[serde(default)]
        actor: Option<String>,
    },
    Rollback {
        slack_user: String,
        project: String,
        environment: String,
        reason: Option<String>,
        response_url: String,
        /// The deployment whose message carried the button, updated with the outcome.
        deployment_id: Option<String>,
    },
    Report {
        assessment_id: String,
    },
}

/// The job's row, for the batch of the change that causes it.
pub(super) fn enqueue(
    db: &D1Database,
    team_id: &str,
    key: &str,
    job: &Job,
) -> worker::Result<D1PreparedStatement> {
    outbox::enqueue_stmt(db, team_id, KIND, key, None, &json!(job))
}

/// Stores the job on its own and wakes the outbox.
pub(super) async fn queue(
    env: &Env,
    db: &D1Database,
    team_id: &str,
    key: &str,
    job: &Job,
) -> Result<(), ApiError> {
    super::db::batch(db, vec![enqueue(db, team_id, key, job)]).await?;
    outbox::kick(env).await;
    Ok(())
}

#[derive(Deserialize)]
struct MessageCount {
    n: i64,
}

/// After an approval or a rejection made outside Slack (API, CLI, dashboard): the deployment's
/// Slack approval message, if one was posted, is updated like a button click updates it (its
/// buttons replaced by what happened and who did it). `key` makes the job once per act. The
/// act itself is already recorded: a failure here is logged, never turned into an error.
pub(super) async fn after_act_outside(
    env: &Env,
    team_id: &str,
    deployment_id: &str,
    what: &str,
    actor: &str,
    key: &str,
) {
    let queued = async {
        let db = super::db::db(env)?;
        let posted = super::db::first::<MessageCount>(worker::query!(
            &db,
            "SELECT COUNT(*) AS n FROM slack_messages WHERE deployment_id = ?1 AND team_id = ?2",
            &deployment_id,
            &team_id
        ))
        .await?
        .is_some_and(|c| c.n > 0);
        if !posted {
            return Ok(());
        }
        let job = Job::UpdateMessage {
            deployment_id: deployment_id.to_owned(),
            what: what.to_owned(),
            slack_user: String::new(),
            actor: Some(actor.to_owned()),
        };
        queue(env, &db, team_id, key, &job).await
    };
    if let Err(e) = queued.await {
        worker::console_error!(
            "updating the Slack message of {deployment_id}: {}",
            e.message
        );
    }
}

fn retry(why: impl Into<String>) -> Attempted {
    let why = why.into();
    Attempted {
        result: AttemptResult::NoAnswer(why.clone()),
        status: None,
        detail: Some(why),
    }
}

fn post_json(url: String, bearer: Option<&str>, body: &Value) -> HttpRequest {
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/json; charset=utf-8".to_owned(),
    )];
    if let Some(token) = bearer {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    HttpRequest {
        method: "POST".into(),
        url,
        headers,
        body: Some(body.to_string()),
    }
}

/// A Slack Web API method: HTTP 200 with `{"ok": false, "error"}` is a refusal (retried only
/// when it is `ratelimited`); the answer's JSON when it is `ok`. The whole answer is read (the
/// delivery log keeps only its start).
async fn web_api(
    app: &AppRow,
    token: &str,
    method: &str,
    body: &Value,
) -> (Attempted, Option<Value>) {
    let request = post_json(format!("{}/{method}", app.api_base_url), Some(token), body);
    let response = match FetchTransport.send(request).await {
        Ok(r) => r,
        Err(e) => return (retry(format!("{method}: {e}")), None),
    };
    let text = String::from_utf8_lossy(&response.body);
    let answered = Attempted {
        result: AttemptResult::Answered {
            status: response.status,
            retry_after: response.header("retry-after").map(str::to_owned),
        },
        status: Some(response.status),
        detail: Some(text.chars().take(300).collect()),
    };
    if response.status != 200 {
        return (answered, None);
    }
    let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if answer["ok"] == true {
        return (answered, Some(answer));
    }
    let error = answer["error"]
        .as_str()
        .unwrap_or("an answer that is not Slack's JSON");
    if error == "ratelimited" {
        return (retry(format!("{method}: ratelimited")), None);
    }
    (Attempted::unsendable(format!("{method}: {error}")), None)
}

fn bot_token(app: &AppRow, env: &Env) -> Result<String, Attempted> {
    let cipher = cipher(env).map_err(|e| retry(e.message))?;
    cipher
        .decrypt(&app.team_id, &app.bot_token_ciphertext)
        .map_err(|e| Attempted::unsendable(format!("the bot token does not decrypt: {e}")))
}

/// One attempt of the row.
pub(super) async fn attempt(env: &Env, db: &D1Database, entry: &Entry) -> Attempted {
    let job: Job = match serde_json::from_str(&entry.payload) {
        Ok(job) => job,
        Err(e) => return Attempted::unsendable(format!("not a Slack job: {e}")),
    };
    let app = match app_of(db, &entry.team_id).await {
        Ok(Some(app)) => app,
        Ok(None) => return Attempted::unsendable("the team's Slack app was disconnected"),
        Err(e) => return retry(e.message),
    };
    match job {
        Job::Respond { response_url, body } => respond(&app, &response_url, &body).await,
        Job::ApprovalRequest { deployment_id } => {
            approval_request(env, db, &app, &deployment_id).await
        }
        Job::UpdateMessage {
            deployment_id,
            what,
            slack_user,
            actor,
        } => {
            update_message(
                env,
                db,
                &app,
                &deployment_id,
                &what,
                &slack_user,
                actor.as_deref(),
            )
            .await
        }
        Job::Rollback {
            slack_user,
            project,
            environment,
            reason,
            response_url,
            deployment_id,
        } => {
            let caller = match caller_for(db, &app.team_id, &slack_user).await {
                Ok(c) => c,
                Err(why) => return Attempted::unsendable(why),
            };
            let request = RollbackRequest {
                to_deployment: None,
                reason,
            };
            let outcome =
                super::env_rollback::roll_back(env, &caller, &project, &environment, &request)
                    .await;
            let text = match &outcome {
                Ok(done) => {
                    let moved: Vec<String> = done
                        .services
                        .iter()
                        .map(|s| {
                            let how = match s.outcome {
                                ServiceRollbackOutcome::Moved => "→",
                                ServiceRollbackOutcome::AlreadyLive => "already on",
                                ServiceRollbackOutcome::Failed => "FAILED →",
                            };
                            format!("{} {how} `{}`", s.service, s.to_version)
                        })
                        .collect();
                    format!(
                        "{} ({}/{environment}, deployment `{}`, {}): {}",
                        done.message,
                        project,
                        done.deployment.id,
                        done.deployment.status,
                        moved.join(", ")
                    )
                }
                Err(e) => format!(
                    "Rollback of {project}/{environment} refused: {}",
                    describe(e)
                ),
            };
            let body = match (&deployment_id, &outcome) {
                (Some(id), Ok(done)) => match load(db, &app.team_id, id).await {
                    Ok(d) => {
                        // A repeat or nothing to do moved nothing: not "rolled back" again.
                        let head = if done.changed {
                            "Environment rolled back"
                        } else {
                            "Rollback"
                        };
                        let mut b = blocks::acted(&d, &format!("{head}: {text}"), &slack_user);
                        b["response_type"] = json!("in_channel");
                        b
                    }
                    Err(_) => blocks::in_channel(&text),
                },
                (Some(_), Err(_)) => {
                    json!({ "response_type": "ephemeral", "replace_original": false, "text": text })
                }
                (None, _) => blocks::in_channel(&text),
            };
            respond(&app, &response_url, &body).await
        }
        Job::Report { assessment_id } => report(env, db, &app, &assessment_id).await,
    }
}

async fn respond(app: &AppRow, response_url: &str, body: &Value) -> Attempted {
    if !valid_response_url(response_url, &app.api_base_url) {
        return Attempted::unsendable(
            "the response_url is neither Slack's nor the app's API origin",
        );
    }
    send(post_json(response_url.to_owned(), None, body)).await
}

async fn approval_request(
    env: &Env,
    db: &D1Database,
    app: &AppRow,
    deployment_id: &str,
) -> Attempted {
    let Some(channel) = app.channel.clone() else {
        return Attempted::unsendable("the Slack app has no channel");
    };
    let d = match load(db, &app.team_id, deployment_id).await {
        Ok(d) => d,
        Err(e) => return Attempted::unsendable(e.message),
    };
    let token = match bot_token(app, env) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let mut body = blocks::approval_request(&d);
    body["channel"] = json!(channel);
    let (attempted, answer) = web_api(app, &token, "chat.postMessage", &body).await;
    if let Some(answer) = answer {
        let ts = answer["ts"].as_str().unwrap_or_default();
        let posted_in = answer["channel"].as_str().unwrap_or(&channel);
        let stored = super::db::run(worker::query!(
            db,
            "INSERT INTO slack_messages (deployment_id, team_id, channel, ts, posted_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (deployment_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
            &deployment_id,
            &app.team_id,
            &posted_in,
            &ts,
            &super::db::now_ms()
        ))
        .await;
        if let Err(e) = stored {
            // Posted but not remembered: the message stays, it is just not updated later.
            worker::console_error!(
                "remembering the Slack message of {deployment_id}: {}",
                e.message
            );
        }
    }
    attempted
}

#[derive(Deserialize)]
struct Posted {
    channel: String,
    ts: String,
}

async fn update_message(
    env: &Env,
    db: &D1Database,
    app: &AppRow,
    deployment_id: &str,
    what: &str,
    slack_user: &str,
    actor: Option<&str>,
) -> Attempted {
    let posted = match super::db::first::<Posted>(worker::query!(
        db,
        "SELECT channel, ts FROM slack_messages WHERE deployment_id = ?1 AND team_id = ?2",
        &deployment_id,
        &app.team_id
    ))
    .await
    {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Attempted::unsendable(format!(
                "no Slack message was posted for {deployment_id}"
            ))
        }
        Err(e) => return retry(e.message),
    };
    let d = match load(db, &app.team_id, deployment_id).await {
        Ok(d) => d,
        Err(e) => return Attempted::unsendable(e.message),
    };
    let token = match bot_token(app, env) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let mut body = match actor {
        Some(actor) => blocks::acted_outside(&d, what, actor),
        None => blocks::acted(&d, what, slack_user),
    };
    if let Some(map) = body.as_object_mut() {
        map.remove("replace_original");
    }
    body["channel"] = json!(posted.channel);
    body["ts"] = json!(posted.ts);
    let (attempted, answer) = web_api(app, &token, "chat.update", &body).await;
    if answer.is_some() {
        let _ = super::db::run(worker::query!(
            db,
            "UPDATE slack_messages SET acted = ?1 WHERE deployment_id = ?2",
            &format!("{what} by {slack_user}"),
            &deployment_id
        ))
        .await;
    }
    attempted
}

#[derive(Deserialize)]
struct StoredReport {
    config_file: String,
    env: Option<String>,
    report: String,
}

async fn report(env: &Env, db: &D1Database, app: &AppRow, assessment_id: &str) -> Attempted {
    let Some(channel) = app.channel.clone() else {
        return Attempted::unsendable("the Slack app has no channel");
    };
    let row = match super::db::first::<StoredReport>(worker::query!(
        db,
        "SELECT config_file, env, report FROM assessments WHERE id = ?1 AND team_id = ?2",
        &assessment_id,
        &app.team_id
    ))
    .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return Attempted::unsendable(format!("assessment {assessment_id} is gone")),
        Err(e) => return retry(e.message),
    };
    let report: Value = match serde_json::from_str(&row.report) {
        Ok(r) => r,
        Err(e) => return Attempted::unsendable(format!("the stored report is unreadable: {e}")),
    };
    let token = match bot_token(app, env) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let title = format!(
        "Assessment {assessment_id} of {}{}",
        row.config_file,
        row.env.map(|e| format!(" ({e})")).unwrap_or_default()
    );
    let link = dashboard_link(env, assessment_id);
    let mut body = blocks::assessment_report(&title, &report, link.as_deref());
    body["channel"] = json!(channel);
    web_api(app, &token, "chat.postMessage", &body).await.0
}

/// The dashboard's page of an assessment, when `CLODO_DASHBOARD_URL` is configured.
pub(super) fn dashboard_link(env: &Env, assessment_id: &str) -> Option<String> {
    let base = env.var("CLODO_DASHBOARD_URL").ok()?.to_string();
    let base = base.trim().trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}/#/assessments/{assessment_id}"))
}
