//! Pages sites in a rollout. A deployment's Pages sites go live (production) in its waves,
//! before its rollout starts; when the rollout rolls back, each site that had a production
//! deployment before goes back to it through the Pages rollback API, after the Workers. Each
//! site is reported on its own and retried like a Worker's restore; one that could not be put
//! back is never counted as restored.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Phase, Rollout, MAX_ATTEMPTS};

/// A Pages site the deployment put live, from its recorded Pages deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = crate::api::contract::every_field_present)]
pub struct PagesSite {
    pub service: String,
    /// The Pages project.
    pub project: String,
    /// The Pages deployment this deployment made live.
    pub deployment_id: String,
    /// The production deployment that served before (`None`: the site's first; it keeps the
    /// new one on a rollback).
    pub previous_deployment_id: Option<String>,
}

impl PagesSite {
    /// How the log names it.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{} (Pages {})", self.service, self.project)
    }
}

impl Rollout {
    /// The sites a rollback still has to put back: those with a previous deployment that are
    /// not back yet.
    #[must_use]
    pub fn pages_to_restore(&self) -> Vec<PagesSite> {
        self.spec
            .pages
            .iter()
            .filter(|p| p.previous_deployment_id.is_some())
            .filter(|p| !self.pages_restored.contains(&p.service))
            .cloned()
            .collect()
    }

    /// The end of a rollback's message for sites without a previous deployment.
    pub(super) fn pages_kept_note(&self) -> String {
        let kept: Vec<String> = self
            .spec
            .pages
            .iter()
            .filter(|p| p.previous_deployment_id.is_none())
            .map(PagesSite::label)
            .collect();
        if kept.is_empty() {
            String::new()
        } else {
            format!(
                "; {} had no previous production deployment and keep the new one",
                kept.join(", ")
            )
        }
    }

    /// Reports the outcome of [`super::Action::RestorePages`]: per site (its service), `Ok`
    /// once the previous deployment serves production again (and that is recorded), else
    /// why not. Restored sites are kept; the others are retried, and after
    /// [`MAX_ATTEMPTS`] failed rounds the rollout ends `failed` naming them.
    pub fn pages_restore_done(&mut self, now: i64, outcomes: &[(String, Result<(), String>)]) {
        if self.phase != Phase::RollingBack || !self.workers_restored {
            return;
        }
        let pending = self.pages_to_restore();
        let mut failed = Vec::new();
        for site in &pending {
            match outcomes.iter().find(|(s, _)| *s == site.service) {
                Some((_, Ok(()))) => {
                    self.pages_restored.push(site.service.clone());
                    let to = site.previous_deployment_id.as_deref().unwrap_or_default();
                    self.note(
                        now,
                        "pages_restored",
                        format!(
                            "{}: production back on deployment {to} (was {})",
                            site.label(),
                            site.deployment_id
                        ),
                    );
                }
                Some((_, Err(why))) => failed.push(format!("{}: {why}", site.label())),
                None => failed.push(format!("{}: no outcome reported", site.label())),
            }
        }
        if failed.is_empty() {
            let sites: Vec<String> = self
                .spec
                .pages
                .iter()
                .filter(|p| self.pages_restored.contains(&p.service))
                .map(PagesSite::label)
                .collect();
            let msg = format!(
                "restored the Workers and the Pages sites {}{}",
                sites.join(", "),
                self.pages_kept_note()
            );
            self.end(now, Phase::RolledBack, "rolled_back", msg);
            return;
        }
        self.restore_failed(
            now,
            format!(
                "the Workers were restored, but restoring Pages failed {MAX_ATTEMPTS} times: {}",
                failed.join("; ")
            ),
            format!("Pages restore failed ({}); retrying", failed.join("; ")),
        );
    }
}
