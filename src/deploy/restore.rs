//! What to do, pure, with each service of a deployment that stopped midway: put it back on the
//! version it served before, leave it (it took no traffic, or it is new), or keep the new
//! version because it applied a Durable Object migration (Cloudflare refuses to deploy a
//! version older than a migration, so the service is rolled forward and flagged instead of
//! being left half-restored). Decided for every service before any traffic moves back.

use std::fmt;

use serde::Serialize;

/// One service as far as the deployment got with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub service: String,
    pub script: String,
    /// The version serving before this deployment (read while holding the lock).
    pub previous_version: Option<String>,
    pub new_version: String,
    /// Whether the new version may be taking traffic (`wrangler deploy`, or a traffic change
    /// that was started); a `versions upload` alone takes none.
    pub took_traffic: bool,
    /// Durable Object migration tags the upload applied.
    pub migrations_applied: Vec<String>,
}

/// The decision for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RestoreAction {
    /// The new version never took traffic: nothing to undo.
    Untouched,
    /// A new Worker: there is no earlier version to go back to; it stays.
    KeepNewWorker,
    /// The upload applied Durable Object migrations: the new version stays (rolled forward).
    KeepMigrated { tags: Vec<String> },
    /// Serve this version at 100% again.
    Restore { to: String },
}

/// The decision with the service it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreStep {
    pub service: String,
    pub script: String,
    pub new_version: String,
    #[serde(flatten)]
    pub action: RestoreAction,
}

impl fmt::Display for RestoreStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (service, new) = (&self.service, &self.new_version);
        match &self.action {
            RestoreAction::Untouched => write!(f, "{service}: {new} took no traffic"),
            RestoreAction::KeepNewWorker => {
                write!(f, "{service}: new Worker, stays on {new} (nothing to go back to)")
            }
            RestoreAction::KeepMigrated { tags } => write!(
                f,
                "{service}: FLAGGED, stays on {new}: it applied Durable Object migration(s) {} and Cloudflare refuses to deploy a version older than a migration (rolled forward; fix forward)",
                tags.join(", ")
            ),
            RestoreAction::Restore { to } => write!(f, "{service}: back to {to}"),
        }
    }
}

/// The decision for each service, in the order given.
#[must_use]
pub fn restore_plan(shipped: &[Shipped]) -> Vec<RestoreStep> {
    shipped
        .iter()
        .map(|s| RestoreStep {
            service: s.service.clone(),
            script: s.script.clone(),
            new_version: s.new_version.clone(),
            action: action(s),
        })
        .collect()
}

fn action(s: &Shipped) -> RestoreAction {
    if !s.took_traffic {
        return RestoreAction::Untouched;
    }
    match &s.previous_version {
        None => RestoreAction::KeepNewWorker,
        Some(_) if !s.migrations_applied.is_empty() => RestoreAction::KeepMigrated {
            tags: s.migrations_applied.clone(),
        },
        Some(prev) if *prev == s.new_version => RestoreAction::Untouched,
        Some(prev) => RestoreAction::Restore { to: prev.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(prev: Option<&str>, took_traffic: bool, tags: &[&str]) -> Shipped {
        Shipped {
            service: "api".into(),
            script: "api-w".into(),
            previous_version: prev.map(str::to_owned),
            new_version: "new".into(),
            took_traffic,
            migrations_applied: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn each_kind_of_service_gets_its_own_decision() {
        let plan = restore_plan(&[
            shipped(Some("old"), false, &[]),
            shipped(None, true, &["v1"]),
            shipped(Some("old"), true, &["v2"]),
            shipped(Some("old"), true, &[]),
        ]);
        let actions: Vec<_> = plan.iter().map(|s| s.action.clone()).collect();
        assert_eq!(
            actions,
            vec![
                RestoreAction::Untouched,
                RestoreAction::KeepNewWorker,
                RestoreAction::KeepMigrated {
                    tags: vec!["v2".into()]
                },
                RestoreAction::Restore { to: "old".into() },
            ]
        );
    }

    #[test]
    fn a_migrated_service_is_flagged_never_sent_back() {
        let step = &restore_plan(&[shipped(Some("old"), true, &["v2", "v3"])])[0];
        let text = step.to_string();
        assert!(text.contains("FLAGGED"), "{text}");
        assert!(text.contains("v2, v3"), "{text}");
        assert!(!matches!(step.action, RestoreAction::Restore { .. }));
        let json = serde_json::to_value(step).unwrap();
        assert_eq!(json["action"], "keep_migrated");
    }
}
