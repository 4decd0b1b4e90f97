//! Safe Cloudflare API paths: every value that goes into a path segment (account ids, script
//! names, version ids, database ids, zone ids) is validated and percent-encoded, so a value
//! such as `../zones`, `x?y` or `a#b` can never reach another endpoint than the one intended.

use std::fmt;

/// Why a value cannot be a path segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` cannot be used in a Cloudflare API path: {reason}")]
pub struct InvalidSegment {
    /// The value as given (control characters escaped for display).
    pub value: String,
    pub reason: &'static str,
}

/// Checks one path segment value and returns it percent-encoded.
///
/// Refused: the empty string, `.` and `..`, and any value containing `/`, `\`, `?`, `#`, `%`,
/// whitespace or control characters. Cloudflare identifiers and names never contain those, so
/// refusing them (rather than only encoding) also stops a proxy that decodes `%2F` from
/// turning the value back into a path. What remains is percent-encoded outside RFC 3986's
/// unreserved set (`A-Z a-z 0-9 - . _ ~`).
///
/// # Errors
/// `InvalidSegment` saying which rule the value breaks.
pub fn segment(value: &str) -> Result<String, InvalidSegment> {
    let refuse = |reason| {
        Err(InvalidSegment {
            value: value.escape_debug().to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return refuse("it is empty");
    }
    if value == "." || value == ".." {
        return refuse("`.` and `..` are relative path steps");
    }
    if let Some(c) = value
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
    {
        return refuse(match c {
            '/' | '\\' => "it contains a path separator",
            '?' => "it contains `?`, which starts a query",
            '#' => "it contains `#`, which starts a fragment",
            '%' => "it contains `%`, which would be decoded as an escape",
            _ => "it contains whitespace or a control character",
        });
    }
    Ok(percent_encode(value))
}

/// Builds `/seg1/seg2/...` from raw values, each checked and encoded by [`segment`]. Literal
/// parts (`"accounts"`, `"workers"`) go through the same check, which they pass unchanged.
///
/// ```
/// use clodo::cloudflare::api_path;
/// assert_eq!(
///     api_path(&["accounts", "acc1", "workers", "scripts", "api", "deployments"]).unwrap(),
///     "/accounts/acc1/workers/scripts/api/deployments"
/// );
/// assert!(api_path(&["accounts", "acc1", "workers", "scripts", "../../zones"]).is_err());
/// ```
///
/// # Errors
/// The first segment that is refused.
pub fn api_path(segments: &[&str]) -> Result<String, InvalidSegment> {
    let mut path = String::new();
    for s in segments {
        path.push('/');
        path.push_str(&segment(s)?);
    }
    Ok(path)
}

/// Why a whole path given to the client is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafePath(pub &'static str);

impl fmt::Display for UnsafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The client's last line of defence for paths built elsewhere with `format!`: a path must be
/// absolute, and no segment may be empty, `.` or `..`, or hold `?`, `#`, `\`, whitespace or
/// control characters (queries go in the query list, never in the path). `%` is allowed here
/// because an already encoded segment carries it; `..` hidden as `%2e%2e` is refused too.
///
/// # Errors
/// `UnsafePath` with the reason.
pub fn check_path(path: &str) -> Result<(), UnsafePath> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(UnsafePath("the path must start with `/`"));
    };
    if path
        .chars()
        .any(|c| matches!(c, '?' | '#' | '\\') || c.is_whitespace() || c.is_control())
    {
        return Err(UnsafePath(
            "the path contains `?`, `#`, `\\`, whitespace or a control character",
        ));
    }
    for seg in rest.split('/') {
        let decoded_dots = seg.to_ascii_lowercase().replace("%2e", ".");
        if seg.is_empty() {
            return Err(UnsafePath("the path has an empty segment"));
        }
        if decoded_dots == "." || decoded_dots == ".." {
            return Err(UnsafePath("the path has a `.` or `..` segment"));
        }
        if seg.to_ascii_lowercase().contains("%2f") || seg.to_ascii_lowercase().contains("%5c") {
            return Err(UnsafePath("the path has an encoded path separator"));
        }
    }
    Ok(())
}

/// Percent-encoding outside the unreserved set (also used for query keys and values).
pub(super) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_and_names_pass_unchanged() {
        for v in [
            "0123456789abcdef0123456789abcdef",
            "my-worker",
            "a0000000-0000-4000-8000-000000000001",
            "app_db.v2",
        ] {
            assert_eq!(segment(v).unwrap(), v);
        }
    }

    #[test]
    fn values_that_could_leave_their_segment_are_refused() {
        for v in [
            "",
            ".",
            "..",
            "../zones",
            "a/b",
            "a\\b",
            "x?per_page=1",
            "x#frag",
            "%2e%2e",
            "%2F",
            "a b",
            "a\nb",
        ] {
            assert!(segment(v).is_err(), "{v:?} must be refused");
        }
        assert!(segment("../x").unwrap_err().reason.contains("separator"));
        assert!(segment("a?b").unwrap_err().to_string().contains("query"));
    }

    #[test]
    fn other_characters_are_percent_encoded() {
        assert_eq!(segment("a:b@c").unwrap(), "a%3Ab%40c");
        assert_eq!(segment("é").unwrap(), "%C3%A9");
        // A dot inside a name is not a relative step.
        assert_eq!(segment("..a").unwrap(), "..a");
    }

    #[test]
    fn api_path_joins_checked_segments() {
        assert_eq!(
            api_path(&["accounts", "acc", "d1", "database", "u-1", "query"]).unwrap(),
            "/accounts/acc/d1/database/u-1/query"
        );
        let err = api_path(&["accounts", "acc", "workers", "scripts", "../../user"]).unwrap_err();
        assert_eq!(err.value, "../../user");
        assert!(api_path(&["accounts", "", "workers"]).is_err());
    }

    #[test]
    fn check_path_refuses_traversal_queries_and_fragments() {
        assert!(check_path("/accounts/a/workers/scripts/s/deployments").is_ok());
        assert!(check_path("/accounts/a/workers/scripts/my%3Aworker").is_ok());
        for bad in [
            "accounts/a",
            "/accounts/a/../../user/tokens",
            "/accounts/a/./x",
            "/accounts//x",
            "/accounts/a/scripts/s?x=1",
            "/accounts/a/scripts/s#x",
            "/accounts/a/scripts/%2E%2e/x",
            "/accounts/a/scripts/a%2fb",
            "/accounts/a/scripts/a b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
