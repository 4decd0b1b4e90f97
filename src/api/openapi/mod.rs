//! The API's route table and the OpenAPI 3.1 document built from it (`GET /api/v1/openapi.json`).
//!
//! Each route has one function below (`op_…`) saying what it takes (body, query, path
//! parameter schemas) and what it answers (success status and schema, the error statuses it
//! can produce). Request bodies are `additionalProperties: false` exactly where the server's
//! type refuses unknown fields. Tests check that every route the Worker's router registers is
//! documented and vice versa, that every `$ref` resolves, and that every operation declares
//! the error statuses the shared layers can always produce; `tests/schemathesis.sh` checks the
//! running Worker against this document.
//!
//! Longer than our ~800-line rule on purpose: `ROUTES` (two thirds of the file, one short entry
//! per route) is the one list of every public route, so that a reader, the router test and the
//! generated document all see the whole API in one place. The `op_…` functions live in the
//! `ops_*` files by area.

use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

mod ops_access;
mod ops_assessments;
mod ops_deployments;
mod ops_github;
mod ops_locks;
mod ops_meta;
mod ops_metrics;
mod ops_notify;
mod ops_pages_d1;
mod ops_promotions;
mod ops_rollback;
mod ops_rollouts;
mod ops_schedules;
mod ops_slack;
mod ops_teams;
mod schema;

use ops_access::*;
use ops_assessments::*;
use ops_deployments::*;
use ops_github::*;
use ops_locks::*;
use ops_meta::*;
use ops_metrics::*;
use ops_notify::*;
use ops_pages_d1::*;
use ops_promotions::*;
use ops_rollback::*;
use ops_rollouts::*;
use ops_schedules::*;
use ops_slack::*;
use ops_teams::*;
use schema::{components, sref, text};

/// One operation: method, axum path (`{param}` as in OpenAPI), summary, least role (`None`
/// when no team token is needed), and the function that describes its inputs and outputs.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub role: Option<&'static str>,
    pub op: fn(&mut SchemaGenerator) -> Op,
}

/// What one operation takes and answers.
#[derive(Debug, Clone, Default)]
pub struct Op {
    /// The JSON request body's schema; required when present (unless `body_optional`).
    pub body: Option<Value>,
    /// The body may be left out (e.g. `promote` takes a version only for A/B tests).
    pub body_optional: bool,
    /// Query parameters (OpenAPI parameter objects).
    pub query: Vec<Value>,
    /// Path parameters whose schema is narrower than a plain string.
    pub path_schemas: Vec<(&'static str, Value)>,
    /// The success status.
    pub ok: u16,
    /// The success body (`application/json`), `None` for an empty answer (204).
    pub ok_body: Option<Value>,
    /// The success body's media type when it is not `application/json` (the calendar feed).
    pub ok_media: Option<&'static str>,
    /// Further media types of the success answer (e.g. the audit exports).
    pub ok_alternatives: Vec<(&'static str, Value)>,
    /// Error statuses this operation's handler produces, beyond those every operation of its
    /// kind gets from the shared layers (see `error_statuses`).
    pub errors: &'static [u16],
    /// Authenticated with the operator's bootstrap secret rather than a team token.
    pub bootstrap_secret: bool,
    /// A sentence for rules between fields that a JSON Schema cannot state (the server
    /// answers 400 naming the field).
    pub cross_field_rules: Option<&'static str>,
}

const fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    role: Option<&'static str>,
    op: fn(&mut SchemaGenerator) -> Op,
) -> Route {
    Route {
        method,
        path,
        summary,
        role,
        op,
    }
}

/// Every route the Worker serves.
pub const ROUTES: &[Route] = &[
    r("get", "/healthz", "Liveness: the isolate is up", None, op_healthz),
    r(
        "get",
        "/readyz",
        "Readiness: D1 and both Durable Objects answer within 5 s (a storage read; a write at most every ten minutes)",
        None,
        op_readyz,
    ),
    r(
        "get",
        "/api/v1/version",
        "Build version and applied schema",
        None,
        op_version,
    ),
    r(
        "get",
        "/api/v1/openapi.json",
        "This document",
        None,
        op_openapi,
    ),
    r(
        "post",
        "/api/v1/bootstrap",
        "Create the first team and its admin token (bootstrap secret, once)",
        None,
        op_bootstrap,
    ),
    r(
        "post",
        "/api/v1/teams",
        "Create another team with an admin token (bootstrap secret)",
        None,
        op_create_team,
    ),
    r(
        "get",
        "/api/v1/me",
        "The calling token's team, role and actor",
        Some("viewer"),
        op_me,
    ),
    r(
        "get",
        "/api/v1/tokens",
        "List the team's API tokens (never their secrets)",
        Some("admin"),
        op_list_tokens,
    ),
    r(
        "post",
        "/api/v1/tokens",
        "Create an API token; the secret is shown once",
        Some("admin"),
        op_create_token,
    ),
    r(
        "delete",
        "/api/v1/tokens/{token_id}",
        "Revoke an API token",
        Some("admin"),
        op_revoke_token,
    ),
    r(
        "get",
        "/api/v1/members",
        "List members",
        Some("viewer"),
        op_list_members,
    ),
    r(
        "post",
        "/api/v1/members",
        "Add a member",
        Some("admin"),
        op_add_member,
    ),
    r(
        "delete",
        "/api/v1/members/{member_id}",
        "Remove a member and revoke their tokens",
        Some("admin"),
        op_remove_member,
    ),
    r(
        "get",
        "/api/v1/projects",
        "List projects",
        Some("viewer"),
        op_list_projects,
    ),
    r(
        "post",
        "/api/v1/projects",
        "Create a project",
        Some("admin"),
        op_create_project,
    ),
    r(
        "get",
        "/api/v1/projects/{project}",
        "One project with its services and environments",
        Some("viewer"),
        op_get_project,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/services",
        "List services",
        Some("viewer"),
        op_list_services,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/services",
        "Add a service (a Worker and its wrangler config)",
        Some("admin"),
        op_create_service,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments",
        "List environments",
        Some("viewer"),
        op_list_environments,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments",
        "Add an environment",
        Some("admin"),
        op_create_environment,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/policy",
        "The environment's policy",
        Some("viewer"),
        op_get_policy,
    ),
    r(
        "put",
        "/api/v1/projects/{project}/environments/{environment}/policy",
        "Replace the environment's policy",
        Some("admin"),
        op_put_policy,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/lock",
        "Lock holder, lease and queue",
        Some("viewer"),
        op_lock_info,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/acquire",
        "Acquire or queue for the lock",
        Some("deployer"),
        op_lock_acquire,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/heartbeat",
        "Extend the holder's lease",
        Some("deployer"),
        op_lock_heartbeat,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/release",
        "Release the lock (holder only)",
        Some("deployer"),
        op_lock_release,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/cancel",
        "Leave the queue",
        Some("deployer"),
        op_lock_cancel,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/force-unlock",
        "Break the lock (audited)",
        Some("admin"),
        op_lock_force_unlock,
    ),
    r(
        "get",
        "/api/v1/deployments",
        "Deployment history, newest first (cursor paginated)",
        Some("viewer"),
        op_list_deployments,
    ),
    r(
        "post",
        "/api/v1/deployments",
        "Request a deployment: policy checks, then awaiting_approval or queued",
        Some("deployer"),
        op_create_deployment,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}",
        "One deployment with its events and approvals",
        Some("viewer"),
        op_get_deployment,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/transitions",
        "Move a deployment along its lifecycle",
        Some("deployer"),
        op_transition,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/approvals",
        "Approvals of a deployment",
        Some("viewer"),
        op_list_approvals,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/approvals",
        "Approve a deployment, with a comment",
        Some("approver"),
        op_approve,
    ),
    r(
        "get",
        "/api/v1/credentials",
        "Cloudflare credentials (metadata only, never the secret)",
        Some("admin"),
        op_list_credentials,
    ),
    r(
        "post",
        "/api/v1/credentials",
        "Store a Cloudflare API token, encrypted",
        Some("admin"),
        op_create_credential,
    ),
    r(
        "delete",
        "/api/v1/credentials/{credential_id}",
        "Delete a stored credential",
        Some("admin"),
        op_delete_credential,
    ),
    r(
        "post",
        "/api/v1/credentials/reencrypt",
        "Move every stored secret of every team to the current encryption key after a rotation (bootstrap secret; idempotent)",
        None,
        op_reencrypt,
    ),
    r(
        "get",
        "/api/v1/audit",
        "Audit log: JSON page, or export as JSON lines or CSV",
        Some("viewer"),
        op_audit,
    ),
    r(
        "post",
        "/api/v1/assessments",
        "Gap analysis of a wrangler config against the account of a project environment; stores the report",
        Some("deployer"),
        op_create_assessment,
    ),
    r(
        "get",
        "/api/v1/assessments/{assessment_id}",
        "A stored assessment report",
        Some("viewer"),
        op_get_assessment,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/rollout",
        "Start the rollout of a verifying deployment's uploaded versions (its Rollout Durable Object drives it)",
        Some("deployer"),
        op_start_rollout,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/rollout",
        "Live status of a deployment's rollout: phase, step, traffic, analysis tallies, log",
        Some("viewer"),
        op_get_rollout,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/rollout/live",
        "WebSocket: the rollout's status now and after every change; closed when it has ended (`wait=true`: opened before the rollout starts)",
        Some("viewer"),
        op_live_rollout,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/rollout/{command}",
        "Steer a rollout: command is pause, resume, promote (100% now) or abort (roll every service back)",
        Some("deployer"),
        op_command_rollout,
    ),
    // Rollout authority (issue 11): environment accounts, registered Workers, recorded uploads.
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}",
        "An environment with the Cloudflare account it is bound to",
        Some("viewer"),
        op_get_environment,
    ),
    r(
        "patch",
        "/api/v1/projects/{project}/environments/{environment}",
        "Bind the environment to its Cloudflare account (audited)",
        Some("admin"),
        op_update_environment,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/services",
        "The Worker each registered service is in this environment",
        Some("viewer"),
        op_list_service_scripts,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/shipped",
        "The environment's newest 100 deployments that shipped (verifying, succeeded, failed, rolled back), newest first, each with the services it shipped: what `clodo rollback` decides from",
        Some("viewer"),
        op_list_shipped,
    ),
    r(
        "put",
        "/api/v1/projects/{project}/environments/{environment}/services/{service}",
        "Register the service's Worker for the environment (admin; a deployer may repeat what is registered)",
        Some("deployer"),
        op_put_service_script,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/services",
        "The versions a deployment recorded as uploaded",
        Some("viewer"),
        op_list_uploads,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/services",
        "Record uploaded versions (deploying, lock held; each checked with Cloudflare in the environment's account)",
        Some("deployer"),
        op_record_uploads,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/promotions",
        "Promote: a deployment in this environment that ships the `from` environment's latest succeeded deployment (this environment's policy and approvals apply)",
        Some("deployer"),
        op_promote,
    ),
    // Pages and D1 in deployments (issue 14).
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/migrations",
        "The D1 migrations a deployment applied, each with the Time Travel bookmark taken before",
        Some("viewer"),
        op_list_migrations,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/migrations",
        "Record a database's migrations: the bookmark before they run, then their outcome (deploying, lock held)",
        Some("deployer"),
        op_record_migration,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/pages",
        "The Pages deployments a deployment made",
        Some("viewer"),
        op_list_pages,
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/pages",
        "Record a Pages deployment (deploying, lock held; checked with Cloudflare in the environment's account)",
        Some("deployer"),
        op_record_pages,
    ),
    // Scheduled deploys (issue 13).
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/cancel",
        "Cancel a scheduled deployment before it starts (a repeat answers the same; a started one is refused)",
        Some("deployer"),
        op_cancel_scheduled,
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/schedules",
        "The environment's recurring schedules",
        Some("viewer"),
        op_list_schedules,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/schedules",
        "Deploy at each occurrence of a cron expression (UTC) the newest succeeded versions of a source environment or of this one",
        Some("deployer"),
        op_create_schedule,
    ),
    r(
        "delete",
        "/api/v1/projects/{project}/environments/{environment}/schedules/{schedule_id}",
        "Delete a recurring schedule (deployments it made stay)",
        Some("deployer"),
        op_delete_schedule,
    ),
    r(
        "get",
        "/api/v1/calendar.ics",
        "The team's deploy calendar (iCalendar): scheduled deploys, recurring schedules, windows and freezes",
        Some("viewer"),
        op_calendar,
    ),
    r(
        "get",
        "/api/v1/metrics/dora",
        "DORA metrics of a project environment (or one service) over a window, with DORA's performance bands",
        Some("viewer"),
        op_dora,
    ),
    // Preview deployments (issue 14).
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/previews",
        "The environment's preview deployments (Pages sites on a branch's preview), newest first (at most 100)",
        Some("viewer"),
        op_list_previews,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/previews",
        "Record a preview deployment (`clodo deploy --preview`; checked with Cloudflare in the environment's account; a repeat answers the first record)",
        Some("deployer"),
        op_record_preview,
    ),
    // GitHub (issue 15). The webhook itself, `POST /integrations/github/webhook`, is not here:
    // it is not a JSON API route (no token; GitHub signs each delivery with the project's
    // secret, `X-Hub-Signature-256`), so it is documented in docs/github.md, not fuzzed.
    r(
        "get",
        "/api/v1/projects/{project}/github",
        "The project's GitHub integration (never its secrets)",
        Some("viewer"),
        op_get_github,
    ),
    r(
        "put",
        "/api/v1/projects/{project}/github",
        "Connect the project to a GitHub repository: webhook secret and API token stored encrypted (audited)",
        Some("admin"),
        op_put_github,
    ),
    r(
        "delete",
        "/api/v1/projects/{project}/github",
        "Disconnect the project from GitHub (audited)",
        Some("admin"),
        op_delete_github,
    ),
    // Notification channels and the delivery log (issue 15).
    r(
        "get",
        "/api/v1/channels",
        "The team's notification channels (never their secrets)",
        Some("admin"),
        op_list_channels,
    ),
    r(
        "post",
        "/api/v1/channels",
        "Add a notification channel (Slack, Discord, email, Standard Webhooks endpoint) or monitoring marker (Sentry, Datadog, New Relic) to a project; secrets are stored encrypted",
        Some("admin"),
        op_create_channel,
    ),
    r(
        "delete",
        "/api/v1/channels/{channel_id}",
        "Delete a channel; its pending deliveries are cancelled (audited)",
        Some("admin"),
        op_delete_channel,
    ),
    r(
        "post",
        "/api/v1/channels/{channel_id}/enable",
        "Enable a channel again after its endpoint answered 410 Gone (audited; a repeat changes nothing)",
        Some("admin"),
        op_enable_channel,
    ),
    r(
        "get",
        "/api/v1/deliveries",
        "The delivery log: notifications and markers, newest first",
        Some("admin"),
        op_list_deliveries,
    ),
    r(
        "get",
        "/api/v1/deliveries/{delivery_id}",
        "One delivery and its attempts",
        Some("admin"),
        op_get_delivery,
    ),
    r(
        "post",
        "/api/v1/deliveries/{delivery_id}/replay",
        "Send a finished delivery again (same id, so the same webhook-id); a pending one is left as it is",
        Some("admin"),
        op_replay_delivery,
    ),
    r(
        "post",
        "/api/v1/projects/{project}/summary",
        "Queue the project's weekly summary (deployments, failures, rollbacks, DORA figures) to each channel that receives summary.weekly; one delivery per channel and week, whose key makes a repeat answer the existing deliveries and send nothing (audited when it queues)",
        Some("admin"),
        op_send_summary,
    ),
    // Server-side rollback of an environment (issue 15: Slack's and the dashboard's button).
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/rollback",
        "Roll the environment back to its last good deployment (or `to_deployment`; after a failure, to what served before it) through Cloudflare, holding its deploy lock; recorded as a deployment and audited. Asked again while that rollback is live, it answers it (`changed: false`) and moves nothing; when every Worker already serves the target's versions it records nothing and answers `changed: false` with the target as `deployment`",
        Some("deployer"),
        op_rollback_environment,
    ),
    // The team's Slack app (issue 15). Slack's own requests, `POST /integrations/slack/commands`
    // and `/integrations/slack/interactions`, are not here: they are not JSON API routes (no
    // token; form bodies signed with the app's signing secret), see docs/slack.md.
    r(
        "get",
        "/api/v1/slack",
        "The team's Slack app (never its secrets)",
        Some("viewer"),
        op_get_slack,
    ),
    r(
        "put",
        "/api/v1/slack",
        "Connect the team's Slack app: signing secret and bot token stored encrypted (audited)",
        Some("admin"),
        op_put_slack,
    ),
    r(
        "delete",
        "/api/v1/slack",
        "Disconnect the Slack app: commands and clicks are refused from then on (audited)",
        Some("admin"),
        op_delete_slack,
    ),
    r(
        "post",
        "/api/v1/slack/link-codes",
        "A one-time code (ten minutes) linking the calling member to a Slack user with `/clodo link CODE`",
        Some("viewer"),
        op_slack_link_code,
    ),
    r(
        "post",
        "/api/v1/assessments/{assessment_id}/slack",
        "Post an assessment report (findings grouped by severity) to the Slack app's channel, through the outbox",
        Some("deployer"),
        op_slack_post_report,
    ),
    // The live view's tickets (issue 16): browsers cannot send Authorization on a WebSocket.
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/rollout/live/ticket",
        "A single-use ticket (30 s) for this deployment's live-status WebSocket: connect with ?ticket=",
        Some("viewer"),
        op_live_ticket,
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/compare/{other_deployment_id}",
        "Compare two deployments: what each shipped, the differences, the git range, each service's error rate and p50/p99 under each (Workers analytics; null with the reason when not measurable)",
        Some("viewer"),
        op_compare_deployments,
    ),
    // Cloudflare Access sign-in (issue 16).
    r(
        "get",
        "/api/v1/access",
        "The team's Cloudflare Access application (team domain, audience tag)",
        Some("admin"),
        op_get_access,
    ),
    r(
        "put",
        "/api/v1/access",
        "Sign in through Cloudflare Access: requests carrying `Cf-Access-Jwt-Assertion` for this application act as the member with the token's email (audited)",
        Some("admin"),
        op_put_access,
    ),
    r(
        "delete",
        "/api/v1/access",
        "Stop accepting Cloudflare Access tokens for the team (audited)",
        Some("admin"),
        op_delete_access,
    ),
];

// ---------------------------------------------------------------------------------------------
// The document.

/// The error statuses an operation can answer: those of its handler (`Op::errors`) plus the
/// ones the shared layers always may: 500/503 (a binding failed), 401/403 (the bearer token or
/// bootstrap secret and the role), 404 (a path names something of another team or nothing),
/// 400/413/415 (a JSON body: malformed, too large, not declared JSON; a POST's
/// `Idempotency-Key` too), 409 (a POST's `Idempotency-Key` reused for another request).
#[must_use]
pub fn error_statuses(route: &Route, op: &Op) -> Vec<u16> {
    let mut out: Vec<u16> = op.errors.to_vec();
    out.extend([500, 503]);
    if route.role.is_some() || op.bootstrap_secret {
        out.extend([401, 403]);
    }
    if route.path.contains('{') {
        out.push(404);
    }
    if op.body.is_some() {
        out.extend([400, 413, 415]);
    }
    if !op.query.is_empty() {
        out.push(400);
    }
    if route.method == "post" {
        out.extend([400, 409]);
    }
    // Resources named in a body (a project, an environment, a credential's account) may be
    // missing too.
    if op.body.is_some() && route.role.is_some() {
        out.push(404);
    }
    if route.path == "/api/v1/deployments/{deployment_id}/rollout/live" {
        // Without `Upgrade: websocket`.
        out.push(400);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn operation(route: &Route, generator: &mut SchemaGenerator) -> Value {
    let op = (route.op)(generator);
    let mut responses = Map::new();
    let success = match (&op.ok_body, op.ok) {
        (_, 101) => {
            json!({ "description": "switching protocols: a WebSocket of RolloutStatus messages" })
        }
        (None, _) => json!({ "description": "done; no body" }),
        (Some(schema), _) => {
            let mut content = Map::new();
            let media = op.ok_media.unwrap_or("application/json");
            content.insert(media.into(), json!({ "schema": schema }));
            for (media, schema) in &op.ok_alternatives {
                content.insert((*media).into(), json!({ "schema": schema }));
            }
            json!({ "description": "success", "content": content })
        }
    };
    responses.insert(op.ok.to_string(), success);
    for status in error_statuses(route, &op) {
        let schema = if route.path == "/readyz" && status == 503 {
            sref("Readiness")
        } else {
            generator
                .subschema_for::<crate::api::ErrorBody>()
                .to_value()
        };
        let mut response = json!({ "description": error_description(status), "content": { "application/json": { "schema": schema } } });
        if status == 409 && route.method == "post" {
            response["headers"] = json!({ "Retry-After": {
                "description": "seconds: set when another request with this Idempotency-Key is still being processed",
                "schema": { "type": "integer", "minimum": 0 },
            } });
        }
        responses.insert(status.to_string(), response);
    }
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            let schema = op
                .path_schemas
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(text, |(_, s)| s.clone());
            json!({ "name": name, "in": "path", "required": true, "schema": schema })
        })
        .collect();
    parameters.extend(op.query.iter().cloned());
    if route.method == "post" {
        parameters.push(json!({ "$ref": "#/components/parameters/IdempotencyKey" }));
    }
    let mut out = json!({
        "summary": route.summary,
        "operationId": format!("{}{}", route.method, route.path.replace(['/', '{', '}', '.', '-'], "_")),
        "responses": responses,
    });
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    out["security"] = match (route.role, op.bootstrap_secret) {
        (Some(role), _) => {
            out["x-clodo-min-role"] = json!(role);
            json!([{ "bearer": [] }])
        }
        (None, true) => json!([{ "bootstrap": [] }]),
        (None, false) => json!([]),
    };
    if let Some(body) = &op.body {
        out["requestBody"] = json!({ "required": !op.body_optional, "content": { "application/json": { "schema": body } } });
    }
    if let Some(rules) = op.cross_field_rules {
        out["description"] = json!(format!("Also checked (400 naming the field): {rules}."));
        out["x-clodo-cross-field-rules"] = json!(rules);
    }
    out
}

fn error_description(status: u16) -> &'static str {
    match status {
        400 => "bad_request or invalid_json: the body, a query parameter or the Idempotency-Key is invalid",
        401 => "unauthorized: missing, unknown, revoked or expired token (or bootstrap secret)",
        403 => "forbidden: the token's role is too low, or the action is not allowed to this caller",
        404 => "not_found: nothing of that name in the caller's team",
        409 => "conflict: the current state does not allow it; or the Idempotency-Key was used for another request, is still being processed (Retry-After), or named a request whose answer held a secret (a new token's secret is shown once, never replayed)",
        413 => "payload_too_large: the body is over 1 MiB",
        415 => "unsupported_media_type: the body is not declared as application/json",
        429 => "too_many_requests: a bounded queue is full (e.g. 100 waiters for a lock)",
        500 => "internal: details are logged, never sent",
        503 => "unavailable: a dependency did not answer (in time)",
        _ => "error",
    }
}

/// The generator of the contract types' schemas (`src/api` types deriving `JsonSchema`): an
/// operation asks it for `generator.subschema_for::<T>()`, which answers a `$ref` into
/// `#/components/schemas/` and remembers `T`'s schema for the components.
fn contract_schemas() -> SchemaGenerator {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    SchemaGenerator::new(settings)
}

/// The components: the hand-written schemas of `schema::components`, then every contract
/// type an operation referred to (a name defined twice is a bug the tests catch).
fn schemas(hand_written: Value, generator: &mut SchemaGenerator) -> Value {
    let mut out = match hand_written {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (name, schema) in generator.take_definitions(true) {
        let previous = out.insert(name.clone(), schema);
        debug_assert!(previous.is_none(), "component schema {name} defined twice");
    }
    Value::Object(out)
}

/// The OpenAPI 3.1 document.
#[must_use]
pub fn document(version: &str) -> Value {
    let mut generator = contract_schemas();
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.method] = operation(route, &mut generator);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Clodo control plane",
            "version": version,
            "description": "Errors are always {\"error\":{\"code\",\"message\",\"hint\"}}. Request bodies are JSON (at most 1 MiB) and refuse unknown fields. String lengths are checked in UTF-8 bytes where the schema says so in the description.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "a team's `clodo_…` API token" },
                "bootstrap": { "type": "http", "scheme": "bearer", "description": "the operator's CLODO_BOOTSTRAP_TOKEN Worker secret" },
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "description": "the first 2xx answer to this caller's POST with this key is replayed for a retry",
                    "schema": { "type": "string", "pattern": "^[!-~]{1,200}$" },
                },
            },
            "schemas": schemas(components(), &mut generator),
        }
    })
}

/// The document as committed in `docs/openapi.json` (what the Worker serves); the test
/// `the_committed_document_is_the_generated_one` keeps it equal to [`document`].
pub const DOCUMENT_JSON: &str = include_str!("../../../docs/openapi.json");

#[cfg(test)]
mod tests;
