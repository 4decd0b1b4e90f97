//! Schema building blocks shared by the operations, and the hand-written component schemas.

use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Schema helpers.

pub(super) fn sref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A response object: the listed properties are always present; more may be added later.
pub(super) fn open(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

pub(super) fn text() -> Value {
    json!({ "type": "string" })
}

pub(super) fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

/// `limit` and `cursor` of a cursor-paginated list (`control::cursor`).
pub(super) fn page_params() -> [Value; 2] {
    [
        query(
            "limit",
            json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 }),
            "page size: default 50, clamped to 1..200",
        ),
        query(
            "cursor",
            json!({ "type": "string", "maxLength": 512 }),
            "opaque: the `next_cursor` of this list's previous page; any other value (another list's cursor included) is a 400",
        ),
    ]
}

/// Slugs of teams, projects, services and environments (`control::valid_slug`).
pub(super) fn slug() -> Value {
    json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$" })
}

// ---------------------------------------------------------------------------------------------
// Shared schemas.

pub(super) fn components() -> Value {
    let mut schemas = Map::new();
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
