//! The token a GitHub job calls the API with: the integration's plain token, or, for a GitHub
//! App, an installation token minted with a JWT signed by the App's key
//! (`integrations::github::app`) and cached encrypted in D1 until five minutes before it
//! expires, so most jobs sign nothing and make no extra call.

use worker::Env;

use super::cf_fetch::FetchTransport;
use super::db::{self, now_ms};
use super::github::IntegrationRow;
use super::github_work::Failure;
use super::teams::cipher;
use crate::integrations::github::app::{AppKey, InstallationToken};
use crate::integrations::github::client;

/// The token and whether it came from the cache (a cached one GitHub refuses is renewed once).
/// `renew` mints a new installation token whatever the cache holds.
pub(super) async fn token_of(
    env: &Env,
    row: &IntegrationRow,
    renew: bool,
) -> Result<(String, bool), Failure> {
    let cipher = cipher(env)?;
    let (Some(app_id), Some(installation_id), Some(key)) =
        (row.app_id, row.installation_id, &row.app_key_ciphertext)
    else {
        let token = cipher
            .decrypt(&row.team_id, &row.token_ciphertext)
            .map_err(|e| Failure::Permanent(format!("stored GitHub token: {e}")))?;
        return Ok((token, false));
    };
    if !renew {
        if let (Some(cached), Some(expires_at)) = (
            &row.installation_token_ciphertext,
            row.installation_token_expires_at,
        ) {
            if InstallationToken::fresh_at(expires_at, now_ms()) {
                if let Ok(token) = cipher.decrypt(&row.team_id, cached) {
                    return Ok((token, true));
                }
            }
        }
    }
    let pem = cipher
        .decrypt(&row.team_id, key)
        .map_err(|e| Failure::Permanent(format!("stored GitHub App key: {e}")))?;
    let key = AppKey::from_pem(&pem).map_err(|e| Failure::Permanent(e.to_string()))?;
    let (app_id, installation_id) = (
        u64::try_from(app_id).map_err(|e| Failure::Permanent(e.to_string()))?,
        u64::try_from(installation_id).map_err(|e| Failure::Permanent(e.to_string()))?,
    );
    let jwt = key.jwt(app_id, chrono::Utc::now());
    let minted =
        client::installation_token(&FetchTransport, &row.api_base_url, installation_id, &jwt)
            .await?;
    let sealed = cipher
        .encrypt(&row.team_id, &minted.token)
        .map_err(|e| Failure::Permanent(e.to_string()))?;
    // Kept only while the settings it was minted for are the stored ones.
    let db = db::db(env)?;
    db::run(worker::query!(
        &db,
        "UPDATE github_integrations SET installation_token_ciphertext = ?1, installation_token_expires_at = ?2
         WHERE project_id = ?3 AND updated_at = ?4",
        &sealed,
        &minted.expires_at,
        &row.project_id,
        &row.updated_at
    ))
    .await?;
    Ok((minted.token, false))
}
