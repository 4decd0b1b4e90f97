//! GitHub App authentication: the App's private key signs a short JWT (RS256) that GitHub
//! exchanges for an installation token (`POST {api}/app/installations/{id}/access_tokens`),
//! which Clodo then calls the REST API with until shortly before it expires. Pure: the key,
//! the claims and the signature; the exchange goes over the client's `Transport`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How far in the past `iat` is put: GitHub's advice against clock drift.
pub const ISSUED_BEFORE_SECS: i64 = 60;
/// How long the JWT is valid from now; GitHub refuses more than 10 minutes.
pub const VALID_FOR_SECS: i64 = 540;
/// An installation token (valid one hour) is replaced this long before it expires, so a
/// call never starts with a token about to lapse.
pub const REFRESH_BEFORE_MS: i64 = 5 * 60 * 1000;
/// PEM text larger than this is not a GitHub App key (a 4096-bit one is ~3.3 kB).
pub const MAX_PEM_BYTES: usize = 16 * 1024;

/// An App's private key, parsed (GitHub hands out PKCS#1 PEM; PKCS#8 is accepted too).
pub struct AppKey {
    signer: SigningKey<Sha256>,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.write_str("AppKey(…)")
    }
}

/// Why a private key was refused; never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`private_key`: {0}")]
pub struct KeyError(pub String);

impl AppKey {
    /// Parses a PEM private key (`BEGIN RSA PRIVATE KEY` or `BEGIN PRIVATE KEY`).
    ///
    /// # Errors
    /// Not PEM, not RSA, shorter than 2048 bits.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.len() > MAX_PEM_BYTES {
            return Err(KeyError(format!("longer than {MAX_PEM_BYTES} bytes")));
        }
        let (label, der) = pem_block(pem).ok_or_else(|| {
            KeyError(
                "not a PEM private key (-----BEGIN RSA PRIVATE KEY----- … as GitHub downloads it)"
                    .into(),
            )
        })?;
        let key = match label {
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| KeyError(format!("not a PKCS#1 RSA key: {e}")))?,
            "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|e| KeyError(format!("not a PKCS#8 RSA key: {e}")))?,
            other => return Err(KeyError(format!("a `{other}` is not an RSA private key"))),
        };
        if rsa::traits::PublicKeyParts::size(&key) < 256 {
            return Err(KeyError("shorter than 2048 bits".into()));
        }
        Ok(Self {
            signer: SigningKey::<Sha256>::new(key),
        })
    }

    /// The JWT GitHub takes as an App: `iat` 60 s in the past, `exp` 9 minutes ahead,
    /// `iss` the App id, signed RS256 (PKCS#1 v1.5 with SHA-256, deterministic).
    #[must_use]
    pub fn jwt(&self, app_id: u64, now: DateTime<Utc>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = Claims {
            iat: now.timestamp() - ISSUED_BEFORE_SECS,
            exp: now.timestamp() + VALID_FOR_SECS,
            iss: app_id.to_string(),
        };
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signed = format!("{header}.{claims}");
        let signature = self.signer.sign(signed.as_bytes()).to_bytes();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// The JWT's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// The label and DER bytes of the first PEM block of `pem`.
fn pem_block(pem: &str) -> Option<(&str, Vec<u8>)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let body_and_end = &rest[label_end + 5..];
    let end = body_and_end.find(&format!("-----END {label}-----"))?;
    let packed: String = body_and_end[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(packed).ok().map(|der| (label, der))
}

/// An installation token as GitHub answers it (`201 {"token","expires_at",…}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationToken {
    pub token: String,
    /// Unix ms.
    pub expires_at: i64,
}

#[derive(Deserialize)]
struct AccessTokenAnswer {
    token: String,
    expires_at: DateTime<Utc>,
}

impl InstallationToken {
    /// Reads GitHub's answer to the exchange.
    ///
    /// # Errors
    /// What is missing.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let answer: AccessTokenAnswer =
            serde_json::from_slice(body).map_err(|e| format!("unexpected answer: {e}"))?;
        if answer.token.is_empty() || !answer.token.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err("the answer's `token` is not a token".into());
        }
        Ok(Self {
            token: answer.token,
            expires_at: answer.expires_at.timestamp_millis(),
        })
    }

    /// Whether a cached token may still be used at `now_ms` (not within the refresh margin).
    #[must_use]
    pub fn fresh_at(expires_at: i64, now_ms: i64) -> bool {
        expires_at - REFRESH_BEFORE_MS > now_ms
    }
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use rsa::RsaPublicKey;

    use super::*;

    const KEY: &str = include_str!("../../../tests/fixtures/github/app-test-key.pem");
    const PUBLIC: &str = include_str!("../../../tests/fixtures/github/app-test-key.pub.pem");

    #[test]
    fn a_signed_jwt_verifies_with_the_public_key_and_says_who_and_when() {
        let key = AppKey::from_pem(KEY).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-02T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let jwt = key.jwt(123_456, now);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        let claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims.iss, "123456");
        assert_eq!(claims.iat, now.timestamp() - 60);
        assert!(claims.exp > now.timestamp() && claims.exp - now.timestamp() <= 600);
        // Verified with the public key kept apart from the private one.
        let (_, der) = pem_block(PUBLIC).unwrap();
        let public = RsaPublicKey::from_public_key_der(&der).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(public);
        let signature =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier.verify(signed.as_bytes(), &signature).unwrap();
        // A changed claim no longer verifies.
        let forged = format!("{}.{}", parts[0], URL_SAFE_NO_PAD.encode(br#"{"iss":"1"}"#));
        assert!(verifier.verify(forged.as_bytes(), &signature).is_err());
    }

    #[test]
    fn keys_that_are_not_rsa_private_keys_are_refused_without_echoing_them() {
        for bad in [
            "",
            "ghp_not_a_key",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            PUBLIC,
        ] {
            let err = AppKey::from_pem(bad).unwrap_err().to_string();
            assert!(err.starts_with("`private_key`"), "{err}");
            assert!(!err.contains("AAAA"), "{err}");
        }
        assert_eq!(format!("{:?}", AppKey::from_pem(KEY).unwrap()), "AppKey(…)");
    }

    #[test]
    fn installation_tokens_are_read_and_replaced_before_they_expire() {
        let t = InstallationToken::parse(
            br#"{"token":"ghs_abc","expires_at":"2026-12-02T09:00:00Z","permissions":{}}"#,
        )
        .unwrap();
        assert_eq!(t.token, "ghs_abc");
        assert!(InstallationToken::fresh_at(
            t.expires_at,
            t.expires_at - 6 * 60_000
        ));
        assert!(!InstallationToken::fresh_at(
            t.expires_at,
            t.expires_at - 4 * 60_000
        ));
        assert!(InstallationToken::parse(
            br#"{"token":"a b","expires_at":"2026-12-02T09:00:00Z"}"#
        )
        .is_err());
        assert!(InstallationToken::parse(b"{}").is_err());
    }
}
