//! `clodo deploy`: assess, record the deployment (policies, approvals), wait for the
//! environment's lock, read what each Worker serves now, upload every service with real
//! wrangler in dependency waves, then hand the new versions to the control plane's `Rollout`
//! Durable Object and follow it. A deploy that stops on the way restores what it switched,
//! ends `failed` with the reason and frees the lock.

pub(super) mod pages_d1;
mod preview;
mod scheduled;
pub(super) mod upload;

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::json;

use super::assess::{assess_command, AssessArgs, Assessed, Loaded, Unassessable};
use super::client::{self, enc, CallError, Failure};
use super::deployment::{
    acquire_lock, end_stopped, move_to, say, spawn_heartbeat, wait_until_approved,
    with_hint_for_missing_project, Recorded, Shipped,
};
use super::errors::CliCode;
use super::rollback::failure_text;
use crate::api::contract::deployments::{
    Deployment, DeploymentDetail, DeploymentStatus, ModuleDigest, NewDeployment, RecordUploads,
    ServiceUpload, UploadsRecorded,
};
use crate::api::contract::rollouts::{RolloutSettings, RolloutStatus};
use crate::api::contract::teams::{ServiceScriptChange, ServiceScriptSet};
use crate::config::{DeploySettings, ProjectConfig, Strategy};
use crate::deploy::{self, ServiceSnapshot, UploadCommand};
use upload::{
    read_live, restore, restore_now, snapshots, upload_waves, ScriptNow, Switched, Uploaded,
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
    /// Apply D1 migrations that drop or rename tables or columns (refused without it).
    #[arg(long)]
    pub allow_destructive: bool,
    /// Deploy the Pages sites to a branch preview (the git branch, or --git-ref), record each
    /// on the environment (`clodo history --previews`) and print their URLs: no migration
    /// runs, no Worker traffic moves, no lock is taken.
    #[arg(long, conflicts_with_all = ["detach", "strategy"])]
    pub preview: bool,
    /// Start at this time instead of now (RFC 3339, e.g. 2026-12-02T09:00Z; at most 90 days
    /// ahead): the new versions are uploaded now without traffic (`wrangler versions upload`)
    /// and the control plane starts the rollout then, re-checking windows, freezes and
    /// approvals at that time. `clodo cancel ID` cancels it before it starts.
    #[arg(long, value_parser = scheduled::parse_at)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

pub fn run(args: DeployArgs) -> ExitCode {
    super::output::machine_output(args.json);
    client::run(deploy_to_an_end(args))
}

/// How far a deploy got, for ending it when it stops on an error.
#[derive(Default)]
pub(in crate::cli) struct Progress {
    pub recorded: Option<Recorded>,
    /// What wrangler uploaded so far (some of it may serve traffic).
    pub uploads: Vec<Uploaded>,
    /// The same as recorded on the deployment.
    pub shipped: Vec<ServiceSnapshot>,
    /// Pages sites put live so far.
    pages: Vec<pages_d1::PagesShipped>,
}

/// Runs the deploy; once it is recorded, any stop (a `?` anywhere on the way) ends the
/// deployment: what was switched is restored, it is recorded `failed` with the reason, and the
/// lock is freed, so nothing waits for a lease to run out.
async fn deploy_to_an_end(args: DeployArgs) -> Result<(), Failure> {
    let mut progress = Progress::default();
    let outcome = deploy(args, &mut progress).await;
    end_if_stopped(outcome, &progress).await
}

/// Ends a recorded deployment that stopped on `outcome`'s error (see `deploy_to_an_end`).
pub(in crate::cli) async fn end_if_stopped(
    outcome: Result<(), Failure>,
    progress: &Progress,
) -> Result<(), Failure> {
    if let (Err(failure), Some(recorded)) = (&outcome, &progress.recorded) {
        let uploads = progress.uploads.clone();
        let pages = progress.pages.clone();
        let restored = async move {
            let workers = restore(&uploads, Switched::AsServedNow).await;
            match pages_d1::restore_pages(&pages).await {
                p if p.is_empty() => workers,
                p => format!("{workers}; {p}"),
            }
        };
        end_stopped(
            recorded,
            &failure_text(failure),
            restored,
            &progress.shipped,
        )
        .await;
    }
    outcome
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
    if args.preview {
        let identity = git_identity(&args);
        return preview::preview(&args, identity, &assessed, &project).await;
    }
    let databases = pages_d1::pending_databases(&assessed)?;
    deploy::steps::refuse_destructive(&databases, args.allow_destructive)
        .map_err(Failure::Setup)?;
    let pages_services: Vec<String> = project
        .services
        .iter()
        .filter(|s| !s.is_worker())
        .map(|s| s.name.clone())
        .collect();
    let steps = deploy::steps::deploy_steps(&plan, &pages_services, &databases);
    let environment = env.clone().ok_or_else(|| {
        Failure::Setup("--env is required: deployments are recorded per environment".into())
    })?;
    say(&format!(
        "▸ plan: {} ({} strategy, steps {:?})",
        steps
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        settings.strategy,
        settings.traffic_steps()
    ));
    if !args.yes && std::io::stdin().is_terminal() && !confirm(&project.project, &environment)? {
        return Err(Failure::Local(
            CliCode::NotConfirmed,
            "not confirmed; nothing was deployed".into(),
        ));
    }

    let api = client::client()?;
    let (git_ref, git_sha) = git_identity(&args);
    let request = NewDeployment {
        project: project.project.clone(),
        environment: environment.clone(),
        git_ref,
        git_committed_at: commit_time(git_sha.as_deref()),
        git_sha,
        strategy: Some(settings.strategy),
        message: args.message.clone(),
        emergency_override: None,
        scheduled_for: args.at,
        rollout: args.at.map(|_| rollout_settings(&settings)),
    };
    if let Some(at) = args.at {
        register_services(&api, &project, &environment, &assessed).await?;
        return scheduled::schedule(&api, &args, &assessed, &plan, &request, at).await;
    }
    // The registrations and the deployment's record do not depend on each other: one round
    // trip for both. A registration refused (a deployer's config naming another Worker) then
    // cancels the record, before any lock is taken or anything shipped.
    let (registered, created) = futures::join!(
        register_services(&api, &project, &environment, &assessed),
        api.send::<_, Deployment>(Method::POST, "/api/v1/deployments", Some(&request))
    );
    let created =
        created.map_err(|e| with_hint_for_missing_project(e, &project.project, &environment))?;
    if let Err(refused) = registered {
        let why = format!("cancelled before deploying: {}", refused.message());
        if let Err(e) = move_to(&api, &created.id, DeploymentStatus::Cancelled, &why).await {
            // The refusal is what the caller must fix; the record holds no lock either way.
            say(&format!(
                "  could not cancel {}: {}",
                created.id,
                e.message()
            ));
        }
        return Err(refused);
    }
    let deployment_id = created.id.clone();
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
    say(&format!("▸ deployment {deployment_id}: {}", created.status));
    let (heartbeat, now) = start_deploying(
        &api,
        &created,
        &lock,
        &assessed,
        &plan,
        "lock held; uploading",
    )
    .await?;
    // The rollout's live status is connected now, while the uploads run, so that following
    // it costs no round trip after the rollout starts (the socket waits for the start).
    let live_soon = (!args.detach).then(|| {
        let (api, id) = (api.clone(), deployment_id.clone());
        tokio::spawn(async move { super::rollout::connect_live(&api, &id, true).await })
    });
    // Migrations first: a failure stops here, before any Worker or site is uploaded.
    if let Err(e) =
        pages_d1::apply_migrations(&api, &deployment_id, &assessed, env.as_deref()).await
    {
        heartbeat.abort();
        return Err(e);
    }
    let uploads = upload_in_waves(
        &api,
        &deployment_id,
        &assessed,
        &now,
        &plan,
        env.as_deref(),
        progress,
    )
    .await;
    heartbeat.abort();
    let uploads = match uploads {
        Ok(u) => u,
        Err((done, message)) => {
            say(&format!("✗ upload failed: {message}"));
            progress.shipped = snapshots(&assessed, &done);
            progress.uploads = done;
            return Err(Failure::Local(
                CliCode::UploadFailed,
                format!("upload failed: {message}"),
            ));
        }
    };
    progress.uploads.clone_from(&uploads);
    let snapshots = snapshots(&assessed, &uploads);
    progress.shipped.clone_from(&snapshots);
    if let Err(e) = record_uploads(&api, &deployment_id, &uploads, &BTreeMap::new()).await {
        // The stopped-deploy ending restores what took traffic and records `failed` with what
        // was shipped (so a later rollback passes over these versions).
        say(&format!(
            "✗ the control plane did not record the uploads: {}",
            e.message
        ));
        return Err(Failure::Api(e));
    }
    move_to(
        &api,
        &deployment_id,
        DeploymentStatus::Verifying,
        &Shipped {
            message: "versions uploaded",
            services: &snapshots,
        },
    )
    .await?;
    // Every strategy, immediate included, goes through the deployment's Rollout object: it
    // moves the traffic (immediate: every Worker at once, in one step) and then verifies with
    // the configured health checks and analysis, rolling back on failure.
    hand_to_rollout(
        &api,
        &args,
        &deployment_id,
        &settings,
        (&uploads, &snapshots),
        live_soon,
    )
    .await
}

/// A live-status socket being connected before the rollout starts.
pub(in crate::cli) type LiveSoon =
    tokio::task::JoinHandle<Result<super::rollout::LiveSocket, String>>;

/// Waits for the deployment's approvals and its environment's lock, moves it to `deploying`
/// (`detail` on the event) and reads what each Worker serves now. The heartbeat it answers
/// keeps the lease while the caller uploads; the caller stops it.
pub(in crate::cli) async fn start_deploying(
    api: &client::Client,
    created: &Deployment,
    lock: &str,
    assessed: &Assessed,
    plan: &deploy::WavePlan,
    detail: &str,
) -> Result<(tokio::task::JoinHandle<()>, BTreeMap<String, ScriptNow>), Failure> {
    wait_until_approved(api, created).await?;
    acquire_lock(api, lock, &created.id).await?;
    // What each Worker serves is read only now, holding the lock: a deploy that finished while
    // this one waited for approvals or the queue is what a canary splits against and what a
    // restore goes back to, never the versions the assessment saw. That read (Cloudflare's
    // API) and the move to `deploying` (the control plane) need only the lock, not each
    // other: they run side by side, and both must succeed before anything is uploaded.
    let (moved, live) = futures::join!(
        move_to(api, &created.id, DeploymentStatus::Deploying, detail),
        read_live(assessed, plan)
    );
    moved?;
    let now = live?;
    let heartbeat = spawn_heartbeat(api.clone(), lock.to_owned(), created.id.clone());
    Ok((heartbeat, now))
}

/// Each wave: its Workers uploaded as versions, then its Pages sites deployed, recorded and
/// verified. On a failure, the Workers uploaded so far with the reason (the sites deployed so
/// far are in `progress.pages`).
async fn upload_in_waves(
    api: &client::Client,
    deployment_id: &str,
    assessed: &Assessed,
    now: &std::collections::BTreeMap<String, upload::ScriptNow>,
    plan: &deploy::WavePlan,
    env: Option<&str>,
    progress: &mut Progress,
) -> Result<Vec<Uploaded>, (Vec<Uploaded>, String)> {
    let mut done: Vec<Uploaded> = Vec::new();
    for (i, wave) in plan.waves.iter().enumerate() {
        let one = deploy::WavePlan {
            waves: vec![wave.clone()],
            dependencies: Vec::new(),
        };
        match upload_waves(assessed, now, &one, env, &BTreeMap::new(), i).await {
            Ok(mut u) => done.append(&mut u),
            Err((mut u, e)) => {
                done.append(&mut u);
                return Err((done, e));
            }
        }
        for target in assessed
            .pages_d1
            .pages
            .iter()
            .filter(|p| wave.contains(&p.service))
        {
            match pages_d1::deploy_pages(Some((api, deployment_id)), assessed, target, None).await {
                Ok(shipped) => progress.pages.push(shipped),
                Err(e) => return Err((done, e)),
            }
        }
    }
    Ok(done)
}

/// The Workers of this project as they are named in `environment` (wrangler's resolved
/// `name`), registered with the control plane before anything is deployed: the control plane
/// moves traffic only on the Workers registered for the environment. Registering or changing
/// one needs an admin; for a deployer this only confirms the config matches the registration.
/// The registrations are independent (one service each), so they are sent side by side: one
/// round trip instead of one per service.
pub(in crate::cli) async fn register_services(
    api: &client::Client,
    project: &ProjectConfig,
    environment: &str,
    assessed: &Assessed,
) -> Result<(), Failure> {
    let registrations = assessed.loaded.iter().filter_map(|loaded| {
        let (Some(service), Some(script)) = (&loaded.service, &loaded.worker.name) else {
            return None;
        };
        // As clodo.toml names it (relative to the project file), not this checkout's path.
        let config_path = project
            .service(service)
            .map_or_else(|| "wrangler.toml".to_owned(), |s| s.config.clone());
        let registration = ServiceScriptChange {
            script: script.clone(),
            config_path: Some(config_path),
        };
        let path = format!(
            "/api/v1/projects/{}/environments/{}/services/{}",
            enc(&project.project),
            enc(environment),
            enc(service)
        );
        Some(async move {
            api.send::<_, ServiceScriptSet>(Method::PUT, &path, Some(&registration))
                .await
        })
    });
    futures::future::try_join_all(registrations).await?;
    Ok(())
}

/// Tells the control plane what this deployment uploaded; it checks each version with
/// Cloudflare (in the environment's account) before it records it, and the rollout moves
/// only recorded versions. `module_hashes` (promotions): per service, the modules' SHA-256
/// checked equal to the source version's.
pub(in crate::cli) async fn record_uploads(
    api: &client::Client,
    deployment_id: &str,
    uploads: &[Uploaded],
    module_hashes: &BTreeMap<String, Vec<ModuleDigest>>,
) -> Result<UploadsRecorded, CallError> {
    let request = RecordUploads {
        services: uploads
            .iter()
            .map(|u| ServiceUpload {
                service: u.service.clone(),
                version_id: u.new_version.clone(),
                previous_version_id: u.previous_version.clone(),
                already_live: u.decision.command == UploadCommand::Deploy,
                module_hashes: module_hashes.get(&u.service).cloned(),
            })
            .collect(),
    };
    api.send(
        Method::POST,
        &format!("/api/v1/deployments/{}/services", enc(deployment_id)),
        Some(&request),
    )
    .await
}

/// How to roll out, from clodo.toml: what the control plane's rollout takes.
fn rollout_settings(settings: &DeploySettings) -> RolloutSettings {
    RolloutSettings {
        steps: settings.steps.clone(),
        step_wait_secs: settings.step_wait_secs,
        auto_rollback: settings.auto_rollback,
        health_checks: settings.health_checks.clone(),
        analysis: settings.analysis.clone(),
        progress_deadline_secs: settings.progress_deadline_secs,
        on_deadline: settings.on_deadline,
        max_pause_secs: settings.max_pause_secs,
        ab: settings.ab.clone(),
    }
}

/// The deployment's Rollout Durable Object moves the traffic from here on, step by step with
/// checks (immediate: one step, every Worker at once, then the checks), and rolls every
/// service back on a failure. The control plane builds the rollout from its own records (the
/// deployment's strategy, the environment's account, the recorded uploads); this sends only
/// how to roll out. This process follows it (or leaves, with `--detach`), on `live_soon`
/// when it was connected beforehand.
pub(in crate::cli) async fn hand_to_rollout(
    api: &client::Client,
    args: &DeployArgs,
    deployment_id: &str,
    settings: &DeploySettings,
    (uploads, snapshots): (&[Uploaded], &[ServiceSnapshot]),
    live_soon: Option<LiveSoon>,
) -> Result<(), Failure> {
    let how = rollout_settings(settings);
    let started: RolloutStatus = match api
        .send(
            Method::POST,
            &format!("/api/v1/deployments/{}/rollout", enc(deployment_id)),
            Some(&how),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => {
            if let Some(live) = &live_soon {
                live.abort();
            }
            // Nothing took traffic through the rollout; put back what `wrangler deploy` moved.
            let restored = restore_now(uploads).await;
            move_to(
                api,
                deployment_id,
                DeploymentStatus::Failed,
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
    let end = match live_soon {
        Some(live) => {
            let socket = live.await.unwrap_or_else(|e| Err(e.to_string()));
            super::rollout::follow_on(api, deployment_id, 0, socket).await?
        }
        None => super::rollout::follow(api, deployment_id, 0).await?,
    };
    if args.json {
        let record: DeploymentDetail = api.get(&deployment_path(deployment_id)).await?;
        client::print_json(&json!({ "deployment": record, "rollout": end, "services": snapshots }));
    }
    super::rollout::outcome(deployment_id, &end)
}

fn deployment_path(id: &str) -> String {
    format!("/api/v1/deployments/{id}")
}

/// Runs the same assessment as `clodo assess --project`; blocking findings stop here.
pub(in crate::cli) async fn assess_project(args: &DeployArgs) -> Result<Assessed, Failure> {
    let assess_args = AssessArgs::of_project(
        args.project.clone(),
        args.env.clone(),
        false,
        60,
        args.allow_inconclusive,
    );
    let assessed = assess_command(&assess_args)
        .await
        .map_err(|Unassessable(m)| Failure::Local(CliCode::NotAssessed, m))?;
    let r = &assessed.report;
    if assessed.unreachable {
        return Err(Failure::Local(
            CliCode::CloudflareUnreachable,
            "the Cloudflare API could not be reached; nothing was deployed".into(),
        ));
    }
    if !r.ready {
        eprint!("{}", r.to_human(super::output::stderr_color()));
        let only_unverified = r.count(crate::assess::Severity::Error) == 0 && r.unverified > 0;
        return Err(Failure::Api(CallError {
            status: None,
            code: CliCode::NotReady.into(),
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

pub(in crate::cli) fn deploy_settings(
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

pub(in crate::cli) fn plan(
    project: &ProjectConfig,
    loaded: &[Loaded],
) -> Result<deploy::WavePlan, Failure> {
    let inputs: Vec<deploy::ServiceInput> = project
        .services
        .iter()
        .filter_map(|s| {
            if !s.is_worker() {
                // A Pages site: ordered by its `depends_on` (nothing binds to it).
                return Some(deploy::ServiceInput {
                    name: s.name.clone(),
                    worker: None,
                    depends_on: s.depends_on.clone(),
                    service_bindings: Vec::new(),
                });
            }
            loaded
                .iter()
                .find(|l| l.service.as_deref() == Some(s.name.as_str()))
                .map(|l| deploy::ServiceInput::from_config(s, &l.worker))
        })
        .collect();
    deploy::plan_waves(&inputs).map_err(|e| Failure::Setup(e.to_string()))
}

pub(in crate::cli) fn confirm(project: &str, env: &str) -> Result<bool, Failure> {
    eprint!("Deploy {project} to {env}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::Setup(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// What `git args` prints, trimmed; nothing outside a repository or on failure.
fn git_output(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty() && s != "HEAD")
}

/// The branch and commit: flags first, else git (nothing when not in a repository).
fn git_identity(args: &DeployArgs) -> (Option<String>, Option<String>) {
    (
        args.git_ref
            .clone()
            .or_else(|| git_output(&["rev-parse", "--abbrev-ref", "HEAD"])),
        args.git_sha
            .clone()
            .or_else(|| git_output(&["rev-parse", "HEAD"])),
    )
}

/// When `sha` was committed (Unix ms, from git's committer date), for DORA's change lead
/// time; nothing when git does not know the commit.
fn commit_time(sha: Option<&str>) -> Option<i64> {
    let seconds: i64 = git_output(&["show", "-s", "--format=%ct", sha?])?
        .parse()
        .ok()?;
    Some(seconds * 1000)
}
