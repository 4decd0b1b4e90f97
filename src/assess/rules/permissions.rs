//! Write access: the permissions a deploy needs, compared with the token's own policies.

use std::collections::BTreeSet;

use super::ServiceInput;
use crate::assess::finding::{Finding, Kind, Severity};
use crate::assess::inventory::{Inventory, TokenPolicy};
use crate::assess::report::{WriteAccess, WriteState};

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

#[cfg(test)]
mod tests {
    use crate::assess::rules::fixtures::*;
    use crate::assess::WriteState;

    #[test]
    fn write_access_is_verified_missing_or_unverified() {
        let w = worker(&format!(
            "{}\n[[queues.consumers]]\nqueue = \"jobs\"\n",
            CONFIG.replace(
                "main = \"src/index.js\"",
                "main = \"src/index.js\"\nroutes = [\"example.com/*\"]"
            )
        ));
        let input = ServiceInput {
            worker: &w,
            extra_required_secrets: vec![],
            main_exists: Some(true),
        };
        let services = [input];
        let needed: Vec<String> = needed_writes(&services)
            .iter()
            .map(Permission::label)
            .collect();
        assert_eq!(
            needed,
            vec![
                "Account · Queues · Edit",
                "Account · Workers Scripts · Edit",
                "Zone · Workers Routes · Edit",
            ]
        );

        // The token cannot read its own policies: unverified, said, not a finding.
        let mut inv = inventory();
        inv.token_policies = Some(Err(forbidden("")));
        let (access, findings) = write_access(&services, &inv, "acc", None);
        assert_eq!(access.state, WriteState::Unverified);
        assert!(access.reason.unwrap().contains("API Tokens Read"));
        assert!(findings.is_empty());

        // Policies read: the scripts and queues groups are there, routes only as Read.
        let account = serde_json::json!({ "com.cloudflare.api.account.acc": "*" });
        let zones = serde_json::json!({ "com.cloudflare.api.account.acc": { "com.cloudflare.api.account.zone.*": "*" } });
        inv.token_policies = Some(Ok(vec![
            policy(&["Workers Scripts Write", "Queues Write"], account.clone()),
            policy(&["Workers Routes Read"], zones.clone()),
        ]));
        let (access, findings) = write_access(&services, &inv, "acc", None);
        assert_eq!(access.state, WriteState::Missing);
        assert_eq!(access.missing, vec!["Zone · Workers Routes · Edit"]);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, Kind::TokenMissingPermission);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(findings[0].fix.contains("Zone · Workers Routes · Edit"));

        // Another account's grant does not count; a deny wins over an allow.
        inv.token_policies = Some(Ok(vec![
            policy(
                &["Workers Scripts Write", "Queues Write"],
                serde_json::json!({ "com.cloudflare.api.account.other": "*" }),
            ),
            policy(&["Workers Routes Write"], zones.clone()),
        ]));
        let (access, _) = write_access(&services, &inv, "acc", None);
        assert_eq!(access.missing.len(), 2, "{access:?}");
        let mut deny = policy(&["Queues Write"], account.clone());
        deny.effect = "deny".into();
        inv.token_policies = Some(Ok(vec![
            policy(&["Workers Scripts Write", "Queues Write"], account),
            policy(&["Workers Routes Write"], zones),
            deny,
        ]));
        let (access, _) = write_access(&services, &inv, "acc", None);
        assert_eq!(access.missing, vec!["Account · Queues · Edit"]);
    }
}
