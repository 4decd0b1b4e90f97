//! The fake GitHub API of the GitHub e2e tests (tests/e2e_github.rs, tests/e2e_gh_*.rs): a
//! loopback server configured as the integration's `api_base_url`. It serves the commits'
//! files through the contents API and records the statuses, comments, comment edits and
//! deployment reviews it receives; `Connected` is a team connected to a fresh repository on
//! it, which signs deliveries with the hmac crate (independently of the code under test).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::e2e_support::{base_url, str_of, unique, Team};

pub const ACCOUNT: &str = "acc_test";
pub const SANDBOX_TOKEN: &str = "user-edit-token";
pub const GITHUB_TOKEN: &str = "ghp_e2e_token";
pub const WEBHOOK: &str = "/integrations/github/webhook";

pub const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
pub const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";

/// What the fake GitHub received.
#[derive(Default)]
pub struct Recorded {
    /// (path, sha) → file text.
    pub files: HashMap<(String, String), String>,
    pub statuses: Vec<(String, Value)>,
    /// (comment id, pull request, body).
    pub comments: Vec<(u64, u64, String)>,
    /// (comment id, body).
    pub edits: Vec<(u64, String)>,
    pub reviews: Vec<(u64, Value)>,
    /// Authorization headers seen.
    pub auth: Vec<String>,
    /// The GitHub App whose JWTs the fake accepts: its id and public key.
    pub app: Option<(u64, rsa::RsaPublicKey)>,
    /// Installation tokens issued: (installation id, token).
    pub installation_tokens: Vec<(u64, String)>,
    /// Tokens the fake refuses from now on (401), as GitHub does a revoked one.
    pub revoked: Vec<String>,
    /// Workflow dispatches: (workflow, body).
    pub dispatches: Vec<(String, Value)>,
    /// Status contexts answered 500 once (then accepted), to make the Worker retry.
    pub fail_status_once: Vec<String>,
}

pub type Shared = Arc<Mutex<Recorded>>;

/// Records the Authorization header; `false` when it carries a revoked token.
fn note_auth(state: &Shared, headers: &HeaderMap) -> bool {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut s = state.lock().unwrap();
    let revoked = s.revoked.iter().any(|t| auth == format!("Bearer {t}"));
    s.auth.push(auth);
    !revoked
}

fn bad_credentials() -> (StatusCode, Json<Value>) {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "message": "Bad credentials" })),
    )
}

/// `POST /app/installations/{id}/access_tokens`: the JWT must verify with the App's public
/// key (RS256) and carry GitHub's claims (`iss` the App id, issued in the past, expiring
/// within 10 minutes); then a new installation token valid one hour.
async fn access_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(installation): Path<u64>,
) -> (StatusCode, Json<Value>) {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut s = state.lock().unwrap();
    let Some((app_id, public)) = s.app.clone() else {
        return bad_credentials();
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return bad_credentials();
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verified = b64
        .decode(parts[2])
        .ok()
        .and_then(|sig| Signature::try_from(sig.as_slice()).ok())
        .is_some_and(|sig| {
            VerifyingKey::<sha2::Sha256>::new(public)
                .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
                .is_ok()
        });
    let claims: Value = b64
        .decode(parts[1])
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(i64::MAX),
        claims["exp"].as_i64().unwrap_or(0),
    );
    let iss_ok = claims["iss"] == json!(app_id.to_string()) || claims["iss"] == json!(app_id);
    if !verified || !iss_ok || iat > now || exp <= now || exp - now > 600 {
        return bad_credentials();
    }
    let token = format!("ghs_e2e_{}", s.installation_tokens.len() + 1);
    s.installation_tokens.push((installation, token.clone()));
    let expires_at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    (
        StatusCode::CREATED,
        Json(json!({ "token": token, "expires_at": expires_at, "permissions": {} })),
    )
}

async fn contents(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, path)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if !note_auth(&state, &headers) {
        return bad_credentials();
    }
    let sha = query.get("ref").cloned().unwrap_or_default();
    let file = state.lock().unwrap().files.get(&(path, sha)).cloned();
    match file {
        Some(text) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(text);
            // GitHub wraps the base64 text at 60 characters.
            let wrapped: Vec<String> = encoded
                .as_bytes()
                .chunks(60)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            (
                StatusCode::OK,
                Json(
                    json!({ "type": "file", "encoding": "base64", "content": wrapped.join("\n") }),
                ),
            )
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": "Not Found" })),
        ),
    }
}

async fn status(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, sha)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !note_auth(&state, &headers) {
        return bad_credentials();
    }
    let mut s = state.lock().unwrap();
    let context = str_of(&body["context"]).to_owned();
    if let Some(i) = s.fail_status_once.iter().position(|c| *c == context) {
        s.fail_status_once.remove(i);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "message": "Server Error" })),
        );
    }
    s.statuses.push((sha, body));
    (StatusCode::CREATED, Json(json!({ "id": 1 })))
}

async fn comment(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, number)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !note_auth(&state, &headers) {
        return bad_credentials();
    }
    let mut s = state.lock().unwrap();
    let id = 1000 + s.comments.len() as u64;
    s.comments
        .push((id, number, str_of(&body["body"]).to_owned()));
    (StatusCode::CREATED, Json(json!({ "id": id })))
}

async fn edit(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, id)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !note_auth(&state, &headers) {
        return bad_credentials();
    }
    let mut s = state.lock().unwrap();
    if !s.comments.iter().any(|c| c.0 == id) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": "Not Found" })),
        );
    }
    s.edits.push((id, str_of(&body["body"]).to_owned()));
    (StatusCode::OK, Json(json!({ "id": id })))
}

async fn dispatch(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, workflow)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> StatusCode {
    if !note_auth(&state, &headers) {
        return StatusCode::UNAUTHORIZED;
    }
    state.lock().unwrap().dispatches.push((workflow, body));
    StatusCode::NO_CONTENT
}

async fn review(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, run)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> StatusCode {
    note_auth(&state, &headers);
    state.lock().unwrap().reviews.push((run, body));
    StatusCode::NO_CONTENT
}

/// Starts the fake GitHub API on loopback; its base URL and what it records.
pub async fn fake_github() -> (String, Shared) {
    let state = Shared::default();
    let app = Router::new()
        .route(
            "/repos/{owner}/{repo}/contents/{*path}",
            axum::routing::get(contents),
        )
        .route("/repos/{owner}/{repo}/statuses/{sha}", post(status))
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            post(comment),
        )
        .route("/repos/{owner}/{repo}/issues/comments/{id}", patch(edit))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{run}/deployment_protection_rule",
            post(review),
        )
        .route(
            "/app/installations/{installation}/access_tokens",
            post(access_token),
        )
        .route(
            "/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches",
            post(dispatch),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

/// A team whose project `shop` is connected to a fresh repository on the fake GitHub, its
/// `production` environment bound to the sandbox account with a stored credential.
pub struct Connected {
    pub team: Team,
    pub repository: String,
    pub secret: String,
    pub github: String,
    pub recorded: Shared,
}

pub async fn connected() -> Connected {
    connected_with(json!({})).await
}

/// `connected()` with more settings (`extra` is merged into the `PUT` body).
pub async fn connected_with(extra: Value) -> Connected {
    let (github, recorded) = fake_github().await;
    let team = Team::new().await;
    team.bind(ACCOUNT).await;
    team.add_credential(ACCOUNT, "sandbox", SANDBOX_TOKEN).await;
    let repository = format!("acme/{}", unique("shop"));
    let secret = unique("webhook-secret-0123456789");
    let mut settings = json!({
        "repository": repository,
        "webhook_secret": secret,
        "api_token": GITHUB_TOKEN,
        "branches": ["main"],
        "api_base_url": github,
        "environment": "production",
    });
    crate::e2e_support::merge(&mut settings, extra);
    let integration = team
        .admin
        .expect(200, "PUT", "/api/v1/projects/shop/github", Some(settings))
        .await;
    // Secrets go in, never out.
    let text = integration.to_string();
    assert!(
        !text.contains(&secret) && !text.contains(GITHUB_TOKEN),
        "{text}"
    );
    assert_eq!(integration["webhook_path"], WEBHOOK);
    Connected {
        team,
        repository,
        secret,
        github,
        recorded,
    }
}

pub const CLODO_TOML: &str =
    "project = \"shop\"\n\n[[services]]\nname = \"api\"\nconfig = \"workers/api\"\n";

impl Connected {
    /// Commit `sha` holds clodo.toml and the Worker's wrangler config `wrangler`.
    pub fn commit(&self, sha: &str, clodo_toml: &str, wrangler: &str) {
        let mut s = self.recorded.lock().unwrap();
        s.files
            .insert(("clodo.toml".into(), sha.into()), clodo_toml.into());
        s.files.insert(
            ("workers/api/wrangler.toml".into(), sha.into()),
            wrangler.into(),
        );
    }

    pub fn sign(&self, secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    }

    /// Posts `body` as GitHub would, signed with `secret`; the status and the answer.
    pub async fn deliver_raw(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: &str,
    ) -> (u16, Value) {
        // wrangler dev's proxy (not the Worker) sometimes answers a POST 503 "Your worker
        // restarted mid-request" and never passes it on (docs/reliability.md); GitHub
        // redelivers a failed delivery, so the test does too. Only that answer is repeated.
        for _ in 0..5 {
            let resp = reqwest::Client::new()
                .post(format!("{}{WEBHOOK}", base_url()))
                .header("content-type", "application/json")
                .header("user-agent", "GitHub-Hookshot/e2e")
                .header("x-github-event", event)
                .header("x-github-delivery", delivery)
                .header("x-hub-signature-256", signature)
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            if status == 503 && text.contains("Your worker restarted mid-request") {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            return (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            );
        }
        panic!("webhook {event} {delivery}: the local proxy kept answering 503");
    }

    pub async fn deliver(&self, event: &str, delivery: &str, mut payload: Value) -> (u16, Value) {
        payload["repository"] = json!({ "full_name": self.repository, "id": 1 });
        let body = serde_json::to_vec(&payload).unwrap();
        let signature = self.sign(&self.secret, &body);
        self.deliver_raw(event, delivery, &body, &signature).await
    }

    pub fn push(branch: &str, sha: &str) -> Value {
        json!({ "ref": format!("refs/heads/{branch}"), "before": SHA_B, "after": sha,
                "created": false, "deleted": false, "forced": false })
    }

    pub fn pull_request(action: &str, number: u64, sha: &str) -> Value {
        json!({ "action": action, "number": number, "pull_request": {
            "number": number, "head": { "ref": "feature", "sha": sha },
            "base": { "ref": "main", "sha": SHA_B } } })
    }

    pub fn protection_rule(&self, run: u64, sha: &str) -> Value {
        json!({ "action": "requested", "environment": "production", "event": "push",
                "sha": sha, "ref": "refs/heads/main",
                "deployment_callback_url": format!(
                    "{}/repos/{}/actions/runs/{run}/deployment_protection_rule",
                    self.github, self.repository) })
    }

    /// Waits (up to 30 s) until `done` holds for what the fake recorded.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Recorded) -> bool) {
        for _ in 0..150 {
            if done(&self.recorded.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let s = self.recorded.lock().unwrap();
        panic!(
            "{what}: not seen within 30 s; statuses {:?}, comments {:?}, edits {:?}, reviews {:?}",
            s.statuses, s.comments, s.edits, s.reviews
        );
    }

    pub fn statuses_for(&self, sha: &str) -> Vec<Value> {
        let s = self.recorded.lock().unwrap();
        s.statuses
            .iter()
            .filter(|(for_sha, _)| for_sha == sha)
            .map(|(_, body)| body.clone())
            .collect()
    }
}
