//! OpenAPI operations of hosted assessments.

use schemars::SchemaGenerator;
use serde_json::json;

use super::schema::*;
use super::Op;

pub(super) fn op_create_assessment(_g: &mut SchemaGenerator) -> Op {
    let mut body = closed(
        &["config"],
        json!({
            "config": { "type": "string", "maxLength": 65_536, "description": "the wrangler config's text (at most 256 KiB of UTF-8)" },
            "file": { "type": "string", "maxLength": 200, "pattern": "\\.(toml|jsonc|json)$", "default": "wrangler.toml" },
            "env": nullable(plain_name()),
            "project": { "type": "string", "description": "with `environment`: the project whose environment's bound account is assessed (with the team's credential for it); without both, only the local checks run" },
            "environment": { "type": "string", "description": "with `project`: the environment whose bound Cloudflare account is assessed" },
            "required_secrets": { "type": "array", "maxItems": 200, "items": string(0, 256) },
        }),
    );
    // Both or neither.
    body["dependentRequired"] = json!({ "project": ["environment"], "environment": ["project"] });
    Op {
        body: Some(body),
        ok: 201,
        ok_body: Some(sref("Assessment")),
        // 404: the project, the environment or the team's credential for its account does
        // not exist; 409: the environment is bound to no Cloudflare account.
        errors: &[404, 409],
        ..Op::default()
    }
}

pub(super) fn op_get_assessment(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Assessment")),
        ..Op::default()
    }
}
