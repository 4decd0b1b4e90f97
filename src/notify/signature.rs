//! Standard Webhooks v1 signatures (HMAC-SHA256): what a webhook channel's deliveries carry
//! and what a receiver checks. Signed content is `{webhook-id}.{webhook-timestamp}.{body}`;
//! the header is `v1,<base64 signature>` (space-separated when several keys sign); secrets are
//! `whsec_` + base64 of 24-64 random bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// How far a receiver lets a timestamp stray from its clock (the spec's libraries use 5 min).
pub const TOLERANCE_SECS: i64 = 300;

/// A secret's display form for random bytes.
#[must_use]
pub fn encode_secret(bytes: &[u8]) -> String {
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_` secret (the prefix may be left out).
///
/// # Errors
/// Not base64, or fewer than 24 or more than 64 bytes.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let text = secret.trim();
    let text = text.strip_prefix(PREFIX).unwrap_or(text);
    let key = STANDARD
        .decode(text)
        .map_err(|_| "must be `whsec_` followed by base64".to_owned())?;
    if !(24..=64).contains(&key.len()) {
        return Err(format!(
            "must hold 24 to 64 bytes (this one holds {}); e.g. `whsec_$(openssl rand -base64 32)`",
            key.len()
        ));
    }
    Ok(key)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The `webhook-signature` value for one key.
#[must_use]
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let tag = mac(key, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the webhook-timestamp is not within {TOLERANCE_SECS} s of now")]
    Stale,
    #[error("no v1 signature in webhook-signature matches")]
    NoMatch,
}

/// Checks a delivery the way a receiver should: the timestamp within `TOLERANCE_SECS` of
/// `now_secs`, then any `v1,` entry of the header matching (constant-time) the body.
///
/// # Errors
/// `Stale` or `NoMatch`.
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: i64,
    header: &str,
    body: &str,
    now_secs: i64,
) -> Result<(), VerifyError> {
    if (now_secs - timestamp).abs() > TOLERANCE_SECS {
        return Err(VerifyError::Stale);
    }
    let matches = header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|tag| mac(key, id, timestamp, body).verify_slice(&tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}
