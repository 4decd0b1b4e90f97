//! End-to-end: the GitHub integration against the local Worker (real D1, the `Outbox` object
//! running the deferred work) and a fake GitHub API this test starts on loopback, configured as
//! the integration's `api_base_url`. The fake serves the commits' files through the contents
//! API and records the statuses, comments, comment edits and deployment reviews it receives.
//! Deliveries are signed here with the hmac crate, independently of the code under test.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use e2e_support::{base_url, str_of, unique, Team};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const ACCOUNT: &str = "acc_test";
const SANDBOX_TOKEN: &str = "user-edit-token";
const GITHUB_TOKEN: &str = "ghp_e2e_token";
const WEBHOOK: &str = "/integrations/github/webhook";

const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2";

/// What the fake GitHub received.
#[derive(Default)]
struct Recorded {
    /// (path, sha) → file text.
    files: HashMap<(String, String), String>,
    statuses: Vec<(String, Value)>,
    /// (comment id, pull request, body).
    comments: Vec<(u64, u64, String)>,
    /// (comment id, body).
    edits: Vec<(u64, String)>,
    reviews: Vec<(u64, Value)>,
    /// Authorization headers seen.
    auth: Vec<String>,
}

type Shared = Arc<Mutex<Recorded>>;

fn note_auth(state: &Shared, headers: &HeaderMap) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.lock().unwrap().auth.push(auth);
}

async fn contents(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, path)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    note_auth(&state, &headers);
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
    note_auth(&state, &headers);
    state.lock().unwrap().statuses.push((sha, body));
    (StatusCode::CREATED, Json(json!({ "id": 1 })))
}

async fn comment(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_owner, _repo, number)): Path<(String, String, u64)>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    note_auth(&state, &headers);
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
    note_auth(&state, &headers);
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
async fn fake_github() -> (String, Shared) {
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
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

/// A team whose project `shop` is connected to a fresh repository on the fake GitHub, its
/// `production` environment bound to the sandbox account with a stored credential.
struct Connected {
    team: Team,
    repository: String,
    secret: String,
    github: String,
    recorded: Shared,
}

async fn connected() -> Connected {
    let team = Team::new().await;
    team.bind(ACCOUNT).await;
    team.add_credential(ACCOUNT, "sandbox", SANDBOX_TOKEN).await;
    let (github, recorded) = fake_github().await;
    let repository = format!("acme/{}", unique("shop"));
    let secret = unique("webhook-secret-0123456789");
    let integration = team
        .admin
        .expect(
            200,
            "PUT",
            "/api/v1/projects/shop/github",
            Some(json!({
                "repository": repository,
                "webhook_secret": secret,
                "api_token": GITHUB_TOKEN,
                "branches": ["main"],
                "api_base_url": github,
                "environment": "production",
            })),
        )
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

const CLODO_TOML: &str =
    "project = \"shop\"\n\n[[services]]\nname = \"api\"\nconfig = \"workers/api\"\n";

impl Connected {
    /// Commit `sha` holds clodo.toml and the Worker's wrangler config `wrangler`.
    fn commit(&self, sha: &str, clodo_toml: &str, wrangler: &str) {
        let mut s = self.recorded.lock().unwrap();
        s.files
            .insert(("clodo.toml".into(), sha.into()), clodo_toml.into());
        s.files.insert(
            ("workers/api/wrangler.toml".into(), sha.into()),
            wrangler.into(),
        );
    }

    fn sign(&self, secret: &str, body: &[u8]) -> String {
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
    async fn deliver_raw(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: &str,
    ) -> (u16, Value) {
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
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn deliver(&self, event: &str, delivery: &str, mut payload: Value) -> (u16, Value) {
        payload["repository"] = json!({ "full_name": self.repository, "id": 1 });
        let body = serde_json::to_vec(&payload).unwrap();
        let signature = self.sign(&self.secret, &body);
        self.deliver_raw(event, delivery, &body, &signature).await
    }

    fn push(branch: &str, sha: &str) -> Value {
        json!({ "ref": format!("refs/heads/{branch}"), "before": SHA_B, "after": sha,
                "created": false, "deleted": false, "forced": false })
    }

    fn pull_request(action: &str, number: u64, sha: &str) -> Value {
        json!({ "action": action, "number": number, "pull_request": {
            "number": number, "head": { "ref": "feature", "sha": sha },
            "base": { "ref": "main", "sha": SHA_B } } })
    }

    fn protection_rule(&self, run: u64, sha: &str) -> Value {
        json!({ "action": "requested", "environment": "production", "event": "push",
                "sha": sha, "ref": "refs/heads/main",
                "deployment_callback_url": format!(
                    "{}/repos/{}/actions/runs/{run}/deployment_protection_rule",
                    self.github, self.repository) })
    }

    /// Waits (up to 30 s) until `done` holds for what the fake recorded.
    async fn wait_for(&self, what: &str, done: impl Fn(&Recorded) -> bool) {
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

    fn statuses_for(&self, sha: &str) -> Vec<Value> {
        let s = self.recorded.lock().unwrap();
        s.statuses
            .iter()
            .filter(|(for_sha, _)| for_sha == sha)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

const PRESENT: &str = include_str!("fixtures/assess/present.toml");

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_signed_push_gets_a_commit_status_once_and_bad_signatures_change_nothing() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, "name = \"broken\nmain = ");

    let (status, body) = gh
        .deliver(
            "ping",
            &unique("d"),
            json!({ "zen": "Keep it logically awesome.", "hook_id": 1 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A push to the tracked branch: answered at once, assessed by the outbox, reported.
    let delivery = unique("d");
    let (status, body) = gh
        .deliver("push", &delivery, Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the status of A", |r| {
        r.statuses.iter().any(|(s, _)| s == SHA_A)
    })
    .await;
    let statuses = gh.statuses_for(SHA_A);
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let posted = &statuses[0];
    assert_eq!(posted["context"], "clodo/assessment");
    assert_eq!(posted["state"], "success", "{posted}");
    // The link is to the stored report, which says what the status says.
    let url = str_of(&posted["target_url"]);
    let path = &url[url.find("/api/v1/assessments/").expect(url)..];
    let stored = gh.team.admin.read(path).await;
    assert_eq!(stored["report"]["ready"], true, "{stored}");
    assert_eq!(stored["account_id"], ACCOUNT, "{stored}");
    assert!(
        stored["report"]["api_calls"].as_u64().unwrap() >= 3,
        "{stored}"
    );
    assert!(gh
        .recorded
        .lock()
        .unwrap()
        .auth
        .iter()
        .all(|a| a == &format!("Bearer {GITHUB_TOKEN}")));

    // A redelivery (same X-GitHub-Delivery) does nothing twice.
    let (status, body) = gh
        .deliver("push", &delivery, Connected::push("main", SHA_A))
        .await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");

    // A broken config is reported as a failure.
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_B))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the status of B", |r| {
        r.statuses.iter().any(|(s, _)| s == SHA_B)
    })
    .await;
    assert_eq!(gh.statuses_for(SHA_B)[0]["state"], "failure");

    // Untracked branches are ignored.
    let (status, body) = gh
        .deliver("push", &unique("d"), Connected::push("dev", SHA_A))
        .await;
    assert_eq!((status, &body["state"]), (202, &json!("ignored")), "{body}");

    // Bad signatures: a tampered body, another secret, a malformed header, none at all. All
    // are 401 with the same message, and nothing is done.
    let mut payload = Connected::push("main", SHA_B);
    payload["repository"] = json!({ "full_name": gh.repository });
    let body = serde_json::to_vec(&payload).unwrap();
    let good = gh.sign(&gh.secret, &body);
    let mut tampered = body.clone();
    *tampered.last_mut().unwrap() = b' ';
    let mut messages = Vec::new();
    for (bytes, signature) in [
        (tampered.clone(), good.clone()),
        (body.clone(), gh.sign("another-secret-0123456789", &body)),
        (body.clone(), good.trim_start_matches("sha256=").to_owned()),
        (body.clone(), String::new()),
    ] {
        let (status, answer) = gh
            .deliver_raw("push", &unique("d"), &bytes, &signature)
            .await;
        assert_eq!(status, 401, "{answer}");
        messages.push(answer["error"]["message"].clone());
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(gh.statuses_for(SHA_A).len(), 1);
    assert_eq!(gh.statuses_for(SHA_B).len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_pull_request_gets_one_comment_edited_in_place_on_the_next_push() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, "name = \"broken\nmain = ");

    let (status, body) = gh
        .deliver(
            "pull_request",
            &unique("d"),
            Connected::pull_request("opened", 7, SHA_A),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the comment", |r| !r.comments.is_empty()).await;
    let (id, number, text) = gh.recorded.lock().unwrap().comments[0].clone();
    assert_eq!(number, 7);
    assert!(
        text.contains("Clodo assessment of `aaaaaaa`") && text.contains("ready"),
        "{text}"
    );

    let (status, _) = gh
        .deliver(
            "pull_request",
            &unique("d"),
            Connected::pull_request("synchronize", 7, SHA_B),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the edit", |r| !r.edits.is_empty()).await;
    let s = gh.recorded.lock().unwrap();
    assert_eq!(s.comments.len(), 1, "one comment only: {:?}", s.comments);
    assert_eq!(s.edits.len(), 1, "{:?}", s.edits);
    assert_eq!(s.edits[0].0, id);
    assert!(
        s.edits[0].1.contains("`bbbbbbb`") && s.edits[0].1.contains("not ready"),
        "{}",
        s.edits[0].1
    );
    assert!(s
        .statuses
        .iter()
        .any(|(sha, b)| sha == SHA_B && b["state"] == "failure"));
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn deployment_reviews_follow_the_environment_policy_and_a_freeze_rejects() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the status of A", |r| !r.statuses.is_empty())
        .await;

    // An assessed, ready commit with nothing against it is approved.
    let (status, body) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(41, SHA_A),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the first review", |r| !r.reviews.is_empty())
        .await;
    let first = gh.recorded.lock().unwrap().reviews[0].clone();
    assert_eq!(first.0, 41);
    assert_eq!(first.1["state"], "approved", "{}", first.1);
    assert_eq!(first.1["environment_name"], "production");

    // During a freeze it is rejected, saying why.
    let now = chrono::Utc::now();
    gh.team
        .set_policy(json!({ "freezes": [{
            "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "reason": "launch week" }] }))
        .await;
    let (status, _) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(42, SHA_A),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the second review", |r| r.reviews.len() == 2)
        .await;
    let second = gh.recorded.lock().unwrap().reviews[1].clone();
    assert_eq!(second.0, 42);
    assert_eq!(second.1["state"], "rejected", "{}", second.1);
    assert!(
        str_of(&second.1["comment"]).contains("launch week"),
        "{}",
        second.1
    );

    // A commit Clodo never assessed is not approved either (a check that could not be made).
    gh.team.set_policy(json!({})).await;
    let (status, _) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(43, SHA_B),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the third review", |r| r.reviews.len() == 3)
        .await;
    let third = gh.recorded.lock().unwrap().reviews[2].clone();
    assert_eq!(third.1["state"], "rejected", "{}", third.1);
    assert!(
        str_of(&third.1["comment"]).contains("no Clodo assessment"),
        "{}",
        third.1
    );

    // Disconnected: the same delivery is refused like a forgery.
    gh.team
        .admin
        .expect(204, "DELETE", "/api/v1/projects/shop/github", None)
        .await;
    let (status, _) = gh
        .deliver(
            "deployment_protection_rule",
            &unique("d"),
            gh.protection_rule(44, SHA_A),
        )
        .await;
    assert_eq!(status, 401);
}
