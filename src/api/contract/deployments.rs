//! Contract types of the deployments routes: create, list, get, transitions, approvals, and
//! the versions a deployment recorded as uploaded (`…/deployments/{id}/services`).
//!
//! Request types refuse unknown fields and carry the limits the server checks, so the OpenAPI
//! document (generated from them) is exactly as strict as the Worker.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::config::Strategy;
pub use crate::control::lifecycle::DeploymentStatus;
use crate::control::Role;

/// A `$ref` to a component defined elsewhere in the document (by hand or by another area's
/// type), for fields whose Rust type does not derive `JsonSchema` itself.
pub(crate) fn component_ref(name: &str) -> Schema {
    let mut schema = Schema::default();
    schema.insert(
        "$ref".into(),
        Value::String(format!("#/components/schemas/{name}")),
    );
    schema
}

pub(crate) use super::every_field_present;

fn role_ref(_: &mut SchemaGenerator) -> Schema {
    component_ref("Role")
}

/// `emergency_override` of a new deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyOverride {
    /// Why the policy is overridden; recorded on the deployment and audited.
    #[schemars(length(min = 1, max = 1000), regex(pattern = r"\S"))]
    pub reason: String,
}

/// `POST /api/v1/deployments`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    pub project: String,
    pub environment: String,
    #[schemars(length(max = 256))]
    pub git_ref: Option<String>,
    #[schemars(length(max = 64))]
    pub git_sha: Option<String>,
    /// When the commit was made (Unix ms), for DORA's change lead time; `clodo deploy` sends
    /// it from git. At most a day ahead of the server's clock.
    #[schemars(range(min = 946_684_800_000_i64))]
    pub git_committed_at: Option<i64>,
    /// `immediate` when absent.
    pub strategy: Option<Strategy>,
    #[schemars(length(max = 2000))]
    pub message: Option<String>,
    /// Deploy despite freezes, windows or branch rules; needs the approver role, is recorded
    /// on the deployment and audited.
    pub emergency_override: Option<EmergencyOverride>,
    /// Start at this time (RFC 3339, in the future, at most 90 days ahead) instead of now:
    /// the deployment waits as `queued` (or `awaiting_approval`) and the control plane starts
    /// it at that time, re-checking windows, freezes and approvals then. Record its versions
    /// (`POST …/services`, uploaded with `wrangler versions upload`) before that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
    /// How a scheduled deployment rolls out when it starts (steps, hold, checks, analysis);
    /// only with `scheduled_for` (a deployment started now sends them to `…/rollout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollout::RolloutSettings>,
}

/// A deployment record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Deployment {
    /// `dep_…`; also the holder id of the environment's lock while it deploys.
    pub id: String,
    pub project_id: String,
    pub environment_id: String,
    /// The project's slug.
    pub project: String,
    /// The environment's name.
    pub environment: String,
    pub status: DeploymentStatus,
    pub strategy: Strategy,
    /// The actor that asked for it (`member:<email>` or `token:<id>`).
    pub requested_by: String,
    /// The accountable person (lower-cased email) approvals are compared against.
    pub requested_by_member: Option<String>,
    /// The branch or tag deployed; branch rules of the policy match it.
    pub git_ref: Option<String>,
    pub git_sha: Option<String>,
    /// When the deployed commit was made (Unix ms), or null.
    #[serde(default)]
    pub git_committed_at: Option<i64>,
    /// Free text from whoever asked for it.
    pub message: Option<String>,
    /// Approvals (by people other than the author) needed before it is queued.
    pub required_approvals: i64,
    /// Why the policy was overridden (emergency override), or null.
    pub override_reason: Option<String>,
    /// The policy violations an emergency override let through, or null.
    pub overridden_rules: Option<Value>,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// When it started deploying (Unix ms), or null.
    pub started_at: Option<i64>,
    /// When it reached a final status (Unix ms), or null.
    pub finished_at: Option<i64>,
    /// The verified deployment of another environment whose exact code this one ships
    /// (`clodo promote --from --to`), or null.
    #[serde(default)]
    pub promoted_from: Option<String>,
    /// When the control plane starts it (Unix ms), for a scheduled deployment; else null.
    pub scheduled_for: Option<i64>,
}

impl Deployment {
    /// The person who asked for it, for approval checks: recorded at creation, or (rows
    /// written before that was recorded) read from the actor label.
    #[must_use]
    pub fn author(&self) -> Option<String> {
        self.requested_by_member
            .clone()
            .or_else(|| crate::control::policy::person_of(&self.requested_by))
    }
}

/// `GET /api/v1/deployments`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct DeploymentPage {
    pub items: Vec<Deployment>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The query of `GET /api/v1/deployments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFilter {
    /// Only this project's (slug).
    pub project: Option<String>,
    /// Only this environment's (name).
    pub environment: Option<String>,
    pub status: Option<DeploymentStatus>,
    /// Page size: default 50, clamped to 1..200.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One entry of a deployment's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct DeploymentEvent {
    /// Increasing: the log's order.
    pub id: i64,
    /// Unix time in milliseconds.
    pub at: i64,
    /// `requested`, `transition`, `approved`, `emergency_override`, `uploaded`, …
    pub kind: String,
    /// A transition's status before, else null.
    pub from_status: Option<DeploymentStatus>,
    /// A transition's status after (`requested` for the first event), else null.
    pub to_status: Option<DeploymentStatus>,
    /// What the writer recorded (`{"by": …, "detail": …}` for a transition), or null.
    pub detail: Option<Value>,
}

/// A deployment of an environment that got as far as shipping (`verifying`, `succeeded`,
/// `failed`, `rolled_back`) with the services it shipped: what `clodo rollback` decides from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ShippedDeployment {
    /// `dep_…`
    pub id: String,
    pub status: DeploymentStatus,
    /// The snapshots of its move to `verifying` (else of its move to `failed`, for a deploy
    /// that stopped after uploading); empty when it recorded none.
    pub services: Vec<crate::deploy::ServiceSnapshot>,
}

/// The service snapshots a deployment's events record: those of its move to `verifying`, else
/// those a deploy that stopped after uploading kept on its move to `failed`; empty for a
/// deployment that never shipped versions. What `clodo diff`, `clodo rollback` and the
/// compare route read.
#[must_use]
pub fn shipped_services(events: &[DeploymentEvent]) -> Vec<crate::deploy::ServiceSnapshot> {
    shipped_in(events.iter().map(|e| (e.to_status, e.detail.as_ref())))
}

/// [`shipped_services`] over the transitions' target statuses and details, in the log's order.
#[must_use]
pub fn shipped_in<'a>(
    moves: impl Iterator<Item = (Option<DeploymentStatus>, Option<&'a Value>)> + Clone,
) -> Vec<crate::deploy::ServiceSnapshot> {
    /// A transition event's detail: `{"by", "detail": <what the transition was given>}`,
    /// where `clodo deploy` gives `{"message", "services": [snapshot…]}`.
    #[derive(Deserialize)]
    struct Moved {
        detail: Shipped,
    }
    #[derive(Deserialize)]
    struct Shipped {
        services: Vec<crate::deploy::ServiceSnapshot>,
    }
    [DeploymentStatus::Verifying, DeploymentStatus::Failed]
        .into_iter()
        .find_map(|status| {
            moves
                .clone()
                .filter(|(to, _)| *to == Some(status))
                .find_map(|(_, detail)| {
                    let moved = Moved::deserialize(detail?).ok()?;
                    Some(moved.detail.services).filter(|s| !s.is_empty())
                })
        })
        .unwrap_or_default()
}

/// An approval of a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Approval {
    /// `apr_…`
    pub id: String,
    /// The approver (`member:<email>`).
    pub actor: String,
    /// The approver's role when approving.
    #[schemars(schema_with = "role_ref")]
    pub role: Role,
    /// Why they approved, or null.
    pub comment: Option<String>,
    /// Unix time in milliseconds.
    pub created_at: i64,
}

/// `GET /api/v1/deployments/{deployment_id}`: the record with its events and approvals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct DeploymentDetail {
    #[serde(flatten)]
    pub deployment: Deployment,
    pub events: Vec<DeploymentEvent>,
    pub approvals: Vec<Approval>,
    /// A scheduled deployment's start (state, and why it was skipped), else null.
    pub schedule: Option<super::schedules::ScheduledStart>,
}

/// `POST /api/v1/deployments/{deployment_id}/transitions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: DeploymentStatus,
    /// Any JSON, at most 8 KiB; kept on the transition's event.
    #[schemars(schema_with = "any_json")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

fn any_json(_: &mut SchemaGenerator) -> Schema {
    let mut schema = Schema::default();
    schema.insert("description".into(), "any JSON, at most 8 KiB".into());
    schema
}

/// `GET /api/v1/deployments/{deployment_id}/approvals`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ApprovalList {
    pub required: i64,
    pub items: Vec<Approval>,
}

/// `POST /api/v1/deployments/{deployment_id}/approvals`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// Why you approve; stored with the approval.
    #[schemars(length(max = 2000))]
    pub comment: Option<String>,
}

/// The answer to an approval: the count so far and the deployment after it (queued when this
/// approval reached the required count).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Approved {
    pub approval_id: String,
    pub approvals: i64,
    pub required: i64,
    pub deployment: Deployment,
}

/// One version a deployment uploaded, as `POST …/services` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceUpload {
    /// A service registered for the environment (its Worker comes from that record).
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub version_id: String,
    /// What served the traffic before; `null` when the Worker is new.
    #[schemars(regex(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub previous_version_id: Option<String>,
    /// `wrangler deploy` (not `versions upload`) put the version at 100% already.
    #[serde(default)]
    pub already_live: bool,
    /// Promotions: the SHA-256 of each module of the uploaded version, equal to the promoted
    /// source version's (required for a promoted deployment, refused for any other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub module_hashes: Option<Vec<ModuleDigest>>,
}

/// One module of a Worker version and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleDigest {
    /// The module's name in the version (`index.js`, `chunks/a.js`, `app.wasm`).
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Lower-case hex.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// `POST /api/v1/deployments/{deployment_id}/services`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordUploads {
    #[schemars(length(min = 1, max = 50))]
    pub services: Vec<ServiceUpload>,
}

/// A recorded upload: the service, its registered Worker and the versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct RecordedUpload {
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub service: String,
    /// The Worker registered for the service in the environment.
    #[schemars(regex(pattern = r"^[a-z0-9_-]{1,63}$"))]
    pub script: String,
    pub version_id: String,
    pub previous_version_id: Option<String>,
    pub already_live: bool,
    /// Promotions: the modules' SHA-256, checked equal to the source version's; else null.
    pub module_hashes: Option<Vec<ModuleDigest>>,
}

/// `GET /api/v1/deployments/{deployment_id}/services`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct UploadList {
    pub items: Vec<RecordedUpload>,
}

/// The answer to `POST …/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct UploadsRecorded {
    pub deployment_id: String,
    pub items: Vec<RecordedUpload>,
}
