//! OpenAPI operations of scheduled deploys: cancel, recurring schedules, the calendar feed.

use schemars::SchemaGenerator;
use serde_json::json;

use super::ops_deployments::{reads, writes};
use super::schema::query;
use super::Op;
use crate::api::contract::schedules::{CancelOutcome, NewSchedule, Schedule, ScheduleList};

pub(super) fn op_cancel_scheduled(g: &mut SchemaGenerator) -> Op {
    Op {
        // 409: not a scheduled deployment, starting, started or ended.
        errors: &[409],
        ..reads::<CancelOutcome>(g)
    }
}

pub(super) fn op_create_schedule(g: &mut SchemaGenerator) -> Op {
    Op {
        cross_field_rules: Some(
            "cron is five fields in UTC that occur; source_environment is another environment of the project with the same Worker names and account",
        ),
        // 409: approvals required, different Worker names or account.
        ..writes::<NewSchedule, Schedule>(g, 201, &[404, 409])
    }
}

pub(super) fn op_list_schedules(g: &mut SchemaGenerator) -> Op {
    reads::<ScheduleList>(g)
}

pub(super) fn op_delete_schedule(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 204,
        ..Op::default()
    }
}

pub(super) fn op_calendar(_g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![query(
            "project",
            json!({ "type": "string", "maxLength": 64 }),
            "only this project's scheduled deploys, schedules, windows and freezes",
        )],
        ok: 200,
        ok_body: Some(json!({ "type": "string", "description": "an iCalendar (RFC 5545) feed" })),
        ok_media: Some("text/calendar"),
        // 404: no project of that name in the team.
        errors: &[404],
        ..Op::default()
    }
}
