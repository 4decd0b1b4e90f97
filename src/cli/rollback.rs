//! `clodo rollback`: straight back to the previous good version at 100% for every service of an
//! environment (or the ones named), with no canary steps. Recorded as a deployment and audited;
//! `--emergency` skips the assessment and the queue (breaking the lock, admin) but is still
//! recorded. The targets are chosen while holding the environment's lock, from Cloudflare's
//! deployment history and Clodo's own record (versions of failed or rolled-back deployments are
//! never a target; a version older than a Durable Object migration cannot be one). A service
//! with nothing to go back to is reported and skipped. Warns about what a version rollback cannot
//! undo (Durable Object and D1 migrations).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Args;
use reqwest::Method;
use serde::Serialize;

use super::assess::{assess_command, AssessArgs, Loaded, Unassessable};
use super::client::{self, enc, CallError, Client as ApiClient, Failure};
use super::deployment::{
    acquire_lock, end_stopped, move_to, say, spawn_heartbeat, wait_until_approved,
    with_hint_for_missing_project, Recorded,
};
use super::errors::CliCode;
use super::rollback_pages_d1::{
    choose_pages, restore_points, roll_back_pages, warn_restore_points, PagesSkip, PagesStep,
    RestorePoint,
};
use crate::api::contract::deployments::{
    Deployment, DeploymentStatus, EmergencyOverride, NewDeployment, ShippedDeployment, Strategy,
};
use crate::api::contract::locks::{ForceUnlockRequest, ForceUnlocked, LockInfo};
use crate::api::contract::rollouts::{Phase, RolloutStatus};
use crate::api::contract::teams::Items;
use crate::assess::{Kind, Severity};
use crate::cloudflare::{AccountClient, Client, ReqwestTransport, RetryPolicy, DEFAULT_BASE_URL};
use crate::deploy::{
    parse_deployments, rollback_target, version_records, RecordedDeployment, RollbackTarget,
    SkippedVersion,
};

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The project file listing the services.
    #[arg(long, short = 'p', default_value = "clodo.toml")]
    pub project: PathBuf,
    /// The environment to roll back.
    #[arg(long, short = 'e')]
    pub env: String,
    /// Only these services (repeatable); default: every service of the project.
    #[arg(long, short = 's')]
    pub service: Vec<String>,
    /// The version to go back to (one service only); default: the previous good version.
    #[arg(long)]
    pub to: Option<String>,
    /// Skip the assessment and the queue: take the lock at once (breaking it needs an admin).
    #[arg(long)]
    pub emergency: bool,
    /// Why (recorded; required with --emergency).
    #[arg(long)]
    pub reason: Option<String>,
    /// Do not ask for confirmation in a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print what was done as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Let the control plane roll back from its own records with the team's stored
    /// credential (no Cloudflare token or wrangler needed here).
    #[arg(long)]
    pub server: bool,
    /// With --server: the succeeded deployment to go back to (default: the last good one).
    #[arg(long, requires = "server")]
    pub to_deployment: Option<String>,
}

pub fn run(args: RollbackArgs) -> ExitCode {
    super::output::machine_output(args.json);
    if args.server {
        return client::run(async move { super::rollback_server::server_rollback(&args).await });
    }
    client::run(rollback_to_an_end(args))
}

/// The account the project's configs name, for when `CLOUDFLARE_ACCOUNT_ID` is not set (the
/// assessment and wrangler both fall back to it, so must every Cloudflare call of the CLI).
static PROJECT_ACCOUNT: OnceLock<String> = OnceLock::new();

/// The Cloudflare API as wrangler is configured, for one account.
pub(super) type Cloudflare = AccountClient<ReqwestTransport>;

/// The CLI's ways to open the account client (an inherent impl here because where the token,
/// the account and the base URL come from is the CLI's business, not the API client's).
impl Cloudflare {
    /// Token, account and base URL from the environment (`CLOUDFLARE_API_TOKEN`,
    /// `CLOUDFLARE_ACCOUNT_ID` or the project's `account_id`, `CLOUDFLARE_API_BASE_URL`).
    pub(super) fn from_env() -> Result<Self, Failure> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let token = var("CLOUDFLARE_API_TOKEN")
            .ok_or_else(|| Failure::Setup("CLOUDFLARE_API_TOKEN is not set".into()))?;
        let account = var("CLOUDFLARE_ACCOUNT_ID")
            .or_else(|| PROJECT_ACCOUNT.get().cloned())
            .ok_or_else(|| {
                Failure::Setup(
                    "CLOUDFLARE_ACCOUNT_ID is not set and no config names an account_id".into(),
                )
            })?;
        let base = var("CLOUDFLARE_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let client = Client::new(
            ReqwestTransport::new(),
            &base,
            &token,
            RetryPolicy::default(),
        );
        Ok(Self::new(client, &account))
    }

    /// As `from_env`, falling back to the `account_id` of the project's configs (as the
    /// assessment and wrangler do).
    pub(super) fn for_project(loaded: &[Loaded]) -> Result<Self, Failure> {
        if let Some(account) = loaded.iter().find_map(|l| l.worker.account_id.clone()) {
            let _ = PROJECT_ACCOUNT.set(account);
        }
        Self::from_env()
    }
}

/// One service's rollback.
struct Step {
    service: String,
    script: String,
    target: RollbackTarget,
}

/// A service the rollback leaves where it is, and why.
struct Skip {
    service: String,
    script: String,
    why: String,
    /// Already on the version that served before the newest deployment that shipped it,
    /// which failed or was rolled back: where the rollback would put it, not a gap.
    already_restored: bool,
}

/// Whether every service skipped is already where the rollback would put it (and there was
/// at least one): then there is nothing to do, and nothing wrong.
fn all_already_restored(skips: &[Skip], pages_skips: &[PagesSkip]) -> bool {
    !(skips.is_empty() && pages_skips.is_empty())
        && skips.iter().all(|s| s.already_restored)
        && pages_skips.iter().all(|s| s.already_restored)
}

// What a rollback records on its final transition and prints with `--json`. Fields are in
// alphabetical order: the JSON these replaced was printed with sorted keys.

/// A service moved to its target.
#[derive(Serialize)]
struct RolledBack<'a> {
    from: &'a [(String, f64)],
    script: &'a str,
    service: &'a str,
    skipped_versions: &'a [SkippedVersion],
    to: &'a str,
}

impl<'a> From<&'a Step> for RolledBack<'a> {
    fn from(s: &'a Step) -> Self {
        Self {
            from: &s.target.from,
            script: &s.script,
            service: &s.service,
            skipped_versions: &s.target.skipped,
            to: &s.target.to,
        }
    }
}

/// A service left where it is.
#[derive(Serialize)]
struct LeftAlone<'a> {
    reason: &'a str,
    script: &'a str,
    service: &'a str,
}

impl<'a> From<&'a Skip> for LeftAlone<'a> {
    fn from(s: &'a Skip) -> Self {
        Self {
            reason: &s.why,
            script: &s.script,
            service: &s.service,
        }
    }
}

/// The detail of the rollback's final transition.
#[derive(Serialize)]
struct Outcome<'a> {
    d1_restore_points: &'a [RestorePoint],
    message: &'a str,
    pages: &'a [PagesStep],
    services: &'a [RolledBack<'a>],
    skipped: &'a [LeftAlone<'a>],
}

/// `clodo rollback --json`.
#[derive(Serialize)]
struct Printed<'a> {
    d1_restore_points: &'a [RestorePoint],
    deployment_id: &'a str,
    failures: &'a [String],
    pages: &'a [PagesStep],
    services: &'a [RolledBack<'a>],
    skipped: &'a [LeftAlone<'a>],
    status: DeploymentStatus,
}

/// Runs the rollback; once it is recorded, any stop ends the deployment (`failed` with the
/// reason, lock freed) instead of leaving it holding the environment.
async fn rollback_to_an_end(args: RollbackArgs) -> Result<(), Failure> {
    let mut recorded: Option<Recorded> = None;
    let outcome = rollback(args, &mut recorded).await;
    if let (Err(failure), Some(recorded)) = (&outcome, &recorded) {
        // A rollback only moves towards older versions: what it already moved stays there.
        end_stopped(
            recorded,
            &failure_text(failure),
            async { "services already rolled back stay on their target".to_owned() },
            &[],
        )
        .await;
    }
    outcome
}

pub(super) fn failure_text(f: &Failure) -> String {
    f.message().to_owned()
}

#[allow(clippy::too_many_lines)]
async fn rollback(args: RollbackArgs, recorded: &mut Option<Recorded>) -> Result<(), Failure> {
    if args.emergency && args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Failure::Setup(
            "--emergency needs --reason TEXT: it is recorded with the rollback".into(),
        ));
    }
    if args.to.is_some() && args.service.len() != 1 {
        return Err(Failure::Setup(
            "--to names one version: pass exactly one --service with it".into(),
        ));
    }
    // An emergency does not wait for the account checks (offline). A rollback is gated on
    // access findings only (below), never on readiness.
    let assessed = assess_command(&AssessArgs::of_project(
        args.project.clone(),
        Some(args.env.clone()),
        args.emergency,
        30,
        false,
    ))
    .await
    .map_err(|Unassessable(m)| Failure::Local(CliCode::NotAssessed, m))?;
    let project = assessed.project.clone().ok_or_else(|| {
        Failure::Setup(format!(
            "{} is not a usable project",
            args.project.display()
        ))
    })?;
    // Going back to an older version does not depend on the new config being right: only a
    // token or account that cannot do it blocks.
    let access: Vec<_> = assessed
        .report
        .findings
        .iter()
        .filter(|f| {
            // A read permission a check lacked is a warning: it does not stop a rollback.
            f.severity == Severity::Error
                && matches!(
                    f.kind,
                    Kind::TokenInvalid
                        | Kind::TokenExpired
                        | Kind::TokenMissingPermission
                        | Kind::AccountInaccessible
                )
        })
        .collect();
    if !access.is_empty() {
        for f in &access {
            eprintln!(
                "error [{}] {}\n  fix: {}",
                f.kind.as_str(),
                f.message,
                f.fix
            );
        }
        return Err(Failure::Local(
            CliCode::NotReady,
            "the token cannot roll back this account".into(),
        ));
    }
    let services: Vec<&Loaded> = assessed
        .loaded
        .iter()
        .filter(|l| {
            args.service.is_empty() || l.service.as_ref().is_some_and(|s| args.service.contains(s))
        })
        .collect();
    for wanted in &args.service {
        let pages = assessed.pages_d1.pages.iter().any(|p| &p.service == wanted);
        if !pages && !services.iter().any(|l| l.service.as_ref() == Some(wanted)) {
            return Err(Failure::Setup(format!(
                "service `{wanted}` is not in {} (or its config did not load)",
                args.project.display()
            )));
        }
    }
    let mut workers = Vec::new();
    for l in &services {
        let service = l.service.clone().unwrap_or_default();
        let script = l.worker.name.clone().ok_or_else(|| {
            Failure::Setup(format!(
                "service `{service}` has no Worker name for {}",
                args.env
            ))
        })?;
        workers.push((service, script));
    }

    let cf = Cloudflare::for_project(&assessed.loaded)?;
    let api = client::client()?;
    // A preview for the confirmation and to refuse early what cannot be done; the targets
    // that count are chosen again once the lock is held.
    let (preview, skips, record) =
        choose_targets(&cf, &api, &project.project, &args, &workers).await?;
    for s in &preview {
        say(&format!(
            "▸ {} ({}): {} → {} at 100%",
            s.service,
            s.script,
            describe_split(&s.target.from),
            s.target.to
        ));
    }
    for s in &skips {
        say(&format!(
            "  skipped {} ({}): {}",
            s.service, s.script, s.why
        ));
    }
    let (pages_preview, pages_skips) =
        choose_pages(&api, &assessed, &record, &args.service).await?;
    for p in &pages_preview {
        say(&format!(
            "▸ {} (Pages {}): {} → {}",
            p.service, p.project, p.from, p.to
        ));
    }
    for s in &pages_skips {
        say(&format!("  skipped {s}"));
    }
    if preview.is_empty() && pages_preview.is_empty() && all_already_restored(&skips, &pages_skips)
    {
        // After a deployment that failed and was put back, the environment already is where
        // a rollback goes: a second rollback (or one after the rollout's own) changes nothing.
        let skipped: Vec<LeftAlone<'_>> = skips.iter().map(LeftAlone::from).collect();
        if args.json {
            client::print_json(&serde_json::json!({
                "deployment_id": null,
                "services": [],
                "skipped": skipped,
                "status": "nothing_to_do",
            }));
        }
        super::output::success(
            "✓ nothing to roll back: every service already serves what served before the newest deployment that shipped it, which failed or was rolled back",
        );
        return Ok(());
    }
    if preview.is_empty() && pages_preview.is_empty() {
        // Exit 1 as documented: the command ran and found nothing it could do.
        return Err(Failure::outcome(
            CliCode::NothingToRollBack,
            "nothing to roll back: no service has an earlier good version".into(),
        ));
    }
    let points = restore_points(&api, &assessed, &record, &args.env).await?;
    warn_restore_points(&points);
    for l in &services {
        warn_about_migrations(l);
    }
    let lock = format!(
        "/api/v1/projects/{}/environments/{}/lock",
        enc(&project.project),
        enc(&args.env)
    );
    running_rollout(&api, &lock, args.emergency).await?;
    warn_about_recorded_migrations(&record);
    if !args.yes && std::io::stdin().is_terminal() {
        eprint!(
            "Roll back {} service(s) in {}? [y/N] ",
            preview.len(),
            args.env
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::Local(
                CliCode::NotConfirmed,
                "not confirmed; nothing was changed".into(),
            ));
        }
    }

    let summary = summary_of(&preview);
    let message = match (&args.reason, args.emergency) {
        (Some(r), true) => format!("EMERGENCY rollback: {summary} ({r})"),
        (Some(r), false) => format!("rollback: {summary} ({r})"),
        (None, _) => format!("rollback: {summary}"),
    };
    let request = NewDeployment {
        project: project.project.clone(),
        environment: args.env.clone(),
        git_ref: None,
        git_sha: None,
        // A rollback ships old code: it has no lead time of its own.
        git_committed_at: None,
        strategy: Some(Strategy::Immediate),
        message: Some(message.clone()),
        emergency_override: args
            .reason
            .clone()
            .filter(|_| args.emergency)
            .map(|reason| EmergencyOverride { reason }),
        scheduled_for: None,
        rollout: None,
    };
    let created: Deployment = api
        .send(Method::POST, "/api/v1/deployments", Some(&request))
        .await
        .map_err(|e| with_hint_for_missing_project(e, &project.project, &args.env))?;
    let id = created.id.clone();
    *recorded = Some(Recorded {
        api: api.clone(),
        id: id.clone(),
        lock: lock.clone(),
    });
    say(&format!("▸ deployment {id} (rollback): {}", created.status));
    wait_until_approved(&api, &created).await?;
    if args.emergency {
        take_lock_now(&api, &lock, &id, args.reason.as_deref().unwrap_or_default()).await?;
    } else {
        acquire_lock(&api, &lock, &id).await?;
    }
    move_to(&api, &id, DeploymentStatus::Deploying, &message).await?;
    let heartbeat = spawn_heartbeat(api.clone(), lock, id.clone());
    // What serves now, and so what to go back to, is read only while holding the lock: a
    // deployment that finished while this one waited is what gets rolled back.
    let chosen = choose_targets(&cf, &api, &project.project, &args, &workers).await;
    let (steps, skips, record) = match chosen {
        Ok(c) => c,
        Err(e) => {
            heartbeat.abort();
            return Err(e);
        }
    };
    for s in &steps {
        if let Some(p) = preview.iter().find(|p| p.service == s.service) {
            if p.target.to != s.target.to {
                say(&format!(
                    "  {}: the live version changed while waiting; going back to {} instead of {}",
                    s.service, s.target.to, p.target.to
                ));
            }
        }
    }
    for s in &skips {
        say(&format!(
            "  skipped {} ({}): {}",
            s.service, s.script, s.why
        ));
    }
    let mut failures = Vec::new();
    let mut done: Vec<RolledBack<'_>> = Vec::new();
    for s in &steps {
        match cf
            .serve_only(&s.script, &s.target.to, &format!("clodo {id}: {message}"))
            .await
        {
            Ok(()) => {
                say(&format!("  {}: {} serves 100%", s.service, s.target.to));
                done.push(s.into());
            }
            Err(e) => {
                let e = format!("{}: deploying {}: {e}", s.script, s.target.to);
                say(&format!("  ✗ {e}"));
                failures.push(e);
            }
        }
    }
    let (pages_steps, _) = match choose_pages(&api, &assessed, &record, &args.service).await {
        Ok(c) => c,
        Err(e) => {
            heartbeat.abort();
            return Err(e);
        }
    };
    let pages_failures = roll_back_pages(&cf, &pages_steps).await;
    let pages_done: Vec<PagesStep> = pages_steps
        .into_iter()
        .filter(|p| {
            !pages_failures
                .iter()
                .any(|f| f.starts_with(&format!("{} ", p.service)))
        })
        .collect();
    failures.extend(pages_failures);
    heartbeat.abort();
    let skipped: Vec<LeftAlone<'_>> = skips.iter().map(LeftAlone::from).collect();
    let mut skipped_text = skips
        .iter()
        .map(|s| format!("{} skipped: {}", s.service, s.why))
        .collect::<Vec<_>>();
    skipped_text.extend(pages_skips.iter().map(|s| format!("skipped {s}")));
    let summary = [
        summary_of(&steps),
        pages_done
            .iter()
            .map(|p| format!("{} (Pages) → {}", p.service, p.to))
            .collect::<Vec<_>>()
            .join(", "),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    let nothing_done = done.is_empty() && pages_done.is_empty() && failures.is_empty();
    let (to, detail) = if nothing_done && all_already_restored(&skips, &pages_skips) {
        // Put back while this rollback waited for the lock (by the failed deployment's own
        // rollout, or another rollback): the environment is where this one was to put it.
        (
            DeploymentStatus::Succeeded,
            format!("nothing left to roll back: {}", skipped_text.join("; ")),
        )
    } else if nothing_done {
        (
            DeploymentStatus::Failed,
            format!("nothing to roll back: {}", skipped_text.join("; ")),
        )
    } else if failures.is_empty() {
        (
            DeploymentStatus::Succeeded,
            [vec![format!("rolled back: {summary}")], skipped_text]
                .concat()
                .join("; "),
        )
    } else {
        (
            DeploymentStatus::Failed,
            [
                vec![format!("rollback incomplete: {}", failures.join("; "))],
                skipped_text,
            ]
            .concat()
            .join("; "),
        )
    };
    let outcome = Outcome {
        d1_restore_points: &points,
        message: &detail,
        pages: &pages_done,
        services: &done,
        skipped: &skipped,
    };
    move_to(&api, &id, to, &outcome).await?;
    if args.json {
        client::print_typed(&Printed {
            d1_restore_points: &points,
            deployment_id: &id,
            failures: &failures,
            pages: &pages_done,
            services: &done,
            skipped: &skipped,
            status: to,
        });
    }
    warn_restore_points(&points);
    if to == DeploymentStatus::Succeeded {
        super::output::success(&format!("✓ rollback {id} succeeded"));
        Ok(())
    } else {
        Err(Failure::outcome(
            CliCode::DeploymentFailed,
            format!("rollback {id} failed: {detail}"),
        ))
    }
}

fn summary_of(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| format!("{} → {}", s.service, s.target.to))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target of every service, from Cloudflare's history and Clodo's record. A service with
/// nothing to go back to is skipped; with `--to`, a version that cannot be served is an error.
/// The record read comes back too: the Pages sites, the restore points and the migration
/// warnings of the same phase decide from it (one read of the environment's history each
/// time, before and under the lock).
async fn choose_targets(
    cf: &Cloudflare,
    api: &ApiClient,
    project: &str,
    args: &RollbackArgs,
    workers: &[(String, String)],
) -> Result<(Vec<Step>, Vec<Skip>, Vec<RecordedDeployment>), Failure> {
    // Clodo's record and what Cloudflare serves for each Worker: independent reads, side by
    // side (one round trip, not one per Worker after the record).
    let (record, histories) = futures::join!(
        recorded_deployments(api, project, &args.env),
        futures::future::join_all(
            workers
                .iter()
                .map(|(_, script)| cf.deployments_if_deployed(script))
        )
    );
    let record = record?;
    let mut steps = Vec::new();
    let mut skips = Vec::new();
    for ((service, script), history) in workers.iter().zip(histories) {
        let history = history.map_err(|e| {
            Failure::Local(
                CliCode::CloudflareUnreachable,
                format!("{script}: reading deployments: {e}"),
            )
        })?;
        let Some(history) = history else {
            skips.push(Skip {
                service: service.clone(),
                script: script.clone(),
                why: "the Worker is not deployed".into(),
                already_restored: false,
            });
            continue;
        };
        let records = version_records(&record, script);
        match rollback_target(&parse_deployments(&history), args.to.as_deref(), &records) {
            Ok(target) => {
                for v in &target.skipped {
                    say(&format!(
                        "  {service}: passing over {} ({})",
                        v.version, v.why
                    ));
                }
                steps.push(Step {
                    service: service.clone(),
                    script: script.clone(),
                    target,
                });
            }
            Err(e) if args.to.is_none() && e.nothing_to_roll_back() => skips.push(Skip {
                service: service.clone(),
                script: script.clone(),
                why: e.to_string(),
                already_restored: e.already_restored(),
            }),
            Err(e) => {
                return Err(Failure::Setup(format!("{service} ({script}): {e}")));
            }
        }
    }
    Ok((steps, skips, record))
}

/// Clodo's record of this environment: the newest deployments that shipped, with the services
/// each one shipped (the snapshot on its `verifying` event), in one request.
async fn recorded_deployments(
    api: &ApiClient,
    project: &str,
    env: &str,
) -> Result<Vec<RecordedDeployment>, Failure> {
    let path = format!(
        "/api/v1/projects/{}/environments/{}/shipped",
        enc(project),
        enc(env)
    );
    let list: Items<ShippedDeployment> = api.get(&path).await?;
    Ok(list
        .items
        .into_iter()
        .map(|d| RecordedDeployment {
            id: d.id,
            status: d.status,
            services: d.services,
        })
        .collect())
}

fn deployment_path(id: &str) -> String {
    format!("/api/v1/deployments/{}", enc(id))
}

fn describe_split(split: &[(String, f64)]) -> String {
    split
        .iter()
        .map(|(v, p)| format!("{v} ({p}%)"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// A rollout in progress holds the environment and would keep moving traffic after a plain
/// rollback, so a rollback is refused in favour of `clodo abort` (which rolls every service of
/// that deployment back); an emergency aborts it first and goes on.
async fn running_rollout(api: &ApiClient, lock: &str, emergency: bool) -> Result<(), Failure> {
    let info: LockInfo = api.get(lock).await?;
    let Some(holder) = info
        .holder
        .map(|lease| lease.claim.holder_id)
        .filter(|h| h.starts_with("dep_"))
    else {
        return Ok(());
    };
    let path = format!("{}/rollout", deployment_path(&holder));
    let Ok(status) = api.get::<RolloutStatus>(&path).await else {
        // Not a rollout (an immediate deploy or a rollback): the lock queue handles it.
        return Ok(());
    };
    if !matches!(status.phase, Phase::Running | Phase::Paused) {
        return Ok(());
    }
    if !emergency {
        return Err(Failure::Api(CallError {
            status: None,
            code: CliCode::EnvironmentBusy.into(),
            message: format!(
                "deployment {holder} is rolling out in this environment; `clodo abort {holder}` rolls every service of it back (or `clodo rollback --emergency --reason ...` aborts it and rolls back)"
            ),
        }));
    }
    say(&format!("  aborting the rollout of {holder} (emergency)"));
    let _: RolloutStatus = api
        .send::<(), _>(Method::POST, &format!("{path}/abort"), None)
        .await?;
    Ok(())
}

/// An emergency does not queue: a lock held by another deployment is broken (admin,
/// audited as `lock.force_unlock` with the reason), then taken.
async fn take_lock_now(
    api: &ApiClient,
    lock: &str,
    holder: &str,
    reason: &str,
) -> Result<(), Failure> {
    let info: LockInfo = api.get(lock).await?;
    if let Some(lease) = info
        .holder
        .filter(|l| info.held && l.claim.holder_id != holder)
    {
        say(&format!(
            "  breaking the lock held by {} (emergency)",
            lease.claim.holder_id
        ));
        let request = ForceUnlockRequest {
            reason: format!("emergency rollback {holder}: {reason}"),
        };
        let _: ForceUnlocked = api
            .send(
                Method::POST,
                &format!("{lock}/force-unlock"),
                Some(&request),
            )
            .await?;
    }
    acquire_lock(api, lock, holder).await
}

/// What the config says a version rollback cannot undo.
fn warn_about_migrations(l: &Loaded) {
    let service = l.service.as_deref().unwrap_or("service");
    if let Some(last) = l.worker.migrations.last() {
        say(&format!(
            "  warning: {service} declares Durable Object migrations (up to `{}`): a version rollback does not undo an applied migration, and Cloudflare refuses one across it",
            last.tag
        ));
    }
    for d1 in &l.worker.d1_databases {
        if d1.migrations_dir.is_some() {
            say(&format!(
                "  warning: {service}: D1 `{}` has migrations: the schema stays as it is after a version rollback",
                d1.binding
            ));
        }
    }
}

/// When the newest deployment of this environment applied Durable Object migrations (recorded
/// by `clodo deploy` in its snapshots), they are named explicitly.
fn warn_about_recorded_migrations(record: &[RecordedDeployment]) {
    // The newest deployment that shipped versions is the one being rolled back.
    let Some(newest) = record.iter().find(|d| !d.services.is_empty()) else {
        return;
    };
    for snapshot in &newest.services {
        if !snapshot.migrations_applied.is_empty() {
            say(&format!(
                "  warning: deployment {} applied Durable Object migration(s) {} to {}; rolling back the version leaves them applied",
                newest.id,
                snapshot.migrations_applied.join(", "),
                snapshot.script
            ));
        }
    }
}
