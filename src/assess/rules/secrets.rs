//! Secrets: every required secret is set on the Worker, and no var or binding shares a secret's
//! name (a non-interactive `wrangler deploy` would replace the secret and lose its value).

use std::collections::BTreeSet;

use super::{loc, local_bindings, Out, Remote};
use crate::assess::finding::{Finding, Kind, Severity};
use crate::config::Location;

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv, input, name, env_flag) = (r.w, r.inv, r.input, r.name.clone(), &r.env_flag);
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
    }
}

#[cfg(test)]
mod tests {
    use crate::assess::rules::fixtures::*;

    #[test]
    fn a_required_secret_the_worker_lacks_is_missing_and_one_it_has_is_not() {
        let w = worker(CONFIG);
        let mut inv = inventory();
        inv.per_script.get_mut("api").unwrap().secrets = Ok(Some(vec!["HAVE".into()]));
        let found = remote(&w, &inv, &["HAVE", "NEED"]);
        let secrets: Vec<&Finding> = found
            .iter()
            .filter(|f| f.kind == Kind::SecretMissing)
            .collect();
        assert_eq!(secrets.len(), 1, "{found:?}");
        assert!(secrets[0].message.contains("NEED"));
        assert!(
            secrets[0].fix.contains("wrangler secret put NEED"),
            "{}",
            secrets[0].fix
        );
    }

    #[test]
    fn a_var_or_binding_named_like_a_secret_is_an_error() {
        let w = worker(&format!("{CONFIG}\n[vars]\nSHARED = \"x\"\n"));
        let mut inv = inventory();
        inv.per_script.get_mut("api").unwrap().secrets =
            Ok(Some(vec!["SHARED".into(), "CACHE".into()]));
        let found = remote(&w, &inv, &[]);
        let clashes: Vec<&Finding> = found
            .iter()
            .filter(|f| f.kind == Kind::VarSecretClash)
            .collect();
        assert_eq!(clashes.len(), 2, "{found:?}");
        for c in &clashes {
            assert_eq!(
                c.severity,
                Severity::Error,
                "the secret's value would be lost"
            );
            assert!(c.location.is_some());
        }
        assert!(clashes.iter().any(|c| c.message.contains("var `SHARED`")));
        assert!(clashes
            .iter()
            .any(|c| c.message.contains("KV binding `CACHE`")));
    }

    /// Every kind's severity, as `docs/findings.md` states it: error when the deploy or the Worker
    /// will fail, warning when it deploys but misbehaves.
    #[test]
    fn severities_match_what_cloudflare_does_at_deploy_time() {
        let w = worker(&format!("{CONFIG}\n[vars]\nSHARED = \"x\"\n"));
        let mut inv = inventory();
        inv.per_script.get_mut("api").unwrap().secrets = Ok(Some(vec!["SHARED".into()]));
        let found = remote(&w, &inv, &["NEED"]);
        let sev = |k: Kind| found.iter().find(|f| f.kind == k).map(|f| f.severity);
        assert_eq!(sev(Kind::VarSecretClash), Some(Severity::Error));
        assert_eq!(sev(Kind::SecretMissing), Some(Severity::Error));
    }
}
