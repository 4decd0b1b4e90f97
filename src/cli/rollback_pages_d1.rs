//! `clodo rollback`'s Pages and D1 part: each Pages site goes back to the production
//! deployment that served before the newest deployment that shipped it (the Pages rollback
//! API) unless that deployment failed and its rollout already put the site back, and when
//! deployments since the code it goes back to applied D1 migrations (failed ones too: their
//! migrations stay) the rollback warns that the older code now runs against the newer schema,
//! with the bookmark and the exact restore command. It never restores data itself: a restore
//! loses every write since the bookmark.

use serde::Serialize;

use super::assess::Assessed;
use super::client::{enc, Client as ApiClient, Failure};
use super::deployment::say;
use super::rollback::Cloudflare;
use crate::api::contract::deployments::DeploymentStatus;
use crate::api::contract::pages_d1::{MigrationList, MigrationState, PagesDeploymentList};
use crate::deploy::RecordedDeployment;

/// One Pages site to roll back.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PagesStep {
    pub service: String,
    pub project: String,
    /// The deployment being rolled back.
    pub from: String,
    pub to: String,
    /// The Clodo deployment that shipped `from`.
    pub shipped_by: String,
}

/// A D1 restore point the rolled-back code is older than.
#[derive(Debug, Clone, Serialize)]
pub(super) struct RestorePoint {
    pub deployment_id: String,
    pub database: String,
    pub migrations: Vec<String>,
    pub bookmark: String,
    pub command: String,
}

/// A Pages site the rollback leaves where it is, and why.
#[derive(Debug, Clone)]
pub(super) struct PagesSkip {
    pub text: String,
    /// Already back on what served before the newest deployment that shipped it, which failed
    /// or was rolled back (its rollout put the site back): nothing to do, nothing wrong.
    pub already_restored: bool,
}

impl std::fmt::Display for PagesSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// For each Pages service (or the ones named), from the newest deployment that shipped it to
/// production: when that deployment is live (verifying or succeeded), or failed without its
/// rollout putting the site back, the site goes back to what served before it; when it failed
/// or was rolled back and its rollout put the site back (`rolled_back_at`), the site already
/// serves that and is skipped.
pub(super) async fn choose_pages(
    api: &ApiClient,
    assessed: &Assessed,
    record: &[RecordedDeployment],
    only: &[String],
) -> Result<(Vec<PagesStep>, Vec<PagesSkip>), Failure> {
    let services: Vec<&str> = assessed
        .pages_d1
        .pages
        .iter()
        .map(|p| p.service.as_str())
        .filter(|s| only.is_empty() || only.iter().any(|o| o == s))
        .collect();
    if services.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut steps: Vec<PagesStep> = Vec::new();
    let mut skipped = Vec::new();
    let mut decided: Vec<String> = Vec::new();
    for d in record {
        let (id, status) = (&d.id, d.status);
        if decided.len() == services.len() {
            break;
        }
        let list: PagesDeploymentList = api
            .get(&format!("/api/v1/deployments/{}/pages", enc(id)))
            .await?;
        let bad = matches!(
            status,
            DeploymentStatus::Failed | DeploymentStatus::RolledBack
        );
        for p in list.items.into_iter().filter(|p| !p.preview) {
            if !services.contains(&p.service.as_str()) || decided.contains(&p.service) {
                continue;
            }
            decided.push(p.service.clone());
            if bad && p.rolled_back_at.is_some() {
                skipped.push(PagesSkip {
                    text: format!(
                        "{} (Pages): already serves what served before {id}, which {} (its rollout put {} back)",
                        p.service,
                        status.as_str().replace('_', " "),
                        p.previous_deployment_id
                            .as_deref()
                            .or(p.rolled_back_as.as_deref())
                            .unwrap_or("the previous deployment")
                    ),
                    already_restored: true,
                });
                continue;
            }
            match p.previous_deployment_id {
                Some(to) => steps.push(PagesStep {
                    service: p.service,
                    project: p.project,
                    from: p.pages_deployment_id,
                    to,
                    shipped_by: id.clone(),
                }),
                None => skipped.push(PagesSkip {
                    text: format!(
                        "{} (Pages): deployment {id} was its first production deployment; nothing to go back to",
                        p.service
                    ),
                    already_restored: false,
                }),
            }
        }
    }
    for s in &services {
        if !decided.iter().any(|d| d == s) {
            skipped.push(PagesSkip {
                text: format!("{s} (Pages): no recorded production deployment to roll back"),
                already_restored: false,
            });
        }
    }
    Ok((steps, skipped))
}

/// Rolls each site back through the Pages rollback API; the failures come back as text.
pub(super) async fn roll_back_pages(cf: &Cloudflare, steps: &[PagesStep]) -> Vec<String> {
    let mut failures = Vec::new();
    for s in steps {
        match cf.rollback_pages(&s.project, &s.to).await {
            Ok(d) => say(&format!(
                "  {} (Pages {}): {} serves production again (was {}){}",
                s.service,
                s.project,
                s.to,
                s.from,
                if d.id == s.to {
                    String::new()
                } else {
                    format!(" as {}", d.id)
                }
            )),
            Err(e) => {
                let e = format!(
                    "{} (Pages {}): rolling back to {}: {e}",
                    s.service, s.project, s.to
                );
                say(&format!("  ✗ {e}"));
                failures.push(e);
            }
        }
    }
    failures
}

/// The D1 migrations applied since the code the rollback goes back to: by the newest live
/// deployment (`verifying` or `succeeded`), by every deployment newer than it that failed or
/// was rolled back (their migrations ran first and stay applied when their Workers are put
/// back), and by those between it and the good deployment before it. Newest first, each with
/// the bookmark from before its migrations and the exact restore command; the oldest
/// bookmark of a database is the one from before all of them.
pub(super) async fn restore_points(
    api: &ApiClient,
    assessed: &Assessed,
    record: &[RecordedDeployment],
    env: &str,
) -> Result<Vec<RestorePoint>, Failure> {
    let since_target = newer_than_target(record.iter().map(|d| (d.id.as_str(), d.status)));
    let lists = futures::future::try_join_all(since_target.iter().map(|id| async move {
        let path = format!("/api/v1/deployments/{}/migrations", enc(id));
        api.get::<MigrationList>(&path).await
    }))
    .await?;
    let mut out = Vec::new();
    for (id, list) in since_target.iter().zip(lists) {
        for m in list
            .items
            .into_iter()
            .filter(|m| m.state == MigrationState::Applied)
        {
            let config = assessed
                .pages_d1
                .databases
                .iter()
                .find(|d| d.database_id == m.database_id)
                .map(|d| format!(" --config {}", d.config_file.display()))
                .unwrap_or_default();
            out.push(RestorePoint {
                command: format!(
                    "wrangler d1 time-travel restore {} --bookmark {}{config} --env {env}",
                    m.database_name, m.bookmark
                ),
                deployment_id: (*id).to_owned(),
                database: m.database_name,
                migrations: m.migrations,
                bookmark: m.bookmark,
            });
        }
    }
    Ok(out)
}

/// Of the deployments that shipped (newest first), those whose migrations the rolled-back
/// code is older than: everything down to the newest good one (`verifying` or `succeeded`),
/// and on to the good one before it, which shipped the code a rollback goes back to. None
/// when nothing good is live.
fn newer_than_target<'a>(
    shipped: impl Iterator<Item = (&'a str, DeploymentStatus)>,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut live_seen = false;
    for (id, status) in shipped {
        let good = matches!(
            status,
            DeploymentStatus::Verifying | DeploymentStatus::Succeeded
        );
        if good && live_seen {
            break;
        }
        live_seen |= good;
        out.push(id);
    }
    if !live_seen {
        out.clear();
    }
    out
}

/// Says what a code rollback leaves in the databases, and how to restore them (by hand).
pub(super) fn warn_restore_points(points: &[RestorePoint]) {
    for p in points {
        say(&format!(
            "  warning: deployment {} applied D1 migration(s) {} to {}; the rolled-back code is older than that schema, and the data stays as it is (Clodo never restores data by itself)",
            p.deployment_id,
            p.migrations.join(", "),
            p.database
        ));
        say(&format!(
            "  to restore {} to before those migrations (every write since is lost): {}",
            p.database, p.command
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeploymentStatus::{Failed, RolledBack, Succeeded, Verifying};

    fn ids<'a>(h: &[(&'a str, DeploymentStatus)]) -> Vec<&'a str> {
        newer_than_target(h.iter().copied())
    }

    #[test]
    fn failed_deployments_since_the_target_count_their_migrations() {
        // c succeeded and is live; b failed after applying its migrations; a is the code a
        // rollback goes back to: b's and c's migrations are both newer than a's code.
        assert_eq!(
            ids(&[("c", Succeeded), ("b", Failed), ("a", Succeeded)]),
            ["c", "b"]
        );
        // A failure after the live one (its Workers put back) counts too.
        assert_eq!(
            ids(&[("d", RolledBack), ("c", Verifying), ("a", Succeeded)]),
            ["d", "c"]
        );
        assert_eq!(ids(&[("c", Succeeded)]), ["c"]);
        // Nothing live: no rollback target, no restore point.
        assert!(ids(&[("b", Failed), ("a", RolledBack)]).is_empty());
    }
}
