//! Operations of the metrics routes (`GET /api/v1/metrics/dora`).

use schemars::SchemaGenerator;
use serde_json::json;

use super::ops_deployments::schema_of;
use super::schema::slug;
use super::Op;
use crate::api::contract::metrics::DoraReport;

pub(super) fn op_dora(g: &mut SchemaGenerator) -> Op {
    let param = |name: &str, required: bool, schema, description: &str| json!({ "name": name, "in": "query", "required": required, "schema": schema, "description": description });
    Op {
        query: vec![
            param("project", true, slug(), "the project"),
            param("environment", true, slug(), "the environment"),
            param(
                "service",
                false,
                slug(),
                "only deployments that shipped this service",
            ),
            param(
                "days",
                false,
                json!({ "type": "integer", "minimum": 1, "maximum": 365 }),
                "the window up to now, in days (default 30)",
            ),
        ],
        ok: 200,
        ok_body: schema_of::<DoraReport>(g),
        // 404: no such project or environment in the team.
        errors: &[404],
        ..Op::default()
    }
}
