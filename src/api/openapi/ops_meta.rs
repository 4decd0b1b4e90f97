//! OpenAPI operations of the unauthenticated routes: liveness, readiness, version, the document.
//! Their answers are the contract types of `api::contract::meta`.

use schemars::SchemaGenerator;
use serde_json::json;

use super::ops_teams::answers;
use super::schema::*;
use super::Op;
use crate::api::contract::meta::{Health, Readiness, VersionInfo};

// One function per route.

pub(super) fn op_healthz(g: &mut SchemaGenerator) -> Op {
    answers::<Health>(g)
}

pub(super) fn op_readyz(g: &mut SchemaGenerator) -> Op {
    Op {
        // Not ready: the same `Readiness` body (see `operation`).
        errors: &[503],
        ..answers::<Readiness>(g)
    }
}

pub(super) fn op_version(g: &mut SchemaGenerator) -> Op {
    answers::<VersionInfo>(g)
}

/// The document itself: an OpenAPI object (its shape is OpenAPI's, not a contract type).
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
