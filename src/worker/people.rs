//! The team's people: the one-time bootstrap and operator team creation (with the bootstrap
//! secret), `GET /api/v1/me`, API tokens and members. Answers are `api::contract::teams` types.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

use super::auth::{require_bootstrap_secret, Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use super::teams::team_list;
use crate::api::contract::teams::{
    BootstrapToken, Me, Member, MemberRemoved, NewMember, NewTeam, NewToken, TeamAdmin,
    TeamCreated, TeamSummary, Token, TokenCreated, TokenRevoked,
};
use crate::api::{ApiError, ErrorCode, JsonBody};
use crate::control::{token, valid_slug, Role};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/bootstrap", post(bootstrap))
        .route("/api/v1/teams", post(create_team))
        .route("/api/v1/me", get(me))
        .route(
            "/api/v1/tokens",
            get(team_list::<Token>(Role::Admin, LIST_TOKENS)).post(create_token),
        )
        .route("/api/v1/tokens/{token_id}", delete(revoke_token))
        .route(
            "/api/v1/members",
            get(team_list::<Member>(Role::Viewer, LIST_MEMBERS)).post(add_member),
        )
        .route("/api/v1/members/{member_id}", delete(remove_member))
}

/// `GET /api/v1/tokens` (admin): never the secrets, only their prefixes.
const LIST_TOKENS: &str =
    "SELECT t.id, t.name, t.prefix, t.role, m.email AS member_email, t.created_at, t.expires_at,
            t.revoked_at, t.last_used_at
     FROM api_tokens t LEFT JOIN members m ON m.id = t.member_id
     WHERE t.team_id = ?1 ORDER BY t.created_at, t.id";

/// `GET /api/v1/members`
const LIST_MEMBERS: &str = "SELECT id, email, name, role, created_at FROM members WHERE team_id = ?1 ORDER BY created_at, id";

fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && email.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !email.contains(char::is_whitespace)
        })
}

/// Creates a team, its admin member, an admin token and the audit entry in one D1 batch, so
/// a crash can never leave a team without its admin or its record. With `only_first`, the
/// team insert is conditional on there being no team at all, inside the same statement, so
/// two racing bootstrap calls cannot both succeed; the later inserts are conditional on the
/// team row this batch wrote.
async fn make_team(
    env: &worker::Env,
    body: NewTeam,
    only_first: bool,
) -> Result<(StatusCode, Json<TeamCreated>), ApiError> {
    if !valid_slug(&body.slug) {
        return Err(bad_request(
            "slug must be 1-64 lowercase letters, digits or '-'",
        ));
    }
    if !valid_email(&body.admin_email) {
        return Err(bad_request("admin_email is not an email address"));
    }
    if body.name.is_empty() || body.name.len() > 200 {
        return Err(bad_request("name must be 1-200 characters"));
    }
    let db = db::db(env)?;
    let now = now_ms();
    let team_id = db::new_id("team");
    let guard = if only_first {
        "NOT EXISTS (SELECT 1 FROM teams)"
    } else {
        "1"
    };
    let member_id = db::new_id("mem");
    let token_id = db::new_id("tok");
    let secret = token::generate().map_err(ApiError::internal)?;
    let actor = format!("member:{}", body.admin_email);
    let created = json!({ "slug": body.slug, "name": body.name, "admin": body.admin_email });
    let created_text = created.to_string();
    let results = db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                &format!(
                    "INSERT INTO teams (id, slug, name, created_at) SELECT ?1, ?2, ?3, ?4 WHERE {guard}"
                ),
                &team_id,
                &body.slug,
                &body.name,
                &now
            ),
            worker::query!(
                &db,
                "INSERT INTO members (id, team_id, email, name, role, created_at)
                 SELECT ?1, ?2, ?3, NULL, 'admin', ?4 WHERE EXISTS (SELECT 1 FROM teams WHERE id = ?2)",
                &member_id,
                &team_id,
                &body.admin_email,
                &now
            ),
            worker::query!(
                &db,
                "INSERT INTO api_tokens (id, team_id, member_id, name, prefix, secret_hash, role, created_at, created_by_member_id)
                 SELECT ?1, ?2, ?3, 'bootstrap', ?4, ?5, 'admin', ?6, ?3 WHERE EXISTS (SELECT 1 FROM teams WHERE id = ?2)",
                &token_id,
                &team_id,
                &member_id,
                &token::display_prefix(&secret),
                &token::hash(&secret),
                &now
            ),
            worker::query!(
                &db,
                "INSERT INTO audit_log (team_id, at, actor, action, target_type, target_id, before_json, after_json)
                 SELECT ?1, ?2, 'operator:bootstrap', 'team.create', 'team', ?1, NULL, ?3
                 WHERE EXISTS (SELECT 1 FROM teams WHERE id = ?1)",
                &team_id,
                &now,
                &created_text
            ),
        ],
    )
    .await?;
    if db::changes(&results, 0) == 0 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this deployment is already bootstrapped",
        )
        .with_hint(
            "use an admin token of the first team, or POST /api/v1/teams with the bootstrap secret",
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(TeamCreated {
            team: TeamSummary {
                id: team_id,
                slug: body.slug,
                name: body.name,
            },
            member: TeamAdmin {
                id: member_id,
                email: body.admin_email,
                role: Role::Admin,
            },
            token: BootstrapToken {
                id: token_id,
                role: Role::Admin,
                secret,
                note: "shown once; store it now (e.g. `clodo login`)".into(),
            },
            actor,
        }),
    ))
}

/// `POST /api/v1/bootstrap`: the first team and its admin token, once per deployment.
#[worker::send]
async fn bootstrap(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewTeam>,
) -> Result<(StatusCode, Json<TeamCreated>), ApiError> {
    require_bootstrap_secret(&state.env, &headers)?;
    make_team(&state.env, body, true).await
}

/// `POST /api/v1/teams`: another team, for the operator holding the bootstrap secret.
#[worker::send]
async fn create_team(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewTeam>,
) -> Result<(StatusCode, Json<TeamCreated>), ApiError> {
    require_bootstrap_secret(&state.env, &headers)?;
    make_team(&state.env, body, false).await
}

/// `GET /api/v1/me`
async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        team_id: caller.team_id,
        token_id: caller.token_id,
        actor: caller.actor,
        role: caller.role,
    })
}

/// `POST /api/v1/tokens`: a new token, its secret in this answer only. The token records the
/// member whose token created it, so removing that member revokes it too.
#[worker::send]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    caller.require(Role::Admin)?;
    if body.name.is_empty() || body.name.len() > 100 {
        return Err(bad_request("name must be 1-100 characters"));
    }
    if body.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(bad_request("expires_in_days must be 1-3650"));
    }
    let db = db::db(&state.env)?;
    let member = match &body.member_email {
        Some(email) => {
            let m = db::first::<Member>(worker::query!(
                &db,
                "SELECT id, email, name, role, created_at FROM members WHERE team_id = ?1 AND lower(email) = lower(?2)",
                &caller.team_id,
                email
            ))
            .await?
            .ok_or_else(|| db::not_found("member", email))?;
            // A token never grants more than the person it acts for.
            if body.role > m.role {
                return Err(bad_request(format!(
                    "a token for {email} can have at most their role, {}",
                    m.role
                )));
            }
            Some(m)
        }
        None => None,
    };
    let now = now_ms();
    let expires_at = body
        .expires_in_days
        .map(|d| now + i64::from(d) * 86_400_000);
    let id = db::new_id("tok");
    let secret = token::generate().map_err(ApiError::internal)?;
    let member_id = member.as_ref().map(|m| m.id.clone());
    let after = json!({ "name": body.name, "role": body.role, "member": body.member_email, "expires_at": expires_at });
    db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                "INSERT INTO api_tokens (id, team_id, member_id, name, prefix, secret_hash, role, created_at, expires_at, created_by_member_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                &id,
                &caller.team_id,
                &member_id,
                &body.name,
                &token::display_prefix(&secret),
                &token::hash(&secret),
                &body.role.as_str(),
                &now,
                &expires_at,
                &caller.member_id
            ),
            caller.audit(&db, &Audit::created("token.create", ("token", &id), after)),
        ],
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id,
            name: body.name,
            role: body.role,
            member_email: body.member_email,
            expires_at,
            secret,
            note: "shown once; Clodo keeps only a hash".into(),
        }),
    ))
}

/// `DELETE /api/v1/tokens/{token_id}`: revokes (the row stays for the audit trail). The
/// revocation and its audit entry are one batch.
#[worker::send]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<Json<TokenRevoked>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let now = now_ms();
    let revoke = worker::query!(
        &db,
        "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND team_id = ?3 AND revoked_at IS NULL",
        &now,
        &token_id,
        &caller.team_id
    );
    let entry = Audit::changed(
        "token.revoke",
        ("token", &token_id),
        None,
        json!({ "revoked_at": now }),
    );
    if !caller.commit_if_changed(&db, revoke, entry).await? {
        return Err(db::not_found("active token", &token_id));
    }
    Ok(Json(TokenRevoked {
        id: token_id,
        revoked_at: now,
    }))
}

/// `POST /api/v1/members`
#[worker::send]
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewMember>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    caller.require(Role::Admin)?;
    if !valid_email(&body.email) {
        return Err(bad_request("email is not an email address"));
    }
    let db = db::db(&state.env)?;
    let id = db::new_id("mem");
    let now = now_ms();
    let after = json!({ "email": body.email, "role": body.role });
    // Emails name people case-insensitively: `Ann@x` and `ann@x` are one person, so a second
    // member with the same address in another case (a way to approve one's own deploy) is
    // refused inside the insert itself.
    let insert = worker::query!(
        &db,
        "INSERT INTO members (id, team_id, email, name, role, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6
         WHERE NOT EXISTS (SELECT 1 FROM members WHERE team_id = ?2 AND lower(email) = lower(?3))",
        &id,
        &caller.team_id,
        &body.email,
        &body.name,
        &body.role.as_str(),
        &now
    );
    if !caller
        .commit_if_changed(
            &db,
            insert,
            Audit::created("member.add", ("member", &id), after),
        )
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{} is already a member of this team (emails are compared without case)",
                body.email
            ),
        )
        .with_hint("GET /api/v1/members lists the team's people"));
    }
    Ok((
        StatusCode::CREATED,
        Json(Member {
            id,
            email: body.email,
            name: body.name,
            role: body.role,
            created_at: now,
        }),
    ))
}

/// `DELETE /api/v1/members/{member_id}`: removes a member and, in the same batch, revokes
/// their tokens and every token they created (the foreign key would only clear `member_id`,
/// and a token they minted for CI would outlive them). An admin cannot remove themselves, and
/// the team's last admin member cannot be removed: the guard is part of each statement, so
/// two admins removing each other at once cannot leave the team without one.
#[worker::send]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(member_id): Path<String>,
) -> Result<Json<MemberRemoved>, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let member = db::first::<Member>(worker::query!(
        &db,
        "SELECT id, email, name, role, created_at FROM members WHERE team_id = ?1 AND id = ?2",
        &caller.team_id,
        &member_id
    ))
    .await?
    .ok_or_else(|| db::not_found("member", &member_id))?;
    if caller.member_id.as_deref() == Some(member.id.as_str()) {
        return Err(
            bad_request("you cannot remove yourself").with_hint("another admin can remove you")
        );
    }
    let now = now_ms();
    let before = json!({ "email": member.email, "role": member.role });
    let before_text = before.to_string();
    // True while removing this member leaves the team at least one admin member.
    const KEEPS_AN_ADMIN: &str =
        "((SELECT role FROM members WHERE id = ?2 AND team_id = ?1) != 'admin'
          OR (SELECT COUNT(*) FROM members WHERE team_id = ?1 AND role = 'admin') > 1)";
    let results = db::batch(
        &db,
        vec![
            worker::query!(
                &db,
                &format!(
                    "UPDATE api_tokens SET revoked_at = ?3
                     WHERE team_id = ?1 AND (member_id = ?2 OR created_by_member_id = ?2)
                       AND revoked_at IS NULL AND {KEEPS_AN_ADMIN}"
                ),
                &caller.team_id,
                &member.id,
                &now
            ),
            worker::query!(
                &db,
                &format!(
                    "INSERT INTO audit_log (team_id, at, actor, action, target_type, target_id, before_json, after_json)
                     SELECT ?1, ?3, ?4, 'member.remove', 'member', ?2, ?5, NULL
                     WHERE EXISTS (SELECT 1 FROM members WHERE id = ?2 AND team_id = ?1) AND {KEEPS_AN_ADMIN}"
                ),
                &caller.team_id,
                &member.id,
                &now,
                &caller.actor,
                &before_text
            ),
            worker::query!(
                &db,
                &format!("DELETE FROM members WHERE team_id = ?1 AND id = ?2 AND {KEEPS_AN_ADMIN}"),
                &caller.team_id,
                &member.id
            ),
        ],
    )
    .await?;
    if db::changes(&results, 2) == 0 {
        if member.role == Role::Admin {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "{} is the team's last admin and cannot be removed",
                    member.email
                ),
            )
            .with_hint("add another admin member first (POST /api/v1/members with role admin)"));
        }
        return Err(db::not_found("member", &member_id));
    }
    Ok(Json(MemberRemoved {
        id: member.id,
        removed_at: now,
        tokens_revoked: true,
    }))
}
