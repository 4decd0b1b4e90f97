//! Environment promotion: which deployment of the source environment counts as verified, and
//! the new deployment request it becomes in the target environment. Pure: the Worker loads the
//! source environment's deployments from D1 and passes them here.

use crate::api::contract::deployments::{Deployment, NewDeployment, ServiceUpload};
use crate::api::contract::promotions::{PromotionRequest, SourceService};
use crate::control::lifecycle::DeploymentStatus;
use crate::deploy::content::safe_name;

/// A finished deployment of the source environment with what the server recorded about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub deployment: Deployment,
    /// The versions it recorded as uploaded (each checked with Cloudflare when recorded).
    pub services: Vec<SourceService>,
    /// A rollout was started from the server's records (every strategy goes through one).
    pub rolled_out: bool,
}

/// Why there is nothing to promote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("an environment cannot be promoted to itself ({0})")]
    SameEnvironment(String),
    #[error("{from} has no succeeded deployment to promote")]
    NothingVerified { from: String },
    #[error(
        "the latest succeeded deployment in {from}, {deployment}, did not roll out uploaded versions (a rollback?), so what {from} runs now was not verified by a rollout"
    )]
    NotRolledOut { from: String, deployment: String },
}

/// The source of a promotion from `from` to `to`: the newest succeeded deployment of `from`
/// (`newest_first` holds its deployments, newest first). It must have rolled out recorded
/// versions: a later `clodo rollback` that succeeded moved the environment to versions no
/// rollout verified, so it is refused rather than skipped.
///
/// # Errors
/// A [`Refusal`] saying why nothing can be promoted.
pub fn choose_source(
    from: &str,
    to: &str,
    newest_first: &[Candidate],
) -> Result<Candidate, Refusal> {
    if from == to {
        return Err(Refusal::SameEnvironment(from.to_owned()));
    }
    let latest = newest_first
        .iter()
        .find(|c| c.deployment.status == DeploymentStatus::Succeeded)
        .ok_or_else(|| Refusal::NothingVerified {
            from: from.to_owned(),
        })?;
    if latest.services.is_empty() || !latest.rolled_out {
        return Err(Refusal::NotRolledOut {
            from: from.to_owned(),
            deployment: latest.deployment.id.clone(),
        });
    }
    Ok(latest.clone())
}

/// The deployment request a promotion makes in `to`: the source's branch and commit (the
/// target's branch rules judge what is shipped), the caller's strategy, message and override.
#[must_use]
pub fn new_deployment(
    project: &str,
    to: &str,
    request: &PromotionRequest,
    source: &Deployment,
) -> NewDeployment {
    NewDeployment {
        project: project.to_owned(),
        environment: to.to_owned(),
        git_ref: source.git_ref.clone(),
        git_sha: source.git_sha.clone(),
        // The same commit: its lead time runs from when it was made.
        git_committed_at: source.git_committed_at,
        strategy: request.strategy,
        message: Some(
            request
                .message
                .clone()
                .unwrap_or_else(|| format!("promote {} from {}", source.id, source.environment)),
        ),
        emergency_override: request.emergency_override.clone(),
        scheduled_for: None,
        rollout: None,
    }
}

/// Checks the module hashes of recorded uploads: a promoted deployment records them for
/// every service (each one a service the source deployment shipped), any other deployment
/// records none.
///
/// # Errors
/// What is wrong, for a 400 answer.
pub fn check_uploads(
    promoted: bool,
    source_services: &[String],
    uploads: &[ServiceUpload],
) -> Result<(), String> {
    for (i, u) in uploads.iter().enumerate() {
        let Some(hashes) = &u.module_hashes else {
            if promoted {
                return Err(format!(
                    "`services[{i}]` ({}): a promoted deployment records the module_hashes it compared with the source version",
                    u.service
                ));
            }
            continue;
        };
        if !promoted {
            return Err(format!(
                "`services[{i}].module_hashes`: only a promoted deployment records module hashes"
            ));
        }
        if !source_services.contains(&u.service) {
            return Err(format!(
                "`services[{i}]`: service `{}` is not one the promoted deployment shipped",
                u.service
            ));
        }
        if hashes.is_empty() || hashes.len() > 100 {
            return Err(format!("`services[{i}].module_hashes`: 1 to 100 modules"));
        }
        for (j, m) in hashes.iter().enumerate() {
            let hex = m.sha256.len() == 64
                && m.sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !safe_name(&m.name) || !hex {
                return Err(format!(
                    "`services[{i}].module_hashes[{j}]`: a relative module name and 64 lower-case hex digits"
                ));
            }
            if hashes[..j].iter().any(|o| o.name == m.name) {
                return Err(format!(
                    "`services[{i}].module_hashes`: module `{}` is listed twice",
                    m.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;

    fn deployment(id: &str, status: DeploymentStatus) -> Deployment {
        Deployment {
            id: id.into(),
            project_id: "prj".into(),
            environment_id: "env_staging".into(),
            project: "shop".into(),
            environment: "staging".into(),
            status,
            strategy: Strategy::Gradual,
            requested_by: "member:ann@x".into(),
            requested_by_member: Some("ann@x".into()),
            git_ref: Some("main".into()),
            git_sha: Some("abc".into()),
            git_committed_at: Some(1_700_000_000_000),
            message: None,
            required_approvals: 0,
            override_reason: None,
            overridden_rules: None,
            created_at: 1,
            started_at: None,
            finished_at: None,
            promoted_from: None,
            scheduled_for: None,
        }
    }

    fn candidate(
        id: &str,
        status: DeploymentStatus,
        services: usize,
        rolled_out: bool,
    ) -> Candidate {
        Candidate {
            deployment: deployment(id, status),
            services: (0..services)
                .map(|i| SourceService {
                    service: format!("s{i}"),
                    script: format!("s{i}-staging"),
                    version_id: format!("v{i}"),
                })
                .collect(),
            rolled_out,
        }
    }

    #[test]
    fn the_newest_succeeded_deployment_is_the_source_past_failed_and_running_ones() {
        let list = [
            candidate("dep_running", DeploymentStatus::Verifying, 2, true),
            candidate("dep_failed", DeploymentStatus::RolledBack, 2, true),
            candidate("dep_good", DeploymentStatus::Succeeded, 2, true),
            candidate("dep_older", DeploymentStatus::Succeeded, 2, true),
        ];
        let chosen = choose_source("staging", "production", &list).unwrap();
        assert_eq!(chosen.deployment.id, "dep_good");
        assert_eq!(chosen.services.len(), 2);
    }

    #[test]
    fn nothing_succeeded_is_refused() {
        let list = [
            candidate("dep_a", DeploymentStatus::Failed, 1, true),
            candidate("dep_b", DeploymentStatus::Cancelled, 0, false),
        ];
        assert_eq!(
            choose_source("staging", "production", &list),
            Err(Refusal::NothingVerified {
                from: "staging".into()
            })
        );
        assert!(choose_source("staging", "production", &[]).is_err());
    }

    #[test]
    fn a_succeeded_rollback_without_a_rollout_is_refused_not_skipped() {
        // The environment now runs what the rollback chose, which no rollout verified: an
        // older succeeded deploy is not what it runs.
        let list = [
            candidate("dep_rollback", DeploymentStatus::Succeeded, 0, false),
            candidate("dep_good", DeploymentStatus::Succeeded, 2, true),
        ];
        let refused = choose_source("staging", "production", &list).unwrap_err();
        assert_eq!(
            refused,
            Refusal::NotRolledOut {
                from: "staging".into(),
                deployment: "dep_rollback".into()
            }
        );
        assert!(refused.to_string().contains("dep_rollback"));
        let uploads_but_no_rollout = [candidate("dep_x", DeploymentStatus::Succeeded, 1, false)];
        assert!(matches!(
            choose_source("staging", "production", &uploads_but_no_rollout),
            Err(Refusal::NotRolledOut { .. })
        ));
    }

    #[test]
    fn an_environment_is_not_promoted_to_itself() {
        let list = [candidate("dep_good", DeploymentStatus::Succeeded, 1, true)];
        assert_eq!(
            choose_source("staging", "staging", &list),
            Err(Refusal::SameEnvironment("staging".into()))
        );
    }

    #[test]
    fn the_new_deployment_carries_the_sources_commit_and_the_callers_strategy() {
        let source = deployment("dep_good", DeploymentStatus::Succeeded);
        let request = PromotionRequest {
            from: "staging".into(),
            strategy: Some(Strategy::BlueGreen),
            message: None,
            emergency_override: None,
        };
        let new = new_deployment("shop", "production", &request, &source);
        assert_eq!(new.environment, "production");
        assert_eq!(new.git_ref.as_deref(), Some("main"));
        assert_eq!(new.git_sha.as_deref(), Some("abc"));
        assert_eq!(new.strategy, Some(Strategy::BlueGreen));
        assert_eq!(
            new.message.as_deref(),
            Some("promote dep_good from staging")
        );
    }

    fn upload(service: &str, hashes: Option<Vec<(&str, &str)>>) -> ServiceUpload {
        ServiceUpload {
            service: service.into(),
            version_id: "v2".into(),
            previous_version_id: None,
            already_live: false,
            module_hashes: hashes.map(|h| {
                h.into_iter()
                    .map(|(name, sha256)| crate::deploy::content::ModuleDigest {
                        name: name.into(),
                        sha256: sha256.into(),
                    })
                    .collect()
            }),
        }
    }

    #[test]
    fn promoted_uploads_carry_valid_hashes_and_others_none() {
        let hex = "a".repeat(64);
        let source = vec!["api".to_owned()];
        let good = upload("api", Some(vec![("index.js", &hex)]));
        assert!(check_uploads(true, &source, std::slice::from_ref(&good)).is_ok());
        assert!(check_uploads(false, &source, &[upload("api", None)]).is_ok());
        // Missing on a promotion, present on a plain deploy, or for a service not shipped.
        assert!(check_uploads(true, &source, &[upload("api", None)]).is_err());
        assert!(check_uploads(false, &source, &[good]).is_err());
        assert!(check_uploads(
            true,
            &source,
            &[upload("web", Some(vec![("index.js", &hex)]))]
        )
        .is_err());
        // Malformed digests and names.
        for bad in [
            vec![("index.js", "ABC")],
            vec![("../x.js", hex.as_str())],
            vec![("index.js", hex.as_str()), ("index.js", hex.as_str())],
            vec![],
        ] {
            assert!(
                check_uploads(true, &source, &[upload("api", Some(bad.clone()))]).is_err(),
                "{bad:?}"
            );
        }
    }
}
