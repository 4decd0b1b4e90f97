//! Comparing two deployments, pure: the window in which each deployment's versions are
//! measured, and the GitHub compare page of the git range. The route
//! (`src/worker/compare.rs`) loads the records and asks analytics.

use crate::control::DeploymentStatus;

/// How long after a deployment finished its versions are measured, at most: long enough to
/// see real traffic, short enough to stay about that deployment.
pub const WINDOW_MS: i64 = 3_600_000;

/// The window `[since, until]` (epoch ms) in which deployment `status`/`finished_at` is
/// measured: from when it finished for `WINDOW_MS`, cut at `next_started` (a later deployment
/// replaced its versions) and at `now`. `Err` says why it cannot be measured.
///
/// # Errors
/// It did not succeed (its versions did not stay live), it has not finished, or the window
/// is empty.
pub fn window(
    status: DeploymentStatus,
    finished_at: Option<i64>,
    next_started: Option<i64>,
    now: i64,
) -> Result<(i64, i64), String> {
    if status != DeploymentStatus::Succeeded {
        return Err(format!(
            "the deployment is {status}: its versions did not stay live, so there is no after to measure"
        ));
    }
    let since = finished_at.ok_or("the deployment has no finish time")?;
    let mut until = (since + WINDOW_MS).min(now);
    if let Some(next) = next_started.filter(|n| *n > since) {
        until = until.min(next);
    }
    if until <= since {
        return Err("no time has passed since it finished".into());
    }
    Ok((since, until))
}

/// The web page comparing two commits of `repository` (`owner/name`) on the GitHub whose API is
/// `api_base_url`: github.com for `https://api.github.com`, the host for a GitHub Enterprise
/// `https://host/api/v3`; `None` for anything else (no guessed links).
#[must_use]
pub fn compare_url(api_base_url: &str, repository: &str, from: &str, to: &str) -> Option<String> {
    let api = api_base_url.trim_end_matches('/');
    let web = if api == "https://api.github.com" {
        "https://github.com".to_owned()
    } else {
        api.strip_suffix("/api/v3")
            .filter(|h| h.starts_with("https://"))?
            .to_owned()
    };
    let safe = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    };
    (safe(repository)
        && from.bytes().all(|b| b.is_ascii_hexdigit())
        && to.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| format!("{web}/{repository}/compare/{from}...{to}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_succeeded_deployment_is_measured_for_an_hour_or_until_replaced() {
        let ok = DeploymentStatus::Succeeded;
        assert_eq!(
            window(ok, Some(1_000), None, 10_000_000),
            Ok((1_000, 1_000 + WINDOW_MS))
        );
        assert_eq!(
            window(ok, Some(1_000), Some(5_000), 10_000_000),
            Ok((1_000, 5_000))
        );
        assert_eq!(window(ok, Some(1_000), None, 3_000), Ok((1_000, 3_000)));
        // A later deployment that started before this one finished does not cut it.
        assert_eq!(
            window(ok, Some(1_000), Some(500), 3_000),
            Ok((1_000, 3_000))
        );
        assert!(window(ok, Some(1_000), None, 1_000).is_err());
        assert!(window(ok, None, None, 1_000).is_err());
        let err = window(DeploymentStatus::RolledBack, Some(1_000), None, 9_000).unwrap_err();
        assert!(err.contains("rolled_back"), "{err}");
    }

    #[test]
    fn compare_links_only_for_github_hosts() {
        assert_eq!(
            compare_url("https://api.github.com", "acme/shop", "abc1", "def2").as_deref(),
            Some("https://github.com/acme/shop/compare/abc1...def2")
        );
        assert_eq!(
            compare_url("https://ghe.acme.test/api/v3/", "acme/shop", "a", "b").as_deref(),
            Some("https://ghe.acme.test/acme/shop/compare/a...b")
        );
        assert_eq!(
            compare_url("http://127.0.0.1:9/", "acme/shop", "a", "b"),
            None
        );
        assert_eq!(
            compare_url("https://api.github.com", "acme/shop", "a", "javascript:x"),
            None
        );
        assert_eq!(
            compare_url("https://api.github.com", "a\"b", "a", "b"),
            None
        );
    }
}
