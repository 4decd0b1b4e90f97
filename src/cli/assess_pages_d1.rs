//! The Pages and D1-migration part of `clodo assess` (and so of `clodo deploy`): reads each
//! Pages service's project (and the lists its bindings and domains need) and each D1
//! database's applied migrations, hands the facts to `assess::rules::pages_d1`, and keeps
//! what the deploy needs next (the project, the pending migrations).

use std::path::{Path, PathBuf};

use super::assess::Loaded;
use super::rollback::Cloudflare;
use crate::assess::inventory::pages_d1::{self as shared, D1Input, Output, PagesInput};
use crate::assess::Finding;
use crate::cloudflare::endpoints::PagesProject;
use crate::config::ProjectConfig;
use crate::deploy::migrations::MigrationFile;

/// A Pages service as assessed for one environment.
#[derive(Debug, Clone)]
pub(super) struct PagesTarget {
    pub service: String,
    pub project: Option<String>,
    pub output_dir: PathBuf,
    /// What Cloudflare has (`None`: not read, offline or missing).
    pub remote: Option<PagesProject>,
}

/// One D1 database with migrations, as assessed.
#[derive(Debug, Clone)]
pub(super) struct DatabaseTarget {
    pub service: String,
    pub binding: String,
    pub database_name: String,
    pub database_id: String,
    pub migrations_table: String,
    /// The wrangler config that binds it (`wrangler d1 migrations apply` runs with it).
    pub config_file: PathBuf,
    /// Pending migrations, in order, with their destructive statements (`None`: not read).
    pub pending: Option<Vec<crate::deploy::migrations::MigrationReport>>,
}

impl DatabaseTarget {
    #[must_use]
    pub fn destructive(&self) -> bool {
        self.pending
            .iter()
            .flatten()
            .any(|m| !m.destructive.is_empty())
    }
}

/// What this part of the assessment found and read.
#[derive(Debug, Default)]
pub(super) struct PagesD1 {
    pub findings: Vec<Finding>,
    pub pages: Vec<PagesTarget>,
    pub databases: Vec<DatabaseTarget>,
}

fn count_files(dir: &Path) -> Option<usize> {
    fn walk(dir: &Path) -> std::io::Result<usize> {
        let mut n = 0;
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            n += if e.file_type()?.is_dir() {
                walk(&e.path())?
            } else {
                1
            };
        }
        Ok(n)
    }
    dir.is_dir().then(|| walk(dir).unwrap_or(0))
}

/// The `*.sql` files of a migrations directory (none when it does not exist).
pub(super) fn migration_files(dir: &Path) -> Result<Vec<MigrationFile>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") {
            continue;
        }
        let sql = std::fs::read_to_string(e.path())
            .map_err(|err| format!("cannot read {}: {err}", e.path().display()))?;
        out.push(MigrationFile { name, sql });
    }
    Ok(out)
}

/// Runs the checks (the shared `assess::inventory::pages_d1`, as the hosted assessment does)
/// on what this checkout has; `cf` is `None` offline (only the local checks then).
pub(super) async fn assess_pages_d1(
    project: &ProjectConfig,
    project_file: &Path,
    loaded: &[Loaded],
    env: Option<&str>,
    cf: Option<&Cloudflare>,
) -> PagesD1 {
    let (pages, databases) = inputs(project, project_file, loaded, env);
    let strategy = project.settings(env).strategy;
    let outcome = shared::assess_pages_d1(&pages, &databases, env, strategy, cf).await;
    let mut out = PagesD1 {
        findings: outcome.findings,
        ..PagesD1::default()
    };
    for (p, remote) in pages.into_iter().zip(outcome.projects) {
        let output_dir = project
            .services
            .iter()
            .find(|s| s.name == p.service)
            .and_then(|s| s.pages.as_ref())
            .map(|pg| pg.output_path(project_file))
            .unwrap_or_default();
        out.pages.push(PagesTarget {
            service: p.service,
            project: p.project_name,
            output_dir,
            remote,
        });
    }
    for ((d, config_file), pending) in databases
        .into_iter()
        .zip(config_files(loaded))
        .zip(outcome.pending)
    {
        out.databases.push(DatabaseTarget {
            service: d.service,
            binding: d.binding,
            database_name: d.database,
            database_id: d.database_id,
            migrations_table: d.migrations_table,
            config_file,
            pending,
        });
    }
    out
}

/// The wrangler config of each database [`inputs`] lists, in the same order.
fn config_files(loaded: &[Loaded]) -> Vec<PathBuf> {
    loaded
        .iter()
        .flat_map(|l| {
            l.worker
                .d1_databases
                .iter()
                .filter(|b| b.migrations_dir.is_some() && b.database_id.is_some())
                .map(|_| l.file.clone())
        })
        .collect()
}

/// What this checkout says about each Pages service and each D1 database with migrations:
/// the inputs of the shared checks (the hosted path builds the same from its request).
pub(super) fn inputs(
    project: &ProjectConfig,
    project_file: &Path,
    loaded: &[Loaded],
    env: Option<&str>,
) -> (Vec<PagesInput>, Vec<D1Input>) {
    let pages = project
        .services
        .iter()
        .filter(|s| !s.is_worker())
        .filter_map(|service| {
            let pages = service.pages.as_ref()?;
            Some(PagesInput {
                service: service.name.clone(),
                location: service.location.clone(),
                project_name: pages.project_for(env).map(str::to_owned),
                expected_branch: pages.production_branch.clone(),
                output_dir: pages.build_output_dir.clone(),
                output: Output::Files(count_files(&pages.output_path(project_file))),
            })
        })
        .collect();
    let mut databases = Vec::new();
    for l in loaded {
        let service = l.service.clone().unwrap_or_default();
        let base = l.file.parent().unwrap_or(Path::new("."));
        databases.extend(l.worker.d1_databases.iter().filter_map(|b| {
            D1Input::of(&service, b, |dir| Some(migration_files(&base.join(dir))))
        }));
    }
    (pages, databases)
}
