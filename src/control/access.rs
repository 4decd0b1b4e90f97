//! Cloudflare Access sign-in: checks a `Cf-Access-Jwt-Assertion` (an RS256 JWT Access signs
//! for every request it lets through) against the team's Access signing keys, audience tag and
//! team domain, and says which email it vouches for. Pure: the Worker fetches the keys
//! (`<team domain>/cdn-cgi/access/certs`) and maps the email to a member (`worker/access.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How far the clocks of Access and the Worker may disagree on `exp`, `nbf` and `iat`.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// How long fetched signing keys are used before they are fetched again (Access rotates its
/// keys every six weeks and publishes the next one ahead).
pub const KEYS_MAX_AGE_MS: i64 = 10 * 60_000;
/// A token naming an unknown key fetches the keys again, but not more often than this: a flood
/// of made-up `kid`s must not become a flood of requests to Access.
pub const REFETCH_MIN_INTERVAL_MS: i64 = 5_000;
/// Access JWTs are a few KiB; anything far larger is refused before decoding.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Smaller RSA moduli are refused as signing keys.
const MIN_KEY_BITS: usize = 2048;

/// The team's Access application as Clodo stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessApp {
    /// `https://<team>.cloudflareaccess.com`: the tokens' issuer and where the keys live.
    pub team_domain: String,
    /// The application's Audience (AUD) tag.
    pub audience: String,
}

impl AccessApp {
    /// Where Access publishes the team's signing keys.
    #[must_use]
    pub fn certs_url(&self) -> String {
        format!("{}/cdn-cgi/access/certs", self.team_domain)
    }
}

/// One of the team's signing keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub key: RsaPublicKey,
}

/// Why a token (or the published keys) was not accepted; each says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessRefusal {
    #[error("the Access token is not a well-formed JWT")]
    Malformed,
    #[error("the Access token is signed with `{0}`; only RS256 is accepted")]
    Algorithm(String),
    #[error(
        "the Access token names signing key `{0}`, which the team's Access keys do not include"
    )]
    UnknownKey(String),
    #[error("the Access token's signature does not verify")]
    BadSignature,
    #[error("the Access token was issued by `{0}`, not the team's Access domain")]
    WrongIssuer(String),
    #[error("the Access token is for another Access application (audience)")]
    WrongAudience,
    #[error("the Access token has expired")]
    Expired,
    #[error("the Access token is not valid yet")]
    NotYetValid,
    #[error("the Access token carries no email (a service token cannot sign in as a member)")]
    NoEmail,
    #[error("the team's Access signing keys could not be read: {0}")]
    Keys(String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// `aud` is a string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(a) => vec![a],
            Self::Many(list) => list,
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    email: Option<String>,
}

/// A token cut into its parts, nothing checked yet.
struct Parts<'a> {
    signed: &'a str,
    header: Header,
    payload: Value,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>, AccessRefusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AccessRefusal::Malformed);
    }
    let mut pieces = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(AccessRefusal::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AccessRefusal::Malformed)
    };
    let header: Header =
        serde_json::from_slice(&decode(h)?).map_err(|_| AccessRefusal::Malformed)?;
    let payload: Value =
        serde_json::from_slice(&decode(p)?).map_err(|_| AccessRefusal::Malformed)?;
    Ok(Parts {
        signed: &token[..h.len() + 1 + p.len()],
        header,
        payload,
        signature: decode(s)?,
    })
}

/// The audience tags a token claims, read WITHOUT checking it: only to find which team's
/// Access application to check it against. Nothing else may trust this.
///
/// # Errors
/// `Malformed` when it is no JWT or has no `aud`.
pub fn claimed_audiences(token: &str) -> Result<Vec<String>, AccessRefusal> {
    let parts = split(token)?;
    let aud = parts
        .payload
        .get("aud")
        .cloned()
        .ok_or(AccessRefusal::Malformed)?;
    serde_json::from_value::<Audience>(aud)
        .map(Audience::into_vec)
        .map_err(|_| AccessRefusal::Malformed)
}

/// Checks `token` against the team's Access application and its signing keys at `now_secs`
/// (Unix seconds) and answers the lower-cased email it vouches for. Only RS256 is accepted (no
/// `none`, no HMAC with the public key as secret); the signature is checked before any claim.
///
/// # Errors
/// The first rule the token breaks; `UnknownKey` tells the caller to fetch the keys again.
pub fn verify(
    token: &str,
    app: &AccessApp,
    keys: &[SigningKey],
    now_secs: i64,
) -> Result<String, AccessRefusal> {
    let parts = split(token)?;
    if parts.header.alg != "RS256" {
        return Err(AccessRefusal::Algorithm(parts.header.alg));
    }
    let kid = parts.header.kid.ok_or(AccessRefusal::Malformed)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(AccessRefusal::UnknownKey(kid))?;
    let digest = Sha256::digest(parts.signed.as_bytes());
    key.key
        .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &parts.signature)
        .map_err(|_| AccessRefusal::BadSignature)?;
    let claims: Claims =
        serde_json::from_value(parts.payload).map_err(|_| AccessRefusal::Malformed)?;
    if claims.iss.trim_end_matches('/') != app.team_domain {
        return Err(AccessRefusal::WrongIssuer(claims.iss));
    }
    if !claims.aud.into_vec().contains(&app.audience) {
        return Err(AccessRefusal::WrongAudience);
    }
    if claims.exp + CLOCK_SKEW_SECS <= now_secs {
        return Err(AccessRefusal::Expired);
    }
    let from = claims.nbf.into_iter().chain(claims.iat).max();
    if from.is_some_and(|from| from - CLOCK_SKEW_SECS > now_secs) {
        return Err(AccessRefusal::NotYetValid);
    }
    claims
        .email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| e.contains('@'))
        .ok_or(AccessRefusal::NoEmail)
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RSA signing keys of a certs document (`{"keys":[{kid,kty,alg,use,n,e}], …}`); other
/// kinds of key are skipped.
///
/// # Errors
/// `Keys` when the document is not a JWKS, holds no usable key, or a key is too small.
pub fn parse_keys(body: &[u8]) -> Result<Vec<SigningKey>, AccessRefusal> {
    let jwks: Jwks = serde_json::from_slice(body)
        .map_err(|e| AccessRefusal::Keys(format!("not a JWKS document ({e})")))?;
    let mut keys = Vec::new();
    for jwk in jwks.keys {
        let rsa_sig = jwk.kty == "RSA"
            && jwk.alg.as_deref().is_none_or(|a| a == "RS256")
            && jwk.usage.as_deref().is_none_or(|u| u == "sig");
        let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, rsa_sig) else {
            continue;
        };
        let number = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map(|b| BigUint::from_bytes_be(&b))
                .map_err(|_| AccessRefusal::Keys(format!("key `{kid}` is not base64url")))
        };
        let key = RsaPublicKey::new(number(&n)?, number(&e)?)
            .map_err(|e| AccessRefusal::Keys(format!("key `{kid}`: {e}")))?;
        if rsa::traits::PublicKeyParts::size(&key) * 8 < MIN_KEY_BITS {
            return Err(AccessRefusal::Keys(format!(
                "key `{kid}` is smaller than {MIN_KEY_BITS} bits"
            )));
        }
        keys.push(SigningKey { kid, key });
    }
    if keys.is_empty() {
        return Err(AccessRefusal::Keys(
            "the document holds no RS256 key".into(),
        ));
    }
    Ok(keys)
}

/// Whether keys fetched at `fetched_at_ms` are still used at `now_ms`.
#[must_use]
pub fn keys_fresh(fetched_at_ms: i64, now_ms: i64) -> bool {
    now_ms - fetched_at_ms < KEYS_MAX_AGE_MS
}

/// Whether a token naming an unknown key may fetch the keys again (they were fetched at
/// `fetched_at_ms`).
#[must_use]
pub fn may_refetch(fetched_at_ms: i64, now_ms: i64) -> bool {
    now_ms - fetched_at_ms >= REFETCH_MIN_INTERVAL_MS
}

/// The team domain as stored: `https://<host>` without path, query or trailing slash, or plain
/// `http://` on loopback only (a local fake in tests). `None` for anything else.
#[must_use]
pub fn normalize_team_domain(input: &str) -> Option<String> {
    let trimmed = input.trim().trim_end_matches('/');
    let (scheme, host) = trimmed.split_once("://")?;
    let host_only = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
            h
        } else {
            host
        }
    });
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    let loopback = ["127.0.0.1", "localhost", "[::1]"].contains(&host_only);
    match scheme.to_ascii_lowercase().as_str() {
        "https" if valid_host => Some(format!("https://{}", host.to_ascii_lowercase())),
        "http" if valid_host && loopback => Some(format!("http://{}", host.to_ascii_lowercase())),
        _ => None,
    }
}

/// Whether `tag` looks like an Access application's Audience tag.
#[must_use]
pub fn valid_audience(tag: &str) -> bool {
    (8..=128).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Signs `claims` as an RS256 JWT with `kid`: what Access does; used by tests and local fakes
/// to mint tokens.
///
/// # Errors
/// When the key cannot sign (a malformed key).
pub fn sign(key: &RsaPrivateKey, kid: &str, claims: &Value) -> Result<String, rsa::Error> {
    let header = serde_json::json!({ "alg": "RS256", "kid": kid, "typ": "JWT" });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(signed.as_bytes()),
    )?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A private key from its JWK-style parts (base64url `n`, `e`, `d`, `p`, `q`), as the test key
/// pairs are kept.
///
/// # Errors
/// When a part is not base64url or the parts are no RSA key.
pub fn private_key_from_parts(parts: &Value) -> Result<RsaPrivateKey, String> {
    let number = |name: &str| {
        let text = parts[name].as_str().ok_or(format!("missing `{name}`"))?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map(|b| BigUint::from_bytes_be(&b))
            .map_err(|e| format!("`{name}`: {e}"))
    };
    RsaPrivateKey::from_components(
        number("n")?,
        number("e")?,
        number("d")?,
        vec![number("p")?, number("q")?],
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
