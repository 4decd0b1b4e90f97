//! The Pages and D1-migration part of an assessment, shared by `clodo assess` and the hosted
//! `POST /api/v1/assessments`: what each path knows is turned into the same inputs
//! ([`PagesInput`], [`D1Input`]); this fetches what the account says (a Pages project and the
//! lists its bindings and domains need, a database's applied migrations) and hands the facts to
//! `rules::pages_d1`, so both paths give the same findings for the same project.

use crate::assess::rules::pages_d1::{
    migration_findings, needed_lists, pages_findings, D1Facts, PagesFacts, Read,
};
use crate::assess::{Finding, Kind, Severity};
use crate::cloudflare::endpoints::{
    ListD1Databases, ListKvNamespaces, ListR2Buckets, ListZones, PagesProject,
};
use crate::cloudflare::{AccountClient, CallError, Transport};
use crate::config::{Location, Strategy};
use crate::deploy::migrations::{analyse, MigrationFile, MigrationReport};

/// A Pages service to assess.
#[derive(Debug, Clone)]
pub struct PagesInput {
    pub service: String,
    pub location: Location,
    /// The project for the environment (`None`: clodo.toml names none).
    pub project_name: Option<String>,
    pub expected_branch: Option<String>,
    pub output_dir: String,
    /// Files in the build output directory (`None`: the directory is missing); not known on
    /// the hosted path, which has no checkout (`Unknown`: that check is the CLI's).
    pub output: Output,
}

/// What is known of a Pages service's build output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Files(Option<usize>),
    Unknown,
}

/// A D1 database with a `migrations_dir`, to assess.
#[derive(Debug, Clone)]
pub struct D1Input {
    pub service: String,
    pub binding: String,
    pub database: String,
    pub database_id: String,
    pub migrations_table: String,
    pub migrations_dir: String,
    pub location: Location,
    /// The directory's `*.sql` files (`Err`: they could not be read; `None`: the caller does
    /// not have them, as a hosted request that carried none: the check cannot be made).
    pub files: Option<Read<Vec<MigrationFile>>>,
}

impl D1Input {
    /// The input for `binding` of `service` when it names a database id and a migrations
    /// directory (`None` otherwise: nothing to migrate), with the files the caller has.
    #[must_use]
    pub fn of(
        service: &str,
        binding: &crate::config::D1Binding,
        files: impl FnOnce(&str) -> Option<Read<Vec<MigrationFile>>>,
    ) -> Option<Self> {
        let (Some(dir), Some(id)) = (&binding.migrations_dir, &binding.database_id) else {
            return None;
        };
        Some(Self {
            service: service.to_owned(),
            binding: binding.binding.clone(),
            database: binding.database_name.clone().unwrap_or_else(|| id.clone()),
            database_id: id.clone(),
            migrations_table: binding
                .migrations_table
                .clone()
                .unwrap_or_else(|| crate::deploy::migrations::DEFAULT_MIGRATIONS_TABLE.to_owned()),
            migrations_dir: dir.clone(),
            location: binding.location.clone(),
            files: files(dir),
        })
    }
}

/// What the Pages/D1 part found, with what a deploy needs next.
#[derive(Debug, Default)]
pub struct PagesD1Outcome {
    pub findings: Vec<Finding>,
    /// Per [`PagesInput`], in order: the project Cloudflare has (`None`: not read or missing).
    pub projects: Vec<Option<PagesProject>>,
    /// Per [`D1Input`], in order: its pending migrations (`None`: not known).
    pub pending: Vec<Option<Vec<MigrationReport>>>,
}

fn read<T>(r: Result<T, CallError>) -> Read<T> {
    r.map_err(|e| e.to_string())
}

/// A list only when `wanted`; an empty one otherwise (nothing to match against it).
async fn list_if<T, F>(wanted: bool, call: F) -> Read<Vec<T>>
where
    F: std::future::Future<Output = Result<Vec<T>, CallError>>,
{
    if wanted {
        read(call.await)
    } else {
        Ok(vec![])
    }
}

/// The findings of one Pages service against the account (`cf`), or only its local check
/// offline.
async fn one_site<T: Transport>(
    p: &PagesInput,
    env: Option<&str>,
    cf: Option<&AccountClient<T>>,
) -> (Vec<Finding>, Option<PagesProject>) {
    let output_files = match p.output {
        Output::Files(n) => n,
        // Not this path's to check: counted as present so no finding is made of it.
        Output::Unknown => Some(1),
    };
    let name = p.project_name.as_deref();
    let facts = |project, d1, kv, r2, scripts, zones, expected_branch| PagesFacts {
        service: &p.service,
        env,
        location: &p.location,
        project_name: name,
        expected_branch,
        output_files,
        output_dir: &p.output_dir,
        project,
        d1,
        kv,
        r2,
        scripts,
        zones,
    };
    let Some(cf) = cf else {
        // Offline: only the build output is checked.
        let f = facts(
            Ok(Some(PagesProject::default())),
            Ok(vec![]),
            Ok(vec![]),
            Ok(vec![]),
            Ok(vec![]),
            Ok(vec![]),
            None,
        );
        return (pages_findings(&f), None);
    };
    let remote: Read<Option<PagesProject>> = match name {
        Some(n) => read(cf.pages_project(n).await),
        None => Ok(None),
    };
    let wants = match &remote {
        Ok(Some(p)) => needed_lists(p),
        _ => [false; 4],
    };
    let has_domains =
        matches!(&remote, Ok(Some(p)) if p.domains.iter().any(|d| !d.ends_with(".pages.dev")));
    let account = cf.account.clone();
    let d1 = list_if(
        wants[0],
        cf.client.list(&ListD1Databases {
            account: account.clone(),
        }),
    )
    .await;
    let kv = list_if(
        wants[1],
        cf.client.list(&ListKvNamespaces {
            account: account.clone(),
        }),
    )
    .await;
    let r2 = list_if(
        wants[2],
        cf.client.list(&ListR2Buckets {
            account: account.clone(),
            jurisdiction: None,
        }),
    )
    .await;
    let scripts = list_if(wants[3], cf.scripts()).await;
    let zones = list_if(has_domains, cf.client.list(&ListZones { account })).await;
    let f = facts(
        remote.clone(),
        d1,
        kv,
        r2,
        scripts,
        zones,
        p.expected_branch.as_deref(),
    );
    (pages_findings(&f), remote.ok().flatten())
}

/// A database whose migrations the caller does not have: the check could not be made.
fn migrations_not_sent(d: &D1Input, env: Option<&str>) -> Finding {
    Finding::new(
        Kind::Inconclusive,
        Severity::Warning,
        format!(
            "D1 `{}` ({}): the pending-migration check could not be made: the request carried no files of migrations_dir `{}`",
            d.binding, d.database, d.migrations_dir
        ),
        "send the directory's files in the request's `migrations` (clodo assess reads them from the checkout)",
    )
    .for_service(Some(&d.service), env)
    .at(crate::assess::rules::location_of(&d.location))
    .unverified()
}

/// Runs the Pages and D1-migration checks. Offline (`cf` is `None`) only the local checks
/// run: the build output of each site (the migrations need the applied list).
pub async fn assess_pages_d1<T: Transport>(
    pages: &[PagesInput],
    databases: &[D1Input],
    env: Option<&str>,
    strategy: Strategy,
    cf: Option<&AccountClient<T>>,
) -> PagesD1Outcome {
    let mut out = PagesD1Outcome::default();
    for p in pages {
        let (mut found, project) = one_site(p, env, cf).await;
        out.findings.append(&mut found);
        out.projects.push(project);
    }
    for d in databases {
        let Some(cf) = cf else {
            out.pending.push(None);
            continue;
        };
        let files = match &d.files {
            None => {
                out.findings.push(migrations_not_sent(d, env));
                out.pending.push(None);
                continue;
            }
            Some(files) => files.clone(),
        };
        let pending: Read<Vec<MigrationReport>> = match files {
            Err(e) => Err(e),
            Ok(files) => read(
                cf.applied_migrations(&d.database_id, &d.migrations_table)
                    .await,
            )
            .map(|applied| analyse(&files, &applied)),
        };
        out.findings.extend(migration_findings(
            &D1Facts {
                service: &d.service,
                env,
                binding: &d.binding,
                database: &d.database,
                location: &d.location,
                pending: pending.clone(),
            },
            strategy,
        ));
        out.pending.push(pending.ok());
    }
    out
}

/// The inputs of a hosted assessment: its Pages services as the request lists them, and each
/// D1 binding of the resolved config with a `migrations_dir`, with the files the request
/// carried for it (none listed: the check cannot be made, see [`D1Input::files`]).
#[must_use]
pub fn hosted_inputs(
    request: &crate::api::contract::assessments::NewAssessment,
    worker: &crate::config::ResolvedWorker,
) -> (Vec<PagesInput>, Vec<D1Input>) {
    let pages = request
        .pages
        .iter()
        .map(|p| PagesInput {
            service: p.service.clone(),
            location: Location {
                file: "clodo.toml".into(),
                line: None,
                column: None,
                key_path: format!("services.{}", p.service),
            },
            project_name: p.project.clone(),
            expected_branch: p.production_branch.clone(),
            output_dir: String::new(),
            output: Output::Unknown,
        })
        .collect();
    let service = request
        .service
        .clone()
        .or_else(|| worker.name.clone())
        .unwrap_or_default();
    let databases = worker
        .d1_databases
        .iter()
        .filter_map(|b| {
            D1Input::of(&service, b, |_| {
                request
                    .migrations
                    .iter()
                    .find(|m| m.binding == b.binding)
                    .map(|m| {
                        Ok(m.files
                            .iter()
                            .map(|f| MigrationFile {
                                name: f.name.clone(),
                                sql: f.sql.clone(),
                            })
                            .collect())
                    })
            })
        })
        .collect();
    (pages, databases)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::api::contract::assessments::{
        AssessMigrationDir, AssessMigrationFile, NewAssessment,
    };
    use crate::cloudflare::{
        Client, HttpRequest, HttpResponse, RetryPolicy, Transport, TransportError,
    };

    /// Answers every D1 query with "0001 applied".
    struct Applied;

    impl Transport for Applied {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            assert!(
                request.url.ends_with("/d1/database/db-1/query"),
                "{}",
                request.url
            );
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body: br#"{"success":true,"errors":[],"result":[{"results":[{"name":"0001_a.sql"}],"success":true}]}"#.to_vec(),
            })
        }
        async fn sleep(&self, _ms: u64) {}
        fn now_ms(&self) -> u64 {
            0
        }
    }

    fn request(migrations: Vec<AssessMigrationDir>) -> NewAssessment {
        serde_json::from_value::<NewAssessment>(serde_json::json!({ "config": "" }))
            .map(|mut r| {
                r.service = Some("api".into());
                r.migrations = migrations;
                r
            })
            .unwrap()
    }

    const CONFIG: &str = "name = \"api\"\nmain = \"src/index.js\"\ncompatibility_date = \"2026-06-01\"\n\n[[d1_databases]]\nbinding = \"DB\"\ndatabase_name = \"shop\"\ndatabase_id = \"db-1\"\nmigrations_dir = \"migrations\"\n";

    fn findings(migrations: Vec<AssessMigrationDir>) -> Vec<Finding> {
        let worker = crate::assess::load_config(
            CONFIG,
            crate::config::ConfigFormat::Toml,
            "wrangler.toml",
            None,
        )
        .unwrap();
        let (pages, databases) = hosted_inputs(&request(migrations), &worker);
        let cf = AccountClient::new(
            Client::new(Applied, "http://api", "tok", RetryPolicy::default()),
            "acc",
        );
        block_on(assess_pages_d1(
            &pages,
            &databases,
            None,
            Strategy::Gradual,
            Some(&cf),
        ))
        .findings
    }

    #[test]
    fn hosted_migration_files_are_judged_and_absent_ones_are_a_check_not_made() {
        let sent = vec![AssessMigrationDir {
            binding: "DB".into(),
            files: vec![
                AssessMigrationFile {
                    name: "0001_a.sql".into(),
                    sql: "CREATE TABLE t (a TEXT, b TEXT);".into(),
                },
                AssessMigrationFile {
                    name: "0002_b.sql".into(),
                    sql: "ALTER TABLE t DROP COLUMN b;".into(),
                },
            ],
        }];
        let kinds: Vec<Kind> = findings(sent).iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::D1MigrationsPending,
                Kind::D1MigrationDestructive,
                Kind::D1DestructiveGradual
            ]
        );
        // Nothing sent for the binding: never a pass, and the report is not ready.
        let not_sent = findings(vec![]);
        assert_eq!(not_sent.len(), 1);
        assert_eq!(not_sent[0].kind, Kind::Inconclusive);
        assert!(not_sent[0].unverified);
        assert!(not_sent[0].message.contains("could not be made"));
        assert!(!crate::assess::Report::new(not_sent).ready);
    }
}
