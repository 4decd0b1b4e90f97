//! Gap analysis: what will fail before a deploy runs. Resolved configs plus an inventory of the
//! account, fetched in parallel once per resource type, give findings with their exact fixes.

mod finding;
mod formats;
pub mod inventory;
mod report;
pub mod rules;

pub use finding::{Finding, FindingLocation, Kind, Severity};
pub use inventory::{Inventory, Needs, TokenHint};
pub use report::{Report, WriteAccess, WriteState};
pub use rules::{Context, ServiceInput};

use std::collections::{BTreeMap, BTreeSet};

use crate::cloudflare::{Client, Transport};
use crate::config::{ConfigError, ResolvedWorker};

/// The project's Worker names with the Durable Object classes their migrations create (the
/// cross-service rules read them); empty for a single service.
pub fn project_workers<'a>(
    workers: impl Iterator<Item = &'a ResolvedWorker> + Clone,
) -> BTreeMap<String, BTreeSet<String>> {
    if workers.clone().count() < 2 {
        return BTreeMap::new();
    }
    workers
        .filter_map(|w| {
            let classes = w
                .migrations
                .iter()
                .flat_map(|m| m.new_classes.iter().chain(&m.new_sqlite_classes).cloned())
                .collect();
            w.name.clone().map(|n| (n, classes))
        })
        .collect()
}

/// What the inventory must hold for these services.
#[must_use]
pub fn needs_of(services: &[ServiceInput<'_>], account_id: &str) -> Needs {
    let mut needs = Needs {
        account_id: account_id.to_owned(),
        ..Needs::default()
    };
    for s in services {
        let w = s.worker;
        if let Some(name) = &w.name {
            needs.scripts.insert(name.clone());
        }
        needs.d1 |= !w.d1_databases.is_empty();
        needs.kv |= !w.kv_namespaces.is_empty();
        needs.queues |= !w.queue_producers.is_empty() || !w.queue_consumers.is_empty();
        needs.do_namespaces |= !w.durable_objects.is_empty();
        needs.hyperdrive |= w.other_bindings.iter().any(|b| b.kind == "hyperdrive");
        needs.vectorize |= w.other_bindings.iter().any(|b| b.kind == "vectorize");
        for b in &w.r2_buckets {
            needs.r2_jurisdictions.insert(b.jurisdiction.clone());
        }
        for r in &w.routes {
            let host = rules::route_host(&r.pattern);
            if host.is_empty() {
                continue;
            }
            if r.custom_domain {
                needs.custom_domains.insert(host.clone());
            } else {
                needs.routes = true;
            }
            needs.hostnames.insert(host);
        }
    }
    needs
}

/// How many things of each sort the rules looked at.
fn checked(services: &[ServiceInput<'_>]) -> std::collections::BTreeMap<String, usize> {
    let mut c = std::collections::BTreeMap::new();
    let mut add = |k: &str, n: usize| *c.entry(k.to_owned()).or_insert(0) += n;
    for s in services {
        let w = s.worker;
        add("services", 1);
        add(
            "bindings",
            w.d1_databases.len()
                + w.kv_namespaces.len()
                + w.r2_buckets.len()
                + w.queue_producers.len()
                + w.durable_objects.len()
                + w.services.len()
                + w.other_bindings
                    .iter()
                    .filter(|b| b.kind == "hyperdrive" || b.kind == "vectorize")
                    .count(),
        );
        add("queue_consumers", w.queue_consumers.len());
        add("routes", w.routes.len());
        add(
            "secrets",
            w.secrets_required.len() + s.extra_required_secrets.len(),
        );
        add("migrations", w.migrations.len());
    }
    c
}

/// Runs every rule: local checks, then (when an account is given) the inventory and the
/// remote checks. The report carries the call count and the wall time.
pub async fn assess<T: Transport>(
    services: &[ServiceInput<'_>],
    ctx: &Context,
    remote: Option<(&Client<T>, &str)>,
) -> Report {
    assess_with_inventory(services, ctx, remote, None).await.0
}

/// As [`assess`], also returning the inventory it fetched (`None` offline), so a deploy can
/// reuse what the account said (live versions, migration tags) without asking again.
/// `token_hint`: the token as an earlier assessment verified it ([`Inventory::token_hint`]),
/// which saves the second round when nothing else needs one.
pub async fn assess_with_inventory<T: Transport>(
    services: &[ServiceInput<'_>],
    ctx: &Context,
    remote: Option<(&Client<T>, &str)>,
    token_hint: Option<TokenHint>,
) -> (Report, Option<Inventory>) {
    let started = remote.map(|(c, _)| c.elapsed_ms());
    let mut findings: Vec<Finding> = services
        .iter()
        .flat_map(|s| rules::local_findings(s, ctx))
        .collect();
    let mut capabilities = std::collections::BTreeMap::new();
    let mut api_calls = 0;
    let mut inventory = None;
    let mut write_access = None;
    if let Some((client, account_id)) = remote {
        let needs = Needs {
            token_hint,
            ..needs_of(services, account_id)
        };
        let inv = inventory::fetch(client, &needs).await;
        let (access, usable) = rules::access_findings(&inv, account_id, ctx.env.as_deref());
        findings.extend(access);
        if usable {
            for s in services {
                findings.extend(rules::remote_findings(s, &inv, ctx));
            }
            let (write, missing) =
                rules::write_access(services, &inv, account_id, ctx.env.as_deref());
            findings.extend(missing);
            write_access = Some(write);
        }
        capabilities = inv
            .capabilities
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        api_calls = client.calls();
        inventory = Some(inv);
    }
    let mut report = Report::new(findings);
    report.write_access = write_access;
    report.checked = checked(services);
    report.capabilities = capabilities;
    report.api_calls = api_calls;
    report.env = ctx.env.clone();
    report.services = services
        .iter()
        .filter_map(|s| s.worker.name.clone())
        .collect();
    if let (Some(start), Some((client, _))) = (started, remote) {
        report.duration_ms = client.elapsed_ms().saturating_sub(start);
    }
    (report, inventory)
}

/// A config that cannot be read at all: `config_invalid`, located at the error.
#[must_use]
pub fn config_error_finding(err: &ConfigError) -> Finding {
    Finding::new(
        Kind::ConfigInvalid,
        Severity::Error,
        match &err.expected {
            Some(expected) => format!("{} (expected {expected})", err.message),
            None => err.message.clone(),
        },
        "fix the config at this position; `clodo assess` reads it the way wrangler does",
    )
    .at(FindingLocation {
        file: err.file.clone(),
        line: err.line,
        column: err.column,
        key_path: err.key_path.clone(),
    })
}

/// An `--env` the config does not define.
#[must_use]
pub fn env_unknown_finding(file: &str, env: &str, known: &[String]) -> Finding {
    Finding::new(
        Kind::EnvUnknown,
        Severity::Error,
        format!(
            "environment `{env}` is not defined in {file} (defined: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ),
        format!("add an [env.{env}] section, or pass one of the defined environments with --env"),
    )
    .at(FindingLocation {
        file: file.to_owned(),
        line: None,
        column: None,
        key_path: Some(format!("env.{env}")),
    })
    .for_service(None, Some(env))
}

/// Parses one wrangler config from its text and resolves `env`. A config that cannot be used
/// comes back as the finding that says why (`config_invalid` or `env_unknown`), so the CLI and
/// the Worker report unusable configs the same way.
///
/// # Errors
/// The blocking finding when the text does not parse, the environment is not defined, or a
/// key has the wrong type.
pub fn load_config(
    text: &str,
    format: crate::config::ConfigFormat,
    file: &str,
    env: Option<&str>,
) -> Result<crate::config::ResolvedWorker, Box<Finding>> {
    let parsed = crate::config::WranglerConfig::parse(text, format, file)
        .map_err(|e| Box::new(config_error_finding(&e)))?;
    if let Some(env) = env {
        let known = parsed.env_names();
        if !known.iter().any(|n| n == env) {
            return Err(Box::new(env_unknown_finding(file, env, &known)));
        }
    }
    parsed
        .resolve(env)
        .map_err(|e| Box::new(config_error_finding(&e)))
}
