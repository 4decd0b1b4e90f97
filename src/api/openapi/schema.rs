//! Schema building blocks shared by the operations, and the hand-written component schemas.

use serde_json::{json, Map, Value};

use super::ops_rollouts::metric_name;

// ---------------------------------------------------------------------------------------------
// Schema helpers.

pub(super) fn sref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A request object: every property listed, unknown ones refused (the server's types use
/// `#[serde(deny_unknown_fields)]`).
pub(super) fn closed(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties, "additionalProperties": false })
}

/// A response object: the listed properties are always present; more may be added later.
pub(super) fn open(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

pub(super) fn string(min: u32, max: u32) -> Value {
    json!({ "type": "string", "minLength": min, "maxLength": max })
}

pub(super) fn nullable(mut schema: Value) -> Value {
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema["type"] = json!([t, "null"]);
            if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
                values.push(Value::Null);
            }
            schema
        }
        _ => json!({ "anyOf": [schema, { "type": "null" }] }),
    }
}

pub(super) fn text() -> Value {
    json!({ "type": "string" })
}

pub(super) fn millis() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "Unix time in milliseconds" })
}

pub(super) fn list_of(item: Value) -> Value {
    open(
        &["items"],
        json!({ "items": { "type": "array", "items": item } }),
    )
}

pub(super) fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

/// Slugs of teams, projects, services and environments (`control::valid_slug`).
pub(super) fn slug() -> Value {
    json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$" })
}

/// Lock holder ids (`lock::valid_holder_id`).
pub(super) fn holder_id() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" })
}

/// Cloudflare account ids and environment names in assessments.
pub(super) fn plain_name() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" })
}

/// Text the server trims before checking: at least one non-blank character.
pub(super) fn non_blank(max: u32) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": "\\S" })
}

// ---------------------------------------------------------------------------------------------
// Shared schemas.

pub(super) fn components() -> Value {
    let status = json!({ "type": "string", "enum": crate::control::lifecycle::DeploymentStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() });
    let claim = json!({
        "holder_id": text(), "actor": text(), "purpose": text(), "lease_ms": { "type": "integer" },
        "owner": { "type": "string", "description": "`token:<id>` of the token that acquired it (empty for entries stored before owners were recorded); only it may renew, release or cancel the entry" },
    });
    let mut lease = claim.clone();
    lease["acquired_at_ms"] = millis();
    lease["lease_until_ms"] = millis();
    let mut waiter = claim;
    waiter["queued_at_ms"] = millis();
    waiter["last_seen_ms"] = nullable(
        json!({ "type": "integer", "format": "int64", "description": "when the waiter last acquired again (a sign of life); a waiter silent for longer than its lease is dropped when its turn comes" }),
    );
    let mut schemas = Map::new();
    schemas.insert("DeploymentStatus".into(), status);
    schemas.insert(
        "Lease".into(),
        open(
            &[
                "holder_id",
                "actor",
                "purpose",
                "lease_ms",
                "acquired_at_ms",
                "lease_until_ms",
                "owner",
            ],
            lease,
        ),
    );
    schemas.insert(
        "Waiter".into(),
        open(
            &[
                "holder_id",
                "actor",
                "purpose",
                "lease_ms",
                "queued_at_ms",
                "owner",
                "last_seen_ms",
            ],
            waiter,
        ),
    );
    schemas.insert("LockInfo".into(), open(&["held", "holder", "queue"], json!({
            "held": { "type": "boolean" }, "holder": nullable(sref("Lease")), "queue": { "type": "array", "items": sref("Waiter") },
        })));
    schemas.insert("AcquireOutcome".into(), json!({ "oneOf": [
            open(&["outcome", "lease"], json!({ "outcome": { "type": "string", "enum": ["granted"] }, "lease": sref("Lease") })),
            open(&["outcome", "position", "holder"], json!({ "outcome": { "type": "string", "enum": ["queued"] }, "position": { "type": "integer", "minimum": 1 }, "holder": sref("Lease") })),
        ] }));
    schemas.insert("Deployment".into(), open(&["id", "project_id", "environment_id", "project", "environment", "status", "strategy", "requested_by", "requested_by_member", "git_ref", "git_sha", "message", "required_approvals", "override_reason", "overridden_rules", "created_at", "started_at", "finished_at"], json!({
            "id": text(), "project_id": text(), "environment_id": text(), "project": text(), "environment": text(),
            "status": sref("DeploymentStatus"), "strategy": { "type": "string", "enum": ["immediate", "gradual", "blue-green"] },
            "requested_by": text(),
            "requested_by_member": nullable(json!({ "type": "string", "description": "the accountable person (lower-cased email) approvals are compared against" })),
            "git_ref": nullable(text()), "git_sha": nullable(text()), "message": nullable(text()),
            "required_approvals": { "type": "integer" }, "override_reason": nullable(text()),
            "overridden_rules": { "description": "the policy violations an emergency override let through, or null" },
            "created_at": millis(), "started_at": nullable(millis()), "finished_at": nullable(millis()),
        })));
    schemas.insert(
        "DeploymentEvent".into(),
        open(
            &["id", "at", "kind", "from_status", "to_status", "detail"],
            json!({
                "id": { "type": "integer" }, "at": millis(), "kind": text(),
                "from_status": nullable(text()), "to_status": nullable(text()), "detail": {},
            }),
        ),
    );
    schemas.insert("Approval".into(), open(&["id", "actor", "role", "comment", "created_at"], json!({
            "id": text(), "actor": text(), "role": sref("Role"), "comment": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Assessment".into(), open(&["id", "account_id", "env", "config_file", "created_by", "created_at", "report"], json!({
            "id": text(), "account_id": nullable(text()), "env": nullable(text()), "config_file": text(),
            "created_by": text(), "created_at": millis(),
            "report": sref("Report"),
        })));
    let strategy = json!({ "type": "string", "enum": ["immediate", "gradual", "blue-green"] });
    let kinds: Vec<&str> = crate::assess::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    schemas.insert("Report".into(), open(&["ready", "findings", "unverified", "checked", "duration_ms", "api_calls", "capabilities", "services"], json!({
            "ready": { "type": "boolean", "description": "false when any finding is an error, or a check could not be made (unverified) and that was not explicitly allowed" },
            "findings": { "type": "array", "items": open(&["kind", "severity", "message", "fix"], json!({
                "kind": { "type": "string", "enum": kinds },
                "severity": { "type": "string", "enum": ["error", "warning", "info"] },
                "message": text(), "fix": text(), "service": text(), "env": text(),
                "location": open(&["file"], json!({ "file": text(), "line": { "type": "integer" }, "column": { "type": "integer" }, "key_path": text() })),
                "unverified": { "type": "boolean", "description": "present (true) when the check behind it could not be made" },
            })) },
            "unverified": { "type": "integer", "minimum": 0, "description": "how many findings are checks that could not be made" },
            "inconclusive_allowed": { "type": "boolean", "description": "present (true) when ready was granted although checks are unverified" },
            "write_access": open(&["state", "needed", "missing"], json!({
                "state": { "type": "string", "enum": ["verified", "missing", "unverified"] },
                "needed": { "type": "array", "items": text() },
                "missing": { "type": "array", "items": text() },
                "reason": text(),
            })),
            "checked": { "type": "object", "additionalProperties": { "type": "integer" } },
            "duration_ms": { "type": "integer" },
            "api_calls": { "type": "integer" },
            "capabilities": { "type": "object", "additionalProperties": { "type": ["boolean", "null"] } },
            "services": { "type": "array", "items": text() },
            "env": text(),
        })));
    schemas.insert("RolloutStatus".into(), open(&["deployment_id", "strategy", "phase", "steps", "step", "step_applied", "traffic_percent", "reason", "lock_lost", "services", "analysis", "started_at", "finished_at", "next_action_at", "recorded", "log"], json!({
            "deployment_id": text(),
            "strategy": strategy,
            "phase": { "type": "string", "enum": ["running", "paused", "rolling_back", "succeeded", "rolled_back", "failed"] },
            "steps": { "type": "array", "items": { "type": "number" } },
            "step": { "type": "integer", "minimum": 0 },
            "step_applied": { "type": "boolean" },
            "traffic_percent": { "type": ["number", "null"], "description": "of the new versions" },
            "reason": nullable(text()),
            "lock_lost": { "type": "boolean", "description": "the deployment no longer holds its environment's lock: the rollout paused without moving traffic further" },
            "services": { "type": "array", "items": open(&["service", "script", "previous_version", "new_version", "already_live"], json!({
                "service": text(), "script": text(), "previous_version": nullable(text()), "new_version": text(), "already_live": { "type": "boolean" },
            })) },
            "analysis": { "type": "array", "items": open(&["name", "metric", "successful", "failed", "inconclusive", "last_value", "failure_limit", "inconclusive_limit"], json!({
                "name": text(), "metric": metric_name(), "successful": { "type": "integer" }, "failed": { "type": "integer" },
                "inconclusive": { "type": "integer" }, "last_value": { "type": ["number", "null"] },
                "failure_limit": { "type": "integer" }, "inconclusive_limit": { "type": "integer" },
            })) },
            "started_at": millis(),
            "finished_at": nullable(millis()),
            "next_action_at": nullable(millis()),
            "recorded": { "type": "boolean", "description": "the deployment's final status is written" },
            "log": { "type": "array", "items": open(&["seq", "at_ms", "kind", "message"], json!({
                "seq": { "type": "integer" }, "at_ms": millis(), "kind": text(), "message": text(),
            })) },
        })));
    Value::Object(schemas)
}
