//! The per-version traffic model behind the sandbox's GraphQL analytics, and the small reader of
//! `workersInvocationsAdaptive` queries.
//!
//! Requests are not random: a script receives `requests_per_minute` in total, split between
//! versions by the percentages of the deployments that were active during the queried window
//! (time-weighted), and each version's errors and latency come from its health profile. So a
//! canary at 10% gets a tenth of the traffic, and "version X now fails 30%" is one PATCH away.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::state::Script;

/// How healthy a version is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Share of requests that fail, 0..=1.
    pub error_ratio: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            error_ratio: 0.0,
            latency_p50_ms: 20.0,
            latency_p99_ms: 80.0,
        }
    }
}

/// A partial `Health`: what a version overrides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
}

impl HealthPatch {
    fn apply(&self, base: Health) -> Health {
        Health {
            error_ratio: self.error_ratio.unwrap_or(base.error_ratio),
            latency_p50_ms: self.latency_p50_ms.unwrap_or(base.latency_p50_ms),
            latency_p99_ms: self.latency_p99_ms.unwrap_or(base.latency_p99_ms),
        }
    }

    fn merge(&mut self, other: &HealthPatch) {
        self.error_ratio = other.error_ratio.or(self.error_ratio);
        self.latency_p50_ms = other.latency_p50_ms.or(self.latency_p50_ms);
        self.latency_p99_ms = other.latency_p99_ms.or(self.latency_p99_ms);
    }
}

/// The whole model; part of the state (and of the seed) under `analytics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsModel {
    /// Total requests per minute of a script not listed in `scripts`.
    pub requests_per_minute: f64,
    /// Total requests per minute by script name.
    pub scripts: BTreeMap<String, f64>,
    /// Health of every version without an entry in `versions`.
    pub default_health: Health,
    /// Health overrides by version id.
    pub versions: BTreeMap<String, HealthPatch>,
}

impl Default for AnalyticsModel {
    fn default() -> Self {
        AnalyticsModel {
            requests_per_minute: 60.0,
            scripts: BTreeMap::new(),
            default_health: Health::default(),
            versions: BTreeMap::new(),
        }
    }
}

/// A change to the model: fields present replace, `versions` and `scripts` entries merge.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPatch {
    pub requests_per_minute: Option<f64>,
    pub scripts: BTreeMap<String, f64>,
    pub default_health: Option<Health>,
    pub versions: BTreeMap<String, HealthPatch>,
}

impl AnalyticsModel {
    pub fn validate(&self) -> Result<(), String> {
        let healths = std::iter::once(HealthPatch {
            error_ratio: Some(self.default_health.error_ratio),
            latency_p50_ms: Some(self.default_health.latency_p50_ms),
            latency_p99_ms: Some(self.default_health.latency_p99_ms),
        })
        .chain(self.versions.values().copied());
        for h in healths {
            if h.error_ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return Err("error_ratio must be between 0 and 1".into());
            }
            if [h.latency_p50_ms, h.latency_p99_ms]
                .iter()
                .flatten()
                .any(|ms| *ms < 0.0 || !ms.is_finite())
            {
                return Err("latencies must be finite and non-negative".into());
            }
        }
        let rates = std::iter::once(&self.requests_per_minute).chain(self.scripts.values());
        if rates.into_iter().any(|r| *r < 0.0 || !r.is_finite()) {
            return Err("requests_per_minute must be finite and non-negative".into());
        }
        Ok(())
    }

    pub fn apply_patch(&mut self, patch: &ModelPatch) {
        if let Some(rpm) = patch.requests_per_minute {
            self.requests_per_minute = rpm;
        }
        if let Some(health) = patch.default_health {
            self.default_health = health;
        }
        self.scripts
            .extend(patch.scripts.iter().map(|(k, v)| (k.clone(), *v)));
        for (id, health) in &patch.versions {
            self.versions.entry(id.clone()).or_default().merge(health);
        }
    }

    pub fn health_of(&self, version_id: &str) -> Health {
        self.versions
            .get(version_id)
            .map_or(self.default_health, |p| p.apply(self.default_health))
    }

    fn rate_of(&self, script: &str) -> f64 {
        self.scripts
            .get(script)
            .copied()
            .unwrap_or(self.requests_per_minute)
    }
}

/// One `workersInvocationsAdaptive` row: a (script, version) group over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationRow {
    pub script_name: String,
    pub script_version: String,
    pub requests: u64,
    pub errors: u64,
    pub health: Health,
}

/// What a query asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationFilter {
    pub account_tag: String,
    pub script_name: Option<String>,
    pub script_version: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Minutes of `[from, to)` that fall inside `[start, end]`.
fn overlap_minutes(
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> f64 {
    let lo = from.max(start);
    let hi = to.map_or(end, |t| t.min(end));
    if hi <= lo {
        return 0.0;
    }
    (hi - lo).num_milliseconds() as f64 / 60_000.0
}

/// Computes the rows for the scripts of one account. Traffic is only counted up to `now`: a
/// window reaching into the future holds no requests there yet.
pub fn invocations(
    model: &AnalyticsModel,
    scripts: &[&Script],
    filter: &InvocationFilter,
    now: DateTime<Utc>,
) -> Vec<InvocationRow> {
    let end = filter.end.min(now);
    let mut rows = Vec::new();
    for script in scripts {
        if filter
            .script_name
            .as_deref()
            .is_some_and(|n| n != script.name)
        {
            continue;
        }
        let rate = model.rate_of(&script.name);
        let mut volume: HashMap<&str, f64> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        let mut deployments: Vec<(DateTime<Utc>, &super::state::Deployment)> = script
            .deployments
            .iter()
            .filter_map(|d| {
                DateTime::parse_from_rfc3339(&d.created_on)
                    .ok()
                    .map(|t| (t.with_timezone(&Utc), d))
            })
            .collect();
        deployments.sort_by_key(|(t, _)| *t);
        for (i, (from, deployment)) in deployments.iter().enumerate() {
            let to = deployments.get(i + 1).map(|(t, _)| *t);
            let minutes = overlap_minutes(*from, to, filter.start, end);
            if minutes <= 0.0 {
                continue;
            }
            for dv in &deployment.versions {
                let id = dv.version_id.as_str();
                if !volume.contains_key(id) {
                    order.push(id);
                }
                *volume.entry(id).or_default() += rate * minutes * dv.percentage / 100.0;
            }
        }
        for id in order {
            if filter.script_version.as_deref().is_some_and(|v| v != id) {
                continue;
            }
            let requests = volume[id].round() as u64;
            if requests == 0 {
                continue;
            }
            let health = model.health_of(id);
            rows.push(InvocationRow {
                script_name: script.name.clone(),
                script_version: id.to_string(),
                requests,
                errors: (requests as f64 * health.error_ratio).round() as u64,
                health,
            });
        }
    }
    rows
}

/// A row in Cloudflare's GraphQL shape; times are in microseconds as in `wallTimeP50`.
pub fn row_json(row: &InvocationRow) -> Value {
    json!({
        "dimensions": { "scriptName": row.script_name, "scriptVersion": row.script_version },
        "sum": { "requests": row.requests, "errors": row.errors },
        "quantiles": {
            "wallTimeP50": row.health.latency_p50_ms * 1000.0,
            "wallTimeP99": row.health.latency_p99_ms * 1000.0,
        },
    })
}

/// Finds a string argument `key` in the query: a literal (`key: "x"`), a variable
/// (`key: $v` → `variables.v`), or anywhere inside `variables` (for `filter: $filter`).
pub fn argument(query: &str, variables: &Value, key: &str) -> Option<String> {
    let bytes = query.as_bytes();
    let mut from = 0;
    while let Some(found) = query[from..].find(key) {
        let at = from + found;
        from = at + key.len();
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let rest = query[from..].trim_start();
        if !before_ok || !rest.starts_with(':') {
            continue;
        }
        let value = rest[1..].trim_start();
        if let Some(literal) = value.strip_prefix('"') {
            return literal.find('"').map(|end| literal[..end].to_string());
        }
        if let Some(var) = value.strip_prefix('$') {
            let name: String = var
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if let Some(s) = variables.get(&name).and_then(Value::as_str) {
                return Some(s.to_string());
            }
        }
    }
    find_in_value(variables, key)
}

fn find_in_value(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| map.values().find_map(|v| find_in_value(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_in_value(v, key)),
        _ => None,
    }
}

/// Reads the filter of a `workersInvocationsAdaptive` query, or says what is missing.
pub fn parse_filter(query: &str, variables: &Value) -> Result<InvocationFilter, String> {
    if !query.contains("workersInvocationsAdaptive") {
        return Err(
            "the sandbox answers only viewer.accounts.workersInvocationsAdaptive queries".into(),
        );
    }
    let time = |key: &str| -> Result<DateTime<Utc>, String> {
        let raw = argument(query, variables, key).ok_or(format!("filter needs {key}"))?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("{key} must be an RFC 3339 time, got {raw:?}"))
    };
    Ok(InvocationFilter {
        account_tag: argument(query, variables, "accountTag").ok_or("filter needs accountTag")?,
        script_name: argument(query, variables, "scriptName"),
        script_version: argument(query, variables, "scriptVersion"),
        start: time("datetime_geq")?,
        end: time("datetime_leq")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Deployment, DeploymentVersion};

    fn script_with(deployments: Vec<(&str, Vec<(&str, f64)>)>) -> Script {
        let mut script: Script =
            serde_json::from_value(json!({"account_id": "a", "name": "w"})).unwrap();
        script.deployments = deployments
            .into_iter()
            .map(|(at, versions)| Deployment {
                id: String::new(),
                created_on: at.into(),
                source: "api".into(),
                strategy: "percentage".into(),
                versions: versions
                    .into_iter()
                    .map(|(id, pct)| DeploymentVersion {
                        version_id: id.into(),
                        percentage: pct,
                    })
                    .collect(),
                annotations: Default::default(),
                author_email: String::new(),
            })
            .collect();
        script
    }

    fn filter(start: &str, end: &str) -> InvocationFilter {
        InvocationFilter {
            account_tag: "a".into(),
            script_name: None,
            script_version: None,
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        }
    }

    #[test]
    fn traffic_follows_deployment_percentages_over_time() {
        // v1 alone for 10 minutes, then a 10/90 canary of v2 for 10 minutes.
        let script = script_with(vec![
            ("2026-01-01T00:00:00Z", vec![("v1", 100.0)]),
            ("2026-01-01T00:10:00Z", vec![("v2", 10.0), ("v1", 90.0)]),
        ]);
        let mut model = AnalyticsModel::default();
        model.apply_patch(&ModelPatch {
            versions: [(
                "v2".to_string(),
                HealthPatch {
                    error_ratio: Some(0.3),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        });
        let rows = invocations(
            &model,
            &[&script],
            &filter("2026-01-01T00:00:00Z", "2026-01-01T00:20:00Z"),
            "2030-01-01T00:00:00Z".parse().unwrap(),
        );
        let v1 = rows.iter().find(|r| r.script_version == "v1").unwrap();
        let v2 = rows.iter().find(|r| r.script_version == "v2").unwrap();
        assert_eq!(v1.requests, 600 + 540);
        assert_eq!(v1.errors, 0);
        assert_eq!(v2.requests, 60);
        assert_eq!(v2.errors, 18);
        assert_eq!(v2.health.latency_p50_ms, 20.0);
    }

    #[test]
    fn window_before_any_deployment_is_empty() {
        let script = script_with(vec![("2026-01-01T00:00:00Z", vec![("v1", 100.0)])]);
        let rows = invocations(
            &AnalyticsModel::default(),
            &[&script],
            &filter("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"),
            "2030-01-01T00:00:00Z".parse().unwrap(),
        );
        assert!(rows.is_empty());
    }

    #[test]
    fn traffic_stops_at_now() {
        let script = script_with(vec![("2026-01-01T00:00:00Z", vec![("v1", 100.0)])]);
        let rows = invocations(
            &AnalyticsModel::default(),
            &[&script],
            &filter("2026-01-01T00:00:00Z", "2026-01-01T10:00:00Z"),
            "2026-01-01T00:05:00Z".parse().unwrap(),
        );
        assert_eq!(rows[0].requests, 300);
    }

    #[test]
    fn arguments_from_literals_variables_and_filter_objects() {
        let q = r#"query($tag: string, $f: filter) { viewer { accounts(filter: {accountTag: $tag}) {
            workersInvocationsAdaptive(limit: 100, filter: $f) { sum { requests } } } } }"#;
        let vars = json!({"tag": "acc1", "f": {"scriptName": "w",
            "datetime_geq": "2026-01-01T00:00:00Z", "datetime_leq": "2026-01-01T01:00:00Z"}});
        let f = parse_filter(q, &vars).unwrap();
        assert_eq!(f.account_tag, "acc1");
        assert_eq!(f.script_name.as_deref(), Some("w"));

        let literal = r#"{ viewer { accounts(filter: {accountTag: "acc2"}) { workersInvocationsAdaptive(filter: {datetime_geq: "2026-01-01T00:00:00Z", datetime_leq: "2026-01-01T00:05:00Z", scriptVersion: "v9"}) { sum { requests } } } } }"#;
        let f = parse_filter(literal, &Value::Null).unwrap();
        assert_eq!(f.account_tag, "acc2");
        assert_eq!(f.script_version.as_deref(), Some("v9"));
        assert_eq!(f.script_name, None);

        assert!(parse_filter("{ viewer { zones { x } } }", &Value::Null).is_err());
        assert!(parse_filter(
            r#"{ workersInvocationsAdaptive(filter: {accountTag: "a"}) }"#,
            &Value::Null
        )
        .is_err());
    }

    #[test]
    fn model_validation() {
        let mut model = AnalyticsModel::default();
        assert!(model.validate().is_ok());
        model.versions.insert(
            "v".into(),
            HealthPatch {
                error_ratio: Some(1.5),
                ..Default::default()
            },
        );
        assert!(model.validate().is_err());
    }
}
