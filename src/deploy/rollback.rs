//! Choosing a rollback target, pure: from a Worker's deployment history (newest first, as the
//! Cloudflare API lists it), the version to put back at 100%. The default follows wrangler's
//! rule, the newest earlier deployment that served one version at 100%, skipping any that
//! serve the version live now, so a rollback always changes what users get.

use std::fmt;

use serde::Serialize;

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

/// What a rollback changes for one Worker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackTarget {
    /// The split serving traffic now.
    pub from: Vec<(String, f64)>,
    /// The version that will serve 100%.
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackError {
    /// The Worker has never been deployed.
    NoDeployments,
    /// Nothing earlier served a whole version other than the live one.
    NothingEarlier { live: String },
    /// `--to` names the version already serving all traffic.
    AlreadyLive { version: String },
}

impl fmt::Display for RollbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackError::NoDeployments => {
                f.write_str("the Worker has no deployments: there is nothing to roll back")
            }
            RollbackError::NothingEarlier { live } => write!(
                f,
                "no earlier deployment served another version at 100% (live: {live}); pass --to VERSION"
            ),
            RollbackError::AlreadyLive { version } => {
                write!(f, "version {version} already serves 100% of the traffic")
            }
        }
    }
}

/// The target for a rollback to `to`, or to the previous good version when `to` is `None`.
///
/// # Errors
/// When there is no history, nothing earlier to go back to, or `to` is already all of it.
pub fn rollback_target(
    history: &[DeploymentEntry],
    to: Option<&str>,
) -> Result<RollbackTarget, RollbackError> {
    let current = history.first().ok_or(RollbackError::NoDeployments)?;
    let from = current.versions.clone();
    if let Some(to) = to {
        if current.whole_version() == Some(to) {
            return Err(RollbackError::AlreadyLive {
                version: to.to_owned(),
            });
        }
        return Ok(RollbackTarget {
            from,
            to: to.to_owned(),
        });
    }
    let live = current.main_version().unwrap_or_default().to_owned();
    // A whole version live now: go back to the newest earlier whole version that differs.
    // A split (a canary in progress): go back to the newest earlier whole version, which is
    // the one the canary started from.
    let earlier = history[1..]
        .iter()
        .filter_map(DeploymentEntry::whole_version);
    let target = match current.whole_version() {
        Some(live_whole) => earlier.into_iter().find(|v| *v != live_whole),
        None => earlier.into_iter().next(),
    };
    target
        .map(|v| RollbackTarget {
            from,
            to: v.to_owned(),
        })
        .ok_or(RollbackError::NothingEarlier { live })
}

/// Reads the Cloudflare API's deployments answer (`result.deployments[]`, newest first).
#[must_use]
pub fn parse_deployments(result: &serde_json::Value) -> Vec<DeploymentEntry> {
    result["deployments"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|d| DeploymentEntry {
                    id: d["id"].as_str().unwrap_or_default().to_owned(),
                    versions: d["versions"]
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .map(|v| {
                                    (
                                        v["version_id"].as_str().unwrap_or_default().to_owned(),
                                        v["percentage"].as_f64().unwrap_or(0.0),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let t = rollback_target(&history, None).unwrap();
        assert_eq!(t.to, "v2");
        assert_eq!(t.from, vec![("v3".to_owned(), 100.0)]);
    }

    #[test]
    fn during_a_canary_the_old_version_is_the_target() {
        let history = [
            dep("d2", &[("new", 10.0), ("old", 90.0)]),
            dep("d1", &[("old", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None).unwrap().to, "old");
        // Past the half-way mark too: the old version still is the one to go back to.
        let history = [
            dep("d3", &[("new", 90.0), ("old", 10.0)]),
            dep("d1", &[("old", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None).unwrap().to, "old");
    }

    #[test]
    fn splits_in_the_history_are_never_a_target() {
        let history = [
            dep("d3", &[("v3", 100.0)]),
            dep("d2", &[("v3", 50.0), ("v2", 50.0)]),
            dep("d1", &[("v2", 100.0)]),
        ];
        assert_eq!(rollback_target(&history, None).unwrap().to, "v2");
    }

    #[test]
    fn an_explicit_version_is_taken_unless_it_is_already_live() {
        let history = [dep("d2", &[("v2", 100.0)]), dep("d1", &[("v1", 100.0)])];
        assert_eq!(rollback_target(&history, Some("v0")).unwrap().to, "v0");
        assert_eq!(
            rollback_target(&history, Some("v2")),
            Err(RollbackError::AlreadyLive {
                version: "v2".into()
            })
        );
    }

    #[test]
    fn nothing_to_go_back_to_is_an_error_that_says_what_to_do() {
        assert_eq!(
            rollback_target(&[], None),
            Err(RollbackError::NoDeployments)
        );
        let only = [dep("d1", &[("v1", 100.0)])];
        let err = rollback_target(&only, None).unwrap_err();
        assert!(err.to_string().contains("--to VERSION"), "{err}");
    }

    #[test]
    fn parses_the_api_answer() {
        let result = serde_json::json!({ "deployments": [
            { "id": "d2", "versions": [ { "version_id": "b", "percentage": 10 }, { "version_id": "a", "percentage": 90 } ] },
            { "id": "d1", "versions": [ { "version_id": "a", "percentage": 100 } ] }
        ]});
        let h = parse_deployments(&result);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].main_version(), Some("a"));
        assert_eq!(h[1].whole_version(), Some("a"));
    }
}
