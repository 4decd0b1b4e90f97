//! OpenAPI operations of the unauthenticated routes: liveness, readiness, version, the document.

use schemars::SchemaGenerator;
use serde_json::json;

use super::schema::*;
use super::Op;

// One function per route.

pub(super) fn op_healthz(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["status"],
            json!({ "status": { "type": "string", "enum": ["ok"] } }),
        )),
        ..Op::default()
    }
}

pub(super) fn op_readyz(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Readiness")),
        errors: &[503],
        ..Op::default()
    }
}

pub(super) fn op_version(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["version", "git_sha", "schema_version"],
            json!({ "version": text(), "git_sha": text(), "schema_version": nullable(text()) }),
        )),
        ..Op::default()
    }
}

pub(super) fn op_openapi(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["openapi", "info", "paths", "components"],
            json!({ "openapi": text(), "info": { "type": "object" }, "paths": { "type": "object" }, "components": { "type": "object" } }),
        )),
        ..Op::default()
    }
}
