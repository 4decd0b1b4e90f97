//! Cloudflare credentials of a team: API tokens stored encrypted (AES-256-GCM, the team id as
//! associated data) for rollouts and hosted assessments; the API shows their metadata only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::json;

use super::auth::{Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use super::teams::{team_list, valid_account_id};
use crate::api::contract::teams::{Credential, NewCredential};
use crate::api::{ApiError, JsonBody};
use crate::control::crypto::CredentialCipher;
use crate::control::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/credentials",
            get(team_list::<Credential>(Role::Admin, LIST_CREDENTIALS)).post(create_credential),
        )
        .route(
            "/api/v1/credentials/{credential_id}",
            delete(delete_credential),
        )
}

/// `GET /api/v1/credentials` (admin): metadata only; the ciphertext never leaves D1 through
/// the API.
const LIST_CREDENTIALS: &str = "SELECT id, account_id, name, created_by, created_at FROM cloudflare_credentials WHERE team_id = ?1 ORDER BY created_at, id";

/// The cipher of stored credentials, keyed by the Worker secret `CLODO_ENCRYPTION_KEY`.
pub(super) fn cipher(env: &worker::Env) -> Result<CredentialCipher, ApiError> {
    let key = env
        .secret("CLODO_ENCRYPTION_KEY")
        .map(|s| s.to_string())
        .or_else(|_| env.var("CLODO_ENCRYPTION_KEY").map(|v| v.to_string()))
        .map_err(|_| {
            ApiError::unavailable("credential storage is not configured")
                .with_hint("set a 32-byte base64 key: `openssl rand -base64 32 | wrangler secret put CLODO_ENCRYPTION_KEY`")
        })?;
    CredentialCipher::from_secret(&key)
        .map_err(|e| ApiError::internal(format!("CLODO_ENCRYPTION_KEY: {e}")))
}

/// `POST /api/v1/credentials`: encrypts the token (AES-256-GCM, team id as associated data).
#[worker::send]
async fn create_credential(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewCredential>,
) -> Result<(StatusCode, Json<Credential>), ApiError> {
    caller.require(Role::Admin)?;
    if !valid_account_id(&body.account_id) {
        return Err(bad_request(
            "account_id must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    if body.api_token.is_empty()
        || body.api_token.len() > 1024
        || body.name.is_empty()
        || body.name.len() > 100
    {
        return Err(bad_request(
            "api_token (1-1024) and name (1-100) are required",
        ));
    }
    let ciphertext = cipher(&state.env)?
        .encrypt(&caller.team_id, &body.api_token)
        .map_err(ApiError::internal)?;
    let db = db::db(&state.env)?;
    let credential = Credential {
        id: db::new_id("cred"),
        account_id: body.account_id,
        name: body.name,
        created_by: caller.actor.clone(),
        created_at: now_ms(),
    };
    let insert = worker::query!(
        &db,
        "INSERT INTO cloudflare_credentials (id, team_id, account_id, name, ciphertext, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &credential.id,
        &caller.team_id,
        &credential.account_id,
        &credential.name,
        &ciphertext,
        &credential.created_by,
        &credential.created_at
    );
    let after = json!({ "account_id": credential.account_id, "name": credential.name });
    let entry = Audit::created("credential.create", ("credential", &credential.id), after);
    caller.commit(&db, insert, entry).await?;
    Ok((StatusCode::CREATED, Json(credential)))
}

/// `DELETE /api/v1/credentials/{credential_id}`: the delete and its audit entry are one batch
/// (the entry is written only if a row was deleted).
#[worker::send]
async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let db = db::db(&state.env)?;
    let delete = worker::query!(
        &db,
        "DELETE FROM cloudflare_credentials WHERE id = ?1 AND team_id = ?2",
        &id,
        &caller.team_id
    );
    let entry = Audit::removed("credential.delete", ("credential", &id));
    if !caller.commit_if_changed(&db, delete, entry).await? {
        return Err(db::not_found("credential", &id));
    }
    Ok(StatusCode::NO_CONTENT)
}
