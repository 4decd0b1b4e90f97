//! OpenAPI operations of a project's GitHub integration; their schemas come from the contract
//! types (`api::contract::github`).

use schemars::SchemaGenerator;

use super::ops_deployments::{reads, writes};
use super::Op;
use crate::api::contract::github::{GithubIntegration, GithubSettings};

/// 404: the project, or its integration, does not exist.
pub(super) fn op_get_github(g: &mut SchemaGenerator) -> Op {
    reads::<GithubIntegration>(g)
}

/// 404: the project, or the `environment` named, does not exist.
pub(super) fn op_put_github(g: &mut SchemaGenerator) -> Op {
    writes::<GithubSettings, GithubIntegration>(g, 200, &[404])
}

/// 204 with no body, like every delete.
pub(super) fn op_delete_github(g: &mut SchemaGenerator) -> Op {
    super::ops_schedules::op_delete_schedule(g)
}
