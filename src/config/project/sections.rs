//! Parsers of the deploy sections of `clodo.toml`: `[deploy]`, traffic steps, health checks,
//! metric analysis.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::*;
use super::parse::*;
use super::steps::*;
use crate::config::source::{child_path, index_path};
use crate::config::ConfigError;
use crate::rollout::ab::{AbConfig, Affinity};

pub fn deploy_section(r: &Reader<'_>, v: &Value, path: &str) -> Result<DeploySection, ConfigError> {
    let t = r.table(v, path, &format!("[{path}] with strategy, steps, ..."))?;
    r.only_keys(t, path, DEPLOY_KEYS)?;
    let strategy_path = child_path(path, "strategy");
    let strategy = match r.string(t.get("strategy"), &strategy_path)? {
        None => None,
        Some(s) => Some(Strategy::parse(&s).ok_or_else(|| {
            r.error(
                &strategy_path,
                format!("unknown strategy {s:?}"),
                "immediate, gradual, blue-green or ab",
            )
        })?),
    };
    let steps_path = child_path(path, "steps");
    let steps = match t.get("steps") {
        None => None,
        Some(v) => Some(steps(r, v, &steps_path)?),
    };
    Ok(DeploySection {
        strategy,
        steps,
        step_wait_secs: r.uint(
            t.get("step_wait_secs"),
            &child_path(path, "step_wait_secs"),
            0,
        )?,
        auto_rollback: r.boolean(t.get("auto_rollback"), &child_path(path, "auto_rollback"))?,
        progress_deadline_secs: bounded_secs(
            r,
            t.get("progress_deadline_secs"),
            &child_path(path, "progress_deadline_secs"),
        )?,
        on_deadline: match r.string(t.get("on_deadline"), &child_path(path, "on_deadline"))? {
            None => None,
            Some(s) => Some(OnDeadline::parse(&s).ok_or_else(|| {
                r.error(
                    &child_path(path, "on_deadline"),
                    format!("unknown on_deadline {s:?}"),
                    "\"abort\" (roll back) or \"pause\" (wait for a human)",
                )
            })?),
        },
        max_pause_secs: bounded_secs(
            r,
            t.get("max_pause_secs"),
            &child_path(path, "max_pause_secs"),
        )?,
        ab: t
            .get("ab")
            .map(|v| ab_section(r, v, &child_path(path, "ab")))
            .transpose()?,
        location: Some(r.loc(path)),
    })
}

/// A number of seconds from 60 to a week (a deadline or a pause cap).
fn bounded_secs(r: &Reader<'_>, v: Option<&Value>, path: &str) -> Result<Option<u64>, ConfigError> {
    match r.uint(v, path, 60)? {
        Some(n) if n > MAX_PAUSE_STEP_SECS => Err(r.error(
            path,
            format!("`{path}` is {n}, more than a week"),
            &format!("seconds from 60 to {MAX_PAUSE_STEP_SECS}"),
        )),
        n => Ok(n),
    }
}

/// `ab = { split, window_secs, affinity, auto_promote, min_requests }`: an A/B test's settings,
/// each checked with its key path.
pub fn ab_section(r: &Reader<'_>, v: &Value, path: &str) -> Result<AbConfig, ConfigError> {
    const EXPECTED: &str =
        "ab = { split = 50, window_secs = 3600, affinity = { cookie = \"uid\" }, auto_promote = false }";
    let t = r.table(v, path, EXPECTED)?;
    r.only_keys(
        t,
        path,
        &[
            "split",
            "window_secs",
            "affinity",
            "auto_promote",
            "min_requests",
        ],
    )?;
    let key = |k: &str| child_path(path, k);
    let split = match t.get("split") {
        None => 50.0,
        Some(v) => v.as_f64().ok_or_else(|| {
            r.error(
                &key("split"),
                format!("`{}` is {}", key("split"), describe(v)),
                "a percentage from 1 to 99",
            )
        })?,
    };
    let affinity_path = key("affinity");
    let affinity = match t.get("affinity") {
        None => {
            return Err(r.error(
                &affinity_path,
                format!("`{path}` has no `affinity`: without it a user would switch versions between requests"),
                "affinity = { header = \"x-user-id\" }, { cookie = \"uid\" } or \"client\" (clients send Cloudflare-Workers-Version-Key themselves)",
            ))
        }
        Some(v) => serde_json::from_value::<Affinity>(v.clone()).map_err(|_| {
            r.error(
                &affinity_path,
                format!("`{affinity_path}` is {}", describe(v)),
                "{ header = \"NAME\" }, { cookie = \"NAME\" } or \"client\"",
            )
        })?,
    };
    let config = AbConfig {
        split,
        window_secs: r
            .uint(t.get("window_secs"), &key("window_secs"), 60)?
            .unwrap_or(3600),
        affinity,
        auto_promote: r
            .boolean(t.get("auto_promote"), &key("auto_promote"))?
            .unwrap_or(false),
        min_requests: r
            .uint(t.get("min_requests"), &key("min_requests"), 1)?
            .unwrap_or(100),
    };
    config
        .validate()
        .map_err(|e| r.error(path, format!("`{path}`: {e}"), EXPECTED))?;
    Ok(config)
}

/// Gradual steps: percentages above 0, increasing, the last one 100 (a rollout that never
/// reaches 100% would leave the old version serving forever).
/// Between them, gates: `{pause = true}` holds until `clodo resume`, `{pause = SECONDS}` that
/// long.
pub fn steps(r: &Reader<'_>, v: &Value, path: &str) -> Result<Vec<Step>, ConfigError> {
    const EXPECTED: &str =
        "increasing percentages ending at 100, e.g. [10, {pause = true}, 50, 100]";
    let Value::Array(items) = v else {
        return Err(r.error(path, format!("`{path}` is {}", describe(v)), EXPECTED));
    };
    if items.is_empty() {
        return Err(r.error(path, format!("`{path}` is empty"), EXPECTED));
    }
    let mut out: Vec<f64> = Vec::new();
    let mut all: Vec<Step> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = index_path(path, i);
        if let Value::Object(gate) = item {
            r.only_keys(gate, &item_path, &["pause"])?;
            let parsed = gate
                .get("pause")
                .map(|p| serde_json::from_value::<Pause>(p.clone()));
            match parsed {
                Some(Ok(pause)) => all.push(Step::Gate(Gate { pause })),
                Some(Err(why)) => {
                    return Err(r.error(
                        &child_path(&item_path, "pause"),
                        why.to_string(),
                        "true (hold until `clodo resume`) or a number of seconds",
                    ))
                }
                None => {
                    return Err(r.error(
                        &item_path,
                        format!("`{item_path}` has no `pause`"),
                        "{pause = true}",
                    ))
                }
            }
            continue;
        }
        let Some(p) = item.as_f64() else {
            return Err(r.error(
                &item_path,
                format!("`{item_path}` is {}", describe(item)),
                "a percentage (a number from 0 to 100)",
            ));
        };
        if !(p > 0.0 && p <= 100.0) {
            return Err(r.error(
                &item_path,
                format!("step {p}% is out of range"),
                "a percentage above 0 and at most 100",
            ));
        }
        if let Some(&prev) = out.last() {
            if p <= prev {
                return Err(r.error(
                    &item_path,
                    format!("step {p}% does not increase on the step before ({prev}%)"),
                    EXPECTED,
                ));
            }
        }
        out.push(p);
        all.push(Step::Traffic(p));
    }
    if out.last() != Some(&100.0) {
        return Err(r.error(
            &index_path(path, items.len() - 1),
            match out.last() {
                Some(last) => {
                    format!("the last step is {last}%, so the rollout would never finish")
                }
                None => format!("`{path}` has no percentage"),
            },
            "the last step to be 100",
        ));
    }
    if out.len() > 20 || all.len() > 40 {
        return Err(r.error(
            path,
            format!(
                "`{path}` has {} percentages and {} entries",
                out.len(),
                all.len()
            ),
            "at most 20 percentages and 40 entries",
        ));
    }
    Step::gates(&all).map_err(|why| r.error(path, why, EXPECTED))?;
    Ok(all)
}

/// One table of an array of tables, with its key path.
pub type Entry<'v> = (&'v Map<String, Value>, String);

/// An array of tables (`[[NAME]]`), each with its key path.
pub fn entries<'v>(
    r: &Reader<'_>,
    v: &'v Value,
    path: &str,
) -> Result<Vec<Entry<'v>>, ConfigError> {
    let expected = format!("[[{path}]] tables");
    let Value::Array(items) = v else {
        return Err(r.error(path, format!("`{path}` is {}", describe(v)), &expected));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = index_path(path, i);
            r.table(item, &p, &expected).map(|t| (t, p))
        })
        .collect()
}

pub fn health_checks(
    r: &Reader<'_>,
    v: &Value,
    path: &str,
    services: &[ProjectService],
) -> Result<Vec<HealthCheck>, ConfigError> {
    let mut out: Vec<HealthCheck> = Vec::new();
    for (t, p) in entries(r, v, path)? {
        r.only_keys(t, &p, HEALTH_CHECK_KEYS)?;
        let key = |k: &str| child_path(&p, k);
        let url = r.string(t.get("url"), &key("url"))?.ok_or_else(|| {
            r.error(
                &p,
                format!("`{p}` has no `url`"),
                "url = \"https://api.example.com/healthz\"",
            )
        })?;
        check_url(&url).map_err(|why| {
            r.error(
                &key("url"),
                format!("health check URL {url:?} {why}"),
                "an http:// or https:// URL",
            )
        })?;
        let method = match r.string(t.get("method"), &key("method"))? {
            None => "GET".to_owned(),
            Some(m) => {
                let upper = m.to_ascii_uppercase();
                if !HTTP_METHODS.contains(&upper.as_str()) {
                    return Err(r.error(
                        &key("method"),
                        format!("unknown HTTP method {m:?}"),
                        &format!("one of: {}", HTTP_METHODS.join(", ")),
                    ));
                }
                upper
            }
        };
        let mut headers = BTreeMap::new();
        if let Some(h) = t.get("headers") {
            let hp = key("headers");
            let h = r.table(h, &hp, "headers = { Authorization = \"...\" }")?;
            for (name, value) in h {
                let vp = child_path(&hp, name);
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !valid {
                    return Err(r.error(
                        &vp,
                        format!("{name:?} is not a valid HTTP header name"),
                        "letters, digits and -",
                    ));
                }
                let value = r.string(Some(value), &vp)?.unwrap_or_default();
                if value.contains(['\r', '\n']) {
                    return Err(r.error(
                        &vp,
                        format!("header `{name}` contains a line break"),
                        "a single-line value",
                    ));
                }
                headers.insert(name.clone(), value);
            }
        }
        let expect_status = match t.get("expect_status") {
            None => vec![200],
            Some(v) => status_list(r, v, &key("expect_status"))?,
        };
        let service = r.service_ref(t.get("service"), &key("service"), services)?;
        let version_override = r
            .boolean(t.get("version_override"), &key("version_override"))?
            .unwrap_or(true);
        let name = r
            .string(t.get("name"), &key("name"))?
            .unwrap_or_else(|| format!("{method} {url}"));
        if out.iter().any(|c| c.name == name) {
            return Err(r.error(
                &p,
                format!("two health checks are named {name:?}"),
                "unique health check names (set `name`)",
            ));
        }
        out.push(HealthCheck {
            name,
            service,
            url,
            method,
            headers,
            body: r.string(t.get("body"), &key("body"))?,
            expect_status,
            expect_body_contains: r
                .string(t.get("expect_body_contains"), &key("expect_body_contains"))?,
            max_latency_ms: r.uint(t.get("max_latency_ms"), &key("max_latency_ms"), 1)?,
            timeout_ms: r
                .uint(t.get("timeout_ms"), &key("timeout_ms"), 1)?
                .unwrap_or(DEFAULT_HEALTH_TIMEOUT_MS),
            version_override,
            location: r.loc(&p),
        });
    }
    Ok(out)
}

/// `expect_status`: one status code or an array of them.
pub fn status_list(r: &Reader<'_>, v: &Value, path: &str) -> Result<Vec<u16>, ConfigError> {
    let one = |v: &Value, p: &str| -> Result<u16, ConfigError> {
        match v.as_u64() {
            Some(n @ 100..=599) => Ok(n as u16),
            _ => Err(r.error(
                p,
                format!("`{p}` is {}", describe(v)),
                "an HTTP status code from 100 to 599",
            )),
        }
    };
    match v {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| one(item, &index_path(path, i)))
            .collect(),
        Value::Array(_) => Err(r.error(
            path,
            format!("`{path}` is empty"),
            "a status code or a non-empty array of them",
        )),
        _ => one(v, path).map(|s| vec![s]),
    }
}

pub fn analysis(
    r: &Reader<'_>,
    v: &Value,
    path: &str,
    services: &[ProjectService],
) -> Result<Vec<AnalysisMetric>, ConfigError> {
    let mut out: Vec<AnalysisMetric> = Vec::new();
    for (t, p) in entries(r, v, path)? {
        r.only_keys(t, &p, ANALYSIS_KEYS)?;
        let key = |k: &str| child_path(&p, k);
        let metric_name = r.string(t.get("metric"), &key("metric"))?.ok_or_else(|| {
            r.error(
                &p,
                format!("`{p}` has no `metric`"),
                "metric = \"error_rate\"",
            )
        })?;
        let metric = Metric::parse(&metric_name).ok_or_else(|| {
            r.error(
                &key("metric"),
                format!("unknown metric {metric_name:?}"),
                "error_rate, p99_latency_ms or requests",
            )
        })?;
        let condition = |k: &str| -> Result<Option<Condition>, ConfigError> {
            let Some(text) = r.string(t.get(k), &key(k))? else {
                return Ok(None);
            };
            let c = Condition::parse(&text).map_err(|why| {
                r.error(
                    &key(k),
                    why,
                    "a comparison and a number, e.g. \"< 0.05\", or a baseline, e.g. \"< baseline * 1.5 + 0.01\"",
                )
            })?;
            if metric == Metric::ErrorRate
                && c.baseline_factor.is_none()
                && !(0.0..=1.0).contains(&c.value)
            {
                return Err(r.error(
                    &key(k),
                    format!(
                        "error_rate is a fraction from 0 to 1, and {} is outside it",
                        c.value
                    ),
                    "e.g. \"< 0.05\" for under 5%",
                ));
            }
            Ok(Some(c))
        };
        let success = condition("condition")?;
        let failure = condition("failure_condition")?;
        if success.is_none() && failure.is_none() {
            return Err(r.error(
                &p,
                format!("`{p}` has no `condition`"),
                "condition = \"< 0.05\" (the success condition), or failure_condition",
            ));
        }
        let name = r
            .string(t.get("name"), &key("name"))?
            .unwrap_or_else(|| metric.as_str().to_owned());
        let service = r.service_ref(t.get("service"), &key("service"), services)?;
        if out.iter().any(|m| m.name == name && m.service == service) {
            return Err(r.error(
                &p,
                format!("two analysis entries are named {name:?}"),
                "unique names (set `name`)",
            ));
        }
        out.push(AnalysisMetric {
            name,
            metric,
            service,
            condition: success,
            failure_condition: failure,
            interval_secs: r
                .uint(t.get("interval_secs"), &key("interval_secs"), 1)?
                .unwrap_or(DEFAULT_ANALYSIS_INTERVAL_SECS),
            count: r
                .uint32(t.get("count"), &key("count"), 1)?
                .unwrap_or(DEFAULT_ANALYSIS_COUNT),
            failure_limit: r
                .uint32(t.get("failure_limit"), &key("failure_limit"), 0)?
                .unwrap_or(0),
            inconclusive_limit: r
                .uint32(t.get("inconclusive_limit"), &key("inconclusive_limit"), 0)?
                .unwrap_or(0),
            consecutive_error_limit: r
                .uint32(
                    t.get("consecutive_error_limit"),
                    &key("consecutive_error_limit"),
                    0,
                )?
                .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
            min_requests: r
                .uint(t.get("min_requests"), &key("min_requests"), 0)?
                .unwrap_or(0),
            background: r
                .boolean(t.get("background"), &key("background"))?
                .unwrap_or(false),
            location: r.loc(&p),
        });
    }
    Ok(out)
}

/// Checks an absolute http(s) URL and returns its lower-case scheme and host (without
/// credentials or port). No URL crate: the pure core stays small for wasm, and these checks
/// only need the authority.
pub fn check_url(url: &str) -> Result<(String, String), String> {
    if url.chars().any(char::is_whitespace) {
        return Err("contains whitespace".to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not an absolute URL".to_owned());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("has scheme `{scheme}`"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => {
                let (h, port) = host_port.split_at(end + 1);
                check_port(port)?;
                h
            }
            None => return Err("has an unclosed IPv6 address".to_owned()),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, port)) => {
                check_port(&format!(":{port}"))?;
                h
            }
            None => host_port,
        }
    };
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    Ok((scheme, host.to_ascii_lowercase()))
}

pub fn check_port(port: &str) -> Result<(), String> {
    match port.strip_prefix(':') {
        None if port.is_empty() => Ok(()),
        Some(p) if p.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("has an invalid port `{port}`")),
    }
}
