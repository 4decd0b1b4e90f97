//! Live-view tickets: browsers cannot send `Authorization` on a WebSocket, so an authenticated
//! `POST` issues a short-lived, single-use ticket bound to the caller's team, token and one
//! deployment, and the WebSocket upgrade presents it as `?ticket=`. Only the SHA-256 of a
//! ticket is stored (like API tokens); the store claims it atomically, this module says why a
//! claim failed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Every ticket starts with this, so a leaked one is recognisable (and never taken for a token).
pub const TICKET_PREFIX: &str = "clodo_live_";
/// How long a ticket may wait for its upgrade: enough for a browser to connect right after
/// asking, short enough that one copied from a log is useless.
pub const TTL_MS: i64 = 30_000;
const SECRET_BYTES: usize = 32;
const _: () = assert!(TTL_MS <= 60_000, "a ticket lives at most a minute");

/// A fresh random ticket.
///
/// # Errors
/// When the platform has no random source.
pub fn generate() -> Result<String, getrandom::Error> {
    let secret = super::random_bytes::<SECRET_BYTES>()?;
    Ok(format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret)))
}

/// Whether a string has the shape of a ticket (prefix and 32 bytes of base64url).
#[must_use]
pub fn well_formed(ticket: &str) -> bool {
    super::token::prefixed_secret(ticket, TICKET_PREFIX)
}

/// SHA-256 of the ticket, lowercase hex: what the database stores and looks up.
#[must_use]
pub fn hash(ticket: &str) -> String {
    super::token::hash(ticket)
}

/// A stored ticket as the upgrade sees it, with the state of the token that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTicket {
    pub deployment_id: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub token_expires_at: Option<i64>,
    pub token_revoked_at: Option<i64>,
}

/// Why a ticket does not open the live view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketRefusal {
    #[error("the live ticket is unknown")]
    Unknown,
    #[error("the live ticket was already used (tickets are single-use)")]
    Used,
    #[error("the live ticket has expired")]
    Expired,
    #[error("the live ticket was issued for another deployment")]
    OtherDeployment,
    #[error("the token that asked for the live ticket is no longer valid")]
    TokenUnusable,
}

/// Checks `stored` (the row for the presented ticket's hash, if any) for an upgrade of
/// `deployment_id`'s live view at `now_ms`. The store's claim must apply the same rules
/// atomically (one `UPDATE … WHERE used_at IS NULL`), so two upgrades never both pass.
///
/// # Errors
/// The first rule the ticket breaks, in the order: unknown, other deployment, used, expired,
/// token unusable.
pub fn check(
    stored: Option<&StoredTicket>,
    deployment_id: &str,
    now_ms: i64,
) -> Result<(), TicketRefusal> {
    let Some(t) = stored else {
        return Err(TicketRefusal::Unknown);
    };
    if t.deployment_id != deployment_id {
        return Err(TicketRefusal::OtherDeployment);
    }
    if t.used_at.is_some() {
        return Err(TicketRefusal::Used);
    }
    if t.expires_at <= now_ms {
        return Err(TicketRefusal::Expired);
    }
    super::token::check_usable(t.token_expires_at, t.token_revoked_at, now_ms)
        .map_err(|_| TicketRefusal::TokenUnusable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredTicket {
        StoredTicket {
            deployment_id: "dep-1".into(),
            expires_at: 1_000 + TTL_MS,
            used_at: None,
            token_expires_at: None,
            token_revoked_at: None,
        }
    }

    #[test]
    fn tickets_are_random_well_formed_and_not_tokens() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(well_formed(&a));
        assert!(!super::super::token::well_formed(&a));
        assert!(!well_formed("clodo_live_short"));
        assert!(!well_formed(&a.replace(TICKET_PREFIX, "clodo_")));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn a_fresh_ticket_opens_its_own_deployment_only() {
        assert_eq!(check(Some(&stored()), "dep-1", 1_000), Ok(()));
        assert_eq!(
            check(Some(&stored()), "dep-2", 1_000),
            Err(TicketRefusal::OtherDeployment)
        );
        assert_eq!(check(None, "dep-1", 1_000), Err(TicketRefusal::Unknown));
    }

    #[test]
    fn a_used_or_expired_ticket_is_refused() {
        let used = StoredTicket {
            used_at: Some(1_500),
            ..stored()
        };
        assert_eq!(check(Some(&used), "dep-1", 2_000), Err(TicketRefusal::Used));
        assert_eq!(
            check(Some(&stored()), "dep-1", 1_000 + TTL_MS),
            Err(TicketRefusal::Expired)
        );
    }

    #[test]
    fn a_revoked_token_spoils_its_tickets() {
        let revoked = StoredTicket {
            token_revoked_at: Some(900),
            ..stored()
        };
        assert_eq!(
            check(Some(&revoked), "dep-1", 1_000),
            Err(TicketRefusal::TokenUnusable)
        );
        let expired = StoredTicket {
            token_expires_at: Some(1_000),
            ..stored()
        };
        assert_eq!(
            check(Some(&expired), "dep-1", 1_000),
            Err(TicketRefusal::TokenUnusable)
        );
    }
}
