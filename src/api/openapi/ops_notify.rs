//! OpenAPI operations of notification channels and the delivery log (`api::contract::notify`).

use schemars::SchemaGenerator;
use serde_json::json;

use super::ops_teams::{answers, schema_of};
use super::schema::{page_params, query};
use super::Op;
use crate::api::contract::notify::*;
use crate::api::contract::teams::Items;

pub(super) fn op_list_channels(g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![query(
            "project",
            json!({ "type": "string", "maxLength": 64 }),
            "only this project's channels",
        )],
        ..answers::<Items<Channel>>(g)
    }
}

pub(super) fn op_create_channel(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(schema_of::<NewChannel>(g)),
        ok: 201,
        // 409: a channel of that name exists in the project.
        errors: &[409],
        cross_field_rules: Some(
            "each kind takes its own fields (slack, discord: url; webhook: url, signing_secret, template; email: api_key, base_url, from, to; sentry: api_key, base_url, org, projects; datadog: api_key, base_url; newrelic: api_key, base_url, entity_guid), needs the required ones and refuses the others; URLs are http(s) without user:password; a template renders to JSON",
        ),
        ..answers::<ChannelCreated>(g)
    }
}

pub(super) fn op_delete_channel(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 204,
        ..Op::default()
    }
}

pub(super) fn op_enable_channel(g: &mut SchemaGenerator) -> Op {
    answers::<Channel>(g)
}

pub(super) fn op_list_deliveries(g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![
            query(
                "channel",
                json!({ "type": "string", "maxLength": 200 }),
                "only this channel's deliveries",
            ),
            query(
                "state",
                g.subschema_for::<DeliveryState>().to_value(),
                "only deliveries in this state",
            ),
        ]
        .into_iter()
        .chain(page_params())
        .collect(),
        ..answers::<DeliveryPage>(g)
    }
}

pub(super) fn op_get_delivery(g: &mut SchemaGenerator) -> Op {
    answers::<DeliveryDetail>(g)
}

pub(super) fn op_replay_delivery(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 202,
        // 409: its channel is disabled or deleted.
        errors: &[409],
        ..answers::<Delivery>(g)
    }
}

pub(super) fn op_send_summary(g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![query(
            "week",
            json!({ "type": "string", "pattern": "^[0-9]{4}-W[0-9]{2}$" }),
            "the ISO week (2026-W49); absent: the last complete week; the current week sends the week to date",
        )],
        // 409: no enabled channel of the project receives summary.weekly.
        errors: &[409],
        ..answers::<SummarySent>(g)
    }
}
