//! Access JWT verification against the test key pairs in `tests/data/access/test_keys.json`.

use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use super::*;

const NOW: i64 = 1_800_000_000;
const AUD: &str = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

fn test_keys() -> Vec<Value> {
    let doc: Value =
        serde_json::from_str(include_str!("../../tests/data/access/test_keys.json")).unwrap();
    doc["keys"].as_array().unwrap().clone()
}

fn private(index: usize) -> (String, RsaPrivateKey) {
    let parts = &test_keys()[index];
    let kid = parts["kid"].as_str().unwrap().to_owned();
    (kid, private_key_from_parts(parts).unwrap())
}

/// The JWKS Access would publish for the given test keys (public parts only).
fn jwks(indices: &[usize]) -> Vec<SigningKey> {
    let keys: Vec<Value> = indices
        .iter()
        .map(|&i| {
            let k = &test_keys()[i];
            json!({"kid": k["kid"], "kty": "RSA", "alg": "RS256", "use": "sig", "n": k["n"], "e": k["e"]})
        })
        .collect();
    parse_keys(
        json!({ "keys": keys, "public_cert": {"kid": "x"} })
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

fn app() -> AccessApp {
    AccessApp {
        team_domain: "https://acme.cloudflareaccess.com".into(),
        audience: AUD.into(),
    }
}

fn claims() -> Value {
    json!({
        "aud": [AUD],
        "email": "Ada@Example.com",
        "exp": NOW + 3600,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "iss": "https://acme.cloudflareaccess.com",
        "type": "app",
        "sub": "7335d417-61da-459d-899c-0a01c76a2f94"
    })
}

fn token_with(claims: &Value) -> String {
    let (kid, key) = private(0);
    sign(&key, &kid, claims).unwrap()
}

fn check(token: &str) -> Result<String, AccessRefusal> {
    verify(token, &app(), &jwks(&[0]), NOW)
}

#[test]
fn a_valid_token_answers_its_lower_cased_email() {
    assert_eq!(check(&token_with(&claims())).unwrap(), "ada@example.com");
    // `aud` as a single string is accepted too.
    let mut one = claims();
    one["aud"] = json!(AUD);
    assert_eq!(check(&token_with(&one)).unwrap(), "ada@example.com");
    assert_eq!(
        claimed_audiences(&token_with(&one)).unwrap(),
        vec![AUD.to_owned()]
    );
}

#[test]
fn another_applications_audience_is_refused() {
    let mut c = claims();
    c["aud"] = json!(["someone-elses-application-tag"]);
    assert_eq!(check(&token_with(&c)), Err(AccessRefusal::WrongAudience));
}

#[test]
fn another_issuer_is_refused() {
    let mut c = claims();
    c["iss"] = json!("https://evil.cloudflareaccess.com");
    assert!(matches!(
        check(&token_with(&c)),
        Err(AccessRefusal::WrongIssuer(_))
    ));
}

#[test]
fn times_are_checked_with_a_small_skew() {
    let mut expired = claims();
    expired["exp"] = json!(NOW - CLOCK_SKEW_SECS - 1);
    assert_eq!(check(&token_with(&expired)), Err(AccessRefusal::Expired));
    let mut just = claims();
    just["exp"] = json!(NOW - CLOCK_SKEW_SECS + 5);
    assert!(check(&token_with(&just)).is_ok(), "within the skew");
    let mut early = claims();
    early["nbf"] = json!(NOW + CLOCK_SKEW_SECS + 30);
    assert_eq!(check(&token_with(&early)), Err(AccessRefusal::NotYetValid));
    let mut future_iat = claims();
    future_iat["iat"] = json!(NOW + 3 * CLOCK_SKEW_SECS);
    assert_eq!(
        check(&token_with(&future_iat)),
        Err(AccessRefusal::NotYetValid)
    );
}

#[test]
fn a_signature_by_another_key_or_a_changed_payload_is_refused() {
    // Signed by key 2 but claiming key 1's kid.
    let (_, other) = private(1);
    let forged = sign(&other, "test-key-1", &claims()).unwrap();
    assert_eq!(check(&forged), Err(AccessRefusal::BadSignature));
    // A valid token whose payload was swapped for another email.
    let good = token_with(&claims());
    let mut pieces: Vec<&str> = good.split('.').collect();
    let mut c = claims();
    c["email"] = json!("mallory@example.com");
    let swapped = URL_SAFE_NO_PAD.encode(c.to_string());
    pieces[1] = &swapped;
    assert_eq!(check(&pieces.join(".")), Err(AccessRefusal::BadSignature));
}

#[test]
fn an_unknown_kid_says_so_so_the_keys_are_fetched_again() {
    let (kid, key) = private(1);
    let token = sign(&key, &kid, &claims()).unwrap();
    assert_eq!(
        check(&token),
        Err(AccessRefusal::UnknownKey("test-key-2".into()))
    );
    // After the refetch publishes it, the same token passes.
    assert!(verify(&token, &app(), &jwks(&[0, 1]), NOW).is_ok());
}

#[test]
fn alg_none_and_hs256_are_refused_before_any_key_is_used() {
    let body = URL_SAFE_NO_PAD.encode(claims().to_string());
    for alg in ["none", "HS256", "RS512"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "test-key-1"}).to_string());
        // An HMAC "signature" keyed with the public modulus is the classic confusion attack.
        let token = format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode(b"sig"));
        assert_eq!(check(&token), Err(AccessRefusal::Algorithm(alg.into())));
        assert_eq!(
            check(&format!("{header}.{body}.")),
            Err(AccessRefusal::Algorithm(alg.into()))
        );
    }
}

#[test]
fn malformed_tokens_and_tokens_without_email_are_refused() {
    for bad in ["", "a.b", "a.b.c.d", "!!!.???.***", &"a".repeat(20_000)] {
        assert_eq!(check(bad), Err(AccessRefusal::Malformed), "{bad:.20}");
    }
    let mut service = claims();
    service.as_object_mut().unwrap().remove("email");
    assert_eq!(check(&token_with(&service)), Err(AccessRefusal::NoEmail));
}

#[test]
fn jwks_documents_are_checked() {
    assert!(matches!(parse_keys(b"{}"), Err(AccessRefusal::Keys(_))));
    assert!(matches!(
        parse_keys(br#"{"keys":[]}"#),
        Err(AccessRefusal::Keys(_))
    ));
    // A 512-bit key is refused.
    let small = json!({"keys":[{"kid":"s","kty":"RSA","n": URL_SAFE_NO_PAD.encode([0xC5u8; 64]),"e":"AQAB"}]});
    assert!(matches!(
        parse_keys(small.to_string().as_bytes()),
        Err(AccessRefusal::Keys(_))
    ));
    // EC keys are skipped, RSA ones kept.
    assert_eq!(jwks(&[0, 1]).len(), 2);
}

#[test]
fn the_key_cache_is_bounded_and_refetches_are_rate_limited() {
    assert!(keys_fresh(0, KEYS_MAX_AGE_MS - 1));
    assert!(!keys_fresh(0, KEYS_MAX_AGE_MS));
    assert!(!may_refetch(1_000, 1_000 + REFETCH_MIN_INTERVAL_MS - 1));
    assert!(may_refetch(1_000, 1_000 + REFETCH_MIN_INTERVAL_MS));
}

#[test]
fn team_domains_are_https_or_loopback() {
    assert_eq!(
        normalize_team_domain("https://Acme.cloudflareaccess.com/").as_deref(),
        Some("https://acme.cloudflareaccess.com")
    );
    assert_eq!(
        normalize_team_domain("http://127.0.0.1:9911").as_deref(),
        Some("http://127.0.0.1:9911")
    );
    for bad in [
        "http://acme.cloudflareaccess.com",
        "acme.cloudflareaccess.com",
        "https://acme.com/path",
        "https://acme.com?x=1",
        "ftp://acme.com",
        "https://",
    ] {
        assert_eq!(normalize_team_domain(bad), None, "{bad}");
    }
    assert_eq!(
        app().certs_url(),
        "https://acme.cloudflareaccess.com/cdn-cgi/access/certs"
    );
    assert!(valid_audience(AUD));
    assert!(!valid_audience("short"));
    assert!(!valid_audience("has space in it"));
}
