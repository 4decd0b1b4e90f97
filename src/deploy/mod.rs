//! Deploy planning, pure: which services go out in which wave, and which wrangler command each
//! one needs. No I/O and no `worker::` types, so the CLI, the Worker and the tests share it.

pub mod compare;
pub mod content;
pub mod migrations;
pub mod plan;
pub mod restore;
pub mod rollback;
pub mod snapshot;
pub mod steps;

pub use plan::{
    pending_migrations, plan_waves, upload_command, Dependency, DependencyKind, PlanError,
    RemoteScript, ServiceInput, UploadCommand, UploadDecision, UploadReason, WavePlan,
};
pub use restore::{restore_plan, RestoreAction, RestoreStep, Shipped};
pub use rollback::{
    parse_deployments, rollback_target, version_records, DeploymentEntry, RecordedDeployment,
    RollbackError, RollbackTarget, SkippedVersion, VersionRecords,
};
pub use snapshot::{binding_lines, diff, Difference, ServiceSnapshot};
