//! Cloudflare credentials of a team: API tokens stored encrypted (AES-256-GCM, the team id as
//! associated data) for rollouts and hosted assessments; the API shows their metadata only.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::{require_bootstrap_secret, Audit, Caller};
use super::db::{self, bad_request, now_ms};
use super::routes::AppState;
use super::teams::{team_list, valid_account_id};
use crate::api::contract::teams::{Credential, NewCredential, ReencryptReport};
use crate::api::{ApiError, JsonBody};
use crate::control::crypto::{CredentialCipher, CryptoError, Reencrypted, ENCRYPTED_COLUMNS};
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
        .route("/api/v1/credentials/reencrypt", post(reencrypt))
}

/// `GET /api/v1/credentials` (admin): metadata only; the ciphertext never leaves D1 through
/// the API.
const LIST_CREDENTIALS: &str = "SELECT id, account_id, name, created_by, created_at FROM cloudflare_credentials WHERE team_id = ?1 ORDER BY created_at, id";

/// A Worker secret (or, in local development, a var) by name.
fn secret_or_var(env: &worker::Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

/// The cipher of stored credentials, keyed by the Worker secret `CLODO_ENCRYPTION_KEY`; during
/// a key rotation `CLODO_ENCRYPTION_KEY_PREVIOUS` also decrypts (docs/operations.md).
pub(super) fn cipher(env: &worker::Env) -> Result<CredentialCipher, ApiError> {
    let key = secret_or_var(env, "CLODO_ENCRYPTION_KEY").ok_or_else(|| {
        ApiError::unavailable("credential storage is not configured")
            .with_hint("set a 32-byte base64 key: `openssl rand -base64 32 | wrangler secret put CLODO_ENCRYPTION_KEY`")
    })?;
    CredentialCipher::from_secret(&key)
        .map_err(|e| ApiError::internal(format!("CLODO_ENCRYPTION_KEY: {e}")))?;
    let previous = secret_or_var(env, "CLODO_ENCRYPTION_KEY_PREVIOUS");
    CredentialCipher::rotating(&key, previous.as_deref())
        .map_err(|e| ApiError::internal(format!("CLODO_ENCRYPTION_KEY_PREVIOUS: {e}")))
}

/// One encrypted value as `reencrypt` reads it.
#[derive(Deserialize)]
struct EncryptedRow {
    id: String,
    team_id: String,
    value: String,
}

/// `POST /api/v1/credentials/reencrypt` (operator, bootstrap secret): rewrites every stored
/// secret of every team that is under `CLODO_ENCRYPTION_KEY_PREVIOUS` under the current key.
/// Idempotent: values already under the current key are left alone, so a re-run (after a
/// timeout, or to check) rewrites nothing more. Each update is conditional on the value read,
/// so a secret replaced meanwhile by its owner is not overwritten with the old one.
#[worker::send]
async fn reencrypt(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ReencryptReport>, ApiError> {
    require_bootstrap_secret(&state.env, &headers)?;
    let cipher = cipher(&state.env)?;
    let db = db::db(&state.env)?;
    let mut report = ReencryptReport {
        rewritten: 0,
        current: 0,
        undecryptable: Vec::new(),
        previous_key_configured: cipher.has_previous(),
    };
    for c in ENCRYPTED_COLUMNS {
        // Table and column names come from the constant list, never from the request.
        let select = format!(
            "SELECT {key} AS id, team_id, {col} AS value FROM {table} WHERE {col} IS NOT NULL AND {col} != ''",
            key = c.key,
            col = c.column,
            table = c.table
        );
        let update = format!(
            "UPDATE {table} SET {col} = ?1 WHERE {key} = ?2 AND {col} = ?3",
            key = c.key,
            col = c.column,
            table = c.table
        );
        let rows: Vec<EncryptedRow> = db::all(Ok(db.prepare(&select))).await?;
        let mut writes = Vec::new();
        for row in rows {
            match cipher.reencrypt(&row.team_id, &row.value) {
                Ok(Reencrypted::Current) => report.current += 1,
                Ok(Reencrypted::Rewritten(new)) => {
                    writes.push(db.prepare(&update).bind(&[
                        new.into(),
                        row.id.into(),
                        row.value.into(),
                    ]));
                    report.rewritten += 1;
                }
                Err(CryptoError::Undecryptable) => report
                    .undecryptable
                    .push(format!("{}.{} {}", c.table, c.column, row.id)),
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        // Committed per chunk: a request cut short keeps what it did, and the re-run finds
        // those values current.
        while !writes.is_empty() {
            let rest = writes.split_off(writes.len().min(50));
            db::batch(&db, std::mem::replace(&mut writes, rest)).await?;
        }
    }
    Ok(Json(report))
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
