//! Contract types of scheduled deploys: a scheduled deployment's start, the cancel answer,
//! recurring schedules (`…/environments/{e}/schedules`) and the calendar feed's query.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployments::{Deployment, Strategy};
use super::every_field_present;
pub use crate::control::schedule::ScheduleState;
use crate::rollout::RolloutSettings;

/// A scheduled deployment's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ScheduledStart {
    pub state: ScheduleState,
    /// When it is due (Unix ms).
    pub due_at: i64,
    /// Why it was skipped or failed, else null.
    pub reason: Option<String>,
    /// The recurring schedule that created it, else null.
    pub recurring_id: Option<String>,
    /// Start attempts that met an error (retried up to 5 times).
    pub attempts: i64,
}

/// `POST /api/v1/deployments/{deployment_id}/cancel`: the deployment after the cancel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct CancelOutcome {
    /// False when it was cancelled already (a repeated cancel changes nothing).
    pub cancelled_now: bool,
    pub deployment: Deployment,
}

/// `POST /api/v1/projects/{p}/environments/{e}/schedules`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchedule {
    /// Five fields, UTC: minute hour day-of-month month day-of-week (e.g. `0 9 * * wed`).
    #[schemars(length(min = 9, max = 200))]
    pub cron: String,
    /// Ship the versions of this environment's newest succeeded deployment (the same Worker
    /// names only); absent: re-deploy this environment's own newest recorded versions.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,63}$"))]
    pub source_environment: Option<String>,
    /// `immediate` when absent.
    pub strategy: Option<Strategy>,
    /// How each deployment rolls out (defaults: no checks, auto rollback).
    pub rollout: Option<RolloutSettings>,
    /// Recorded on each deployment it creates.
    #[schemars(length(max = 2000))]
    pub message: Option<String>,
}

/// A recurring schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct Schedule {
    /// `sch_…`
    pub id: String,
    pub project: String,
    pub environment: String,
    pub cron: String,
    pub source_environment: Option<String>,
    pub strategy: Strategy,
    pub message: Option<String>,
    /// The next occurrence (Unix ms).
    pub next_at: i64,
    pub created_by: String,
    pub created_at: i64,
    /// The last occurrence handled (Unix ms), else null.
    pub last_occurrence_at: Option<i64>,
    /// The deployment the last occurrence created, else null.
    pub last_deployment_id: Option<String>,
    /// Why the last occurrence created no deployment, else null.
    pub last_error: Option<String>,
}

/// `GET /api/v1/projects/{p}/environments/{e}/schedules`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = every_field_present)]
pub struct ScheduleList {
    pub items: Vec<Schedule>,
}

/// The query of `GET /api/v1/calendar.ics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CalendarQuery {
    /// Only this project's (slug); all of the team's when absent.
    pub project: Option<String>,
}
