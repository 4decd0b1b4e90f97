//! Encryption at rest for team Cloudflare credentials: AES-256-GCM with a key from the Worker
//! secret `CLODO_ENCRYPTION_KEY` (32 bytes, base64), a fresh random 96-bit nonce per value,
//! and the team id as associated data so a ciphertext copied to another team's row fails.
//!
//! Key rotation (docs/operations.md): while `CLODO_ENCRYPTION_KEY_PREVIOUS` holds the old key,
//! values are decrypted with the current key and then the previous one, new values are always
//! encrypted with the current key, and `reencrypt` rewrites a stored value under the current
//! key (nothing to do when it already is, so a re-run changes nothing).

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

/// An AES-256-GCM cipher over the configured key, and the key it replaces during a rotation.
pub struct CredentialCipher {
    cipher: Aes256Gcm,
    previous: Option<Aes256Gcm>,
}

/// A D1 column holding values encrypted by `CredentialCipher` (the row's `team_id` is their
/// associated data): what a re-encryption after a key rotation walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedColumn {
    pub table: &'static str,
    /// The row's primary key column.
    pub key: &'static str,
    pub column: &'static str,
}

const fn col(table: &'static str, key: &'static str, column: &'static str) -> EncryptedColumn {
    EncryptedColumn { table, key, column }
}

/// Every encrypted column of the schema (migrations/); a unit test fails when a migration adds
/// a `*ciphertext*` column that is not listed, so a rotation never leaves one behind.
pub const ENCRYPTED_COLUMNS: &[EncryptedColumn] = &[
    col("cloudflare_credentials", "id", "ciphertext"),
    col("notification_channels", "id", "secret"),
    col("github_integrations", "project_id", "secret_ciphertext"),
    col("github_integrations", "project_id", "token_ciphertext"),
    col("github_integrations", "project_id", "app_key_ciphertext"),
    col(
        "github_integrations",
        "project_id",
        "installation_token_ciphertext",
    ),
    col("slack_apps", "team_id", "signing_secret_ciphertext"),
    col("slack_apps", "team_id", "bot_token_ciphertext"),
];

/// What `reencrypt` found for one stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reencrypted {
    /// Already under the current key: left as it is.
    Current,
    /// Was under the previous key: the new ciphertext to store.
    Rewritten(String),
}

fn key_cipher(secret: &str) -> Result<Aes256Gcm, CryptoError> {
    let secret = secret.trim();
    let key = STANDARD
        .decode(secret)
        .or_else(|_| URL_SAFE_NO_PAD.decode(secret))
        .map_err(|_| CryptoError::BadKey)?;
    Aes256Gcm::new_from_slice(&key).map_err(|_| CryptoError::BadKey)
}

/// Decrypts `stored` with one key (the format check included).
fn open(cipher: &Aes256Gcm, team_id: &str, stored: &str) -> Result<String, CryptoError> {
    let raw = stored
        .strip_prefix(VERSION)
        .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
        .filter(|raw| raw.len() > NONCE_LEN)
        .ok_or(CryptoError::Undecryptable)?;
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let plain = cipher
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

impl CredentialCipher {
    /// Builds the cipher from the secret's text (standard or URL-safe base64).
    ///
    /// # Errors
    /// `BadKey` unless the text decodes to exactly 32 bytes.
    pub fn from_secret(secret: &str) -> Result<Self, CryptoError> {
        Ok(Self {
            cipher: key_cipher(secret)?,
            previous: None,
        })
    }

    /// The cipher of a rotation: `current` encrypts and is tried first, `previous` (the key
    /// being retired) only decrypts. An empty `previous` is treated as absent.
    ///
    /// # Errors
    /// `BadKey` when either key is not 32 bytes of base64 (the caller names which).
    pub fn rotating(current: &str, previous: Option<&str>) -> Result<Self, CryptoError> {
        let previous = match previous.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(key_cipher(p)?),
            None => None,
        };
        Ok(Self {
            cipher: key_cipher(current)?,
            previous,
        })
    }

    /// Whether a previous key is configured (a rotation is under way).
    #[must_use]
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
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

    /// Decrypts what `encrypt` produced for the same team, under the current key or, during a
    /// rotation, the previous one.
    ///
    /// # Errors
    /// `Undecryptable` for a wrong key, wrong team, or tampered value.
    pub fn decrypt(&self, team_id: &str, stored: &str) -> Result<String, CryptoError> {
        open(&self.cipher, team_id, stored).or_else(|e| match &self.previous {
            Some(previous) => open(previous, team_id, stored),
            None => Err(e),
        })
    }

    /// Rewrites a stored value under the current key: `Current` when it already is (a second
    /// run finds nothing to do), `Rewritten` with the new ciphertext when it was under the
    /// previous key.
    ///
    /// # Errors
    /// `Undecryptable` when neither key opens it (it stays as it is; the caller reports it),
    /// `Random` when no nonce can be drawn.
    pub fn reencrypt(&self, team_id: &str, stored: &str) -> Result<Reencrypted, CryptoError> {
        if open(&self.cipher, team_id, stored).is_ok() {
            return Ok(Reencrypted::Current);
        }
        let previous = self.previous.as_ref().ok_or(CryptoError::Undecryptable)?;
        let plain = open(previous, team_id, stored)?;
        self.encrypt(team_id, &plain).map(Reencrypted::Rewritten)
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

    const OLD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const NEW: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn a_rotation_reads_old_values_and_writes_new_ones() {
        let old = CredentialCipher::from_secret(OLD).unwrap();
        let stored = old.encrypt("team-a", "cf-token").unwrap();
        // The new key alone cannot read what the old one wrote: that is what rotation solves.
        let new_only = CredentialCipher::from_secret(NEW).unwrap();
        assert_eq!(
            new_only.decrypt("team-a", &stored),
            Err(CryptoError::Undecryptable)
        );
        let rotating = CredentialCipher::rotating(NEW, Some(OLD)).unwrap();
        assert!(rotating.has_previous());
        assert_eq!(rotating.decrypt("team-a", &stored).unwrap(), "cf-token");
        // New values are under the new key: readable without the previous one.
        let fresh = rotating.encrypt("team-a", "another").unwrap();
        assert_eq!(new_only.decrypt("team-a", &fresh).unwrap(), "another");
        // The previous key still binds the team.
        assert_eq!(
            rotating.decrypt("team-b", &stored),
            Err(CryptoError::Undecryptable)
        );
    }

    #[test]
    fn reencrypting_moves_a_value_to_the_current_key_once() {
        let old = CredentialCipher::from_secret(OLD).unwrap();
        let stored = old.encrypt("team-a", "bot-token").unwrap();
        let rotating = CredentialCipher::rotating(NEW, Some(OLD)).unwrap();
        let Reencrypted::Rewritten(moved) = rotating.reencrypt("team-a", &stored).unwrap() else {
            panic!("a value under the previous key is rewritten");
        };
        // After the rewrite the previous key can go: the new key alone reads it.
        let new_only = CredentialCipher::from_secret(NEW).unwrap();
        assert_eq!(new_only.decrypt("team-a", &moved).unwrap(), "bot-token");
        // Idempotent: a second pass finds it current and changes nothing.
        assert_eq!(
            rotating.reencrypt("team-a", &moved).unwrap(),
            Reencrypted::Current
        );
        assert_eq!(
            new_only.reencrypt("team-a", &moved).unwrap(),
            Reencrypted::Current
        );
        // Neither key, or no previous key configured: reported, not guessed.
        assert_eq!(
            new_only.reencrypt("team-a", &stored),
            Err(CryptoError::Undecryptable)
        );
        let stranger = CredentialCipher::from_secret(&STANDARD.encode([7u8; 32])).unwrap();
        let foreign = stranger.encrypt("team-a", "x").unwrap();
        assert_eq!(
            rotating.reencrypt("team-a", &foreign),
            Err(CryptoError::Undecryptable)
        );
    }

    #[test]
    fn a_rotation_needs_two_valid_keys() {
        assert!(matches!(
            CredentialCipher::rotating(NEW, Some("c2hvcnQ=")),
            Err(CryptoError::BadKey)
        ));
        assert!(matches!(
            CredentialCipher::rotating("short", Some(OLD)),
            Err(CryptoError::BadKey)
        ));
        // An empty previous key (a secret set to "") means no rotation.
        assert!(!CredentialCipher::rotating(NEW, Some("  "))
            .unwrap()
            .has_previous());
        assert!(!CredentialCipher::rotating(NEW, None)
            .unwrap()
            .has_previous());
    }

    #[test]
    fn every_encrypted_column_of_the_migrations_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut table = String::new();
            for line in text.lines() {
                let line = line.trim();
                let words: Vec<&str> = line.split_whitespace().collect();
                if line.starts_with("--") {
                    continue;
                }
                if let ["CREATE", "TABLE", name, ..] = words.as_slice() {
                    table = name.trim_end_matches('(').to_owned();
                } else if let ["ALTER", "TABLE", name, "ADD", "COLUMN", column, ..] =
                    words.as_slice()
                {
                    if column.contains("ciphertext") {
                        found.push(format!("{name}.{column}"));
                    }
                } else if let [column, "TEXT", ..] = words.as_slice() {
                    // notification_channels keeps its ciphertext in `secret`.
                    if column.contains("ciphertext")
                        || (table == "notification_channels" && *column == "secret")
                    {
                        found.push(format!("{table}.{column}"));
                    }
                }
            }
        }
        let listed: Vec<String> = ENCRYPTED_COLUMNS
            .iter()
            .map(|c| format!("{}.{}", c.table, c.column))
            .collect();
        assert!(found.len() >= 7, "only {found:?}: is the scan broken?");
        for f in &found {
            assert!(
                listed.contains(f),
                "{f} is encrypted but not in ENCRYPTED_COLUMNS"
            );
        }
        for l in &listed {
            assert!(
                found.contains(l),
                "{l} is listed but no migration creates it"
            );
        }
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
