//! The gap-analysis rules: pure functions from resolved configs and an inventory to findings.
//!
//! Precision first: a rule only reports a gap it can prove from the inventory; when the part of
//! the inventory it needs could not be read, it reports `inconclusive` for that check instead.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::finding::{Finding, FindingLocation, Kind, Severity};
use super::inventory::{
    zone_for_host, Fetched, Inventory, TokenOwner, TokenPolicy, TokenState, Unanswered,
};
use super::report::{WriteAccess, WriteState};
use crate::config::{Location, ResolvedWorker};

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

/// A compatibility date older than this is reported as stale.
const STALE_AFTER_DAYS: i64 = 365;

fn loc(l: &Location) -> FindingLocation {
    FindingLocation {
        file: l.file.clone(),
        line: l.line,
        column: l.column,
        key_path: Some(l.key_path.clone()),
    }
}

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

/// The checks that need no API: config problems, the entry point, dates, inheritance.
#[must_use]
pub fn local_findings(input: &ServiceInput<'_>, ctx: &Context) -> Vec<Finding> {
    let w = input.worker;
    let mut out = Out {
        findings: Vec::new(),
        service: w.name.as_deref(),
        env: ctx.env.as_deref(),
    };
    for p in &w.problems {
        let kind = match p.kind {
            "name_invalid" => Kind::NameInvalid,
            "main_missing" => Kind::MainMissing,
            "compatibility_date_invalid" => Kind::CompatibilityDateInvalid,
            _ => Kind::ConfigInvalid,
        };
        out.at(
            kind,
            Severity::Error,
            &p.location,
            p.message.clone(),
            p.fix.clone(),
        );
    }
    if let (Some(main), Some(false)) = (&w.main, input.main_exists) {
        out.push(
            Finding::new(
                Kind::MainMissing,
                Severity::Error,
                format!("the entry point `{main}` does not exist"),
                format!("build first (the file is usually produced by your build step) or fix `main = \"{main}\"`"),
            )
            .at(FindingLocation {
                file: w.file.clone(),
                line: None,
                column: None,
                key_path: Some("main".into()),
            }),
        );
    }
    if let Some(date) = w.compatibility_date.as_deref() {
        if let Ok(parsed) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            let file_loc = FindingLocation {
                file: w.file.clone(),
                line: None,
                column: None,
                key_path: Some("compatibility_date".into()),
            };
            let today = ctx.today.format("%Y-%m-%d");
            if parsed > ctx.today {
                out.push(
                    Finding::new(
                        Kind::CompatibilityDateInvalid,
                        Severity::Error,
                        format!(
                            "compatibility_date {date} is in the future; Cloudflare refuses it"
                        ),
                        format!("set compatibility_date = \"{today}\" or earlier"),
                    )
                    .at(file_loc),
                );
            } else if (ctx.today - parsed).num_days() > STALE_AFTER_DAYS {
                out.push(
                    Finding::new(
                        Kind::CompatibilityDateStale,
                        Severity::Info,
                        format!(
                            "compatibility_date {date} is {} days old; the Worker misses runtime fixes made since",
                            (ctx.today - parsed).num_days()
                        ),
                        format!("test with compatibility_date = \"{today}\", then commit it"),
                    )
                    .at(file_loc),
                );
            }
        }
    }
    for n in &w.not_inherited {
        let env = ctx.env.as_deref().unwrap_or("?");
        out.push(
            Finding::new(
                Kind::BindingNotInherited,
                Severity::Warning,
                format!(
                    "`{}` is set at the top level but not in [env.{env}]; wrangler does not inherit it, so this environment deploys without it",
                    n.key
                ),
                format!("repeat `{}` under [env.{env}] with this environment's resources", n.key),
            )
            .at(loc(&n.top_level_location)),
        );
    }
    out.findings
}

/// Token and account checks; `None` when remote checks can go on.
#[must_use]
pub fn access_findings(
    inv: &Inventory,
    account_id: &str,
    env: Option<&str>,
) -> (Vec<Finding>, bool) {
    let mut out = Out {
        findings: Vec::new(),
        service: None,
        env,
    };
    let mut usable = true;
    match &inv.token {
        Err(why) => {
            out.inconclusive("the API token", why, None);
            usable = false;
        }
        Ok(TokenState::Rejected { reason }) => {
            out.push(Finding::new(
                Kind::TokenInvalid,
                Severity::Error,
                format!("the API token is not accepted by Cloudflare ({reason})"),
                "create a token at https://dash.cloudflare.com/profile/api-tokens (template \"Edit Cloudflare Workers\") and set CLOUDFLARE_API_TOKEN",
            ));
            usable = false;
        }
        Ok(TokenState::Verified {
            status,
            expires_on,
            owner,
            ..
        }) => match status.as_str() {
            "active" => {}
            "expired" => {
                out.push(Finding::new(
                    Kind::TokenExpired,
                    Severity::Error,
                    format!(
                        "the API token expired{}",
                        expires_on
                            .as_deref()
                            .map(|d| format!(" on {d}"))
                            .unwrap_or_default()
                    ),
                    "roll the token (or create a new one) and update CLOUDFLARE_API_TOKEN",
                ));
                usable = false;
            }
            other => {
                let owner = match owner {
                    TokenOwner::User => "user",
                    TokenOwner::Account => "account",
                };
                out.push(Finding::new(
                    Kind::TokenInvalid,
                    Severity::Error,
                    format!("the {owner} API token is {other}"),
                    "enable the token in the dashboard, or create a new one and set CLOUDFLARE_API_TOKEN",
                ));
                usable = false;
            }
        },
    }
    if usable {
        match &inv.account {
            Ok(_) => {}
            // An id the client refuses to put in a URL is a wrong id, not an unanswered call.
            Err(why)
                if !why.forbidden
                    && !why.reason.contains("HTTP 4")
                    && !why
                        .reason
                        .contains("cannot be used in a Cloudflare API path") =>
            {
                out.inconclusive("access to the account", why, None);
                usable = false;
            }
            Err(why) => {
                out.push(Finding::new(
                    Kind::AccountInaccessible,
                    Severity::Error,
                    format!("account `{account_id}` cannot be reached with this token ({})", why.reason),
                    "check CLOUDFLARE_ACCOUNT_ID / account_id (the 32-hex id from the dashboard URL, not an e-mail) and that the token includes this account",
                ));
                usable = false;
            }
        }
    }
    if usable {
        if let Err(why) = &inv.scripts {
            if why.forbidden {
                out.push(Finding::new(
                    Kind::TokenMissingPermission,
                    Severity::Error,
                    "the token cannot read Workers scripts, so it cannot deploy them",
                    "add the permission Account · Workers Scripts · Edit to the token",
                ));
            }
        }
    }
    if usable {
        if let Err(why) = &inv.scripts {
            if !why.forbidden {
                // Migrations, drift and external Durable Object checks all read this list.
                out.inconclusive(
                    "the account's Workers (migrations, dashboard drift)",
                    why,
                    None,
                );
            }
        }
    }
    if !usable {
        out.push(
            Finding::new(
                Kind::Inconclusive,
                Severity::Warning,
                "the resource checks were skipped because the token or account is not usable",
                "fix the token or account finding above and assess again",
            )
            .unverified(),
        );
    }
    (out.findings, usable)
}

/// Every check against the account for one Worker.
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn remote_findings(input: &ServiceInput<'_>, inv: &Inventory, ctx: &Context) -> Vec<Finding> {
    let w = input.worker;
    let name = w.name.clone().unwrap_or_default();
    let mut out = Out {
        findings: Vec::new(),
        service: w.name.as_deref(),
        env: ctx.env.as_deref(),
    };
    let env_flag = ctx
        .env
        .as_deref()
        .map(|e| format!(" --env {e}"))
        .unwrap_or_default();
    let remote_script = inv
        .scripts
        .as_ref()
        .ok()
        .and_then(|s| s.iter().find(|s| s.name == name));

    // D1
    for b in &w.d1_databases {
        let Some(list) = inv.d1.as_ref() else {
            continue;
        };
        let list = match list {
            Ok(list) => list,
            Err(why) => {
                out.inconclusive(
                    &format!("D1 binding `{}`", b.binding),
                    why,
                    Some(&b.location),
                );
                continue;
            }
        };
        let by_name = b
            .database_name
            .as_deref()
            .and_then(|n| list.iter().find(|d| d.name == n));
        match b.database_id.as_deref() {
            Some(id) => match list.iter().find(|d| d.uuid == id) {
                Some(found) => {
                    if let Some(wanted) = b.database_name.as_deref() {
                        if found.name != wanted {
                            out.at(
                                Kind::D1NameMismatch,
                                Severity::Warning,
                                &b.location,
                                format!(
                                    "D1 binding `{}`: database_id {id} is the database `{}`, not `{wanted}`; the id wins, so the Worker uses `{}`",
                                    b.binding, found.name, found.name
                                ),
                                match by_name {
                                    Some(other) => format!("set database_id = \"{}\" (the id of `{wanted}`), or database_name = \"{}\"", other.uuid, found.name),
                                    None => format!("set database_name = \"{}\"", found.name),
                                },
                            );
                        }
                    }
                }
                None => {
                    let fix = match (by_name, b.database_name.as_deref()) {
                        (Some(existing), _) => format!(
                            "set database_id = \"{}\" (the id of the existing database `{}`)",
                            existing.uuid, existing.name
                        ),
                        (None, Some(n)) => format!(
                            "wrangler d1 create {n}, then set database_id to the id it prints"
                        ),
                        (None, None) => {
                            "wrangler d1 create <name>, then set database_name and database_id"
                                .to_owned()
                        }
                    };
                    out.at(
                        Kind::D1Missing,
                        Severity::Error,
                        &b.location,
                        format!(
                            "D1 binding `{}`: no database with id `{id}` in the account",
                            b.binding
                        ),
                        fix,
                    );
                }
            },
            None => {
                if let (None, Some(n)) = (by_name, b.database_name.as_deref()) {
                    out.at(
                        Kind::D1Missing,
                        Severity::Warning,
                        &b.location,
                        format!("D1 binding `{}`: database `{n}` does not exist; wrangler would create it during the deploy", b.binding),
                        format!("wrangler d1 create {n} (and set database_id), so the deploy changes nothing you did not plan"),
                    );
                }
            }
        }
    }

    // KV
    for b in &w.kv_namespaces {
        let Some(list) = inv.kv.as_ref() else {
            continue;
        };
        let list = match list {
            Ok(list) => list,
            Err(why) => {
                out.inconclusive(
                    &format!("KV binding `{}`", b.binding),
                    why,
                    Some(&b.location),
                );
                continue;
            }
        };
        match b.id.as_deref() {
            Some(id) if !list.iter().any(|n| n.id == id) => {
                let similar = list.iter().find(|n| n.title.ends_with(&b.binding));
                out.at(
                    Kind::KvMissing,
                    Severity::Error,
                    &b.location,
                    format!("KV binding `{}`: no namespace with id `{id}` in the account", b.binding),
                    match similar {
                        Some(n) => format!("set id = \"{}\" (namespace `{}`), or run: wrangler kv namespace create {}{env_flag}", n.id, n.title, b.binding),
                        None => format!("wrangler kv namespace create {}{env_flag}, then set id to the id it prints", b.binding),
                    },
                );
            }
            Some(_) => {}
            None => out.at(
                Kind::KvMissing,
                Severity::Warning,
                &b.location,
                format!("KV binding `{}` has no id; wrangler would create a namespace during the deploy", b.binding),
                format!("wrangler kv namespace create {}{env_flag}, then set id", b.binding),
            ),
        }
    }

    // R2
    for b in &w.r2_buckets {
        let jurisdiction = b.jurisdiction.clone();
        let Some(list) = inv.r2.get(&jurisdiction) else {
            continue;
        };
        let list = match list {
            Ok(list) => list,
            Err(why) => {
                out.inconclusive(
                    &format!("R2 binding `{}`", b.binding),
                    why,
                    Some(&b.location),
                );
                continue;
            }
        };
        let j_flag = jurisdiction
            .as_deref()
            .map(|j| format!(" -J {j}"))
            .unwrap_or_default();
        match b.bucket_name.as_deref() {
            Some(bucket) if !list.iter().any(|n| n == bucket) => out.at(
                Kind::R2Missing,
                Severity::Error,
                &b.location,
                format!(
                    "R2 binding `{}`: bucket `{bucket}` does not exist{}",
                    b.binding,
                    jurisdiction.as_deref().map(|j| format!(" in jurisdiction {j}")).unwrap_or_default()
                ),
                format!("wrangler r2 bucket create {bucket}{j_flag}"),
            ),
            Some(_) => {}
            None => out.at(
                Kind::R2Missing,
                Severity::Warning,
                &b.location,
                format!("R2 binding `{}` has no bucket_name; wrangler would create a bucket during the deploy", b.binding),
                format!("wrangler r2 bucket create <name>{j_flag}, then set bucket_name"),
            ),
        }
    }

    // Queues
    let queue_refs = w
        .queue_producers
        .iter()
        .map(|p| (&p.queue, &p.location, "producer"))
        .chain(
            w.queue_consumers
                .iter()
                .map(|c| (&c.queue, &c.location, "consumer")),
        );
    for (queue, l, role) in queue_refs {
        let Some(list) = inv.queues.as_ref() else {
            continue;
        };
        match list {
            Err(why) => out.inconclusive(&format!("queue `{queue}`"), why, Some(l)),
            Ok(list) if !list.iter().any(|q| &q.name == queue) => out.at(
                Kind::QueueMissing,
                Severity::Error,
                l,
                format!("queue {role} `{queue}`: the queue does not exist"),
                format!("wrangler queues create {queue}"),
            ),
            Ok(_) => {}
        }
    }

    // Hyperdrive and Vectorize
    for b in &w.other_bindings {
        let (list, kind, what, fix) = match b.kind.as_str() {
            "hyperdrive" => (
                inv.hyperdrive.as_ref(),
                Kind::HyperdriveMissing,
                "Hyperdrive config",
                format!(
                    "wrangler hyperdrive create <name> --connection-string=<postgres url>, then set id for `{}`",
                    b.binding
                ),
            ),
            "vectorize" => (
                inv.vectorize.as_ref(),
                Kind::VectorizeMissing,
                "Vectorize index",
                format!(
                    "wrangler vectorize create {} --dimensions=<n> --metric=<cosine|euclidean|dot-product>",
                    b.target.as_deref().unwrap_or("<name>")
                ),
            ),
            _ => continue,
        };
        let (Some(list), Some(target)) = (list, b.target.as_deref()) else {
            continue;
        };
        match list {
            Err(why) => out.inconclusive(
                &format!("{what} binding `{}`", b.binding),
                why,
                Some(&b.location),
            ),
            Ok(list) if !list.iter().any(|x| x == target) => out.at(
                kind,
                Severity::Error,
                &b.location,
                format!("binding `{}`: {what} `{target}` does not exist", b.binding),
                fix,
            ),
            Ok(_) => {}
        }
    }

    // Service bindings
    for s in &w.services {
        if ctx.project_workers.contains_key(&s.service) {
            continue;
        }
        match &inv.scripts {
            Err(why) => out.inconclusive(&format!("service binding `{}`", s.binding), why, Some(&s.location)),
            Ok(list) => match list.iter().find(|x| x.name == s.service) {
                None => out.at(
                    Kind::ServiceMissing,
                    Severity::Error,
                    &s.location,
                    format!("service binding `{}`: Worker `{}` does not exist in the account", s.binding, s.service),
                    format!("deploy `{}` first (or add it to clodo.toml so Clodo deploys it first), or fix `service`", s.service),
                ),
                Some(target) => {
                    if let Some(ep) = s.entrypoint.as_deref() {
                        if !target.named_handlers.iter().any(|h| h == ep) {
                            out.at(
                                Kind::ServiceEntrypointMissing,
                                Severity::Error,
                                &s.location,
                                format!(
                                    "service binding `{}`: Worker `{}` exports no entrypoint `{ep}` (it exports: {})",
                                    s.binding,
                                    s.service,
                                    if target.named_handlers.is_empty() { "none".to_owned() } else { target.named_handlers.join(", ") }
                                ),
                                format!("export `class {ep} extends WorkerEntrypoint` from `{}` and deploy it, or fix `entrypoint`", s.service),
                            );
                        }
                    }
                }
            },
        }
    }

    // Durable Objects
    let migrated: BTreeSet<&str> = w
        .migrations
        .iter()
        .flat_map(|m| {
            m.new_classes
                .iter()
                .chain(&m.new_sqlite_classes)
                .map(String::as_str)
                .chain(m.renamed_classes.iter().map(|(_, to)| to.as_str()))
        })
        .collect();
    let deleted: BTreeSet<&str> = w
        .migrations
        .iter()
        .flat_map(|m| m.deleted_classes.iter().map(String::as_str))
        .collect();
    for d in &w.durable_objects {
        let external = d.script_name.as_deref().filter(|s| *s != name);
        match external {
            Some(script) => {
                if let Some(classes) = ctx.project_workers.get(script) {
                    if !classes.contains(&d.class_name) {
                        out.at(
                            Kind::DoClassMissing,
                            Severity::Error,
                            &d.location,
                            format!("Durable Object binding `{}`: `{script}` (in this project) has no migration creating class `{}`", d.name, d.class_name),
                            format!("add `{}` to a [[migrations]] step of `{script}`, or fix class_name", d.class_name),
                        );
                    }
                    continue;
                }
                match inv.do_namespaces.as_ref() {
                    None => {}
                    Some(Err(why)) => out.inconclusive(
                        &format!("Durable Object binding `{}`", d.name),
                        why,
                        Some(&d.location),
                    ),
                    Some(Ok(list))
                        if !list.iter().any(|n| {
                            n.script.as_deref() == Some(script) && n.class == d.class_name
                        }) =>
                    {
                        let script_exists = inv
                            .scripts
                            .as_ref()
                            .map(|s| s.iter().any(|x| x.name == script))
                            .unwrap_or(true);
                        out.at(
                                Kind::DoClassMissing,
                                Severity::Error,
                                &d.location,
                                if script_exists {
                                    format!("Durable Object binding `{}`: Worker `{script}` has no Durable Object class `{}`", d.name, d.class_name)
                                } else {
                                    format!("Durable Object binding `{}`: Worker `{script}` does not exist", d.name)
                                },
                                format!("deploy `{script}` with class `{}` and its migration first, or fix script_name/class_name", d.class_name),
                            );
                    }
                    Some(Ok(_)) => {}
                }
            }
            None => {
                if migrated.contains(d.class_name.as_str())
                    && !deleted.contains(d.class_name.as_str())
                {
                    continue;
                }
                match inv.do_namespaces.as_ref() {
                    None => {}
                    Some(Err(why)) => out.inconclusive(
                        &format!("Durable Object binding `{}`", d.name),
                        why,
                        Some(&d.location),
                    ),
                    Some(Ok(list)) => {
                        let remote = list.iter().any(|n| {
                            n.script.as_deref() == Some(name.as_str()) && n.class == d.class_name
                        });
                        if !remote {
                            let next_tag = format!("v{}", w.migrations.len() + 1);
                            out.at(
                                Kind::DoMigrationMissing,
                                Severity::Error,
                                &d.location,
                                format!("Durable Object class `{}` (binding `{}`) is created by no migration, and the account has no such class for `{name}`", d.class_name, d.name),
                                format!("add to the config:\n[[migrations]]\ntag = \"{next_tag}\"\nnew_sqlite_classes = [\"{}\"]", d.class_name),
                            );
                        }
                    }
                }
            }
        }
    }
    if let Some(last) = w.migrations.last() {
        if let Ok(scripts) = &inv.scripts {
            let remote_tag = remote_script.and_then(|s| s.migration_tag.as_deref());
            let pending = remote_tag != Some(last.tag.as_str());
            if pending {
                let known = remote_tag.is_none_or(|t| w.migrations.iter().any(|m| m.tag == t));
                let _ = scripts;
                out.at(
                    Kind::DoMigrationPending,
                    if known { Severity::Info } else { Severity::Warning },
                    &last.location,
                    match remote_tag {
                        None => format!("Durable Object migrations up to `{}` will be applied: the deploy must use `wrangler deploy`, not `versions upload`", last.tag),
                        Some(t) if known => format!("Durable Object migrations after `{t}` up to `{}` will be applied: the deploy must use `wrangler deploy`, not `versions upload`", last.tag),
                        Some(t) => format!("the Worker's applied migration tag `{t}` is not in this config; wrangler will try every migration step, which fails if a class already exists"),
                    },
                    if known {
                        "none needed: `clodo deploy` uses `wrangler deploy` for this service; a rollback cannot undo the migration".to_owned()
                    } else {
                        format!("add the remote migration history (tag `{}`) to [[migrations]] before your new steps", remote_tag.unwrap_or_default())
                    },
                );
            }
        }
    }

    // Per-script: secrets, clashes, split, drift
    let remote = inv.per_script.get(&name);
    let required: Vec<(String, Option<&Location>)> = w
        .secrets_required
        .iter()
        .map(|(s, l)| (s.clone(), Some(l)))
        .chain(
            input
                .extra_required_secrets
                .iter()
                .map(|s| (s.clone(), None)),
        )
        .collect();
    if let Some(remote) = remote {
        // Every name this deploy binds: a secret with one of these names is replaced (its value
        // lost) by a non-interactive `wrangler deploy`.
        let bound = local_bindings(w);
        match &remote.secrets {
            Err(why) => {
                if !required.is_empty() || !bound.is_empty() {
                    out.inconclusive("the Worker's secrets", why, None);
                }
            }
            Ok(secrets) => {
                let have: BTreeSet<&str> = secrets.iter().flatten().map(String::as_str).collect();
                let mut seen = BTreeSet::new();
                for (secret, l) in &required {
                    if have.contains(secret.as_str()) || !seen.insert(secret.clone()) {
                        continue;
                    }
                    let f = Finding::new(
                        Kind::SecretMissing,
                        Severity::Error,
                        format!("required secret `{secret}` is not set on `{name}`"),
                        format!("wrangler secret put {secret}{env_flag}"),
                    );
                    out.push(match l {
                        Some(l) => f.at(loc(l)),
                        None => f,
                    });
                }
                for (binding, what, l) in &bound {
                    if have.contains(binding) {
                        out.at(
                            Kind::VarSecretClash,
                            Severity::Error,
                            l,
                            format!("{what} `{binding}` has the same name as a secret of `{name}`; a non-interactive `wrangler deploy` replaces the secret with it and the secret's value is lost"),
                            if *what == "var" {
                                format!("rename the var; or, if the var should win, delete the secret first: wrangler secret delete {binding}{env_flag}")
                            } else {
                                format!("rename the binding; or, if it should win, delete the secret first: wrangler secret delete {binding}{env_flag}")
                            },
                        );
                    }
                }
            }
        }
        if let Err(why) = &remote.live {
            out.inconclusive("the Worker's live deployment (split traffic)", why, None);
        }
        if let Ok(Some(live)) = &remote.live {
            if live.len() > 1 {
                let split: Vec<String> = live
                    .iter()
                    .map(|v| format!("{}@{}%", short(&v.version_id), v.percentage))
                    .collect();
                out.push(Finding::new(
                    Kind::DeploymentSplitInProgress,
                    Severity::Warning,
                    format!("traffic of `{name}` is split between versions ({}); a deploy replaces the split with the new version at 100%", split.join(", ")),
                    "finish or abort the running rollout first (`clodo status`), or accept that the deploy ends it",
                ));
            }
        }
        if let Some(script) = remote_script {
            if script.last_deployed_from.as_deref() == Some("dash") {
                let mut msg = format!(
                    "`{name}` was last changed in the Cloudflare dashboard; deploying from this config overwrites those changes"
                );
                match &remote.settings_bindings {
                    Some(Ok(bindings)) => {
                        let local = local_binding_names(w);
                        let extra: Vec<String> = bindings
                            .iter()
                            .filter(|(kind, n)| {
                                kind != "secret_text"
                                    && kind != "secret_key"
                                    && !local.contains(n.as_str())
                            })
                            .map(|(kind, n)| format!("{n} ({kind})"))
                            .collect();
                        if !extra.is_empty() {
                            msg.push_str(&format!(
                                "; bindings only in the dashboard: {}",
                                extra.join(", ")
                            ));
                        }
                    }
                    Some(Err(why)) => msg.push_str(&format!(
                        " (the live bindings could not be read: {})",
                        why.reason
                    )),
                    None => {}
                }
                if w.keep_vars != Some(true) {
                    msg.push_str(
                        "; vars set in the dashboard will be deleted (keep_vars is not set)",
                    );
                }
                out.push(Finding::new(
                    Kind::DashboardDrift,
                    Severity::Warning,
                    msg,
                    "copy the dashboard changes into the config (or set keep_vars = true), then deploy",
                ));
            }
        }
    }

    // Routes and custom domains
    for r in &w.routes {
        let host = route_host(&r.pattern);
        let zones = match inv.zones.as_ref() {
            None => continue,
            Some(Err(why)) => {
                out.inconclusive(
                    &format!("the zone of `{}`", r.pattern),
                    why,
                    Some(&r.location),
                );
                continue;
            }
            Some(Ok(z)) => z,
        };
        let zone = match (&r.zone_id, &r.zone_name) {
            (Some(id), _) => zones.iter().find(|z| &z.id == id),
            (None, Some(n)) => zones.iter().find(|z| z.name.eq_ignore_ascii_case(n)),
            (None, None) => zone_for_host(zones, &host),
        };
        let what = if r.custom_domain {
            "custom domain"
        } else {
            "route"
        };
        let Some(zone) = zone else {
            out.at(
                Kind::ZoneMissing,
                Severity::Error,
                &r.location,
                format!("{what} `{}`: no zone for `{host}` in the account", r.pattern),
                format!("add the domain to the account (https://dash.cloudflare.com/?to=/:account/add-site) or fix the {what}"),
            );
            continue;
        };
        if zone.status != "active" {
            out.at(
                Kind::ZoneInactive,
                Severity::Warning,
                &r.location,
                format!("{what} `{}`: zone `{}` is {}; no traffic reaches the Worker until it is active", r.pattern, zone.name, zone.status),
                format!("finish the zone setup of `{}` (point its nameservers to Cloudflare)", zone.name),
            );
        }
        if r.custom_domain {
            if let Some(Ok(domains)) = &inv.custom_domains {
                if let Some(other) = domains
                    .iter()
                    .find(|d| d.hostname.eq_ignore_ascii_case(&host) && d.service != name)
                {
                    out.at(
                        Kind::CustomDomainConflict,
                        Severity::Error,
                        &r.location,
                        format!("custom domain `{host}` is attached to Worker `{}`; a non-interactive `wrangler deploy` would silently take it over, cutting `{}` off that hostname", other.service, other.service),
                        format!("detach it from `{}` first (dashboard: Workers > {} > Settings > Domains), or choose another hostname", other.service, other.service),
                    );
                    continue;
                }
            } else if let Some(Err(why)) = &inv.custom_domains {
                out.inconclusive(&format!("custom domain `{host}`"), why, Some(&r.location));
                continue;
            }
            let ours = matches!(&inv.custom_domains, Some(Ok(d)) if d.iter().any(|d| d.hostname.eq_ignore_ascii_case(&host) && d.service == name));
            match inv.dns_records.get(&host) {
                Some(Err(why)) => {
                    out.inconclusive(&format!("DNS records of `{host}`"), why, Some(&r.location))
                }
                Some(Ok(records)) if !ours => {
                    let conflicting: Vec<String> = records
                        .iter()
                        .filter(|d| {
                            d.name.eq_ignore_ascii_case(&host)
                                && matches!(d.record_type.as_str(), "A" | "AAAA" | "CNAME")
                        })
                        .map(|d| format!("{} {}", d.record_type, d.content))
                        .collect();
                    if !conflicting.is_empty() {
                        out.at(
                            Kind::CustomDomainConflict,
                            Severity::Error,
                            &r.location,
                            format!("custom domain `{host}` already has DNS records ({}); Cloudflare refuses the domain (error 100117)", conflicting.join(", ")),
                            format!("delete the DNS records of `{host}` in zone `{}`, or attach it with override_existing_dns_record", zone.name),
                        );
                    }
                }
                _ => {}
            }
        } else {
            match inv.zone_routes.get(&zone.id) {
                Some(Err(why)) => {
                    out.inconclusive(&format!("route `{}`", r.pattern), why, Some(&r.location))
                }
                Some(Ok(routes)) => {
                    if let Some(other) = routes.iter().find(|x| {
                        x.pattern == r.pattern && x.script.as_deref().is_some_and(|s| s != name)
                    }) {
                        out.at(
                            Kind::RouteConflict,
                            Severity::Error,
                            &r.location,
                            format!("route `{}` is assigned to Worker `{}`", r.pattern, other.script.as_deref().unwrap_or_default()),
                            format!("remove the route from `{}` (wrangler triggers deploy there without it), or use another pattern", other.script.as_deref().unwrap_or_default()),
                        );
                    }
                }
                None => {}
            }
        }
    }
    out.findings
}

/// A permission as the dashboard's token editor shows it: scope · group · level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub zone_level: bool,
    /// The group stem of the API's permission group names (`Workers Scripts`, `D1`, ...).
    pub group: &'static str,
    pub edit: bool,
}

impl Permission {
    const fn edit(zone_level: bool, group: &'static str) -> Self {
        Self {
            zone_level,
            group,
            edit: true,
        }
    }

    /// `Account · D1 · Edit`.
    #[must_use]
    pub fn label(&self) -> String {
        format!(
            "{} · {} · {}",
            if self.zone_level { "Zone" } else { "Account" },
            self.group,
            if self.edit { "Edit" } else { "Read" }
        )
    }
}

/// The write permissions a deploy of these services needs: the upload always; routes and
/// custom domains when there are any; and the products wrangler provisions or changes during
/// the deploy (a D1/KV/R2 binding without an id is created; queue consumers are registered).
#[must_use]
pub fn needed_writes(services: &[ServiceInput<'_>]) -> Vec<Permission> {
    let mut needed = BTreeSet::new();
    needed.insert(Permission::edit(false, "Workers Scripts"));
    for s in services {
        let w = s.worker;
        if !w.routes.is_empty() {
            needed.insert(Permission::edit(true, "Workers Routes"));
        }
        if w.d1_databases.iter().any(|b| b.database_id.is_none()) {
            needed.insert(Permission::edit(false, "D1"));
        }
        if w.kv_namespaces.iter().any(|b| b.id.is_none()) {
            needed.insert(Permission::edit(false, "Workers KV Storage"));
        }
        if w.r2_buckets.iter().any(|b| b.bucket_name.is_none()) {
            needed.insert(Permission::edit(false, "Workers R2 Storage"));
        }
        if !w.queue_consumers.is_empty() {
            needed.insert(Permission::edit(false, "Queues"));
        }
    }
    needed.into_iter().collect()
}

/// Whether a policy's resources cover the account (account-level groups) or zones of it
/// (zone-level groups). Resource keys: `com.cloudflare.api.account.<id>` (or `.*`), with
/// zones either nested under the account key or as top-level `...account.zone.<id|*>` keys.
fn policy_covers(policy: &TokenPolicy, account_id: &str, zone_level: bool) -> bool {
    let Some(resources) = policy.resources.as_object() else {
        return false;
    };
    let account_key = format!("com.cloudflare.api.account.{account_id}");
    let is_zone_key = |k: &str| k.starts_with("com.cloudflare.api.account.zone.");
    resources.iter().any(|(key, value)| {
        let this_account = key == &account_key || key == "com.cloudflare.api.account.*";
        if zone_level {
            is_zone_key(key)
                || (this_account
                    && value
                        .as_object()
                        .is_some_and(|zones| zones.keys().any(|k| is_zone_key(k))))
        } else {
            this_account && value.as_str() == Some("*")
        }
    })
}

/// Whether a permission group name grants the permission (`Write` grants `Read` too; the
/// dashboard's `Edit` is the API's `Write`).
fn group_grants(group: &str, p: &Permission) -> bool {
    let Some(level) = group.strip_prefix(p.group).map(str::trim) else {
        return false;
    };
    match level {
        "Write" | "Edit" => true,
        "Read" => !p.edit,
        _ => false,
    }
}

/// Compares the token's own policies with the write permissions the deploy needs. Each lacking
/// permission is a `token_missing_permission` error (wrangler would fail mid-deploy). When the
/// policies cannot be read (the usual case: reading them needs "API Tokens Read"), write access
/// is `unverified`: said in the report, not a finding, and not blocking, because the reads the
/// deploy depends on were probed and a refused write fails the deploy loudly, never quietly.
#[must_use]
pub fn write_access(
    services: &[ServiceInput<'_>],
    inv: &Inventory,
    account_id: &str,
    env: Option<&str>,
) -> (WriteAccess, Vec<Finding>) {
    let needed = needed_writes(services);
    let labels = needed.iter().map(Permission::label).collect();
    let unverified = |reason: String| {
        (
            WriteAccess {
                state: WriteState::Unverified,
                needed: needed.iter().map(Permission::label).collect(),
                missing: vec![],
                reason: Some(reason),
            },
            vec![],
        )
    };
    let policies = match &inv.token_policies {
        None => return unverified("the token's id is not known, so its policies were not read".into()),
        Some(Err(why)) if why.forbidden => {
            return unverified(format!(
                "the token cannot read its own policies ({}); add \"API Tokens Read\" (user token) or \"Account API Tokens Read\" (account token) to verify them",
                why.reason
            ))
        }
        Some(Err(why)) => return unverified(format!("the token's policies could not be read ({})", why.reason)),
        Some(Ok(p)) => p,
    };
    let granted = |p: &Permission, effect: &str| {
        policies.iter().any(|pol| {
            pol.effect == effect
                && policy_covers(pol, account_id, p.zone_level)
                && pol.groups.iter().any(|g| group_grants(g, p))
        })
    };
    let missing: Vec<&Permission> = needed
        .iter()
        .filter(|p| !granted(p, "allow") || granted(p, "deny"))
        .collect();
    let findings = missing
        .iter()
        .map(|p| {
            Finding::new(
                Kind::TokenMissingPermission,
                Severity::Error,
                format!(
                    "the token lacks the permission {} on account `{account_id}`, which this deploy needs; wrangler would fail mid-deploy",
                    p.label()
                ),
                format!("add the permission {} to the token (dashboard: My Profile > API Tokens > Edit)", p.label()),
            )
            .for_service(None, env)
        })
        .collect();
    (
        WriteAccess {
            state: if missing.is_empty() {
                WriteState::Verified
            } else {
                WriteState::Missing
            },
            needed: labels,
            missing: missing.iter().map(|p| p.label()).collect(),
            reason: None,
        },
        findings,
    )
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// The host of a route pattern: before the first `/`, without a leading `*.` or `*`.
#[must_use]
pub fn route_host(pattern: &str) -> String {
    let without_scheme = pattern
        .strip_prefix("https://")
        .or_else(|| pattern.strip_prefix("http://"))
        .unwrap_or(pattern);
    let host = without_scheme.split('/').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    host.trim_start_matches("*.")
        .trim_start_matches('*')
        .to_ascii_lowercase()
}

/// Every binding name of the config with what it is and where, for the secret clash check.
fn local_bindings(w: &ResolvedWorker) -> Vec<(&str, &'static str, &Location)> {
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

fn local_binding_names(w: &ResolvedWorker) -> BTreeSet<&str> {
    w.d1_databases
        .iter()
        .map(|b| b.binding.as_str())
        .chain(w.kv_namespaces.iter().map(|b| b.binding.as_str()))
        .chain(w.r2_buckets.iter().map(|b| b.binding.as_str()))
        .chain(w.queue_producers.iter().map(|b| b.binding.as_str()))
        .chain(w.durable_objects.iter().map(|b| b.name.as_str()))
        .chain(w.services.iter().map(|b| b.binding.as_str()))
        .chain(w.vars.iter().map(|(n, _)| n.as_str()))
        .chain(w.other_bindings.iter().map(|b| b.binding.as_str()))
        .collect()
}

/// `Fetched` for rules that only need to know whether a part was read.
#[must_use]
pub fn unanswered<T>(f: &Fetched<T>) -> Option<&Unanswered> {
    f.as_ref().err()
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
