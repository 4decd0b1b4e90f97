//! OpenAPI operations of deployments: create, list, transitions, approvals, uploads. Their
//! bodies' schemas come from the contract types (`api::contract::deployments`).

use schemars::SchemaGenerator;
use serde_json::Value;

use super::schema::*;
use super::Op;
use crate::api::contract::deployments::{
    ApprovalList, ApprovalRequest, Approved, Deployment, DeploymentDetail, DeploymentPage,
    DeploymentStatus, NewDeployment, RecordUploads, TransitionRequest, UploadList, UploadsRecorded,
};

/// The schema of `T` (a `$ref` to its component).
pub(super) fn schema_of<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Option<Value> {
    Some(g.subschema_for::<T>().to_value())
}

/// A read: 200 with `T`.
pub(super) fn reads<T: schemars::JsonSchema>(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: schema_of::<T>(g),
        ..Op::default()
    }
}

/// A write: body `B`, answered `ok` with `T`; `errors` beyond the shared ones.
pub(super) fn writes<B: schemars::JsonSchema, T: schemars::JsonSchema>(
    g: &mut SchemaGenerator,
    ok: u16,
    errors: &'static [u16],
) -> Op {
    Op {
        body: schema_of::<B>(g),
        ok,
        ok_body: schema_of::<T>(g),
        errors,
        ..Op::default()
    }
}

pub(super) fn op_list_deployments(g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![
            query("project", slug(), "only this project's deployments"),
            query("environment", slug(), "only this environment's deployments"),
            query(
                "status",
                g.subschema_for::<DeploymentStatus>().to_value(),
                "only deployments in this status",
            ),
        ]
        .into_iter()
        .chain(page_params())
        .collect(),
        ok: 200,
        ok_body: schema_of::<DeploymentPage>(g),
        ..Op::default()
    }
}

pub(super) fn op_create_deployment(g: &mut SchemaGenerator) -> Op {
    Op {
        cross_field_rules: Some(
            "scheduled_for is after the time of the request and at most 90 days ahead; rollout goes only with scheduled_for; git_committed_at is at most a day after the time of the request",
        ),
        ..writes::<NewDeployment, Deployment>(g, 201, &[409])
    }
}

pub(super) fn op_get_deployment(g: &mut SchemaGenerator) -> Op {
    reads::<DeploymentDetail>(g)
}

pub(super) fn op_transition(g: &mut SchemaGenerator) -> Op {
    writes::<TransitionRequest, Deployment>(g, 200, &[409])
}

pub(super) fn op_list_approvals(g: &mut SchemaGenerator) -> Op {
    reads::<ApprovalList>(g)
}

/// 403: the author, a token without a member, or a role below approver; 409: already
/// approved by this person, not awaiting approval, or blocked by the policy now.
pub(super) fn op_approve(g: &mut SchemaGenerator) -> Op {
    writes::<ApprovalRequest, Approved>(g, 201, &[403, 409])
}

pub(super) fn op_list_uploads(g: &mut SchemaGenerator) -> Op {
    reads::<UploadList>(g)
}

/// 400 also when a version is not one of the registered Worker in the environment's account;
/// 404: no credential for that account; 409: not deploying, not holding the lock, no account
/// bound, a service without a registered Worker.
pub(super) fn op_record_uploads(g: &mut SchemaGenerator) -> Op {
    Op {
        cross_field_rules: Some(
            "each service is listed once; a service's version_id differs from its previous_version_id; module_hashes are given for every service of a promoted deployment (a service its source shipped) and for no other deployment",
        ),
        ..writes::<RecordUploads, UploadsRecorded>(g, 201, &[404, 409])
    }
}

pub(super) fn op_compare_deployments(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(
            g.subschema_for::<crate::api::contract::compare::Comparison>()
                .to_value(),
        ),
        ..Op::default()
    }
}
