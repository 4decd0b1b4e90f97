//! `clodo deploy`'s work on Cloudflare while it holds the environment's lock: reading what
//! each Worker serves now, uploading the services wave by wave with wrangler, and putting back
//! what a stopped deploy switched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::assess::Assessed;
use crate::cli::client::Failure;
use crate::cli::deployment::say;
use crate::cli::errors::CliCode;
use crate::cli::output::Progress;
use crate::cli::rollback::{failure_text, Cloudflare};
use crate::cli::wrangler::Wrangler;
use crate::deploy::{
    self, RemoteScript, RestoreAction, ServiceSnapshot, Shipped, UploadCommand, UploadDecision,
    UploadReason,
};

/// One service uploaded by this deployment.
#[derive(Debug, Clone)]
pub(in crate::cli) struct Uploaded {
    pub service: String,
    pub script: String,
    pub previous_version: Option<String>,
    pub new_version: String,
    pub decision: UploadDecision,
}

/// What one Worker serves now, read while holding the environment's lock.
#[derive(Debug, Clone, Default)]
pub(in crate::cli) struct ScriptNow {
    /// `None`: the Worker does not exist yet.
    pub(super) remote: Option<RemoteScript>,
    /// The version serving most of the traffic (`None`: not deployed).
    pub(super) live: Option<String>,
}

/// Reads, for every Worker of the plan, whether it exists, its Durable Object migration tag
/// and the version serving most of its traffic now.
pub(in crate::cli) async fn read_live(
    assessed: &Assessed,
    plan: &deploy::WavePlan,
) -> Result<BTreeMap<String, ScriptNow>, Failure> {
    let cf = Cloudflare::for_project(&assessed.loaded)?;
    let scripts = cf.scripts().await.map_err(|e| {
        Failure::Local(
            CliCode::CloudflareUnreachable,
            format!("listing the account's Workers: {e}"),
        )
    })?;
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
            .map_err(|e| {
                Failure::Local(
                    CliCode::CloudflareUnreachable,
                    format!("{script}: reading deployments: {e}"),
                )
            })?
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

pub(super) fn script_of(assessed: &Assessed, service: &str) -> Option<String> {
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

/// Uploads wave after wave (numbered after `waves_before`); the Workers of a wave run side by
/// side (Pages services of the plan are skipped here). On a failure, returns what was
/// uploaded so far with the reason. `entries` (promotions) names, per service, a main module
/// already built elsewhere: wrangler uploads it and the modules beside it unbundled
/// (`--no-bundle`), with the environment's configuration and bindings.
pub(in crate::cli) async fn upload_waves(
    assessed: &Assessed,
    now: &BTreeMap<String, ScriptNow>,
    plan: &deploy::WavePlan,
    env: Option<&str>,
    entries: &BTreeMap<String, PathBuf>,
    waves_before: usize,
) -> Result<Vec<Uploaded>, (Vec<Uploaded>, String)> {
    let mut done: Vec<Uploaded> = Vec::new();
    // The bar counts the Workers uploaded (Pages services are not uploaded here); it is drawn
    // once the first wave's count is known.
    let mut progress: Option<Progress> = None;
    let mut workers = 0;
    for (i, wave) in plan.waves.iter().enumerate() {
        let title = format!("wave {}: {}", waves_before + i + 1, wave.join(", "));
        say(&format!("▸ {title}"));
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
                    entry: entries.get(name).cloned(),
                })
            })
            .collect();
        workers += u64::try_from(jobs.len()).unwrap_or(0);
        let bar = progress.get_or_insert_with(|| Progress::bar(workers, "upload"));
        bar.set_length(workers);
        bar.set_message(&title);
        let ticker = bar.handle();
        let results = tokio::task::spawn_blocking(move || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = jobs
                    .into_iter()
                    .map(|job| {
                        let ticker = ticker.clone();
                        scope.spawn(move || {
                            let uploaded = job.run();
                            if let Some(bar) = ticker {
                                bar.inc(1);
                            }
                            uploaded
                        })
                    })
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
    /// A main module to upload as it is (`wrangler … <entry> --no-bundle`).
    entry: Option<PathBuf>,
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
        if let Some(entry) = &self.entry {
            args.extend([
                entry.to_string_lossy().into_owned(),
                "--no-bundle".to_owned(),
            ]);
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
pub(in crate::cli) async fn restore_now(done: &[Uploaded]) -> String {
    restore(done, Switched::DeployedOnly).await
}

/// Which uploads may be serving their new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::cli) enum Switched {
    /// Those `wrangler deploy` put at 100%.
    DeployedOnly,
    /// Whatever Cloudflare says serves now (any new version taking traffic), read per Worker;
    /// a Worker that cannot be read counts as switched.
    AsServedNow,
}

/// Puts back what a stopped deployment switched, following the restore plan: a service that
/// applied a Durable Object migration is flagged and stays on its new version (Cloudflare
/// refuses the way back), a new Worker stays, the others go back to what served before.
pub(in crate::cli) async fn restore(done: &[Uploaded], switched: Switched) -> String {
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
pub(in crate::cli) fn snapshots(assessed: &Assessed, uploads: &[Uploaded]) -> Vec<ServiceSnapshot> {
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
