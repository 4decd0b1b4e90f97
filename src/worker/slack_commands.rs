//! What `/clodo …` commands and button clicks do, once their request verified: find the Clodo
//! member the Slack user is linked to (nobody else may act), then act as that member through
//! the same functions the API routes use (roles, policies, approvals, the lock, audit). Quick
//! answers come back at once; a rollback and every post to Slack go through the outbox.

use serde::Deserialize;
use serde_json::Value;
use worker::{D1Database, Env};

use super::auth::Caller;
use super::db::{self, now_ms};
use super::deployment_store::{all_of, load, D1Deployments, SELECT_DEPLOYMENT};
use super::deployments::actor;
use super::durable::client::{LockClient, ObjectError};
use super::slack::{code_hash, describe, respond_job, AppRow};
use super::slack_work::{self, Job};
use crate::api::contract::deployments::{ApprovalRequest, DeploymentStatus, TransitionRequest};
use crate::api::ApiError;
use crate::control::deployments as service;
use crate::control::Role;
use crate::integrations::slack::{blocks, Action, Click, Command, Place, SlashCommand, HELP};
use crate::lock::{AcquireOutcome, Claim, Requester, MAX_LEASE_MS};

/// What an unlinked Slack user is told.
const NOT_LINKED: &str = "Your Slack user is not linked to a Clodo member of this team, so Clodo will not act for you. In a terminal, logged in as your member, run `clodo slack link`; it prints a one-time code: type `/clodo link CODE` here within ten minutes.";

/// What `/clodo deploy` answers: the server cannot build or upload code.
const DEPLOY: &str = "Clodo's server does not build or upload code, so Slack cannot start a deploy: deploys run where your code is, in CI or with `clodo deploy --env ENV` (Clodo records them, applies the environment's policy and posts here when one awaits approval, with Approve / Reject / Roll back buttons). From Slack: `/clodo approve DEPLOYMENT_ID`, `/clodo rollback ENV`, `/clodo status ENV`.";

#[derive(Deserialize)]
struct LinkedMember {
    id: String,
    email: String,
    role: String,
}

/// The caller a linked Slack user acts as (`None`: not linked). The role is the member's
/// role now, read from the server's records on every request.
pub(super) async fn linked_caller(
    db: &D1Database,
    team_id: &str,
    slack_user: &str,
) -> Result<Option<Caller>, ApiError> {
    let row = db::first::<LinkedMember>(worker::query!(
        db,
        "SELECT m.id, m.email, m.role FROM slack_links l JOIN members m ON m.id = l.member_id
          WHERE l.team_id = ?1 AND l.slack_user_id = ?2 AND m.team_id = ?1",
        &team_id,
        &slack_user
    ))
    .await?;
    let Some(m) = row else {
        return Ok(None);
    };
    let email = m.email.to_lowercase();
    Ok(Some(Caller {
        team_id: team_id.to_owned(),
        token_id: format!("slack:{slack_user}"),
        actor: format!("member:{}", m.email),
        role: m.role.parse().map_err(ApiError::internal)?,
        member_id: Some(m.id),
        accountable_email: Some(email),
    }))
}

/// The caller a stored job acts as: the member, if still linked with that Slack user.
pub(super) async fn caller_for(
    db: &D1Database,
    team_id: &str,
    slack_user: &str,
) -> Result<Caller, String> {
    linked_caller(db, team_id, slack_user)
        .await
        .map_err(|e| e.message)?
        .ok_or_else(|| "the Slack user is no longer linked".to_owned())
}

#[derive(Deserialize)]
struct Slug {
    slug: String,
}

/// The project a place names, or the team's only project.
async fn project_of(db: &D1Database, team_id: &str, place: &Place) -> Result<String, ApiError> {
    if let Some(p) = &place.project {
        return Ok(p.clone());
    }
    let projects = db::all::<Slug>(worker::query!(
        db,
        "SELECT slug FROM projects WHERE team_id = ?1 ORDER BY slug LIMIT 20",
        &team_id
    ))
    .await?;
    match projects.as_slice() {
        [only] => Ok(only.slug.clone()),
        _ => Err(db::bad_request(format!(
            "name the project: `PROJECT/{}` (projects: {})",
            place.environment,
            projects
                .iter()
                .map(|p| p.slug.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs a command; the answer for Slack (refusals as an ephemeral text, like errors).
pub(super) async fn run(
    env: &Env,
    app: &AppRow,
    key: &str,
    cmd: &SlashCommand,
) -> Result<Value, ApiError> {
    let command = match Command::parse(&cmd.text) {
        Ok(c) => c,
        Err(usage) => return Ok(blocks::ephemeral(&usage)),
    };
    let db = db::db(env)?;
    let team_id = app.team_id.as_str();
    match command {
        Command::Help => return Ok(blocks::ephemeral(HELP)),
        Command::Link(code) => return link(&db, team_id, &cmd.user_id, &code).await,
        Command::Deploy(_) => return Ok(blocks::ephemeral(DEPLOY)),
        _ => {}
    }
    let Some(caller) = linked_caller(&db, team_id, &cmd.user_id).await? else {
        return Ok(blocks::ephemeral(NOT_LINKED));
    };
    match command {
        Command::Status(place) => status(env, &db, &caller, &place, 3).await,
        Command::History(place) => status(env, &db, &caller, &place, 10).await,
        Command::Approve {
            deployment,
            comment,
        } => {
            let text = approve(env, &db, &caller, key, &cmd.user_id, &deployment, comment).await?;
            Ok(blocks::in_channel(&text))
        }
        Command::Lock { place, reason } => lock(env, &db, &caller, &place, reason).await,
        Command::Unlock(place) => unlock(env, &db, &caller, &place).await,
        Command::Rollback { place, reason } => {
            caller.require(Role::Deployer)?;
            let project = project_of(&db, team_id, &place).await?;
            db::environment(&db, team_id, &project, &place.environment).await?;
            let job = Job::Rollback {
                slack_user: cmd.user_id.clone(),
                project: project.clone(),
                environment: place.environment.clone(),
                reason,
                response_url: cmd.response_url.clone(),
                deployment_id: None,
            };
            slack_work::queue(env, &db, team_id, &format!("slk_{key}_rb"), &job).await?;
            Ok(blocks::in_channel(&format!(
                "Rolling {project}/{} back to its last good deployment (asked by <@{}>)…",
                place.environment, cmd.user_id
            )))
        }
        Command::Help | Command::Link(_) | Command::Deploy(_) => Ok(blocks::ephemeral(HELP)),
    }
}

/// `/clodo link CODE`: the code's member is linked to this Slack user, once.
async fn link(
    db: &D1Database,
    team_id: &str,
    slack_user: &str,
    code: &str,
) -> Result<Value, ApiError> {
    let hash = code_hash(code);
    let now = now_ms();
    // The code is spent and the link written in one batch; the link is written only when this
    // request spent the code (`used_at = now` and the row was pending).
    let results = db::batch(
        db,
        vec![
            worker::query!(
                db,
                "UPDATE slack_link_codes SET used_at = ?1
                  WHERE code_hash = ?2 AND team_id = ?3 AND used_at IS NULL AND expires_at > ?1",
                &now,
                &hash,
                &team_id
            ),
            worker::query!(
                db,
                "INSERT INTO slack_links (team_id, slack_user_id, member_id, linked_at)
                 SELECT team_id, ?1, member_id, ?2 FROM slack_link_codes
                  WHERE code_hash = ?3 AND team_id = ?4 AND used_at = ?2
                 ON CONFLICT (team_id, slack_user_id) DO UPDATE SET member_id = excluded.member_id,
                   linked_at = excluded.linked_at",
                &slack_user,
                &now,
                &hash,
                &team_id
            ),
            db::audit_if_changed_stmt(
                db,
                team_id,
                &format!("slack:{slack_user}"),
                "slack.link",
                "slack_user",
                slack_user,
                None,
                None,
            ),
        ],
    )
    .await?;
    if db::changes(&results, 0) == 0 {
        return Ok(blocks::ephemeral(
            "That code is unknown, already used or expired. Run `clodo slack link` again for a new one.",
        ));
    }
    let who = linked_caller(db, team_id, slack_user).await?;
    Ok(blocks::ephemeral(&format!(
        "Linked: Clodo acts for you as {} ({}).",
        who.as_ref().map_or("?", |c| c.actor.as_str()),
        who.as_ref().map_or("?", |c| c.role.as_str())
    )))
}

async fn status(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    place: &Place,
    limit: i64,
) -> Result<Value, ApiError> {
    caller.require(Role::Viewer)?;
    let project = project_of(db, &caller.team_id, place).await?;
    let (_, environment) =
        db::environment(db, &caller.team_id, &project, &place.environment).await?;
    let lock = LockClient::new(env.clone(), &environment.id).info().await?;
    let recent = all_of(worker::query!(
        db,
        &format!(
            "{SELECT_DEPLOYMENT} WHERE d.team_id = ?1 AND d.environment_id = ?2 ORDER BY d.created_at DESC, d.id DESC LIMIT ?3"
        ),
        &caller.team_id,
        &environment.id,
        &limit
    ))
    .await?;
    let mut text = format!("*{project}/{}*\n", place.environment);
    match &lock.holder {
        Some(l) => text.push_str(&format!(
            "🔒 locked by `{}` ({}: {})\n",
            blocks::escape(&l.claim.holder_id),
            blocks::escape(&l.claim.actor),
            blocks::escape(&l.claim.purpose)
        )),
        None => text.push_str("🔓 not locked\n"),
    }
    if recent.is_empty() {
        text.push_str("No deployments yet.");
    }
    for d in &recent {
        text.push_str(&format!("• {}\n", blocks::summary(d).replace('\n', " ")));
    }
    Ok(blocks::ephemeral(&text))
}

/// Approves as the linked member; the approval message (if one was posted) is updated to say
/// who approved. A refusal (already approved, not awaiting approval) changes nothing.
async fn approve(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    key: &str,
    slack_user: &str,
    deployment: &str,
    comment: Option<String>,
) -> Result<String, ApiError> {
    let store = deployments_of(env, caller)?;
    let done = service::approve(
        &store,
        &actor(caller),
        deployment,
        &ApprovalRequest { comment },
        now_ms(),
    )
    .await
    .map_err(ApiError::from)?;
    let d = &done.deployment;
    let what = format!(
        "Approved ({}/{}){}",
        done.approvals,
        d.required_approvals,
        if d.status == DeploymentStatus::Queued {
            ", queued to deploy"
        } else {
            ""
        }
    );
    let job = Job::UpdateMessage {
        deployment_id: d.id.clone(),
        what: what.clone(),
        slack_user: slack_user.to_owned(),
        actor: None,
    };
    slack_work::queue(env, db, &caller.team_id, &format!("slk_{key}_up"), &job).await?;
    Ok(format!("{what}: {} by <@{slack_user}>", blocks::summary(d)))
}

/// The deployment service's store, for the caller's team.
fn deployments_of<'a>(env: &'a Env, caller: &'a Caller) -> Result<D1Deployments<'a>, ApiError> {
    Ok(D1Deployments {
        env,
        db: db::db(env)?,
        team_id: &caller.team_id,
    })
}

fn manual_holder(caller: &Caller) -> (String, String) {
    let member = caller.member_id.clone().unwrap_or_default();
    (format!("slack-{member}"), format!("slack:{member}"))
}

async fn lock(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    place: &Place,
    reason: Option<String>,
) -> Result<Value, ApiError> {
    caller.require(Role::Deployer)?;
    let project = project_of(db, &caller.team_id, place).await?;
    let (_, environment) =
        db::environment(db, &caller.team_id, &project, &place.environment).await?;
    let lock = LockClient::new(env.clone(), &environment.id);
    let (holder_id, owner) = manual_holder(caller);
    let claim = Claim {
        holder_id: holder_id.clone(),
        actor: caller.actor.clone(),
        purpose: reason.unwrap_or_else(|| "held from Slack".into()),
        lease_ms: MAX_LEASE_MS,
        owner: owner.clone(),
    };
    let text = match lock.acquire(claim).await? {
        AcquireOutcome::Granted { lease } => format!(
            "🔒 {project}/{} is locked by {} for up to an hour (`/clodo unlock {}` frees it).",
            place.environment, caller.actor, place.environment
        )
        .replace("{lease}", &lease.lease_until_ms.to_string()),
        AcquireOutcome::Queued { holder, .. } => {
            // Slack cannot wait in the queue: leave it and say who holds the lock.
            let _ = lock.cancel(&holder_id, Requester::Owner(owner)).await;
            format!(
                "{project}/{} is locked by `{}` ({}: {}); try again when it is free.",
                place.environment, holder.claim.holder_id, holder.claim.actor, holder.claim.purpose
            )
        }
    };
    Ok(blocks::in_channel(&text))
}

async fn unlock(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    place: &Place,
) -> Result<Value, ApiError> {
    caller.require(Role::Deployer)?;
    let project = project_of(db, &caller.team_id, place).await?;
    let (_, environment) =
        db::environment(db, &caller.team_id, &project, &place.environment).await?;
    let (holder_id, owner) = manual_holder(caller);
    let lock = LockClient::new(env.clone(), &environment.id);
    match lock.release(&holder_id, Requester::Owner(owner)).await {
        Ok(_) => Ok(blocks::in_channel(&format!(
            "🔓 {project}/{} is unlocked (by {}).",
            place.environment, caller.actor
        ))),
        Err(ObjectError::Refused(_)) => Ok(blocks::ephemeral(&format!(
            "You do not hold the {project}/{} lock from Slack; nothing was changed.",
            place.environment
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A button click: authorised against the clicking user's link, acted on through the control
/// plane; the message is updated (or the user told why nothing happened) through the outbox.
pub(super) async fn click(
    env: &Env,
    app: &AppRow,
    key: &str,
    click: &Click,
) -> Result<(), ApiError> {
    let db = db::db(env)?;
    let team_id = app.team_id.as_str();
    let tell = |text: &str| {
        respond_job(
            &click.response_url,
            serde_json::json!({ "response_type": "ephemeral", "replace_original": false, "text": text }),
        )
    };
    let Some(caller) = linked_caller(&db, team_id, &click.user_id).await? else {
        return slack_work::queue(
            env,
            &db,
            team_id,
            &format!("slk_{key}_nl"),
            &tell(NOT_LINKED),
        )
        .await;
    };
    let d = match load(&db, team_id, &click.deployment_id).await {
        Ok(d) => d,
        Err(e) => {
            return slack_work::queue(
                env,
                &db,
                team_id,
                &format!("slk_{key}_nf"),
                &tell(&describe(&e)),
            )
            .await
        }
    };
    let outcome: Result<(), ApiError> = match click.action {
        Action::Approve => approve(env, &db, &caller, key, &click.user_id, &d.id, None)
            .await
            .map(drop),
        Action::Reject => reject(env, &db, &caller, key, &click.user_id, &d.id).await,
        Action::Rollback => match caller.require(Role::Deployer) {
            Ok(()) => {
                let job = Job::Rollback {
                    slack_user: click.user_id.clone(),
                    project: d.project.clone(),
                    environment: d.environment.clone(),
                    reason: Some(format!("Roll back button on deployment {}", d.id)),
                    response_url: click.response_url.clone(),
                    deployment_id: Some(d.id.clone()),
                };
                slack_work::queue(env, &db, team_id, &format!("slk_{key}_rb"), &job).await
            }
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(()) => Ok(()),
        // A refusal (a second click, a missing role) changes nothing: the user is told why.
        Err(e) => {
            let text = format!("Nothing was done: {}", describe(&e));
            slack_work::queue(env, &db, team_id, &format!("slk_{key}_no"), &tell(&text)).await
        }
    }
}

/// Reject: the deployment is cancelled (approver role), the message updated.
async fn reject(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    key: &str,
    slack_user: &str,
    deployment: &str,
) -> Result<(), ApiError> {
    caller.require(Role::Approver)?;
    let store = deployments_of(env, caller)?;
    let request = TransitionRequest {
        to: DeploymentStatus::Cancelled,
        detail: Some(serde_json::json!({ "rejected_in": "slack" })),
    };
    let current = load(db, &caller.team_id, deployment).await?;
    if current.status != DeploymentStatus::AwaitingApproval {
        return Err(ApiError::new(
            crate::api::ErrorCode::Conflict,
            format!(
                "deployment {deployment} is {}, not awaiting approval",
                current.status
            ),
        ));
    }
    service::transition(&store, &actor(caller), deployment, &request, now_ms()).await?;
    let job = Job::UpdateMessage {
        deployment_id: deployment.to_owned(),
        what: "Rejected (cancelled)".into(),
        slack_user: slack_user.to_owned(),
        actor: None,
    };
    slack_work::queue(env, db, &caller.team_id, &format!("slk_{key}_up"), &job).await
}
