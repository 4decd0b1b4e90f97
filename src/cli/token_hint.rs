//! Remembers, per Cloudflare API token, the id and owner its last verify answered, so the next
//! assessment reads the token's policies in its first round of calls instead of a second one
//! (about one call's latency saved; docs/performance.md, "Assessment").
//!
//! The file (`$XDG_CACHE_HOME/clodo/token-ids.json`, else `~/.cache/clodo/token-ids.json`)
//! holds no secret: each entry is keyed by the SHA-256 of the API base URL and the token, and
//! its value is the token's id (which Cloudflare shows in the dashboard and every verify
//! answer). A missing, unreadable or stale file only costs that round trip: the hint is used
//! only when verify answers the same id again, and a cache that cannot be written never fails
//! an assessment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::assess::TokenHint;

/// Entries kept: one per token a developer or runner uses; past this the file starts over.
const MAX_ENTRIES: usize = 64;

fn cache_file() -> Option<PathBuf> {
    let dir = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(xdg) => PathBuf::from(xdg),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(dir.join("clodo").join("token-ids.json"))
}

fn key(base_url: &str, token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(base_url.as_bytes());
    hash.update(b"\n");
    hash.update(token.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_all() -> BTreeMap<String, TokenHint> {
    cache_file()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The token as its last assessment against `base_url` verified it, if remembered.
#[must_use]
pub fn recall(base_url: &str, token: &str) -> Option<TokenHint> {
    read_all().remove(&key(base_url, token))
}

/// Remembers `hint` for this token (or forgets it: `None`, the token did not verify active).
/// Best effort: the file is replaced whole (written beside it, then renamed), and any failure
/// leaves the assessment as it was.
pub fn remember(base_url: &str, token: &str, hint: Option<TokenHint>) {
    let Some(path) = cache_file() else { return };
    let mut all = read_all();
    let key = key(base_url, token);
    if all.get(&key) == hint.as_ref() {
        return;
    }
    match hint {
        Some(hint) => {
            if all.len() >= MAX_ENTRIES {
                all.clear();
            }
            all.insert(key, hint);
        }
        None => {
            all.remove(&key);
        }
    }
    let _ = write(&path, &all);
}

fn write(path: &std::path::Path, all: &BTreeMap<String, TokenHint>) -> std::io::Result<()> {
    let dir = path.parent().ok_or(std::io::ErrorKind::NotFound)?;
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec(all).map_err(std::io::Error::other)?;
    let partial = dir.join(format!("token-ids.json.{}", std::process::id()));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assess::inventory::TokenOwner;

    #[test]
    fn the_key_depends_on_the_api_and_the_token_and_shows_neither() {
        let a = key("https://api.cloudflare.com/client/v4", "secret-token");
        assert_eq!(a.len(), 64);
        assert!(!a.contains("secret"));
        assert_ne!(a, key("http://127.0.0.1:8788/client/v4", "secret-token"));
        assert_ne!(
            a,
            key("https://api.cloudflare.com/client/v4", "other-token")
        );
    }

    #[test]
    fn a_hint_round_trips_through_its_json_form() {
        let hint = TokenHint {
            owner: TokenOwner::Account,
            id: "tok_1".into(),
        };
        let map = BTreeMap::from([(key("b", "t"), hint.clone())]);
        let text = serde_json::to_string(&map).unwrap();
        assert!(text.contains(r#""owner":"account""#), "{text}");
        let back: BTreeMap<String, TokenHint> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[&key("b", "t")], hint);
    }
}
