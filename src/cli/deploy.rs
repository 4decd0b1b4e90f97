//! `clodo deploy`: assess, record the deployment (policies, approvals), wait for the
//! environment's lock, read what each Worker serves now, upload every service with real
//! wrangler in dependency waves, then hand the new versions to the control plane's `Rollout`
//! Durable Object and follow it. A deploy that stops on the way restores what it switched,
//! ends `failed` with the reason and frees the lock.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::json;

use super::assess::{assess_command, AssessArgs, Assessed, Format, Loaded, Unassessable};
use super::client::{self, enc, CallError, Failure};
use super::deployment::{
    acquire_lock, end_stopped, say, spawn_heartbeat, text, transition, wait_for_approvals,
    with_hint_for_missing_project, Recorded,
};
use super::rollback::{failure_text, Cloudflare};
use super::wrangler::Wrangler;
use crate::config::{DeploySettings, ProjectConfig, Strategy};
use crate::deploy::{
    self, RemoteScript, RestoreAction, ServiceSnapshot, Shipped, UploadCommand, UploadDecision,
    UploadReason,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    Immediate,
    Gradual,
    BlueGreen,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Self {
        match s {
            StrategyArg::Immediate => Strategy::Immediate,
            StrategyArg::Gradual => Strategy::Gradual,
            StrategyArg::BlueGreen => Strategy::BlueGreen,
        }
    }
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The project file listing the services.
    #[arg(long, short = 'p', default_value = "clodo.toml")]
    pub project: PathBuf,
    /// The environment (`[env.NAME]` of each wrangler config, and the control plane's).
    #[arg(long, short = 'e')]
    pub env: Option<String>,
    /// Overrides the environment's strategy from clodo.toml.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Do not ask for confirmation in a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// A message recorded on the deployment.
    #[arg(long, short = 'm')]
    pub message: Option<String>,
    /// Branch or ref (default: the current git branch), checked against branch rules.
    #[arg(long)]
    pub git_ref: Option<String>,
    /// Commit (default: the current git HEAD).
    #[arg(long)]
    pub git_sha: Option<String>,
    /// Print the final deployment as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Follow the rollout until it ends (the default).
    #[arg(long, conflicts_with = "detach")]
    pub follow: bool,
    /// Return once the rollout has started; it continues on the control plane
    /// (`clodo status ID --follow` to watch it later).
    #[arg(long)]
    pub detach: bool,
    /// Deploy even when some assessment checks could not be made (API errors, timeouts,
    /// missing read permissions); without it such checks stop the deploy.
    #[arg(long)]
    pub allow_inconclusive: bool,
}

pub fn run(args: DeployArgs) -> ExitCode {
    client::run(deploy_to_an_end(args))
}

/// How far a deploy got, for ending it when it stops on an error.
#[derive(Default)]
struct Progress {
    recorded: Option<Recorded>,
    /// What wrangler uploaded so far (some of it may serve traffic).
    uploads: Vec<Uploaded>,
    /// The same as recorded on the deployment.
    shipped: Vec<ServiceSnapshot>,
}

/// Runs the deploy; once it is recorded, any stop (a `?` anywhere on the way) ends the
/// deployment: what was switched is restored, it is recorded `failed` with the reason, and the
/// lock is freed, so nothing waits for a lease to run out.
async fn deploy_to_an_end(args: DeployArgs) -> Result<(), Failure> {
    let mut progress = Progress::default();
    let outcome = deploy(args, &mut progress).await;
    if let (Err(failure), Some(recorded)) = (&outcome, &progress.recorded) {
        let uploads = progress.uploads.clone();
        end_stopped(
            recorded,
            &failure_text(failure),
            restore(&uploads, Switched::AsServedNow),
            &progress.shipped,
        )
        .await;
    }
    outcome
}

/// One service uploaded by this deployment.
#[derive(Debug, Clone)]
pub(super) struct Uploaded {
    pub service: String,
    pub script: String,
    pub previous_version: Option<String>,
    pub new_version: String,
    pub decision: UploadDecision,
}

#[allow(clippy::too_many_lines)]
async fn deploy(args: DeployArgs, progress: &mut Progress) -> Result<(), Failure> {
    let env = args.env.clone();
    let assessed = assess_project(&args).await?;
    let project = assessed.project.clone().ok_or_else(|| {
        Failure::Setup(format!(
            "{} could not be read as a project (see the findings above)",
            args.project.display()
        ))
    })?;
    let settings = deploy_settings(&project, env.as_deref(), args.strategy)?;
    let plan = plan(&project, &assessed.loaded)?;
    let environment = env.clone().ok_or_else(|| {
        Failure::Setup("--env is required: deployments are recorded per environment".into())
    })?;
    say(&format!(
        "▸ plan: {} ({} strategy, steps {:?})",
        plan.waves
            .iter()
            .enumerate()
            .map(|(i, w)| format!("wave {}: {}", i + 1, w.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
        settings.strategy,
        settings.traffic_steps()
    ));
    if !args.yes && std::io::stdin().is_terminal() && !confirm(&project.project, &environment)? {
        return Err(Failure::Setup("not confirmed; nothing was deployed".into()));
    }

    let api = client::client()?;
    register_services(&api, &project, &environment, &assessed).await?;
    let (git_ref, git_sha) = git_identity(&args);
    let created = api
        .call(
            Method::POST,
            "/api/v1/deployments",
            Some(&json!({
                "project": project.project,
                "environment": environment,
                "strategy": settings.strategy.as_str(),
                "git_ref": git_ref,
                "git_sha": git_sha,
                "message": args.message,
            })),
        )
        .await
        .map_err(|e| with_hint_for_missing_project(e, &project.project, &environment))?;
    let deployment_id = text(&created["id"]).to_owned();
    let lock = format!(
        "/api/v1/projects/{}/environments/{}/lock",
        enc(&project.project),
        enc(&environment)
    );
    progress.recorded = Some(Recorded {
        api: api.clone(),
        id: deployment_id.clone(),
        lock: lock.clone(),
    });
    say(&format!(
        "▸ deployment {deployment_id}: {}",
        text(&created["status"])
    ));
    wait_for_approvals(&api, &deployment_id, &created).await?;

    acquire_lock(&api, &lock, &deployment_id).await?;
    transition(&api, &deployment_id, "deploying", "lock held; uploading").await?;

    let heartbeat = spawn_heartbeat(api.clone(), lock.clone(), deployment_id.clone());
    // What each Worker serves is read only now, holding the lock: a deploy that finished while
    // this one waited for approvals or the queue is what a canary splits against and what a
    // restore goes back to, never the versions the assessment saw.
    let now = match read_live(&assessed, &plan).await {
        Ok(now) => now,
        Err(e) => {
            heartbeat.abort();
            return Err(e);
        }
    };
    let uploads = upload_waves(&assessed, &now, &plan, env.as_deref()).await;
    heartbeat.abort();
    let uploads = match uploads {
        Ok(u) => u,
        Err((done, message)) => {
            say(&format!("✗ upload failed: {message}"));
            progress.shipped = snapshots(&assessed, &done);
            progress.uploads = done;
            return Err(Failure::Setup(format!("upload failed: {message}")));
        }
    };
    progress.uploads.clone_from(&uploads);
    let snapshots = snapshots(&assessed, &uploads);
    progress.shipped.clone_from(&snapshots);
    if let Err(e) = record_uploads(&api, &deployment_id, &uploads).await {
        // The stopped-deploy ending restores what took traffic and records `failed` with what
        // was shipped (so a later rollback passes over these versions).
        say(&format!(
            "✗ the control plane did not record the uploads: {}",
            e.message
        ));
        return Err(Failure::Api(e));
    }
    transition(
        &api,
        &deployment_id,
        "verifying",
        json!({ "message": "versions uploaded", "services": snapshots }),
    )
    .await?;
    // Every strategy, immediate included, goes through the deployment's Rollout object: it
    // moves the traffic (immediate: every Worker at once, in one step) and then verifies with
    // the configured health checks and analysis, rolling back on failure.
    hand_to_rollout(&api, &args, &deployment_id, &settings, &uploads, &snapshots).await
}

/// The Workers of this project as they are named in `environment` (wrangler's resolved
/// `name`), registered with the control plane before anything is deployed: the control plane
/// moves traffic only on the Workers registered for the environment. Registering or changing
/// one needs an admin; for a deployer this only confirms the config matches the registration.
async fn register_services(
    api: &client::Client,
    project: &ProjectConfig,
    environment: &str,
    assessed: &Assessed,
) -> Result<(), Failure> {
    for loaded in &assessed.loaded {
        let (Some(service), Some(script)) = (&loaded.service, &loaded.worker.name) else {
            continue;
        };
        // As clodo.toml names it (relative to the project file), not this checkout's path.
        let config_path = project
            .service(service)
            .map_or_else(|| "wrangler.toml".to_owned(), |s| s.config.clone());
        api.call(
            Method::PUT,
            &format!(
                "/api/v1/projects/{}/environments/{}/services/{}",
                enc(&project.project),
                enc(environment),
                enc(service)
            ),
            Some(&json!({ "script": script, "config_path": config_path })),
        )
        .await?;
    }
    Ok(())
}

/// Tells the control plane what this deployment uploaded; it checks each version with
/// Cloudflare (in the environment's account) before it records it, and the rollout moves
/// only recorded versions.
async fn record_uploads(
    api: &client::Client,
    deployment_id: &str,
    uploads: &[Uploaded],
) -> Result<serde_json::Value, CallError> {
    let services: Vec<serde_json::Value> = uploads
        .iter()
        .map(|u| {
            json!({
                "service": u.service,
                "version_id": u.new_version,
                "previous_version_id": u.previous_version,
                "already_live": u.decision.command == UploadCommand::Deploy,
            })
        })
        .collect();
    api.call(
        Method::POST,
        &format!("/api/v1/deployments/{}/services", enc(deployment_id)),
        Some(&json!({ "services": services })),
    )
    .await
}

/// The deployment's Rollout Durable Object moves the traffic from here on, step by step with
/// checks (immediate: one step, every Worker at once, then the checks), and rolls every
/// service back on a failure. The control plane builds the rollout from its own records (the
/// deployment's strategy, the environment's account, the recorded uploads); this sends only
/// how to roll out. This process follows it (or leaves, with `--detach`).
async fn hand_to_rollout(
    api: &client::Client,
    args: &DeployArgs,
    deployment_id: &str,
    settings: &DeploySettings,
    uploads: &[Uploaded],
    snapshots: &[ServiceSnapshot],
) -> Result<(), Failure> {
    let how = crate::rollout::RolloutSettings {
        steps: settings.steps.clone(),
        step_wait_secs: settings.step_wait_secs,
        auto_rollback: settings.auto_rollback,
        health_checks: settings.health_checks.clone(),
        analysis: settings.analysis.clone(),
    };
    let body =
        serde_json::to_value(&how).map_err(|e| Failure::Setup(format!("rollout settings: {e}")))?;
    let started = match api
        .call(
            Method::POST,
            &format!("/api/v1/deployments/{}/rollout", enc(deployment_id)),
            Some(&body),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            // Nothing took traffic through the rollout; put back what `wrangler deploy` moved.
            let restored = restore_now(uploads).await;
            transition(
                api,
                deployment_id,
                "failed",
                &format!("the rollout did not start: {}; {restored}", e.message),
            )
            .await?;
            return Err(Failure::Api(e));
        }
    };
    say(&format!(
        "▸ rollout started on the control plane ({} steps {:?}); it continues if this process exits",
        settings.strategy,
        settings.traffic_steps()
    ));
    if args.detach {
        say(&format!(
            "  detached: `clodo status {deployment_id} --follow` to watch, `clodo abort {deployment_id}` to stop"
        ));
        if args.json {
            client::print_json(
                &json!({ "deployment_id": deployment_id, "rollout": started, "services": snapshots }),
            );
        }
        return Ok(());
    }
    let end = super::rollout::follow(api, deployment_id, 0).await?;
    if args.json {
        let record = api
            .call(Method::GET, &deployment_path(deployment_id), None)
            .await?;
        client::print_json(&json!({ "deployment": record, "rollout": end, "services": snapshots }));
    }
    super::rollout::outcome(deployment_id, &end)
}

fn deployment_path(id: &str) -> String {
    format!("/api/v1/deployments/{id}")
}

/// Runs the same assessment as `clodo assess --project`; blocking findings stop here.
async fn assess_project(args: &DeployArgs) -> Result<Assessed, Failure> {
    let assess_args = AssessArgs {
        config: None,
        project: Some(args.project.clone()),
        env: args.env.clone(),
        format: Format::Human,
        json: false,
        offline: false,
        deadline_secs: 60,
        allow_inconclusive: args.allow_inconclusive,
    };
    let assessed = assess_command(&assess_args)
        .await
        .map_err(|Unassessable(m)| Failure::Setup(m))?;
    let r = &assessed.report;
    if assessed.unreachable {
        return Err(Failure::Setup(
            "the Cloudflare API could not be reached; nothing was deployed".into(),
        ));
    }
    if !r.ready {
        eprint!("{}", r.to_human(std::io::stderr().is_terminal()));
        let only_unverified = r.count(crate::assess::Severity::Error) == 0 && r.unverified > 0;
        return Err(Failure::Api(CallError {
            status: None,
            message: if only_unverified {
                "some assessment checks could not be made, so readiness is unknown; nothing was deployed (fix what the unverified findings say, or pass --allow-inconclusive to deploy anyway)".into()
            } else {
                "the assessment found blocking problems; nothing was deployed".into()
            },
        }));
    }
    say(&format!("▸ assess: {}", r.summary_line()));
    Ok(assessed)
}

fn deploy_settings(
    project: &ProjectConfig,
    env: Option<&str>,
    strategy: Option<StrategyArg>,
) -> Result<DeploySettings, Failure> {
    let settings = project.settings(env);
    let settings = match strategy {
        Some(s) => settings.with_strategy(s.into()).map_err(Failure::Setup)?,
        None => settings,
    };
    Ok(settings)
}

fn plan(project: &ProjectConfig, loaded: &[Loaded]) -> Result<deploy::WavePlan, Failure> {
    let inputs: Vec<deploy::ServiceInput> = project
        .services
        .iter()
        .filter_map(|s| {
            loaded
                .iter()
                .find(|l| l.service.as_deref() == Some(s.name.as_str()))
                .map(|l| deploy::ServiceInput::from_config(s, &l.worker))
        })
        .collect();
    deploy::plan_waves(&inputs).map_err(|e| Failure::Setup(e.to_string()))
}

fn confirm(project: &str, env: &str) -> Result<bool, Failure> {
    eprint!("Deploy {project} to {env}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Setup(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The branch and commit: flags first, else git (nothing when not in a repository).
fn git_identity(args: &DeployArgs) -> (Option<String>, Option<String>) {
    let git = |a: &[&str]| {
        std::process::Command::new("git")
            .args(a)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty() && s != "HEAD")
    };
    (
        args.git_ref
            .clone()
            .or_else(|| git(&["rev-parse", "--abbrev-ref", "HEAD"])),
        args.git_sha.clone().or_else(|| git(&["rev-parse", "HEAD"])),
    )
}

/// What one Worker serves now, read while holding the environment's lock.
#[derive(Debug, Clone, Default)]
struct ScriptNow {
    /// `None`: the Worker does not exist yet.
    remote: Option<RemoteScript>,
    /// The version serving most of the traffic (`None`: not deployed).
    live: Option<String>,
}

/// Reads, for every Worker of the plan, whether it exists, its Durable Object migration tag
/// and the version serving most of its traffic now.
async fn read_live(
    assessed: &Assessed,
    plan: &deploy::WavePlan,
) -> Result<BTreeMap<String, ScriptNow>, Failure> {
    let cf = Cloudflare::for_project(&assessed.loaded)?;
    let scripts = cf
        .scripts()
        .await
        .map_err(|e| Failure::Setup(format!("listing the account's Workers: {e}")))?;
    let mut now = BTreeMap::new();
    for name in plan.waves.iter().flatten() {
        let Some(script) = script_of(assessed, name) else {
            continue;
        };
        let Some(tag) = scripts
            .iter()
            .find(|s| s.name == script)
            .map(|s| &s.migration_tag)
        else {
            now.insert(script, ScriptNow::default());
            continue;
        };
        let history = cf
            .deployments_if_deployed(&script)
            .await
            .map_err(|e| Failure::Setup(format!("{script}: reading deployments: {e}")))?
            .unwrap_or_default();
        let live = deploy::parse_deployments(&history)
            .first()
            .and_then(|d| d.main_version().map(str::to_owned));
        let assessed_live = assessed_live_version(assessed, &script);
        if assessed_live.is_some() && assessed_live != live {
            say(&format!(
                "  {name}: the live version changed since the assessment ({} → {}); deploying over what serves now",
                assessed_live.as_deref().unwrap_or("none"),
                live.as_deref().unwrap_or("none")
            ));
        }
        now.insert(
            script,
            ScriptNow {
                remote: Some(RemoteScript {
                    migration_tag: tag.clone(),
                }),
                live,
            },
        );
    }
    Ok(now)
}

fn script_of(assessed: &Assessed, service: &str) -> Option<String> {
    assessed
        .loaded
        .iter()
        .find(|l| l.service.as_deref() == Some(service))?
        .worker
        .name
        .clone()
}

/// The version the assessment saw serving most of the traffic (only to say it changed).
fn assessed_live_version(assessed: &Assessed, script: &str) -> Option<String> {
    let remote = assessed.inventory.as_ref()?.per_script.get(script)?;
    let versions = remote.live.as_ref().ok()?.as_ref()?;
    versions
        .iter()
        .max_by(|a, b| a.percentage.total_cmp(&b.percentage))
        .map(|v| v.version_id.clone())
}

/// Uploads wave after wave; the services of a wave run side by side. On a failure, returns
/// what was uploaded so far with the reason.
async fn upload_waves(
    assessed: &Assessed,
    now: &BTreeMap<String, ScriptNow>,
    plan: &deploy::WavePlan,
    env: Option<&str>,
) -> Result<Vec<Uploaded>, (Vec<Uploaded>, String)> {
    let mut done: Vec<Uploaded> = Vec::new();
    for (i, wave) in plan.waves.iter().enumerate() {
        say(&format!("▸ wave {}: {}", i + 1, wave.join(", ")));
        let jobs: Vec<UploadJob> = wave
            .iter()
            .filter_map(|name| {
                let loaded = assessed
                    .loaded
                    .iter()
                    .find(|l| l.service.as_deref() == Some(name.as_str()))?;
                let script = loaded.worker.name.clone()?;
                let current = now.get(&script).cloned().unwrap_or_default();
                Some(UploadJob {
                    service: name.clone(),
                    previous_version: current.live,
                    decision: deploy::upload_command(
                        &loaded.worker.migrations,
                        current.remote.as_ref(),
                    ),
                    script,
                    file: loaded.file.clone(),
                    env: env.map(str::to_owned),
                })
            })
            .collect();
        let results = tokio::task::spawn_blocking(move || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = jobs
                    .into_iter()
                    .map(|job| scope.spawn(move || job.run()))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err("upload thread panicked".into()))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .await
        .map_err(|e| (done.clone(), format!("upload task: {e}")))?;
        let mut failure = None;
        for r in results {
            match r {
                Ok(u) => done.push(u),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            return Err((done, e));
        }
    }
    Ok(done)
}

struct UploadJob {
    service: String,
    script: String,
    previous_version: Option<String>,
    decision: UploadDecision,
    file: PathBuf,
    env: Option<String>,
}

impl UploadJob {
    fn run(self) -> Result<Uploaded, String> {
        let dir = self
            .file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut args: Vec<String> = self
            .decision
            .command
            .wrangler_args()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let config_name = self
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wrangler.toml".into());
        args.extend(["--config".to_owned(), config_name]);
        if let Some(env) = &self.env {
            args.extend(["--env".to_owned(), env.clone()]);
        }
        let wrangler = Wrangler::locate(&dir);
        let why = self
            .decision
            .reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        say(&format!(
            "  {}: {}{why}",
            self.service,
            wrangler.describe(&args)
        ));
        let outcome = wrangler
            .run(&dir, &args)
            .map_err(|e| format!("{}: {e}", self.service))?;
        let new_version = outcome.version_id.ok_or_else(|| {
            format!(
                "{}: wrangler finished but reported no version id",
                self.service
            )
        })?;
        say(&format!("  {}: version {new_version}", self.service));
        Ok(Uploaded {
            service: self.service,
            script: self.script,
            previous_version: self.previous_version,
            new_version,
            decision: self.decision,
        })
    }
}

/// After a failed upload, services that `wrangler deploy` already put at 100% go back to
/// their previous version at once (a `versions upload` took no traffic: nothing to undo).
async fn restore_now(done: &[Uploaded]) -> String {
    restore(done, Switched::DeployedOnly).await
}

/// Which uploads may be serving their new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switched {
    /// Those `wrangler deploy` put at 100%.
    DeployedOnly,
    /// Whatever Cloudflare says serves now (any new version taking traffic), read per Worker;
    /// a Worker that cannot be read counts as switched.
    AsServedNow,
}

/// Puts back what a stopped deployment switched, following the restore plan: a service that
/// applied a Durable Object migration is flagged and stays on its new version (Cloudflare
/// refuses the way back), a new Worker stays, the others go back to what served before.
async fn restore(done: &[Uploaded], switched: Switched) -> String {
    if done.is_empty() {
        return "nothing had been uploaded".into();
    }
    match Cloudflare::from_env() {
        Ok(cf) => restore_with(&cf, done, switched).await,
        Err(e) => format!(
            "could not restore: {}; check each Worker's traffic",
            failure_text(&e)
        ),
    }
}

async fn restore_with(cf: &Cloudflare, done: &[Uploaded], switched: Switched) -> String {
    let mut shipped = Vec::new();
    for u in done {
        let took_traffic = match switched {
            Switched::DeployedOnly => u.decision.command == UploadCommand::Deploy,
            Switched::AsServedNow => match cf.deployments(&u.script).await {
                Ok(history) => deploy::parse_deployments(&history).first().is_none_or(|d| {
                    d.versions
                        .iter()
                        .any(|(v, p)| *v == u.new_version && *p > 0.0)
                }),
                Err(_) => true,
            },
        };
        shipped.push(Shipped {
            service: u.service.clone(),
            script: u.script.clone(),
            previous_version: u.previous_version.clone(),
            new_version: u.new_version.clone(),
            took_traffic,
            migrations_applied: u.migrations_applied(),
        });
    }
    let mut notes = Vec::new();
    for step in deploy::restore_plan(&shipped) {
        let note = match &step.action {
            RestoreAction::Restore { to } => match cf
                .serve_only(
                    &step.script,
                    to,
                    "clodo: restore after a stopped deployment",
                )
                .await
            {
                Ok(()) => format!("{} restored to {to}", step.service),
                Err(e) => format!("{} NOT restored: {e}", step.service),
            },
            _ => step.to_string(),
        };
        say(&format!("  {note}"));
        notes.push(note);
    }
    notes.join("; ")
}

impl Uploaded {
    /// The Durable Object migration tags this upload applied (only `wrangler deploy` applies
    /// any).
    fn migrations_applied(&self) -> Vec<String> {
        match &self.decision.reason {
            Some(UploadReason::MigrationsPending { tags, .. }) => tags.clone(),
            _ => Vec::new(),
        }
    }
}

/// What each service shipped, recorded on the deployment for `clodo diff` and rollbacks.
fn snapshots(assessed: &Assessed, uploads: &[Uploaded]) -> Vec<ServiceSnapshot> {
    uploads
        .iter()
        .filter_map(|u| {
            let loaded = assessed
                .loaded
                .iter()
                .find(|l| l.service.as_deref() == Some(u.service.as_str()))?;
            // A first deploy applies every migration of the config; a later one the pending.
            let migrations_applied = match &u.decision.reason {
                Some(UploadReason::MigrationsPending { tags, .. }) => tags.clone(),
                Some(UploadReason::FirstDeploy) => loaded
                    .worker
                    .migrations
                    .iter()
                    .map(|m| m.tag.clone())
                    .collect(),
                None => Vec::new(),
            };
            Some(ServiceSnapshot {
                service: u.service.clone(),
                script: u.script.clone(),
                previous_version: u.previous_version.clone(),
                new_version: u.new_version.clone(),
                command: match u.decision.command {
                    UploadCommand::Deploy => "deploy".into(),
                    UploadCommand::VersionsUpload => "versions_upload".into(),
                },
                compatibility_date: loaded.worker.compatibility_date.clone(),
                bindings: deploy::binding_lines(&loaded.worker),
                migrations_applied,
            })
        })
        .collect()
}
