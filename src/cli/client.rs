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

impl Client {
    #[must_use]
    pub fn new(login: Login) -> Self {
        Self {
            http: reqwest::Client::new(),
            login,
        }
    }

    /// The control plane's URL and token this client uses.
    #[must_use]
    pub fn login(&self) -> &Login {
        &self.login
    }

    /// Sends a request and returns the body text and headers of a 2xx answer.
    ///
    /// # Errors
    /// `CallError` with the API's message and hint for non-2xx answers.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(String, reqwest::header::HeaderMap), CallError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.login.api_url))
            .bearer_auth(&self.login.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| CallError {
            status: None,
            code: CliCode::ApiUnreachable.into(),
            message: format!("cannot reach {}: {e}", self.login.api_url),
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| CallError {
            status: Some(status.as_u16()),
            code: CliCode::ApiUnexpectedAnswer.into(),
            message: e.to_string(),
        })?;
        if status.is_success() {
            return Ok((text, headers));
        }
        // The API's typed error body; anything else (a proxy's page) is shown as it came.
        let (code, message) = match serde_json::from_str::<crate::api::ErrorBody>(&text) {
            Ok(crate::api::ErrorBody { error }) => {
                let mut message = format!(
                    "{} ({}): {}",
                    error.code.as_str(),
                    status.as_u16(),
                    error.message
                );
                if let Some(hint) = error.hint {
                    message.push_str(&format!("\nhint: {hint}"));
                }
                (Code::Api(error.code), message)
            }
            Err(_) => (
                CliCode::ApiUnexpectedAnswer.into(),
                format!("error ({}): {text}", status.as_u16()),
            ),
        };
        Err(CallError {
            status: Some(status.as_u16()),
            code,
            message,
        })
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
        let body = body
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| CallError {
                status: None,
                code: CliCode::BadInput.into(),
                message: format!("cannot encode the request body: {e}"),
            })?;
        let (text, _) = self.raw(method, path, body.as_ref()).await?;
        // An empty answer (204) reads as JSON `null`, which `()` and `Option` accept.
        let text = if text.is_empty() {
            "null"
        } else {
            text.as_str()
        };
        serde_json::from_str(text).map_err(|e| CallError {
            status: None,
            code: CliCode::ContractMismatch.into(),
            message: format!(
                "the API's answer to {path} does not match this clodo version's contract: {e}"
            ),
        })
    }

    /// `GET path`, parsed as the route's typed response.
    ///
    /// # Errors
    /// As `send`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        self.send::<(), T>(reqwest::Method::GET, path, None).await
    }
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
