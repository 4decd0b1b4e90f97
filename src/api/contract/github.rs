//! The GitHub integration of a project (`/api/v1/projects/{project}/github`): which repository
//! sends webhooks, the secret they are signed with, the token Clodo calls GitHub with, the
//! branches whose pushes are assessed. Secrets go in, never out.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;

/// `owner/name`, as GitHub spells repositories: the owner does not start with `.`; the name
/// is not `.` or `..` (`.github` is a name).
pub const REPOSITORY_PATTERN: &str = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}/([A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}|\.[A-Za-z0-9_.-]{2,99}|\.[A-Za-z0-9_-])$";

/// An http(s) URL without query or fragment.
pub const API_BASE_URL_PATTERN: &str = r"^https?://[^/?# ]+[^?# ]*$";

/// `PUT /api/v1/projects/{project}/github`: connects (or reconfigures) the project's
/// repository. The secrets are required every time, so a rotation is one request. Clodo calls
/// GitHub either with `api_token` or as a GitHub App (`app`): exactly one of the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubSettings {
    /// `owner/name` of the repository whose webhooks this project receives.
    #[schemars(pattern(REPOSITORY_PATTERN))]
    pub repository: String,
    /// The webhook's secret, as entered in GitHub's webhook settings (16-256 characters).
    #[schemars(length(min = 16, max = 256))]
    pub webhook_secret: String,
    /// A token Clodo calls the GitHub API with: read contents, write commit statuses, pull
    /// request comments and deployment reviews (see docs/github.md). Absent with `app`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1024), pattern(r"^[!-~]+$"))]
    pub api_token: Option<String>,
    /// Authenticate as a GitHub App installation instead of with `api_token`.
    #[serde(default)]
    pub app: Option<GithubAppSettings>,
    /// Branch globs whose pushes are assessed (`main`, `release/*`); default `["main"]`.
    #[serde(default = "default_branches")]
    #[schemars(length(min = 1, max = 50), inner(length(min = 1, max = 200)))]
    pub branches: Vec<String>,
    /// The GitHub REST API base URL: `https://api.github.com` (default), a GitHub Enterprise
    /// Server's `https://HOST/api/v3`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 500), pattern(API_BASE_URL_PATTERN))]
    pub api_base_url: Option<String>,
    /// The Clodo environment whose Cloudflare account assessments are checked against (with
    /// the team's stored credential); without one only the checks that need no API run.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64))]
    pub environment: Option<String>,
    /// Deploy-on-push: a push to `branch` whose assessment is ready dispatches `workflow`
    /// with `environment` as its input (docs/github.md); none by default.
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub deploy_on_push: Vec<DeployOnPush>,
}

/// One deploy-on-push rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployOnPush {
    /// A branch glob (also tracked by `branches`, else its pushes are not assessed).
    #[schemars(length(min = 1, max = 200))]
    pub branch: String,
    /// The Clodo environment, passed as the workflow's `environment` input.
    #[schemars(length(min = 1, max = 64))]
    pub environment: String,
    /// The workflow file (`deploy.yml`) or id, dispatched on the pushed branch.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^([A-Za-z0-9_.-]+\.ya?ml|[0-9]+)$")
    )]
    pub workflow: String,
}

/// A GitHub App installation Clodo authenticates as: a JWT signed with the App's private key
/// (RS256) is exchanged for an installation token, renewed before it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubAppSettings {
    /// The App's id (its settings page, "App ID").
    #[schemars(range(min = 1, max = 9_007_199_254_740_991_u64))]
    pub app_id: u64,
    /// The installation on the repository's account (`/settings/installations/{id}`).
    #[schemars(range(min = 1, max = 9_007_199_254_740_991_u64))]
    pub installation_id: u64,
    /// The App's private key, PEM as GitHub downloads it (`-----BEGIN RSA PRIVATE KEY-----`).
    #[schemars(length(min = 64, max = 16384))]
    pub private_key: String,
}

fn default_branches() -> Vec<String> {
    vec!["main".to_owned()]
}

/// The stored integration; the secrets are never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct GithubIntegration {
    pub project: String,
    pub repository: String,
    pub branches: Vec<String>,
    pub api_base_url: String,
    pub environment: Option<String>,
    /// How Clodo calls GitHub: `token` or `app` (an App installation).
    pub auth: String,
    pub app_id: Option<u64>,
    pub installation_id: Option<u64>,
    pub deploy_on_push: Vec<DeployOnPush>,
    /// Where GitHub sends the webhooks, relative to this server.
    pub webhook_path: String,
    pub updated_by: String,
    /// Unix time in milliseconds.
    pub updated_at: i64,
}
