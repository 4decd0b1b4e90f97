//! `Idempotency-Key` decisions: what a POST carrying a key gets, given what is stored for
//! (its token, that key). Pure; `src/worker/idempotency.rs` does the storage and runs it.
//!
//! The rules: keys belong to the token that sent them (another token's key is another key);
//! the first request claims the key with a `pending` record before it runs, so a second one
//! racing it is refused instead of doing the work twice; only a success is remembered, for
//! `TTL_MS`, and a claim left `pending` by a request that crashed can be taken over after
//! `TAKEOVER_MS`. Answers are stored without secrets: an answer that carried one (a new API
//! token) is not replayed but explained, since a secret is shown once and kept nowhere.

use serde_json::Value;

/// How long a successful answer is replayed; older records are deleted.
pub const TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a `pending` claim blocks its key. Far longer than any request runs, so only a
/// claim whose request died (isolate killed, crash) is ever taken over.
pub const TAKEOVER_MS: i64 = 5 * 60 * 1000;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 200;
/// How long a repeat that finds its key still `pending` waits, looking again every
/// `ANSWER_POLL_MS`, before it is answered `409` with `Retry-After`. The first request's answer
/// is stored just after it is sent (off the answer's path), so a repeat sent the moment that
/// answer arrived finds it stored a few milliseconds later; a first request still running
/// after this long gets the 409 as before.
pub const ANSWER_WAIT_MS: i64 = 1_000;
/// See `ANSWER_WAIT_MS`.
pub const ANSWER_POLL_MS: i64 = 100;

/// The stored record of one (token, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub method: String,
    pub path: String,
    pub request_hash: String,
    /// `None` while the first request runs (`pending`), else the stored answer.
    pub answer: Option<StoredAnswer>,
    pub created_at: i64,
    pub claimed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
    /// A secret was removed from the answer before it was stored.
    pub secret_withheld: bool,
}

/// What to do with a request whose claim found `existing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The record is older than `TTL_MS`: delete it and claim the key afresh.
    Expired,
    /// The same request succeeded before: send its stored answer.
    Replay(StoredAnswer),
    /// The same request succeeded before with a secret in its answer, which is not stored.
    SecretShownOnce(StoredAnswer),
    /// The key was used for another method, path or body.
    KeyReused { what: String },
    /// The first request with this key is still running.
    InProgress,
    /// The first request's claim is older than `TAKEOVER_MS`: it died; run this one instead.
    TakeOver,
}

/// Decides what a request (`method`, `path`, body hash) gets when its key is already stored.
#[must_use]
pub fn decide(
    existing: &Record,
    method: &str,
    path: &str,
    request_hash: &str,
    now_ms: i64,
) -> Decision {
    if now_ms - existing.created_at >= TTL_MS {
        return Decision::Expired;
    }
    if existing.method != method || existing.path != path {
        return Decision::KeyReused {
            what: format!("{} {}", existing.method, existing.path),
        };
    }
    if existing.request_hash != request_hash {
        return Decision::KeyReused {
            what: "another request body".into(),
        };
    }
    match &existing.answer {
        Some(answer) if answer.secret_withheld => Decision::SecretShownOnce(answer.clone()),
        Some(answer) => Decision::Replay(answer.clone()),
        None if now_ms - existing.claimed_at >= TAKEOVER_MS => Decision::TakeOver,
        None => Decision::InProgress,
    }
}

/// Removes every `secret` string from an answer before it is stored; true when one was.
pub fn redact_secrets(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut removed = map.remove("secret").is_some_and(|v| v.is_string());
            for v in map.values_mut() {
                removed |= redact_secrets(v);
            }
            removed
        }
        Value::Array(items) => {
            // Every item is visited (no short circuit): each may hold a secret.
            let mut removed = false;
            for v in items {
                removed |= redact_secrets(v);
            }
            removed
        }
        _ => false,
    }
}

/// The ids a withheld answer names (`id`, `token.id`), so the refusal can say what was made.
#[must_use]
pub fn created_ids(body: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    [&v["id"], &v["token"]["id"]]
        .into_iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(answer: Option<StoredAnswer>) -> Record {
        Record {
            method: "POST".into(),
            path: "/api/v1/deployments".into(),
            request_hash: "h1".into(),
            answer,
            created_at: 1_000,
            claimed_at: 1_000,
        }
    }

    fn ok_answer(withheld: bool) -> StoredAnswer {
        StoredAnswer {
            status: 201,
            body: r#"{"id":"tok_1"}"#.into(),
            secret_withheld: withheld,
        }
    }

    #[test]
    fn a_same_request_replays_a_success() {
        let r = record(Some(ok_answer(false)));
        assert_eq!(
            decide(&r, "POST", "/api/v1/deployments", "h1", 2_000),
            Decision::Replay(ok_answer(false))
        );
    }

    #[test]
    fn another_body_or_route_is_a_reused_key() {
        let r = record(Some(ok_answer(false)));
        assert!(matches!(
            decide(&r, "POST", "/api/v1/deployments", "h2", 2_000),
            Decision::KeyReused { what } if what == "another request body"
        ));
        assert!(matches!(
            decide(&r, "POST", "/api/v1/projects", "h1", 2_000),
            Decision::KeyReused { what } if what == "POST /api/v1/deployments"
        ));
    }

    #[test]
    fn a_running_first_request_blocks_the_key_until_it_is_presumed_dead() {
        let r = record(None);
        assert_eq!(
            decide(
                &r,
                "POST",
                "/api/v1/deployments",
                "h1",
                1_000 + TAKEOVER_MS - 1
            ),
            Decision::InProgress
        );
        assert_eq!(
            decide(&r, "POST", "/api/v1/deployments", "h1", 1_000 + TAKEOVER_MS),
            Decision::TakeOver
        );
    }

    #[test]
    fn answers_expire_after_a_day() {
        let r = record(Some(ok_answer(false)));
        assert_eq!(
            decide(&r, "POST", "/api/v1/deployments", "h1", 1_000 + TTL_MS),
            Decision::Expired
        );
        // Expiry comes first: an old key may be used for anything again.
        assert_eq!(
            decide(&r, "POST", "/api/v1/projects", "h9", 1_000 + TTL_MS),
            Decision::Expired
        );
    }

    #[test]
    fn secrets_are_never_stored_and_their_replay_is_explained() {
        let mut token = json!({ "id": "tok_1", "secret": "clodo_abc", "note": "shown once" });
        assert!(redact_secrets(&mut token));
        assert_eq!(token, json!({ "id": "tok_1", "note": "shown once" }));
        let mut team =
            json!({ "team": { "id": "team_1" }, "token": { "id": "tok_2", "secret": "clodo_x" } });
        assert!(redact_secrets(&mut team));
        assert!(!team.to_string().contains("clodo_x"));
        assert_eq!(created_ids(&team.to_string()), vec!["tok_2".to_owned()]);
        let mut plain = json!({ "items": [{ "id": "dep_1" }] });
        assert!(!redact_secrets(&mut plain));
        let r = record(Some(ok_answer(true)));
        assert_eq!(
            decide(&r, "POST", "/api/v1/deployments", "h1", 2_000),
            Decision::SecretShownOnce(ok_answer(true))
        );
    }
}
