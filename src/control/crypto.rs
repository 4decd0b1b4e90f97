//! Encryption at rest for team Cloudflare credentials: AES-256-GCM with a key from the Worker
//! secret `CLODO_ENCRYPTION_KEY` (32 bytes, base64), a fresh random 96-bit nonce per value,
//! and the team id as associated data so a ciphertext copied to another team's row fails.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// Version tag of the stored format, so the scheme can change without guessing.
const VERSION: &str = "v1.";
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "the encryption key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error("no random source: {0}")]
    Random(String),
    #[error("ciphertext is malformed or was not encrypted with this key for this team")]
    Undecryptable,
}

/// An AES-256-GCM cipher over the configured key.
pub struct CredentialCipher {
    cipher: Aes256Gcm,
}

impl CredentialCipher {
    /// Builds the cipher from the secret's text (standard or URL-safe base64).
    ///
    /// # Errors
    /// `BadKey` unless the text decodes to exactly 32 bytes.
    pub fn from_secret(secret: &str) -> Result<Self, CryptoError> {
        let secret = secret.trim();
        let key = STANDARD
            .decode(secret)
            .or_else(|_| URL_SAFE_NO_PAD.decode(secret))
            .map_err(|_| CryptoError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| CryptoError::BadKey)?;
        Ok(Self { cipher })
    }

    /// Encrypts `plaintext` for `team_id`: `v1.` + base64url(nonce ‖ ciphertext+tag).
    ///
    /// # Errors
    /// `Random` when no nonce can be drawn.
    pub fn encrypt(&self, team_id: &str, plaintext: &str) -> Result<String, CryptoError> {
        let nonce =
            super::random_bytes::<NONCE_LEN>().map_err(|e| CryptoError::Random(e.to_string()))?;
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: team_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts what `encrypt` produced for the same team.
    ///
    /// # Errors
    /// `Undecryptable` for a wrong key, wrong team, or tampered value.
    pub fn decrypt(&self, team_id: &str, stored: &str) -> Result<String, CryptoError> {
        let raw = stored
            .strip_prefix(VERSION)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(CryptoError::Undecryptable)?;
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: team_id.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let c = CredentialCipher::from_secret(KEY).unwrap();
        let a = c.encrypt("team-a", "cf-token-123").unwrap();
        let b = c.encrypt("team-a", "cf-token-123").unwrap();
        assert_ne!(a, b, "nonces must differ");
        assert!(!a.contains("cf-token-123"));
        assert_eq!(c.decrypt("team-a", &a).unwrap(), "cf-token-123");
    }

    #[test]
    fn wrong_team_wrong_key_or_tampering_fail() {
        let c = CredentialCipher::from_secret(KEY).unwrap();
        let a = c.encrypt("team-a", "secret").unwrap();
        assert_eq!(c.decrypt("team-b", &a), Err(CryptoError::Undecryptable));
        let other = CredentialCipher::from_secret(&STANDARD.encode([9u8; 32])).unwrap();
        assert_eq!(other.decrypt("team-a", &a), Err(CryptoError::Undecryptable));
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            c.decrypt("team-a", &tampered),
            Err(CryptoError::Undecryptable)
        );
        assert_eq!(c.decrypt("team-a", "v1."), Err(CryptoError::Undecryptable));
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(matches!(
            CredentialCipher::from_secret("c2hvcnQ="),
            Err(CryptoError::BadKey)
        ));
        assert!(matches!(
            CredentialCipher::from_secret("not base64"),
            Err(CryptoError::BadKey)
        ));
    }
}
