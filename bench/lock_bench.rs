//! Lock benchmark: acquire + release round trips against a running Worker, through the
//! public API (auth, D1 lookups, the `DeployLock` Durable Object). Prints p50/p99 latency of
//! one acquire+release pair and pairs per second, for 1 environment and for 50 environments
//! in parallel (one client per environment, so no request waits in a queue); then two floors
//! from 1 and 50 clients: Clodo's `GET /healthz` (its router, no D1, no object) and, when
//! `CLODO_BENCH_FLOOR_URL` names one, an empty JS Worker under the same `wrangler dev` (what
//! the local stack costs before any Worker code runs).
//!
//! Run by `bench/lock.sh`, which starts the local Worker; needs `CLODO_BENCH_URL` and the
//! operator secret in `CLODO_BOOTSTRAP_TOKEN`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Requests the local stack dropped and this client sent again: a connection reset, or
/// `wrangler dev`'s proxy answering 503 "Your worker restarted mid-request" (its answer to any
/// failed fetch to workerd; docs/reliability.md). Counted and printed, never hidden.
static RESENT: AtomicUsize = AtomicUsize::new(0);

/// POSTs `body`; a request the local stack dropped is sent again (at most 5 times), as a CLI
/// would. A release sent again after the first one was applied answers `not_holder`: that is
/// the lock already released, so it counts as done.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    post_keyed(http, url, token, body, None).await
}

/// `post`, with an `Idempotency-Key` when `key` is given (the same on every resend).
async fn post_keyed(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
    key: Option<&str>,
) -> Value {
    let mut resent = false;
    for _ in 0..5 {
        let mut req = http.post(url).bearer_auth(token).json(&body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let sent = req.send().await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if e.is_connect() || e.is_request() => {
                RESENT.fetch_add(1, Ordering::Relaxed);
                resent = true;
                continue;
            }
            Err(e) => panic!("{url}: {e}"),
        };
        let status = resp.status();
        let text = resp.text().await.expect("body");
        if status.as_u16() == 503 && text.contains("restarted mid-request") {
            RESENT.fetch_add(1, Ordering::Relaxed);
            resent = true;
            continue;
        }
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{url}: {status} {text}"));
        if resent && url.ends_with("/release") && text.contains("not_holder") {
            return value;
        }
        assert!(status.is_success(), "{url}: {status} {value}");
        return value;
    }
    panic!("{url}: the local stack dropped the request 5 times");
}

/// What runs the Worker (`CLODO_BENCH_STACK`, set by bench/lock.sh): each line starts with it.
fn stack() -> String {
    std::env::var("CLODO_BENCH_STACK").unwrap_or_else(|_| "local Worker".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

/// Runs `clients` clients at once, each timing `per_client` rounds of `round(http, client,
/// i)` one after another on its own connection pool: every round's duration, sorted, and the
/// wall time of the whole run.
async fn timed_clients<F, Fut>(
    clients: usize,
    per_client: usize,
    round: F,
) -> (Vec<Duration>, Duration)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks = (0..clients).map(|c| {
        let round = round.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut out = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let t = Instant::now();
                round(http.clone(), c, i).await;
                out.push(t.elapsed());
            }
            out
        })
    });
    let mut all: Vec<Duration> = Vec::new();
    for t in futures::future::join_all(tasks).await {
        all.extend(t.expect("bench client"));
    }
    let wall = start.elapsed();
    all.sort();
    (all, wall)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How the pairs' requests are sent.
#[derive(Clone, Copy, PartialEq)]
enum Sending {
    /// Without `Idempotency-Key`: the API's lock path alone.
    Plain,
    /// Each request with its own `Idempotency-Key`, as `clodo` sends every POST: the key's
    /// claim and stored answer on top.
    Keyed,
}

/// Acquire + release pairs on `envs` environments, one client each.
async fn scenario(
    base: &str,
    token: &str,
    envs: usize,
    pairs_per_env: usize,
    send: Sending,
    report: bool,
) {
    let resent_before = RESENT.load(Ordering::Relaxed);
    let (base, token) = (base.to_owned(), token.to_owned());
    let (all, wall) = timed_clients(envs, pairs_per_env, move |http, e, i| {
        let lock = format!("{base}/api/v1/projects/bench/environments/env-{e}/lock");
        let token = token.clone();
        async move {
            let holder = format!("bench-{e}-{i}");
            let acquire = json!({ "holder_id": holder, "lease_ms": 30_000 });
            let key = |what: &str| (send == Sending::Keyed).then(|| format!("{holder}-{what}"));
            let got = post_keyed(
                &http,
                &format!("{lock}/acquire"),
                &token,
                acquire,
                key("acquire").as_deref(),
            )
            .await;
            assert_eq!(got["outcome"], "granted", "{got}");
            let release = json!({ "holder_id": holder });
            post_keyed(
                &http,
                &format!("{lock}/release"),
                &token,
                release,
                key("release").as_deref(),
            )
            .await;
        }
    })
    .await;
    if !report {
        return;
    }
    // Keyed lines start differently, so the plain lines' pattern in bench/run skips them.
    let keyed = if send == Sending::Keyed {
        "keyed as clodo sends: "
    } else {
        ""
    };
    println!(
        "[{}] {keyed}{envs:>2} environment(s) in parallel: {} acquire+release pairs in {:.2}s  p50 {:.1} ms  p99 {:.1} ms  throughput {:.0} pairs/s  (requests the local stack dropped and were sent again: {})",
        stack(),
        all.len(),
        wall.as_secs_f64(),
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        all.len() as f64 / wall.as_secs_f64(),
        RESENT.load(Ordering::Relaxed) - resent_before
    );
}

/// A floor to compare a lock pair's two requests with: GETs of `url` from `clients` clients
/// at once, `per_client` requests each, printed under `label`.
async fn floor(url: &str, label: &str, clients: usize, per_client: usize) {
    let url = url.to_owned();
    let (all, wall) = timed_clients(clients, per_client, move |http, _, _| {
        let url = url.clone();
        async move {
            let resp = http.get(&url).send().await.expect("worker reachable");
            assert!(resp.status().is_success(), "{url}: {}", resp.status());
            resp.bytes().await.expect("body");
        }
    })
    .await;
    println!(
        "[{}] {clients:>2} client(s), {label}: {} requests  p50 {:.1} ms  p99 {:.1} ms  throughput {:.0} requests/s",
        stack(),
        all.len(),
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        all.len() as f64 / wall.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let base = std::env::var("CLODO_BENCH_URL").expect("CLODO_BENCH_URL");
    let secret =
        std::env::var("CLODO_BOOTSTRAP_TOKEN").unwrap_or_else(|_| "clodo-dev-bootstrap".into());
    let http = reqwest::Client::new();
    let slug = format!("bench-{}", std::process::id());
    let team = post(
        &http,
        &format!("{base}/api/v1/teams"),
        &secret,
        json!({ "slug": slug, "name": "bench", "admin_email": format!("bench@{slug}.test") }),
    )
    .await;
    let admin = team["token"]["secret"]
        .as_str()
        .expect("admin token")
        .to_owned();
    post(
        &http,
        &format!("{base}/api/v1/projects"),
        &admin,
        json!({ "slug": "bench" }),
    )
    .await;
    for e in 0..50 {
        post(
            &http,
            &format!("{base}/api/v1/projects/bench/environments"),
            &admin,
            json!({ "name": format!("env-{e}") }),
        )
        .await;
    }
    let pairs: usize = std::env::var("CLODO_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // Warm-up: the first request to each Durable Object instantiates it.
    scenario(&base, &admin, 1, 5, Sending::Plain, false).await;
    scenario(&base, &admin, 1, pairs, Sending::Plain, true).await;
    scenario(&base, &admin, 50, (pairs / 10).max(5), Sending::Plain, true).await;
    scenario(&base, &admin, 1, pairs, Sending::Keyed, true).await;
    let healthz = format!("{base}/healthz");
    let label = "GET /healthz (floor: no D1, no object)";
    floor(&healthz, label, 1, pairs).await;
    floor(&healthz, label, 50, (pairs / 5).max(5)).await;
    if let Ok(empty) = std::env::var("CLODO_BENCH_FLOOR_URL") {
        let label = "empty JS Worker (floor of the local stack)";
        floor(&empty, label, 1, pairs).await;
        floor(&empty, label, 50, (pairs / 5).max(5)).await;
    }
}
