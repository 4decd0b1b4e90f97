//! The team's Cloudflare Access application (`/api/v1/access`): with it configured, a request
//! carrying Access's `Cf-Access-Jwt-Assertion` signs in as the team member with the token's
//! email, instead of a bearer token.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::every_field_present;

/// `PUT /api/v1/access`: connects (or reconfigures) the team's Access application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessSettings {
    /// `https://<team>.cloudflareaccess.com` (Zero Trust → Settings → Custom Pages): the
    /// tokens' issuer; the signing keys are read from `<team_domain>/cdn-cgi/access/certs`.
    /// Plain `http://` only on loopback (a local fake).
    #[schemars(length(min = 8, max = 300), pattern(r"^https?://[^/?# ]+/?$"))]
    pub team_domain: String,
    /// The application's Audience (AUD) tag (Access → Applications → the app → Overview).
    #[schemars(length(min = 8, max = 128), pattern(r"^[A-Za-z0-9_-]+$"))]
    pub audience: String,
}

/// The stored application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct AccessApplication {
    pub team_domain: String,
    pub audience: String,
    /// Where the signing keys are fetched from (cached up to ten minutes).
    pub certs_url: String,
    pub updated_by: String,
    /// Unix time in milliseconds.
    pub updated_at: i64,
}
