//! Pages services and D1 migrations, from facts the caller fetched: the Pages project exists
//! with the expected production branch, its bindings name resources that exist, its custom
//! domains sit on active zones of the account; each D1 database's pending migrations are
//! listed, destructive ones flagged (and flagged again when a gradual rollout carries them).
//! A fact that could not be fetched is an unverified finding, never a pass.

use crate::assess::finding::{Finding, Kind, Severity};
use crate::assess::inventory::{D1Info, KvInfo, ScriptInfo, ZoneInfo};
use crate::cloudflare::endpoints::Named;
use crate::cloudflare::endpoints::PagesProject;
use crate::config::{Location, Strategy};
use crate::deploy::migrations::MigrationReport;

/// A fetched list, or why it could not be had.
pub type Read<T> = Result<T, String>;

/// What a Pages service's checks need.
pub struct PagesFacts<'a> {
    pub service: &'a str,
    pub env: Option<&'a str>,
    pub location: &'a Location,
    /// `None`: clodo.toml names no project for this environment.
    pub project_name: Option<&'a str>,
    pub expected_branch: Option<&'a str>,
    /// Files in the build output directory (`None`: the directory is missing).
    pub output_files: Option<usize>,
    pub output_dir: &'a str,
    /// `Ok(None)`: Cloudflare says there is no such project.
    pub project: Read<Option<PagesProject>>,
    pub d1: Read<Vec<D1Info>>,
    pub kv: Read<Vec<KvInfo>>,
    pub r2: Read<Vec<Named>>,
    pub scripts: Read<Vec<ScriptInfo>>,
    pub zones: Read<Vec<ZoneInfo>>,
}

fn finding(
    f: &PagesFacts<'_>,
    kind: Kind,
    severity: Severity,
    message: String,
    fix: String,
) -> Finding {
    Finding::new(kind, severity, message, fix)
        .for_service(Some(f.service), f.env)
        .at(crate::assess::rules::location_of(f.location))
}

fn unverified(f: &PagesFacts<'_>, what: &str, why: &str) -> Finding {
    finding(
        f,
        Kind::Inconclusive,
        Severity::Warning,
        format!("Pages service `{}`: {what} could not be checked: {why}", f.service),
        "assess again once the API answers (or give the token Cloudflare Pages · Read and the read permission named)".into(),
    )
    .unverified()
}

/// The findings of one Pages service.
#[must_use]
pub fn pages_findings(f: &PagesFacts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    match f.output_files {
        None => out.push(finding(
            f,
            Kind::PagesOutputMissing,
            Severity::Error,
            format!(
                "Pages service `{}`: build output directory `{}` does not exist",
                f.service, f.output_dir
            ),
            "run the site's build first, or set build_output_dir to the directory it writes".into(),
        )),
        Some(0) => out.push(finding(
            f,
            Kind::PagesOutputMissing,
            Severity::Error,
            format!(
                "Pages service `{}`: build output directory `{}` holds no files",
                f.service, f.output_dir
            ),
            "run the site's build first, or set build_output_dir to the directory it writes".into(),
        )),
        Some(_) => {}
    }
    let Some(name) = f.project_name else {
        out.push(finding(
            f,
            Kind::ConfigInvalid,
            Severity::Error,
            format!(
                "Pages service `{}` names no Pages project for env `{}`",
                f.service,
                f.env.unwrap_or("(none)")
            ),
            format!(
                "add project_names = {{ {} = \"<project>\" }} (or project_name) to the service",
                f.env.unwrap_or("env")
            ),
        ));
        return out;
    };
    let project = match &f.project {
        Err(why) => {
            out.push(unverified(f, &format!("Pages project `{name}`"), why));
            return out;
        }
        Ok(None) => {
            let branch = f.expected_branch.unwrap_or("main");
            out.push(finding(
                f,
                Kind::PagesProjectMissing,
                Severity::Error,
                format!(
                    "Pages service `{}`: no Pages project `{name}` in the account",
                    f.service
                ),
                format!("wrangler pages project create {name} --production-branch {branch}"),
            ));
            return out;
        }
        Ok(Some(p)) => p,
    };
    if let Some(wanted) = f.expected_branch {
        if project.production_branch != wanted {
            out.push(finding(
                f,
                Kind::PagesBranchMismatch,
                Severity::Error,
                format!(
                    "Pages project `{name}` has production branch `{}`, clodo.toml expects `{wanted}`: a deploy to `{wanted}` would be a preview",
                    project.production_branch
                ),
                format!("set production_branch = \"{}\" on the service, or change the project's production branch in the dashboard (Settings › Builds & deployments)", project.production_branch),
            ));
        }
    }
    binding_findings(f, name, project, &mut out);
    domain_findings(f, name, project, &mut out);
    out
}

/// The production bindings of a project: `(kind, binding, target)`.
fn bindings(project: &PagesProject) -> Vec<(&'static str, String, String)> {
    let production = &project.deployment_configs["production"];
    let mut out = Vec::new();
    let mut each = |key: &str, kind: &'static str, field: &str| {
        if let Some(map) = production[key].as_object() {
            for (binding, v) in map {
                let target = v[field].as_str().unwrap_or_default().to_owned();
                out.push((kind, binding.clone(), target));
            }
        }
    };
    each("d1_databases", "d1", "id");
    each("kv_namespaces", "kv", "namespace_id");
    each("r2_buckets", "r2", "name");
    each("services", "service", "service");
    each("durable_object_namespaces", "durable_object", "script_name");
    out
}

fn binding_findings(
    f: &PagesFacts<'_>,
    name: &str,
    project: &PagesProject,
    out: &mut Vec<Finding>,
) {
    for (kind, binding, target) in bindings(project) {
        let (found, what, finding_kind, fix): (Read<bool>, &str, Kind, String) = match kind {
            "d1" => (
                f.d1.as_ref().map(|l| l.iter().any(|d| d.uuid == target)).map_err(Clone::clone),
                "D1 database",
                Kind::D1Missing,
                "wrangler d1 create <name>, then bind its id in the Pages project's settings (Settings › Bindings)".into(),
            ),
            "kv" => (
                f.kv.as_ref().map(|l| l.iter().any(|k| k.id == target)).map_err(Clone::clone),
                "KV namespace",
                Kind::KvMissing,
                "wrangler kv namespace create <name>, then bind its id in the Pages project's settings".into(),
            ),
            "r2" => (
                f.r2.as_ref().map(|l| l.iter().any(|b| b.name == target)).map_err(Clone::clone),
                "R2 bucket",
                Kind::R2Missing,
                format!("wrangler r2 bucket create {target}"),
            ),
            "service" => (
                f.scripts.as_ref().map(|l| l.iter().any(|s| s.name == target)).map_err(Clone::clone),
                "Worker",
                Kind::ServiceMissing,
                format!("deploy the Worker `{target}` first (list it in clodo.toml with the Pages service depending on it)"),
            ),
            _ => (
                f.scripts.as_ref().map(|l| l.iter().any(|s| s.name == target)).map_err(Clone::clone),
                "Worker exporting the Durable Object",
                Kind::DoClassMissing,
                format!("deploy the Worker `{target}` that exports the class first"),
            ),
        };
        match found {
            Ok(true) => {}
            Ok(false) => out.push(finding(
                f,
                finding_kind,
                Severity::Error,
                format!("Pages project `{name}`: binding `{binding}` names {what} `{target}`, which does not exist in the account"),
                fix,
            )),
            Err(why) => out.push(unverified(f, &format!("binding `{binding}` ({what})"), &why)),
        }
    }
}

fn domain_findings(f: &PagesFacts<'_>, name: &str, project: &PagesProject, out: &mut Vec<Finding>) {
    let domains: Vec<&String> = project
        .domains
        .iter()
        .filter(|d| !d.ends_with(".pages.dev"))
        .collect();
    if domains.is_empty() {
        return;
    }
    let zones = match &f.zones {
        Ok(z) => z,
        Err(why) => {
            out.push(unverified(f, "custom domains' zones", why));
            return;
        }
    };
    for domain in domains {
        let zone = zones
            .iter()
            .filter(|z| *domain == z.name || domain.ends_with(&format!(".{}", z.name)))
            .max_by_key(|z| z.name.len());
        match zone {
            None => out.push(finding(
                f,
                Kind::ZoneMissing,
                Severity::Error,
                format!("Pages project `{name}`: custom domain `{domain}` is on no zone of the account"),
                format!("add the zone of `{domain}` to the account, or remove the domain from the project (Custom domains)"),
            )),
            Some(z) if z.status != "active" => out.push(finding(
                f,
                Kind::ZoneInactive,
                Severity::Error,
                format!("Pages project `{name}`: custom domain `{domain}` is on zone `{}`, which is {}", z.name, z.status),
                format!("finish activating `{}` (point its nameservers at Cloudflare)", z.name),
            )),
            Some(_) => {}
        }
    }
}

/// What one D1 database's migration checks need.
pub struct D1Facts<'a> {
    pub service: &'a str,
    pub env: Option<&'a str>,
    pub binding: &'a str,
    pub database: &'a str,
    pub location: &'a Location,
    /// Pending migrations with what each destroys; `Err`: the applied list could not be read.
    pub pending: Read<Vec<MigrationReport>>,
}

/// Pending and destructive migrations of one database; `strategy` is the rollout's.
#[must_use]
pub fn migration_findings(d: &D1Facts<'_>, strategy: Strategy) -> Vec<Finding> {
    let at = |kind, severity, message: String, fix: String| {
        Finding::new(kind, severity, message, fix)
            .for_service(Some(d.service), d.env)
            .at(crate::assess::rules::location_of(d.location))
    };
    let pending = match &d.pending {
        Ok(p) => p,
        Err(why) => {
            return vec![at(
                Kind::Inconclusive,
                Severity::Warning,
                format!(
                    "D1 `{}` ({}): the applied migrations could not be read: {why}",
                    d.binding, d.database
                ),
                "give the token Account · D1 · Edit, or assess again when the API answers".into(),
            )
            .unverified()]
        }
    };
    if pending.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = pending.iter().map(|m| m.name.as_str()).collect();
    let mut out = vec![at(
        Kind::D1MigrationsPending,
        Severity::Info,
        format!(
            "D1 `{}` ({}): {} pending migration(s): {}",
            d.binding,
            d.database,
            names.len(),
            names.join(", ")
        ),
        "clodo deploy applies them (after a Time Travel bookmark) before any traffic moves".into(),
    )];
    let destructive: Vec<String> = pending
        .iter()
        .flat_map(|m| {
            m.destructive
                .iter()
                .map(move |x| format!("{}: {x}", m.name))
        })
        .collect();
    if destructive.is_empty() {
        return out;
    }
    out.push(at(
        Kind::D1MigrationDestructive,
        Severity::Warning,
        format!("D1 `{}` ({}): destructive migration statement(s): {}", d.binding, d.database, destructive.join("; ")),
        "deploy with `clodo deploy --allow-destructive` once the running code no longer uses what goes away (docs/migrations.md: expand/contract)".into(),
    ));
    if strategy != Strategy::Immediate {
        out.push(at(
            Kind::D1DestructiveGradual,
            Severity::Warning,
            format!(
                "D1 `{}` ({}): a {strategy} rollout keeps the old version serving while the destructive migration is already applied",
                d.binding, d.database
            ),
            "split the change: ship code that no longer uses the dropped/renamed parts first, drop them in a later deploy (docs/migrations.md)".into(),
        ));
    }
    out
}

/// Pages bindings whose kind needs a list: which lists the checks need.
#[must_use]
pub fn needed_lists(project: &PagesProject) -> [bool; 4] {
    let b = bindings(project);
    let has = |k: &str| b.iter().any(|(kind, _, _)| *kind == k);
    [
        has("d1"),
        has("kv"),
        has("r2"),
        has("service") || has("durable_object"),
    ]
}

#[cfg(test)]
#[path = "pages_d1_tests.rs"]
mod tests;
