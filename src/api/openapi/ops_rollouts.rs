//! OpenAPI operations of progressive rollouts: start, status, live stream, commands.

use schemars::SchemaGenerator;
use serde_json::{json, Value};

use super::schema::*;
use super::Op;

/// A health check as the rollout API takes it (`config::HealthCheck`; unknown fields are
/// ignored there, so the schema stays open).
pub(super) fn health_check() -> Value {
    open(
        &[
            "name",
            "url",
            "method",
            "headers",
            "expect_status",
            "timeout_ms",
            "version_override",
        ],
        json!({
            "name": text(),
            "service": nullable(text()),
            "url": { "type": "string", "pattern": "^https?://", "description": "http(s)" },
            "method": { "type": "string", "description": "upper-case HTTP method" },
            "headers": { "type": "object", "additionalProperties": text() },
            "body": nullable(text()),
            "expect_status": { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 65_535 } },
            "expect_body_contains": nullable(text()),
            "max_latency_ms": { "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX },
            "timeout_ms": { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            "version_override": { "type": "boolean", "description": "pin requests to the new version (needs `service`)" },
            "location": location(),
        }),
    )
}

/// Where a check came from in the project's config (optional over the API).
pub(super) fn location() -> Value {
    open(
        &["file", "key_path"],
        json!({ "file": text(), "line": { "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX }, "column": { "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX }, "key_path": text() }),
    )
}

/// A comparison such as `< 0.05` or `>= 100`.
pub(super) fn condition() -> Value {
    json!({ "type": "string", "pattern": "^ *(<=|>=|==|!=|<|>) *[-+]?([0-9]{1,15}(\\.[0-9]{0,15})?|\\.[0-9]{1,15})([eE][-+]?[0-9]{1,2})? *$" })
}

pub(super) fn metric_name() -> Value {
    json!({ "type": "string", "enum": crate::config::Metric::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>() })
}

/// An analysis metric as the rollout API takes it (`config::AnalysisMetric`).
pub(super) fn analysis_metric() -> Value {
    open(
        &[
            "name",
            "metric",
            "interval_secs",
            "count",
            "failure_limit",
            "inconclusive_limit",
        ],
        json!({
            "name": text(),
            "metric": metric_name(),
            "service": nullable(text()),
            "condition": nullable(condition()),
            "failure_condition": nullable(condition()),
            "interval_secs": { "type": "integer", "minimum": 1, "maximum": u64::MAX },
            "count": { "type": "integer", "minimum": 1, "maximum": 4_294_967_295_u64 },
            "failure_limit": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 },
            "inconclusive_limit": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 },
            "location": location(),
        }),
    )
}

pub(super) fn op_start_rollout(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(closed(
            &[],
            json!({
                "steps": { "type": "array", "maxItems": 20, "items": { "type": "number", "minimum": 0, "maximum": 100 }, "description": "gradual only: increasing percentages ending at 100 (default 10, 50, 100)" },
                "step_wait_secs": { "type": "integer", "minimum": 0, "maximum": 86_400, "default": 0 },
                "auto_rollback": { "type": "boolean", "default": true },
                "health_checks": { "type": "array", "items": health_check() },
                "analysis": { "type": "array", "items": analysis_metric() },
            }),
        )),
        ok: 201,
        ok_body: Some(sref("RolloutStatus")),
        // 404: the team has no credential for the environment's account; 409: not verifying,
        // not holding the lock, no account bound, nothing recorded as uploaded.
        errors: &[404, 409],
        cross_field_rules: Some(
            "gradual steps increase and end at 100; health checks and analysis name services of this deployment; blue-green needs a health check with `service` and `version_override`",
        ),
        ..Op::default()
    }
}

pub(super) fn op_get_rollout(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("RolloutStatus")),
        ..Op::default()
    }
}

pub(super) fn op_live_rollout(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 101,
        ok_body: None,
        ..Op::default()
    }
}

pub(super) fn op_command_rollout(_g: &mut SchemaGenerator) -> Op {
    Op {
        path_schemas: vec![(
            "command",
            json!({ "type": "string", "enum": ["pause", "resume", "promote", "abort"] }),
        )],
        ok: 202,
        ok_body: Some(sref("RolloutStatus")),
        errors: &[409],
        ..Op::default()
    }
}
