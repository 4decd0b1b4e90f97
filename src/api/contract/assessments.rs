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
    /// The clodo.toml service this config is (names the service on the D1 findings; the
    /// Worker's name when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: Option<String>,
    /// The project's Pages services (clodo.toml's `kind = "pages"`, resolved for `env`):
    /// checked against the environment's account like `clodo assess` checks them (project,
    /// production branch, bindings, custom domains). The build output is the CLI's check.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub pages: Vec<AssessPagesService>,
    /// The files of the config's D1 `migrations_dir`s, one entry per binding. A binding with a
    /// `migrations_dir` not listed here gets a finding that the pending-migration check could
    /// not be made (never a pass).
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub migrations: Vec<AssessMigrationDir>,
    /// The rollout strategy the deploy will use (clodo.toml's; `immediate` when absent, its
    /// default there): a destructive migration under a gradual or blue-green rollout is
    /// flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "crate::config::Strategy")]
    pub strategy: Option<crate::config::Strategy>,
}

/// A Pages service to assess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessPagesService {
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    /// The Pages project for the environment (absent: clodo.toml names none, an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = r"^[a-z0-9][a-z0-9-]{0,57}$"))]
    pub project: Option<String>,
    /// The production branch clodo.toml expects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1, max = 255))]
    pub production_branch: Option<String>,
}

/// The migration files of one D1 binding's `migrations_dir`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessMigrationDir {
    /// The `[[d1_databases]]` binding of the config.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"))]
    pub binding: String,
    /// Every `*.sql` file of the directory (applied ones too: they tell each table's columns).
    #[schemars(length(max = 200))]
    pub files: Vec<AssessMigrationFile>,
}

/// One migration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessMigrationFile {
    #[schemars(regex(pattern = r"^[^/\\]{1,251}\.sql$"))]
    pub name: String,
    /// The file's text (at most 65,536 characters).
    #[schemars(length(max = 65_536))]
    pub sql: String,
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
