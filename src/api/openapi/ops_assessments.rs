//! OpenAPI operations of hosted assessments; their schemas come from the contract types
//! (`api::contract::assessments`).

use schemars::SchemaGenerator;

use super::ops_deployments::schema_of;
use super::Op;
use crate::api::contract::assessments::{Assessment, NewAssessment};

pub(super) fn op_create_assessment(g: &mut SchemaGenerator) -> Op {
    Op {
        body: schema_of::<NewAssessment>(g),
        ok: 201,
        ok_body: schema_of::<Assessment>(g),
        // 404: the project, the environment or the team's credential for its account does
        // not exist; 409: the environment is bound to no Cloudflare account.
        errors: &[404, 409],
        ..Op::default()
    }
}

pub(super) fn op_get_assessment(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: schema_of::<Assessment>(g),
        ..Op::default()
    }
}
