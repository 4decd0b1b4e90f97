//! OpenAPI operations of hosted assessments; their schemas come from the contract types
//! (`api::contract::assessments`).

use schemars::SchemaGenerator;

use super::ops_deployments::{reads, writes};
use super::Op;
use crate::api::contract::assessments::{Assessment, NewAssessment};

/// 404: the project, the environment or the team's credential for its account does not
/// exist; 409: the environment is bound to no Cloudflare account.
pub(super) fn op_create_assessment(g: &mut SchemaGenerator) -> Op {
    writes::<NewAssessment, Assessment>(g, 201, &[404, 409])
}

pub(super) fn op_get_assessment(g: &mut SchemaGenerator) -> Op {
    reads::<Assessment>(g)
}
