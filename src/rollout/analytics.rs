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

/// Reads `metric` for `version` from a GraphQL answer. `value: None`: no requests in the
/// window (nothing to judge); `Err`: the answer is an error or not the expected shape.
pub fn read_sample(metric: Metric, version: &str, body: &[u8]) -> Result<Sample, String> {
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
    let mine: Vec<&Value> = rows
        .iter()
        .filter(|r| r["dimensions"]["scriptVersion"].as_str() == Some(version))
        .collect();
    let sum = |field: &str| {
        mine.iter()
            .map(|r| r["sum"][field].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    let requests = sum("requests");
    let value = match metric {
        Metric::Requests => Some(requests),
        _ if requests <= 0.0 => None,
        Metric::ErrorRate => Some(sum("errors") / requests),
        // Microseconds in the dataset; the worst row stands for the version.
        Metric::P99LatencyMs => mine
            .iter()
            .filter_map(|r| r["quantiles"]["wallTimeP99"].as_f64())
            .reduce(f64::max)
            .map(|us| us / 1000.0),
    };
    Ok(Sample { value, requests })
}
