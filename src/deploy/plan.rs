//! Wave planning and the wrangler command per service.
//!
//! Services of a project are deployed in waves: a service goes out after every service it calls
//! (its service bindings to Workers of the same project, plus its explicit `depends_on`), so a
//! caller never runs against a callee that does not exist yet or lacks a new entrypoint.
//! Services with nothing between them share a wave and may be deployed in parallel. A cycle has
//! no valid order and is an error naming it.
//!
//! Each service is uploaded with `wrangler versions upload` (a version that the rollout then
//! moves traffic to) unless that cannot work: a Worker that does not exist yet, or Durable
//! Object migrations the remote Worker has not applied (the versions API refuses migrations,
//! Cloudflare error 10211). Those need `wrangler deploy`, which goes to 100% at once.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::config::{DoMigration, ProjectService, ResolvedWorker};

/// One service as wave planning sees it, for one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInput {
    /// The service's name in `clodo.toml`.
    pub name: String,
    /// The resolved Worker name for the environment (`shop-api-staging`), when the config has
    /// one. Service bindings name Workers, so this is how they are matched to services.
    pub worker: Option<String>,
    /// Explicit `depends_on` (service names of `clodo.toml`).
    pub depends_on: Vec<String>,
    /// Service bindings of the resolved Worker: `(binding, target Worker name)`.
    pub service_bindings: Vec<(String, String)>,
}

impl ServiceInput {
    /// Builds the input from a `clodo.toml` service and its wrangler config resolved for the
    /// environment being deployed (bindings are not inherited across envs, so the env matters).
    #[must_use]
    pub fn from_config(service: &ProjectService, worker: &ResolvedWorker) -> ServiceInput {
        ServiceInput {
            name: service.name.clone(),
            worker: worker.name.clone(),
            depends_on: service.depends_on.clone(),
            service_bindings: worker
                .services
                .iter()
                .map(|b| {
                    // A legacy service-environment binding (`environment = "production"`) names
                    // the base Worker; with per-env Workers it is `<service>-<environment>`.
                    let target = match &b.environment {
                        Some(env) if !env.is_empty() => format!("{}-{env}", b.service),
                        _ => b.service.clone(),
                    };
                    (b.binding.clone(), target)
                })
                .collect(),
        }
    }
}

/// Why one service must be deployed after another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DependencyKind {
    /// `depends_on` in `clodo.toml`.
    DependsOn,
    /// A service binding of the caller's wrangler config to the callee's Worker.
    ServiceBinding { binding: String },
}

/// `caller` is deployed after `callee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub caller: String,
    pub callee: String,
    #[serde(flatten)]
    pub kind: DependencyKind,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DependencyKind::DependsOn => {
                write!(f, "`{}` depends_on `{}`", self.caller, self.callee)
            }
            DependencyKind::ServiceBinding { binding } => write!(
                f,
                "`{}` calls `{}` (service binding `{binding}`)",
                self.caller, self.callee
            ),
        }
    }
}

/// The services in deploy order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WavePlan {
    /// Service names per wave, first wave first; within a wave, `clodo.toml` order. Every
    /// service of a wave depends only on services of earlier waves.
    pub waves: Vec<Vec<String>>,
    /// Every dependency found, in `clodo.toml` order of the caller.
    pub dependencies: Vec<Dependency>,
}

impl WavePlan {
    /// The 0-based wave of a service.
    #[must_use]
    pub fn wave_of(&self, service: &str) -> Option<usize> {
        self.waves
            .iter()
            .position(|w| w.iter().any(|s| s == service))
    }

    /// Every service, wave by wave.
    #[must_use]
    pub fn order(&self) -> Vec<&str> {
        self.waves.iter().flatten().map(String::as_str).collect()
    }
}

/// Why the services cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanError {
    /// Two services share a name.
    DuplicateService { service: String },
    /// `depends_on` names no service of the project.
    UnknownDependency { service: String, depends_on: String },
    /// The dependencies loop: each entry of `path` is deployed after the next, and the last
    /// leads back to the first.
    Cycle { path: Vec<Dependency> },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::DuplicateService { service } => {
                write!(f, "service `{service}` is declared twice")
            }
            PlanError::UnknownDependency {
                service,
                depends_on,
            } => write!(
                f,
                "service `{service}` depends on `{depends_on}`, which is not a service of this project"
            ),
            PlanError::Cycle { path } => {
                let names: Vec<&str> = path
                    .iter()
                    .map(|d| d.caller.as_str())
                    .chain(path.first().map(|d| d.caller.as_str()))
                    .collect();
                let why: Vec<String> = path.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "services depend on each other in a cycle, so none can be deployed first: {} ({}); remove one of these service bindings or depends_on entries",
                    names.join(" -> "),
                    why.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Orders services into waves: callee before caller, independent services together.
///
/// A service binding counts when its target Worker is another service of the same list (a
/// binding to a Worker outside the project is gap analysis' business, and a Worker binding to
/// itself needs no order).
pub fn plan_waves(services: &[ServiceInput]) -> Result<WavePlan, PlanError> {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in services.iter().enumerate() {
        if index.insert(s.name.as_str(), i).is_some() {
            return Err(PlanError::DuplicateService {
                service: s.name.clone(),
            });
        }
    }
    let by_worker: BTreeMap<&str, usize> = services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.worker.as_deref().map(|w| (w, i)))
        .collect();

    // Edges per caller, as (callee index, dependency), deduplicated by callee: the first reason
    // found is enough to explain the order.
    let mut edges: Vec<Vec<(usize, Dependency)>> = vec![Vec::new(); services.len()];
    for (i, s) in services.iter().enumerate() {
        for d in &s.depends_on {
            let Some(&j) = index.get(d.as_str()) else {
                return Err(PlanError::UnknownDependency {
                    service: s.name.clone(),
                    depends_on: d.clone(),
                });
            };
            add_edge(&mut edges[i], j, services, i, DependencyKind::DependsOn);
        }
        for (binding, target) in &s.service_bindings {
            if let Some(&j) = by_worker.get(target.as_str()) {
                let kind = DependencyKind::ServiceBinding {
                    binding: binding.clone(),
                };
                add_edge(&mut edges[i], j, services, i, kind);
            }
        }
    }

    // Depth-first, in file order, so the wave numbers and any cycle reported are stable.
    let mut wave: Vec<Option<usize>> = vec![None; services.len()];
    let mut on_stack = vec![false; services.len()];
    for start in 0..services.len() {
        let mut stack: Vec<(usize, usize)> = Vec::new(); // (node, next edge to look at)
        if wave[start].is_some() {
            continue;
        }
        stack.push((start, 0));
        on_stack[start] = true;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            if let Some((callee, _)) = edges[node].get(top.1) {
                let callee = *callee;
                top.1 += 1;
                if on_stack[callee] {
                    return Err(cycle(&stack, callee, &edges));
                }
                if wave[callee].is_none() {
                    stack.push((callee, 0));
                    on_stack[callee] = true;
                }
            } else {
                let w = edges[node]
                    .iter()
                    .filter_map(|(c, _)| wave[*c])
                    .max()
                    .map_or(0, |m| m + 1);
                wave[node] = Some(w);
                on_stack[node] = false;
                stack.pop();
            }
        }
    }

    let count = wave.iter().flatten().max().map_or(0, |m| m + 1);
    let mut waves = vec![Vec::new(); count];
    for (i, s) in services.iter().enumerate() {
        if let Some(w) = wave[i] {
            waves[w].push(s.name.clone());
        }
    }
    Ok(WavePlan {
        waves,
        dependencies: edges.into_iter().flatten().map(|(_, d)| d).collect(),
    })
}

fn add_edge(
    list: &mut Vec<(usize, Dependency)>,
    callee: usize,
    services: &[ServiceInput],
    caller: usize,
    kind: DependencyKind,
) {
    if callee == caller || list.iter().any(|(c, _)| *c == callee) {
        return;
    }
    list.push((
        callee,
        Dependency {
            caller: services[caller].name.clone(),
            callee: services[callee].name.clone(),
            kind,
        },
    ));
}

/// The cycle closed by an edge from the top of `stack` back to `back_to`, which is on it.
fn cycle(
    stack: &[(usize, usize)],
    back_to: usize,
    edges: &[Vec<(usize, Dependency)>],
) -> PlanError {
    let from = stack
        .iter()
        .position(|(n, _)| *n == back_to)
        .unwrap_or_default();
    // Each frame's `next` is one past the edge it followed (the top frame's edge closes it).
    let path = stack[from..]
        .iter()
        .map(|(node, next)| edges[*node][next - 1].1.clone())
        .collect();
    PlanError::Cycle { path }
}

/// What Cloudflare knows of a Worker that exists: its applied Durable Object migration tag
/// (`migration_tag` in the scripts list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemoteScript {
    pub migration_tag: Option<String>,
}

/// The wrangler command that uploads a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadCommand {
    /// `wrangler versions upload`: a new version, no traffic until a deployment moves it.
    VersionsUpload,
    /// `wrangler deploy`: upload and serve at 100% at once.
    Deploy,
}

impl UploadCommand {
    /// The wrangler arguments (before `--env` and others).
    #[must_use]
    pub fn wrangler_args(self) -> &'static [&'static str] {
        match self {
            UploadCommand::VersionsUpload => &["versions", "upload"],
            UploadCommand::Deploy => &["deploy"],
        }
    }
}

/// Why `wrangler deploy` is needed instead of `versions upload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UploadReason {
    /// The Worker does not exist yet: there is no deployment to split traffic with.
    FirstDeploy,
    /// Durable Object migrations the remote Worker has not applied (`from`: its tag, if any).
    MigrationsPending {
        from: Option<String>,
        to: String,
        tags: Vec<String>,
    },
}

impl fmt::Display for UploadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadReason::FirstDeploy => {
                write!(f, "the Worker does not exist yet, so it is created at 100%")
            }
            UploadReason::MigrationsPending { from, to, tags } => {
                write!(
                    f,
                    "Durable Object migration{} {} must be applied",
                    if tags.len() == 1 { "" } else { "s" },
                    tags.iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
                match from {
                    Some(from) => write!(f, " (remote tag `{from}`, config up to `{to}`)")?,
                    None => write!(f, " (the Worker has no migration applied yet)")?,
                }
                write!(
                    f,
                    ", which `wrangler versions upload` refuses, so it goes to 100% at once"
                )
            }
        }
    }
}

/// The command for one service and, for `Deploy`, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadDecision {
    pub command: UploadCommand,
    pub reason: Option<UploadReason>,
}

/// The migrations wrangler would send for this config against a Worker whose applied tag is
/// `remote_tag`, following wrangler's own rule: none applied yet → all; the tag found → the
/// ones after it; the tag not in the config (history deleted) → all of them.
#[must_use]
pub fn pending_migrations<'a>(
    migrations: &'a [DoMigration],
    remote_tag: Option<&str>,
) -> &'a [DoMigration] {
    match remote_tag {
        None => migrations,
        Some(tag) => match migrations.iter().position(|m| m.tag == tag) {
            Some(i) => &migrations[i + 1..],
            None => migrations,
        },
    }
}

/// Whether a service is uploaded with `versions upload` or needs `deploy`. `remote` is `None`
/// when the Worker does not exist on the account.
#[must_use]
pub fn upload_command(migrations: &[DoMigration], remote: Option<&RemoteScript>) -> UploadDecision {
    let Some(remote) = remote else {
        return UploadDecision {
            command: UploadCommand::Deploy,
            reason: Some(UploadReason::FirstDeploy),
        };
    };
    let pending = pending_migrations(migrations, remote.migration_tag.as_deref());
    match pending.last() {
        None => UploadDecision {
            command: UploadCommand::VersionsUpload,
            reason: None,
        },
        Some(last) => UploadDecision {
            command: UploadCommand::Deploy,
            reason: Some(UploadReason::MigrationsPending {
                from: remote.migration_tag.clone(),
                to: last.tag.clone(),
                tags: pending.iter().map(|m| m.tag.clone()).collect(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_project, ConfigFormat, Location, WranglerConfig};

    fn svc(name: &str, worker: &str, deps: &[&str], binds: &[(&str, &str)]) -> ServiceInput {
        ServiceInput {
            name: name.to_owned(),
            worker: Some(worker.to_owned()),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            service_bindings: binds
                .iter()
                .map(|(b, t)| ((*b).to_owned(), (*t).to_owned()))
                .collect(),
        }
    }

    fn waves(plan: &WavePlan) -> Vec<Vec<&str>> {
        plan.waves
            .iter()
            .map(|w| w.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn callee_before_caller_and_independent_services_share_a_wave() {
        let services = [
            svc("web", "shop-web", &[], &[("API", "shop-api")]),
            svc("api", "shop-api", &[], &[("AUTH", "shop-auth")]),
            svc("jobs", "shop-jobs", &[], &[]),
            svc("auth", "shop-auth", &[], &[]),
            svc("admin", "shop-admin", &[], &[("API", "shop-api")]),
        ];
        let plan = plan_waves(&services).unwrap();
        assert_eq!(
            waves(&plan),
            vec![vec!["jobs", "auth"], vec!["api"], vec!["web", "admin"]]
        );
        assert_eq!(plan.wave_of("web"), Some(2));
        assert_eq!(plan.wave_of("nope"), None);
        assert_eq!(plan.order(), ["jobs", "auth", "api", "web", "admin"]);
        assert_eq!(
            plan.dependencies[0],
            Dependency {
                caller: "web".into(),
                callee: "api".into(),
                kind: DependencyKind::ServiceBinding {
                    binding: "API".into()
                },
            }
        );
        assert_eq!(plan.dependencies.len(), 3);
    }

    #[test]
    fn depends_on_orders_too_and_bindings_outside_the_project_or_to_itself_do_not() {
        let services = [
            svc("a", "a", &["b"], &[("EXT", "someone-else"), ("SELF", "a")]),
            svc("b", "b", &[], &[]),
        ];
        let plan = plan_waves(&services).unwrap();
        assert_eq!(waves(&plan), vec![vec!["b"], vec!["a"]]);
        assert_eq!(plan.dependencies.len(), 1);
        assert_eq!(plan.dependencies[0].kind, DependencyKind::DependsOn);
        assert_eq!(plan.dependencies[0].to_string(), "`a` depends_on `b`");
    }

    #[test]
    fn longest_chain_sets_the_wave() {
        // d needs c and a; c needs b; b needs a: d must wait for the longest chain.
        let services = [
            svc("d", "d", &["a", "c"], &[]),
            svc("c", "c", &["b"], &[]),
            svc("b", "b", &["a"], &[]),
            svc("a", "a", &[], &[]),
        ];
        let plan = plan_waves(&services).unwrap();
        assert_eq!(
            waves(&plan),
            vec![vec!["a"], vec!["b"], vec!["c"], vec!["d"]]
        );
    }

    #[test]
    fn empty_project_has_no_waves() {
        let plan = plan_waves(&[]).unwrap();
        assert!(plan.waves.is_empty());
    }

    #[test]
    fn a_cycle_names_its_services_and_edges() {
        let services = [
            svc("jobs", "shop-jobs", &[], &[]),
            svc("web", "shop-web", &[], &[("API", "shop-api")]),
            svc("api", "shop-api", &["auth"], &[]),
            svc("auth", "shop-auth", &[], &[("WEB", "shop-web")]),
        ];
        let err = plan_waves(&services).unwrap_err();
        let PlanError::Cycle { path } = &err else {
            panic!("{err:?}")
        };
        let callers: Vec<&str> = path.iter().map(|d| d.caller.as_str()).collect();
        assert_eq!(callers, ["web", "api", "auth"]);
        let text = err.to_string();
        assert!(text.contains("web -> api -> auth -> web"), "{text}");
        assert!(text.contains("service binding `WEB`"), "{text}");
        assert!(text.contains("`api` depends_on `auth`"), "{text}");
    }

    #[test]
    fn two_service_cycle_and_other_errors() {
        let err = plan_waves(&[
            svc("a", "a", &[], &[("B", "b")]),
            svc("b", "b", &[], &[("A", "a")]),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("a -> b -> a"), "{err}");

        let err = plan_waves(&[svc("a", "a", &["x"], &[])]).unwrap_err();
        assert_eq!(
            err,
            PlanError::UnknownDependency {
                service: "a".into(),
                depends_on: "x".into()
            }
        );
        let err = plan_waves(&[svc("a", "a", &[], &[]), svc("a", "b", &[], &[])]).unwrap_err();
        assert!(err.to_string().contains("declared twice"), "{err}");
    }

    #[test]
    fn inputs_come_from_the_project_and_the_resolved_env() {
        let project = parse_project(
            "project = \"shop\"\n[[services]]\nname = \"web\"\nconfig = \"web\"\n[[services]]\nname = \"api\"\nconfig = \"api\"\n",
            "clodo.toml",
        )
        .unwrap();
        let web = WranglerConfig::parse(
            "name = \"shop-web\"\nmain = \"i.js\"\ncompatibility_date = \"2025-01-01\"\n[env.staging]\nservices = [{ binding = \"API\", service = \"shop-api-staging\" }]\n[env.legacy]\nservices = [{ binding = \"API\", service = \"shop-api\", environment = \"legacy\" }]\n",
            ConfigFormat::Toml,
            "web/wrangler.toml",
        )
        .unwrap();
        let api = WranglerConfig::parse(
            "name = \"shop-api\"\nmain = \"i.js\"\ncompatibility_date = \"2025-01-01\"\n[env.staging]\n[env.legacy]\n",
            ConfigFormat::Toml,
            "api/wrangler.toml",
        )
        .unwrap();
        for env in ["staging", "legacy"] {
            let inputs = [
                ServiceInput::from_config(&project.services[0], &web.resolve(Some(env)).unwrap()),
                ServiceInput::from_config(&project.services[1], &api.resolve(Some(env)).unwrap()),
            ];
            assert_eq!(
                inputs[1].worker.as_deref(),
                Some(format!("shop-api-{env}").as_str())
            );
            let plan = plan_waves(&inputs).unwrap();
            assert_eq!(waves(&plan), vec![vec!["api"], vec!["web"]], "{env}");
        }
        // The top level binds nothing (bindings are not inherited): one wave.
        let inputs = [
            ServiceInput::from_config(&project.services[0], &web.resolve(None).unwrap()),
            ServiceInput::from_config(&project.services[1], &api.resolve(None).unwrap()),
        ];
        assert_eq!(
            waves(&plan_waves(&inputs).unwrap()),
            vec![vec!["web", "api"]]
        );
    }

    fn migration(tag: &str) -> DoMigration {
        DoMigration {
            tag: tag.to_owned(),
            new_classes: Vec::new(),
            new_sqlite_classes: vec!["Cart".to_owned()],
            renamed_classes: Vec::new(),
            deleted_classes: Vec::new(),
            location: Location {
                file: "wrangler.toml".to_owned(),
                line: None,
                column: None,
                key_path: "migrations".to_owned(),
            },
        }
    }

    fn remote(tag: Option<&str>) -> RemoteScript {
        RemoteScript {
            migration_tag: tag.map(str::to_owned),
        }
    }

    #[test]
    fn first_deploy_needs_wrangler_deploy() {
        let d = upload_command(&[], None);
        assert_eq!(d.command, UploadCommand::Deploy);
        assert_eq!(d.reason, Some(UploadReason::FirstDeploy));
        assert_eq!(d.command.wrangler_args(), ["deploy"]);
        assert!(d.reason.unwrap().to_string().contains("does not exist"));
    }

    #[test]
    fn existing_worker_without_pending_migrations_uploads_a_version() {
        let migrations = [migration("v1"), migration("v2")];
        for (m, tag) in [
            (&[][..], None),
            (&[][..], Some("v1")),
            (&migrations[..], Some("v2")),
        ] {
            let d = upload_command(m, Some(&remote(tag)));
            assert_eq!(d.command, UploadCommand::VersionsUpload, "{tag:?}");
            assert_eq!(d.reason, None);
            assert_eq!(d.command.wrangler_args(), ["versions", "upload"]);
        }
    }

    #[test]
    fn newer_migration_tag_needs_wrangler_deploy() {
        let migrations = [migration("v1"), migration("v2"), migration("v3")];
        let d = upload_command(&migrations, Some(&remote(Some("v1"))));
        assert_eq!(d.command, UploadCommand::Deploy);
        assert_eq!(
            d.reason,
            Some(UploadReason::MigrationsPending {
                from: Some("v1".into()),
                to: "v3".into(),
                tags: vec!["v2".into(), "v3".into()],
            })
        );
        let text = d.reason.unwrap().to_string();
        assert!(
            text.contains("`v2`, `v3`") && text.contains("versions upload"),
            "{text}"
        );

        // An existing Worker that never applied a migration gets all of them.
        let d = upload_command(&migrations[..1], Some(&remote(None)));
        assert_eq!(
            d.reason,
            Some(UploadReason::MigrationsPending {
                from: None,
                to: "v1".into(),
                tags: vec!["v1".into()],
            })
        );
    }

    #[test]
    fn unknown_remote_tag_sends_every_migration_like_wrangler() {
        let migrations = [migration("v1"), migration("v2")];
        assert_eq!(pending_migrations(&migrations, Some("gone")).len(), 2);
        assert_eq!(pending_migrations(&migrations, Some("v2")).len(), 0);
        assert_eq!(pending_migrations(&migrations, None).len(), 2);
        let d = upload_command(&migrations, Some(&remote(Some("gone"))));
        assert_eq!(d.command, UploadCommand::Deploy);
    }
}
