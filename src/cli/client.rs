//! What the control-plane subcommands share: where the API is and which token to send (env
//! `CLODO_API_URL`/`CLODO_TOKEN`, else the file `clodo login` wrote), an HTTP client that
//! turns the API's `{"error":…}` bodies into messages, and output/exit-code conventions.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::{self, CliCode, Code};

/// What `clodo login` stores, `config.json` in the config directory, mode 0600.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Login {
    pub api_url: String,
    pub token: String,
}

/// `$XDG_CONFIG_HOME/clodo`, else `~/.config/clodo`.
#[must_use]
pub fn config_dir() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("clodo"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config").join("clodo"))
}

#[must_use]
pub fn config_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.json"))
}

/// Writes the login with owner-only permissions: the file holds a bearer token.
///
/// # Errors
/// When the directory or file cannot be written.
pub fn save(login: &Login) -> Result<PathBuf, String> {
    let path = config_path().ok_or("neither XDG_CONFIG_HOME nor HOME is set")?;
    let dir = path.parent().ok_or("bad config path")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(login).map_err(|e| e.to_string())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut file = opts
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // An existing file keeps its old mode through `open`; tighten it explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

const NOT_LOGGED_IN: &str = "not logged in: run `clodo login`, or set CLODO_TOKEN";

/// The login to use: environment variables win over the stored file, each field separately.
///
/// # Errors
/// When no token is configured anywhere.
pub fn resolve() -> Result<Login, String> {
    let stored: Option<Login> = config_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok());
    let api_url = std::env::var("CLODO_API_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| stored.as_ref().map(|l| l.api_url.clone()))
        .unwrap_or_else(|| "http://127.0.0.1:8787".into());
    let token = std::env::var("CLODO_TOKEN")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| stored.map(|l| l.token))
        .ok_or(NOT_LOGGED_IN)?;
    Ok(Login {
        api_url: api_url.trim_end_matches('/').to_owned(),
        token,
    })
}

/// An authenticated client of the control-plane API.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    login: Login,
}

/// A failed call: the API's error code and message (plus hint), or a transport failure.
#[derive(Debug)]
pub struct CallError {
    pub status: Option<u16>,
    /// The API's code as it travelled, or the CLI's for what went wrong around the call.
    pub code: Code,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How long one attempt may take to connect, and in all: an answer that has not come by then
/// counts as lost (and the call is repeated as `Client::raw` says). 100 s is the longest an
/// answer through Cloudflare's edge may take; the API's slowest calls (a hosted assessment, a
/// server-side rollback) call Cloudflare with 10 s per call.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(100);
/// How many times `Client::raw` sends one call at most.
const ATTEMPTS: u32 = 3;
/// The wait before a repeat, times the attempt's number (then 0.3 s, 0.6 s).
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(300);
/// The wait before asking again for a keyed POST still running on the server (the API says
/// `Retry-After: 2`; then 2 s, 4 s).
const IN_PROGRESS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How one attempt of a call failed, which decides whether it is repeated.
enum Attempt {
    /// The connection was refused: the request never left.
    NotSent(CallError),
    /// The request left and its answer was lost (reset, timeout, cut off).
    Lost(CallError),
    /// A 5xx that is not the API's error body: a proxy or the edge answered.
    NotTheApi(CallError),
    /// The API says the first attempt with this `Idempotency-Key` is still running.
    KeyInProgress(CallError),
    /// The API's own answer (or a 4xx from elsewhere): final.
    Refused(CallError),
}

impl Attempt {
    /// How long to wait before sending the call again, or `None` when this is final.
    /// `repeatable`: the call may be sent again after its request left (not a DELETE).
    fn wait(&self, repeatable: bool) -> Option<std::time::Duration> {
        match self {
            Attempt::NotSent(_) => Some(RETRY_WAIT),
            Attempt::Lost(_) | Attempt::NotTheApi(_) if repeatable => Some(RETRY_WAIT),
            // The first attempt with this key is still running on the server (its answer was
            // lost on the way): the repeat gets that answer once it is stored.
            Attempt::KeyInProgress(_) => Some(IN_PROGRESS_WAIT),
            _ => None,
        }
    }

    fn into_error(self) -> CallError {
        match self {
            Attempt::NotSent(e)
            | Attempt::Lost(e)
            | Attempt::NotTheApi(e)
            | Attempt::KeyInProgress(e)
            | Attempt::Refused(e) => e,
        }
    }
}

impl Client {
    #[must_use]
    pub fn new(login: Login) -> Self {
        Self::with_timeouts(login, CONNECT_TIMEOUT, CALL_TIMEOUT)
    }

    /// A client whose attempts give up after `connect` to connect and `call` in all.
    fn with_timeouts(
        login: Login,
        connect: std::time::Duration,
        call: std::time::Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(call)
            .build()
            // Only a TLS backend that cannot start fails here; the default client has the same.
            .unwrap_or_default();
        Self { http, login }
    }

    /// The control plane's URL and token this client uses.
    #[must_use]
    pub fn login(&self) -> &Login {
        &self.login
    }

    /// Sends a request and returns the body text and headers of a 2xx answer.
    ///
    /// A call whose answer never came, or came from something in front of the API (a 5xx
    /// that is not the API's error body: a proxy or the edge), is sent again, up to
    /// `ATTEMPTS` times in all, when repeating it cannot do anything twice: every method
    /// once the connection was refused (nothing was sent), and GET, PUT and POST after that.
    /// A POST carries an `Idempotency-Key`, the same on every attempt, so the control plane
    /// answers a repeat with the first attempt's stored answer instead of running it again
    /// (a second deployment record, a transition refused as already made). A DELETE whose
    /// answer was lost is not repeated: its repeat would answer 404 for what it deleted.
    ///
    /// # Errors
    /// `CallError` with the API's message and hint for non-2xx answers.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(String, reqwest::header::HeaderMap), CallError> {
        let keyed = method == reqwest::Method::POST;
        self.call(method, path, body, keyed).await
    }

    /// `raw` for a POST whose repeat the API itself makes harmless because the request names
    /// its own identity: a lock claim's holder id (a repeated acquire keeps its place or renews
    /// its own lease; a heartbeat renews it again). It goes without an `Idempotency-Key`, so a
    /// repeat answers the lock as it is now, and costs the API no stored answer: `clodo deploy`
    /// asks again every few seconds while it waits in the queue.
    ///
    /// # Errors
    /// As `raw`.
    pub async fn send_repeatable<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CallError> {
        let body = encode(body)?;
        let (text, _) = self
            .call(reqwest::Method::POST, path, Some(&body), false)
            .await?;
        decode(path, &text)
    }

    /// `raw` with the key decided by the caller.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        keyed: bool,
    ) -> Result<(String, reqwest::header::HeaderMap), CallError> {
        let key = keyed.then(|| format!("clodo-cli-{}", uuid::Uuid::new_v4().simple()));
        let repeatable = method != reqwest::Method::DELETE;
        let mut attempt = 1;
        loop {
            let outcome = self
                .raw_once(method.clone(), path, body, key.as_deref())
                .await;
            let failed = match outcome {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            match failed.wait(repeatable) {
                Some(wait) if attempt < ATTEMPTS => {
                    tokio::time::sleep(wait * attempt).await;
                    attempt += 1;
                }
                _ => {
                    let mut error = failed.into_error();
                    if attempt > 1 {
                        error
                            .message
                            .push_str(&format!(" (after {attempt} attempts)"));
                    }
                    return Err(error);
                }
            }
        }
    }

    /// One attempt of `raw`.
    async fn raw_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(String, reqwest::header::HeaderMap), Attempt> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.login.api_url))
            .bearer_auth(&self.login.token);
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| {
            let error = CallError {
                status: None,
                code: CliCode::ApiUnreachable.into(),
                message: format!("cannot reach {}: {e}", self.login.api_url),
            };
            if e.is_connect() {
                Attempt::NotSent(error)
            } else {
                Attempt::Lost(error)
            }
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| {
            Attempt::Lost(CallError {
                status: Some(status.as_u16()),
                code: CliCode::ApiUnexpectedAnswer.into(),
                message: format!("the answer was cut off: {e}"),
            })
        })?;
        if status.is_success() {
            return Ok((text, headers));
        }
        // The API's typed error body; anything else (a proxy's page) is shown as it came.
        match serde_json::from_str::<crate::api::ErrorBody>(&text) {
            Ok(crate::api::ErrorBody { error }) => {
                let in_progress = error.code == crate::api::ErrorCode::Conflict
                    && idempotency_key.is_some()
                    && headers.contains_key(reqwest::header::RETRY_AFTER);
                let mut message = format!(
                    "{} ({}): {}",
                    error.code.as_str(),
                    status.as_u16(),
                    error.message
                );
                if let Some(hint) = error.hint {
                    message.push_str(&format!("\nhint: {hint}"));
                }
                let error = CallError {
                    status: Some(status.as_u16()),
                    code: Code::Api(error.code),
                    message,
                };
                Err(if in_progress {
                    Attempt::KeyInProgress(error)
                } else {
                    Attempt::Refused(error)
                })
            }
            Err(_) => {
                let error = CallError {
                    status: Some(status.as_u16()),
                    code: CliCode::ApiUnexpectedAnswer.into(),
                    message: format!("error ({}): {text}", status.as_u16()),
                };
                Err(if status.is_server_error() {
                    Attempt::NotTheApi(error)
                } else {
                    Attempt::Refused(error)
                })
            }
        }
    }

    /// Sends a typed request body (a type of `crate::api::contract`) and parses the answer as
    /// the route's typed response.
    ///
    /// # Errors
    /// As `raw`, or when the answer does not have the contract's shape.
    pub async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let body = body.map(encode).transpose()?;
        let (text, _) = self.raw(method, path, body.as_ref()).await?;
        decode(path, &text)
    }

    /// `GET path`, parsed as the route's typed response.
    ///
    /// # Errors
    /// As `send`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        self.send::<(), T>(reqwest::Method::GET, path, None).await
    }
}

/// A typed request body as JSON.
fn encode<B: Serialize + ?Sized>(body: &B) -> Result<Value, CallError> {
    serde_json::to_value(body).map_err(|e| CallError {
        status: None,
        code: CliCode::BadInput.into(),
        message: format!("cannot encode the request body: {e}"),
    })
}

/// A 2xx answer's text as the route's typed response.
fn decode<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, CallError> {
    // An empty answer (204) reads as JSON `null`, which `()` and `Option` accept.
    let text = if text.is_empty() { "null" } else { text };
    serde_json::from_str(text).map_err(|e| CallError {
        status: None,
        code: CliCode::ContractMismatch.into(),
        message: format!(
            "the API's answer to {path} does not match this clodo version's contract: {e}"
        ),
    })
}

/// Runs an async command body on a fresh runtime and maps the outcome to the exit code:
/// 0 success, 1 the API refused or failed, 2 bad local setup (no login, bad arguments).
pub fn run<F>(fut: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), Failure>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errors::print(
                CliCode::LocalIo,
                &format!("cannot start the async runtime: {e}"),
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            errors::print(failure.code(), failure.message());
            failure.exit_code()
        }
    }
}

/// Why a command failed, which decides its exit code and its troubleshooting code.
#[derive(Debug)]
pub enum Failure {
    /// A local problem (exit 2): a missing or wrong argument, file or variable (`bad_input`).
    Setup(String),
    /// A local problem (exit 2) with its own troubleshooting code.
    Local(CliCode, String),
    /// The API refused or failed, or the outcome was a failure (exit 1).
    Api(CallError),
}

impl Failure {
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Failure::Setup(m) | Failure::Local(_, m) => m,
            Failure::Api(e) => &e.message,
        }
    }

    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Failure::Setup(_) => CliCode::BadInput.into(),
            Failure::Local(code, _) => (*code).into(),
            Failure::Api(e) => e.code,
        }
    }

    #[must_use]
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Setup(_) | Failure::Local(..) => ExitCode::from(2),
            Failure::Api(_) => ExitCode::FAILURE,
        }
    }

    /// A failure of the command's outcome (exit 1) with a CLI code, e.g. a rollout that failed.
    #[must_use]
    pub fn outcome(code: CliCode, message: String) -> Self {
        Failure::Api(CallError {
            status: None,
            code: code.into(),
            message,
        })
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Api(e)
    }
}

/// The client for the resolved login.
///
/// # Errors
/// `Setup` when no token is configured.
pub fn client() -> Result<Client, Failure> {
    resolve()
        .map(Client::new)
        .map_err(|m| Failure::Local(CliCode::NotLoggedIn, m))
}

/// Prints a value as pretty JSON (for `--json`).
pub fn print_json(v: &Value) {
    print_typed(v);
}

/// Prints any serialisable answer (a contract type) as pretty JSON (for `--json`).
pub fn print_typed<T: Serialize + ?Sized>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// What a command that changes something without a typed answer prints: `{"<done>": subject}`
/// with `--json` (e.g. `{"deleted":"chn_…"}`), else the human line.
pub fn print_done(json: bool, done: &str, subject: &str, human: &str) {
    if json {
        print_json(&serde_json::json!({ done: subject }));
    } else {
        println!("{human}");
    }
}

/// Formats Unix milliseconds as UTC RFC 3339 for human output.
#[must_use]
pub fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map_or_else(
            || "-".into(),
            |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        )
}

/// Percent-encodes one query or path segment.
#[must_use]
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    //! `Client::raw`'s repeats, against a loopback server that answers from a script.

    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One request as the server saw it: its request line and `Idempotency-Key`.
    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        line: String,
        key: Option<String>,
    }

    /// Serves `answers` in order (status, content type, body), one per connection; returns
    /// the client for it and what it saw.
    async fn serve(
        answers: Vec<(u16, &'static str, &'static str)>,
    ) -> (Client, Arc<Mutex<Vec<Seen>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for (status, kind, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap() == 0 {
                        break;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
                };
                let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
                let mut rest = vec![0u8; length];
                socket.read_exact(&mut rest).await.unwrap();
                log.lock().unwrap().push(Seen {
                    line: head.lines().next().unwrap_or("").to_owned(),
                    key: header("idempotency-key"),
                });
                let extra = if status == 409 {
                    "retry-after: 2\r\n"
                } else {
                    ""
                };
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (Client::new(login_at(url)), seen)
    }

    fn login_at(api_url: String) -> Login {
        Login {
            api_url,
            token: "t".into(),
        }
    }

    const PROXY_503: (u16, &str, &str) = (503, "text/plain", "Your worker restarted mid-request.");
    const API_503: (u16, &str, &str) = (
        503,
        "application/json",
        r#"{"error":{"code":"unavailable","message":"the database is busy"}}"#,
    );
    const IN_PROGRESS: (u16, &str, &str) = (
        409,
        "application/json",
        r#"{"error":{"code":"conflict","message":"a request with this Idempotency-Key is still being processed"}}"#,
    );
    const CREATED: (u16, &str, &str) = (201, "application/json", r#"{"id":"dep_1"}"#);

    #[tokio::test]
    async fn a_post_answered_by_a_proxy_is_repeated_with_the_same_key() {
        let (api, seen) = serve(vec![PROXY_503, CREATED]).await;
        let (text, _) = api
            .raw(
                reqwest::Method::POST,
                "/api/v1/deployments",
                Some(&serde_json::json!({})),
            )
            .await
            .unwrap();
        assert_eq!(text, CREATED.2);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let key = seen[0].key.clone().expect("a POST carries a key");
        assert!(key.starts_with("clodo-cli-"), "{key}");
        assert_eq!(
            seen[1].key.as_deref(),
            Some(key.as_str()),
            "the repeat keeps its key"
        );
    }

    #[tokio::test]
    async fn two_posts_carry_two_keys_and_reads_and_lock_claims_carry_none() {
        let (api, seen) = serve(vec![CREATED, CREATED, CREATED, PROXY_503, CREATED]).await;
        for method in [
            reqwest::Method::POST,
            reqwest::Method::POST,
            reqwest::Method::GET,
        ] {
            api.raw(method, "/x", None).await.unwrap();
        }
        let claim = serde_json::json!({ "holder_id": "h" });
        let answer: Value = api.send_repeatable("/lock/acquire", &claim).await.unwrap();
        assert_eq!(answer["id"], "dep_1");
        let seen = seen.lock().unwrap().clone();
        assert_ne!(seen[0].key, seen[1].key);
        assert!(seen[0].key.is_some() && seen[1].key.is_some());
        assert_eq!(seen[2].key, None);
        // The claim was repeated after the proxy's 503, without a key both times.
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!((seen[3].key.clone(), seen[4].key.clone()), (None, None));
    }

    #[tokio::test]
    async fn a_delete_answered_by_a_proxy_is_not_repeated() {
        let (api, seen) = serve(vec![PROXY_503, CREATED]).await;
        let error = api
            .raw(reqwest::Method::DELETE, "/x", None)
            .await
            .unwrap_err();
        assert_eq!(error.code, CliCode::ApiUnexpectedAnswer.into());
        assert_eq!(error.status, Some(503));
        assert!(!error.message.contains("attempts"), "{}", error.message);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_apis_own_errors_are_final() {
        let (api, seen) = serve(vec![API_503, CREATED]).await;
        let error = api.raw(reqwest::Method::GET, "/x", None).await.unwrap_err();
        assert_eq!(error.code, Code::Api(crate::api::ErrorCode::Unavailable));
        assert!(
            error.message.contains("the database is busy"),
            "{}",
            error.message
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_proxy_that_keeps_failing_is_reported_after_three_attempts() {
        let (api, seen) = serve(vec![PROXY_503, PROXY_503, PROXY_503, CREATED]).await;
        let error = api.raw(reqwest::Method::PUT, "/x", None).await.unwrap_err();
        assert_eq!(error.code, CliCode::ApiUnexpectedAnswer.into());
        assert!(
            error.message.ends_with("(after 3 attempts)"),
            "{}",
            error.message
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_keyed_post_still_running_is_asked_again_for_its_answer() {
        let (api, seen) = serve(vec![IN_PROGRESS, CREATED]).await;
        let (text, _) = api.raw(reqwest::Method::POST, "/x", None).await.unwrap();
        assert_eq!(text, CREATED.2);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].key, seen[1].key);
    }

    #[tokio::test]
    async fn an_answer_that_never_comes_is_given_up_after_three_attempts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held = Arc::new(Mutex::new(0));
        let count = held.clone();
        tokio::spawn(async move {
            let mut sockets = Vec::new();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                *count.lock().unwrap() += 1;
                sockets.push(socket);
            }
        });
        let api = Client::with_timeouts(
            login_at(url),
            std::time::Duration::from_secs(1),
            std::time::Duration::from_millis(200),
        );
        let error = api.raw(reqwest::Method::GET, "/x", None).await.unwrap_err();
        assert_eq!(error.code, CliCode::ApiUnreachable.into());
        assert!(
            error.message.ends_with("(after 3 attempts)"),
            "{}",
            error.message
        );
        assert_eq!(*held.lock().unwrap(), 3);
    }

    #[tokio::test]
    async fn a_refused_connection_is_tried_three_times_then_reported() {
        // A port that was just free: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = Client::new(login_at(format!("http://127.0.0.1:{port}")));
        let error = api
            .raw(reqwest::Method::DELETE, "/x", None)
            .await
            .unwrap_err();
        assert_eq!(error.code, CliCode::ApiUnreachable.into());
        assert!(
            error.message.ends_with("(after 3 attempts)"),
            "{}",
            error.message
        );
    }
}
