//! A fake peer for e2e tests: one loopback HTTP server standing in for Slack, Discord, a mail
//! API, a webhook receiver, Sentry, Datadog and New Relic at once (each under its own path
//! prefix). It records every request it receives and answers from a per-path script (then
//! 200), so a test can make an endpoint fail, throttle or vanish and see what the Worker does.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An answer the script gives: a status and, for 429, a `Retry-After`.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<u32>,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
        }
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    scripts: HashMap<String, VecDeque<Answer>>,
}

pub struct FakePeer {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    server: tokio::task::JoinHandle<()>,
}

async fn record(
    axum::extract::State(inner): axum::extract::State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let mut inner = inner.lock().unwrap();
    inner.received.push(Received {
        method: method.to_string(),
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let answer = inner
        .scripts
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Answer::status(200));
    let status = StatusCode::from_u16(answer.status).unwrap();
    let mut response = (status, format!("fake answered {}", answer.status)).into_response();
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}

impl FakePeer {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(record).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inner, server }
    }

    /// The next answers at `path` (afterwards: 200).
    pub fn script(&self, path: &str, answers: &[Answer]) {
        self.inner
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), answers.iter().copied().collect());
    }

    /// What was received at paths starting with `prefix`, in order.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        self.inner
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Waits until `n` requests arrived under `prefix` (panics after `timeout`).
    pub async fn wait_for(&self, prefix: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received(prefix);
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "{prefix}: {} of {n} requests after {timeout:?}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
