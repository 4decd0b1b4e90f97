//! The Worker itself: a traffic split in progress and changes made in the dashboard (drift).

use std::collections::BTreeSet;

use super::{local_bindings, Out, Remote};
use crate::assess::finding::{Finding, Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv, name, remote_script) = (r.w, r.inv, r.name.clone(), r.remote_script);
    let Some(remote) = inv.per_script.get(&name) else {
        return;
    };
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
                    let local: BTreeSet<&str> =
                        local_bindings(w).into_iter().map(|(n, _, _)| n).collect();
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
                msg.push_str("; vars set in the dashboard will be deleted (keep_vars is not set)");
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

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use crate::assess::rules::fixtures::*;

    #[test]
    fn an_unread_live_deployment_or_script_list_is_unverified_not_passed() {
        let w = worker(CONFIG);
        let mut inv = inventory();
        inv.per_script.get_mut("api").unwrap().live = Err(no_answer());
        let report = report_of(&w, &inv);
        assert!(!report.ready, "{:?}", report.findings);
        assert!(report
            .findings
            .iter()
            .any(|f| f.unverified && f.message.contains("live deployment")));
        let mut inv = inventory();
        inv.scripts = Err(no_answer());
        let report = report_of(&w, &inv);
        assert!(!report.ready);
    }
}
