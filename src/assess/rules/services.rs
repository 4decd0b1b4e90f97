//! Service bindings: the Worker exists (or the project deploys it first) and exports the named
//! entrypoint.

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv, ctx) = (r.w, r.inv, r.ctx);
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
}

#[cfg(test)]
mod tests {
    use crate::assess::rules::fixtures::*;

    #[test]
    fn a_project_sibling_counts_as_present_for_a_service_binding() {
        let w = worker(CONFIG);
        let mut inv = inventory();
        inv.scripts = Ok(vec![script("api")]);
        let mut c = ctx();
        c.project_workers.insert("auth".into(), Default::default());
        let input = ServiceInput {
            worker: &w,
            extra_required_secrets: vec![],
            main_exists: Some(true),
        };
        let found = remote_findings(&input, &inv, &c);
        assert!(!kinds(&found).contains(&Kind::ServiceMissing), "{found:?}");
    }
}
