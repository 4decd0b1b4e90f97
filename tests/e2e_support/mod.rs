//! Shared helpers of the e2e test binaries: the running Worker's URL, an API client that
//! rides out `wrangler dev` restarts, and a fresh team with a project and an environment.
#![allow(dead_code)]

pub mod own_worker;
pub mod shop;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

pub fn base_url() -> String {
    std::env::var("CLODO_E2E_URL")
        .expect("CLODO_E2E_URL is not set: run these tests through tests/e2e.sh")
}

/// The dev-only bootstrap secret tests/e2e.sh passes to `wrangler dev`.
pub fn bootstrap_secret() -> String {
    std::env::var("CLODO_E2E_BOOTSTRAP_TOKEN").unwrap_or_else(|_| "clodo-dev-bootstrap".into())
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub token: String,
    /// The Worker this client talks to (the shared one unless a test runs its own).
    pub base: String,
}

impl Api {
    pub fn new(token: &str) -> Self {
        Self::at(&base_url(), token)
    }

    pub fn at(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            token: token.to_owned(),
            base: base.to_owned(),
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, text) = self.raw(method, path, body, &[]).await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        (status, value)
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        // `wrangler dev` rebuilds and restarts the Worker when anything under src/ changes
        // (other people edit it while tests run) and then fails the requests in flight with
        // this text; every request here is safe to repeat (acquire keeps a queued place).
        // A connection the server closed while the pool reused it (hyper's IncompleteMessage)
        // is retried too, for reads only: a write might have been applied.
        for _ in 0..5 {
            match self.raw_once(method, path, body.clone(), headers).await {
                Ok(answer) if !answer.2.contains("Your worker restarted mid-request") => {
                    return answer
                }
                Ok(_) => {}
                Err(e) if method == "GET" => eprintln!("{method} {path}: {e}; retrying"),
                Err(e) => panic!("{method} {path}: worker unreachable: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("{method} {path}: the Worker kept restarting");
    }

    async fn raw_once(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, String), reqwest::Error> {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        Ok((status, headers, resp.text().await?))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PUT", path, Some(body)).await
    }
}

/// A fresh team with its admin token, a project and one environment.
pub struct Team {
    pub admin: Api,
    pub team_id: String,
    pub project: String,
    pub env: String,
}

impl Team {
    pub async fn new() -> Self {
        Self::new_at(&base_url()).await
    }

    /// A fresh team on the Worker at `base`.
    pub async fn new_at(base: &str) -> Self {
        let operator = Api::at(base, &bootstrap_secret());
        let slug = unique("t");
        let (status, body) = operator
            .post(
                "/api/v1/teams",
                json!({ "slug": slug, "name": "E2E", "admin_email": format!("admin@{slug}.test") }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let admin = Api::at(base, body["token"]["secret"].as_str().unwrap());
        let team_id = body["team"]["id"].as_str().unwrap().to_owned();
        let (status, body) = admin
            .post("/api/v1/projects", json!({ "slug": "shop" }))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = admin
            .post(
                "/api/v1/projects/shop/environments",
                json!({ "name": "production" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        Self {
            admin,
            team_id,
            project: "shop".into(),
            env: "production".into(),
        }
    }

    pub fn env_path(&self) -> String {
        format!(
            "/api/v1/projects/{}/environments/{}",
            self.project, self.env
        )
    }

    /// A member with `role` and a token acting for them.
    pub async fn person(&self, name: &str, role: &str) -> (Api, String) {
        let email = format!("{name}@example.test");
        let (status, body) = self
            .admin
            .post("/api/v1/members", json!({ "email": email, "role": role }))
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .admin
            .post(
                "/api/v1/tokens",
                json!({ "name": name, "role": role, "member_email": email }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            Api::new(body["secret"].as_str().unwrap()),
            format!("member:{email}"),
        )
    }

    pub async fn audit(&self, action: &str) -> Vec<Value> {
        let (status, body) = self
            .admin
            .get(&format!("/api/v1/audit?action={action}&limit=200"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }
}

pub fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
