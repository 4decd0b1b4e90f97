//! Pages direct-upload assets: the upload JWT (`GET …/pages/projects/{p}/upload-token`) and the
//! `/pages/assets/*` endpoints it authorises, over a content-addressed store of asset files
//! (one file per hash, per account, plus its content type).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{no_route, ApiRequest, Reply};
use crate::error::SandboxError;
use crate::files::Files;
use crate::state::{hex_id, Store};

/// How long an upload token is valid; wrangler fetches a new one on 8000013 or once expired.
const TOKEN_LIFETIME_SECS: i64 = 30 * 60;
/// The file-count claim wrangler reads from the token (its own default too).
pub const MAX_FILE_COUNT: usize = 20_000;
/// The largest asset Pages accepts (wrangler refuses bigger files before uploading).
const MAX_ASSET_BYTES: usize = 25 * 1024 * 1024;
/// The asset upload body: 40 MiB batches, base64 plus JSON overhead.
pub const ASSET_UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// Who an issued upload token is for.
#[derive(Debug, Clone)]
struct Grant {
    account_id: String,
    expires_at: i64,
}

/// The upload tokens this sandbox issued (the server's record is the authority, not the
/// token's claims). Kept in memory: after a restart wrangler gets 8000013 and fetches a new one.
#[derive(Default)]
pub struct UploadGrants(Mutex<HashMap<String, Grant>>);

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl UploadGrants {
    /// Mints a JWT-shaped token (`header.claims.signature`; wrangler decodes the claims for
    /// `max_file_count_allowed` and `exp`) and records it for `account_id`.
    pub fn issue(&self, account_id: &str, project: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let expires_at = now + TOKEN_LIFETIME_SECS;
        let header = json!({ "alg": "HS256", "typ": "JWT" });
        let claims = json!({
            "account_id": account_id,
            "project_name": project,
            "max_file_count_allowed": MAX_FILE_COUNT,
            "iat": now,
            "exp": expires_at,
            "jti": hex_id(),
        });
        let token = format!(
            "{}.{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes()),
            b64url(hex_id().as_bytes())
        );
        let mut grants = self.0.lock().unwrap_or_else(|e| e.into_inner());
        grants.retain(|_, g| g.expires_at > now);
        grants.insert(
            token.clone(),
            Grant {
                account_id: account_id.to_string(),
                expires_at,
            },
        );
        token
    }

    /// The account a `Bearer` upload token was issued for; 8000013 when unknown or expired.
    fn account_of(&self, header: Option<&str>) -> Result<String, SandboxError> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let grants = self.0.lock().unwrap_or_else(|e| e.into_inner());
        grants
            .get(token)
            .filter(|g| g.expires_at > chrono::Utc::now().timestamp())
            .map(|g| g.account_id.clone())
            .ok_or_else(|| {
                SandboxError::rejected(
                    401,
                    8000013,
                    "Authorization failed: invalid or expired upload JWT",
                )
            })
    }
}

/// An asset hash as wrangler computes it: 32 lowercase hex digits (also keeps paths safe).
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == 32
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn invalid_hash(hash: &str) -> SandboxError {
    SandboxError::BadRequest(format!(
        "Invalid asset hash {hash:?}: expected 32 lowercase hex digits"
    ))
}

fn asset_dir(files: &Files, account_id: &str) -> PathBuf {
    files.pages_assets_dir().join(account_id)
}

/// Whether the account's store holds this asset.
pub fn has_asset(files: &Files, account_id: &str, hash: &str) -> bool {
    valid_hash(hash) && asset_dir(files, account_id).join(hash).exists()
}

/// An asset's bytes and content type.
pub fn read_asset(files: &Files, account_id: &str, hash: &str) -> Option<(Vec<u8>, String)> {
    if !valid_hash(hash) {
        return None;
    }
    let dir = asset_dir(files, account_id);
    let body = std::fs::read(dir.join(hash)).ok()?;
    let content_type = std::fs::read_to_string(dir.join(format!("{hash}.type")))
        .unwrap_or_else(|_| "application/octet-stream".into());
    Some((body, content_type))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    let persist = |e: std::io::Error| SandboxError::Persist(format!("{}: {e}", path.display()));
    let tmp = path.with_extension(format!("tmp-{}", hex_id()));
    std::fs::write(&tmp, bytes).map_err(persist)?;
    std::fs::rename(&tmp, path).map_err(persist)
}

#[derive(Deserialize)]
struct Hashes {
    hashes: Vec<String>,
}

#[derive(Deserialize)]
struct UploadMetadata {
    #[serde(rename = "contentType", default)]
    content_type: Option<String>,
}

#[derive(Deserialize)]
struct UploadEntry {
    key: String,
    value: String,
    #[serde(default)]
    metadata: Option<UploadMetadata>,
    #[serde(default)]
    base64: bool,
}

fn parse_json<T: serde::de::DeserializeOwned>(
    req: &ApiRequest,
    limit: usize,
) -> Result<T, SandboxError> {
    if req.body.len() > limit {
        return Err(SandboxError::BodyTooLarge { limit, code: 10026 });
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| SandboxError::BadRequest(format!("invalid JSON body: {e}")))
}

/// `/pages/assets/{check-missing,upload,upsert-hashes}`, authorised by an upload token.
pub async fn handle(store: &Store, req: &ApiRequest, rest: &[&str]) -> Result<Reply, SandboxError> {
    let files = &store.files;
    let account = files.pages_grants.account_of(req.header("authorization"))?;
    let dir = asset_dir(files, &account);
    match (req.method.as_str(), rest) {
        ("POST", ["check-missing"]) => {
            let body: Hashes = parse_json(req, crate::api::JSON_BODY_LIMIT)?;
            if let Some(bad) = body.hashes.iter().find(|h| !valid_hash(h)) {
                return Err(invalid_hash(bad));
            }
            let missing: Vec<&String> = body
                .hashes
                .iter()
                .filter(|h| !dir.join(h.as_str()).exists())
                .collect();
            Ok(Reply::ok(json!(missing)))
        }
        ("POST", ["upload"]) => {
            let entries: Vec<UploadEntry> = parse_json(req, ASSET_UPLOAD_LIMIT)?;
            let mut decoded = Vec::with_capacity(entries.len());
            for entry in &entries {
                if !valid_hash(&entry.key) {
                    return Err(invalid_hash(&entry.key));
                }
                let bytes = if entry.base64 {
                    base64::engine::general_purpose::STANDARD
                        .decode(entry.value.as_bytes())
                        .map_err(|e| {
                            SandboxError::BadRequest(format!(
                                "asset {}: invalid base64: {e}",
                                entry.key
                            ))
                        })?
                } else {
                    entry.value.clone().into_bytes()
                };
                if bytes.len() > MAX_ASSET_BYTES {
                    return Err(SandboxError::BadRequest(format!(
                        "asset {} is over the 25 MiB limit",
                        entry.key
                    )));
                }
                decoded.push(bytes);
            }
            std::fs::create_dir_all(&dir)
                .map_err(|e| SandboxError::Persist(format!("{}: {e}", dir.display())))?;
            for (entry, bytes) in entries.iter().zip(decoded) {
                let content_type = entry
                    .metadata
                    .as_ref()
                    .and_then(|m| m.content_type.clone())
                    .unwrap_or_else(|| "application/octet-stream".into());
                write_file(
                    &dir.join(format!("{}.type", entry.key)),
                    content_type.as_bytes(),
                )?;
                write_file(&dir.join(&entry.key), &bytes)?;
            }
            Ok(Reply::ok(
                json!({ "successful_key_count": entries.len(), "unsuccessful_keys": [] }),
            ))
        }
        ("POST", ["upsert-hashes"]) => {
            let body: Hashes = parse_json(req, crate::api::JSON_BODY_LIMIT)?;
            if let Some(bad) = body.hashes.iter().find(|h| !valid_hash(h)) {
                return Err(invalid_hash(bad));
            }
            if let Some(missing) = body.hashes.iter().find(|h| !dir.join(h.as_str()).exists()) {
                return Err(SandboxError::BadRequest(format!(
                    "asset {missing} was never uploaded"
                )));
            }
            Ok(Reply::ok(Value::Bool(true)))
        }
        _ => Err(no_route(req)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_jwt_shaped_and_only_issued_ones_pass() {
        let grants = UploadGrants::default();
        let token = grants.issue("acc", "site");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["max_file_count_allowed"], MAX_FILE_COUNT);
        assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
        assert_eq!(
            grants.account_of(Some(&format!("Bearer {token}"))).unwrap(),
            "acc"
        );
        let forged = format!("{}.{}.{}", parts[0], parts[1], "AAAA");
        let err = grants
            .account_of(Some(&format!("Bearer {forged}")))
            .unwrap_err();
        assert_eq!(err.envelope()["errors"][0]["code"], 8000013);
        assert!(grants.account_of(None).is_err());
    }

    #[test]
    fn hashes_are_32_lowercase_hex() {
        assert!(valid_hash("2082190357cfd3617ccfe04f340c6247"));
        assert!(!valid_hash("2082190357CFD3617CCFE04F340C6247"));
        assert!(!valid_hash("../../etc/passwd"));
        assert!(!valid_hash("2082190357cfd3617ccfe04f340c624"));
    }
}
