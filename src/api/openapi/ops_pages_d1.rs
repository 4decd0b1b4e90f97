//! OpenAPI operations of a deployment's D1 migrations and Pages deployments. Their bodies'
//! schemas come from the contract types (`api::contract::pages_d1`).

use schemars::SchemaGenerator;

use super::ops_deployments::{reads, writes};
use super::Op;
use crate::api::contract::pages_d1::{
    MigrationList, PagesDeploymentList, RecordMigration, RecordPagesDeployment, RecordedMigration,
    RecordedPagesDeployment,
};

pub(super) fn op_list_migrations(g: &mut SchemaGenerator) -> Op {
    reads::<MigrationList>(g)
}

/// 404: no credential for the environment's account; 409: not deploying, not holding the
/// lock, no account bound.
pub(super) fn op_record_migration(g: &mut SchemaGenerator) -> Op {
    writes::<RecordMigration, RecordedMigration>(g, 201, &[404, 409])
}

pub(super) fn op_list_pages(g: &mut SchemaGenerator) -> Op {
    reads::<PagesDeploymentList>(g)
}

/// 400 also when the id is not a deployment of the project in the environment's account; 404:
/// no credential for that account; 409: not deploying, not holding the lock, no account bound.
pub(super) fn op_record_pages(g: &mut SchemaGenerator) -> Op {
    writes::<RecordPagesDeployment, RecordedPagesDeployment>(g, 201, &[404, 409])
}

pub(super) fn op_list_previews(g: &mut SchemaGenerator) -> Op {
    reads::<crate::api::contract::previews::PreviewList>(g)
}

/// 400 also when the id is not a deployment of the project in the environment's account (or
/// the team has no credential for it); 404: no such environment; 409: no account bound.
pub(super) fn op_record_preview(g: &mut SchemaGenerator) -> Op {
    Op {
        cross_field_rules: Some(
            "pages_deployment_id is a deployment of the Pages `project` in the environment's account (checked with Cloudflare); 409 when Cloudflare refuses the team's credential",
        ),
        ..writes::<crate::api::contract::previews::RecordPreview, crate::api::contract::previews::Preview>(
            g,
            201,
            &[404, 409],
        )
    }
}
