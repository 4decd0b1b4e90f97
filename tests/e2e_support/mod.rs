//! Shared helpers of the e2e test binaries: the running Worker's URL, an API client that
//! rides out `wrangler dev` restarts, a fresh team with a project and an environment, and the
//! request and assertion shapes the tests repeat (create and expect 201, refuse with a code).
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;
pub mod lock_audit;
pub mod lossy_proxy;
pub mod own_worker;
pub mod pages;
pub mod readme;
pub mod shop;

#[allow(unused_imports)]
pub use common::{
    copy_dir, filter_by, find_by, items, str_of, strings, strings_present, succeeded,
};

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

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, None).await
    }

    /// Sends and asserts the answer's status; returns its body.
    pub async fn expect(&self, want: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.send(method, path, body).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    }

    /// `POST` that must answer 201 Created; the created body.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        self.expect(201, "POST", path, Some(body)).await
    }

    /// `POST` that must answer 200; the body.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        self.expect(200, "POST", path, Some(body)).await
    }

    /// `GET` that must answer 200; the body.
    pub async fn read(&self, path: &str) -> Value {
        self.expect(200, "GET", path, None).await
    }

    /// A request that must be refused with `want_status` and the error `code`; the error body.
    pub async fn refused(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        (want_status, code): (u16, &str),
    ) -> Value {
        let (status, err) = self.send(method, path, body).await;
        assert_error(status, &err, want_status, code);
        err
    }

    /// `DELETE` that must answer 200; the body.
    pub async fn delete_ok(&self, path: &str) -> Value {
        self.expect(200, "DELETE", path, None).await
    }

    /// Asserts that this client's token no longer works (`GET /me` is 401); the error body.
    pub async fn assert_signed_out(&self) -> Value {
        self.refused("GET", "/api/v1/me", None, (401, "unauthorized"))
            .await
    }

    /// A `POST` refused with `want_status` and `code`; the error body.
    pub async fn post_refused(&self, path: &str, body: Value, want: (u16, &str)) -> Value {
        self.refused("POST", path, Some(body), want).await
    }

    /// A `POST` with an `idempotency-key`: status and body (Null when it is not JSON).
    pub async fn post_with_key(&self, path: &str, body: Value, key: &str) -> (u16, Value) {
        let (status, _, text) = self
            .raw("POST", path, Some(body), &[("idempotency-key", key)])
            .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A token made by this (admin) client with `role`, tied to no member: client and id.
    pub async fn team_token(&self, name: &str, role: &str) -> (Api, String) {
        let body = self
            .create("/api/v1/tokens", json!({ "name": name, "role": role }))
            .await;
        (
            Api::at(&self.base, str_of(&body["secret"])),
            str_of(&body["id"]).to_owned(),
        )
    }

    /// Requests a deployment of `shop/production` (plus the fields of `extra`); the record.
    pub async fn request_deployment(&self, extra: Value) -> Value {
        let mut request = json!({ "project": "shop", "environment": "production" });
        merge(&mut request, extra);
        self.create("/api/v1/deployments", request).await
    }

    /// Asserts the deployment's recorded status (as `GET /api/v1/deployments/{id}` tells it);
    /// the record.
    pub async fn assert_status(&self, id: &str, want: &str) -> Value {
        let record = self.read(&format!("/api/v1/deployments/{id}")).await;
        assert_eq!(record["status"], want, "{record}");
        record
    }

    /// The deployment's `/transitions` answer for a move to `to`: status and body.
    pub async fn transition(&self, id: &str, to: &str) -> (u16, Value) {
        self.post(
            &format!("/api/v1/deployments/{id}/transitions"),
            json!({ "to": to }),
        )
        .await
    }

    /// Takes `lock` (an environment's `.../lock` path) for `holder`; the answer body.
    pub async fn acquire(&self, lock: &str, holder: &str, lease_ms: Option<u64>) -> Value {
        let mut body = json!({ "holder_id": holder });
        if let Some(lease) = lease_ms {
            body["lease_ms"] = json!(lease);
        }
        self.post_ok(&format!("{lock}/acquire"), body).await
    }

    /// Calls `lock/<op>` for `holder` (release, heartbeat, cancel): status and body.
    pub async fn lock_op(&self, lock: &str, op: &str, holder: &str) -> (u16, Value) {
        self.post(&format!("{lock}/{op}"), json!({ "holder_id": holder }))
            .await
    }
}

/// Exit code, stdout and stderr of a finished command.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Adds the fields of `extra` (an object) to `target` (an object).
pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}

/// Asserts that the error's `field` (message, hint) mentions `needle`.
pub fn assert_says(err: &Value, field: &str, needle: &str) {
    assert!(
        err["error"][field]
            .as_str()
            .is_some_and(|text| text.contains(needle)),
        "error {field} does not mention {needle:?}: {err}"
    );
}

/// Waits until the rollout's traffic is at `percent` (its first step, in the tests).
pub async fn wait_for_traffic(api: &Api, id: &str, percent: f64, timeout: Duration) -> Value {
    wait_for_rollout(api, id, "the first step", timeout, |s| {
        s["traffic_percent"] == json!(percent)
    })
    .await
}

/// Polls `GET /api/v1/deliveries/{delivery}` until its state is `state` (at most 60 s): the
/// delivery's detail.
pub async fn wait_for_delivery(admin: &Api, delivery: &str, state: &str) -> Value {
    for _ in 0..300 {
        let detail = admin.read(&format!("/api/v1/deliveries/{delivery}")).await;
        if detail["delivery"]["state"] == json!(state) {
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("delivery {delivery} never became {state}");
}

/// Polls `GET /api/v1/deployments/{id}/rollout` until `done` says so (or fails after
/// `timeout`).
pub async fn wait_for_rollout(
    api: &Api,
    id: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = std::time::Instant::now();
    loop {
        let s = api.read(&format!("/api/v1/deployments/{id}/rollout")).await;
        if done(&s) {
            return s;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
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
        let body = operator
            .create(
                "/api/v1/teams",
                json!({ "slug": slug, "name": "E2E", "admin_email": format!("admin@{slug}.test") }),
            )
            .await;
        let admin = Api::at(base, str_of(&body["token"]["secret"]));
        let team_id = str_of(&body["team"]["id"]).to_owned();
        admin
            .create("/api/v1/projects", json!({ "slug": "shop" }))
            .await;
        let team = Self {
            admin,
            team_id,
            project: "shop".into(),
            env: "production".into(),
        };
        team.add_environment(json!({ "name": "production" })).await;
        team
    }

    pub fn env_path(&self) -> String {
        format!(
            "/api/v1/projects/{}/environments/{}",
            self.project, self.env
        )
    }

    /// The environment's lock (`…/lock`; `/acquire` and so on below it).
    pub fn lock(&self) -> String {
        format!("{}/lock", self.env_path())
    }

    /// Runs a deployment of `shop/production` through the API as the CLI does: requested with
    /// the fields of `request`, the environment lock acquired, then `deploying` and each status
    /// of `path` in turn. Its id.
    pub async fn run_deployment(&self, request: Value, path: &[&str]) -> String {
        let dep = self.admin.request_deployment(request).await;
        let id = str_of(&dep["id"]).to_owned();
        let held = self.admin.acquire(&self.lock(), &id, None).await;
        assert_eq!(held["outcome"], "granted", "{held}");
        for to in std::iter::once(&"deploying").chain(path) {
            let (status, body) = self.admin.transition(&id, to).await;
            assert_eq!(status, 200, "{to}: {body}");
        }
        id
    }

    /// Adds a notification channel to the project `shop` (admin); the answer.
    pub async fn add_channel(&self, body: Value) -> Value {
        let mut request = json!({ "project": "shop" });
        merge(&mut request, body);
        self.admin.create("/api/v1/channels", request).await
    }

    /// Adds an environment to the project `shop` (admin).
    pub async fn add_environment(&self, body: Value) {
        self.admin
            .create("/api/v1/projects/shop/environments", body)
            .await;
    }

    /// Stores the admin's Cloudflare credential for `account`; the created record.
    pub async fn add_credential(&self, account: &str, name: &str, api_token: &str) -> Value {
        self.admin
            .create(
                "/api/v1/credentials",
                json!({ "account_id": account, "name": name, "api_token": api_token }),
            )
            .await
    }

    /// Replaces the environment's policy (admin).
    pub async fn set_policy(&self, policy: Value) {
        self.admin
            .expect(
                200,
                "PUT",
                &format!("{}/policy", self.env_path()),
                Some(policy),
            )
            .await;
    }

    /// Binds `shop/production` to a Cloudflare `account` (admin).
    pub async fn bind(&self, account: &str) {
        self.admin
            .expect(
                200,
                "PATCH",
                "/api/v1/projects/shop/environments/production",
                Some(json!({ "cloudflare_account_id": account })),
            )
            .await;
    }

    /// A member with `role` and a token acting for them.
    pub async fn person(&self, name: &str, role: &str) -> (Api, String) {
        let email = format!("{name}@example.test");
        self.admin
            .create("/api/v1/members", json!({ "email": email, "role": role }))
            .await;
        let body = self
            .admin
            .create(
                "/api/v1/tokens",
                json!({ "name": name, "role": role, "member_email": email }),
            )
            .await;
        (
            Api::at(&self.admin.base, str_of(&body["secret"])),
            format!("member:{email}"),
        )
    }

    /// The id of the member with `email`.
    pub async fn member_id(&self, email: &str) -> String {
        let members = self.admin.read("/api/v1/members").await;
        str_of(&find_by(&members["items"], "email", email)["id"]).to_owned()
    }

    /// Removes the member with `email` (admin).
    pub async fn remove_member(&self, email: &str) {
        let id = self.member_id(email).await;
        self.admin.delete_ok(&format!("/api/v1/members/{id}")).await;
    }

    pub async fn audit(&self, action: &str) -> Vec<Value> {
        let body = self
            .admin
            .read(&format!("/api/v1/audit?action={action}&limit=200"))
            .await;
        items(&body["items"]).clone()
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
