//! Contract types of preview deployments (`clodo deploy --preview`): a Pages site deployed to a
//! branch's preview, recorded on an environment (`…/environments/{e}/previews`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;

/// `POST /api/v1/projects/{project}/environments/{environment}/previews`: a Pages preview
/// deployment `clodo deploy --preview` made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPreview {
    /// The clodo.toml service (a Pages service).
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    /// The Pages project.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,57}$"))]
    pub project: String,
    /// The Pages deployment's id.
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub pages_deployment_id: String,
    /// Where the preview is served (`https://<branch>.<project>.pages.dev`).
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    #[schemars(length(min = 1, max = 255))]
    pub branch: String,
    /// The commit previewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", regex(pattern = r"^[0-9a-f]{7,64}$"))]
    pub git_sha: Option<String>,
}

/// A recorded preview deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Preview {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub service: String,
    pub pages_project: String,
    pub pages_deployment_id: String,
    pub url: String,
    pub branch: String,
    pub git_sha: Option<String>,
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// `GET /api/v1/projects/{project}/environments/{environment}/previews`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct PreviewList {
    pub items: Vec<Preview>,
}
