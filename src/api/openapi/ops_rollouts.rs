//! OpenAPI operations of progressive rollouts: start, status, live stream, commands.

use schemars::SchemaGenerator;
use serde_json::json;

use super::Op;
use crate::api::contract::rollouts::{
    Command, LiveTicket, PromoteVersion, RolloutSettings, RolloutStatus,
};

pub(super) fn op_start_rollout(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(g.subschema_for::<RolloutSettings>().to_value()),
        ok: 201,
        ok_body: Some(g.subschema_for::<RolloutStatus>().to_value()),
        // 404: the team has no credential for the environment's account; 409: not verifying,
        // not holding the lock, no account bound, nothing recorded as uploaded.
        errors: &[404, 409],
        cross_field_rules: Some(
            "gradual steps increase and end at 100; health checks and analysis name services of this deployment; blue-green needs a health check with `service` and `version_override`",
        ),
        ..Op::default()
    }
}

pub(super) fn op_get_rollout(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(g.subschema_for::<RolloutStatus>().to_value()),
        ..Op::default()
    }
}

pub(super) fn op_live_rollout(_g: &mut SchemaGenerator) -> Op {
    Op {
        // Instead of the bearer token (browsers cannot send one on a WebSocket): a ticket
        // from `POST …/rollout/live/ticket`, spent by this upgrade.
        query: vec![
            json!({
                "name": "ticket",
                "in": "query",
                "required": false,
                "description": "a single-use live ticket (POST /api/v1/deployments/{deployment_id}/rollout/live/ticket), instead of the Authorization header",
                "schema": { "type": "string", "pattern": "^clodo_live_[A-Za-z0-9_-]{43}$" },
            }),
            json!({
                "name": "wait",
                "in": "query",
                "required": false,
                "description": "true: open the socket before the rollout has started (its first message is the start's status) instead of answering 404; ignored for a deployment that has ended",
                "schema": { "type": "boolean" },
            }),
        ],
        ok: 101,
        ok_body: None,
        ..Op::default()
    }
}

pub(super) fn op_live_ticket(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 201,
        ok_body: Some(g.subschema_for::<LiveTicket>().to_value()),
        ..Op::default()
    }
}

pub(super) fn op_command_rollout(g: &mut SchemaGenerator) -> Op {
    Op {
        path_schemas: vec![(
            "command",
            json!({ "type": "string", "enum": Command::ALL.map(Command::as_str) }),
        )],
        // Optional: `promote` of an A/B test names the version to keep.
        body: Some(g.subschema_for::<PromoteVersion>().to_value()),
        body_optional: true,
        ok: 202,
        ok_body: Some(g.subschema_for::<RolloutStatus>().to_value()),
        // 409: the command (or `promote --version` on a rollout that is not an A/B test) does
        // not apply; 422: a version that is not one of the A/B test's two.
        errors: &[409, 422],
        cross_field_rules: Some(
            "`version` only with `promote`, and only for an A/B test: the current or the new version of the test",
        ),
        ..Op::default()
    }
}
