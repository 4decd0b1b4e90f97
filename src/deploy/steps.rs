//! The order of a deploy's steps, pure: every D1 database's migrations first (a Time Travel
//! bookmark, then `wrangler d1 migrations apply`), then the waves (each wave's Workers uploaded
//! as versions, then its Pages sites), and only then the traffic move. A migration that fails
//! stops the deploy before any wave, so nothing serves the new code against a half-migrated
//! database; the old code keeps running against the new schema (see docs/migrations.md).

use std::fmt;

use serde::Serialize;

use super::migrations::MigrationReport;
use super::plan::WavePlan;

/// One database with its pending migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDatabase {
    pub database: String,
    pub pending: Vec<MigrationReport>,
}

/// One step of a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum DeployStep {
    /// Record the database's current Time Travel bookmark on the deployment.
    Bookmark { database: String },
    /// Apply its pending migrations.
    Migrate {
        database: String,
        migrations: Vec<String>,
    },
    /// Upload one wave: its Workers as versions, then its Pages sites.
    Wave {
        number: usize,
        workers: Vec<String>,
        pages: Vec<String>,
    },
    /// The rollout moves the Workers' traffic.
    MoveTraffic,
}

impl fmt::Display for DeployStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployStep::Bookmark { database } => write!(f, "bookmark {database}"),
            DeployStep::Migrate {
                database,
                migrations,
            } => write!(f, "migrate {database} ({})", migrations.join(", ")),
            DeployStep::Wave {
                number,
                workers,
                pages,
            } => {
                let mut names: Vec<String> = workers.clone();
                names.extend(pages.iter().map(|p| format!("{p} (Pages)")));
                write!(f, "wave {number}: {}", names.join(", "))
            }
            DeployStep::MoveTraffic => f.write_str("move traffic"),
        }
    }
}

/// The steps of a deploy: migrations (databases with pending ones), waves, traffic. `pages`
/// names the Pages services; the other services of the plan are Workers.
#[must_use]
pub fn deploy_steps(
    plan: &WavePlan,
    pages: &[String],
    databases: &[PendingDatabase],
) -> Vec<DeployStep> {
    let mut steps = Vec::new();
    for d in databases.iter().filter(|d| !d.pending.is_empty()) {
        steps.push(DeployStep::Bookmark {
            database: d.database.clone(),
        });
        steps.push(DeployStep::Migrate {
            database: d.database.clone(),
            migrations: d.pending.iter().map(|m| m.name.clone()).collect(),
        });
    }
    for (i, wave) in plan.waves.iter().enumerate() {
        let (site, workers): (Vec<String>, Vec<String>) =
            wave.iter().cloned().partition(|s| pages.contains(s));
        steps.push(DeployStep::Wave {
            number: i + 1,
            workers,
            pages: site,
        });
    }
    steps.push(DeployStep::MoveTraffic);
    steps
}

/// Refuses destructive pending migrations unless the deploy allows them, naming each
/// statement and the flag.
///
/// # Errors
/// The refusal's text.
pub fn refuse_destructive(databases: &[PendingDatabase], allow: bool) -> Result<(), String> {
    let found: Vec<String> = databases
        .iter()
        .flat_map(|d| {
            d.pending.iter().flat_map(move |m| {
                m.destructive
                    .iter()
                    .map(move |x| format!("{} {}: {x}", d.database, m.name))
            })
        })
        .collect();
    if found.is_empty() || allow {
        return Ok(());
    }
    Err(format!(
        "destructive migration(s) refused: {}; nothing was deployed. Ship code that no longer needs what goes away first, then deploy again with --allow-destructive (docs/migrations.md)",
        found.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::migrations::Destructive;

    fn plan() -> WavePlan {
        WavePlan {
            waves: vec![
                vec!["api".into()],
                vec!["web".into(), "storefront".into(), "jobs".into()],
            ],
            dependencies: vec![],
        }
    }

    fn db(name: &str, files: &[&str], destructive: bool) -> PendingDatabase {
        PendingDatabase {
            database: name.into(),
            pending: files
                .iter()
                .map(|f| MigrationReport {
                    name: (*f).into(),
                    destructive: if destructive {
                        vec![Destructive::DropTable { table: "t".into() }]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn migrations_come_before_every_wave_and_traffic_last() {
        let steps = deploy_steps(
            &plan(),
            &["storefront".into()],
            &[
                db("shop-db", &["0002_add_column.sql"], false),
                db("other", &[], false),
            ],
        );
        let text: Vec<String> = steps.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "bookmark shop-db",
                "migrate shop-db (0002_add_column.sql)",
                "wave 1: api",
                "wave 2: web, jobs, storefront (Pages)",
                "move traffic",
            ]
        );
        let first_wave = steps
            .iter()
            .position(|s| matches!(s, DeployStep::Wave { .. }))
            .unwrap();
        let last_migration = steps
            .iter()
            .rposition(|s| matches!(s, DeployStep::Migrate { .. }))
            .unwrap();
        assert!(last_migration < first_wave);
        assert_eq!(steps.last(), Some(&DeployStep::MoveTraffic));
    }

    #[test]
    fn without_pending_migrations_there_is_no_bookmark() {
        let steps = deploy_steps(&plan(), &[], &[db("shop-db", &[], false)]);
        assert!(matches!(steps[0], DeployStep::Wave { number: 1, .. }));
    }

    #[test]
    fn destructive_migrations_need_the_flag() {
        let dbs = [db("shop-db", &["0003_drop.sql"], true)];
        let err = refuse_destructive(&dbs, false).unwrap_err();
        assert!(err.contains("shop-db 0003_drop.sql: DROP TABLE t"), "{err}");
        assert!(err.contains("--allow-destructive"), "{err}");
        assert!(refuse_destructive(&dbs, true).is_ok());
        assert!(refuse_destructive(&[db("x", &["1.sql"], false)], false).is_ok());
    }
}
