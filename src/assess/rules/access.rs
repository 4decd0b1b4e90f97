//! The token and the account: whether the remote checks can go on at all.

use super::Out;
use crate::assess::finding::{Finding, Kind, Severity};
use crate::assess::inventory::{Inventory, TokenOwner, TokenState};

/// Token and account checks; `None` when remote checks can go on.
#[must_use]
pub fn access_findings(
    inv: &Inventory,
    account_id: &str,
    env: Option<&str>,
) -> (Vec<Finding>, bool) {
    let mut out = Out {
        findings: Vec::new(),
        service: None,
        env,
    };
    let mut usable = true;
    match &inv.token {
        Err(why) => {
            out.inconclusive("the API token", why, None);
            usable = false;
        }
        Ok(TokenState::Rejected { reason }) => {
            out.push(Finding::new(
                Kind::TokenInvalid,
                Severity::Error,
                format!("the API token is not accepted by Cloudflare ({reason})"),
                "create a token at https://dash.cloudflare.com/profile/api-tokens (template \"Edit Cloudflare Workers\") and set CLOUDFLARE_API_TOKEN",
            ));
            usable = false;
        }
        Ok(TokenState::Verified {
            status,
            expires_on,
            owner,
            ..
        }) => match status.as_str() {
            "active" => {}
            "expired" => {
                out.push(Finding::new(
                    Kind::TokenExpired,
                    Severity::Error,
                    format!(
                        "the API token expired{}",
                        expires_on
                            .as_deref()
                            .map(|d| format!(" on {d}"))
                            .unwrap_or_default()
                    ),
                    "roll the token (or create a new one) and update CLOUDFLARE_API_TOKEN",
                ));
                usable = false;
            }
            other => {
                let owner = match owner {
                    TokenOwner::User => "user",
                    TokenOwner::Account => "account",
                };
                out.push(Finding::new(
                    Kind::TokenInvalid,
                    Severity::Error,
                    format!("the {owner} API token is {other}"),
                    "enable the token in the dashboard, or create a new one and set CLOUDFLARE_API_TOKEN",
                ));
                usable = false;
            }
        },
    }
    if usable {
        match &inv.account {
            Ok(_) => {}
            // A refusal (an id the client will not put in a URL, a 4xx) means a wrong id or a
            // token without this account; only a call without a definite answer is inconclusive.
            Err(why) if !why.forbidden && !why.refused => {
                out.inconclusive("access to the account", why, None);
                usable = false;
            }
            Err(why) => {
                out.push(Finding::new(
                    Kind::AccountInaccessible,
                    Severity::Error,
                    format!("account `{account_id}` cannot be reached with this token ({})", why.reason),
                    "check CLOUDFLARE_ACCOUNT_ID / account_id (the 32-hex id from the dashboard URL, not an e-mail) and that the token includes this account",
                ));
                usable = false;
            }
        }
    }
    if usable {
        if let Err(why) = &inv.scripts {
            if why.forbidden {
                out.push(Finding::new(
                    Kind::TokenMissingPermission,
                    Severity::Error,
                    "the token cannot read Workers scripts, so it cannot deploy them",
                    "add the permission Account · Workers Scripts · Edit to the token",
                ));
            }
        }
    }
    if usable {
        if let Err(why) = &inv.scripts {
            if !why.forbidden {
                // Migrations, drift and external Durable Object checks all read this list.
                out.inconclusive(
                    "the account's Workers (migrations, dashboard drift)",
                    why,
                    None,
                );
            }
        }
    }
    if !usable {
        out.push(
            Finding::new(
                Kind::Inconclusive,
                Severity::Warning,
                "the resource checks were skipped because the token or account is not usable",
                "fix the token or account finding above and assess again",
            )
            .unverified(),
        );
    }
    (out.findings, usable)
}

#[cfg(test)]
mod tests {
    use crate::assess::inventory::{TokenOwner, TokenState};
    use crate::assess::rules::fixtures::*;

    #[test]
    fn token_problems_block_and_stop_the_resource_checks() {
        let mut inv = inventory();
        inv.token = Ok(TokenState::Verified {
            id: None,
            owner: TokenOwner::User,
            status: "expired".into(),
            expires_on: None,
        });
        // The skipped resource checks are said, never passed silently.
        let (found, usable) = access_findings(&inv, "acc", None);
        assert!(!usable);
        assert_eq!(kinds(&found), vec![Kind::TokenExpired, Kind::Inconclusive]);
        inv.token = Ok(TokenState::Rejected {
            reason: "Invalid API Token".into(),
        });
        let (found, _) = access_findings(&inv, "acc", None);
        assert_eq!(kinds(&found), vec![Kind::TokenInvalid, Kind::Inconclusive]);
    }
}
