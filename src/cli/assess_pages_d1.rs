//! The Pages and D1-migration part of `clodo assess` (and so of `clodo deploy`): reads each
//! Pages service's project (and the lists its bindings and domains need) and each D1
//! database's applied migrations, hands the facts to `assess::rules::pages_d1`, and keeps
//! what the deploy needs next (the project, the pending migrations).

use std::path::{Path, PathBuf};

use super::assess::Loaded;
use super::rollback::Cloudflare;
use crate::assess::rules::pages_d1::{
    migration_findings, needed_lists, pages_findings, D1Facts, PagesFacts, Read,
};
use crate::assess::Finding;
use crate::cloudflare::endpoints::{
    ListD1Databases, ListKvNamespaces, ListR2Buckets, ListZones, PagesProject,
};
use crate::config::ProjectConfig;
use crate::deploy::migrations::{analyse, MigrationFile, DEFAULT_MIGRATIONS_TABLE};

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

fn read<T>(r: Result<T, crate::cloudflare::CallError>) -> Read<T> {
    r.map_err(|e| e.to_string())
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

/// Runs the checks; `cf` is `None` offline (only the local checks then).
pub(super) async fn assess_pages_d1(
    project: &ProjectConfig,
    project_file: &Path,
    loaded: &[Loaded],
    env: Option<&str>,
    cf: Option<&Cloudflare>,
) -> PagesD1 {
    let mut out = PagesD1::default();
    for service in project.services.iter().filter(|s| !s.is_worker()) {
        let Some(pages) = &service.pages else {
            continue;
        };
        let name = pages.project_for(env);
        let output_dir = pages.output_path(project_file);
        let remote: Read<Option<PagesProject>> = match (cf, name) {
            (Some(cf), Some(n)) => read(cf.pages_project(n).await),
            _ => Ok(None),
        };
        if cf.is_none() {
            // Offline: only the build output is checked.
            let mut found = pages_findings(&PagesFacts {
                service: &service.name,
                env,
                location: &service.location,
                project_name: name,
                expected_branch: None,
                output_files: count_files(&output_dir),
                output_dir: &pages.build_output_dir,
                project: Ok(Some(PagesProject::default())),
                d1: Ok(vec![]),
                kv: Ok(vec![]),
                r2: Ok(vec![]),
                scripts: Ok(vec![]),
                zones: Ok(vec![]),
            });
            out.findings.append(&mut found);
            out.pages.push(PagesTarget {
                service: service.name.clone(),
                project: name.map(str::to_owned),
                output_dir,
                remote: None,
            });
            continue;
        }
        let cf = cf.expect("online");
        let wants = match &remote {
            Ok(Some(p)) => needed_lists(p),
            _ => [false; 4],
        };
        let has_domains =
            matches!(&remote, Ok(Some(p)) if p.domains.iter().any(|d| !d.ends_with(".pages.dev")));
        let account = cf.account.clone();
        let d1 = if wants[0] {
            read(
                cf.client
                    .list(&ListD1Databases {
                        account: account.clone(),
                    })
                    .await,
            )
        } else {
            Ok(vec![])
        };
        let kv = if wants[1] {
            read(
                cf.client
                    .list(&ListKvNamespaces {
                        account: account.clone(),
                    })
                    .await,
            )
        } else {
            Ok(vec![])
        };
        let r2 = if wants[2] {
            read(
                cf.client
                    .list(&ListR2Buckets {
                        account: account.clone(),
                        jurisdiction: None,
                    })
                    .await,
            )
        } else {
            Ok(vec![])
        };
        let scripts = if wants[3] {
            read(cf.scripts().await)
        } else {
            Ok(vec![])
        };
        let zones = if has_domains {
            read(
                cf.client
                    .list(&ListZones {
                        account: account.clone(),
                    })
                    .await,
            )
        } else {
            Ok(vec![])
        };
        let mut found = pages_findings(&PagesFacts {
            service: &service.name,
            env,
            location: &service.location,
            project_name: name,
            expected_branch: pages.production_branch.as_deref(),
            output_files: count_files(&output_dir),
            output_dir: &pages.build_output_dir,
            project: remote.clone(),
            d1,
            kv,
            r2,
            scripts,
            zones,
        });
        out.findings.append(&mut found);
        out.pages.push(PagesTarget {
            service: service.name.clone(),
            project: name.map(str::to_owned),
            output_dir,
            remote: remote.ok().flatten(),
        });
    }
    let strategy = project.settings(env).strategy;
    for l in loaded {
        let service = l.service.clone().unwrap_or_default();
        for b in &l.worker.d1_databases {
            let (Some(dir), Some(id)) = (&b.migrations_dir, &b.database_id) else {
                continue;
            };
            let dir_path = l.file.parent().unwrap_or(Path::new(".")).join(dir);
            let database = b.database_name.clone().unwrap_or_else(|| id.clone());
            let table = b
                .migrations_table
                .clone()
                .unwrap_or_else(|| DEFAULT_MIGRATIONS_TABLE.to_owned());
            let files = migration_files(&dir_path);
            let pending: Read<_> = match (files, cf) {
                (Err(e), _) => Err(e),
                (Ok(files), Some(cf)) => read(cf.applied_migrations(id, &table).await)
                    .map(|applied| analyse(&files, &applied)),
                // Offline: every file counts as pending, judged against the others.
                (Ok(files), None) => Ok(analyse(&files, &[])),
            };
            let mut found = migration_findings(
                &D1Facts {
                    service: &service,
                    env,
                    binding: &b.binding,
                    database: &database,
                    location: &b.location,
                    pending: pending.clone(),
                },
                strategy,
            );
            if cf.is_some() {
                out.findings.append(&mut found);
            }
            out.databases.push(DatabaseTarget {
                service: service.clone(),
                binding: b.binding.clone(),
                database_name: database,
                database_id: id.clone(),
                migrations_table: table,
                config_file: l.file.clone(),
                pending: pending.ok().filter(|_| cf.is_some()),
            });
        }
    }
    out
}
