//! A proxy in front of the control plane that loses answers on purpose: every request goes
//! on to the Worker and is done there, but for the first request matching each rule the
//! Worker's answer is thrown away and the client gets what `wrangler dev`'s proxy answers when
//! its connection to the Worker drops (`503`, "Your worker restarted mid-request", not the
//! API's error body). It runs on a thread of its own, so a test may block on a `clodo`
//! process meanwhile. What it saw is kept for the test to check. WebSocket upgrades are
//! answered `501` (the CLI then polls).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Loses the answer of the first request with this method whose path ends with `suffix`.
#[derive(Debug, Clone)]
pub struct Lose {
    pub method: &'static str,
    pub suffix: String,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Its `Idempotency-Key`, if any.
    pub key: Option<String>,
    /// The Worker's status.
    pub status: u16,
    /// The Worker answered from a stored answer (`idempotent-replayed: true`).
    pub replayed: bool,
    /// The proxy threw the Worker's answer away.
    pub lost: bool,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    rules: Mutex<Vec<Lose>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct LossyProxy {
    pub url: String,
    shared: Arc<Shared>,
}

impl LossyProxy {
    /// Starts a proxy to `upstream` that loses one answer per rule.
    pub fn start(upstream: &str, rules: Vec<Lose>) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            rules: Mutex::new(rules),
            seen: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(forward).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        Self { url, shared }
    }

    /// Every request so far, in the order their answers came back from the Worker.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The rules whose request never came.
    pub fn unused(&self) -> Vec<Lose> {
        self.shared.rules.lock().unwrap().clone()
    }
}

async fn forward(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if parts.headers.contains_key("upgrade") {
        return (
            StatusCode::NOT_IMPLEMENTED,
            "no WebSockets through this proxy",
        )
            .into_response();
    }
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let target = format!(
        "{}{}",
        shared.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut out = shared
        .http
        .request(parts.method.clone(), target)
        .body(bytes.to_vec());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    let answer = match out.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status().as_u16();
    let headers: HeaderMap = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    let lost = {
        let mut rules = shared.rules.lock().unwrap();
        let hit = rules
            .iter()
            .position(|r| r.method == method && path.ends_with(&r.suffix));
        hit.map(|i| rules.remove(i)).is_some()
    };
    shared.seen.lock().unwrap().push(Seen {
        method,
        path,
        key: parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        status,
        replayed: headers.get("idempotent-replayed").is_some(),
        lost,
    });
    if lost {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Your worker restarted mid-request. Please try sending the request again. Only GET or HEAD requests are retried automatically.",
        )
            .into_response();
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}
