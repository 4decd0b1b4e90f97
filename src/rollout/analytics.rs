//! Measuring a Worker version from Workers analytics: the GraphQL query the rollout sends
//! (`workersInvocationsAdaptive`, filtered by script and version over a window) and reading one
//! metric out of the answer. The endpoint itself is `cloudflare::endpoints::AnalyticsQuery`.

use serde_json::{json, Value};

use crate::config::Metric;

const QUERY: &str = "query RolloutMeasurement($accountTag: string!, $filter: AccountWorkersInvocationsAdaptiveFilter_InputObject) { viewer { accounts(filter: { accountTag: $accountTag }) { workersInvocationsAdaptive(limit: 100, filter: $filter) { sum { requests errors } quantiles { wallTimeP50 wallTimeP99 } dimensions { scriptName scriptVersion } } } } }";

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The GraphQL request body measuring `version` of `script` between two instants (epoch ms).
#[must_use]
pub fn query_body(
    account: &str,
    script: &str,
    version: &str,
    since_ms: i64,
    until_ms: i64,
) -> Value {
    json!({
        "query": QUERY,
        "variables": {
            "accountTag": account,
            "filter": {
                "scriptName": script,
                "scriptVersion": version,
                "datetime_geq": iso(since_ms),
                "datetime_leq": iso(until_ms.max(since_ms)),
            }
        }
    })
}

/// One version's numbers over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The metric (`None`: no requests, nothing to judge).
    pub value: Option<f64>,
    /// Requests served in the window.
    pub requests: f64,
}

/// The rows of a GraphQL answer that belong to `version`; `Err` when the answer is an error or
/// not the expected shape.
fn rows_of(version: &str, body: &[u8]) -> Result<Vec<Value>, String> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| format!("analytics answer is not JSON: {e}"))?;
    if let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        return Err(format!("analytics: {}", messages.join("; ")));
    }
    let rows = answer["data"]["viewer"]["accounts"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["workersInvocationsAdaptive"].as_array())
        .ok_or("analytics answer has no workersInvocationsAdaptive rows")?;
    Ok(rows
        .iter()
        .filter(|r| r["dimensions"]["scriptVersion"].as_str() == Some(version))
        .cloned()
        .collect())
}

fn sum(rows: &[Value], field: &str) -> f64 {
    rows.iter()
        .map(|r| r["sum"][field].as_f64().unwrap_or(0.0))
        .sum()
}

/// The worst value of a latency quantile over the rows, in milliseconds (the dataset has
/// microseconds; the worst row stands for the version).
fn worst_ms(rows: &[Value], quantile: &str) -> Option<f64> {
    rows.iter()
        .filter_map(|r| r["quantiles"][quantile].as_f64())
        .reduce(f64::max)
        .map(|us| us / 1000.0)
}

/// Reads `metric` for `version` from a GraphQL answer. `value: None`: no requests in the
/// window (nothing to judge); `Err`: the answer is an error or not the expected shape.
pub fn read_sample(metric: Metric, version: &str, body: &[u8]) -> Result<Sample, String> {
    let mine = rows_of(version, body)?;
    let requests = sum(&mine, "requests");
    let value = match metric {
        Metric::Requests => Some(requests),
        _ if requests <= 0.0 => None,
        Metric::ErrorRate => Some(sum(&mine, "errors") / requests),
        Metric::P99LatencyMs => worst_ms(&mine, "wallTimeP99"),
    };
    Ok(Sample { value, requests })
}

/// A version's performance over a window: requests, error rate and latency quantiles (`None`
/// when it served no requests: nothing measured, never a zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Performance {
    pub requests: f64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Reads `version`'s performance from a GraphQL answer of `query_body`.
///
/// # Errors
/// The answer is an error or not the expected shape.
pub fn read_performance(version: &str, body: &[u8]) -> Result<Performance, String> {
    let mine = rows_of(version, body)?;
    let requests = sum(&mine, "requests");
    let served = requests > 0.0;
    Ok(Performance {
        requests,
        error_rate: served.then(|| sum(&mine, "errors") / requests),
        p50_ms: worst_ms(&mine, "wallTimeP50").filter(|_| served),
        p99_ms: worst_ms(&mine, "wallTimeP99").filter(|_| served),
    })
}
