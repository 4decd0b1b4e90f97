//! The gap-analysis rules: pure functions from resolved configs and an inventory to findings,
//! one file per product. `remote_findings` runs the product checks in a fixed order (the
//! order of the findings in a report).
//!
//! Precision first: a rule only reports a gap it can prove from the inventory; when the part of
//! the inventory it needs could not be read, it reports `inconclusive` for that check instead.

mod access;
mod d1;
mod durable_objects;
mod hyperdrive_vectorize;
mod kv;
mod local;
pub mod pages_d1;
mod permissions;
mod queues;
mod r2;
mod routes;
mod secrets;
mod services;
mod workers;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::finding::{Finding, FindingLocation, Kind, Severity};
use super::inventory::{Fetched, Inventory, ScriptInfo, Unanswered};
use crate::config::{Location, ResolvedWorker};

pub use access::access_findings;
pub use local::local_findings;
pub use permissions::{needed_writes, write_access, Permission};
pub use routes::route_host;

/// One Worker to assess, with what the project adds to its config.
#[derive(Debug, Clone)]
pub struct ServiceInput<'a> {
    pub worker: &'a ResolvedWorker,
    /// Secrets `clodo.toml` requires beyond the config's own `secrets.required`.
    pub extra_required_secrets: Vec<String>,
    /// Whether the `main` file exists on disk; `None` when it cannot be known (the hosted API).
    pub main_exists: Option<bool>,
}

/// What the rules need besides the services.
#[derive(Debug, Clone)]
pub struct Context {
    pub today: NaiveDate,
    pub env: Option<String>,
    /// Worker names deployed by the same project (they count as present for service bindings
    /// and external Durable Object classes, because the project deploys callees first).
    pub project_workers: BTreeMap<String, BTreeSet<String>>,
}

/// A config location as a finding's location.
pub(crate) fn location_of(l: &Location) -> FindingLocation {
    loc(l)
}

fn loc(l: &Location) -> FindingLocation {
    FindingLocation {
        file: l.file.clone(),
        line: l.line,
        column: l.column,
        key_path: Some(l.key_path.clone()),
    }
}

/// The findings of one run, each tagged with its service and environment.
struct Out<'a> {
    findings: Vec<Finding>,
    service: Option<&'a str>,
    env: Option<&'a str>,
}

impl Out<'_> {
    fn push(&mut self, finding: Finding) {
        let f = finding.for_service(self.service, self.env);
        self.findings.push(f);
    }
    fn at(&mut self, kind: Kind, sev: Severity, l: &Location, msg: String, fix: String) {
        self.push(Finding::new(kind, sev, msg, fix).at(loc(l)));
    }
    /// The part of the inventory a check reads: `None` when it was not fetched (the check does
    /// not apply) or could not be read (the check is then reported by `inconclusive`).
    fn read<'i, T>(
        &mut self,
        part: Option<&'i Fetched<T>>,
        check: impl FnOnce() -> String,
        l: Option<&Location>,
    ) -> Option<&'i T> {
        match part? {
            Ok(answer) => Some(answer),
            Err(why) => {
                self.inconclusive(&check(), why, l);
                None
            }
        }
    }

    /// A check that could not be made. A refusal for lack of a read permission names the
    /// permission (`token_missing_permission`); anything else is `inconclusive`. Both are
    /// unverified: the report is not ready unless the caller allows unverified checks.
    fn inconclusive(&mut self, check: &str, why: &Unanswered, l: Option<&Location>) {
        let mut f = match (why.forbidden, why.permission.as_deref()) {
            (true, Some(permission)) => Finding::new(
                Kind::TokenMissingPermission,
                Severity::Warning,
                format!(
                    "could not check {check}: the token lacks the permission {permission} ({})",
                    why.reason
                ),
                format!(
                    "add the permission {permission} to the token (Edit includes Read) and assess again; or pass --allow-inconclusive to deploy without this check"
                ),
            ),
            (true, None) => Finding::new(
                Kind::Inconclusive,
                Severity::Warning,
                format!("could not check {check}: {}", why.reason),
                "give the token read access to this resource and assess again; or pass --allow-inconclusive to deploy without this check",
            ),
            (false, _) => Finding::new(
                Kind::Inconclusive,
                Severity::Warning,
                format!("could not check {check}: {}", why.reason),
                "assess again when the Cloudflare API answers (raise --deadline-secs for a slow API); or pass --allow-inconclusive to deploy without this check",
            ),
        }
        .unverified();
        if let Some(l) = l {
            f = f.at(loc(l));
        }
        self.push(f);
    }
}

/// What every remote check of one Worker reads.
struct Remote<'a> {
    input: &'a ServiceInput<'a>,
    w: &'a ResolvedWorker,
    inv: &'a Inventory,
    ctx: &'a Context,
    /// The Worker's resolved name (empty when it has none).
    name: String,
    /// ` --env <env>` for the commands in fixes.
    env_flag: String,
    /// The account's record of this Worker, when the list was read and has it.
    remote_script: Option<&'a ScriptInfo>,
}

/// Every check against the account for one Worker.
#[must_use]
pub fn remote_findings(input: &ServiceInput<'_>, inv: &Inventory, ctx: &Context) -> Vec<Finding> {
    let w = input.worker;
    let name = w.name.clone().unwrap_or_default();
    let remote_script = inv
        .scripts
        .as_ref()
        .ok()
        .and_then(|s| s.iter().find(|s| s.name == name));
    let r = Remote {
        input,
        w,
        inv,
        ctx,
        env_flag: ctx
            .env
            .as_deref()
            .map(|e| format!(" --env {e}"))
            .unwrap_or_default(),
        name,
        remote_script,
    };
    let mut out = Out {
        findings: Vec::new(),
        service: w.name.as_deref(),
        env: ctx.env.as_deref(),
    };
    d1::check(&r, &mut out);
    kv::check(&r, &mut out);
    r2::check(&r, &mut out);
    queues::check(&r, &mut out);
    hyperdrive_vectorize::check(&r, &mut out);
    services::check(&r, &mut out);
    durable_objects::check(&r, &mut out);
    secrets::check(&r, &mut out);
    workers::check(&r, &mut out);
    routes::check(&r, &mut out);
    out.findings
}

/// Every binding name of the config with what it is and where, for the secret clash
/// check and the dashboard drift.
pub(super) fn local_bindings(w: &ResolvedWorker) -> Vec<(&str, &'static str, &Location)> {
    let mut all: Vec<(&str, &'static str, &Location)> = Vec::new();
    all.extend(w.vars.iter().map(|(n, l)| (n.as_str(), "var", l)));
    all.extend(
        w.d1_databases
            .iter()
            .map(|b| (b.binding.as_str(), "D1 binding", &b.location)),
    );
    all.extend(
        w.kv_namespaces
            .iter()
            .map(|b| (b.binding.as_str(), "KV binding", &b.location)),
    );
    all.extend(
        w.r2_buckets
            .iter()
            .map(|b| (b.binding.as_str(), "R2 binding", &b.location)),
    );
    all.extend(
        w.queue_producers
            .iter()
            .map(|b| (b.binding.as_str(), "queue binding", &b.location)),
    );
    all.extend(
        w.durable_objects
            .iter()
            .map(|b| (b.name.as_str(), "Durable Object binding", &b.location)),
    );
    all.extend(
        w.services
            .iter()
            .map(|b| (b.binding.as_str(), "service binding", &b.location)),
    );
    all.extend(
        w.other_bindings
            .iter()
            .map(|b| (b.binding.as_str(), "binding", &b.location)),
    );
    all
}

/// `Fetched` for rules that only need to know whether a part was read.
#[must_use]
pub fn unanswered<T>(f: &Fetched<T>) -> Option<&Unanswered> {
    f.as_ref().err()
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
