//! Contract types of hosted assessments: `POST /api/v1/assessments` and
//! `GET /api/v1/assessments/{assessment_id}`.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::deployments::{component_ref, every_field_present};

/// `POST /api/v1/assessments`: a wrangler config to assess, locally or against the account of
/// one of the team's environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("dependentRequired" = { "project": ["environment"], "environment": ["project"] }))]
pub struct NewAssessment {
    /// The wrangler config's text (at most 256 KiB of UTF-8).
    #[schemars(length(max = 65_536))]
    pub config: String,
    /// The config's file name; its extension picks the syntax (`.toml`, `.jsonc`, `.json`).
    #[serde(default = "default_file")]
    #[schemars(length(max = 200), regex(pattern = r"\.(toml|jsonc|json)$"))]
    pub file: String,
    /// The `[env.NAME]` to assess; top level when absent.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,64}$"))]
    pub env: Option<String>,
    /// With `environment`: the project whose environment's bound account is assessed (with
    /// the team's credential for it); without both, only the local checks run.
    // A string when present (`null` is not "absent" here: the two go together by presence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub project: Option<String>,
    /// With `project`: the environment whose bound Cloudflare account is assessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub environment: Option<String>,
    /// Secrets the project requires beyond those the config declares.
    #[serde(default)]
    #[schemars(length(max = 200), inner(length(max = 256)))]
    pub required_secrets: Vec<String>,
}

fn default_file() -> String {
    "wrangler.toml".to_owned()
}

fn report_ref(_: &mut SchemaGenerator) -> Schema {
    component_ref("Report")
}

/// A stored assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Assessment {
    pub id: String,
    /// The account checked against; null when only the local checks ran.
    pub account_id: Option<String>,
    pub env: Option<String>,
    pub config_file: String,
    pub created_by: String,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// The report as stored (`assess::Report` serialised when it was made; kept as JSON so
    /// that reports written by an older version read back unchanged).
    #[schemars(schema_with = "report_ref")]
    pub report: Value,
}
