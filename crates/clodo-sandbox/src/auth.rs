//! Token authentication and per-product permission checks, as plain functions over the state.

use serde::{Deserialize, Serialize};

use super::error::SandboxError;
use super::state::{State, Token, TokenOwner, TokenStatus};

/// The products a token's permissions are granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    WorkersScripts,
    D1,
    Kv,
    R2,
    Queues,
    Zones,
    Dns,
    Routes,
    /// Reading API tokens and their policies ("API Tokens Read" on a user token, "Account API
    /// Tokens Read" on an account token). Only `read` means anything here.
    ApiTokens,
    /// Zone Transform Rules (the `http_request_late_transform` entry point ruleset).
    TransformRules,
}

impl Product {
    /// The Cloudflare permission group name stem (`"<stem> Read"` / `"<stem> Write"`).
    #[must_use]
    pub fn group_stem(self, owner: super::state::TokenOwner) -> &'static str {
        match self {
            Product::WorkersScripts => "Workers Scripts",
            Product::D1 => "D1",
            Product::Kv => "Workers KV Storage",
            Product::R2 => "Workers R2 Storage",
            Product::Queues => "Queues",
            Product::Zones => "Zone",
            Product::Dns => "DNS",
            Product::Routes => "Workers Routes",
            Product::TransformRules => "Transform Rules",
            Product::ApiTokens => match owner {
                super::state::TokenOwner::User => "API Tokens",
                super::state::TokenOwner::Account => "Account API Tokens",
            },
        }
    }

    /// Whether the permission is granted on zones (as opposed to the account or the user).
    #[must_use]
    pub fn is_zone_level(self) -> bool {
        matches!(
            self,
            Product::Zones | Product::Dns | Product::Routes | Product::TransformRules
        )
    }
}

/// A permission level; `edit` implies `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Edit,
}

/// The status a token has right now: `expires_on` in the past turns an active token expired.
pub fn effective_status(token: &Token, now: chrono::DateTime<chrono::Utc>) -> TokenStatus {
    let expired = token
        .expires_on
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t < now);
    match token.status {
        TokenStatus::Active if expired => TokenStatus::Expired,
        other => other,
    }
}

/// Extracts the bearer token from the `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, SandboxError> {
    let header = header.ok_or(SandboxError::MissingAuth)?;
    let (scheme, value) = header.split_once(' ').ok_or(SandboxError::MalformedAuth)?;
    let value = value.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || value.is_empty() || value.contains(' ') {
        return Err(SandboxError::MalformedAuth);
    }
    Ok(value)
}

/// Finds the token of this header, whatever its status (verify endpoints report the status).
pub fn find_token<'a>(state: &'a State, header: Option<&str>) -> Result<&'a Token, SandboxError> {
    let value = bearer(header)?;
    state
        .tokens
        .iter()
        .find(|t| t.value == value)
        .ok_or(SandboxError::UnknownToken)
}

/// Finds the token of this header and requires it to be usable now.
pub fn authenticate<'a>(state: &'a State, header: Option<&str>) -> Result<&'a Token, SandboxError> {
    let token = find_token(state, header)?;
    match effective_status(token, chrono::Utc::now()) {
        TokenStatus::Active => Ok(token),
        TokenStatus::Disabled | TokenStatus::Expired => Err(SandboxError::Unauthorized),
    }
}

/// Whether the token may act on the account with the product at the level asked.
pub fn allows(token: &Token, account_id: &str, product: Option<Product>, need: Access) -> bool {
    if !token.accounts.iter().any(|a| a == account_id) {
        return false;
    }
    match product {
        None => true,
        Some(product) => token
            .permissions
            .get(&product)
            .is_some_and(|have| *have >= need),
    }
}

/// Checks an `/accounts/{id}/...` request: the account must exist (else 7003 naming the path)
/// and the token must cover it with the product permission (else 10000).
pub fn authorize_account(
    state: &State,
    token: &Token,
    account_id: &str,
    path: &str,
    product: Option<Product>,
    need: Access,
) -> Result<(), SandboxError> {
    if state.account(account_id).is_none() {
        return Err(SandboxError::BadIdentifier(path.to_string()));
    }
    if !allows(token, account_id, product, need) {
        return Err(SandboxError::Forbidden);
    }
    Ok(())
}

/// Whether the token is the kind a verify endpoint accepts.
pub fn is_kind(token: &Token, owner: TokenOwner) -> bool {
    token.owner == owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn token(perms: &[(Product, Access)]) -> Token {
        Token {
            id: "t".into(),
            value: "secret".into(),
            name: String::new(),
            status: TokenStatus::Active,
            owner: TokenOwner::User,
            accounts: vec!["acc".into()],
            permissions: perms.iter().cloned().collect::<BTreeMap<_, _>>(),
            user_email: None,
            expires_on: None,
            not_before: None,
        }
    }

    #[test]
    fn edit_implies_read_but_read_does_not_imply_edit() {
        let t = token(&[(Product::D1, Access::Edit), (Product::Kv, Access::Read)]);
        assert!(allows(&t, "acc", Some(Product::D1), Access::Read));
        assert!(allows(&t, "acc", Some(Product::Kv), Access::Read));
        assert!(!allows(&t, "acc", Some(Product::Kv), Access::Edit));
        assert!(!allows(&t, "acc", Some(Product::R2), Access::Read));
        assert!(!allows(&t, "other", Some(Product::D1), Access::Read));
        assert!(allows(&t, "acc", None, Access::Read));
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(Some("bearer abc")).unwrap(), "abc");
        assert!(matches!(bearer(None), Err(SandboxError::MissingAuth)));
        assert!(matches!(
            bearer(Some("Basic abc")),
            Err(SandboxError::MalformedAuth)
        ));
        assert!(matches!(
            bearer(Some("Bearer")),
            Err(SandboxError::MalformedAuth)
        ));
    }

    #[test]
    fn past_expiry_makes_an_active_token_expired() {
        let mut t = token(&[]);
        t.expires_on = Some("2020-01-01T00:00:00Z".into());
        assert_eq!(
            effective_status(&t, chrono::Utc::now()),
            TokenStatus::Expired
        );
        t.expires_on = Some("2999-01-01T00:00:00Z".into());
        assert_eq!(
            effective_status(&t, chrono::Utc::now()),
            TokenStatus::Active
        );
    }
}
