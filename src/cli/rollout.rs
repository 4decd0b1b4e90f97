//! Following and steering a deployment's rollout: `clodo status`, `clodo promote`, `clodo pause`,
//! `clodo resume`, `clodo abort`, and the live progress `clodo deploy` prints.

use std::process::ExitCode;

use clap::Args;
use reqwest::Method;

use super::client::{self, enc, Client, Failure};
use super::deployment::{say, POLL_EVERY};
use super::errors::CliCode;
use super::output::Progress;
use crate::api::contract::deployments::DeploymentPage;
use crate::api::contract::rollouts::{
    AbStatus, Command, LogEntry, Phase, PromoteVersion, RolloutStatus,
};
use crate::rollout::phase_word;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The deployment (its id, as `clodo deploy` and `clodo history` print it); without it,
    /// the newest deployment of `--project`/`--env`.
    pub deployment: Option<String>,
    /// With `--env` and no deployment: the project's slug (default: `project` of ./clodo.toml).
    #[arg(long)]
    pub project: Option<String>,
    /// With no deployment: the environment whose newest deployment to show.
    #[arg(long, short = 'e')]
    pub env: Option<String>,
    /// Keep printing progress until the rollout ends.
    #[arg(long)]
    pub follow: bool,
    /// Print the status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SteerArgs {
    /// The deployment whose rollout to steer.
    pub deployment: String,
    /// Print the resulting status as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn path(id: &str) -> String {
    format!("/api/v1/deployments/{}/rollout", enc(id))
}

/// The project slug of ./clodo.toml (`project = "..."`), for `clodo status --env E`.
fn project_of_cwd() -> Option<String> {
    crate::config::load_project(std::path::Path::new("clodo.toml"))
        .ok()
        .map(|p| p.project)
}

/// The deployment named, or the newest one of the project's environment.
async fn which_deployment(api: &Client, args: &StatusArgs) -> Result<String, Failure> {
    if let Some(id) = &args.deployment {
        return Ok(id.clone());
    }
    let (Some(env), Some(project)) = (&args.env, args.project.clone().or_else(project_of_cwd))
    else {
        return Err(Failure::Setup(
            "name a deployment, or pass --env (and --project outside a clodo.toml directory)"
                .into(),
        ));
    };
    let page: DeploymentPage = api
        .get(&format!(
            "/api/v1/deployments?limit=1&project={}&environment={}",
            enc(&project),
            enc(env)
        ))
        .await?;
    page.items
        .into_iter()
        .next()
        .map(|d| d.id)
        .ok_or_else(|| Failure::Setup(format!("{project}/{env} has no deployment yet")))
}

pub fn status(args: StatusArgs) -> ExitCode {
    super::output::machine_output(args.json);
    client::run(async move {
        let api = client::client()?;
        let id = which_deployment(&api, &args).await?;
        if args.follow {
            let end = follow(&api, &id, 0).await?;
            if args.json {
                print_json(&end);
            }
            return outcome(&id, &end);
        }
        let s: RolloutStatus = api.get(&path(&id)).await?;
        if args.json {
            print_json(&s);
        } else {
            print_summary(&s);
        }
        Ok(())
    })
}

/// `clodo promote|pause|resume|abort DEPLOYMENT`.
pub fn steer(command: Command, args: SteerArgs) -> ExitCode {
    steer_with(command, None, args)
}

/// `clodo promote DEPLOYMENT --version V`: keeps one of an A/B test's two versions (the
/// server refuses any other, and `--version` on a rollout that is not an A/B test).
pub fn promote_version(version: String, args: SteerArgs) -> ExitCode {
    steer_with(Command::Promote, Some(version), args)
}

fn steer_with(command: Command, version: Option<String>, args: SteerArgs) -> ExitCode {
    let command = command.as_str();
    client::run(async move {
        let api = client::client()?;
        let body = version.clone().map(|version| PromoteVersion { version });
        let s: RolloutStatus = api
            .send(
                Method::POST,
                &format!("{}/{command}", path(&args.deployment)),
                body.as_ref(),
            )
            .await?;
        if args.json {
            print_json(&s);
        } else {
            let kept = version.map(|v| format!(" (keep {v})")).unwrap_or_default();
            say(&format!(
                "✓ {command}{kept} accepted for deployment {}: rollout {}",
                args.deployment,
                phase_word(s.phase)
            ));
        }
        Ok(())
    })
}

/// `--json`: the status as the API answered it.
fn print_json(s: &RolloutStatus) {
    client::print_json(&serde_json::to_value(s).unwrap_or_default());
}

fn print_summary(s: &RolloutStatus) {
    let traffic = s.traffic_percent.map_or("none yet".to_owned(), |p| {
        format!("{p}% on the new versions")
    });
    let steps: Vec<String> = s.steps.iter().map(|p| format!("{p}%")).collect();
    println!(
        "deployment {}  {} rollout  {}",
        s.deployment_id,
        s.strategy,
        phase_word(s.phase)
    );
    println!(
        "  steps {}  (at step {})  traffic: {traffic}",
        steps.join(" → "),
        s.step + 1
    );
    if let Some(reason) = &s.reason {
        println!("  reason: {reason}");
    }
    for svc in &s.services {
        println!(
            "  {:<12} {}  {} → {}",
            svc.service,
            svc.script,
            svc.previous_version.as_deref().unwrap_or("(new)"),
            svc.new_version
        );
    }
    for m in &s.analysis {
        let measured = if m.background {
            "background".to_owned()
        } else {
            format!("{}/{} this step", m.measurements_this_step, m.count)
        };
        println!(
            "  analysis {} ({measured}): limits per service: {} failed, {} inconclusive, {} errors in a row",
            m.name, m.failure_limit, m.inconclusive_limit, m.consecutive_error_limit
        );
        for v in &m.services {
            println!(
                "    {:<12} {} ok, {} failed, {} inconclusive, {} errors (streak {}); last: {}",
                v.service,
                v.successful,
                v.failed,
                v.inconclusive,
                v.errors,
                v.error_streak,
                v.last_message.as_deref().unwrap_or("none")
            );
        }
    }
    if let Some(ab) = &s.ab {
        print_ab(&s.deployment_id, ab);
    }
    for entry in s.log.iter().rev().take(8).rev() {
        println!("  {}", line(entry));
    }
}

/// The A/B test's block of `clodo status`: window, per-version values, winner, decision.
fn print_ab(id: &str, ab: &AbStatus) {
    println!(
        "  A/B test: {}% on the new version, window {}s of {}s{}",
        ab.split,
        ab.elapsed_secs.min(ab.window_secs),
        ab.window_secs,
        if ab.auto_promote {
            ", auto_promote"
        } else {
            ""
        }
    );
    let Some(r) = &ab.result else {
        println!("  results: when the window ends");
        return;
    };
    let shown = |v: Option<f64>| v.map_or("unmeasured".to_owned(), |x| format!("{x:.4}"));
    println!("  {:<16} {:>14} {:>14}", "metric", "current", "new");
    println!(
        "  {:<16} {:>14} {:>14}",
        "(version)",
        short_id(&r.control_version),
        short_id(&r.candidate_version)
    );
    for m in &r.metrics {
        println!(
            "  {:<16} {:>14} {:>14}",
            m.name,
            shown(m.control),
            shown(m.candidate)
        );
    }
    println!(
        "  winner: {}",
        r.winner.as_deref().unwrap_or("no clear winner")
    );
    println!("  reason: {}", r.reason);
    match &ab.kept {
        Some(v) => println!("  kept: {v}"),
        None => println!(
            "  recommended: {} — `clodo promote {id} --version {}`",
            r.recommended, r.recommended
        ),
    }
}

fn short_id(v: &str) -> &str {
    v.get(..8).unwrap_or(v)
}

/// An A/B test that decided and waits for a person to keep a version.
fn awaiting_decision(s: &RolloutStatus) -> bool {
    !s.phase.is_terminal()
        && s.ab
            .as_ref()
            .is_some_and(|a| a.result.is_some() && a.kept.is_none())
}

fn line(entry: &LogEntry) -> String {
    format!(
        "{} {:<12} {}",
        client::time(Some(entry.at_ms)),
        entry.kind,
        entry.message
    )
}

/// Prints the rollout's log as it grows until it has ended and its end is recorded on the
/// deployment; returns the last status. Listens on the live-status WebSocket; polls when that
/// is not possible (e.g. a proxy refuses upgrades).
pub(super) async fn follow(api: &Client, id: &str, seen: u64) -> Result<RolloutStatus, Failure> {
    let socket = connect_live(api, id, false).await;
    follow_on(api, id, seen, socket).await
}

/// As [`follow`], on a live-status socket connected before (or the reason it could not be).
pub(super) async fn follow_on(
    api: &Client,
    id: &str,
    seen: u64,
    socket: Result<LiveSocket, String>,
) -> Result<RolloutStatus, Failure> {
    let mut seen = seen;
    // Drawn from the first status on, when the number of steps is known.
    let mut progress = None;
    match socket {
        Ok(socket) => {
            if let Some(end) = follow_live(socket, id, &mut seen, &mut progress).await {
                return Ok(end);
            }
        }
        Err(why) => say(&format!(
            "  following by polling (live status unavailable: {why})"
        )),
    }
    follow_polling(api, id, seen, &mut progress).await
}

/// Prints the log entries not seen yet and moves the indicator to the rollout's step.
fn print_new(s: &RolloutStatus, seen: &mut u64, progress: &mut Option<Progress>) {
    for entry in &s.log {
        if entry.seq > *seen {
            say(&format!("  {}", line(entry)));
            *seen = entry.seq;
        }
    }
    let steps = u64::try_from(s.steps.len()).unwrap_or(0);
    let progress = progress.get_or_insert_with(|| Progress::bar(steps, "rollout"));
    progress.set_length(steps);
    let reached = if s.step_applied { s.step + 1 } else { s.step };
    progress.set_position(u64::try_from(reached).unwrap_or(0));
    let traffic = s
        .traffic_percent
        .map(|t| format!(", {t}% on the new versions"))
        .unwrap_or_default();
    progress.set_message(&format!("{}{traffic}", phase_word(s.phase)));
}

/// Ended, and the end is recorded on the deployment.
fn ended(s: &RolloutStatus) -> bool {
    (s.phase.is_terminal() && s.recorded) || awaiting_decision(s)
}

fn paused_hint(id: &str) {
    say(&format!(
        "  paused: `clodo resume {id}`, `clodo promote {id}` or `clodo abort {id}` (Ctrl-C leaves it paused; the rollout does not need this process)"
    ));
}

/// A connected live-status WebSocket.
pub(super) type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects the deployment's live-status WebSocket. `wait`: before its rollout has started
/// (the server then sends the start's status first), so `clodo deploy` connects while it
/// uploads and the upgrade's round trip is not between the start and the first status.
pub(super) async fn connect_live(api: &Client, id: &str, wait: bool) -> Result<LiveSocket, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let login = api.login();
    let base = &login.api_url;
    let ws_base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(format!("unexpected API URL {base}"));
    };
    let query = if wait { "?wait=true" } else { "" };
    let mut request = format!("{ws_base}{}/live{query}", path(id))
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let auth = format!("Bearer {}", login.token)
        .parse()
        .map_err(|_| "the token is not a valid header value".to_owned())?;
    request.headers_mut().insert("authorization", auth);
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

/// The end when the socket delivered it; `None` when it closed before (the caller polls for
/// the rest).
async fn follow_live(
    mut socket: LiveSocket,
    id: &str,
    seen: &mut u64,
    progress: &mut Option<Progress>,
) -> Option<RolloutStatus> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    say("  following live (WebSocket)");
    let mut was_paused = false;
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(t)) => t.to_string(),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Ok(s) = serde_json::from_str::<RolloutStatus>(&text) else {
            continue;
        };
        print_new(&s, seen, progress);
        if ended(&s) {
            return Some(s);
        }
        let paused = s.phase == Phase::Paused;
        if paused && !was_paused {
            paused_hint(id);
        }
        was_paused = paused;
    }
    None
}

async fn follow_polling(
    api: &Client,
    id: &str,
    mut seen: u64,
    progress: &mut Option<Progress>,
) -> Result<RolloutStatus, Failure> {
    let mut was_paused = false;
    loop {
        let s: RolloutStatus = api.get(&path(id)).await?;
        print_new(&s, &mut seen, progress);
        if ended(&s) {
            return Ok(s);
        }
        let paused = s.phase == Phase::Paused;
        if paused && !was_paused {
            paused_hint(id);
        }
        was_paused = paused;
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The exit status for how a rollout ended: success only when every service serves its new
/// version.
pub(super) fn outcome(id: &str, s: &RolloutStatus) -> Result<(), Failure> {
    if let Some(r) = s.ab.as_ref().and_then(|a| a.result.as_ref()) {
        if awaiting_decision(s) {
            say(&format!(
                "✓ A/B test of deployment {id} ended: {}\n  keep the recommended version with `clodo promote {id} --version {}` (or the other one); `clodo status {id}` shows the results",
                r.reason, r.recommended
            ));
            return Ok(());
        }
    }
    if s.phase == Phase::Succeeded {
        super::output::success(&format!("✓ deployment {id} succeeded"));
        return Ok(());
    }
    Err(Failure::outcome(
        CliCode::DeploymentFailed,
        format!(
            "deployment {id} {}: {}",
            phase_word(s.phase),
            s.reason.as_deref().unwrap_or("see `clodo status`")
        ),
    ))
}
