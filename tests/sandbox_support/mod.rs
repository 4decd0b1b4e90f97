//! Shared helpers of the `tests/sandbox_*.rs` integration tests: start a seeded sandbox, call its
//! API and admin endpoints, and run real wrangler against it in a throwaway project copy.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use clodo::sandbox::{self, RunningSandbox, SandboxOptions};
use serde_json::Value;

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
pub use common::{
    copy_dir, filter_by, find_by, items, str_of, strings, strings_present, succeeded,
};

pub const WRANGLER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/wrangler");
pub const ACCOUNT: &str = "acc_test";
pub const EDIT_TOKEN: &str = "user-edit-token";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sandbox")
}

/// The shared test seed (`tests/fixtures/sandbox/seed.json`).
pub fn seed() -> Value {
    let text = std::fs::read_to_string(fixtures().join("seed.json")).expect("seed fixture");
    serde_json::from_str(&text).expect("seed fixture is JSON")
}

pub async fn start_seeded() -> RunningSandbox {
    sandbox::start(SandboxOptions::with_seed_json(seed()))
        .await
        .expect("sandbox starts")
}

/// A fresh empty directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("clodo-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// Copies a fixture Worker project to a temp dir, so wrangler's `.wrangler/` output stays out of
/// the repository and parallel tests do not share it.
pub fn worker_project(name: &str) -> TempDir {
    let dir = temp_dir(&format!("worker-{name}"));
    copy_dir(&fixtures().join("workers").join(name), &dir);
    dir
}

/// A thin JSON client for the sandbox API.
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(sandbox: &RunningSandbox, token: Option<&str>) -> Self {
        Self::at(&sandbox.base_url(), token)
    }

    /// A client of the sandbox API at `base` (`http://…/client/v4`).
    pub fn at(base: &str, token: Option<&str>) -> Self {
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.map(String::from),
        }
    }

    /// `result` of a GET of `/accounts/{ACCOUNT}` + `rest` (the seeded account).
    pub async fn account(&self, rest: &str) -> Value {
        self.result(&format!("/accounts/{ACCOUNT}{rest}")).await
    }

    /// GET of a raw body (a script's content), as text.
    pub async fn text(&self, path: &str) -> String {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("sandbox reachable");
        resp.text().await.expect("body")
    }

    /// GET with the `cf-r2-jurisdiction: eu` header.
    pub async fn get_eu(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, &[("cf-r2-jurisdiction", "eu")])
            .await
    }

    /// Asserts that GET of `base` + each of `paths` fails with `want` (status, error code).
    pub async fn assert_all_refused(&self, base: &str, paths: &[&str], want: (u16, i64)) {
        for path in paths {
            let (status, body) = self.get(&format!("{base}{path}")).await;
            assert_eq!((status, error_code(&body)), want, "{path}");
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("sandbox reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("POST", path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send("PUT", path, Some(body), &[]).await
    }

    /// Sends and asserts the answer's status; returns its body.
    pub async fn expect(&self, want: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.send(method, path, body, &[]).await;
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    }

    /// `POST` that must answer 200; the body.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        self.expect(200, "POST", path, Some(body)).await
    }

    /// A request that must fail: its status and the first error code of its envelope.
    pub async fn refused(&self, method: &str, path: &str, body: Option<Value>) -> (u16, i64) {
        let (status, answer) = self.send(method, path, body, &[]).await;
        (status, error_code(&answer))
    }

    /// GET that must succeed; returns `result`.
    pub async fn result(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(body["success"], true, "GET {path}: {body}");
        body["result"].clone()
    }
}

/// The first error code of a failure envelope.
pub fn error_code(body: &Value) -> i64 {
    assert_eq!(
        body["success"], false,
        "expected a failure envelope: {body}"
    );
    body["errors"][0]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

pub async fn admin(
    sandbox: &RunningSandbox,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", sandbox.admin_url()));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("admin reachable");
    let status = resp.status().as_u16();
    let json: Value = resp.json().await.expect("admin JSON");
    assert_eq!(status, 200, "admin {path}: {json}");
    json["result"].clone()
}

/// The status of a `POST` of `body` to `url` without a token.
pub async fn post_status(url: String, body: &Value) -> u16 {
    let resp = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .expect("sandbox reachable");
    resp.status().as_u16()
}

/// The request log, as `(method, path, status)`.
pub async fn requests(sandbox: &RunningSandbox) -> Vec<(String, String, u16)> {
    let log = admin(sandbox, "GET", "/requests", None).await;
    log.as_array()
        .expect("log array")
        .iter()
        .map(|e| {
            (
                e["method"].as_str().unwrap_or_default().to_string(),
                e["path"].as_str().unwrap_or_default().to_string(),
                e["status"].as_u64().unwrap_or_default() as u16,
            )
        })
        .collect()
}

/// Runs real wrangler against the sandbox in `cwd`, with a throwaway HOME.
pub async fn wrangler(
    sandbox: &RunningSandbox,
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    wrangler_as(sandbox, EDIT_TOKEN, cwd, args, stdin).await
}

/// Runs real wrangler with a chosen API token.
pub async fn wrangler_as(
    sandbox: &RunningSandbox,
    token: &str,
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    wrangler_in_account(sandbox, (ACCOUNT, token), cwd, args, stdin).await
}

/// Runs real wrangler as `(account id, API token)`, with a throwaway HOME; gives up after two
/// minutes.
pub async fn wrangler_in_account(
    sandbox: &RunningSandbox,
    (account, token): (&str, &str),
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    assert!(
        Path::new(WRANGLER).exists(),
        "wrangler is not installed at {WRANGLER}: run `npm install` at the repository root"
    );
    let home = temp_dir("wrangler-home");
    let mut cmd = tokio::process::Command::new(WRANGLER);
    cmd.args(args)
        .current_dir(cwd)
        .env("HOME", &*home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("CLOUDFLARE_API_BASE_URL", sandbox.base_url())
        .env("CLOUDFLARE_API_TOKEN", token)
        .env("CLOUDFLARE_ACCOUNT_ID", account)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env_remove("CLOUDFLARE_API_KEY")
        .env_remove("CLOUDFLARE_EMAIL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn wrangler");
    {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
    }
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("wrangler finished within 2 minutes")
    .expect("wrangler ran");
    drop(home);
    out
}

/// Runs wrangler and requires success, returning its combined output.
pub async fn wrangler_ok(
    sandbox: &RunningSandbox,
    cwd: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> String {
    let out = wrangler(sandbox, cwd, args, stdin).await;
    succeeded(&format!("wrangler {args:?}"), &out, "\n")
}

/// A finished process's stdout and stderr, for assertions and failure messages.
pub fn combined(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
