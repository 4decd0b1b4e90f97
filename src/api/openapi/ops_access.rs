//! OpenAPI operations of the team's Cloudflare Access application; their schemas come from the
//! contract types (`api::contract::access`).

use schemars::SchemaGenerator;

use super::ops_deployments::{reads, writes};
use super::Op;
use crate::api::contract::access::{AccessApplication, AccessSettings};

/// 404: no application configured.
pub(super) fn op_get_access(g: &mut SchemaGenerator) -> Op {
    Op {
        errors: &[404],
        ..reads::<AccessApplication>(g)
    }
}

/// 409: the audience tag belongs to another team's application.
pub(super) fn op_put_access(g: &mut SchemaGenerator) -> Op {
    writes::<AccessSettings, AccessApplication>(g, 200, &[409])
}

/// 204 with no body; 404 when none is configured (the same shape as the Slack app's).
pub(super) fn op_delete_access(g: &mut SchemaGenerator) -> Op {
    super::ops_slack::op_delete_slack(g)
}
