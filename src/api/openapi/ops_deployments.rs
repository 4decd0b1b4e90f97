//! OpenAPI operations of deployments: create, list, transitions, approvals, uploads.

use schemars::SchemaGenerator;
use serde_json::{json, Value};

use super::ops_teams::script_name;
use super::schema::*;
use super::Op;

pub(super) fn op_list_deployments(_g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![
            query("project", slug(), "only this project's deployments"),
            query("environment", slug(), "only this environment's deployments"),
            query(
                "status",
                sref("DeploymentStatus"),
                "only deployments in this status",
            ),
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
        ],
        ok: 200,
        ok_body: Some(open(
            &["items", "next_cursor"],
            json!({ "items": { "type": "array", "items": sref("Deployment") }, "next_cursor": nullable(text()) }),
        )),
        ..Op::default()
    }
}

pub(super) fn op_create_deployment(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(closed(
            &["project", "environment"],
            json!({
                "project": text(),
                "environment": text(),
                "git_ref": nullable(string(0, 256)),
                "git_sha": nullable(string(0, 64)),
                "strategy": nullable(json!({ "type": "string", "enum": ["immediate", "gradual", "blue-green"] })),
                "message": nullable(string(0, 2000)),
                "emergency_override": nullable(closed(&["reason"], json!({ "reason": non_blank(1000) }))),
            }),
        )),
        ok: 201,
        ok_body: Some(sref("Deployment")),
        errors: &[409],
        ..Op::default()
    }
}

pub(super) fn op_get_deployment(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(json!({ "allOf": [sref("Deployment"), open(
            &["events", "approvals"],
            json!({
                "events": { "type": "array", "items": sref("DeploymentEvent") },
                "approvals": { "type": "array", "items": sref("Approval") },
            }),
        )] })),
        ..Op::default()
    }
}

pub(super) fn op_transition(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(closed(
            &["to"],
            json!({ "to": sref("DeploymentStatus"), "detail": { "description": "any JSON, at most 8 KiB" } }),
        )),
        ok: 200,
        ok_body: Some(sref("Deployment")),
        errors: &[409],
        ..Op::default()
    }
}

pub(super) fn op_list_approvals(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["required", "items"],
            json!({ "required": { "type": "integer" }, "items": { "type": "array", "items": sref("Approval") } }),
        )),
        ..Op::default()
    }
}

pub(super) fn op_approve(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(closed(&[], json!({ "comment": nullable(string(0, 2000)) }))),
        ok: 201,
        ok_body: Some(open(
            &["approval_id", "approvals", "required", "deployment"],
            json!({ "approval_id": text(), "approvals": { "type": "integer" }, "required": { "type": "integer" }, "deployment": sref("Deployment") }),
        )),
        // 403: the author, a token without a member, or a role below approver; 409: already
        // approved by this person, not awaiting approval, or blocked by the policy now.
        errors: &[403, 409],
        ..Op::default()
    }
}

pub(super) fn upload() -> Value {
    open(
        &[
            "service",
            "script",
            "version_id",
            "previous_version_id",
            "already_live",
        ],
        json!({
            "service": slug(), "script": script_name(), "version_id": text(),
            "previous_version_id": nullable(text()), "already_live": { "type": "boolean" },
        }),
    )
}

pub(super) fn op_list_uploads(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(upload())),
        ..Op::default()
    }
}

/// A Worker version id (`rollout::valid_version_id`).
pub(super) fn version_id() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$" })
}

pub(super) fn op_record_uploads(_g: &mut SchemaGenerator) -> Op {
    let service = closed(
        &["service", "version_id"],
        json!({
            "service": slug(), "version_id": version_id(),
            "previous_version_id": nullable(version_id()), "already_live": { "type": "boolean", "default": false },
        }),
    );
    Op {
        body: Some(closed(
            &["services"],
            json!({ "services": { "type": "array", "minItems": 1, "maxItems": 50, "items": service } }),
        )),
        ok: 201,
        ok_body: Some(open(
            &["deployment_id", "items"],
            json!({ "deployment_id": text(), "items": { "type": "array", "items": upload() } }),
        )),
        // 400 also when a version is not one of the registered Worker in the environment's
        // account; 404: no credential for that account; 409: not deploying, not holding the
        // lock, no account bound, a service without a registered Worker.
        errors: &[404, 409],
        cross_field_rules: Some(
            "each service is listed once; a service's version_id differs from its previous_version_id",
        ),
        ..Op::default()
    }
}
