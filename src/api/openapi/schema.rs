//! Schema building blocks shared by the operations, and the hand-written component schemas.

use serde_json::{json, Map, Value};

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

/// Cloudflare account ids and environment names in assessments.
pub(super) fn plain_name() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" })
}

/// An email the server accepts: something before the `@`, a dot after it, no whitespace.
pub(super) fn email() -> Value {
    json!({ "type": "string", "format": "email", "maxLength": 254, "pattern": "^[^@\\s]+@[^\\s]*\\.[^\\s]*$" })
}

// ---------------------------------------------------------------------------------------------
// Shared schemas.

/// Every IANA zone the server accepts for policy windows.
pub(super) fn time_zones() -> Value {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| Value::String(tz.name().to_owned()))
        .collect()
}

pub(super) fn components() -> Value {
    let role = json!({ "type": "string", "enum": crate::control::Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>() });
    let error_codes: Vec<Value> = crate::api::ErrorCode::ALL
        .iter()
        .map(|c| json!(c))
        .collect();
    let check = open(
        &["ok"],
        json!({
            "ok": { "type": "boolean" }, "error": text(), "schema_version": text(),
            "written_at": millis(), "wrote": { "type": "boolean" },
        }),
    );
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        closed(
            &["error"],
            json!({ "error": closed(&["code", "message", "hint"], json!({
            "code": { "type": "string", "enum": error_codes },
            "message": text(),
            "hint": nullable(text()),
        })) }),
        ),
    );
    schemas.insert("Role".into(), role);
    schemas.insert("Readiness".into(), open(&["status", "checks"], json!({
            "status": { "type": "string", "enum": ["ready", "not_ready"] },
            "checks": open(&["d1", "deploy_lock", "rollout"], json!({ "d1": check.clone(), "deploy_lock": check.clone(), "rollout": check })),
        })));
    schemas.insert("TeamCreated".into(), open(&["team", "member", "token", "actor"], json!({
            "team": open(&["id", "slug", "name"], json!({ "id": text(), "slug": text(), "name": text() })),
            "member": open(&["id", "email", "role"], json!({ "id": text(), "email": text(), "role": sref("Role") })),
            "token": open(&["id", "role", "secret"], json!({ "id": text(), "role": sref("Role"), "secret": text(), "note": text() })),
            "actor": text(),
        })));
    schemas.insert("Token".into(), open(&["id", "name", "prefix", "role", "member_email", "created_at", "expires_at", "revoked_at", "last_used_at"], json!({
            "id": text(), "name": text(), "prefix": text(), "role": sref("Role"), "member_email": nullable(text()),
            "created_at": millis(), "expires_at": nullable(millis()), "revoked_at": nullable(millis()), "last_used_at": nullable(millis()),
        })));
    schemas.insert("Member".into(), open(&["id", "email", "name", "role", "created_at"], json!({
            "id": text(), "email": text(), "name": nullable(text()), "role": sref("Role"), "created_at": millis(),
        })));
    schemas.insert("Project".into(), open(&["id", "slug", "name", "repository", "created_at"], json!({
            "id": text(), "slug": text(), "name": text(), "repository": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Service".into(), open(&["id", "name", "config_path", "config_text", "created_at"], json!({
            "id": text(), "name": text(), "config_path": text(), "config_text": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Environment".into(), open(&["id", "name", "cloudflare_account_id", "created_at"], json!({
            "id": text(), "name": text(), "cloudflare_account_id": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Policy".into(), closed(&[], json!({
            "required_approvals": { "type": "integer", "minimum": 0, "maximum": crate::control::policy::MAX_REQUIRED_APPROVALS },
            "branches": { "type": "array", "maxItems": 50, "items": string(1, 200), "description": "globs: `*` within a segment, `**` across `/`, `?` one character" },
            "windows": { "type": "array", "maxItems": 50, "items": sref("Window") },
            "freezes": { "type": "array", "maxItems": 50, "items": sref("Freeze") },
        })));
    schemas.insert("Window".into(), closed(&["days", "start", "end", "timezone"], json!({
            "days": { "type": "array", "minItems": 1, "items": { "type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] } },
            "start": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "local HH:MM, inclusive" },
            "end": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "local HH:MM, exclusive, after start" },
            "timezone": { "type": "string", "enum": time_zones() },
        })));
    schemas.insert("Freeze".into(), closed(&["starts_at", "ends_at", "reason"], json!({
            "starts_at": { "type": "string", "format": "date-time" },
            "ends_at": { "type": "string", "format": "date-time", "description": "after starts_at" },
            "reason": string(0, 500),
        })));
    schemas.insert("Credential".into(), open(&["id", "account_id", "name", "created_by", "created_at"], json!({
            "id": text(), "account_id": text(), "name": text(), "created_by": text(), "created_at": millis(),
        })));
    schemas.insert(
        "AuditEntry".into(),
        open(
            &[
                "id",
                "at",
                "actor",
                "action",
                "target_type",
                "target_id",
                "before",
                "after",
            ],
            json!({
                "id": { "type": "integer" }, "at": millis(), "actor": text(), "action": text(),
                "target_type": text(), "target_id": text(), "before": {}, "after": {},
            }),
        ),
    );
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
    Value::Object(schemas)
}
