//! `clodo plan` and `clodo drift`: load and assess the configs like `clodo assess` (the same
//! inventory), read what the comparison needs beyond it (each Worker's settings, schedules,
//! deployment, custom domains), and hand the facts to the pure `plan` module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::assess::{assess_command, AssessArgs, Assessed, Selection, Unassessable};
use super::errors::{self, CliCode};
use super::wrangler::Wrangler;
use crate::cloudflare::endpoints::{
    ListCustomDomains, ListDeployments, ListSchedules, Script, ScriptSettings,
};
use crate::cloudflare::{
    AccountClient, CallError, Client, ReqwestTransport, RetryPolicy, DEFAULT_BASE_URL,
};
use crate::deploy::content::{self, ModuleDigest};
use crate::plan::{
    self, bindings, DriftReport, Known, LiveDeployment, LiveService, LiveSettings, PlanReport,
};

/// `clodo plan` and `clodo drift` take the same arguments.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub select: Selection,
    /// Print the typed report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when there is nothing to show, 2 when there are changes (plan) or drift (drift),
    /// or checks that could not be made; 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

fn color() -> bool {
    super::output::stdout_color()
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
}

pub fn run_plan(args: PlanArgs) -> ExitCode {
    let Some(rt) = runtime() else {
        errors::print(CliCode::LocalIo, "clodo plan: cannot start the runtime");
        return ExitCode::from(1);
    };
    let a = args.select.assess_args(false);
    match rt.block_on(facts(&a, true)) {
        Ok(Facts { services, .. }) => {
            let plans = services
                .iter()
                .map(|s| plan::plan_service(&s.service, &s.worker, &s.required, &s.live))
                .collect();
            let report = PlanReport::new(args.select.env.clone(), plans);
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", plan::render_plan(&report, color()));
            }
            if args.detailed_exitcode {
                ExitCode::from(report.detailed_exit_code())
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(Unassessable(m)) => {
            errors::print(CliCode::NotAssessed, &format!("clodo plan: {m}"));
            ExitCode::from(1)
        }
    }
}

pub fn run_drift(args: PlanArgs) -> ExitCode {
    let Some(rt) = runtime() else {
        errors::print(CliCode::LocalIo, "clodo drift: cannot start the runtime");
        return ExitCode::from(1);
    };
    let a = args.select.assess_args(false);
    let env = args.select.env.clone();
    let read = async {
        let facts = facts(&a, false).await?;
        let recorded = match (&facts.project, &env) {
            (Some(project), Some(env)) => recorded_versions(project, env).await,
            _ => None,
        };
        Ok::<_, Unassessable>((facts, recorded))
    };
    match rt.block_on(read) {
        Ok((Facts { services, .. }, recorded)) => {
            let checked = matches!(recorded, Some(Ok(_)));
            let items = services
                .iter()
                .map(|s| {
                    let p = plan::plan_service(&s.service, &s.worker, &s.required, &s.live);
                    let versions = match &recorded {
                        Some(Ok(by_script)) => {
                            Some(by_script.get(&p.script).cloned().unwrap_or_default())
                        }
                        _ => None,
                    };
                    let mut d = plan::drift_service(&p, &s.live, env.as_deref(), &versions);
                    if let Some(Err(why)) = &recorded {
                        d.items.push(plan::DriftItem {
                            kind: plan::DriftKind::Unknown,
                            what: "recorded deployments".into(),
                            detail: why.clone(),
                            reconcile: String::new(),
                        });
                    }
                    d
                })
                .collect();
            let report = DriftReport::new(env.clone(), checked, items);
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", plan::render_drift(&report, color()));
            }
            if args.detailed_exitcode && (report.drifted || report.unknown > 0) {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(Unassessable(m)) => {
            errors::print(CliCode::NotAssessed, &format!("clodo drift: {m}"));
            ExitCode::from(1)
        }
    }
}

/// The services of one plan or drift run, and the clodo.toml project they belong to.
pub(super) struct Facts {
    pub services: Vec<ServiceFacts>,
    pub project: Option<String>,
}

/// A Worker service with its config and live facts.
pub(super) struct ServiceFacts {
    pub service: String,
    pub worker: crate::config::ResolvedWorker,
    pub required: Vec<String>,
    pub live: LiveService,
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn why(what: &str, e: &CallError) -> String {
    format!("{what} could not be read: {e}")
}

/// Assesses (for the shared inventory), then reads each Worker's settings, schedules,
/// deployment and the account's custom domains.
async fn facts(args: &AssessArgs, compare_code: bool) -> Result<Facts, Unassessable> {
    let Assessed {
        loaded,
        inventory,
        pages_d1,
        unreachable,
        project,
        ..
    } = assess_command(args).await?;
    if unreachable {
        return Err(Unassessable(
            "the Cloudflare API could not be reached; nothing remote was checked".into(),
        ));
    }
    let inventory = inventory.ok_or_else(|| Unassessable("no inventory was read".into()))?;
    let token = env_value("CLOUDFLARE_API_TOKEN").unwrap_or_default();
    let account = env_value("CLOUDFLARE_ACCOUNT_ID")
        .or_else(|| loaded.iter().find_map(|l| l.worker.account_id.clone()))
        .unwrap_or_default();
    let base = env_value("CLOUDFLARE_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let policy = RetryPolicy {
        deadline_ms: args.select.deadline_secs.saturating_mul(1000),
        ..RetryPolicy::default()
    };
    let client = Client::new(ReqwestTransport::new(), &base, &token, policy);
    let cf = AccountClient::new(
        Client::new(ReqwestTransport::new(), &base, &token, policy),
        &account,
    );
    let domains: Known<Vec<crate::cloudflare::endpoints::CustomDomain>> = client
        .list(&ListCustomDomains {
            account: account.clone(),
        })
        .await
        .map_err(|e| why("custom domains", &e));

    let mut out = Vec::new();
    for l in loaded {
        let w = l.worker.clone();
        let Some(script) = w.name.clone() else {
            continue;
        };
        let service = l.service.clone().unwrap_or_else(|| script.clone());
        let listed = inventory
            .scripts
            .as_ref()
            .map(|all| all.iter().find(|s| s.name == script).cloned())
            .map_err(|u| u.reason.clone());
        let exists = listed.as_ref().map(Option::is_some).map_err(Clone::clone);
        let handle = Script::new(&account, &script);
        let (settings, schedules, deployments) = if exists == Ok(true) {
            let (settings, schedules, deployments) = (
                ScriptSettings(handle.clone()),
                ListSchedules(handle.clone()),
                ListDeployments(handle.clone()),
            );
            let (a, b, c) = futures::join!(
                client.call(&settings),
                client.call(&schedules),
                client.call(&deployments),
            );
            (
                a.map_err(|e| why("the Worker's settings", &e)),
                b.map(|s| s.schedules.into_iter().map(|c| c.cron).collect())
                    .map_err(|e| why("the Worker's schedules", &e)),
                c.map_err(|e| why("the Worker's deployments", &e)),
            )
        } else {
            let none = match &exists {
                Err(why) => format!("not read: {why}"),
                Ok(_) => "the Worker does not exist".to_owned(),
            };
            (Err(none.clone()), Err(none.clone()), Err(none))
        };
        let settings = settings.map(|s| {
            let raw: Vec<serde_json::Value> = s
                .bindings
                .into_iter()
                .map(|b| {
                    let mut obj = b.fields;
                    obj.insert("type".into(), b.binding_type.into());
                    obj.insert("name".into(), b.name.into());
                    serde_json::Value::Object(obj)
                })
                .collect();
            LiveSettings {
                bindings: bindings::from_settings(&raw, &script),
                compatibility_date: s.compatibility_date,
                compatibility_flags: s.compatibility_flags,
            }
        });
        let deployment = deployments.map(|d| {
            d.deployments.into_iter().next().map(|d| LiveDeployment {
                id: d.id,
                source: d.source,
                message: d.annotations.get("workers/message").cloned(),
                versions: d
                    .versions
                    .into_iter()
                    .map(|v| (v.version_id, v.percentage))
                    .collect(),
            })
        });
        let secrets = match inventory.per_script.get(&script) {
            Some(remote) => remote
                .secrets
                .clone()
                .map(Option::unwrap_or_default)
                .map_err(|u| u.reason),
            None => Err("secrets were not read".to_owned()),
        };
        let routes = live_routes(&inventory, &w, &script);
        let same_code = match &deployment {
            // Drift is about settings, not code: no build.
            _ if !compare_code => Err("the code was not compared".into()),
            Ok(Some(d)) => match serving_version(d) {
                Some(version) => {
                    same_code(&cf, &l.file, args.select.env.as_deref(), &script, version).await
                }
                None => Err("the deployment serves no version".into()),
            },
            Ok(None) => Err("the Worker has no deployment".into()),
            Err(e) => Err(e.clone()),
        };
        let custom_domains = domains.as_ref().map_err(Clone::clone).map(|all| {
            all.iter()
                .filter(|d| d.service == script)
                .map(|d| d.hostname.clone())
                .collect()
        });
        let d1_pending = pages_d1
            .databases
            .iter()
            .filter(|d| d.service == service || (l.service.is_none()))
            .filter(|d| w.d1_databases.iter().any(|b| b.binding == d.binding))
            .map(|d| {
                (
                    d.binding.clone(),
                    d.pending
                        .as_ref()
                        .map(|p| p.iter().map(|m| m.name.clone()).collect())
                        .ok_or_else(|| "the applied migrations could not be read".to_owned()),
                )
            })
            .collect();
        let required = w
            .secrets_required
            .iter()
            .map(|(n, _)| n.clone())
            .chain(l.extra_secrets.iter().cloned())
            .collect();
        let live = LiveService {
            exists,
            settings,
            secrets,
            deployment,
            schedules,
            routes,
            custom_domains,
            migration_tag: listed.map(|s| s.and_then(|s| s.migration_tag)),
            same_code,
            d1_pending,
            last_deployed_from: None,
        };
        out.push(ServiceFacts {
            service,
            worker: w,
            required,
            live,
        });
    }
    Ok(Facts {
        services: out,
        project: project.map(|p| p.project),
    })
}

/// Route patterns sending traffic to `script` in the zones the inventory read (those of the
/// configured routes); unknown when a zone's table could not be read.
fn live_routes(
    inv: &crate::assess::Inventory,
    w: &crate::config::ResolvedWorker,
    script: &str,
) -> Known<Vec<String>> {
    let wants_routes = w.routes.iter().any(|r| !r.custom_domain);
    if !wants_routes {
        // No configured route, so no zone to read: routes elsewhere are not seen.
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut failures = BTreeMap::new();
    if inv.zone_routes.is_empty() {
        return Err("the zones of the configured routes could not be read".into());
    }
    for (zone, routes) in &inv.zone_routes {
        match routes {
            Ok(list) => out.extend(
                list.iter()
                    .filter(|r| r.script.as_deref() == Some(script))
                    .map(|r| r.pattern.clone()),
            ),
            Err(u) => {
                failures.insert(zone.clone(), u.reason.clone());
            }
        }
    }
    match failures.into_iter().next() {
        Some((_, reason)) => Err(reason),
        None => Ok(out),
    }
}

/// The version serving the most traffic.
fn serving_version(d: &LiveDeployment) -> Option<&str> {
    d.versions
        .iter()
        .fold(None::<&(String, f64)>, |best, v| match best {
            Some(b) if b.1 >= v.1 => Some(b),
            _ => Some(v),
        })
        .map(|(v, _)| v.as_str())
}

/// Whether the bundle wrangler builds now (`wrangler deploy --dry-run --outdir`, the same
/// build a deploy uploads) carries the live version's modules, byte for byte. The build's
/// `README.md` and source maps are not modules unless the live version has them too.
async fn same_code(
    cf: &AccountClient<ReqwestTransport>,
    config: &Path,
    env: Option<&str>,
    script: &str,
    version: &str,
) -> Known<bool> {
    let dir = config.parent().unwrap_or(Path::new(".")).to_path_buf();
    let out = std::env::temp_dir().join(format!("clodo-plan-{}", uuid::Uuid::new_v4().simple()));
    let mut wargs: Vec<String> = vec![
        "deploy".into(),
        "--dry-run".into(),
        "--outdir".into(),
        out.display().to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    if let Some(e) = env {
        wargs.extend(["--env".into(), e.to_owned()]);
    }
    let wrangler = Wrangler::locate(&dir);
    let built = tokio::task::spawn_blocking(move || wrangler.run(&dir, &wargs))
        .await
        .map_err(|e| format!("the build did not finish: {e}"))?;
    let result = match built {
        Err(e) => Err(format!("the bundle could not be built: {e}")),
        Ok(_) => match cf.version_content(script, version).await {
            Err(e) => Err(why("the live version's modules", &e)),
            Ok(live) => {
                let live = live.digests();
                let built = built_digests(&out, &live);
                Ok(content::compare(&live, &built).is_empty())
            }
        },
    };
    let _ = std::fs::remove_dir_all(&out);
    result
}

/// The modules of a dry-run build, as digests named like the uploaded modules.
fn built_digests(dir: &Path, live: &[ModuleDigest]) -> Vec<ModuleDigest> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), std::fs::read(&path)) {
                out.push((rel.to_string_lossy().replace('\\', "/"), bytes));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    let mut out: Vec<ModuleDigest> = files
        .into_iter()
        .filter(|(name, _)| {
            live.iter().any(|m| &m.name == name) || !(name == "README.md" || name.ends_with(".map"))
        })
        .map(|(name, bytes)| ModuleDigest {
            name,
            sha256: content::sha256_hex(&bytes),
        })
        .collect();
    out.sort();
    out
}

/// How many of the environment's newest deployments are read for the versions they shipped.
const RECORDED_DEPLOYMENTS: usize = 50;

/// The versions Clodo's control plane recorded for `project`/`env` (what its newest
/// deployments shipped and replaced), per Worker. `None` when no control plane is configured
/// (`clodo login` or `CLODO_TOKEN`); `Some(Err)` when it is but could not be read.
async fn recorded_versions(
    project: &str,
    env: &str,
) -> Option<Result<BTreeMap<String, BTreeSet<String>>, String>> {
    use super::client::{self, enc};
    use crate::api::contract::deployments::{DeploymentDetail, DeploymentPage};
    if client::resolve().is_err() {
        return None;
    }
    let api = client::client().ok()?;
    let read = async {
        let page: DeploymentPage = api
            .get(&format!(
                "/api/v1/deployments?project={}&environment={}&limit={RECORDED_DEPLOYMENTS}",
                enc(project),
                enc(env)
            ))
            .await?;
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in page.items {
            let detail: DeploymentDetail = api
                .get(&format!("/api/v1/deployments/{}", enc(&d.id)))
                .await?;
            for s in super::diff::shipped_by(&detail) {
                let versions = out.entry(s.script).or_default();
                versions.insert(s.new_version);
                versions.extend(s.previous_version);
            }
        }
        Ok::<_, super::client::CallError>(out)
    };
    Some(
        read.await
            .map_err(|e| format!("Clodo's recorded deployments could not be read: {e}")),
    )
}
