//! How Cloudflare picks the version of a Worker that serves a request, emulated: the
//! `Cloudflare-Workers-Version-Overrides` header first (a version of the active deployment),
//! then `Cloudflare-Workers-Version-Key` hashed stably onto the split, else a random pick by
//! percentage. The key's hash is a point in [0, 100); the newest version of the deployment
//! owns [0, its percentage), the next one the following share, so a key on the new version
//! stays there as its percentage ramps up.
//!
//! `ANY /__sandbox/route/{host}/{path}` emulates a request to `https://{host}/{path}` arriving
//! through a zone: the most specific Worker route matching it picks the Worker, the zone's
//! `http_request_late_transform` rules (Request Header Transform Rules) rewrite the headers,
//! and the version is chosen as above. The answer names the version (header
//! `x-sandbox-version` and a JSON body). Workers are stored, not run: a version whose
//! `error_ratio` in the analytics model is 0.5 or more answers 500.

use axum::body::Body;
use http::{HeaderMap, Response};
use serde_json::{json, Value};

use super::rulesets::apply_late_transform;
use super::state::{Script, State, WorkerRoute};

pub const OVERRIDES_HEADER: &str = "cloudflare-workers-version-overrides";
pub const KEY_HEADER: &str = "cloudflare-workers-version-key";

/// Why a version was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    Override,
    Key,
    Random,
}

impl ChosenBy {
    fn as_str(self) -> &'static str {
        match self {
            ChosenBy::Override => "override",
            ChosenBy::Key => "version_key",
            ChosenBy::Random => "random",
        }
    }
}

/// A stable point in [0, 100) for a version key (FNV-1a, 64 bits).
#[must_use]
pub fn key_point(key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % 10_000) as f64 / 100.0
}

/// The version an override header pins for `script`: `script="version-id"` among the
/// dictionary's members (RFC 8941), or `None`.
#[must_use]
pub fn pinned_version(header: &str, script: &str) -> Option<String> {
    header.split(',').find_map(|member| {
        let (key, value) = member.split_once('=')?;
        (key.trim() == script).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Picks the version of `script` for a request with these headers; `roll` in [0, 100) is
/// the random draw used when neither header decides. `None`: the Worker has no deployment.
#[must_use]
pub fn choose(script: &Script, headers: &HeaderMap, roll: f64) -> Option<(String, ChosenBy)> {
    let active = script.active_deployment()?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = header(OVERRIDES_HEADER)
        .and_then(|h| pinned_version(h, &script.name))
        .filter(|v| active.versions.iter().any(|dv| &dv.version_id == v))
    {
        return Some((v, ChosenBy::Override));
    }
    // Newest first: the version being rolled out owns the bottom of the range.
    let mut shares: Vec<(&str, f64, u64)> = active
        .versions
        .iter()
        .map(|dv| {
            let number = script.version(&dv.version_id).map_or(0, |v| v.number);
            (dv.version_id.as_str(), dv.percentage, number)
        })
        .collect();
    shares.sort_by_key(|s| std::cmp::Reverse(s.2));
    let (point, by) = match header(KEY_HEADER).filter(|k| !k.is_empty()) {
        Some(key) => (key_point(key), ChosenBy::Key),
        None => (roll.clamp(0.0, 99.999), ChosenBy::Random),
    };
    let mut upto = 0.0;
    for (id, pct, _) in &shares {
        upto += pct;
        if point < upto {
            return Some(((*id).to_owned(), by));
        }
    }
    shares.last().map(|(id, _, _)| ((*id).to_owned(), by))
}

/// A random point in [0, 100) (a v4 UUID's random bits; no other source is needed).
fn random_point() -> f64 {
    (uuid::Uuid::new_v4().as_u128() % 10_000) as f64 / 100.0
}

/// Whether a route pattern (`example.com/api/*`, `*.example.com/*`) matches host and path.
#[must_use]
pub fn route_matches(pattern: &str, host: &str, path: &str) -> bool {
    let pattern = pattern
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (p_host, p_path) = pattern.split_once('/').unwrap_or((pattern, ""));
    let host_ok = match p_host.strip_prefix('*') {
        Some(rest) => host.ends_with(rest) || rest.strip_prefix('.') == Some(host),
        None => p_host.eq_ignore_ascii_case(host),
    };
    let path = path.trim_start_matches('/');
    let path_ok = match p_path.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => p_path == path,
    };
    host_ok && path_ok
}

/// The most specific route (longest pattern) for host and path.
fn route_for<'a>(st: &'a State, host: &str, path: &str) -> Option<&'a WorkerRoute> {
    st.worker_routes
        .iter()
        .filter(|r| r.script.is_some() && route_matches(&r.pattern, host, path))
        .max_by_key(|r| r.pattern.len())
}

fn json_reply(status: u16, body: &Value, version: Option<&str>) -> Response<Body> {
    let mut b = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(v) = version {
        b = b.header("x-sandbox-version", v);
    }
    b.body(Body::from(body.to_string())).unwrap_or_default()
}

/// The answer of a Worker version, as the sandbox emulates it.
fn answer(st: &State, script: &Script, chosen: &str, by: ChosenBy, extra: Value) -> Response<Body> {
    let failing = st.analytics.health_of(chosen).error_ratio >= 0.5;
    let mut body = json!({
        "script": script.name,
        "version_id": chosen,
        "chosen_by": by.as_str(),
        "status": if failing { "error" } else { "ok" },
    });
    if let (Some(b), Value::Object(more)) = (body.as_object_mut(), extra) {
        b.extend(more);
    }
    json_reply(if failing { 500 } else { 200 }, &body, Some(chosen))
}

/// `ANY /__sandbox/route/{host}/{path}`.
pub fn serve_route(st: &State, rest: &str, mut headers: HeaderMap) -> Response<Body> {
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(route) = route_for(st, host, path) else {
        return json_reply(
            404,
            &json!({ "error": format!("no Worker route matches {host}/{path}") }),
            None,
        );
    };
    let script_name = route.script.clone().unwrap_or_default();
    let Some(script) = st.scripts.iter().find(|s| s.name == script_name) else {
        return json_reply(
            404,
            &json!({ "error": format!("the route {} names the missing Worker {script_name}", route.pattern) }),
            None,
        );
    };
    apply_late_transform(&st.zone_rulesets, &route.zone_id, &mut headers);
    let Some((chosen, by)) = choose(script, &headers, random_point()) else {
        return json_reply(
            503,
            &json!({ "error": format!("{script_name} has no deployment") }),
            None,
        );
    };
    let key = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    answer(
        st,
        script,
        &chosen,
        by,
        json!({ "route": route.pattern, "zone_id": route.zone_id, "version_key": key }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Deployment, DeploymentVersion, Version};

    fn script(split: &[(&str, f64)]) -> Script {
        let mut s: Script =
            serde_json::from_value(json!({ "name": "ab-api", "account_id": "acc" }))
                .expect("a minimal script");
        s.versions = ["old", "new"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut v: Version = serde_json::from_value(json!({ "id": id })).unwrap();
                v.number = i as u64 + 1;
                v
            })
            .collect();
        s.deployments = vec![Deployment {
            id: "d".into(),
            created_on: String::new(),
            source: "api".into(),
            strategy: "percentage".into(),
            versions: split
                .iter()
                .map(|(v, p)| DeploymentVersion {
                    version_id: (*v).into(),
                    percentage: *p,
                })
                .collect(),
            annotations: Default::default(),
            author_email: String::new(),
        }];
        s
    }

    fn with_key(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(KEY_HEADER, key.parse().unwrap());
        h
    }

    #[test]
    fn a_key_keeps_its_version_and_keys_on_the_new_version_stay_as_it_ramps() {
        let keys: Vec<String> = (0..400).map(|i| format!("user-{i}")).collect();
        let at = |pct: f64| {
            let s = script(&[("new", pct), ("old", 100.0 - pct)]);
            keys.iter()
                .map(|k| choose(&s, &with_key(k), 0.0).unwrap())
                .collect::<Vec<_>>()
        };
        let ten = at(10.0);
        // The same key, asked again with a different random draw, lands on the same version.
        let s = script(&[("new", 10.0), ("old", 90.0)]);
        for (k, first) in keys.iter().zip(&ten) {
            assert_eq!(&choose(&s, &with_key(k), 99.0).unwrap(), first);
            assert_eq!(first.1, ChosenBy::Key);
        }
        let fifty = at(50.0);
        let on_new = |v: &[(String, ChosenBy)]| v.iter().filter(|(id, _)| id == "new").count();
        // Keys spread across both versions, roughly by the split.
        assert!((20..=70).contains(&on_new(&ten)), "{}", on_new(&ten));
        assert!((150..=250).contains(&on_new(&fifty)), "{}", on_new(&fifty));
        // Every key on the new version at 10% is still there at 50%.
        for (a, b) in ten.iter().zip(&fifty) {
            if a.0 == "new" {
                assert_eq!(b.0, "new");
            }
        }
    }

    #[test]
    fn the_override_header_wins_when_it_names_a_deployed_version() {
        let s = script(&[("new", 10.0), ("old", 90.0)]);
        let mut h = with_key("user-1");
        h.insert(OVERRIDES_HEADER, "ab-api=\"new\"".parse().unwrap());
        assert_eq!(
            choose(&s, &h, 99.0).unwrap(),
            ("new".into(), ChosenBy::Override)
        );
        // A version that is not deployed is ignored, as on Cloudflare.
        h.insert(OVERRIDES_HEADER, "ab-api=\"gone\"".parse().unwrap());
        assert_ne!(choose(&s, &h, 99.0).unwrap().1, ChosenBy::Override);
        // Without headers, the random draw picks by percentage.
        let none = HeaderMap::new();
        assert_eq!(choose(&s, &none, 5.0).unwrap().0, "new");
        assert_eq!(choose(&s, &none, 50.0).unwrap().0, "old");
    }

    #[test]
    fn route_patterns_match_host_and_path() {
        assert!(route_matches("example.com/api/*", "example.com", "/api/x"));
        assert!(!route_matches("example.com/api/*", "example.com", "/web"));
        assert!(route_matches("*.example.com/*", "shop.example.com", "/"));
        assert!(route_matches("*example.com/*", "example.com", "/a"));
        assert!(!route_matches("example.com/*", "other.org", "/a"));
    }
}
