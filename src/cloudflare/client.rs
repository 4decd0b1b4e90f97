//! The API client over any `Transport`: retries with backoff on 429/5xx (honouring
//! `retry-after`), a per-call timeout, an overall deadline, pagination and a call counter.

use std::cell::Cell;

use futures::future::{self, Either};
use serde_json::Value;

use super::envelope::{CfError, Envelope};
use super::path::{check_path, percent_encode};
use super::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// How hard the client tries before it gives up on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each retry, capped by `max_backoff_ms`.
    pub base_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// A `retry-after` longer than this is not waited for: the call is reported unanswered.
    pub max_retry_after_ms: u64,
    /// One attempt's limit, from request to full body.
    pub call_timeout_ms: u64,
    /// Limit for all calls of this client together, from its creation.
    pub deadline_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_backoff_ms: 200,
            max_backoff_ms: 2_000,
            max_retry_after_ms: 10_000,
            call_timeout_ms: 10_000,
            deadline_ms: 60_000,
        }
    }
}

/// Why one attempt got no usable answer, so that it may be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptFailure {
    #[error("rate limited (HTTP 429)")]
    RateLimited,
    #[error("server error (HTTP {0})")]
    ServerError(u16),
    #[error("{0}")]
    Transport(TransportError),
    /// No complete answer within the per-call limit (milliseconds).
    #[error("no answer within {0} ms")]
    TimedOut(u64),
}

/// Why an answer arrived but could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAnswer {
    #[error("HTTP {0} with a body that is not an API envelope")]
    NotAnEnvelope(u16),
    #[error("blocked by a Cloudflare challenge (HTTP {0})")]
    Challenge(u16),
    /// The envelope's `result` does not have the shape the endpoint promises (serde's words).
    #[error("unexpected result: {0}")]
    UnexpectedResult(String),
    #[error("more than 1000 cursor pages")]
    EndlessCursor,
}

/// Why a call has no successful result. Callers match on the variant: `Api` is the API's
/// definite answer (status and Cloudflare error codes); every other variant but `InvalidPath`
/// means no definite answer came (see [`CallError::is_unanswered`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The API gave a definite answer: an envelope with `success: false`.
    #[error("HTTP {status}: {}", describe(errors))]
    Api { status: u16, errors: Vec<CfError> },
    /// Every attempt failed (429, 5xx, transport failure or timeout); `last` is the last one.
    #[error("{request}: {last} (after {attempts} attempts)")]
    GaveUp {
        request: String,
        last: AttemptFailure,
        attempts: u32,
    },
    /// The API asked to wait longer than Clodo waits.
    #[error("{request}: rate limited (HTTP 429); retry-after of {wait_ms} ms is longer than the {limit_ms} ms Clodo waits")]
    RetryAfterTooLong {
        request: String,
        wait_ms: u64,
        limit_ms: u64,
    },
    /// The client's overall deadline passed before this call could be sent.
    #[error("{request}: the overall deadline of {deadline_ms} ms passed")]
    DeadlinePassed { request: String, deadline_ms: u64 },
    /// An attempt failed and the deadline leaves no time for another.
    #[error("{request}: {last}; no time left to retry before the deadline")]
    NoTimeToRetry {
        request: String,
        last: AttemptFailure,
    },
    /// An answer came that is not what the endpoint answers.
    #[error("{request}: {problem}")]
    BadAnswer { request: String, problem: BadAnswer },
    /// The client refused to send the request: its path could leave the intended endpoint
    /// (a `..` segment, `?`, `#`, ...). Nothing was sent.
    #[error("refused to call `{path}`: {reason}")]
    InvalidPath { path: String, reason: String },
}

fn describe(errors: &[CfError]) -> String {
    if errors.is_empty() {
        return "no error detail".to_owned();
    }
    errors
        .iter()
        .map(|e| format!("{} ({})", e.message, e.code))
        .collect::<Vec<_>>()
        .join("; ")
}

impl CallError {
    #[must_use]
    pub fn has_code(&self, code: i64) -> bool {
        matches!(self, Self::Api { errors, .. } if errors.iter().any(|e| e.code == code))
    }

    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// No definite answer came (timeouts, connection failures, 5xx or 429 after every retry,
    /// the deadline, a body that is not the API's): the state on Cloudflare's side is unknown.
    #[must_use]
    pub fn is_unanswered(&self) -> bool {
        !matches!(self, Self::Api { .. } | Self::InvalidPath { .. })
    }

    /// The token lacks the permission or scope for this call (10000, or a bare 403).
    #[must_use]
    pub fn is_forbidden(&self) -> bool {
        self.has_code(10000) || self.status() == Some(403)
    }

    /// The resource does not exist (HTTP 404 or a known not-found code).
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
            || [7404, 10006, 10007, 10090, 10092]
                .iter()
                .any(|code| self.has_code(*code))
    }

    pub(super) fn invalid_path(path: &str, reason: &impl std::fmt::Display) -> Self {
        Self::InvalidPath {
            path: path.escape_debug().to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A Cloudflare API client for one token.
pub struct Client<T> {
    transport: T,
    base_url: String,
    token: String,
    policy: RetryPolicy,
    started_ms: u64,
    calls: Cell<u32>,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T, base_url: &str, token: &str, policy: RetryPolicy) -> Self {
        let started_ms = transport.now_ms();
        Self {
            transport,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            policy,
            started_ms,
            calls: Cell::new(0),
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn calls(&self) -> u32 {
        self.calls.get()
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Milliseconds since the client was created.
    pub fn elapsed_ms(&self) -> u64 {
        self.transport.now_ms().saturating_sub(self.started_ms)
    }

    /// `GET path?query`, decoded.
    ///
    /// # Errors
    /// `CallError::Api` for an API error; the other variants when no definite answer came.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Envelope, CallError> {
        self.request("GET", path, query, &[], None).await
    }

    /// One call with retries. `headers` are extra request headers.
    ///
    /// # Errors
    /// As `get`.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Envelope, CallError> {
        let call = Call {
            method,
            path,
            query,
            headers,
            body,
        };
        self.exchange(call, classify).await
    }

    /// One call with retries whose answer is not the v4 envelope (the GraphQL analytics
    /// endpoint): a 2xx body is returned as it is; another 4xx is `CallError::Api` without codes.
    ///
    /// # Errors
    /// As `get`.
    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Vec<u8>, CallError> {
        let call = Call {
            method,
            path,
            query: &[],
            headers: &[],
            body,
        };
        self.exchange(call, classify_raw).await
    }

    /// One `GET` with retries whose success is not the v4 envelope (a Worker version's
    /// modules, `multipart/form-data`): the whole 2xx answer with its headers; an error answer
    /// is `CallError::Api` with the envelope's codes when it has one.
    ///
    /// # Errors
    /// As `get`.
    pub async fn get_response(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<HttpResponse, CallError> {
        let call = Call {
            method: "GET",
            path,
            query,
            headers: &[],
            body: None,
        };
        self.exchange(call, classify_response).await
    }

    async fn exchange<A>(
        &self,
        call: Call<'_>,
        classify: fn(HttpResponse) -> Verdict<A>,
    ) -> Result<A, CallError> {
        let Call {
            method,
            path,
            query,
            headers,
            body,
        } = call;
        if let Err(unsafe_path) = check_path(path) {
            return Err(CallError::invalid_path(path, &unsafe_path));
        }
        let request_line = format!("{method} {path}");
        let url = build_url(&self.base_url, path, query);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self.remaining_ms();
            if remaining == 0 {
                return Err(CallError::DeadlinePassed {
                    request: request_line,
                    deadline_ms: self.policy.deadline_ms,
                });
            }
            let mut all_headers = vec![
                ("authorization".to_owned(), format!("Bearer {}", self.token)),
                ("accept".to_owned(), "application/json".to_owned()),
            ];
            if body.is_some() {
                all_headers.push(("content-type".to_owned(), "application/json".to_owned()));
            }
            all_headers.extend(headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            let request = HttpRequest {
                method: method.to_owned(),
                url: url.clone(),
                headers: all_headers,
                body: body.clone(),
            };
            self.calls.set(self.calls.get() + 1);
            let limit = self.policy.call_timeout_ms.min(remaining);
            let (last, after_ms) = match self.send_within(request, limit).await {
                Outcome::Response(response) => match classify(response) {
                    Verdict::Done(result) => return result,
                    Verdict::Bad(problem) => {
                        return Err(CallError::BadAnswer {
                            request: request_line,
                            problem,
                        })
                    }
                    Verdict::Retry { failure, after_ms } => {
                        if let Some(wait) = after_ms {
                            if wait > self.policy.max_retry_after_ms {
                                return Err(CallError::RetryAfterTooLong {
                                    request: request_line,
                                    wait_ms: wait,
                                    limit_ms: self.policy.max_retry_after_ms,
                                });
                            }
                        }
                        (failure, after_ms)
                    }
                },
                Outcome::Failed(err) => (AttemptFailure::Transport(err), None),
                Outcome::TimedOut => (AttemptFailure::TimedOut(limit), None),
            };
            if attempt >= self.policy.max_attempts {
                return Err(CallError::GaveUp {
                    request: request_line,
                    last,
                    attempts: attempt,
                });
            }
            let backoff = self
                .policy
                .base_backoff_ms
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(self.policy.max_backoff_ms);
            let wait = after_ms.unwrap_or(backoff);
            if wait >= self.remaining_ms() {
                return Err(CallError::NoTimeToRetry {
                    request: request_line,
                    last,
                });
            }
            self.transport.sleep(wait).await;
        }
    }

    /// Every item of a page-number list (`result[]` + `result_info.total_count`). The first
    /// page tells how many there are; the rest are fetched in parallel.
    ///
    /// # Errors
    /// The first failing page's error.
    pub async fn list_pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        per_page: usize,
    ) -> Result<Vec<Value>, CallError> {
        let first = self
            .request(
                "GET",
                path,
                &page_query_with(query, 1, per_page),
                headers,
                None,
            )
            .await?;
        let mut items = result_array(first.result, path)?;
        let info = first.result_info.unwrap_or(Value::Null);
        let served_per_page = info["per_page"]
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(per_page);
        let total_pages = match (info["total_pages"].as_u64(), info["total_count"].as_u64()) {
            (Some(pages), _) => usize::try_from(pages).unwrap_or(1),
            (None, Some(count)) => usize::try_from(count)
                .unwrap_or(0)
                .div_ceil(served_per_page),
            (None, None) => 1,
        };
        if total_pages > 1 {
            let pages = (2..=total_pages)
                .map(|page| page_query_with(query, page, served_per_page))
                .collect::<Vec<_>>();
            let rest = future::join_all(
                pages
                    .iter()
                    .map(|q| self.request("GET", path, q, headers, None)),
            )
            .await;
            for page in rest {
                items.extend(result_array(page?.result, path)?);
            }
        }
        Ok(items)
    }

    /// Every item of a cursor list: `items_of` picks the items out of `result`;
    /// `result_info.cursor` leads to the next page until it is absent.
    ///
    /// # Errors
    /// The first failing page's error.
    pub async fn list_cursor(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
        items_of: impl Fn(&Value) -> Vec<Value>,
    ) -> Result<Vec<Value>, CallError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        // A server that keeps answering the same cursor must not loop forever.
        for _ in 0..1_000 {
            let mut q = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page = self.request("GET", path, &q, headers, None).await?;
            items.extend(items_of(&page.result));
            let next = page
                .result_info
                .as_ref()
                .and_then(|i| i["cursor"].as_str())
                .filter(|c| !c.is_empty())
                .map(str::to_owned);
            if next.is_none() || next == cursor {
                return Ok(items);
            }
            cursor = next;
        }
        Err(CallError::BadAnswer {
            request: format!("GET {path}"),
            problem: BadAnswer::EndlessCursor,
        })
    }

    fn remaining_ms(&self) -> u64 {
        self.policy.deadline_ms.saturating_sub(self.elapsed_ms())
    }

    async fn send_within(&self, request: HttpRequest, limit_ms: u64) -> Outcome {
        let send = Box::pin(self.transport.send(request));
        let timer = Box::pin(self.transport.sleep(limit_ms));
        match future::select(send, timer).await {
            Either::Left((Ok(response), _)) => Outcome::Response(response),
            Either::Left((Err(err), _)) => Outcome::Failed(err),
            Either::Right(((), _)) => Outcome::TimedOut,
        }
    }
}

fn page_query_with<'a>(
    query: &[(&'a str, String)],
    page: usize,
    per_page: usize,
) -> Vec<(&'a str, String)> {
    let mut q = query.to_vec();
    q.push(("page", page.to_string()));
    q.push(("per_page", per_page.to_string()));
    q
}

/// One request as the caller describes it.
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a [(&'a str, String)],
    headers: &'a [(&'a str, String)],
    body: Option<String>,
}

enum Outcome {
    Response(HttpResponse),
    Failed(TransportError),
    TimedOut,
}

/// What one response means for the call.
enum Verdict<A> {
    Done(Result<A, CallError>),
    Bad(BadAnswer),
    Retry {
        failure: AttemptFailure,
        after_ms: Option<u64>,
    },
}

/// 429 and 5xx are retried, whatever the body; `None` for any other status.
fn retryable<A>(response: &HttpResponse) -> Option<Verdict<A>> {
    let status = response.status;
    if status == 429 {
        return Some(Verdict::Retry {
            failure: AttemptFailure::RateLimited,
            after_ms: response.header("retry-after").and_then(parse_retry_after),
        });
    }
    (status >= 500).then_some(Verdict::Retry {
        failure: AttemptFailure::ServerError(status),
        after_ms: None,
    })
}

fn classify(response: HttpResponse) -> Verdict<Envelope> {
    if let Some(retry) = retryable(&response) {
        return retry;
    }
    let status = response.status;
    match Envelope::parse(status, &response.body) {
        Ok(envelope) if envelope.success && (200..300).contains(&status) => {
            Verdict::Done(Ok(envelope))
        }
        Ok(envelope) => Verdict::Done(Err(CallError::Api {
            status,
            errors: envelope.errors,
        })),
        Err(_) if response.header("cf-mitigated").is_some() => {
            Verdict::Bad(BadAnswer::Challenge(status))
        }
        Err(_) => Verdict::Bad(BadAnswer::NotAnEnvelope(status)),
    }
}

fn classify_raw(response: HttpResponse) -> Verdict<Vec<u8>> {
    match classify_response(response) {
        Verdict::Done(answer) => Verdict::Done(answer.map(|r| r.body)),
        Verdict::Bad(problem) => Verdict::Bad(problem),
        Verdict::Retry { failure, after_ms } => Verdict::Retry { failure, after_ms },
    }
}

/// As `classify_raw`, keeping the whole answer (its headers say what the body is).
fn classify_response(response: HttpResponse) -> Verdict<HttpResponse> {
    if let Some(retry) = retryable(&response) {
        return retry;
    }
    let status = response.status;
    if (200..300).contains(&status) {
        return Verdict::Done(Ok(response));
    }
    // Some endpoints answer errors in the envelope even when their success is not one.
    let errors = Envelope::parse(status, &response.body)
        .map(|e| e.errors)
        .unwrap_or_default();
    Verdict::Done(Err(CallError::Api { status, errors }))
}

/// `retry-after` in seconds; an HTTP date is not parsed (treated as absent, so backoff applies).
fn parse_retry_after(value: &str) -> Option<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.saturating_mul(1000))
}

/// The items of a list answer (`null` is no items).
fn result_array(result: Value, path: &str) -> Result<Vec<Value>, CallError> {
    match result {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        _ => Err(CallError::BadAnswer {
            request: format!("GET {path}"),
            problem: BadAnswer::UnexpectedResult("expected a list result".to_owned()),
        }),
    }
}

/// `base + path + ?query`, with query values percent-encoded.
fn build_url(base: &str, path: &str, query: &[(&str, String)]) -> String {
    let mut url = format!("{base}{path}");
    for (i, (key, value)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&percent_encode(key));
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    url
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use futures::executor::block_on;

    use super::*;

    /// A scripted transport: answers from a queue, and a virtual clock that `sleep` advances.
    #[derive(Default)]
    struct Scripted {
        answers: RefCell<VecDeque<Result<HttpResponse, TransportError>>>,
        sent: RefCell<Vec<String>>,
        clock: Cell<u64>,
        slept: RefCell<Vec<u64>>,
    }

    impl Scripted {
        fn answer(self, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
            self.answers.borrow_mut().push_back(Ok(HttpResponse {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                body: body.as_bytes().to_vec(),
            }));
            self
        }
    }

    impl Transport for Scripted {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(request.url);
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or_else(|| Err(TransportError::Connect("script exhausted".into())))
        }
        async fn sleep(&self, ms: u64) {
            self.slept.borrow_mut().push(ms);
            self.clock.set(self.clock.get() + ms);
        }
        fn now_ms(&self) -> u64 {
            self.clock.get()
        }
    }

    const OK: &str = r#"{"success":true,"errors":[],"messages":[],"result":{"ok":1}}"#;

    fn client(t: Scripted) -> Client<Scripted> {
        Client::new(t, "http://api/client/v4/", "tok", RetryPolicy::default())
    }

    #[test]
    fn retries_429_after_the_servers_delay_and_5xx_with_backoff() {
        let t = Scripted::default()
            .answer(429, &[("retry-after", "2")], "")
            .answer(503, &[], "oops")
            .answer(200, &[], OK);
        let c = client(t);
        let env = block_on(c.get("/x", &[])).unwrap();
        assert_eq!(env.result["ok"], 1);
        assert_eq!(c.calls(), 3);
        assert_eq!(*c.transport().slept.borrow(), vec![2_000, 400]);
    }

    #[test]
    fn gives_up_after_the_attempts_and_says_why() {
        let t = Scripted::default()
            .answer(500, &[], "")
            .answer(502, &[], "")
            .answer(503, &[], "");
        let c = client(t);
        let err = block_on(c.get("/x", &[])).unwrap_err();
        assert!(
            matches!(
                &err,
                CallError::GaveUp {
                    last: AttemptFailure::ServerError(503),
                    attempts: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn api_errors_are_definite_and_not_retried() {
        let t = Scripted::default().answer(
            404,
            &[],
            r#"{"success":false,"errors":[{"code":7404,"message":"not found"}],"messages":[],"result":null}"#,
        );
        let c = client(t);
        let err = block_on(c.get("/d1/database/x", &[])).unwrap_err();
        assert!(err.is_not_found() && !err.is_forbidden());
        assert_eq!(c.calls(), 1);
    }

    #[test]
    fn a_long_retry_after_is_not_waited_for() {
        let t = Scripted::default().answer(429, &[("retry-after", "300")], "");
        let err = block_on(client(t).get("/x", &[])).unwrap_err();
        assert!(err.to_string().contains("retry-after"), "{err}");
        assert!(matches!(
            err,
            CallError::RetryAfterTooLong {
                wait_ms: 300_000,
                ..
            }
        ));
        assert!(err.is_unanswered());
    }

    #[test]
    fn page_lists_fetch_every_page_and_encode_queries() {
        let page = |n: usize, items: &str| {
            format!(
                r#"{{"success":true,"errors":[],"result":[{items}],"result_info":{{"page":{n},"per_page":2,"count":2,"total_count":5}}}}"#
            )
        };
        let t = Scripted::default()
            .answer(200, &[], &page(1, "1,2"))
            .answer(200, &[], &page(2, "3,4"))
            .answer(200, &[], &page(3, "5"));
        let c = client(t);
        let items = block_on(c.list_pages("/l", &[("name", "a b&c".into())], &[], 2)).unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(
            c.transport().sent.borrow()[0],
            "http://api/client/v4/l?name=a%20b%26c&page=1&per_page=2"
        );
    }

    #[test]
    fn a_path_that_could_leave_its_endpoint_is_never_sent() {
        for path in [
            "/accounts/a/workers/scripts/../../../user/tokens",
            "/accounts/a/workers/scripts/x?force=true",
            "/accounts/a/workers/scripts/x#y/deployments",
        ] {
            let c = client(Scripted::default().answer(200, &[], OK));
            let err = block_on(c.request("POST", path, &[], &[], None)).unwrap_err();
            assert!(
                matches!(err, CallError::InvalidPath { .. }),
                "{path}: {err}"
            );
            assert_eq!(c.calls(), 0, "{path} was sent");
            assert!(c.transport().sent.borrow().is_empty());
        }
        // A path built with `api_path` from a hostile script name is refused before that.
        assert!(super::super::api_path(&["accounts", "a", "workers", "scripts", "../x"]).is_err());
    }

    #[test]
    fn cursor_lists_follow_the_cursor() {
        let t = Scripted::default()
            .answer(200, &[], r#"{"success":true,"result":{"buckets":[{"name":"a"}]},"result_info":{"cursor":"c1"}}"#)
            .answer(200, &[], r#"{"success":true,"result":{"buckets":[{"name":"b"}]},"result_info":{}}"#);
        let c = client(t);
        let items = block_on(c.list_cursor("/r2/buckets", &[], &[], |r| {
            r["buckets"].as_array().cloned().unwrap_or_default()
        }))
        .unwrap();
        assert_eq!(items.len(), 2);
        assert!(c.transport().sent.borrow()[1].ends_with("?cursor=c1"));
    }
}
