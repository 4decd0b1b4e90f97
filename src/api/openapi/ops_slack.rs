//! OpenAPI operations of the team's Slack app; their schemas come from the contract types
//! (`api::contract::slack`). The inbound endpoints (`/integrations/slack/commands`,
//! `/integrations/slack/interactions`) are not here: Slack signs them with the app's signing
//! secret (no token, form bodies), see docs/slack.md.

use schemars::SchemaGenerator;

use super::ops_deployments::{reads, schema_of, writes};
use super::Op;
use crate::api::contract::slack::{SlackApp, SlackLinkCode, SlackPostQueued, SlackSettings};

/// 404: no app connected.
pub(super) fn op_get_slack(g: &mut SchemaGenerator) -> Op {
    reads::<SlackApp>(g)
}

pub(super) fn op_put_slack(g: &mut SchemaGenerator) -> Op {
    writes::<SlackSettings, SlackApp>(g, 200, &[])
}

/// 204 with no body, like every delete; 404 when no app is connected.
pub(super) fn op_delete_slack(_: &mut SchemaGenerator) -> Op {
    Op {
        ok: 204,
        errors: &[404],
        ..Op::default()
    }
}

/// No body; 404 when no app is connected (403 for a token of no member).
pub(super) fn op_slack_link_code(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 201,
        ok_body: schema_of::<SlackLinkCode>(g),
        errors: &[404],
        ..Op::default()
    }
}

/// No body; 404 unknown assessment or no app; 409 the app has no channel.
pub(super) fn op_slack_post_report(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 202,
        ok_body: schema_of::<SlackPostQueued>(g),
        errors: &[404, 409],
        ..Op::default()
    }
}
