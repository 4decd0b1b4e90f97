//! The control plane's pure core: roles, API tokens, the deployment lifecycle and service
//! (`deployments`), environment policies, audit entries, cursors and credential encryption.
//!
//! No `worker::` types and no I/O: the Worker's routes (`src/worker/`) load rows from D1,
//! call these functions with the current time and store what they return, so every decision
//! is unit-tested natively.

pub mod access;
pub mod audit;
pub mod crypto;
pub mod cursor;
pub mod deployments;
pub mod dora;
pub mod env_rollback;
pub mod idempotency;
pub mod lifecycle;
pub mod live_ticket;
pub mod policy;
pub mod promotion;
pub mod role;
pub mod schedule;
pub mod token;

pub use lifecycle::DeploymentStatus;
pub use role::Role;

/// Fills a buffer from the platform's CSPRNG (`crypto.getRandomValues` in the Worker).
///
/// # Errors
/// When the platform has no random source, which is a deployment fault, not a user error.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

/// Whether a slug (team, project, environment, service) is safe in URLs and lock names:
/// 1–64 of lowercase letters, digits and `-`, not starting with `-`.
#[must_use]
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert!(valid_slug("api-prod2"));
        assert!(!valid_slug(""));
        assert!(!valid_slug("-x"));
        assert!(!valid_slug("Api"));
        assert!(!valid_slug("a/b"));
        assert!(!valid_slug(&"a".repeat(65)));
    }

    #[test]
    fn random_bytes_differ() {
        let a = random_bytes::<32>().unwrap();
        let b = random_bytes::<32>().unwrap();
        assert_ne!(a, b);
    }
}
