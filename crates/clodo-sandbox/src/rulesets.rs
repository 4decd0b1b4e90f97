//! Zone phase entry point rulesets (`GET`/`PUT /zones/{zone_id}/rulesets/phases/{phase}/entrypoint`)
//! for the one phase the sandbox models, `http_request_late_transform` (Request Header
//! Transform Rules), and applying those rules to a request that reaches a Worker through a
//! route. Rules are validated as Cloudflare does for the forms the sandbox supports: action
//! `rewrite`, headers set to a static `value` or to one of two dynamic expressions
//! (`http.request.cookies["NAME"][0]`, `http.request.headers["name"][0]`), or removed; a
//! rule's `expression` (when it applies) is `true`. Anything else is refused with a
//! Cloudflare-style error naming the field, rather than accepted and not applied.

use std::collections::BTreeMap;

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::api::{zone_scope, ApiRequest, Reply};
use super::auth::{Access, Product};
use super::error::SandboxError;
use super::state::{hex_id, now_rfc3339, Store, Token};

/// The phase the sandbox models.
pub const LATE_TRANSFORM: &str = "http_request_late_transform";
/// Cloudflare's code for a missing entry point ruleset.
const NOT_FOUND_CODE: u32 = 10003;
/// Cloudflare's code for an invalid ruleset or rule.
const INVALID_CODE: u32 = 20021;
/// At most this many rules per entry point (the sandbox's bound on untrusted input).
const MAX_RULES: usize = 100;

/// One zone's entry point ruleset of a phase, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseRuleset {
    #[serde(default)]
    pub id: String,
    pub zone_id: String,
    pub phase: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "first_version")]
    pub version: u64,
    #[serde(default)]
    pub last_updated: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn first_version() -> u64 {
    1
}

/// One rule of a ruleset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    #[serde(default = "first_version")]
    pub version: u64,
    pub action: String,
    pub expression: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(rename = "ref", default)]
    pub reference: String,
    #[serde(default)]
    pub last_updated: String,
    /// `{ "headers": { NAME: { "operation": "set", "value" | "expression": … } | { "operation": "remove" } } }`
    pub action_parameters: Value,
}

fn enabled() -> bool {
    true
}

/// A validated header operation.
#[derive(Debug, Clone, PartialEq)]
enum HeaderOp {
    Static(String),
    Cookie(String),
    Header(String),
    Remove,
}

fn invalid(pointer: &str, message: impl Into<String>) -> SandboxError {
    SandboxError::rejected(
        400,
        INVALID_CODE,
        format!("{} (at {pointer})", message.into()),
    )
}

/// Reads `http.request.cookies["NAME"][0]` or `http.request.headers["name"][0]`.
fn dynamic(expression: &str) -> Option<HeaderOp> {
    let field = |prefix: &str| {
        let name = expression
            .trim()
            .strip_prefix(prefix)?
            .strip_prefix("[\"")?
            .strip_suffix("\"][0]")?;
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        ok.then(|| name.to_owned())
    };
    if let Some(name) = field("http.request.cookies") {
        return Some(HeaderOp::Cookie(name));
    }
    let name = field("http.request.headers")?;
    // Header names in this map field are lower case on Cloudflare.
    (name == name.to_ascii_lowercase()).then_some(HeaderOp::Header(name))
}

/// The header operations of a rule, or why the rule is refused.
fn header_ops(rule: &Rule, at: &str) -> Result<Vec<(String, HeaderOp)>, SandboxError> {
    if rule.action != "rewrite" {
        return Err(invalid(
            &format!("{at}/action"),
            format!(
                "'{}' is not a valid action for the {LATE_TRANSFORM} phase: only 'rewrite' is allowed",
                rule.action
            ),
        ));
    }
    if rule.expression.trim() != "true" {
        return Err(invalid(
            &format!("{at}/expression"),
            format!(
                "the sandbox only evaluates the rule expression 'true', not '{}'",
                rule.expression
            ),
        ));
    }
    let params = rule.action_parameters.as_object();
    let headers = params
        .filter(|p| p.keys().all(|k| k == "headers"))
        .and_then(|p| p.get("headers"))
        .and_then(Value::as_object)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            invalid(
                &format!("{at}/action_parameters"),
                "a request header rewrite needs action_parameters.headers with at least one header (the sandbox models header rewrites only)",
            )
        })?;
    headers
        .iter()
        .map(|(name, op)| {
            let here = format!("{at}/action_parameters/headers/{name}");
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(invalid(&here, format!("'{name}' is not a valid header name")));
            }
            let op = header_op(op).ok_or_else(|| {
                invalid(
                    &here,
                    "expected {\"operation\":\"set\",\"value\":…}, {\"operation\":\"set\",\"expression\":…} with http.request.cookies[\"NAME\"][0] or http.request.headers[\"name\"][0], or {\"operation\":\"remove\"}",
                )
            })?;
            Ok((name.to_ascii_lowercase(), op))
        })
        .collect()
}

fn header_op(op: &Value) -> Option<HeaderOp> {
    let o = op.as_object()?;
    match (
        o.get("operation")?.as_str()?,
        o.get("value"),
        o.get("expression"),
    ) {
        ("remove", None, None) if o.len() == 1 => Some(HeaderOp::Remove),
        ("set", Some(Value::String(v)), None) if o.len() == 2 && !v.is_empty() => {
            Some(HeaderOp::Static(v.clone()))
        }
        ("set", None, Some(Value::String(e))) if o.len() == 2 => dynamic(e),
        _ => None,
    }
}

/// The wire form of a ruleset.
fn ruleset_json(r: &PhaseRuleset) -> Value {
    let rules: Vec<Value> = r
        .rules
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "version": rule.version.to_string(),
                "action": rule.action,
                "action_parameters": rule.action_parameters,
                "expression": rule.expression,
                "description": rule.description,
                "last_updated": rule.last_updated,
                "ref": rule.reference,
                "enabled": rule.enabled,
            })
        })
        .collect();
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "kind": "zone",
        "version": r.version.to_string(),
        "rules": rules,
        "last_updated": r.last_updated,
        "phase": r.phase,
    })
}

fn require_phase(phase: &str) -> Result<(), SandboxError> {
    if phase == LATE_TRANSFORM {
        return Ok(());
    }
    Err(SandboxError::rejected(
        400,
        INVALID_CODE,
        format!("the sandbox models the {LATE_TRANSFORM} phase only, not '{phase}'"),
    ))
}

/// `GET /zones/{zone_id}/rulesets/phases/{phase}/entrypoint`
pub async fn get_entrypoint(
    store: &Store,
    token: &Token,
    req: &ApiRequest,
    zone_id: &str,
    phase: &str,
) -> Result<Reply, SandboxError> {
    let st = store.read().await;
    zone_scope(
        &st,
        token,
        req,
        zone_id,
        Product::TransformRules,
        Access::Read,
    )?;
    require_phase(phase)?;
    st.zone_rulesets
        .iter()
        .find(|r| r.zone_id == zone_id && r.phase == phase)
        .map(|r| Reply::ok(ruleset_json(r)))
        .ok_or_else(|| {
            SandboxError::not_found(
                NOT_FOUND_CODE,
                format!("could not find entrypoint ruleset in the {phase} phase"),
            )
        })
}

/// The body of a PUT: the whole new list of rules (and optional name/description).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    rules: Vec<Value>,
}

/// `PUT /zones/{zone_id}/rulesets/phases/{phase}/entrypoint`: replaces the rules (creating the
/// entry point when there is none), a new version of the ruleset. A rule keeps its `id` when
/// the body names an existing one (its `version` then goes up when it changed).
pub async fn put_entrypoint(
    store: &Store,
    token: &Token,
    req: &ApiRequest,
    zone_id: &str,
    phase: &str,
) -> Result<Reply, SandboxError> {
    let body: PutBody = req.json()?;
    require_phase(phase)?;
    if body.kind.as_deref().is_some_and(|k| k != "zone") {
        return Err(invalid(
            "/kind",
            "an entry point ruleset of a zone has kind 'zone'",
        ));
    }
    if body.phase.as_deref().is_some_and(|p| p != phase) {
        return Err(invalid("/phase", "the phase does not match the URL"));
    }
    if body.rules.len() > MAX_RULES {
        return Err(invalid("/rules", format!("at most {MAX_RULES} rules")));
    }
    store
        .mutate(|st| {
            zone_scope(
                st,
                token,
                req,
                zone_id,
                Product::TransformRules,
                Access::Edit,
            )?;
            let now = now_rfc3339();
            let old = st
                .zone_rulesets
                .iter()
                .find(|r| r.zone_id == zone_id && r.phase == phase)
                .cloned();
            let old_rules: BTreeMap<String, Rule> = old
                .iter()
                .flat_map(|r| r.rules.iter().map(|x| (x.id.clone(), x.clone())))
                .collect();
            let mut rules = Vec::new();
            for (i, raw) in body.rules.iter().enumerate() {
                let at = format!("/rules/{i}");
                let mut obj: Map<String, Value> = raw
                    .as_object()
                    .cloned()
                    .ok_or_else(|| invalid(&at, "a rule is an object"))?;
                // Read-only fields a client may echo back from a GET.
                for k in ["version", "last_updated"] {
                    obj.remove(k);
                }
                let mut rule: Rule = serde_json::from_value(Value::Object(obj))
                    .map_err(|e| invalid(&at, format!("invalid rule: {e}")))?;
                header_ops(&rule, &at)?;
                match old_rules.get(&rule.id) {
                    Some(prev) if !rule.id.is_empty() => {
                        let same = Rule {
                            version: prev.version,
                            last_updated: prev.last_updated.clone(),
                            ..rule.clone()
                        } == *prev;
                        rule.version = if same { prev.version } else { prev.version + 1 };
                        rule.last_updated = if same {
                            prev.last_updated.clone()
                        } else {
                            now.clone()
                        };
                    }
                    _ if !rule.id.is_empty() => {
                        return Err(invalid(
                            &format!("{at}/id"),
                            format!("rule id {} does not exist in this ruleset", rule.id),
                        ))
                    }
                    _ => {
                        rule.id = hex_id();
                        rule.version = 1;
                        rule.last_updated = now.clone();
                    }
                }
                if rule.reference.is_empty() {
                    rule.reference = rule.id.clone();
                }
                if rules.iter().any(|r: &Rule| r.reference == rule.reference) {
                    return Err(invalid(
                        &format!("{at}/ref"),
                        format!("duplicate rule ref '{}'", rule.reference),
                    ));
                }
                rules.push(rule);
            }
            let next = PhaseRuleset {
                id: old.as_ref().map_or_else(hex_id, |r| r.id.clone()),
                zone_id: zone_id.to_owned(),
                phase: phase.to_owned(),
                name: body
                    .name
                    .clone()
                    .or_else(|| old.as_ref().map(|r| r.name.clone()))
                    .unwrap_or_else(|| "default".to_owned()),
                description: body
                    .description
                    .clone()
                    .or_else(|| old.as_ref().map(|r| r.description.clone()))
                    .unwrap_or_default(),
                version: old.as_ref().map_or(1, |r| r.version + 1),
                last_updated: now,
                rules,
            };
            let reply = ruleset_json(&next);
            st.zone_rulesets
                .retain(|r| !(r.zone_id == zone_id && r.phase == phase));
            st.zone_rulesets.push(next);
            Ok(Reply::ok(reply))
        })
        .await
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
}

/// Applies a zone's late-transform rules to a request's headers, in rule order. A dynamic
/// value whose cookie or header is missing sets nothing.
pub fn apply_late_transform(rulesets: &[PhaseRuleset], zone_id: &str, headers: &mut HeaderMap) {
    let Some(ruleset) = rulesets
        .iter()
        .find(|r| r.zone_id == zone_id && r.phase == LATE_TRANSFORM)
    else {
        return;
    };
    for rule in ruleset.rules.iter().filter(|r| r.enabled) {
        let Ok(ops) = header_ops(rule, "") else {
            continue;
        };
        for (name, op) in ops {
            let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            let value = match op {
                HeaderOp::Remove => {
                    headers.remove(&header);
                    continue;
                }
                HeaderOp::Static(v) => Some(v),
                HeaderOp::Cookie(c) => cookie(headers, &c),
                HeaderOp::Header(h) => headers
                    .get(h.as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
                headers.insert(header, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(params: Value) -> Rule {
        Rule {
            id: "r1".into(),
            version: 1,
            action: "rewrite".into(),
            expression: "true".into(),
            description: String::new(),
            enabled: true,
            reference: "r1".into(),
            last_updated: String::new(),
            action_parameters: params,
        }
    }

    #[test]
    fn the_two_dynamic_forms_and_static_values_are_read_and_others_refused() {
        let ok = rule(json!({ "headers": {
            "Cloudflare-Workers-Version-Key": { "operation": "set", "expression": "http.request.cookies[\"uid\"][0]" },
            "x-a": { "operation": "set", "value": "1" },
            "x-b": { "operation": "remove" },
        }}));
        let ops = header_ops(&ok, "/rules/0").unwrap();
        assert!(ops.contains(&(
            "cloudflare-workers-version-key".into(),
            HeaderOp::Cookie("uid".into())
        )));
        for bad in [
            json!({ "headers": { "k": { "operation": "set", "expression": "ip.src" } } }),
            json!({ "headers": { "k": { "operation": "set", "expression": "http.request.headers[\"X-Upper\"][0]" } } }),
            json!({ "headers": { "k": { "operation": "add", "value": "1" } } }),
            json!({ "headers": { "k": { "operation": "set", "value": "1", "expression": "true" } } }),
            json!({ "uri": { "path": { "value": "/" } } }),
        ] {
            let err = header_ops(&rule(bad.clone()), "/rules/0").unwrap_err();
            assert_eq!(err.status(), 400, "{bad}");
            assert_eq!(err.envelope()["errors"][0]["code"], INVALID_CODE);
        }
        let mut other_action = ok.clone();
        other_action.action = "block".into();
        assert!(header_ops(&other_action, "/rules/0")
            .unwrap_err()
            .to_string()
            .contains("/rules/0/action"));
    }

    #[test]
    fn the_late_transform_derives_the_version_key_from_a_cookie_or_header() {
        let set = |expr: &str| PhaseRuleset {
            id: "rs".into(),
            zone_id: "z".into(),
            phase: LATE_TRANSFORM.into(),
            name: String::new(),
            description: String::new(),
            version: 1,
            last_updated: String::new(),
            rules: vec![rule(json!({ "headers": {
                "Cloudflare-Workers-Version-Key": { "operation": "set", "expression": expr }
            }}))],
        };
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; uid=user-42; b=2".parse().unwrap());
        apply_late_transform(&[set("http.request.cookies[\"uid\"][0]")], "z", &mut h);
        assert_eq!(h["cloudflare-workers-version-key"], "user-42");

        let mut h = HeaderMap::new();
        h.insert("x-user-id", "u7".parse().unwrap());
        apply_late_transform(
            &[set("http.request.headers[\"x-user-id\"][0]")],
            "z",
            &mut h,
        );
        assert_eq!(h["cloudflare-workers-version-key"], "u7");
        // Another zone's rules do not apply; a missing cookie sets nothing.
        let mut h = HeaderMap::new();
        apply_late_transform(&[set("http.request.cookies[\"uid\"][0]")], "other", &mut h);
        apply_late_transform(&[set("http.request.cookies[\"uid\"][0]")], "z", &mut h);
        assert!(h.get("cloudflare-workers-version-key").is_none());
    }
}
