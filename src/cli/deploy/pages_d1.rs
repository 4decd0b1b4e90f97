//! `clodo deploy`'s D1 and Pages steps: each database's Time Travel bookmark recorded on the
//! deployment before `wrangler d1 migrations apply --remote` runs (checked afterwards against
//! the database's own migrations table), and each Pages site deployed with `wrangler pages
//! deploy` in its wave, recorded, and verified by fetching what the deployment serves. A
//! stopped deploy puts the Pages projects back on the deployment that served before.

use std::path::Path;

use reqwest::Method;

use crate::api::contract::pages_d1::{
    MigrationState, RecordMigration, RecordPagesDeployment, RecordedMigration,
    RecordedPagesDeployment,
};
use crate::cli::assess::Assessed;
use crate::cli::assess_pages_d1::{DatabaseTarget, PagesTarget};
use crate::cli::client::{self, enc, Failure};
use crate::cli::deployment::say;
use crate::cli::rollback::Cloudflare;
use crate::cli::wrangler::Wrangler;
use crate::deploy::steps::PendingDatabase;

/// The databases with their pending migrations; a database whose applied migrations could
/// not be read stops the deploy (nothing proves which files would run).
pub(super) fn pending_databases(assessed: &Assessed) -> Result<Vec<PendingDatabase>, Failure> {
    assessed
        .pages_d1
        .databases
        .iter()
        .map(|d| {
            d.pending
                .clone()
                .map(|pending| PendingDatabase {
                    database: d.database_name.clone(),
                    pending,
                })
                .ok_or_else(|| {
                    Failure::Setup(format!(
                        "D1 `{}` ({}): the applied migrations could not be read, so which migrations would run is unknown; nothing was deployed",
                        d.binding, d.database_name
                    ))
                })
        })
        .collect()
}

/// A Pages site this deployment put live.
#[derive(Debug, Clone)]
pub(super) struct PagesShipped {
    pub service: String,
    pub project: String,
    pub deployment_id: String,
    /// The production deployment that served before (what a stop returns to).
    pub previous: Option<String>,
    pub url: String,
    pub preview: bool,
}

/// Applies every database's pending migrations, each after its bookmark is recorded on the
/// deployment. Stops at the first failure, recording it.
pub(super) async fn apply_migrations(
    api: &client::Client,
    deployment_id: &str,
    assessed: &Assessed,
    env: Option<&str>,
) -> Result<(), Failure> {
    let cf = Cloudflare::for_project(&assessed.loaded)?;
    for db in &assessed.pages_d1.databases {
        let pending: Vec<String> = db
            .pending
            .iter()
            .flatten()
            .map(|m| m.name.clone())
            .collect();
        if pending.is_empty() {
            continue;
        }
        let bookmark = cf.d1_bookmark(&db.database_id).await.map_err(|e| {
            Failure::Setup(format!(
                "D1 `{}`: reading its Time Travel bookmark before migrating: {e}; no migration ran",
                db.database_name
            ))
        })?;
        let record = |state: MigrationState, detail: Option<String>| RecordMigration {
            service: db.service.clone(),
            database_id: db.database_id.clone(),
            database_name: db.database_name.clone(),
            bookmark: bookmark.clone(),
            migrations: pending.clone(),
            destructive: db.destructive(),
            state,
            detail,
        };
        let path = format!("/api/v1/deployments/{}/migrations", enc(deployment_id));
        let _: RecordedMigration = api
            .send(
                Method::POST,
                &path,
                Some(&record(MigrationState::Bookmarked, None)),
            )
            .await?;
        say(&format!(
            "▸ D1 {}: bookmark {bookmark} recorded; applying {}",
            db.database_name,
            pending.join(", ")
        ));
        let outcome = run_apply(db, env)
            .await
            .and(verify_applied(&cf, db, &pending).await);
        match outcome {
            Ok(()) => {
                let _: RecordedMigration = api
                    .send(
                        Method::POST,
                        &path,
                        Some(&record(MigrationState::Applied, None)),
                    )
                    .await?;
                say(&format!("  D1 {}: migrations applied", db.database_name));
            }
            Err(why) => {
                let detail = truncate(&why, 1900);
                // The failure is recorded before the deploy stops, so the record says why.
                let _ = api
                    .send::<_, RecordedMigration>(
                        Method::POST,
                        &path,
                        Some(&record(MigrationState::Failed, Some(detail.clone()))),
                    )
                    .await;
                say(&format!("✗ D1 {}: migration failed", db.database_name));
                return Err(Failure::Setup(format!(
                    "D1 migration of {} failed before any traffic moved: {detail} (restore point: wrangler d1 time-travel restore {} --bookmark {bookmark})",
                    db.database_name, db.database_name
                )));
            }
        }
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `wrangler d1 migrations apply <database> --remote` with the service's config and env.
async fn run_apply(db: &DatabaseTarget, env: Option<&str>) -> Result<(), String> {
    let file = db.config_file.clone();
    let database = db.database_name.clone();
    let env = env.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut args: Vec<String> = ["d1", "migrations", "apply", &database, "--remote"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if let Some(name) = file.file_name() {
            args.extend(["--config".to_owned(), name.to_string_lossy().into_owned()]);
        }
        if let Some(env) = env {
            args.extend(["--env".to_owned(), env]);
        }
        let wrangler = Wrangler::locate(&dir);
        say(&format!("  {}", wrangler.describe(&args)));
        wrangler
            .run(&dir, &args)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("migration task: {e}"))?
}

/// Wrangler continues after a statement that failed inside a 200 answer: the database's own
/// table says what really ran.
async fn verify_applied(
    cf: &Cloudflare,
    db: &DatabaseTarget,
    pending: &[String],
) -> Result<(), String> {
    let applied = cf
        .applied_migrations(&db.database_id, &db.migrations_table)
        .await
        .map_err(|e| format!("reading the applied migrations back: {e}"))?;
    let missing: Vec<&String> = pending.iter().filter(|m| !applied.contains(m)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "wrangler finished but {} not recorded as applied",
            missing
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Deploys one Pages site: to the project's production branch, or with `preview_branch` to
/// that branch's preview. Records it on the deployment (when there is one) and verifies it.
pub(super) async fn deploy_pages(
    api: Option<(&client::Client, &str)>,
    assessed: &Assessed,
    target: &PagesTarget,
    preview_branch: Option<&str>,
) -> Result<PagesShipped, String> {
    let service = &target.service;
    let project = target
        .project
        .clone()
        .ok_or_else(|| format!("{service}: no Pages project for this environment"))?;
    let remote = target
        .remote
        .as_ref()
        .ok_or_else(|| format!("{service}: Pages project `{project}` was not read"))?;
    let branch = preview_branch.map_or_else(|| remote.production_branch.clone(), str::to_owned);
    if branch.is_empty() {
        return Err(format!(
            "{service}: Pages project `{project}` has no production branch"
        ));
    }
    let cf = Cloudflare::for_project(&assessed.loaded)
        .map_err(|e| crate::cli::rollback::failure_text(&e))?;
    // What serves production now, read while holding the lock: a stop goes back to it.
    let previous = match preview_branch {
        Some(_) => None,
        None => cf
            .pages_deployments(&project)
            .await
            .map_err(|e| format!("{service}: reading Pages deployments of {project}: {e}"))?
            .into_iter()
            .find(crate::cloudflare::endpoints::PagesDeployment::is_good_production)
            .map(|d| d.id),
    };
    // Absolute, since wrangler runs from the directory above it.
    let dir = std::fs::canonicalize(&target.output_dir)
        .map_err(|e| format!("{service}: {}: {e}", target.output_dir.display()))?;
    let args = vec![
        "pages".to_owned(),
        "deploy".to_owned(),
        dir.display().to_string(),
        "--project-name".to_owned(),
        project.clone(),
        "--branch".to_owned(),
        branch.clone(),
        "--commit-dirty=true".to_owned(),
    ];
    let cwd = dir.parent().unwrap_or(Path::new(".")).to_path_buf();
    let wrangler = Wrangler::locate(&cwd);
    say(&format!("  {service}: {}", wrangler.describe(&args)));
    let outcome = tokio::task::spawn_blocking(move || wrangler.run(&cwd, &args))
        .await
        .map_err(|e| format!("{service}: pages task: {e}"))?
        .map_err(|e| format!("{service}: {e}"))?;
    let deployed = outcome
        .pages
        .ok_or_else(|| format!("{service}: wrangler finished but reported no Pages deployment"))?;
    let url = deployed
        .alias
        .clone()
        .filter(|_| preview_branch.is_some())
        .or(deployed.url.clone())
        .ok_or_else(|| {
            format!(
                "{service}: wrangler reported no URL for {}",
                deployed.deployment_id
            )
        })?;
    say(&format!(
        "  {service}: Pages deployment {} at {url}",
        deployed.deployment_id
    ));
    let shipped = PagesShipped {
        service: service.clone(),
        project: project.clone(),
        deployment_id: deployed.deployment_id.clone(),
        previous,
        url: url.clone(),
        preview: preview_branch.is_some(),
    };
    if let Some((api, deployment_id)) = api {
        let record = RecordPagesDeployment {
            service: service.clone(),
            project,
            pages_deployment_id: deployed.deployment_id.clone(),
            previous_deployment_id: shipped.previous.clone(),
            url: url.clone(),
            branch,
            preview: shipped.preview,
        };
        let _: RecordedPagesDeployment = api
            .send(
                Method::POST,
                &format!("/api/v1/deployments/{}/pages", enc(deployment_id)),
                Some(&record),
            )
            .await
            .map_err(|e| format!("{service}: recording the Pages deployment: {}", e.message))?;
    }
    verify(&deployed.url.unwrap_or(url))
        .await
        .map_err(|e| format!("{service}: verifying {}: {e}", shipped.deployment_id))?;
    say(&format!("  {service}: verified"));
    Ok(shipped)
}

/// Fetches the deployment's root: 2xx with a body, within 10 s. `CLODO_PAGES_ORIGIN` sends the
/// request to another origin with the deployment's host name in `Host` (a local sandbox or a
/// proxy that serves `*.pages.dev` hosts).
async fn verify(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let origin = std::env::var("CLODO_PAGES_ORIGIN")
        .ok()
        .filter(|o| !o.trim().is_empty());
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let request = match &origin {
        Some(o) => client
            .get(format!("{}{}", o.trim_end_matches('/'), parsed.path()))
            .header(reqwest::header::HOST, host),
        None => client.get(parsed.clone()),
    };
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    if body.trim().is_empty() {
        return Err("empty body".into());
    }
    Ok(())
}

/// After a stopped deploy: each production site goes back to what served before (the Pages
/// rollback API); a site that had nothing before stays, said so.
pub(super) async fn restore_pages(shipped: &[PagesShipped]) -> String {
    if shipped.is_empty() {
        return String::new();
    }
    let cf = match Cloudflare::from_env() {
        Ok(cf) => cf,
        Err(e) => {
            return format!(
                "Pages NOT restored: {}",
                crate::cli::rollback::failure_text(&e)
            )
        }
    };
    let mut notes = Vec::new();
    for s in shipped.iter().filter(|s| !s.preview) {
        let note = match &s.previous {
            None => format!(
                "{} stays on {} (nothing served before)",
                s.service, s.deployment_id
            ),
            Some(prev) => match cf.rollback_pages(&s.project, prev).await {
                Ok(_) => format!("{} (Pages) restored to {prev}", s.service),
                Err(e) => format!("{} (Pages) NOT restored to {prev}: {e}", s.service),
            },
        };
        say(&format!("  {note}"));
        notes.push(note);
    }
    notes.join("; ")
}

/// Environment promotion and scheduled starts ship Worker versions only (the control plane
/// cannot run wrangler at a scheduled time): a Pages site or a pending D1 migration would be
/// left behind, so they are refused, saying what to run instead, rather than ignored.
pub(in crate::cli) fn refuse_pages_and_migrations(
    assessed: &Assessed,
    what: &str,
    env: &str,
) -> Result<(), Failure> {
    if let Some(site) = assessed.pages_d1.pages.first() {
        return Err(Failure::Setup(format!(
            "service `{}` is a Pages site: {what} ships Worker versions only and would leave it behind; deploy it with `clodo deploy --env {env}`",
            site.service
        )));
    }
    let pending: Vec<&str> = assessed
        .pages_d1
        .databases
        .iter()
        .filter(|d| d.pending.as_ref().is_none_or(|p| !p.is_empty()))
        .map(|d| d.database_name.as_str())
        .collect();
    if !pending.is_empty() {
        return Err(Failure::Setup(format!(
            "D1 {} in {env} has migrations pending (or unreadable): {what} does not apply migrations; run `clodo deploy --env {env}` so they run before traffic moves",
            pending.join(", ")
        )));
    }
    Ok(())
}
