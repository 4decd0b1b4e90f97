//! `clodo plan` and `clodo drift`, pure: what a deploy of the configs would change against what
//! is live, per service, and what was changed live outside the config. The CLI fetches the live
//! facts ([`LiveService`]); these functions only compare, so every case is unit-tested without
//! an account. A fact that could not be read makes its area `unknown`, never "no change".

pub mod bindings;
mod compare;
mod drift;
mod render;

use serde::{Deserialize, Serialize};

use schemars::JsonSchema;

pub use bindings::{BindingFact, Bindings};
pub use compare::plan_service;
pub use drift::{drift_service, RecordedVersions};

/// A live fact, or why it could not be read.
pub type Known<T> = Result<T, String>;

/// What the account has for one Worker.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveService {
    /// Whether the Worker exists. Everything below is only read when it does.
    pub exists: Known<bool>,
    pub settings: Known<LiveSettings>,
    /// Secret names.
    pub secrets: Known<Vec<String>>,
    /// The deployment serving traffic (`None`: the Worker has none).
    pub deployment: Known<Option<LiveDeployment>>,
    pub schedules: Known<Vec<String>>,
    /// Route patterns (not custom domains) that send traffic to this Worker, in the zones of
    /// the configured routes.
    pub routes: Known<Vec<String>>,
    /// Custom-domain hostnames attached to this Worker.
    pub custom_domains: Known<Vec<String>>,
    /// The last Durable Object migration tag applied.
    pub migration_tag: Known<Option<String>>,
    /// Whether the code wrangler would upload is the code live (`true` = the same modules).
    pub same_code: Known<bool>,
    /// Per D1 binding with migrations: the pending migration files.
    pub d1_pending: Vec<(String, Known<Vec<String>>)>,
    /// Where the Worker was last changed from (`wrangler`, `dash`, `api`).
    pub last_deployed_from: Option<String>,
}

/// The versioned settings of the live version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveSettings {
    pub bindings: Bindings,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
}

/// The deployment serving traffic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveDeployment {
    pub id: String,
    /// Who made it (`wrangler`, `api`, `dash`, …).
    pub source: Option<String>,
    /// Its `workers/message` annotation.
    pub message: Option<String>,
    /// `(version id, percent)`.
    pub versions: Vec<(String, f64)>,
}

impl LiveDeployment {
    /// `version@percent …`, as `wrangler versions deploy` takes it.
    #[must_use]
    pub fn split_text(&self) -> String {
        self.versions
            .iter()
            .map(|(v, p)| format!("{v}@{p}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What `clodo plan --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanReport {
    /// The environment planned (`null`: the top level).
    pub env: Option<String>,
    pub services: Vec<ServicePlan>,
    /// Some service would change.
    pub changes: bool,
    /// How many checks could not be made; a plan with unknowns never claims "no changes".
    pub unknown: usize,
}

impl PlanReport {
    #[must_use]
    pub fn new(env: Option<String>, services: Vec<ServicePlan>) -> Self {
        let changes = services
            .iter()
            .any(|s| s.changes.iter().any(|c| c.action != Action::Unknown));
        let unknown = services
            .iter()
            .flat_map(|s| &s.changes)
            .filter(|c| c.action == Action::Unknown)
            .count();
        Self {
            env,
            services,
            changes,
            unknown,
        }
    }

    /// `terraform plan -detailed-exitcode`: 0 no changes, 2 changes. A plan with a check that
    /// could not be made is not "no changes": it exits 2 too.
    #[must_use]
    pub fn detailed_exit_code(&self) -> u8 {
        if self.changes || self.unknown > 0 {
            2
        } else {
            0
        }
    }
}

/// One service's plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServicePlan {
    /// The clodo.toml service name (the Worker's name for a single config).
    pub service: String,
    /// The Worker's name on the account.
    pub script: String,
    /// What a deploy does to the Worker as a whole.
    pub action: ServiceAction,
    /// Whether a deploy uploads a new version (code or versioned settings differ).
    pub new_version: Verdict,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAction {
    /// The Worker does not exist: the deploy creates it.
    Create,
    Update,
    NoChange,
    /// Some check could not be made and nothing else changes.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Yes,
    No,
    Unknown,
}

/// The part of a Worker a change is in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    /// The modules wrangler uploads.
    Code,
    Binding,
    /// `vars` (values are compared, never shown).
    Var,
    Secret,
    CompatibilityDate,
    CompatibilityFlag,
    Route,
    CustomDomain,
    Cron,
    DurableObjectMigration,
    D1Migration,
    /// The deployment serving traffic (a split).
    Traffic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The config has it, live does not: the deploy adds it.
    Add,
    /// Live has it, the config does not: the deploy removes it.
    Remove,
    /// Both have it, differently: the deploy changes it.
    Change,
    /// A secret the config requires is not set: the deploy fails until it is.
    Missing,
    /// A migration the deploy applies.
    Pending,
    /// The check could not be made (`detail` says why).
    Unknown,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub area: Area,
    /// The binding, var, secret, route, domain, cron, flag or migration concerned.
    pub name: String,
    pub action: Action,
    /// What is live (never a var's value or a secret).
    pub live: Option<String>,
    /// What the config says (never a var's value).
    pub config: Option<String>,
    /// Why a check is unknown, or a note.
    pub detail: Option<String>,
}

impl Change {
    fn new(area: Area, name: impl Into<String>, action: Action) -> Self {
        Self {
            area,
            name: name.into(),
            action,
            live: None,
            config: None,
            detail: None,
        }
    }

    fn unknown(area: Area, name: impl Into<String>, why: &str) -> Self {
        Self {
            detail: Some(why.to_owned()),
            ..Self::new(area, name, Action::Unknown)
        }
    }

    fn live(mut self, v: impl Into<String>) -> Self {
        self.live = Some(v.into());
        self
    }

    fn config(mut self, v: impl Into<String>) -> Self {
        self.config = Some(v.into());
        self
    }

    fn detail(mut self, v: impl Into<String>) -> Self {
        self.detail = Some(v.into());
        self
    }
}

pub use drift::{DriftItem, DriftKind, DriftReport, ServiceDrift};
pub use render::{render_drift, render_plan};

#[cfg(test)]
mod tests;
