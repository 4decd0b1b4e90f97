//! Durable Object bindings: the class is created by a migration or exists in the account (for
//! another Worker's class), and pending migrations are announced (they need `wrangler deploy`).

use std::collections::BTreeSet;

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};
use crate::config::DoBinding;

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv, ctx, name, remote_script) = (r.w, r.inv, r.ctx, r.name.clone(), r.remote_script);
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
    let namespaces = inv.do_namespaces.as_ref();
    let check = |d: &DoBinding| {
        let binding = d.name.clone();
        move || format!("Durable Object binding `{binding}`")
    };
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
                let Some(list) = out.read(namespaces, check(d), Some(&d.location)) else {
                    continue;
                };
                if !list
                    .iter()
                    .any(|n| n.script.as_deref() == Some(script) && n.class == d.class_name)
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
            }
            None => {
                if migrated.contains(d.class_name.as_str())
                    && !deleted.contains(d.class_name.as_str())
                {
                    continue;
                }
                if let Some(list) = out.read(namespaces, check(d), Some(&d.location)) {
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
}
