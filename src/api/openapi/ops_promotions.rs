//! OpenAPI operations of environment promotion.

use schemars::SchemaGenerator;

use super::ops_deployments::writes;
use super::Op;
use crate::api::contract::promotions::{Promotion, PromotionRequest};

pub(super) fn op_promote(g: &mut SchemaGenerator) -> Op {
    Op {
        // 404: no such project or environment (either one); 409: the source environment has no
        // verified deployment, or this environment's policy blocks it.
        cross_field_rules: Some("`from` names another environment of the project"),
        ..writes::<PromotionRequest, Promotion>(g, 201, &[404, 409])
    }
}
