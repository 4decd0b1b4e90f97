//! The HTTP side: our own accept loop over hyper (so a fault can drop a connection), fault
//! injection, the request log, the `/__sandbox/...` admin endpoints and the wire encoding of
//! replies and errors.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

use super::analytics::{AnalyticsModel, ModelPatch};
use super::api::{self, ApiRequest, Reply, JSON_BODY_LIMIT};
use super::emulator;
use super::error::SandboxError;
use super::faults::{self, FaultAction, FaultRule};
use super::pagination::Query;
use super::state::{hex_id, now_rfc3339, Store};
use super::workers::UPLOAD_LIMIT;

/// The request log keeps this many most recent entries.
const LOG_CAPACITY: usize = 10_000;

/// One logged API call.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub path: String,
    pub query: String,
    /// 0 when the connection was dropped or timed out without an answer.
    pub status: u16,
    pub latency_ms: f64,
    /// Ids of the fault rules that fired on this request.
    pub faults: Vec<String>,
}

#[derive(Default)]
struct RequestLog {
    entries: VecDeque<LogEntry>,
    next_seq: u64,
}

/// What every connection shares.
pub struct Shared {
    pub store: Store,
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<RequestLog>,
}

impl Shared {
    pub fn new(store: Store, faults: Vec<FaultRule>) -> Self {
        Shared {
            store,
            faults: Mutex::new(faults),
            log: Mutex::new(RequestLog::default()),
        }
    }

    fn record(
        &self,
        method: &str,
        path: &str,
        query: &str,
        status: u16,
        started: Instant,
        fired: &[String],
    ) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.next_seq += 1;
        let entry = LogEntry {
            seq: log.next_seq,
            at: now_rfc3339(),
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            status,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            faults: fired.to_vec(),
        };
        log.entries.push_back(entry);
        while log.entries.len() > LOG_CAPACITY {
            log.entries.pop_front();
        }
    }
}

/// Accepts connections until `shutdown` fires, then closes every open connection.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("sandbox: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let shared = shared.clone();
        connections.spawn(async move {
            // A `drop`/`timeout` fault notifies this to close the socket without an answer.
            let kill = Arc::new(Notify::new());
            let kill_for_requests = kill.clone();
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                let kill = kill_for_requests.clone();
                async move { Ok::<_, Infallible>(handle(shared, kill, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
            }
        });
    }
    connections.abort_all();
}

pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(status: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(value).unwrap_or_default()))
        .unwrap_or_default()
}

fn error_response(err: &SandboxError) -> Response<Body> {
    json_response(err.status(), &err.envelope())
}

fn reply_response(reply: Reply) -> Response<Body> {
    match reply {
        Reply::Envelope {
            status,
            result,
            result_info,
            messages,
        } => {
            let mut body =
                json!({ "success": true, "errors": [], "messages": messages, "result": result });
            if let Some(info) = result_info {
                body["result_info"] = info;
            }
            json_response(status, &body)
        }
        Reply::Raw {
            status,
            content_type,
            headers,
            body,
        } => {
            let mut builder = Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .header(header::CONTENT_TYPE, content_type);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::from(body)).unwrap_or_default()
        }
    }
}

async fn handle(shared: Arc<Shared>, kill: Arc<Notify>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or_default().to_string();

    if let Some(response) = crate::pages::serve::answer(&shared.store, &parts, &path).await {
        return response;
    }
    if let Some(token) = path.strip_prefix("/__sandbox/d1-import/") {
        return crate::d1::receive_import(&shared.store, &parts, token, body).await;
    }
    if let Some(rest) = path.strip_prefix("/__sandbox/route/") {
        return emulator::serve_route(&*shared.store.read().await, rest, parts.headers);
    }
    if let Some(rest) = path.strip_prefix("/__sandbox/workers/") {
        return serve_worker(&shared, rest, &parts.headers).await;
    }
    if let Some(rest) = path.strip_prefix("/__sandbox") {
        let body = match axum::body::to_bytes(Body::new(body), JSON_BODY_LIMIT).await {
            Ok(b) => b,
            Err(_) => {
                return error_response(&SandboxError::BodyTooLarge {
                    limit: JSON_BODY_LIMIT,
                    code: 10026,
                })
            }
        };
        return match admin(&shared, &method, rest, &body).await {
            Ok(value) => json_response(
                200,
                &json!({ "success": true, "errors": [], "messages": [], "result": value }),
            ),
            Err(e) => error_response(&e),
        };
    }

    let verdict = {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let request = faults::Request {
            method: &method,
            path: &path,
            token,
        };
        let mut rules = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
        faults::evaluate(&mut rules, &request, faults::random_unit)
    };
    if verdict.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(verdict.delay_ms)).await;
    }
    match verdict.terminal {
        Some(FaultAction::RateLimit { retry_after }) => {
            shared.record(&method, &path, &raw_query, 429, started, &verdict.fired);
            let body = SandboxError::rejected(
                429,
                971,
                "Please wait and consider throttling your request speed",
            )
            .envelope();
            let mut response = json_response(429, &body);
            if let Ok(v) = http::HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Some(FaultAction::ServerError { status }) => {
            shared.record(&method, &path, &raw_query, status, started, &verdict.fired);
            let err = SandboxError::rejected(
                status,
                10013,
                "An unknown error has occurred (injected by the sandbox)",
            );
            return error_response(&err);
        }
        Some(FaultAction::Drop) => {
            shared.record(&method, &path, &raw_query, 0, started, &verdict.fired);
            kill.notify_one();
            return std::future::pending().await;
        }
        Some(FaultAction::Timeout { ms, applied }) => {
            if applied {
                // The change happens; only its answer never reaches the caller.
                if let Err(SandboxError::NoRoute { method, path }) =
                    answer_api(&shared, parts, body, &path, &raw_query).await
                {
                    eprintln!("sandbox: no route for {method} {path}");
                }
            }
            shared.record(&method, &path, &raw_query, 0, started, &verdict.fired);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            kill.notify_one();
            return std::future::pending().await;
        }
        Some(FaultAction::Latency { .. } | FaultAction::RandomLatency { .. }) | None => {}
    }

    let response = match answer_api(&shared, parts, body, &path, &raw_query).await {
        Ok(reply) => reply_response(reply),
        Err(e) => {
            if let SandboxError::NoRoute { method, path } = &e {
                eprintln!("sandbox: no route for {method} {path}");
            }
            error_response(&e)
        }
    };
    shared.record(
        &method,
        &path,
        &raw_query,
        response.status().as_u16(),
        started,
        &verdict.fired,
    );
    response
}

async fn answer_api(
    shared: &Shared,
    parts: http::request::Parts,
    body: Incoming,
    path: &str,
    raw_query: &str,
) -> Result<Reply, SandboxError> {
    let is_upload = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/"));
    let (limit, code) = if path.ends_with("/pages/assets/upload") {
        (crate::pages::assets::ASSET_UPLOAD_LIMIT, 10026)
    } else if is_upload {
        (UPLOAD_LIMIT, 10027)
    } else {
        (JSON_BODY_LIMIT, 10026)
    };
    let body = axum::body::to_bytes(Body::new(body), limit)
        .await
        .map_err(|_| SandboxError::BodyTooLarge { limit, code })?;
    let Some(rest) = path.strip_prefix("/client/v4/") else {
        return Err(SandboxError::NoRoute {
            method: parts.method.to_string(),
            path: path.to_string(),
        });
    };
    let segments = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let request = ApiRequest {
        method: parts.method,
        path: path.to_string(),
        segments,
        query: Query::parse(Some(raw_query)),
        headers: parts.headers,
        body,
    };
    api::handle(&shared.store, &request).await
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SandboxError> {
    serde_json::from_slice(body)
        .map_err(|e| SandboxError::BadRequest(format!("invalid JSON body: {e}")))
}

/// `ANY /__sandbox/workers/{script}/{path}`: answers as the Worker would, for health checks.
/// Workers are stored, not run, so the answer comes from the analytics model: the version is
/// the one the `Cloudflare-Workers-Version-Overrides` header pins (only if it is in the active
/// deployment, as on Cloudflare), else the one `Cloudflare-Workers-Version-Key` hashes to
/// (`emulator::choose`), else the one with the largest share; a version whose
/// `error_ratio` is 0.5 or more answers 500, any other 200 with `ok <script> <version>`.
async fn serve_worker(shared: &Shared, rest: &str, headers: &http::HeaderMap) -> Response<Body> {
    let pinned = headers
        .get(emulator::OVERRIDES_HEADER)
        .and_then(|v| v.to_str().ok());
    let script_name = rest.split('/').next().unwrap_or_default();
    let st = shared.store.read().await;
    let Some(script) = st.scripts.iter().find(|s| s.name == script_name) else {
        return json_response(
            404,
            &json!({ "error": format!("no Worker named {script_name}") }),
        );
    };
    let Some(active) = script.active_deployment() else {
        return json_response(
            503,
            &json!({ "error": format!("{script_name} has no deployment") }),
        );
    };
    let keyed = headers
        .contains_key(emulator::KEY_HEADER)
        .then(|| emulator::choose(script, headers, 0.0))
        .flatten()
        .map(|(v, _)| v);
    let chosen = pinned
        .and_then(|h| emulator::pinned_version(h, script_name))
        .filter(|v| active.versions.iter().any(|dv| &dv.version_id == v))
        .or(keyed)
        .or_else(|| {
            active
                .versions
                .iter()
                .max_by(|a, b| a.percentage.total_cmp(&b.percentage))
                .map(|v| v.version_id.clone())
        })
        .unwrap_or_default();
    let failing = st.analytics.health_of(&chosen).error_ratio >= 0.5;
    let (status, text) = if failing {
        (500, format!("error {script_name} {chosen}"))
    } else {
        (200, format!("ok {script_name} {chosen}"))
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .header("x-sandbox-version", chosen)
        .body(Body::from(text))
        .unwrap_or_default()
}

/// `/__sandbox/...`: health, request log, faults and the analytics model.
async fn admin(
    shared: &Shared,
    method: &str,
    rest: &str,
    body: &[u8],
) -> Result<Value, SandboxError> {
    let no_route = || SandboxError::NoRoute {
        method: method.to_string(),
        path: format!("/__sandbox{rest}"),
    };
    match (method, rest.trim_end_matches('/')) {
        ("GET", "/health") => Ok(json!({ "status": "ok" })),
        ("GET", "/requests") => {
            let log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
            Ok(json!(log.entries))
        }
        ("DELETE", "/requests") => {
            let mut log = shared.log.lock().unwrap_or_else(|e| e.into_inner());
            let cleared = log.entries.len();
            log.entries.clear();
            Ok(json!({ "cleared": cleared }))
        }
        ("GET", "/faults") => Ok(json!(*shared
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner()))),
        ("POST", "/faults") => {
            let value: Value = parse_json(body)?;
            let mut rules: Vec<FaultRule> = match value {
                Value::Array(_) => parse_json(body)?,
                _ => vec![parse_json(body)?],
            };
            for rule in &mut rules {
                rule.validate()?;
                if rule.id.is_empty() {
                    rule.id = hex_id();
                }
            }
            shared
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(rules.clone());
            Ok(json!(rules))
        }
        ("DELETE", "/faults") => {
            let mut faults = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
            let cleared = faults.len();
            faults.clear();
            Ok(json!({ "cleared": cleared }))
        }
        ("DELETE", path) if path.starts_with("/faults/") => {
            let id = &path["/faults/".len()..];
            let mut faults = shared.faults.lock().unwrap_or_else(|e| e.into_inner());
            let before = faults.len();
            faults.retain(|f| f.id != id);
            if faults.len() == before {
                return Err(SandboxError::not_found(1404, format!("No fault rule {id}")));
            }
            Ok(json!({ "id": id }))
        }
        ("GET", "/analytics") => Ok(json!(shared.store.read().await.analytics)),
        ("PUT", "/analytics") => {
            let model: AnalyticsModel = parse_json(body)?;
            model.validate().map_err(SandboxError::BadRequest)?;
            shared
                .store
                .mutate(|st| {
                    st.analytics = model.clone();
                    Ok(json!(st.analytics))
                })
                .await
        }
        ("PATCH", "/analytics") => {
            let patch: ModelPatch = parse_json(body)?;
            shared
                .store
                .mutate(|st| {
                    let mut next = st.analytics.clone();
                    next.apply_patch(&patch);
                    next.validate().map_err(SandboxError::BadRequest)?;
                    st.analytics = next;
                    Ok(json!(st.analytics))
                })
                .await
        }
        _ => Err(no_route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("x%2"), "x%2");
        assert_eq!(percent_decode("%é1"), "%é1");
    }
}
