//! A finding: one gap between a config and the account, with its exact fix.

use serde::{Deserialize, Serialize};

/// How bad a finding is: `error` blocks the deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// Every finding kind; the names are a stable interface (JSON, SARIF rule ids, docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ConfigInvalid,
    EnvUnknown,
    NameInvalid,
    MainMissing,
    CompatibilityDateInvalid,
    CompatibilityDateStale,
    TokenInvalid,
    TokenExpired,
    TokenMissingPermission,
    AccountInaccessible,
    ZoneMissing,
    ZoneInactive,
    RouteConflict,
    CustomDomainConflict,
    D1Missing,
    D1NameMismatch,
    KvMissing,
    R2Missing,
    QueueMissing,
    HyperdriveMissing,
    VectorizeMissing,
    ServiceMissing,
    ServiceEntrypointMissing,
    DoClassMissing,
    DoMigrationMissing,
    DoMigrationPending,
    SecretMissing,
    VarSecretClash,
    BindingNotInherited,
    DeploymentSplitInProgress,
    DashboardDrift,
    Inconclusive,
    PagesProjectMissing,
    PagesBranchMismatch,
    PagesOutputMissing,
    D1MigrationsPending,
    D1MigrationDestructive,
    D1DestructiveGradual,
}

impl Kind {
    /// All kinds, in catalogue order.
    pub const ALL: [Kind; 38] = [
        Kind::ConfigInvalid,
        Kind::EnvUnknown,
        Kind::NameInvalid,
        Kind::MainMissing,
        Kind::CompatibilityDateInvalid,
        Kind::CompatibilityDateStale,
        Kind::TokenInvalid,
        Kind::TokenExpired,
        Kind::TokenMissingPermission,
        Kind::AccountInaccessible,
        Kind::ZoneMissing,
        Kind::ZoneInactive,
        Kind::RouteConflict,
        Kind::CustomDomainConflict,
        Kind::D1Missing,
        Kind::D1NameMismatch,
        Kind::KvMissing,
        Kind::R2Missing,
        Kind::QueueMissing,
        Kind::HyperdriveMissing,
        Kind::VectorizeMissing,
        Kind::ServiceMissing,
        Kind::ServiceEntrypointMissing,
        Kind::DoClassMissing,
        Kind::DoMigrationMissing,
        Kind::DoMigrationPending,
        Kind::SecretMissing,
        Kind::VarSecretClash,
        Kind::BindingNotInherited,
        Kind::DeploymentSplitInProgress,
        Kind::DashboardDrift,
        Kind::Inconclusive,
        Kind::PagesProjectMissing,
        Kind::PagesBranchMismatch,
        Kind::PagesOutputMissing,
        Kind::D1MigrationsPending,
        Kind::D1MigrationDestructive,
        Kind::D1DestructiveGradual,
    ];

    /// The stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigInvalid => "config_invalid",
            Kind::EnvUnknown => "env_unknown",
            Kind::NameInvalid => "name_invalid",
            Kind::MainMissing => "main_missing",
            Kind::CompatibilityDateInvalid => "compatibility_date_invalid",
            Kind::CompatibilityDateStale => "compatibility_date_stale",
            Kind::TokenInvalid => "token_invalid",
            Kind::TokenExpired => "token_expired",
            Kind::TokenMissingPermission => "token_missing_permission",
            Kind::AccountInaccessible => "account_inaccessible",
            Kind::ZoneMissing => "zone_missing",
            Kind::ZoneInactive => "zone_inactive",
            Kind::RouteConflict => "route_conflict",
            Kind::CustomDomainConflict => "custom_domain_conflict",
            Kind::D1Missing => "d1_missing",
            Kind::D1NameMismatch => "d1_name_mismatch",
            Kind::KvMissing => "kv_missing",
            Kind::R2Missing => "r2_missing",
            Kind::QueueMissing => "queue_missing",
            Kind::HyperdriveMissing => "hyperdrive_missing",
            Kind::VectorizeMissing => "vectorize_missing",
            Kind::ServiceMissing => "service_missing",
            Kind::ServiceEntrypointMissing => "service_entrypoint_missing",
            Kind::DoClassMissing => "do_class_missing",
            Kind::DoMigrationMissing => "do_migration_missing",
            Kind::DoMigrationPending => "do_migration_pending",
            Kind::SecretMissing => "secret_missing",
            Kind::VarSecretClash => "var_secret_clash",
            Kind::BindingNotInherited => "binding_not_inherited",
            Kind::DeploymentSplitInProgress => "deployment_split_in_progress",
            Kind::DashboardDrift => "dashboard_drift",
            Kind::Inconclusive => "inconclusive",
            Kind::PagesProjectMissing => "pages_project_missing",
            Kind::PagesBranchMismatch => "pages_branch_mismatch",
            Kind::PagesOutputMissing => "pages_output_missing",
            Kind::D1MigrationsPending => "d1_migrations_pending",
            Kind::D1MigrationDestructive => "d1_migration_destructive",
            Kind::D1DestructiveGradual => "d1_destructive_gradual",
        }
    }

    /// One line on what the kind means (SARIF rule descriptions, `docs/findings.md`).
    #[must_use]
    pub fn summary(self) -> &'static str {
        match self {
            Kind::ConfigInvalid => {
                "The wrangler config or clodo.toml cannot be read or is invalid."
            }
            Kind::EnvUnknown => "The environment asked for is not defined in the config.",
            Kind::NameInvalid => "The Worker name is not a valid script name.",
            Kind::MainMissing => "The entry point is not set or the file does not exist.",
            Kind::CompatibilityDateInvalid => "The compatibility date is not a valid past date.",
            Kind::CompatibilityDateStale => "The compatibility date is more than a year old.",
            Kind::TokenInvalid => "The API token is unknown, malformed or disabled.",
            Kind::TokenExpired => "The API token has expired.",
            Kind::TokenMissingPermission => {
                "The API token lacks a permission the deploy needs, or one a check needs to read."
            }
            Kind::AccountInaccessible => "The account id is wrong or the token cannot reach it.",
            Kind::ZoneMissing => "A route or custom domain has no zone in the account.",
            Kind::ZoneInactive => "A route or custom domain is on a zone that is not active.",
            Kind::RouteConflict => "A route pattern is already assigned to another Worker.",
            Kind::CustomDomainConflict => {
                "A custom domain is attached to another Worker or has conflicting DNS records."
            }
            Kind::D1Missing => "A D1 binding names a database that does not exist.",
            Kind::D1NameMismatch => "A D1 binding's id and name point at different databases.",
            Kind::KvMissing => "A KV binding names a namespace that does not exist.",
            Kind::R2Missing => "An R2 binding names a bucket that does not exist.",
            Kind::QueueMissing => "A queue producer or consumer names a queue that does not exist.",
            Kind::HyperdriveMissing => "A Hyperdrive binding names a config that does not exist.",
            Kind::VectorizeMissing => "A Vectorize binding names an index that does not exist.",
            Kind::ServiceMissing => "A service binding names a Worker that does not exist.",
            Kind::ServiceEntrypointMissing => {
                "A service binding names an entrypoint the target Worker does not export."
            }
            Kind::DoClassMissing => {
                "A Durable Object binding names a class another Worker does not export."
            }
            Kind::DoMigrationMissing => {
                "A Durable Object class of this Worker has no migration creating it."
            }
            Kind::DoMigrationPending => {
                "A Durable Object migration will run: `wrangler deploy` is needed, not `versions upload`."
            }
            Kind::SecretMissing => "A required secret is not set on the Worker.",
            Kind::VarSecretClash => {
                "A var or binding has the same name as a secret of the Worker; the deploy would replace the secret."
            }
            Kind::BindingNotInherited => {
                "An environment does not repeat a binding that is defined at the top level."
            }
            Kind::DeploymentSplitInProgress => {
                "Traffic is split between two versions; a deploy ends the split."
            }
            Kind::DashboardDrift => {
                "The Worker was last changed in the dashboard; a deploy overwrites those changes."
            }
            Kind::Inconclusive => {
                "A check could not be made (timeout, server error after retries); the report is not ready."
            }
            Kind::PagesProjectMissing => "A Pages service names a Pages project that does not exist in the account.",
            Kind::PagesBranchMismatch => "The Pages project's production branch is not the one clodo.toml expects.",
            Kind::PagesOutputMissing => "A Pages service's build output directory does not exist or holds no files.",
            Kind::D1MigrationsPending => "A D1 database has migrations the deploy will apply before any traffic moves.",
            Kind::D1MigrationDestructive => "A pending D1 migration drops or renames data; the deploy needs --allow-destructive.",
            Kind::D1DestructiveGradual => "A destructive D1 migration ships with a gradual rollout: the old code runs against the new schema.",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the config a finding comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingLocation {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The config key path, e.g. `env.production.d1_databases[0].database_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    pub message: String,
    /// The exact command or config edit that closes the gap.
    pub fix: String,
    /// The Worker name the finding is about (resolved for the environment), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<FindingLocation>,
    /// The check behind this finding could not be made (no answer, or no read permission):
    /// nothing is proven either way, so the report is not ready unless the caller explicitly
    /// allows unverified checks (`--allow-inconclusive`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
}

impl Finding {
    pub fn new(
        kind: Kind,
        severity: Severity,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            severity,
            message: message.into(),
            fix: fix.into(),
            service: None,
            env: None,
            location: None,
            unverified: false,
        }
    }

    /// Marks the finding as a check that could not be made.
    #[must_use]
    pub fn unverified(mut self) -> Self {
        self.unverified = true;
        self
    }

    #[must_use]
    pub fn at(mut self, location: FindingLocation) -> Self {
        self.location = Some(location);
        self
    }

    #[must_use]
    pub fn for_service(mut self, service: Option<&str>, env: Option<&str>) -> Self {
        self.service = service.map(str::to_owned);
        self.env = env.map(str::to_owned);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_their_serde_form_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in Kind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert!(seen.insert(kind.as_str()));
            assert!(!kind.summary().is_empty());
        }
    }
}
