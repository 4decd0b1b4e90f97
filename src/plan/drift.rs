//! `clodo drift`: what was changed live outside the config and outside Clodo. The reference
//! point is the config for the versioned settings and the triggers (a deploy puts them back),
//! the deployment serving traffic for splits and for who made it, and, when a control plane
//! is configured, the versions Clodo recorded as shipped.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Action, Area, LiveService, ServicePlan};

/// The version ids the control plane recorded for a Worker (shipped or replaced by Clodo's
/// deployments); `None` when no control plane is configured.
pub type RecordedVersions = Option<BTreeSet<String>>;

/// What `clodo drift --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriftReport {
    pub env: Option<String>,
    /// Whether the versions serving traffic were checked against the deployments the control
    /// plane recorded (`false`: no control plane configured, so a manual `wrangler deploy`
    /// cannot be told from Clodo's own).
    pub recorded_deployments: bool,
    pub services: Vec<ServiceDrift>,
    pub drifted: bool,
    /// Checks that could not be made.
    pub unknown: usize,
}

impl DriftReport {
    #[must_use]
    pub fn new(
        env: Option<String>,
        recorded_deployments: bool,
        services: Vec<ServiceDrift>,
    ) -> Self {
        let items = || services.iter().flat_map(|s| &s.items);
        let drifted = items().any(|i| i.kind != DriftKind::Unknown);
        let unknown = items().filter(|i| i.kind == DriftKind::Unknown).count();
        Self {
            env,
            recorded_deployments,
            services,
            drifted,
            unknown,
        }
    }
}

/// One service's drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceDrift {
    pub service: String,
    pub script: String,
    pub items: Vec<DriftItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A binding, var or compatibility setting of the live version differs from the config.
    Setting,
    /// A route, custom domain or cron differs from the config.
    Trigger,
    /// A secret the config requires is not set.
    Secret,
    /// Traffic is split between two versions and no rollout is moving it.
    Split,
    /// The deployment serving traffic was made outside Clodo and wrangler (the dashboard or
    /// the API).
    OutsideDeployment,
    /// A version serves traffic that Clodo never recorded (a manual `wrangler deploy` or
    /// `wrangler versions deploy`).
    UnrecordedVersion,
    /// The check could not be made.
    Unknown,
}

/// One thing that drifted, and the command that puts it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DriftItem {
    pub kind: DriftKind,
    /// What drifted (`binding CACHE`, `cron */5 * * * *`, `version 1a2b…`).
    pub what: String,
    pub detail: String,
    /// The command that reconciles it.
    pub reconcile: String,
}

/// The drift of one service, from its plan (computed against the same live facts), the live
/// deployment, and the versions the control plane recorded.
#[must_use]
pub fn drift_service(
    plan: &ServicePlan,
    live: &LiveService,
    env: Option<&str>,
    recorded: &RecordedVersions,
) -> ServiceDrift {
    let env_flag = env.map(|e| format!(" --env {e}")).unwrap_or_default();
    let deploy = format!("clodo deploy{env_flag}");
    let mut items = Vec::new();
    for c in &plan.changes {
        let kind = match c.area {
            Area::Binding | Area::Var | Area::CompatibilityDate | Area::CompatibilityFlag => {
                DriftKind::Setting
            }
            Area::Route | Area::CustomDomain | Area::Cron => DriftKind::Trigger,
            Area::Secret => DriftKind::Secret,
            // Code and migrations are what a deploy ships, not drift.
            Area::Code | Area::DurableObjectMigration | Area::D1Migration | Area::Traffic => {
                continue
            }
        };
        let what = format!("{} {}", area_word(c.area), c.name);
        let (kind, detail, reconcile) = match c.action {
            Action::Unknown => (
                DriftKind::Unknown,
                c.detail.clone().unwrap_or_default(),
                String::new(),
            ),
            Action::Missing => (
                kind,
                "required by the config but not set on the Worker".to_owned(),
                format!("wrangler secret put {}{env_flag}", c.name),
            ),
            Action::Add => (kind, "in the config, not live".to_owned(), deploy.clone()),
            Action::Remove => (
                kind,
                match &c.live {
                    Some(l) => format!("live ({l}), not in the config"),
                    None => "live, not in the config".to_owned(),
                },
                deploy.clone(),
            ),
            Action::Change => (
                kind,
                match (&c.live, &c.config, &c.detail) {
                    (_, _, Some(d)) => d.clone(),
                    (l, cfg, None) => format!(
                        "live {}, config {}",
                        l.as_deref().unwrap_or("none"),
                        cfg.as_deref().unwrap_or("none")
                    ),
                },
                deploy.clone(),
            ),
            Action::Pending => continue,
        };
        items.push(DriftItem {
            kind,
            what,
            detail,
            reconcile,
        });
    }
    match &live.deployment {
        Ok(Some(d)) => deployment_drift(plan, d, recorded, &deploy, &mut items),
        Ok(None) => {}
        Err(why) => items.push(DriftItem {
            kind: DriftKind::Unknown,
            what: "deployment".into(),
            detail: why.clone(),
            reconcile: String::new(),
        }),
    }
    ServiceDrift {
        service: plan.service.clone(),
        script: plan.script.clone(),
        items,
    }
}

fn deployment_drift(
    plan: &ServicePlan,
    d: &super::LiveDeployment,
    recorded: &RecordedVersions,
    deploy: &str,
    items: &mut Vec<DriftItem>,
) {
    let by_clodo = d
        .message
        .as_deref()
        // Clodo's own traffic moves: `clodo rollout …`, `clodo <id>: …` (rollback),
        // `clodo: restore …`.
        .is_some_and(|m| m.starts_with("clodo ") || m.starts_with("clodo:"));
    if d.versions.len() > 1 {
        let split = d.split_text();
        let (newest, _) = &d.versions[0];
        items.push(DriftItem {
            kind: DriftKind::Split,
            what: format!("deployment {}", d.id),
            detail: format!("traffic is split: {split}"),
            reconcile: format!(
                "{deploy} (ships the config at 100%), or keep one version: wrangler versions deploy {newest}@100 --name {} -y",
                plan.script
            ),
        });
    }
    match d.source.as_deref() {
        Some(source) if source != "wrangler" && !by_clodo => items.push(DriftItem {
            kind: DriftKind::OutsideDeployment,
            what: format!("deployment {}", d.id),
            detail: format!(
                "made from `{source}`{}",
                d.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
            reconcile: deploy.to_owned(),
        }),
        _ => {}
    }
    if let Some(known) = recorded {
        for (v, p) in &d.versions {
            if !known.contains(v) {
                items.push(DriftItem {
                    kind: DriftKind::UnrecordedVersion,
                    what: format!("version {v}"),
                    detail: format!(
                        "serves {p}% but no Clodo deployment recorded it (a manual wrangler deploy or versions deploy)"
                    ),
                    reconcile: format!("{deploy}, or clodo rollback to the last recorded version"),
                });
            }
        }
    }
}

pub(super) fn area_word(area: Area) -> &'static str {
    match area {
        Area::Code => "code",
        Area::Binding => "binding",
        Area::Var => "var",
        Area::Secret => "secret",
        Area::CompatibilityDate => "compatibility date",
        Area::CompatibilityFlag => "compatibility flag",
        Area::Route => "route",
        Area::CustomDomain => "custom domain",
        Area::Cron => "cron",
        Area::DurableObjectMigration => "Durable Object migration",
        Area::D1Migration => "D1 migration",
        Area::Traffic => "traffic",
    }
}
