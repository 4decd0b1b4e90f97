//! Contract types of the team routes: bootstrap and teams, `me`, API tokens, members, projects,
//! services, environments (with their Cloudflare account and the Worker each service is there),
//! environment policies and Cloudflare credentials.
//!
//! Request bodies refuse unknown fields and carry the server's constraints (slugs, emails,
//! lengths) in their schemas, so the OpenAPI document states what the handlers accept.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::control::policy::{Freeze, Policy, Window};
pub use crate::control::Role;

/// The pattern of slugs of teams, projects, services and environments (`control::valid_slug`).
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,63}$";
/// An email the server accepts: something before the `@`, a dot after it, no whitespace.
pub const EMAIL_PATTERN: &str = "^[^@\\s]+@[^\\s]*\\.[^\\s]*$";
/// Cloudflare account ids: 1-64 letters, digits, `_` or `-`.
pub const ACCOUNT_ID_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// A Worker name as the server accepts it for a registered service.
pub const SCRIPT_NAME_PATTERN: &str = "^[a-z0-9_-]{1,63}$";

/// A page-less list answer: `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "{T}List")]
pub struct Items<T> {
    pub items: Vec<T>,
}

impl<T> From<Vec<T>> for Items<T> {
    fn from(items: Vec<T>) -> Self {
        Self { items }
    }
}

// ---------------------------------------------------------------------------------------------
// Teams and `me`.

/// `POST /api/v1/bootstrap` and `POST /api/v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    #[schemars(pattern(SLUG_PATTERN))]
    pub slug: String,
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// The first admin member's email.
    #[schemars(email, length(max = 254), pattern(EMAIL_PATTERN))]
    pub admin_email: String,
}

/// The answer to a team's creation: the team, its admin member and the admin token's secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeamCreated {
    pub team: TeamSummary,
    pub member: TeamAdmin,
    pub token: BootstrapToken,
    /// The admin's actor name (`member:<email>`).
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeamSummary {
    pub id: String,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeamAdmin {
    pub id: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BootstrapToken {
    pub id: String,
    pub role: Role,
    /// Shown once.
    pub secret: String,
    pub note: String,
}

/// `GET /api/v1/me`: who the calling token acts as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    pub team_id: String,
    pub token_id: String,
    /// `member:<email>` for a member's token, else `token:<id>`.
    pub actor: String,
    pub role: Role,
}

// ---------------------------------------------------------------------------------------------
// Tokens.

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    pub role: Role,
    /// The member the token acts for (at most their role); none for a team token.
    #[schemars(email, length(max = 254), pattern(EMAIL_PATTERN))]
    pub member_email: Option<String>,
    #[schemars(range(min = 1, max = 3650))]
    pub expires_in_days: Option<u32>,
}

/// The answer to `POST /api/v1/tokens`, the only one that carries the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenCreated {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub member_email: Option<String>,
    /// Unix milliseconds.
    pub expires_at: Option<i64>,
    /// Shown once.
    pub secret: String,
    pub note: String,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Token {
    pub id: String,
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub role: Role,
    pub member_email: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// `DELETE /api/v1/tokens/{token_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenRevoked {
    pub id: String,
    pub revoked_at: i64,
}

// ---------------------------------------------------------------------------------------------
// Members.

/// `POST /api/v1/members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    #[schemars(email, length(max = 254), pattern(EMAIL_PATTERN))]
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub created_at: i64,
}

/// `DELETE /api/v1/members/{member_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemberRemoved {
    pub id: String,
    pub removed_at: i64,
    /// Their tokens and the tokens they created are revoked in the same batch.
    pub tokens_revoked: bool,
}

// ---------------------------------------------------------------------------------------------
// Projects and services.

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    #[schemars(pattern(SLUG_PATTERN))]
    pub slug: String,
    /// Defaults to the slug.
    #[schemars(length(max = 200))]
    pub name: Option<String>,
    #[schemars(length(max = 500))]
    pub repository: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Project {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub repository: Option<String>,
    pub created_at: i64,
}

/// `GET /api/v1/projects/{project}`: the project with its services and environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectDetail {
    #[serde(flatten)]
    pub project: Project,
    pub services: Vec<Service>,
    pub environments: Vec<Environment>,
}

/// `POST /api/v1/projects/{project}/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    #[schemars(pattern(SLUG_PATTERN))]
    pub name: String,
    /// Defaults to `wrangler.toml`.
    pub config_path: Option<String>,
    /// At most 64 KiB of UTF-8.
    #[schemars(length(max = 16_384))]
    pub config_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub config_path: String,
    pub config_text: Option<String>,
    pub created_at: i64,
}

// ---------------------------------------------------------------------------------------------
// Environments and the Worker each service is in them.

/// `POST /api/v1/projects/{project}/environments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnvironment {
    #[schemars(pattern(SLUG_PATTERN))]
    pub name: String,
    #[schemars(pattern(ACCOUNT_ID_PATTERN))]
    pub cloudflare_account_id: Option<String>,
}

/// `PATCH /api/v1/projects/{project}/environments/{environment}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("required" = ["cloudflare_account_id"]))]
pub struct EnvironmentChange {
    /// The account rollouts and hosted assessments of this environment use; `null` unbinds
    /// it. Required: a body without it (`{}`) is refused rather than read as "unbind".
    #[serde(deserialize_with = "Option::deserialize")]
    #[schemars(pattern(ACCOUNT_ID_PATTERN))]
    pub cloudflare_account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    pub id: String,
    pub name: String,
    /// The Cloudflare account it deploys to; none until bound.
    pub cloudflare_account_id: Option<String>,
    pub created_at: i64,
}

/// One registered service and its Worker in an environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceScript {
    #[schemars(pattern(SLUG_PATTERN))]
    pub service: String,
    #[schemars(pattern(SCRIPT_NAME_PATTERN))]
    pub script: String,
    pub updated_by: String,
    pub updated_at: i64,
}

/// `PUT …/environments/{environment}/services/{service}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceScriptChange {
    /// The Worker name the service has in this environment (wrangler's resolved `name`).
    #[schemars(pattern(SCRIPT_NAME_PATTERN))]
    pub script: String,
    /// Where the service's wrangler config lives, for a service registered here first.
    #[schemars(length(min = 1, max = 500))]
    pub config_path: Option<String>,
}

/// The answer to `PUT …/environments/{environment}/services/{service}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceScriptSet {
    #[schemars(pattern(SLUG_PATTERN))]
    pub service: String,
    #[schemars(pattern(SLUG_PATTERN))]
    pub environment: String,
    #[schemars(pattern(SCRIPT_NAME_PATTERN))]
    pub script: String,
}

// ---------------------------------------------------------------------------------------------
// Credentials.

/// `POST /api/v1/credentials`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    #[schemars(pattern(ACCOUNT_ID_PATTERN))]
    pub account_id: String,
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    #[schemars(length(min = 1, max = 1024))]
    pub api_token: String,
}

/// A stored credential's metadata; the token itself never leaves D1 through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Credential {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_by: String,
    pub created_at: i64,
}

/// `POST /api/v1/credentials/reencrypt` (operator, bootstrap secret): every stored secret of
/// every team moved under the current `CLODO_ENCRYPTION_KEY` (docs/operations.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReencryptReport {
    /// Values that were under `CLODO_ENCRYPTION_KEY_PREVIOUS` and are now under the current key.
    pub rewritten: u32,
    /// Values already under the current key, left as they were.
    pub current: u32,
    /// Values neither key opens (`table.column id`), left as they were: the key that wrote
    /// them is neither of the two configured.
    pub undecryptable: Vec<String>,
    /// Whether `CLODO_ENCRYPTION_KEY_PREVIOUS` is set on the Worker.
    pub previous_key_configured: bool,
}
