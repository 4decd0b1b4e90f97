//! `clodo sandbox`: a local Cloudflare API v4 subset that real wrangler deploys to.
//!
//! State is one in-memory model (`state::State`) behind a lock, seeded from JSON and optionally
//! persisted after every mutation. `api`, `workers` and `resources` answer the v4 endpoints;
//! `server` adds fault injection, the request log and the `/__sandbox/...` admin endpoints.
//! Pure decisions (auth, pagination, analytics, faults, multipart) live in their own modules.
//! See `docs/sandbox.md`.

mod analytics;
mod api;
mod auth;
mod d1;
mod emulator;
mod error;
mod faults;
mod files;
mod multipart;
mod pages;
mod pagination;
mod resources;
mod rulesets;
mod server;
mod state;
mod workers;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::oneshot;

pub use analytics::{AnalyticsModel, Health, HealthPatch};
pub use error::SandboxError;
pub use faults::{FaultAction, FaultRule};
pub use server::LogEntry;
pub use state::State;

/// Arguments of `clodo sandbox`.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Seed JSON file (accounts, tokens, zones, resources, scripts); see docs/sandbox.md.
    /// Repeat it to combine seeds: their lists are concatenated.
    #[arg(long, value_name = "FILE")]
    pub seed: Vec<PathBuf>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8788)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Directory to persist state in; a state saved there wins over the seed.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Add this fixed latency to every API request.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Add a fault rule, `KIND[,key=value...]` (repeatable). KIND is latency, random_latency,
    /// rate_limit, server_error, drop or timeout; keys: path (glob), method, probability, times,
    /// ms, min_ms, max_ms, retry_after, status. Example: `rate_limit,retry_after=2,times=3`.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
}

/// Where the initial state comes from.
#[derive(Debug, Clone, Default)]
pub enum Seed {
    /// Nothing: no accounts, no tokens.
    #[default]
    Empty,
    /// A seed file.
    File(PathBuf),
    /// A seed given inline (tests build seeds as `serde_json::json!`).
    Json(serde_json::Value),
}

/// How to start a sandbox in-process.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub seed: Seed,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub state_dir: Option<PathBuf>,
    pub faults: Vec<FaultRule>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            seed: Seed::Empty,
            host: "127.0.0.1".into(),
            port: 0,
            state_dir: None,
            faults: vec![],
        }
    }
}

impl SandboxOptions {
    /// A sandbox on a free loopback port seeded with this JSON.
    pub fn with_seed_json(seed: serde_json::Value) -> Self {
        SandboxOptions {
            seed: Seed::Json(seed),
            ..Default::default()
        }
    }
}

/// A sandbox serving in the background; dropping it stops it.
pub struct RunningSandbox {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSandbox {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT/client/v4`, the value for `CLOUDFLARE_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }

    /// `http://HOST:PORT/__sandbox`, the root of the admin endpoints.
    pub fn admin_url(&self) -> String {
        format!("http://{}/__sandbox", self.addr)
    }

    /// Stops accepting, closes open connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The API base URL of a sandbox listening on `addr`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}/client/v4")
}

/// Loads the state, binds the port and serves in a background task.
pub async fn start(opts: SandboxOptions) -> Result<RunningSandbox, SandboxError> {
    let state = match &opts.seed {
        Seed::Json(value) => {
            let persisted = opts.state_dir.as_ref().map(|d| d.join("state.json"));
            if persisted.as_ref().is_some_and(|p| p.exists()) {
                state::Store::load(None, opts.state_dir.as_deref())?
            } else {
                let mut st: State = serde_json::from_value(value.clone())
                    .map_err(|e| SandboxError::Startup(format!("invalid seed: {e}")))?;
                st.normalize()?;
                st
            }
        }
        Seed::File(path) => state::Store::load(Some(path), opts.state_dir.as_deref())?,
        Seed::Empty => state::Store::load(None, opts.state_dir.as_deref())?,
    };
    for rule in &opts.faults {
        rule.validate()?;
    }
    let mut faults = opts.faults.clone();
    for rule in &mut faults {
        if rule.id.is_empty() {
            rule.id = state::hex_id();
        }
    }
    let listener = tokio::net::TcpListener::bind((opts.host.as_str(), opts.port))
        .await
        .map_err(|e| {
            SandboxError::Startup(format!("cannot listen on {}:{}: {e}", opts.host, opts.port))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| SandboxError::Startup(e.to_string()))?;
    let shared = Arc::new(server::Shared::new(
        state::Store::new(state, opts.state_dir.clone()),
        faults,
    ));
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(server::serve(listener, shared, rx));
    Ok(RunningSandbox {
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}

fn options_from_args(args: &SandboxArgs) -> Result<SandboxOptions, String> {
    let mut faults = Vec::new();
    if let Some(ms) = args.latency_ms {
        faults.push(faults::parse_cli_rule(&format!("latency,ms={ms}"))?);
    }
    for spec in &args.faults {
        faults.push(faults::parse_cli_rule(spec)?);
    }
    Ok(SandboxOptions {
        seed: match args.seed.as_slice() {
            [] => Seed::Empty,
            [one] => Seed::File(one.clone()),
            many => Seed::Json(merge_seed_files(many).map_err(|e| e.to_string())?),
        },
        host: args.host.clone(),
        port: args.port,
        state_dir: args.state.clone(),
        faults,
    })
}

/// `clodo sandbox`: serves until Ctrl-C (or SIGTERM).
pub fn run_cli(args: SandboxArgs) -> ExitCode {
    let opts = match options_from_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let sandbox = match start(opts).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Whoever started us may stop reading stdout; that must not take the server down.
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "clodo sandbox: Cloudflare API on {}",
            sandbox.base_url()
        );
        let _ = writeln!(
            out,
            "clodo sandbox: admin endpoints on {}",
            sandbox.admin_url()
        );
        let _ = out.flush();
        wait_for_stop_signal().await;
        sandbox.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Reads several seed files into one: top-level lists are concatenated in order; for objects
/// (such as `analytics`) the first file's keys win and later files add the keys it lacks.
fn merge_seed_files(paths: &[PathBuf]) -> Result<serde_json::Value, SandboxError> {
    let mut merged = serde_json::Map::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SandboxError::Startup(format!("{}: {e}", path.display())))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| SandboxError::Startup(format!("{}: invalid seed: {e}", path.display())))?;
        let serde_json::Value::Object(obj) = value else {
            return Err(SandboxError::Startup(format!(
                "{}: a seed is a JSON object",
                path.display()
            )));
        };
        for (key, v) in obj {
            match (merged.get_mut(&key), v) {
                (None, v) => {
                    merged.insert(key, v);
                }
                (Some(serde_json::Value::Array(have)), serde_json::Value::Array(more)) => {
                    have.extend(more);
                }
                (Some(serde_json::Value::Object(have)), serde_json::Value::Object(more)) => {
                    for (k, x) in more {
                        have.entry(k).or_insert(x);
                    }
                }
                (Some(_), _) => {}
            }
        }
    }
    Ok(serde_json::Value::Object(merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_flags_become_fault_rules() {
        let args = SandboxArgs {
            seed: Vec::new(),
            port: 0,
            host: "127.0.0.1".into(),
            state: None,
            latency_ms: Some(50),
            faults: vec!["server_error,status=503,times=1".into()],
        };
        let opts = options_from_args(&args).unwrap();
        assert_eq!(opts.faults.len(), 2);
        assert_eq!(opts.faults[0].action, FaultAction::Latency { ms: 50 });
        assert_eq!(
            opts.faults[1].action,
            FaultAction::ServerError { status: 503 }
        );
        let bad = SandboxArgs {
            faults: vec!["nonsense".into()],
            ..args
        };
        assert!(options_from_args(&bad).is_err());
    }
}
