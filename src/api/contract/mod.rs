//! The typed contract of the public API: the request and response bodies of every route.
//!
//! The Worker's handlers return these types, the CLI deserialises the same types, and the
//! OpenAPI document (`api::openapi`) takes its schemas from them (`schemars::JsonSchema`), so a
//! field changed here is changed for all three, and the compiler finds every use. The
//! dashboard's TypeScript types are generated from that document (`frontend/src/api/`).

pub mod access;
pub mod assessments;
pub mod audit;
pub mod compare;
pub mod deployments;
pub mod env_rollback;
pub mod github;
pub mod locks;
pub mod meta;
pub mod metrics;
pub mod notify;
pub mod pages_d1;
pub mod previews;
pub mod promotions;
pub mod rollouts;
pub mod schedules;
pub mod slack;
pub mod teams;

/// Marks every property of a response object as always present: the server writes `null`
/// rather than leaving a field out (schemars would make `Option` fields optional).
pub fn every_field_present(schema: &mut schemars::Schema) {
    let keys: Vec<serde_json::Value> = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().cloned().map(serde_json::Value::String).collect())
        .unwrap_or_default();
    schema.insert("required".into(), serde_json::Value::Array(keys));
}
