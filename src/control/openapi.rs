//! The API's route table and the OpenAPI 3.1 document built from it (`GET /api/v1/openapi.json`).
//!
//! Each route has one function below (`op_…`) saying what it takes (body, query, path
//! parameter schemas) and what it answers (success status and schema, the error statuses it
//! can produce). Request bodies are `additionalProperties: false` exactly where the server's
//! type refuses unknown fields. Tests check that every route the Worker's router registers is
//! documented and vice versa, that every `$ref` resolves, and that every operation declares
//! the error statuses the shared layers can always produce; `tests/schemathesis.sh` checks the
//! running Worker against this document.

use serde_json::{json, Map, Value};

/// One operation: method, axum path (`{param}` as in OpenAPI), summary, least role (`None`
/// when no team token is needed), and the function that describes its inputs and outputs.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub role: Option<&'static str>,
    pub op: fn() -> Op,
}

/// What one operation takes and answers.
#[derive(Debug, Clone, Default)]
pub struct Op {
    /// The JSON request body's schema; required when present.
    pub body: Option<Value>,
    /// Query parameters (OpenAPI parameter objects).
    pub query: Vec<Value>,
    /// Path parameters whose schema is narrower than a plain string.
    pub path_schemas: Vec<(&'static str, Value)>,
    /// The success status.
    pub ok: u16,
    /// The success body (`application/json`), `None` for an empty answer (204).
    pub ok_body: Option<Value>,
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
    op: fn() -> Op,
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
        "WebSocket: the rollout's status now and after every change; closed when it has ended",
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
];

// ---------------------------------------------------------------------------------------------
// Schema helpers.

fn sref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A request object: every property listed, unknown ones refused (the server's types use
/// `#[serde(deny_unknown_fields)]`).
fn closed(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties, "additionalProperties": false })
}

/// A response object: the listed properties are always present; more may be added later.
fn open(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn string(min: u32, max: u32) -> Value {
    json!({ "type": "string", "minLength": min, "maxLength": max })
}

fn nullable(mut schema: Value) -> Value {
    match schema.get("type").cloned() {
        Some(Value::String(t)) => {
            schema["type"] = json!([t, "null"]);
            if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
                values.push(Value::Null);
            }
            schema
        }
        _ => json!({ "anyOf": [schema, { "type": "null" }] }),
    }
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn millis() -> Value {
    json!({ "type": "integer", "format": "int64", "description": "Unix time in milliseconds" })
}

fn list_of(item: Value) -> Value {
    open(
        &["items"],
        json!({ "items": { "type": "array", "items": item } }),
    )
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

/// Slugs of teams, projects, services and environments (`control::valid_slug`).
fn slug() -> Value {
    json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$" })
}

/// Lock holder ids (`lock::valid_holder_id`).
fn holder_id() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" })
}

/// Cloudflare account ids and environment names in assessments.
fn plain_name() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" })
}

/// An email the server accepts: something before the `@`, a dot after it, no whitespace.
fn email() -> Value {
    json!({ "type": "string", "format": "email", "maxLength": 254, "pattern": "^[^@\\s]+@[^\\s]*\\.[^\\s]*$" })
}

/// Text the server trims before checking: at least one non-blank character.
fn non_blank(max: u32) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": "\\S" })
}

// ---------------------------------------------------------------------------------------------
// One function per route.

fn op_healthz() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["status"],
            json!({ "status": { "type": "string", "enum": ["ok"] } }),
        )),
        ..Op::default()
    }
}

fn op_readyz() -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Readiness")),
        errors: &[503],
        ..Op::default()
    }
}

fn op_version() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["version", "git_sha", "schema_version"],
            json!({ "version": text(), "git_sha": text(), "schema_version": nullable(text()) }),
        )),
        ..Op::default()
    }
}

fn op_openapi() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["openapi", "info", "paths", "components"],
            json!({ "openapi": text(), "info": { "type": "object" }, "paths": { "type": "object" }, "components": { "type": "object" } }),
        )),
        ..Op::default()
    }
}

fn new_team() -> Value {
    closed(
        &["slug", "name", "admin_email"],
        json!({ "slug": slug(), "name": string(1, 200), "admin_email": email() }),
    )
}

fn op_bootstrap() -> Op {
    Op {
        body: Some(new_team()),
        ok: 201,
        ok_body: Some(sref("TeamCreated")),
        errors: &[409],
        bootstrap_secret: true,
        ..Op::default()
    }
}

fn op_create_team() -> Op {
    Op {
        body: Some(new_team()),
        ok: 201,
        ok_body: Some(sref("TeamCreated")),
        errors: &[409],
        bootstrap_secret: true,
        ..Op::default()
    }
}

fn op_me() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["team_id", "token_id", "actor", "role"],
            json!({ "team_id": text(), "token_id": text(), "actor": text(), "role": sref("Role") }),
        )),
        ..Op::default()
    }
}

fn op_list_tokens() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Token"))),
        ..Op::default()
    }
}

fn op_create_token() -> Op {
    Op {
        body: Some(closed(
            &["name", "role"],
            json!({
                "name": string(1, 100),
                "role": sref("Role"),
                "member_email": nullable(email()),
                "expires_in_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650 },
            }),
        )),
        ok: 201,
        ok_body: Some(open(
            &["id", "name", "role", "member_email", "expires_at", "secret"],
            json!({
                "id": text(), "name": text(), "role": sref("Role"), "member_email": nullable(text()),
                "expires_at": nullable(millis()), "secret": { "type": "string", "description": "shown once" },
                "note": text(),
            }),
        )),
        errors: &[404, 409],
        ..Op::default()
    }
}

fn op_revoke_token() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["id", "revoked_at"],
            json!({ "id": text(), "revoked_at": millis() }),
        )),
        ..Op::default()
    }
}

fn op_list_members() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Member"))),
        ..Op::default()
    }
}

fn op_add_member() -> Op {
    Op {
        body: Some(closed(
            &["email", "role"],
            json!({ "email": email(), "name": nullable(text()), "role": sref("Role") }),
        )),
        ok: 201,
        ok_body: Some(sref("Member")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_remove_member() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["id", "removed_at", "tokens_revoked"],
            json!({ "id": text(), "removed_at": millis(), "tokens_revoked": { "type": "boolean" } }),
        )),
        // 400: an admin removing themselves; 409: the team's last admin.
        errors: &[400, 409],
        ..Op::default()
    }
}

fn op_list_projects() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Project"))),
        ..Op::default()
    }
}

fn op_create_project() -> Op {
    Op {
        body: Some(closed(
            &["slug"],
            json!({
                "slug": slug(),
                "name": nullable(string(0, 200)),
                "repository": nullable(string(0, 500)),
            }),
        )),
        ok: 201,
        ok_body: Some(sref("Project")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_get_project() -> Op {
    Op {
        ok: 200,
        ok_body: Some(json!({ "allOf": [sref("Project"), open(
            &["services", "environments"],
            json!({
                "services": { "type": "array", "items": sref("Service") },
                "environments": { "type": "array", "items": sref("Environment") },
            }),
        )] })),
        ..Op::default()
    }
}

fn op_list_services() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Service"))),
        ..Op::default()
    }
}

fn op_create_service() -> Op {
    Op {
        body: Some(closed(
            &["name"],
            json!({
                "name": slug(),
                "config_path": nullable(text()),
                "config_text": nullable(json!({ "type": "string", "maxLength": 16_384, "description": "at most 64 KiB of UTF-8" })),
            }),
        )),
        ok: 201,
        ok_body: Some(sref("Service")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_list_environments() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Environment"))),
        ..Op::default()
    }
}

fn op_create_environment() -> Op {
    Op {
        body: Some(closed(
            &["name"],
            json!({ "name": slug(), "cloudflare_account_id": nullable(plain_name()) }),
        )),
        ok: 201,
        ok_body: Some(sref("Environment")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_get_policy() -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Policy")),
        ..Op::default()
    }
}

fn op_put_policy() -> Op {
    Op {
        body: Some(sref("Policy")),
        ok: 200,
        ok_body: Some(sref("Policy")),
        cross_field_rules: Some(
            "a window's start is before its end; a freeze's starts_at is before its ends_at",
        ),
        ..Op::default()
    }
}

fn op_lock_info() -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("LockInfo")),
        ..Op::default()
    }
}

fn op_lock_acquire() -> Op {
    Op {
        body: Some(closed(
            &["holder_id"],
            json!({
                "holder_id": holder_id(),
                "purpose": nullable(string(0, 500)),
                "lease_ms": { "type": ["integer", "null"], "minimum": 5000, "maximum": 3_600_000 },
            }),
        )),
        ok: 200,
        ok_body: Some(sref("AcquireOutcome")),
        // 403: the holder id is another token's entry; 429: the queue is full.
        errors: &[403, 409, 429],
        ..Op::default()
    }
}

fn holder_body() -> Value {
    closed(&["holder_id"], json!({ "holder_id": holder_id() }))
}

fn op_lock_heartbeat() -> Op {
    Op {
        body: Some(holder_body()),
        ok: 200,
        ok_body: Some(sref("Lease")),
        errors: &[403, 409],
        ..Op::default()
    }
}

fn op_lock_release() -> Op {
    Op {
        body: Some(holder_body()),
        ok: 200,
        ok_body: Some(open(
            &["next_holder"],
            json!({ "next_holder": nullable(sref("Lease")) }),
        )),
        errors: &[403, 409],
        ..Op::default()
    }
}

fn op_lock_cancel() -> Op {
    Op {
        body: Some(holder_body()),
        ok: 200,
        ok_body: Some(sref("Waiter")),
        errors: &[403, 409],
        ..Op::default()
    }
}

fn op_lock_force_unlock() -> Op {
    Op {
        body: Some(closed(
            &["reason"],
            json!({ "reason": json!({ "type": "string", "minLength": 1, "maxLength": 1000, "pattern": "\\S", "description": "why (kept in the audit log); 1-1000 bytes after trimming" }) }),
        )),
        ok: 200,
        ok_body: Some(open(
            &["broken_lease", "lock", "reason"],
            json!({ "broken_lease": nullable(sref("Lease")), "lock": sref("LockInfo"), "reason": text() }),
        )),
        ..Op::default()
    }
}

fn op_list_deployments() -> Op {
    Op {
        query: vec![
            query("project", slug(), "only this project's deployments"),
            query("environment", slug(), "only this environment's deployments"),
            query(
                "status",
                sref("DeploymentStatus"),
                "only deployments in this status",
            ),
            query(
                "limit",
                json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 }),
                "page size: default 50, clamped to 1..200",
            ),
            query(
                "cursor",
                json!({ "type": "string", "maxLength": 512 }),
                "opaque: the `next_cursor` of this list's previous page; any other value (another list's cursor included) is a 400",
            ),
        ],
        ok: 200,
        ok_body: Some(open(
            &["items", "next_cursor"],
            json!({ "items": { "type": "array", "items": sref("Deployment") }, "next_cursor": nullable(text()) }),
        )),
        ..Op::default()
    }
}

fn op_create_deployment() -> Op {
    Op {
        body: Some(closed(
            &["project", "environment"],
            json!({
                "project": text(),
                "environment": text(),
                "git_ref": nullable(string(0, 256)),
                "git_sha": nullable(string(0, 64)),
                "strategy": nullable(json!({ "type": "string", "enum": ["immediate", "gradual", "blue-green"] })),
                "message": nullable(string(0, 2000)),
                "emergency_override": nullable(closed(&["reason"], json!({ "reason": non_blank(1000) }))),
            }),
        )),
        ok: 201,
        ok_body: Some(sref("Deployment")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_get_deployment() -> Op {
    Op {
        ok: 200,
        ok_body: Some(json!({ "allOf": [sref("Deployment"), open(
            &["events", "approvals"],
            json!({
                "events": { "type": "array", "items": sref("DeploymentEvent") },
                "approvals": { "type": "array", "items": sref("Approval") },
            }),
        )] })),
        ..Op::default()
    }
}

fn op_transition() -> Op {
    Op {
        body: Some(closed(
            &["to"],
            json!({ "to": sref("DeploymentStatus"), "detail": { "description": "any JSON, at most 8 KiB" } }),
        )),
        ok: 200,
        ok_body: Some(sref("Deployment")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_list_approvals() -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["required", "items"],
            json!({ "required": { "type": "integer" }, "items": { "type": "array", "items": sref("Approval") } }),
        )),
        ..Op::default()
    }
}

fn op_approve() -> Op {
    Op {
        body: Some(closed(&[], json!({ "comment": nullable(string(0, 2000)) }))),
        ok: 201,
        ok_body: Some(open(
            &["approval_id", "approvals", "required", "deployment"],
            json!({ "approval_id": text(), "approvals": { "type": "integer" }, "required": { "type": "integer" }, "deployment": sref("Deployment") }),
        )),
        // 403: the author, a token without a member, or a role below approver; 409: already
        // approved by this person, not awaiting approval, or blocked by the policy now.
        errors: &[403, 409],
        ..Op::default()
    }
}

fn op_list_credentials() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Credential"))),
        ..Op::default()
    }
}

fn op_create_credential() -> Op {
    Op {
        body: Some(closed(
            &["account_id", "name", "api_token"],
            json!({ "account_id": plain_name(), "name": string(1, 100), "api_token": string(1, 1024) }),
        )),
        ok: 201,
        ok_body: Some(sref("Credential")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_delete_credential() -> Op {
    Op {
        ok: 204,
        ok_body: None,
        ..Op::default()
    }
}

fn op_audit() -> Op {
    Op {
        query: vec![
            query(
                "format",
                json!({ "type": "string", "enum": ["json", "jsonl", "csv"] }),
                "json (a page, the default), jsonl or csv (an export)",
            ),
            query(
                "limit",
                json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 }),
                "page size: json 1..200 (default 50), exports 1..5000 (default 5000)",
            ),
            query(
                "cursor",
                json!({ "type": "string", "maxLength": 512 }),
                "opaque: the `next_cursor` (or `clodo-next-cursor` header) of this list's previous page; any other value is a 400",
            ),
            query(
                "action",
                text(),
                "only entries of this action, e.g. `deployment.create`",
            ),
        ],
        ok: 200,
        ok_body: Some(open(
            &["items", "next_cursor"],
            json!({ "items": { "type": "array", "items": sref("AuditEntry") }, "next_cursor": nullable(text()) }),
        )),
        ok_alternatives: vec![
            (
                "application/x-ndjson",
                json!({ "type": "string", "description": "one AuditEntry per line" }),
            ),
            (
                "text/csv",
                json!({ "type": "string", "description": "id,at,actor,action,target_type,target_id,before,after" }),
            ),
        ],
        ..Op::default()
    }
}

fn op_create_assessment() -> Op {
    let mut body = closed(
        &["config"],
        json!({
            "config": { "type": "string", "maxLength": 65_536, "description": "the wrangler config's text (at most 256 KiB of UTF-8)" },
            "file": { "type": "string", "maxLength": 200, "pattern": "\\.(toml|jsonc|json)$", "default": "wrangler.toml" },
            "env": nullable(plain_name()),
            "project": { "type": "string", "description": "with `environment`: the project whose environment's bound account is assessed (with the team's credential for it); without both, only the local checks run" },
            "environment": { "type": "string", "description": "with `project`: the environment whose bound Cloudflare account is assessed" },
            "required_secrets": { "type": "array", "maxItems": 200, "items": string(0, 256) },
        }),
    );
    // Both or neither.
    body["dependentRequired"] = json!({ "project": ["environment"], "environment": ["project"] });
    Op {
        body: Some(body),
        ok: 201,
        ok_body: Some(sref("Assessment")),
        // 404: the project, the environment or the team's credential for its account does
        // not exist; 409: the environment is bound to no Cloudflare account.
        errors: &[404, 409],
        ..Op::default()
    }
}

fn op_get_assessment() -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Assessment")),
        ..Op::default()
    }
}

/// A health check as the rollout API takes it (`config::HealthCheck`; unknown fields are
/// ignored there, so the schema stays open).
fn health_check() -> Value {
    open(
        &[
            "name",
            "url",
            "method",
            "headers",
            "expect_status",
            "timeout_ms",
            "version_override",
        ],
        json!({
            "name": text(),
            "service": nullable(text()),
            "url": { "type": "string", "pattern": "^https?://", "description": "http(s)" },
            "method": { "type": "string", "description": "upper-case HTTP method" },
            "headers": { "type": "object", "additionalProperties": text() },
            "body": nullable(text()),
            "expect_status": { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 65_535 } },
            "expect_body_contains": nullable(text()),
            "max_latency_ms": { "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX },
            "timeout_ms": { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            "version_override": { "type": "boolean", "description": "pin requests to the new version (needs `service`)" },
            "location": location(),
        }),
    )
}

/// Where a check came from in the project's config (optional over the API).
fn location() -> Value {
    open(
        &["file", "key_path"],
        json!({ "file": text(), "line": { "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX }, "column": { "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX }, "key_path": text() }),
    )
}

/// A comparison such as `< 0.05` or `>= 100`.
fn condition() -> Value {
    json!({ "type": "string", "pattern": "^ *(<=|>=|==|!=|<|>) *[-+]?([0-9]{1,15}(\\.[0-9]{0,15})?|\\.[0-9]{1,15})([eE][-+]?[0-9]{1,2})? *$" })
}

fn metric_name() -> Value {
    json!({ "type": "string", "enum": crate::config::Metric::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>() })
}

/// An analysis metric as the rollout API takes it (`config::AnalysisMetric`).
fn analysis_metric() -> Value {
    open(
        &[
            "name",
            "metric",
            "interval_secs",
            "count",
            "failure_limit",
            "inconclusive_limit",
        ],
        json!({
            "name": text(),
            "metric": metric_name(),
            "service": nullable(text()),
            "condition": nullable(condition()),
            "failure_condition": nullable(condition()),
            "interval_secs": { "type": "integer", "minimum": 1, "maximum": u64::MAX },
            "count": { "type": "integer", "minimum": 1, "maximum": 4_294_967_295_u64 },
            "failure_limit": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 },
            "inconclusive_limit": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 },
            "location": location(),
        }),
    )
}

fn op_start_rollout() -> Op {
    Op {
        body: Some(closed(
            &[],
            json!({
                "steps": { "type": "array", "maxItems": 20, "items": { "type": "number", "minimum": 0, "maximum": 100 }, "description": "gradual only: increasing percentages ending at 100 (default 10, 50, 100)" },
                "step_wait_secs": { "type": "integer", "minimum": 0, "maximum": 86_400, "default": 0 },
                "auto_rollback": { "type": "boolean", "default": true },
                "health_checks": { "type": "array", "items": health_check() },
                "analysis": { "type": "array", "items": analysis_metric() },
            }),
        )),
        ok: 201,
        ok_body: Some(sref("RolloutStatus")),
        // 404: the team has no credential for the environment's account; 409: not verifying,
        // not holding the lock, no account bound, nothing recorded as uploaded.
        errors: &[404, 409],
        cross_field_rules: Some(
            "gradual steps increase and end at 100; health checks and analysis name services of this deployment; blue-green needs a health check with `service` and `version_override`",
        ),
        ..Op::default()
    }
}

fn op_get_rollout() -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("RolloutStatus")),
        ..Op::default()
    }
}

fn op_live_rollout() -> Op {
    Op {
        ok: 101,
        ok_body: None,
        ..Op::default()
    }
}

fn op_command_rollout() -> Op {
    Op {
        path_schemas: vec![(
            "command",
            json!({ "type": "string", "enum": ["pause", "resume", "promote", "abort"] }),
        )],
        ok: 202,
        ok_body: Some(sref("RolloutStatus")),
        errors: &[409],
        ..Op::default()
    }
}

fn op_get_environment() -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Environment")),
        ..Op::default()
    }
}

fn op_update_environment() -> Op {
    Op {
        body: Some(closed(
            &["cloudflare_account_id"],
            json!({ "cloudflare_account_id": nullable(json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "the account rollouts and hosted assessments of this environment use; null unbinds it" })) }),
        )),
        ok: 200,
        ok_body: Some(sref("Environment")),
        ..Op::default()
    }
}

/// A Worker name as the server accepts it for a registered service.
fn script_name() -> Value {
    json!({ "type": "string", "pattern": "^[a-z0-9_-]{1,63}$" })
}

fn op_list_service_scripts() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(open(
            &["service", "script", "updated_by", "updated_at"],
            json!({ "service": slug(), "script": script_name(), "updated_by": text(), "updated_at": millis() }),
        ))),
        ..Op::default()
    }
}

fn op_put_service_script() -> Op {
    Op {
        path_schemas: vec![("service", slug())],
        body: Some(closed(
            &["script"],
            json!({ "script": script_name(), "config_path": nullable(string(1, 500)) }),
        )),
        ok: 200,
        ok_body: Some(open(
            &["service", "environment", "script"],
            json!({ "service": slug(), "environment": slug(), "script": script_name() }),
        )),
        // 403 (shared): a deployer naming a Worker other than the registered one.
        errors: &[409],
        ..Op::default()
    }
}

fn upload() -> Value {
    open(
        &[
            "service",
            "script",
            "version_id",
            "previous_version_id",
            "already_live",
        ],
        json!({
            "service": slug(), "script": script_name(), "version_id": text(),
            "previous_version_id": nullable(text()), "already_live": { "type": "boolean" },
        }),
    )
}

fn op_list_uploads() -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(upload())),
        ..Op::default()
    }
}

/// A Worker version id (`rollout::valid_version_id`).
fn version_id() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$" })
}

fn op_record_uploads() -> Op {
    let service = closed(
        &["service", "version_id"],
        json!({
            "service": slug(), "version_id": version_id(),
            "previous_version_id": nullable(version_id()), "already_live": { "type": "boolean", "default": false },
        }),
    );
    Op {
        body: Some(closed(
            &["services"],
            json!({ "services": { "type": "array", "minItems": 1, "maxItems": 50, "items": service } }),
        )),
        ok: 201,
        ok_body: Some(open(
            &["deployment_id", "items"],
            json!({ "deployment_id": text(), "items": { "type": "array", "items": upload() } }),
        )),
        // 400 also when a version is not one of the registered Worker in the environment's
        // account; 404: no credential for that account; 409: not deploying, not holding the
        // lock, no account bound, a service without a registered Worker.
        errors: &[404, 409],
        cross_field_rules: Some(
            "each service is listed once; a service's version_id differs from its previous_version_id",
        ),
        ..Op::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared schemas.

/// Every IANA zone the server accepts for policy windows.
fn time_zones() -> Value {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| Value::String(tz.name().to_owned()))
        .collect()
}

fn components() -> Value {
    let role = json!({ "type": "string", "enum": crate::control::Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>() });
    let status = json!({ "type": "string", "enum": crate::control::lifecycle::DeploymentStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() });
    let error_codes: Vec<Value> = crate::api::ErrorCode::ALL
        .iter()
        .map(|c| json!(c))
        .collect();
    let check = open(
        &["ok"],
        json!({
            "ok": { "type": "boolean" }, "error": text(), "schema_version": text(),
            "written_at": millis(), "wrote": { "type": "boolean" },
        }),
    );
    let claim = json!({
        "holder_id": text(), "actor": text(), "purpose": text(), "lease_ms": { "type": "integer" },
        "owner": { "type": "string", "description": "`token:<id>` of the token that acquired it (empty for entries stored before owners were recorded); only it may renew, release or cancel the entry" },
    });
    let mut lease = claim.clone();
    lease["acquired_at_ms"] = millis();
    lease["lease_until_ms"] = millis();
    let mut waiter = claim;
    waiter["queued_at_ms"] = millis();
    waiter["last_seen_ms"] = nullable(
        json!({ "type": "integer", "format": "int64", "description": "when the waiter last acquired again (a sign of life); a waiter silent for longer than its lease is dropped when its turn comes" }),
    );
    let mut schemas = Map::new();
    schemas.insert(
        "Error".into(),
        closed(
            &["error"],
            json!({ "error": closed(&["code", "message", "hint"], json!({
            "code": { "type": "string", "enum": error_codes },
            "message": text(),
            "hint": nullable(text()),
        })) }),
        ),
    );
    schemas.insert("Role".into(), role);
    schemas.insert("DeploymentStatus".into(), status);
    schemas.insert("Readiness".into(), open(&["status", "checks"], json!({
            "status": { "type": "string", "enum": ["ready", "not_ready"] },
            "checks": open(&["d1", "deploy_lock", "rollout"], json!({ "d1": check.clone(), "deploy_lock": check.clone(), "rollout": check })),
        })));
    schemas.insert("TeamCreated".into(), open(&["team", "member", "token", "actor"], json!({
            "team": open(&["id", "slug", "name"], json!({ "id": text(), "slug": text(), "name": text() })),
            "member": open(&["id", "email", "role"], json!({ "id": text(), "email": text(), "role": sref("Role") })),
            "token": open(&["id", "role", "secret"], json!({ "id": text(), "role": sref("Role"), "secret": text(), "note": text() })),
            "actor": text(),
        })));
    schemas.insert("Token".into(), open(&["id", "name", "prefix", "role", "member_email", "created_at", "expires_at", "revoked_at", "last_used_at"], json!({
            "id": text(), "name": text(), "prefix": text(), "role": sref("Role"), "member_email": nullable(text()),
            "created_at": millis(), "expires_at": nullable(millis()), "revoked_at": nullable(millis()), "last_used_at": nullable(millis()),
        })));
    schemas.insert("Member".into(), open(&["id", "email", "name", "role", "created_at"], json!({
            "id": text(), "email": text(), "name": nullable(text()), "role": sref("Role"), "created_at": millis(),
        })));
    schemas.insert("Project".into(), open(&["id", "slug", "name", "repository", "created_at"], json!({
            "id": text(), "slug": text(), "name": text(), "repository": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Service".into(), open(&["id", "name", "config_path", "config_text", "created_at"], json!({
            "id": text(), "name": text(), "config_path": text(), "config_text": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Environment".into(), open(&["id", "name", "cloudflare_account_id", "created_at"], json!({
            "id": text(), "name": text(), "cloudflare_account_id": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Policy".into(), closed(&[], json!({
            "required_approvals": { "type": "integer", "minimum": 0, "maximum": crate::control::policy::MAX_REQUIRED_APPROVALS },
            "branches": { "type": "array", "maxItems": 50, "items": string(1, 200), "description": "globs: `*` within a segment, `**` across `/`, `?` one character" },
            "windows": { "type": "array", "maxItems": 50, "items": sref("Window") },
            "freezes": { "type": "array", "maxItems": 50, "items": sref("Freeze") },
        })));
    schemas.insert("Window".into(), closed(&["days", "start", "end", "timezone"], json!({
            "days": { "type": "array", "minItems": 1, "items": { "type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] } },
            "start": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "local HH:MM, inclusive" },
            "end": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "local HH:MM, exclusive, after start" },
            "timezone": { "type": "string", "enum": time_zones() },
        })));
    schemas.insert("Freeze".into(), closed(&["starts_at", "ends_at", "reason"], json!({
            "starts_at": { "type": "string", "format": "date-time" },
            "ends_at": { "type": "string", "format": "date-time", "description": "after starts_at" },
            "reason": string(0, 500),
        })));
    schemas.insert(
        "Lease".into(),
        open(
            &[
                "holder_id",
                "actor",
                "purpose",
                "lease_ms",
                "acquired_at_ms",
                "lease_until_ms",
                "owner",
            ],
            lease,
        ),
    );
    schemas.insert(
        "Waiter".into(),
        open(
            &[
                "holder_id",
                "actor",
                "purpose",
                "lease_ms",
                "queued_at_ms",
                "owner",
                "last_seen_ms",
            ],
            waiter,
        ),
    );
    schemas.insert("LockInfo".into(), open(&["held", "holder", "queue"], json!({
            "held": { "type": "boolean" }, "holder": nullable(sref("Lease")), "queue": { "type": "array", "items": sref("Waiter") },
        })));
    schemas.insert("AcquireOutcome".into(), json!({ "oneOf": [
            open(&["outcome", "lease"], json!({ "outcome": { "type": "string", "enum": ["granted"] }, "lease": sref("Lease") })),
            open(&["outcome", "position", "holder"], json!({ "outcome": { "type": "string", "enum": ["queued"] }, "position": { "type": "integer", "minimum": 1 }, "holder": sref("Lease") })),
        ] }));
    schemas.insert("Deployment".into(), open(&["id", "project_id", "environment_id", "project", "environment", "status", "strategy", "requested_by", "requested_by_member", "git_ref", "git_sha", "message", "required_approvals", "override_reason", "overridden_rules", "created_at", "started_at", "finished_at"], json!({
            "id": text(), "project_id": text(), "environment_id": text(), "project": text(), "environment": text(),
            "status": sref("DeploymentStatus"), "strategy": { "type": "string", "enum": ["immediate", "gradual", "blue-green"] },
            "requested_by": text(),
            "requested_by_member": nullable(json!({ "type": "string", "description": "the accountable person (lower-cased email) approvals are compared against" })),
            "git_ref": nullable(text()), "git_sha": nullable(text()), "message": nullable(text()),
            "required_approvals": { "type": "integer" }, "override_reason": nullable(text()),
            "overridden_rules": { "description": "the policy violations an emergency override let through, or null" },
            "created_at": millis(), "started_at": nullable(millis()), "finished_at": nullable(millis()),
        })));
    schemas.insert(
        "DeploymentEvent".into(),
        open(
            &["id", "at", "kind", "from_status", "to_status", "detail"],
            json!({
                "id": { "type": "integer" }, "at": millis(), "kind": text(),
                "from_status": nullable(text()), "to_status": nullable(text()), "detail": {},
            }),
        ),
    );
    schemas.insert("Approval".into(), open(&["id", "actor", "role", "comment", "created_at"], json!({
            "id": text(), "actor": text(), "role": sref("Role"), "comment": nullable(text()), "created_at": millis(),
        })));
    schemas.insert("Credential".into(), open(&["id", "account_id", "name", "created_by", "created_at"], json!({
            "id": text(), "account_id": text(), "name": text(), "created_by": text(), "created_at": millis(),
        })));
    schemas.insert(
        "AuditEntry".into(),
        open(
            &[
                "id",
                "at",
                "actor",
                "action",
                "target_type",
                "target_id",
                "before",
                "after",
            ],
            json!({
                "id": { "type": "integer" }, "at": millis(), "actor": text(), "action": text(),
                "target_type": text(), "target_id": text(), "before": {}, "after": {},
            }),
        ),
    );
    schemas.insert("Assessment".into(), open(&["id", "account_id", "env", "config_file", "created_by", "created_at", "report"], json!({
            "id": text(), "account_id": nullable(text()), "env": nullable(text()), "config_file": text(),
            "created_by": text(), "created_at": millis(),
            "report": sref("Report"),
        })));
    let strategy = json!({ "type": "string", "enum": ["immediate", "gradual", "blue-green"] });
    let kinds: Vec<&str> = crate::assess::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    schemas.insert("Report".into(), open(&["ready", "findings", "unverified", "checked", "duration_ms", "api_calls", "capabilities", "services"], json!({
            "ready": { "type": "boolean", "description": "false when any finding is an error, or a check could not be made (unverified) and that was not explicitly allowed" },
            "findings": { "type": "array", "items": open(&["kind", "severity", "message", "fix"], json!({
                "kind": { "type": "string", "enum": kinds },
                "severity": { "type": "string", "enum": ["error", "warning", "info"] },
                "message": text(), "fix": text(), "service": text(), "env": text(),
                "location": open(&["file"], json!({ "file": text(), "line": { "type": "integer" }, "column": { "type": "integer" }, "key_path": text() })),
                "unverified": { "type": "boolean", "description": "present (true) when the check behind it could not be made" },
            })) },
            "unverified": { "type": "integer", "minimum": 0, "description": "how many findings are checks that could not be made" },
            "inconclusive_allowed": { "type": "boolean", "description": "present (true) when ready was granted although checks are unverified" },
            "write_access": open(&["state", "needed", "missing"], json!({
                "state": { "type": "string", "enum": ["verified", "missing", "unverified"] },
                "needed": { "type": "array", "items": text() },
                "missing": { "type": "array", "items": text() },
                "reason": text(),
            })),
            "checked": { "type": "object", "additionalProperties": { "type": "integer" } },
            "duration_ms": { "type": "integer" },
            "api_calls": { "type": "integer" },
            "capabilities": { "type": "object", "additionalProperties": { "type": ["boolean", "null"] } },
            "services": { "type": "array", "items": text() },
            "env": text(),
        })));
    schemas.insert("RolloutStatus".into(), open(&["deployment_id", "strategy", "phase", "steps", "step", "step_applied", "traffic_percent", "reason", "lock_lost", "services", "analysis", "started_at", "finished_at", "next_action_at", "recorded", "log"], json!({
            "deployment_id": text(),
            "strategy": strategy,
            "phase": { "type": "string", "enum": ["running", "paused", "rolling_back", "succeeded", "rolled_back", "failed"] },
            "steps": { "type": "array", "items": { "type": "number" } },
            "step": { "type": "integer", "minimum": 0 },
            "step_applied": { "type": "boolean" },
            "traffic_percent": { "type": ["number", "null"], "description": "of the new versions" },
            "reason": nullable(text()),
            "lock_lost": { "type": "boolean", "description": "the deployment no longer holds its environment's lock: the rollout paused without moving traffic further" },
            "services": { "type": "array", "items": open(&["service", "script", "previous_version", "new_version", "already_live"], json!({
                "service": text(), "script": text(), "previous_version": nullable(text()), "new_version": text(), "already_live": { "type": "boolean" },
            })) },
            "analysis": { "type": "array", "items": open(&["name", "metric", "successful", "failed", "inconclusive", "last_value", "failure_limit", "inconclusive_limit"], json!({
                "name": text(), "metric": metric_name(), "successful": { "type": "integer" }, "failed": { "type": "integer" },
                "inconclusive": { "type": "integer" }, "last_value": { "type": ["number", "null"] },
                "failure_limit": { "type": "integer" }, "inconclusive_limit": { "type": "integer" },
            })) },
            "started_at": millis(),
            "finished_at": nullable(millis()),
            "next_action_at": nullable(millis()),
            "recorded": { "type": "boolean", "description": "the deployment's final status is written" },
            "log": { "type": "array", "items": open(&["seq", "at_ms", "kind", "message"], json!({
                "seq": { "type": "integer" }, "at_ms": millis(), "kind": text(), "message": text(),
            })) },
        })));
    Value::Object(schemas)
}

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

fn operation(route: &Route) -> Value {
    let op = (route.op)();
    let mut responses = Map::new();
    let success = match (&op.ok_body, op.ok) {
        (_, 101) => {
            json!({ "description": "switching protocols: a WebSocket of RolloutStatus messages" })
        }
        (None, _) => json!({ "description": "done; no body" }),
        (Some(schema), _) => {
            let mut content = Map::new();
            content.insert("application/json".into(), json!({ "schema": schema }));
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
            sref("Error")
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
        out["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": body } } });
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

/// The OpenAPI 3.1 document.
#[must_use]
pub fn document(version: &str) -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[route.method] = operation(route);
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
            "schemas": components(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (method, path) pairs registered with `.route("path", get(..).post(..))` in the Worker's
    /// router sources.
    fn registered_routes() -> BTreeSet<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/worker");
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for chunk in text.split(".route(").skip(1) {
                let Some(path) = chunk.split('"').nth(1) else {
                    continue;
                };
                // The route call's own arguments: up to the `)` closing `.route(`.
                let mut depth = 1usize;
                let end = chunk
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(chunk.len(), |(i, _)| i);
                let body = &chunk[..end];
                for method in ["get", "post", "put", "delete", "patch"] {
                    let needle = format!("{method}(");
                    let hit = body.match_indices(&needle).any(|(i, _)| {
                        i == 0
                            || !body.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && body.as_bytes()[i - 1] != b'_'
                    });
                    if hit {
                        out.insert((method.to_owned(), path.to_owned()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_in_the_spec_and_every_spec_route_is_served() {
        let served = registered_routes();
        let spec: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        let missing: Vec<_> = served.difference(&spec).collect();
        let stale: Vec<_> = spec.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "routes served but not in openapi::ROUTES: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "routes in openapi::ROUTES that are not served: {stale:?}"
        );
    }

    #[test]
    fn document_is_openapi_3_1_with_path_params() {
        let doc = document("0.1.0");
        assert_eq!(doc["openapi"], "3.1.0");
        let op = &doc["paths"]["/api/v1/deployments/{deployment_id}"]["get"];
        assert_eq!(op["parameters"][0]["name"], "deployment_id");
        assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
        let count: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_object().unwrap().len())
            .sum();
        assert_eq!(count, ROUTES.len());
    }

    /// Every `"$ref"` string anywhere in `v`.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    match (k.as_str(), child) {
                        ("$ref", Value::String(target)) => out.push(target.clone()),
                        _ => refs(child, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_to_a_component() {
        let doc = document("0.1.0");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50, "{}", found.len());
        for target in found {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external $ref {target}"));
            assert!(
                doc.pointer(pointer).is_some(),
                "$ref {target} does not resolve"
            );
        }
    }

    #[test]
    fn every_operation_declares_its_success_and_the_shared_error_statuses() {
        let doc = document("0.1.0");
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method];
            let responses = op["responses"].as_object().unwrap();
            let declared: BTreeSet<u16> = responses.keys().map(|k| k.parse().unwrap()).collect();
            let name = format!("{} {}", route.method, route.path);
            assert!(!declared.contains(&0), "{name}");
            assert!(
                declared.iter().any(|s| (100..300).contains(s)),
                "{name}: no success status"
            );
            for status in [500, 503] {
                assert!(declared.contains(&status), "{name}: no {status}");
            }
            if route.role.is_some() {
                assert!(declared.is_superset(&BTreeSet::from([401, 403])), "{name}");
                assert_eq!(op["security"], json!([{ "bearer": [] }]), "{name}");
            }
            if op.get("requestBody").is_some() {
                assert!(
                    declared.is_superset(&BTreeSet::from([400, 413, 415])),
                    "{name}"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert!(
                        schema == "#/components/schemas/Error"
                            || (route.path == "/readyz" && status == "503"),
                        "{name} {status}: errors use the Error schema"
                    );
                }
            }
        }
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_like_the_server() {
        let doc = document("0.1.0");
        // Every body is closed (the rollout start's too: only its settings, no account,
        // Workers or versions).
        let open_bodies: [&str; 0] = [];
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method];
            let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
                continue;
            };
            let schema = match schema.get("$ref").and_then(Value::as_str) {
                Some(target) => doc.pointer(target.strip_prefix('#').unwrap()).unwrap(),
                None => schema,
            };
            let closed = schema["additionalProperties"] == json!(false);
            assert_eq!(
                closed,
                !open_bodies.contains(&route.path),
                "{} {}",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn enums_list_what_the_server_parses() {
        let doc = document("0.1.0");
        let schemas = &doc["components"]["schemas"];
        for role in crate::control::Role::ALL {
            assert!(schemas["Role"]["enum"]
                .as_array()
                .unwrap()
                .contains(&json!(role.as_str())));
        }
        let zones = schemas["Window"]["properties"]["timezone"]["enum"]
            .as_array()
            .unwrap();
        assert!(zones.contains(&json!("Europe/Berlin")));
        let codes = schemas["Error"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap();
        assert!(codes.contains(&json!("not_found")));
        let command = &doc["paths"]["/api/v1/deployments/{deployment_id}/rollout/{command}"]
            ["post"]["parameters"][1]["schema"]["enum"];
        for c in ["pause", "resume", "promote", "abort"] {
            assert!(crate::rollout::Command::parse(c).is_some());
            assert!(command.as_array().unwrap().contains(&json!(c)), "{c}");
        }
    }
}
