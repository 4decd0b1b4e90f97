//! API tokens: `clodo_` + 43 base64url characters (32 random bytes). Only the SHA-256 hex of
//! the whole token is stored; lookups go by that hash and a constant-time compare guards the
//! final check, so neither storage nor timing reveals a token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Every token starts with this, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "clodo_";
/// Characters kept for display (`clodo_AbCd…`) so people can tell their tokens apart.
pub const DISPLAY_PREFIX_LEN: usize = 10;
const SECRET_BYTES: usize = 32;

/// Makes a token from 32 random bytes.
#[must_use]
pub fn format_token(secret: &[u8; SECRET_BYTES]) -> String {
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret))
}

/// A fresh random token.
///
/// # Errors
/// When the platform has no random source.
pub fn generate() -> Result<String, getrandom::Error> {
    Ok(format_token(&super::random_bytes::<SECRET_BYTES>()?))
}

/// Whether a string has the shape of a Clodo token (prefix and 32 bytes of base64url).
#[must_use]
pub fn well_formed(token: &str) -> bool {
    prefixed_secret(token, TOKEN_PREFIX)
}

/// Whether `text` is `prefix` followed by 32 bytes of base64url: the shape of every secret the
/// control plane hands out (API tokens, live tickets).
#[must_use]
pub fn prefixed_secret(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .and_then(|rest| URL_SAFE_NO_PAD.decode(rest).ok())
        .is_some_and(|bytes| bytes.len() == SECRET_BYTES)
}

/// SHA-256 of the token, lowercase hex: what the database stores.
#[must_use]
pub fn hash(token: &str) -> String {
    hex_lower(&Sha256::digest(token.as_bytes()))
}

/// The recognisable, non-secret start of a token.
#[must_use]
pub fn display_prefix(token: &str) -> String {
    token.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// Equality whose running time does not depend on where the inputs first differ.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a stored token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    #[error("the token was revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
}

/// Checks revocation and expiry at `now_ms`.
///
/// # Errors
/// `Revoked` once revoked (even before it would expire), `Expired` from `expires_at` on.
pub fn check_usable(
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    now_ms: i64,
) -> Result<(), TokenProblem> {
    if revoked_at.is_some_and(|at| at <= now_ms) {
        return Err(TokenProblem::Revoked);
    }
    if expires_at.is_some_and(|at| at <= now_ms) {
        return Err(TokenProblem::Expired);
    }
    Ok(())
}

/// Lowercase hex, shared with other hashing in the control plane.
#[must_use]
pub fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_unique() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.starts_with("clodo_"));
        assert_eq!(a.len(), 6 + 43);
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        assert!(!well_formed("clodo_short"));
        assert!(!well_formed(&format!("ghp_{}", "A".repeat(43))));
        assert!(!well_formed(&format!("clodo_{}", "!".repeat(43))));
    }

    #[test]
    fn hash_is_sha256_hex() {
        // echo -n abc | sha256sum
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let token = format_token(&[7; 32]);
        assert_eq!(hash(&token).len(), 64);
        assert!(!hash(&token).contains(&token[6..]));
    }

    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn expiry_and_revocation() {
        assert_eq!(check_usable(None, None, 10), Ok(()));
        assert_eq!(check_usable(Some(11), None, 10), Ok(()));
        assert_eq!(check_usable(Some(10), None, 10), Err(TokenProblem::Expired));
        assert_eq!(
            check_usable(Some(99), Some(5), 10),
            Err(TokenProblem::Revoked)
        );
    }

    #[test]
    fn display_prefix_hides_the_secret() {
        let t = format_token(&[1; 32]);
        assert_eq!(display_prefix(&t).len(), DISPLAY_PREFIX_LEN);
    }
}
