//! Integrations with the tools teams already use: inbound webhook signature checks shared by
//! every integration (`signature`), the GitHub integration's pure core (`github`) and the
//! Slack app's (`slack`).

pub mod github;
pub mod signature;
pub mod slack;

/// An integration's API base URL as stored: http(s), a host, no query, fragment or spaces, at
/// most 500 bytes, without a trailing slash; `None` when it is not one.
#[must_use]
pub fn api_base_url(url: &str) -> Option<String> {
    let base = url.trim_end_matches('/');
    let scheme_ok = base.starts_with("https://") || base.starts_with("http://");
    let rest = base.split_once("://").map_or("", |(_, r)| r);
    let ok = scheme_ok
        && !rest.is_empty()
        && base.len() <= 500
        && !base.contains(['?', '#', ' '])
        && !rest.starts_with('/');
    ok.then(|| base.to_owned())
}
