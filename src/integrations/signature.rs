//! HMAC-SHA256 signatures of inbound webhooks, checked over the raw body before anything in it
//! is parsed or trusted. The comparison is constant-time (`hmac`'s `verify_slice`), so a forger
//! learns nothing from how long a refusal took; callers answer every failure the same way.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. Callers must not tell the sender which one it was (a 401 with
/// one message for all): the variants exist for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature header")]
    Missing,
    #[error("the signature header is not `<scheme>=<hex>`")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// `HMAC-SHA256(secret, message)`.
#[must_use]
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = keyed(secret);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

/// Checks `expected` (raw MAC bytes) against `HMAC-SHA256(secret, parts…)` in constant time;
/// `parts` are concatenated, so signing schemes with a prefix (Slack's `v0:ts:`) need no copy.
///
/// # Errors
/// `Mismatch` when they differ (including a wrong length).
pub fn verify_hmac_sha256(
    secret: &[u8],
    parts: &[&[u8]],
    expected: &[u8],
) -> Result<(), SignatureError> {
    let mut mac = keyed(secret);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Checks a `<prefix><hex>` header (`sha256=…` for GitHub, `v0=…` for Slack) against
/// `HMAC-SHA256(secret, parts…)`.
///
/// # Errors
/// `Missing` without a header, `Malformed` when it lacks the prefix or is not hex, `Mismatch`
/// when the MAC differs.
pub fn verify_prefixed_hex(
    secret: &[u8],
    parts: &[&[u8]],
    header: Option<&str>,
    prefix: &str,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header
        .trim()
        .strip_prefix(prefix)
        .ok_or(SignatureError::Malformed)?;
    let expected = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    verify_hmac_sha256(secret, parts, &expected)
}

/// GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
///
/// # Errors
/// As [`verify_prefixed_hex`].
pub fn verify_github(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    verify_prefixed_hex(secret.as_bytes(), &[body], header, "sha256=")
}

/// Lower-case hex of `bytes`.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of an even-length hex string (either case); `None` for anything else.
#[must_use]
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published example (validating-webhook-deliveries).
    const SECRET: &str = "It's a Secret to Everybody";
    const PAYLOAD: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn the_published_github_vector_verifies() {
        assert_eq!(
            format!(
                "sha256={}",
                to_hex(&hmac_sha256(SECRET.as_bytes(), PAYLOAD))
            ),
            SIGNATURE
        );
        assert_eq!(verify_github(SECRET, PAYLOAD, Some(SIGNATURE)), Ok(()));
        // Hex digits in upper case are the same MAC.
        let upper = format!("sha256={}", SIGNATURE[7..].to_uppercase());
        assert_eq!(verify_github(SECRET, PAYLOAD, Some(&upper)), Ok(()));
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_refused() {
        assert_eq!(
            verify_github(SECRET, b"Hello, World?", Some(SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_github("It's a Secret to Nobody", PAYLOAD, Some(SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        // A truncated MAC is a mismatch, not a prefix match.
        assert_eq!(
            verify_github(SECRET, PAYLOAD, Some(&SIGNATURE[..SIGNATURE.len() - 2])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_or_missing_headers_are_refused() {
        assert_eq!(
            verify_github(SECRET, PAYLOAD, None),
            Err(SignatureError::Missing)
        );
        for header in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757",
            "",
        ] {
            assert_eq!(
                verify_github(SECRET, PAYLOAD, Some(header)),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn parts_are_signed_as_one_message() {
        let whole = hmac_sha256(b"k", b"v0:123:body");
        assert_eq!(
            verify_hmac_sha256(b"k", &[b"v0:", b"123:", b"body"], &whole),
            Ok(())
        );
        assert_eq!(decode_hex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0g"), None);
    }
}
