//! OpenAPI operation of the server-side environment rollback.

use schemars::SchemaGenerator;

use super::ops_deployments::writes;
use super::Op;
use crate::api::contract::env_rollback::{EnvironmentRollback, RollbackRequest};

pub(super) fn op_rollback_environment(g: &mut SchemaGenerator) -> Op {
    Op {
        // 409: nothing to go back to, the lock is held (named), the policy needs approvals or
        // blocks it now, or the environment has no Cloudflare account or credential.
        cross_field_rules: Some(
            "`to_deployment` names a succeeded deployment of this environment that shipped versions",
        ),
        ..writes::<RollbackRequest, EnvironmentRollback>(g, 200, &[409])
    }
}
