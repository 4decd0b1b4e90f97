//! The outbox's pure core: durable deferred work (notifications, monitoring markers, later
//! GitHub statuses and Slack `response_url` posts) and what to do after each attempt.
//!
//! A row (`Entry`) is written in D1 in the same transaction as the event that causes it; its
//! id is its idempotency key. The Worker's `Outbox` Durable Object (and the cron sweep) claim
//! due rows, let the handler of the row's `kind` perform one attempt, and store what
//! `decide` returns. Everything here is data and arithmetic, unit-tested without I/O.

use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The handler kind of notifications and monitoring markers sent to a channel.
pub const KIND_CHANNEL: &str = "channel";

/// How long a claimed row is reserved for the run that claimed it. An attempt is bounded well
/// below this (one outbound fetch); a run that crashed mid-attempt leaves the row to be
/// retried once this lapses.
pub const LEASE_MS: i64 = 60_000;

/// A stored delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// A receiver accepted it (2xx).
    Delivered,
    /// Given up: a permanent refusal, the endpoint is gone, or the attempts ran out.
    Failed,
    /// Its channel was deleted before it was delivered.
    Cancelled,
}

impl EntryState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One stored delivery, as a handler sees it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry {
    /// The idempotency key (also the `webhook-id` of every attempt).
    pub id: String,
    pub team_id: String,
    /// Which handler performs it.
    pub kind: String,
    /// What the handler sends to (a channel id for `channel`).
    pub target: Option<String>,
    /// The handler's input, as stored (JSON text).
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub created_at: i64,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status (and `Retry-After`, when it sent one).
    Answered {
        status: u16,
        retry_after: Option<String>,
    },
    /// No answer: connection refused, reset, or the deadline passed. Worth retrying.
    NoAnswer(String),
    /// The handler could not even build the request (the channel is gone, its secret does
    /// not decrypt, the payload is not what the kind expects). Retrying cannot help.
    Unsendable(String),
}

/// What to do with the row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Done: the receiver accepted it.
    Delivered,
    /// Try again at `at` (Unix ms).
    Retry { at: i64, reason: String },
    /// Give up on this row.
    Fail { reason: String },
    /// Give up, and disable the endpoint: it answered 410 Gone.
    DisableEndpoint { reason: String },
}

impl Decision {
    /// The state the row moves to.
    #[must_use]
    pub fn state(&self) -> EntryState {
        match self {
            Self::Delivered => EntryState::Delivered,
            Self::Retry { .. } => EntryState::Pending,
            Self::Fail { .. } | Self::DisableEndpoint { .. } => EntryState::Failed,
        }
    }

    /// The outcome's name in the delivery log.
    #[must_use]
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry { .. } => "retry",
            Self::Fail { .. } => "failed",
            Self::DisableEndpoint { .. } => "endpoint_disabled",
        }
    }

    /// Why, for the log (none when delivered).
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Delivered => None,
            Self::Retry { reason, .. }
            | Self::Fail { reason }
            | Self::DisableEndpoint { reason } => Some(reason),
        }
    }
}

/// The retry schedule: exponential backoff with jitter, capped, for a bounded number of
/// attempts. With the defaults the retries come after about 2 s, 6 s, 18 s, 54 s, 2.7 min,
/// 8 min, 24 min, 73 min, 3.6 h, then every 6 h: 15 attempts span about a day and a half
/// (Standard Webhooks suggests retrying "over days").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay_ms: i64,
    pub factor: i64,
    pub max_delay_ms: i64,
    pub max_attempts: u32,
    /// The longest `Retry-After` honoured; a receiver asking for more waits this long.
    pub max_retry_after_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay_ms: 2_000,
            factor: 3,
            max_delay_ms: 6 * 3_600_000,
            max_attempts: 15,
            max_retry_after_ms: 3_600_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), before jitter.
    #[must_use]
    pub fn base_delay_ms(&self, attempt: u32) -> i64 {
        let mut delay = self.first_delay_ms;
        for _ in 1..attempt {
            delay = delay.saturating_mul(self.factor);
            if delay >= self.max_delay_ms {
                return self.max_delay_ms;
            }
        }
        delay.min(self.max_delay_ms)
    }

    /// The wait with jitter: between half and all of the base delay, `random` in `[0, 1)`
    /// choosing where ("equal jitter"), so receivers that failed together do not all come
    /// back at the same instant, and a retry never comes sooner than half the schedule.
    #[must_use]
    pub fn delay_ms(&self, attempt: u32, random: f64) -> i64 {
        let base = self.base_delay_ms(attempt);
        let half = base / 2;
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let spread = (half as f64 * random.clamp(0.0, 1.0)) as i64;
        half + spread
    }
}

/// Reads a `Retry-After` value (delta seconds or an HTTP date) as milliseconds from `now`.
/// Discord sends fractional seconds in its body; its header is whole seconds, which is what
/// this reads. A date in the past reads as zero.
#[must_use]
pub fn retry_after_ms(value: &str, now_ms: i64) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            #[allow(clippy::cast_possible_truncation)]
            return Some((secs * 1000.0).ceil() as i64);
        }
        return None;
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.timestamp_millis() - now_ms).max(0))
}

/// What the attempt numbered `attempt` (1-based: the row's stored attempts plus this one)
/// leads to. `random` in `[0, 1)` is the jitter's draw (a test passes a fixed one).
///
/// - 2xx: delivered.
/// - 410 Gone: the endpoint is gone; disable it (Standard Webhooks).
/// - 429 Too Many Requests: retry after `Retry-After` (capped), or the backoff when absent.
/// - 408, 425, 5xx, 3xx (redirects are not followed) and no answer: retry with backoff.
/// - any other 4xx: the receiver refuses this request; the same request would be refused
///   again (a Discord webhook answering 404 must not be retried), so give up.
///
/// Retries stop after `max_attempts`.
#[must_use]
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    result: &AttemptResult,
    now_ms: i64,
    random: f64,
) -> Decision {
    let (reason, asked_wait) = match result {
        AttemptResult::Unsendable(why) => {
            return Decision::Fail {
                reason: why.clone(),
            }
        }
        AttemptResult::Answered { status, .. } if (200..300).contains(status) => {
            return Decision::Delivered
        }
        AttemptResult::Answered { status: 410, .. } => {
            return Decision::DisableEndpoint {
                reason: "the endpoint answered 410 Gone: it is disabled".into(),
            }
        }
        AttemptResult::Answered {
            status: 429,
            retry_after,
        } => {
            let asked = retry_after
                .as_deref()
                .and_then(|v| retry_after_ms(v, now_ms))
                .map(|ms| ms.min(policy.max_retry_after_ms));
            (
                "the endpoint answered 429 Too Many Requests".to_owned(),
                asked,
            )
        }
        AttemptResult::Answered { status, .. }
            if *status >= 500 || (300..400).contains(status) || matches!(status, 408 | 425) =>
        {
            (format!("the endpoint answered {status}"), None)
        }
        AttemptResult::Answered { status, .. } => {
            return Decision::Fail {
                reason: format!("the endpoint refused the request with {status}; not retried"),
            }
        }
        AttemptResult::NoAnswer(why) => (format!("no answer: {why}"), None),
    };
    if attempt >= policy.max_attempts {
        return Decision::Fail {
            reason: format!("{reason}; gave up after {attempt} attempts"),
        };
    }
    let wait = asked_wait.unwrap_or_else(|| policy.delay_ms(attempt, random));
    Decision::Retry {
        at: now_ms + wait,
        reason,
    }
}

/// Whether an idempotency key is usable as a `webhook-id` and a URL segment: 1-200 of
/// letters, digits, `_` and `-` (Standard Webhooks forbids `.` in it).
#[must_use]
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Given-up deliveries in a row, with no delivered one between them, after which a channel
/// is disabled like one that answered 410 Gone. A delivery is given up only after 15
/// attempts over about a day and a half of retryable failures, or at once for an answer the
/// same request would get again (a 4xx such as 401, 403 or 404): five in a row is an endpoint
/// that has not worked for days, or that refuses every message (a revoked token, a deleted
/// Discord webhook). Disabling it stops filling the log with failures nobody reads and makes
/// the state visible (`GET /api/v1/channels` shows why); `clodo channels enable` restarts it.
pub const DISABLE_AFTER_GIVEN_UP: u32 = 5;

/// What a finished attempt does to its channel's streak of given-up deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakChange {
    /// Delivered: the streak ends (back to 0).
    Reset,
    /// Given up: one more.
    Extend,
}

/// A delivery ends the streak, a give-up extends it; a retry (not finished yet) and a 410
/// (which disables the channel by itself) leave it alone.
#[must_use]
pub fn streak_change(decision: &Decision) -> Option<StreakChange> {
    match decision {
        Decision::Delivered => Some(StreakChange::Reset),
        Decision::Fail { .. } => Some(StreakChange::Extend),
        Decision::Retry { .. } | Decision::DisableEndpoint { .. } => None,
    }
}

/// A streak after `change` (the Worker applies the same in SQL, atomically).
#[must_use]
pub fn apply_streak(streak: u32, change: Option<StreakChange>) -> u32 {
    match change {
        Some(StreakChange::Reset) => 0,
        Some(StreakChange::Extend) => streak.saturating_add(1),
        None => streak,
    }
}

/// Whether a channel with `streak` given-up deliveries in a row is disabled now, and the
/// reason it shows (`last` is why the latest delivery was given up). Only an enabled channel
/// is disabled (once: the audit log gets one entry).
#[must_use]
pub fn disable_for_streak(streak: u32, enabled: bool, last: &str) -> Option<String> {
    (enabled && streak >= DISABLE_AFTER_GIVEN_UP).then(|| {
        format!("{streak} deliveries in a row were given up (the last: {last}): it is disabled")
    })
}
