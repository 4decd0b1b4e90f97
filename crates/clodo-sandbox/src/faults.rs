//! Fault injection rules: which requests they hit and what they do, decided by plain functions.
//!
//! Rules are checked in order. Every matching `latency`/`random_latency` rule adds its delay; the
//! first matching terminal rule (`rate_limit`, `server_error`, `drop`, `timeout`) answers instead
//! of the API. `probability` makes a rule fire on a share of matching requests, `times` limits
//! how often it fires in total (then it stays listed with `times: 0` and is inert); `fired`
//! counts how often it did, so a test can report the faults it injected.

use serde::{Deserialize, Serialize};

use super::error::SandboxError;

/// What a fault does to a request it hits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Wait `ms` before answering normally.
    Latency { ms: u64 },
    /// Wait a uniformly random time in `[min_ms, max_ms]` before answering normally.
    RandomLatency { min_ms: u64, max_ms: u64 },
    /// Answer 429 with `retry-after: <retry_after>` seconds.
    RateLimit {
        #[serde(default = "default_retry_after")]
        retry_after: u64,
    },
    /// Answer with this 5xx status.
    ServerError {
        #[serde(default = "default_server_status")]
        status: u16,
    },
    /// Close the connection without answering.
    Drop,
    /// Hold the request `ms` (longer than the client waits), then close without answering.
    /// With `applied`, the API carries the request out first and only the answer is lost: the
    /// case where the caller cannot know whether its change happened.
    Timeout {
        #[serde(default = "default_timeout_ms")]
        ms: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        applied: bool,
    },
}

fn default_retry_after() -> u64 {
    1
}
fn default_server_status() -> u16 {
    500
}
fn default_timeout_ms() -> u64 {
    120_000
}
fn default_probability() -> f64 {
    1.0
}

/// One rule: a request filter plus an action. (Unknown keys are refused by `FaultAction`, which
/// receives every key the rule itself does not use.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default)]
    pub id: String,
    /// HTTP method to match (any when absent), case-insensitive.
    #[serde(default)]
    pub method: Option<String>,
    /// Glob over the request path (query excluded); `*` matches any run of characters,
    /// including `/`. Any path when absent.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// How many more times the rule fires; unlimited when absent.
    #[serde(default)]
    pub times: Option<u32>,
    /// Only requests carrying this bearer token (any when absent): keeps a test's faults off
    /// other tests that share the sandbox and the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// How many requests passed the rule's filters, fired or not (listed, never set by the
    /// caller): with `fired`, the share of its requests it hit.
    #[serde(default, skip_deserializing)]
    pub matched: u64,
    /// How many times the rule has fired (listed, never set by the caller).
    #[serde(default, skip_deserializing)]
    pub fired: u64,
    #[serde(flatten)]
    pub action: FaultAction,
}

impl FaultRule {
    pub fn validate(&self) -> Result<(), SandboxError> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err(SandboxError::BadRequest(
                "probability must be between 0 and 1".into(),
            ));
        }
        match self.action {
            FaultAction::RandomLatency { min_ms, max_ms } if min_ms > max_ms => Err(
                SandboxError::BadRequest("random_latency needs min_ms <= max_ms".into()),
            ),
            FaultAction::ServerError { status } if !(500..=599).contains(&status) => Err(
                SandboxError::BadRequest("server_error status must be 5xx".into()),
            ),
            _ => Ok(()),
        }
    }

    pub fn matches(&self, request: &Request<'_>) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(request.method));
        let path_ok = self
            .path
            .as_deref()
            .is_none_or(|p| glob_match(p, request.path));
        let token_ok = self.token.is_none() || self.token.as_deref() == request.token;
        method_ok && path_ok && token_ok && self.times != Some(0)
    }
}

/// What the rules look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The bearer token, if the request has one.
    pub token: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request without a token.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Request {
            method,
            path,
            token: None,
        }
    }
}

/// `*`-glob matching over bytes; `*` matches any run, including an empty one and `/`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star_p, star_t)) = backtrack {
            pi = star_p + 1;
            ti = star_t + 1;
            backtrack = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// What to do with one request after all rules are consulted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    pub delay_ms: u64,
    pub terminal: Option<FaultAction>,
    /// Ids of the rules that fired, for the request log.
    pub fired: Vec<String>,
}

/// Applies the rules to a request. `roll` yields uniform numbers in `[0, 1)`; fired rules with a
/// `times` budget are decremented in place.
pub fn evaluate(
    rules: &mut [FaultRule],
    request: &Request<'_>,
    mut roll: impl FnMut() -> f64,
) -> Verdict {
    let mut verdict = Verdict::default();
    for rule in rules.iter_mut() {
        if !rule.matches(request) {
            continue;
        }
        rule.matched += 1;
        if rule.probability < 1.0 && roll() >= rule.probability {
            continue;
        }
        match &rule.action {
            FaultAction::Latency { ms } => verdict.delay_ms += ms,
            FaultAction::RandomLatency { min_ms, max_ms } => {
                let span = (max_ms - min_ms) as f64;
                verdict.delay_ms += min_ms + (roll() * (span + 1.0)).floor().min(span) as u64;
            }
            terminal => {
                if verdict.terminal.is_some() {
                    continue;
                }
                verdict.terminal = Some(terminal.clone());
            }
        }
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        rule.fired += 1;
        verdict.fired.push(rule.id.clone());
    }
    verdict
}

/// Parses the CLI form `KIND[,key=value...]`, e.g. `rate_limit,retry_after=2,path=/client/v4/*`.
pub fn parse_cli_rule(spec: &str) -> Result<FaultRule, String> {
    let mut parts = spec.split(',');
    let kind = parts.next().unwrap_or_default().trim();
    let mut object = serde_json::Map::new();
    object.insert("kind".into(), kind.into());
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("fault option {part:?} is not key=value"))?;
        let value = match key {
            "method" | "path" | "id" | "token" => serde_json::Value::String(value.to_string()),
            _ => serde_json::from_str::<serde_json::Value>(value)
                .map_err(|_| format!("fault option {key} needs a number, got {value:?}"))?,
        };
        object.insert(key.to_string(), value);
    }
    let rule: FaultRule = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("invalid fault {spec:?}: {e}"))?;
    rule.validate().map_err(|e| e.to_string())?;
    Ok(rule)
}

/// A uniform number in `[0, 1)` from the OS randomness behind UUID v4.
pub fn random_unit() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(path: Option<&str>, action: FaultAction) -> FaultRule {
        FaultRule {
            id: "r".into(),
            method: None,
            path: path.map(String::from),
            probability: 1.0,
            times: None,
            token: None,
            matched: 0,
            fired: 0,
            action,
        }
    }

    #[test]
    fn glob() {
        assert!(glob_match(
            "/client/v4/accounts/*/d1/*",
            "/client/v4/accounts/a/d1/database"
        ));
        assert!(glob_match("*", ""));
        assert!(glob_match("*/versions", "/a/b/versions"));
        assert!(!glob_match("*/versions", "/a/b/versions/x"));
        assert!(glob_match("/a/*/c*", "/a/b/c"));
        assert!(!glob_match("/a", "/ab"));
    }

    #[test]
    fn latency_adds_up_and_first_terminal_wins() {
        let mut rules = vec![
            rule(None, FaultAction::Latency { ms: 10 }),
            rule(Some("/x*"), FaultAction::RateLimit { retry_after: 3 }),
            rule(None, FaultAction::Latency { ms: 5 }),
            rule(None, FaultAction::ServerError { status: 503 }),
        ];
        let v = evaluate(&mut rules, &Request::new("GET", "/x/y"), || 0.0);
        assert_eq!(v.delay_ms, 15);
        assert_eq!(v.terminal, Some(FaultAction::RateLimit { retry_after: 3 }));
        let v = evaluate(&mut rules, &Request::new("GET", "/other"), || 0.0);
        assert_eq!(v.terminal, Some(FaultAction::ServerError { status: 503 }));
        let fired: Vec<u64> = rules.iter().map(|r| r.fired).collect();
        assert_eq!(fired, vec![2, 1, 2, 1], "each rule counts its own firings");
    }

    #[test]
    fn a_token_filter_spares_other_callers() {
        let mut rules = vec![FaultRule {
            token: Some("mine".into()),
            ..rule(None, FaultAction::Drop)
        }];
        let mine = Request {
            token: Some("mine"),
            ..Request::new("GET", "/")
        };
        let theirs = Request {
            token: Some("theirs"),
            ..Request::new("GET", "/")
        };
        assert!(evaluate(&mut rules, &theirs, || 0.0).terminal.is_none());
        assert!(evaluate(&mut rules, &Request::new("GET", "/"), || 0.0)
            .terminal
            .is_none());
        assert!(evaluate(&mut rules, &mine, || 0.0).terminal.is_some());
        assert_eq!((rules[0].matched, rules[0].fired), (1, 1));
    }

    #[test]
    fn times_budget_and_probability() {
        let mut rules = vec![FaultRule {
            times: Some(2),
            ..rule(None, FaultAction::Drop)
        }];
        assert!(evaluate(&mut rules, &Request::new("GET", "/"), || 0.0)
            .terminal
            .is_some());
        assert!(evaluate(&mut rules, &Request::new("GET", "/"), || 0.0)
            .terminal
            .is_some());
        assert!(evaluate(&mut rules, &Request::new("GET", "/"), || 0.0)
            .terminal
            .is_none());

        let mut half = vec![FaultRule {
            probability: 0.5,
            ..rule(None, FaultAction::Drop)
        }];
        assert!(evaluate(&mut half, &Request::new("GET", "/"), || 0.2)
            .terminal
            .is_some());
        assert!(evaluate(&mut half, &Request::new("GET", "/"), || 0.7)
            .terminal
            .is_none());
        assert_eq!((half[0].matched, half[0].fired), (2, 1));
    }

    #[test]
    fn method_filter_and_random_latency_bounds() {
        let mut rules = vec![FaultRule {
            method: Some("post".into()),
            ..rule(
                None,
                FaultAction::RandomLatency {
                    min_ms: 10,
                    max_ms: 20,
                },
            )
        }];
        assert_eq!(
            evaluate(&mut rules, &Request::new("GET", "/"), || 0.99).delay_ms,
            0
        );
        assert_eq!(
            evaluate(&mut rules, &Request::new("POST", "/"), || 0.0).delay_ms,
            10
        );
        assert_eq!(
            evaluate(&mut rules, &Request::new("POST", "/"), || 0.999_999).delay_ms,
            20
        );
    }

    #[test]
    fn cli_form() {
        let r = parse_cli_rule("rate_limit,retry_after=2,path=/client/v4/*,times=3").unwrap();
        assert_eq!(r.action, FaultAction::RateLimit { retry_after: 2 });
        assert_eq!(r.path.as_deref(), Some("/client/v4/*"));
        assert_eq!(r.times, Some(3));
        assert_eq!(parse_cli_rule("drop").unwrap().action, FaultAction::Drop);
        assert!(parse_cli_rule("server_error,status=404").is_err());
        assert!(parse_cli_rule("explode").is_err());
        assert!(parse_cli_rule("latency,ms").is_err());
        assert!(parse_cli_rule("latency,ms=1,colour=3").is_err());
        // The counts are the sandbox's: a caller's value is ignored.
        let r = parse_cli_rule("drop,fired=3,matched=4").unwrap();
        assert_eq!((r.matched, r.fired), (0, 0));
        let t = parse_cli_rule("timeout,ms=50,applied=true,token=t").unwrap();
        assert_eq!(
            t.action,
            FaultAction::Timeout {
                ms: 50,
                applied: true
            }
        );
        assert_eq!(t.token.as_deref(), Some("t"));
    }
}
