//! Choosing a rollback target, pure: from a Worker's deployment history (newest first, as the
//! Cloudflare API lists it) and what Clodo recorded about its versions, the version to put back
//! at 100%. The default is the newest earlier deployment that served one version at 100%
//! (wrangler's rule), skipping the version live now (a rollback always changes what users get)
//! and every version Clodo recorded as shipped by a deployment that failed or was rolled back.
//! A Worker already back on the version that served before such a deployment (the newest that
//! shipped it) has nothing to roll back. A target older than a Durable Object migration is
//! refused, as Cloudflare refuses it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::snapshot::ServiceSnapshot;
use crate::cloudflare::endpoints::Deployment;
use crate::control::lifecycle::DeploymentStatus;

/// One entry of `GET …/scripts/{s}/deployments`: its id and its traffic split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentEntry {
    pub id: String,
    pub versions: Vec<(String, f64)>,
}

impl DeploymentEntry {
    /// The version taking most of the traffic (the first listed on a tie).
    #[must_use]
    pub fn main_version(&self) -> Option<&str> {
        let mut best: Option<&(String, f64)> = None;
        for v in &self.versions {
            if best.is_none_or(|b| v.1 > b.1) {
                best = Some(v);
            }
        }
        best.map(|(id, _)| id.as_str())
    }

    /// The single version this deployment served at 100%, if it was not a split.
    #[must_use]
    pub fn whole_version(&self) -> Option<&str> {
        match self.versions.as_slice() {
            [(id, pct)] if (*pct - 100.0).abs() < 0.001 => Some(id.as_str()),
            _ => None,
        }
    }
}

/// What Clodo's deployment history says about the versions of one Worker (from the services
/// snapshot each deployment recorded when it reached `verifying`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionRecords {
    /// Versions shipped by a deployment that ended `failed` or `rolled_back`: version → why
    /// (for example `dep_123 rolled_back`).
    pub bad: BTreeMap<String, String>,
    /// Versions whose upload applied Durable Object migrations: version → the tags.
    pub migrations: BTreeMap<String, Vec<String>>,
    /// When the newest deployment that shipped this Worker ended `failed` or `rolled_back`:
    /// the version that served before it, which its rollout (or a rollback since) puts back.
    pub before_newest_bad: Option<BeforeBad>,
}

/// The version that served before a deployment that failed or was rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeBad {
    pub version: String,
    /// `dep_123 which failed`.
    pub why: String,
}

/// One deployment of Clodo's history with the services it shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDeployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub services: Vec<ServiceSnapshot>,
}

/// What Clodo's deployments (newest first, as the history lists them) say about the versions
/// of the Worker `script`: the versions shipped by deployments that ended `failed` or
/// `rolled_back` are bad; the versions whose upload applied Durable Object migrations
/// (whatever the outcome: a migration stays applied) are recorded with their tags; and when
/// the newest deployment that shipped the Worker is a bad one, the version it replaced.
#[must_use]
pub fn version_records(deployments: &[RecordedDeployment], script: &str) -> VersionRecords {
    let mut records = VersionRecords::default();
    let mut newest_seen = false;
    for d in deployments {
        for s in d.services.iter().filter(|s| s.script == script) {
            let bad = matches!(
                d.status,
                DeploymentStatus::Failed | DeploymentStatus::RolledBack
            );
            let why = || format!("{} which {}", d.id, d.status.as_str().replace('_', " "));
            if bad {
                records
                    .bad
                    .entry(s.new_version.clone())
                    .or_insert_with(|| format!("shipped by {}", why()));
            }
            if !newest_seen {
                newest_seen = true;
                records.before_newest_bad =
                    s.previous_version
                        .clone()
                        .filter(|_| bad)
                        .map(|version| BeforeBad {
                            version,
                            why: why(),
                        });
            }
            if !s.migrations_applied.is_empty() {
                records
                    .migrations
                    .insert(s.new_version.clone(), s.migrations_applied.clone());
            }
        }
    }
    records
}

/// An earlier version the default target passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedVersion {
    pub version: String,
    pub why: String,
}

/// What a rollback changes for one Worker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackTarget {
    /// The split serving traffic now.
    pub from: Vec<(String, f64)>,
    /// The version that will serve 100%.
    pub to: String,
    /// Earlier versions passed over because Clodo recorded them as bad.
    pub skipped: Vec<SkippedVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackError {
    /// The Worker has never been deployed.
    NoDeployments,
    /// Nothing earlier served a whole, good version other than the live one.
    NothingEarlier { live: String, skipped: usize },
    /// `--to` names the version already serving all traffic.
    AlreadyLive { version: String },
    /// The Worker already serves, whole, the version that served before the newest deployment
    /// that shipped it, which failed or was rolled back: its rollout (or a rollback since)
    /// put it back, and going back again would pass over a good version.
    AlreadyRestored { version: String, why: String },
    /// A Durable Object migration was applied after the target: Cloudflare refuses to deploy
    /// it again, so the Worker can only go forward.
    AcrossMigration {
        target: String,
        migrated_by: String,
        tags: Vec<String>,
    },
}

impl RollbackError {
    /// Whether the Worker simply has nothing to go back to (reported and skipped in a
    /// rollback of several services), as opposed to a request that cannot be honoured.
    #[must_use]
    pub fn nothing_to_roll_back(&self) -> bool {
        matches!(
            self,
            RollbackError::NoDeployments
                | RollbackError::NothingEarlier { .. }
                | RollbackError::AcrossMigration { .. }
                | RollbackError::AlreadyRestored { .. }
        )
    }

    /// Whether the Worker is already where a rollback would put it (nothing to do, and
    /// nothing wrong).
    #[must_use]
    pub fn already_restored(&self) -> bool {
        matches!(self, RollbackError::AlreadyRestored { .. })
    }
}

impl fmt::Display for RollbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackError::NoDeployments => {
                f.write_str("the Worker has no deployments: there is nothing to roll back")
            }
            RollbackError::NothingEarlier { live, skipped: 0 } => write!(
                f,
                "no earlier deployment served another version at 100% (live: {live}); pass --to VERSION"
            ),
            RollbackError::NothingEarlier { live, skipped } => write!(
                f,
                "no earlier good version (live: {live}; {skipped} earlier version(s) were shipped by deployments that failed or were rolled back); pass --to VERSION"
            ),
            RollbackError::AlreadyLive { version } => {
                write!(f, "version {version} already serves 100% of the traffic")
            }
            RollbackError::AlreadyRestored { version, why } => write!(
                f,
                "already serves {version}, the version that served before {why}; a rollback would go further back than that deployment (pass --to VERSION for an older one)"
            ),
            RollbackError::AcrossMigration {
                target,
                migrated_by,
                tags,
            } => write!(
                f,
                "version {target} is older than Durable Object migration(s) {} (applied by version {migrated_by}): Cloudflare refuses a rollback across a migration, so this Worker stays where it is; fix forward with a new deploy",
                tags.join(", ")
            ),
        }
    }
}

/// The target for a rollback to `to`, or to the previous good version when `to` is `None`.
///
/// # Errors
/// When there is no history, nothing earlier and good to go back to, `to` is already all of
/// it, or the target is older than a Durable Object migration recorded in `records`.
pub fn rollback_target(
    history: &[DeploymentEntry],
    to: Option<&str>,
    records: &VersionRecords,
) -> Result<RollbackTarget, RollbackError> {
    let current = history.first().ok_or(RollbackError::NoDeployments)?;
    let from = current.versions.clone();
    if let Some(to) = to {
        if current.whole_version() == Some(to) {
            return Err(RollbackError::AlreadyLive {
                version: to.to_owned(),
            });
        }
        refuse_across_migration(history, to, records)?;
        return Ok(RollbackTarget {
            from,
            to: to.to_owned(),
            skipped: Vec::new(),
        });
    }
    let live = current.main_version().unwrap_or_default().to_owned();
    // A whole version live now: go back to the newest earlier whole version that differs.
    // A split (a canary in progress): go back to the newest earlier whole version, which is
    // the one the canary started from. Either way, never to a version Clodo saw fail.
    let live_whole = current.whole_version();
    if let Some(before) = records
        .before_newest_bad
        .as_ref()
        .filter(|b| live_whole == Some(b.version.as_str()))
    {
        return Err(RollbackError::AlreadyRestored {
            version: before.version.clone(),
            why: before.why.clone(),
        });
    }
    let mut skipped: Vec<SkippedVersion> = Vec::new();
    let mut target = None;
    for v in history[1..]
        .iter()
        .filter_map(DeploymentEntry::whole_version)
    {
        if Some(v) == live_whole || skipped.iter().any(|s| s.version == v) {
            continue;
        }
        if let Some(why) = records.bad.get(v) {
            skipped.push(SkippedVersion {
                version: v.to_owned(),
                why: why.clone(),
            });
            continue;
        }
        target = Some(v);
        break;
    }
    let Some(to) = target else {
        return Err(RollbackError::NothingEarlier {
            live,
            skipped: skipped.len(),
        });
    };
    refuse_across_migration(history, to, records)?;
    Ok(RollbackTarget {
        from,
        to: to.to_owned(),
        skipped,
    })
}

/// Cloudflare refuses to deploy a version again once a Durable Object migration was applied
/// after it. The history says which versions came after the target (those of the deployments
/// newer than the newest one serving it, or all of them when the history does not list it);
/// the records say which of them applied migrations.
fn refuse_across_migration(
    history: &[DeploymentEntry],
    target: &str,
    records: &VersionRecords,
) -> Result<(), RollbackError> {
    let newer = history
        .iter()
        .position(|d| d.versions.iter().any(|(v, _)| v == target))
        .unwrap_or(history.len());
    for d in &history[..newer] {
        for (v, _) in &d.versions {
            if v == target {
                continue;
            }
            if let Some(tags) = records.migrations.get(v).filter(|t| !t.is_empty()) {
                return Err(RollbackError::AcrossMigration {
                    target: target.to_owned(),
                    migrated_by: v.clone(),
                    tags: tags.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The Cloudflare API's deployments (newest first) as history entries.
#[must_use]
pub fn parse_deployments(deployments: &[Deployment]) -> Vec<DeploymentEntry> {
    deployments
        .iter()
        .map(|d| DeploymentEntry {
            id: d.id.clone(),
            versions: d
                .versions
                .iter()
                .map(|v| (v.version_id.clone(), v.percentage))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> VersionRecords {
        VersionRecords::default()
    }

    fn dep(id: &str, versions: &[(&str, f64)]) -> DeploymentEntry {
        DeploymentEntry {
            id: id.into(),
            versions: versions.iter().map(|(v, p)| ((*v).into(), *p)).collect(),
        }
    }

    #[test]
    fn the_default_target_is_the_newest_earlier_whole_version_that_is_not_live() {
        let history = [
            dep("d3", &[("v3", 100.0)]),
            dep("d2", &[("v3", 100.0)]), // the same version redeployed: skipped
            dep("d1", &[("v2", 100.0)]),
            dep("d0", &[("v1", 100.0)]),
        ];
        let t = rollback_target(&history, None, &none()).unwrap();
        assert_eq!(t.to, "v2");
        assert_eq!(t.from, vec![("v3".to_owned(), 100.0)]);
    }

    #[test]
    fn during_a_canary_the_old_version_is_the_target() {
        let history = [
            dep("d2", &[("new", 10.0), ("old", 90.0)]),
            dep("d1", &[("old", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None, &none()).unwrap().to, "old");
        // Past the half-way mark too: the old version still is the one to go back to.
        let history = [
            dep("d3", &[("new", 90.0), ("old", 10.0)]),
            dep("d1", &[("old", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None, &none()).unwrap().to, "old");
    }

    #[test]
    fn splits_in_the_history_are_never_a_target() {
        let history = [
            dep("d3", &[("v3", 100.0)]),
            dep("d2", &[("v3", 50.0), ("v2", 50.0)]),
            dep("d1", &[("v2", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None, &none()).unwrap().to, "v2");
    }

    #[test]
    fn an_explicit_version_is_taken_unless_it_is_already_live() {
        let history = [dep("d2", &[("v2", 100.0)]), dep("d1", &[("v1", 100.0)])];
        assert_eq!(
            rollback_target(&history, Some("v0"), &none()).unwrap().to,
            "v0"
        );
        assert_eq!(
            rollback_target(&history, Some("v2"), &none()),
            Err(RollbackError::AlreadyLive {
                version: "v2".into()
            })
        );
    }

    #[test]
    fn nothing_to_go_back_to_is_an_error_that_says_what_to_do() {
        assert_eq!(
            rollback_target(&[], None, &none()),
            Err(RollbackError::NoDeployments)
        );
        let only = [dep("d1", &[("v1", 100.0)])];
        let err = rollback_target(&only, None, &none()).unwrap_err();
        assert!(err.to_string().contains("--to VERSION"), "{err}");
    }

    #[test]
    fn versions_clodo_saw_fail_or_roll_back_are_never_the_default_target() {
        // v3 is live; v2 was shipped by a deployment that was rolled back (it served 100%
        // for a while through `wrangler deploy`), so the previous good version is v1.
        let history = [
            dep("d4", &[("v3", 100.0)]),
            dep("d3", &[("v1", 100.0)]),
            dep("d2", &[("v2", 100.0)]),
            dep("d1", &[("v1", 100.0)]),
        ];
        let mut records = none();
        records.bad.insert("v2".into(), "dep_2 rolled_back".into());
        let t = rollback_target(&history, None, &records).unwrap();
        assert_eq!(t.to, "v1");
        // Wrangler's rule alone would have picked v1 too here; with the bad version newest it
        // would not have:
        let history = [
            dep("d3", &[("v3", 100.0)]),
            dep("d2", &[("v2", 100.0)]),
            dep("d1", &[("v1", 100.0)]),
        ];
        let t = rollback_target(&history, None, &records).unwrap();
        assert_eq!(t.to, "v1");
        assert_eq!(
            t.skipped,
            vec![SkippedVersion {
                version: "v2".into(),
                why: "dep_2 rolled_back".into()
            }]
        );
        // Only bad versions earlier: nothing to go back to, and the error says why.
        let history = [dep("d2", &[("v3", 100.0)]), dep("d1", &[("v2", 100.0)])];
        let err = rollback_target(&history, None, &records).unwrap_err();
        assert_eq!(
            err,
            RollbackError::NothingEarlier {
                live: "v3".into(),
                skipped: 1
            }
        );
        assert!(err.nothing_to_roll_back());
        assert!(
            err.to_string().contains("failed or were rolled back"),
            "{err}"
        );
    }

    #[test]
    fn records_come_from_the_snapshots_of_this_worker() {
        let snap = |script: &str, version: &str, tags: &[&str]| ServiceSnapshot {
            service: "api".into(),
            script: script.into(),
            previous_version: None,
            new_version: version.into(),
            command: "deploy".into(),
            compatibility_date: None,
            bindings: vec![],
            migrations_applied: tags.iter().map(|t| (*t).to_owned()).collect(),
        };
        let deployments = [
            RecordedDeployment {
                id: "dep_3".into(),
                status: DeploymentStatus::RolledBack,
                services: vec![snap("api-w", "v3", &[]), snap("web-w", "w3", &[])],
            },
            RecordedDeployment {
                id: "dep_2".into(),
                status: DeploymentStatus::Failed,
                services: vec![snap("api-w", "v2", &["m2"])],
            },
            RecordedDeployment {
                id: "dep_1".into(),
                status: DeploymentStatus::Succeeded,
                services: vec![snap("api-w", "v1", &["m1"])],
            },
        ];
        let r = version_records(&deployments, "api-w");
        assert_eq!(r.bad.keys().collect::<Vec<_>>(), ["v2", "v3"]);
        assert!(r.bad["v3"].contains("dep_3 which rolled back"), "{r:?}");
        assert_eq!(r.migrations.keys().collect::<Vec<_>>(), ["v1", "v2"]);
        assert!(!r.bad.contains_key("w3"));
    }

    #[test]
    fn after_a_failed_deployment_put_back_a_rollback_goes_no_further() {
        let snap = |previous: &str, version: &str| ServiceSnapshot {
            service: "web".into(),
            script: "web-w".into(),
            previous_version: Some(previous.into()),
            new_version: version.into(),
            command: "versions_upload".into(),
            compatibility_date: None,
            bindings: vec![],
            migrations_applied: vec![],
        };
        let recorded = |id: &str, status, previous: &str, version: &str| RecordedDeployment {
            id: id.into(),
            status,
            services: vec![snap(previous, version)],
        };
        // dep_2 shipped w2 over w1 and failed; its rollout put w1 back (the newest Cloudflare
        // deployment), after a 50% step.
        let history = [
            dep("restore", &[("w1", 100.0)]),
            dep("step", &[("w2", 50.0), ("w1", 50.0)]),
            dep("d1", &[("w1", 100.0)]),
            dep("d0", &[("w0", 100.0)]),
        ];
        let deployments = [
            recorded("dep_2", DeploymentStatus::Failed, "w1", "w2"),
            recorded("dep_1", DeploymentStatus::Succeeded, "w0", "w1"),
        ];
        let records = version_records(&deployments, "web-w");
        assert_eq!(
            records.before_newest_bad,
            Some(BeforeBad {
                version: "w1".into(),
                why: "dep_2 which failed".into()
            })
        );
        // Wrangler's rule (and Clodo's before) went on to w0, one good version too far.
        let err = rollback_target(&history, None, &records).unwrap_err();
        assert!(
            err.already_restored() && err.nothing_to_roll_back(),
            "{err}"
        );
        assert!(
            err.to_string().contains("before dep_2 which failed"),
            "{err}"
        );
        assert!(err.to_string().contains("--to VERSION"), "{err}");
        // Going further back is still possible, by name.
        assert_eq!(
            rollback_target(&history, Some("w0"), &records).unwrap().to,
            "w0"
        );
        // Not put back (its restore was refused, it stands on the split): back to w1 as usual.
        let t = rollback_target(&history[1..], None, &records).unwrap();
        assert_eq!(t.to, "w1");
        // Rolled back by hand since (a rollback ships no snapshot): still nothing further.
        let by_hand = [
            dep("rollback", &[("w1", 100.0)]),
            dep("step", &[("w2", 100.0)]),
        ];
        assert!(rollback_target(&by_hand, None, &records)
            .unwrap_err()
            .already_restored());
        // A deployment that succeeded since is the newest: the usual rule again.
        let later = [
            recorded("dep_3", DeploymentStatus::Succeeded, "w1", "w3"),
            deployments[0].clone(),
            deployments[1].clone(),
        ];
        let records = version_records(&later, "web-w");
        assert_eq!(records.before_newest_bad, None);
        let history = [
            dep("d3", &[("w3", 100.0)]),
            dep("restore", &[("w1", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None, &records).unwrap().to, "w1");
    }

    #[test]
    fn a_target_older_than_a_durable_object_migration_is_refused() {
        // v2 applied migration `v2-tag` through `wrangler deploy`; v3 is a later upload.
        let history = [
            dep("d3", &[("v3", 100.0)]),
            dep("d2", &[("v2", 100.0)]),
            dep("d1", &[("v1", 100.0)]),
        ];
        let mut records = none();
        records.migrations.insert("v2".into(), vec!["m2".into()]);
        // Back to v2 (the version that applied it) is fine: nothing was migrated after it.
        assert_eq!(rollback_target(&history, None, &records).unwrap().to, "v2");
        // Live is the migrating version itself: its predecessor is across the migration.
        let err = rollback_target(&history[1..], None, &records).unwrap_err();
        assert_eq!(
            err,
            RollbackError::AcrossMigration {
                target: "v1".into(),
                migrated_by: "v2".into(),
                tags: vec!["m2".into()]
            }
        );
        assert!(err.nothing_to_roll_back());
        assert!(err.to_string().contains("fix forward"), "{err}");
        // An explicit --to across it is refused the same way.
        assert!(matches!(
            rollback_target(&history, Some("v1"), &records),
            Err(RollbackError::AcrossMigration { .. })
        ));
        // A version the history no longer lists counts as older than everything in it.
        assert!(matches!(
            rollback_target(&history, Some("v0"), &records),
            Err(RollbackError::AcrossMigration { .. })
        ));
        assert!(rollback_target(&history, Some("v0"), &none()).is_ok());
    }

    #[test]
    fn parses_the_api_answer() {
        let result: crate::cloudflare::endpoints::Deployments = serde_json::from_value(serde_json::json!({ "deployments": [
            { "id": "d2", "versions": [ { "version_id": "b", "percentage": 10 }, { "version_id": "a", "percentage": 90 } ] },
            { "id": "d1", "versions": [ { "version_id": "a", "percentage": 100 } ] }
        ]}))
        .unwrap();
        let h = parse_deployments(&result.deployments);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].main_version(), Some("a"));
        assert_eq!(h[1].whole_version(), Some("a"));
    }
}
