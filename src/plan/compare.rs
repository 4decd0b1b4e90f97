//! The comparison behind `clodo plan`: a resolved config against one Worker's live facts.

use std::collections::BTreeSet;

use super::bindings::{self, same};
use super::{Action, Area, Change, Known, LiveService, ServiceAction, ServicePlan, Verdict};
use crate::config::ResolvedWorker;
use crate::deploy::plan::pending_migrations;

/// What a deploy of `w` (service `service`, secrets `required_secrets` from `secrets.required`
/// and clodo.toml) would change against `live`.
#[must_use]
pub fn plan_service(
    service: &str,
    w: &ResolvedWorker,
    required_secrets: &[String],
    live: &LiveService,
) -> ServicePlan {
    let script = w.name.clone().unwrap_or_else(|| service.to_owned());
    let mut changes = Vec::new();
    let exists = match &live.exists {
        Ok(e) => Some(*e),
        Err(why) => {
            changes.push(Change::unknown(Area::Code, &script, why));
            None
        }
    };
    if exists == Some(false) {
        // A first deploy: everything in the config is added.
        changes.push(Change::new(Area::Code, &script, Action::Add).detail("new Worker"));
        for (name, fact) in bindings::from_config(w) {
            let area = if fact.is_var() {
                Area::Var
            } else {
                Area::Binding
            };
            changes.push(Change::new(area, name, Action::Add).config(fact.describe()));
        }
        for r in &w.routes {
            let area = if r.custom_domain {
                Area::CustomDomain
            } else {
                Area::Route
            };
            changes.push(Change::new(area, &r.pattern, Action::Add));
        }
        for c in &w.crons {
            changes.push(Change::new(Area::Cron, c, Action::Add));
        }
        for m in &w.migrations {
            changes.push(Change::new(
                Area::DurableObjectMigration,
                &m.tag,
                Action::Pending,
            ));
        }
        for s in required_secrets {
            changes.push(
                Change::new(Area::Secret, s, Action::Missing).detail(format!(
                    "set it after the first deploy: wrangler secret put {s}"
                )),
            );
        }
        d1_changes(live, &mut changes);
        return finish(service, script, Some(false), changes);
    }

    let versioned_before = changes.len();
    match &live.same_code {
        Ok(true) => {}
        Ok(false) => changes.push(
            Change::new(Area::Code, &script, Action::Change)
                .detail("the bundle wrangler builds differs from the live version's modules"),
        ),
        Err(why) if exists.is_some() => changes.push(Change::unknown(Area::Code, &script, why)),
        Err(_) => {}
    }
    match &live.settings {
        Ok(settings) => {
            binding_changes(w, &settings.bindings, &mut changes);
            if w.compatibility_date != settings.compatibility_date {
                changes.push(opt(
                    Change::new(
                        Area::CompatibilityDate,
                        "compatibility_date",
                        Action::Change,
                    ),
                    settings.compatibility_date.as_deref(),
                    w.compatibility_date.as_deref(),
                ));
            }
            let want: BTreeSet<&String> = w.compatibility_flags.iter().collect();
            let have: BTreeSet<&String> = settings.compatibility_flags.iter().collect();
            set_changes(Area::CompatibilityFlag, &want, &have, &mut changes);
        }
        Err(why) => changes.push(Change::unknown(Area::Binding, "bindings", why)),
    }
    let versioned = changes[versioned_before..]
        .iter()
        .any(|c| c.action != Action::Unknown);
    let versioned_unknown = changes[versioned_before..]
        .iter()
        .any(|c| c.action == Action::Unknown);

    secret_changes(required_secrets, &live.secrets, &mut changes);
    let (routes, domains): (Vec<_>, Vec<_>) = w.routes.iter().partition(|r| !r.custom_domain);
    compare_sets(
        Area::Route,
        routes.iter().map(|r| r.pattern.clone()).collect(),
        &live.routes,
        &mut changes,
    );
    compare_sets(
        Area::CustomDomain,
        domains.iter().map(|r| r.pattern.clone()).collect(),
        &live.custom_domains,
        &mut changes,
    );
    compare_sets(
        Area::Cron,
        w.crons.iter().cloned().collect(),
        &live.schedules,
        &mut changes,
    );
    match &live.migration_tag {
        Ok(tag) => {
            for m in pending_migrations(&w.migrations, tag.as_deref()) {
                changes.push(
                    Change::new(Area::DurableObjectMigration, &m.tag, Action::Pending)
                        .live(tag.clone().unwrap_or_else(|| "none".into())),
                );
            }
        }
        Err(why) if !w.migrations.is_empty() => changes.push(Change::unknown(
            Area::DurableObjectMigration,
            "migrations",
            why,
        )),
        Err(_) => {}
    }
    d1_changes(live, &mut changes);
    // A deploy serves the new version at 100%: a split left live ends.
    if let Ok(Some(d)) = &live.deployment {
        if d.versions.len() > 1 {
            let split = d.split_text();
            changes.push(
                Change::new(Area::Traffic, &d.id, Action::Change)
                    .live(split)
                    .config("the deployed version @100"),
            );
        }
    }
    let mut plan = finish(service, script, exists, changes);
    plan.new_version = if versioned {
        Verdict::Yes
    } else if versioned_unknown || exists.is_none() {
        Verdict::Unknown
    } else {
        Verdict::No
    };
    plan
}

fn finish(
    service: &str,
    script: String,
    exists: Option<bool>,
    changes: Vec<Change>,
) -> ServicePlan {
    let real = changes.iter().any(|c| c.action != Action::Unknown);
    let action = match exists {
        Some(false) => ServiceAction::Create,
        _ if real => ServiceAction::Update,
        _ if changes.is_empty() => ServiceAction::NoChange,
        _ => ServiceAction::Unknown,
    };
    ServicePlan {
        service: service.to_owned(),
        script,
        action,
        new_version: if exists == Some(false) {
            Verdict::Yes
        } else {
            Verdict::Unknown
        },
        changes,
    }
}

fn opt(mut c: Change, live: Option<&str>, config: Option<&str>) -> Change {
    c.live = live.map(str::to_owned);
    c.config = config.map(str::to_owned);
    c
}

fn binding_changes(w: &ResolvedWorker, live: &bindings::Bindings, out: &mut Vec<Change>) {
    let want = bindings::from_config(w);
    // `keep_vars = true` keeps vars set outside the config; otherwise a deploy drops them.
    let keep_vars = w.keep_vars == Some(true);
    for (name, fact) in &want {
        let area = if fact.is_var() {
            Area::Var
        } else {
            Area::Binding
        };
        match live.get(name) {
            None => out.push(Change::new(area, name, Action::Add).config(fact.describe())),
            Some(l) if !same(fact, l) => {
                let mut c = Change::new(area, name, Action::Change)
                    .live(l.describe())
                    .config(fact.describe());
                if fact.is_var() && l.is_var() {
                    c = c.detail("value differs");
                }
                out.push(c);
            }
            Some(_) => {}
        }
    }
    for (name, l) in live {
        if want.contains_key(name) || (keep_vars && l.is_var()) {
            continue;
        }
        let area = if l.is_var() { Area::Var } else { Area::Binding };
        out.push(Change::new(area, name, Action::Remove).live(l.describe()));
    }
}

fn set_changes(
    area: Area,
    want: &BTreeSet<&String>,
    have: &BTreeSet<&String>,
    out: &mut Vec<Change>,
) {
    for x in want.difference(have) {
        out.push(Change::new(area, *x, Action::Add));
    }
    for x in have.difference(want) {
        out.push(Change::new(area, *x, Action::Remove));
    }
}

fn compare_sets(
    area: Area,
    want: BTreeSet<String>,
    live: &Known<Vec<String>>,
    out: &mut Vec<Change>,
) {
    match live {
        Ok(have) => {
            let have: BTreeSet<&String> = have.iter().collect();
            set_changes(area, &want.iter().collect(), &have, out);
        }
        Err(why) => out.push(Change::unknown(
            area,
            format!("{area:?}").to_lowercase(),
            why,
        )),
    }
}

fn secret_changes(required: &[String], live: &Known<Vec<String>>, out: &mut Vec<Change>) {
    if required.is_empty() {
        return;
    }
    match live {
        Ok(present) => {
            for s in required.iter().filter(|s| !present.contains(s)) {
                out.push(
                    Change::new(Area::Secret, s, Action::Missing)
                        .detail(format!("required but not set: wrangler secret put {s}")),
                );
            }
        }
        Err(why) => out.push(Change::unknown(Area::Secret, "secrets", why)),
    }
}

fn d1_changes(live: &LiveService, out: &mut Vec<Change>) {
    for (binding, pending) in &live.d1_pending {
        match pending {
            Ok(files) => {
                for f in files {
                    out.push(
                        Change::new(Area::D1Migration, f, Action::Pending)
                            .detail(format!("database {binding}")),
                    );
                }
            }
            Err(why) => out.push(Change::unknown(Area::D1Migration, binding, why)),
        }
    }
}
