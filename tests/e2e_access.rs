//! End-to-end tests of Cloudflare Access sign-in against the local Worker: a team admin sets
//! the team's Access application (`PUT /api/v1/access`, its team domain pointed at a loopback
//! fake that publishes the signing keys at `/cdn-cgi/access/certs`); a request carrying a
//! `Cf-Access-Jwt-Assertion` signed with the test key pairs (`tests/data/access/`) then acts as
//! the member with the token's email. Refused: an unknown email (no member is ever created),
//! another audience, an expired token, a forged signature, HS256; a key the Worker has not
//! seen is fetched again (at most every 5 s), and a removed application signs nobody in.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clodo::control::access::{private_key_from_parts, sign};
use e2e_support::{assert_says, str_of, unique, Team};
use serde_json::{json, Value};

/// The test key pairs: `(kid, private parts)`.
fn test_keys() -> Vec<Value> {
    let doc: Value = serde_json::from_str(include_str!("data/access/test_keys.json")).unwrap();
    doc["keys"].as_array().unwrap().clone()
}

/// The public JWK of test key `index`, as Access publishes it.
fn public_jwk(index: usize) -> Value {
    let k = &test_keys()[index];
    json!({"kid": k["kid"], "kty": "RSA", "alg": "RS256", "use": "sig", "n": k["n"], "e": k["e"]})
}

/// A loopback stand-in for `<team>.cloudflareaccess.com/cdn-cgi/access/certs`: serves the
/// published keys (changeable, to rotate) and counts fetches.
struct FakeAccess {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl FakeAccess {
    async fn start(keys: Vec<Value>) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/cdn-cgi/access/certs",
            axum::routing::get(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let keys = k.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys, "public_cert": {}, "public_certs": [] }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, keys, fetches }
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An Access token for `email`, signed with test key `key` under `kid`.
fn assertion(key: usize, kid: &str, claims: Value) -> String {
    let private = private_key_from_parts(&test_keys()[key]).unwrap();
    sign(&private, kid, &claims).unwrap()
}

fn claims(iss: &str, aud: &str, email: &str) -> Value {
    json!({
        "aud": [aud], "email": email, "iss": iss, "type": "app",
        "exp": now_secs() + 600, "iat": now_secs() - 5, "nbf": now_secs() - 5,
        "sub": "00000000-0000-4000-8000-000000000000"
    })
}

/// A request with only the Access header (no Authorization): status and JSON body.
async fn as_access(
    base: &str,
    method: &str,
    path: &str,
    jwt: &str,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("cf-access-jwt-assertion", jwt);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn access_assertions_sign_in_as_the_member_with_the_email() {
    let team = Team::new().await;
    let base = team.admin.base.clone();
    let fake = FakeAccess::start(vec![public_jwk(0)]).await;
    // Audience tags are unique across teams: one per run.
    let aud = format!("aud{}", unique("x").replace(['-', '.'], ""));
    let kid1 = str_of(&test_keys()[0]["kid"]).to_owned();
    let kid2 = str_of(&test_keys()[1]["kid"]).to_owned();

    // Nothing accepts Access before an admin sets the application.
    let ada = "ada@access.test";
    let jwt = assertion(0, &kid1, claims(&fake.url, &aud, ada));
    let (status, err) = as_access(&base, "GET", "/api/v1/me", &jwt, &[], None).await;
    assert_eq!(status, 401, "{err}");
    assert_says(&err, "message", "no Clodo team");

    // Only admins set it; a bad team domain is refused saying what to write.
    let (viewer, _) = team.admin.team_token("access-viewer", "viewer").await;
    let settings = json!({ "team_domain": fake.url, "audience": aud });
    viewer
        .refused(
            "PUT",
            "/api/v1/access",
            Some(settings.clone()),
            (403, "forbidden"),
        )
        .await;
    let bad = team
        .admin
        .refused(
            "PUT",
            "/api/v1/access",
            Some(json!({ "team_domain": "http://access.example.com", "audience": aud })),
            (400, "bad_request"),
        )
        .await;
    assert_says(&bad, "message", "https://");
    let app = team
        .admin
        .expect(200, "PUT", "/api/v1/access", Some(settings))
        .await;
    assert_eq!(
        app["certs_url"],
        format!("{}/cdn-cgi/access/certs", fake.url)
    );
    assert_eq!(team.admin.read("/api/v1/access").await["audience"], aud);
    assert_eq!(team.audit("access.configure").await.len(), 1);

    // An email that is no member is refused, and no member is created for it.
    let (status, err) = as_access(&base, "GET", "/api/v1/me", &jwt, &[], None).await;
    assert_eq!(status, 403, "{err}");
    assert_says(&err, "message", "not a member");
    let members = team.admin.read("/api/v1/members").await;
    assert!(!members.to_string().contains(ada), "{members}");

    // Once Ada is an admin member, the same token signs in as her, with her role.
    team.admin
        .create(
            "/api/v1/members",
            json!({ "email": "Ada@access.test", "role": "admin" }),
        )
        .await;
    let (status, me) = as_access(&base, "GET", "/api/v1/me", &jwt, &[], None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["team_id"], team.team_id);
    assert_eq!(me["actor"], "member:Ada@access.test");
    assert_eq!(me["role"], "admin");
    assert!(str_of(&me["token_id"]).starts_with("access:"), "{me}");

    // Her writes are audited as her, and an idempotency key replays rather than acting twice.
    let key = [("idempotency-key", "access-e2e-1")];
    let project = json!({ "slug": "via-access" });
    let (first, created) = as_access(
        &base,
        "POST",
        "/api/v1/projects",
        &jwt,
        &key,
        Some(project.clone()),
    )
    .await;
    assert_eq!(first, 201, "{created}");
    let (again, replayed) =
        as_access(&base, "POST", "/api/v1/projects", &jwt, &key, Some(project)).await;
    assert_eq!(again, 201, "{replayed}");
    assert_eq!(created, replayed);
    let audit = team.audit("project.create").await;
    let actors: Vec<&str> = audit.iter().map(|e| str_of(&e["actor"])).collect();
    assert_eq!(
        actors
            .iter()
            .filter(|a| **a == "member:Ada@access.test")
            .count(),
        1,
        "{actors:?}"
    );

    // A change without the header a cross-site form cannot send is refused (CSRF).
    let (status, err) = as_access(
        &base,
        "POST",
        "/api/v1/projects",
        &jwt,
        &[],
        Some(json!({ "slug": "forged" })),
    )
    .await;
    assert_eq!(status, 403, "{err}");
    assert_says(&err, "message", "Idempotency-Key");

    // Refusals, each saying why.
    let refusals = [
        (
            assertion(0, &kid1, claims(&fake.url, "another-applications-tag", ada)),
            "no Clodo team",
        ),
        (
            {
                let mut c = claims(&fake.url, &aud, ada);
                c["exp"] = json!(now_secs() - 3600);
                assertion(0, &kid1, c)
            },
            "expired",
        ),
        (
            assertion(
                0,
                &kid1,
                claims("https://evil.cloudflareaccess.com", &aud, ada),
            ),
            "issued by",
        ),
        // Key 2's signature under key 1's name.
        (
            assertion(1, &kid1, claims(&fake.url, &aud, ada)),
            "signature",
        ),
        (
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": kid1}).to_string()),
                URL_SAFE_NO_PAD.encode(claims(&fake.url, &aud, ada).to_string()),
                URL_SAFE_NO_PAD.encode(b"mac")
            ),
            "RS256",
        ),
    ];
    for (token, needle) in &refusals {
        let (status, err) = as_access(&base, "GET", "/api/v1/me", token, &[], None).await;
        assert_eq!(status, 401, "{needle}: {err}");
        assert_says(&err, "message", needle);
    }

    // Key rotation: a token signed with a key Access has not published yet is refused; once
    // it is published the Worker fetches the keys again (not sooner than 5 s after the last
    // fetch) and accepts it. A burst of made-up kids costs at most one fetch.
    let rotated = assertion(1, &kid2, claims(&fake.url, &aud, ada));
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let (status, err) = as_access(&base, "GET", "/api/v1/me", &rotated, &[], None).await;
    assert_eq!(status, 401, "{err}");
    assert_says(&err, "message", &kid2);
    let before_burst = fake.fetches();
    for n in 0..5 {
        let made_up = assertion(0, &format!("made-up-{n}"), claims(&fake.url, &aud, ada));
        let (status, _) = as_access(&base, "GET", "/api/v1/me", &made_up, &[], None).await;
        assert_eq!(status, 401);
    }
    assert!(
        fake.fetches() - before_burst <= 1,
        "{} fetches",
        fake.fetches()
    );
    fake.publish(vec![public_jwk(0), public_jwk(1)]);
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let before = fake.fetches();
    let (status, me) = as_access(&base, "GET", "/api/v1/me", &rotated, &[], None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(fake.fetches(), before + 1, "fetched again for the new kid");

    // The live view: an Access member asks for a ticket like any caller; the ticket works
    // while the member exists and dies with them.
    let (status, deployment) = as_access(
        &base,
        "POST",
        "/api/v1/deployments",
        &jwt,
        &[("idempotency-key", "access-e2e-deploy")],
        Some(json!({ "project": "shop", "environment": "production" })),
    )
    .await;
    assert_eq!(status, 201, "{deployment}");
    let dep = str_of(&deployment["id"]).to_owned();
    let ticket_path = format!("/api/v1/deployments/{dep}/rollout/live/ticket");
    let mut tickets = Vec::new();
    for n in 0..2 {
        let key = format!("access-e2e-ticket-{n}");
        let (status, ticket) = as_access(
            &base,
            "POST",
            &ticket_path,
            &jwt,
            &[("idempotency-key", key.as_str())],
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 201, "{ticket}");
        tickets.push(str_of(&ticket["secret"]).to_owned());
    }
    let upgrade = |ticket: String| {
        let url = format!("{base}/api/v1/deployments/{dep}/rollout/live");
        async move {
            let answered = async {
                let Ok(resp) = reqwest::Client::new()
                    .get(url)
                    .query(&[("ticket", ticket)])
                    .header("upgrade", "websocket")
                    .header("connection", "Upgrade")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .send()
                    .await
                else {
                    // The connection was taken over by the upgrade: not refused.
                    return (101, String::new());
                };
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            };
            // No whole answer to a plain HTTP client: the upgrade went ahead.
            tokio::time::timeout(Duration::from_secs(10), answered)
                .await
                .unwrap_or((101, String::new()))
        }
    };
    let (status, body) = upgrade(tickets[0].clone()).await;
    assert_ne!(
        status, 401,
        "a live Access member's ticket is accepted: {body}"
    );

    // A bearer token wins over the header; a removed member or application signs in no more.
    let (status, me) = as_access(
        &base,
        "GET",
        "/api/v1/me",
        &jwt,
        &[("authorization", &format!("Bearer {}", team.admin.token))],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(str_of(&me["token_id"]).starts_with("tok"), "{me}");
    team.remove_member("Ada@access.test").await;
    let (status, _) = as_access(&base, "GET", "/api/v1/me", &jwt, &[], None).await;
    assert_eq!(status, 403);
    let (status, body) = upgrade(tickets[1].clone()).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("no longer valid"), "{body}");
    team.admin
        .create("/api/v1/members", json!({ "email": ada, "role": "viewer" }))
        .await;
    let (status, me) = as_access(&base, "GET", "/api/v1/me", &jwt, &[], None).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("viewer")), "{me}");
    team.admin
        .expect(204, "DELETE", "/api/v1/access", None)
        .await;
    let (status, err) = as_access(&base, "GET", "/api/v1/me", &jwt, &[], None).await;
    assert_eq!(status, 401, "{err}");
    assert_says(&err, "message", "no Clodo team");
}
