//! The API's route table and the OpenAPI 3.1 document built from it (`GET /api/v1/openapi.json`).
//! A test reads the Worker's router source and checks that every registered route is listed
//! here and every listed route is registered, so the spec cannot drift from the code.

use serde_json::{json, Map, Value};

/// One operation: method, axum path (`{param}` as in OpenAPI), summary, least role (`None`
/// when no team token is needed).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub role: Option<&'static str>,
}

const fn r(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    role: Option<&'static str>,
) -> Route {
    Route {
        method,
        path,
        summary,
        role,
    }
}

/// Every route the Worker serves.
pub const ROUTES: &[Route] = &[
    r("get", "/healthz", "Liveness: the isolate is up", None),
    r(
        "get",
        "/readyz",
        "Readiness: D1 and both Durable Objects answer",
        None,
    ),
    r(
        "get",
        "/api/v1/version",
        "Build version and applied schema",
        None,
    ),
    r("get", "/api/v1/openapi.json", "This document", None),
    r(
        "post",
        "/api/v1/bootstrap",
        "Create the first team and its admin token (bootstrap secret, once)",
        None,
    ),
    r(
        "post",
        "/api/v1/teams",
        "Create another team with an admin token (bootstrap secret)",
        None,
    ),
    r(
        "get",
        "/api/v1/me",
        "The calling token's team, role and actor",
        Some("viewer"),
    ),
    r(
        "get",
        "/api/v1/tokens",
        "List the team's API tokens (never their secrets)",
        Some("admin"),
    ),
    r(
        "post",
        "/api/v1/tokens",
        "Create an API token; the secret is shown once",
        Some("admin"),
    ),
    r(
        "delete",
        "/api/v1/tokens/{token_id}",
        "Revoke an API token",
        Some("admin"),
    ),
    r("get", "/api/v1/members", "List members", Some("viewer")),
    r("post", "/api/v1/members", "Add a member", Some("admin")),
    r(
        "delete",
        "/api/v1/members/{member_id}",
        "Remove a member and revoke their tokens",
        Some("admin"),
    ),
    r("get", "/api/v1/projects", "List projects", Some("viewer")),
    r(
        "post",
        "/api/v1/projects",
        "Create a project",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/projects/{project}",
        "One project with its services and environments",
        Some("viewer"),
    ),
    r(
        "get",
        "/api/v1/projects/{project}/services",
        "List services",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/services",
        "Add a service (a Worker and its wrangler config)",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments",
        "List environments",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments",
        "Add an environment",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/policy",
        "The environment's policy",
        Some("viewer"),
    ),
    r(
        "put",
        "/api/v1/projects/{project}/environments/{environment}/policy",
        "Replace the environment's policy",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/lock",
        "Lock holder, lease and queue",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/acquire",
        "Acquire or queue for the lock",
        Some("deployer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/heartbeat",
        "Extend the holder's lease",
        Some("deployer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/release",
        "Release the lock (holder only)",
        Some("deployer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/cancel",
        "Leave the queue",
        Some("deployer"),
    ),
    r(
        "post",
        "/api/v1/projects/{project}/environments/{environment}/lock/force-unlock",
        "Break the lock (audited)",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/deployments",
        "Deployment history, newest first (cursor paginated)",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/deployments",
        "Request a deployment: policy checks, then awaiting_approval or queued",
        Some("deployer"),
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}",
        "One deployment with its events and approvals",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/transitions",
        "Move a deployment along its lifecycle",
        Some("deployer"),
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/approvals",
        "Approvals of a deployment",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/approvals",
        "Approve a deployment, with a comment",
        Some("approver"),
    ),
    r(
        "get",
        "/api/v1/credentials",
        "Cloudflare credentials (metadata only, never the secret)",
        Some("admin"),
    ),
    r(
        "post",
        "/api/v1/credentials",
        "Store a Cloudflare API token, encrypted",
        Some("admin"),
    ),
    r(
        "delete",
        "/api/v1/credentials/{credential_id}",
        "Delete a stored credential",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/audit",
        "Audit log: JSON page, or export as JSON lines or CSV",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/assessments",
        "Gap analysis of a wrangler config against the account of a project environment; stores the report",
        Some("deployer"),
    ),
    r(
        "get",
        "/api/v1/assessments/{assessment_id}",
        "A stored assessment report",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/rollout",
        "Start the rollout of a verifying deployment's uploaded versions (its Rollout Durable Object drives it)",
        Some("deployer"),
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/rollout",
        "Live status of a deployment's rollout: phase, step, traffic, analysis tallies, log",
        Some("viewer"),
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/rollout/live",
        "WebSocket: the rollout's status now and after every change; closed when it has ended",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/rollout/{command}",
        "Steer a rollout: command is pause, resume, promote (100% now) or abort (roll every service back)",
        Some("deployer"),
    ),
    // Rollout authority (issue 11): environment accounts, registered Workers, recorded uploads.
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}",
        "An environment with the Cloudflare account it is bound to",
        Some("viewer"),
    ),
    r(
        "patch",
        "/api/v1/projects/{project}/environments/{environment}",
        "Bind the environment to its Cloudflare account (audited)",
        Some("admin"),
    ),
    r(
        "get",
        "/api/v1/projects/{project}/environments/{environment}/services",
        "The Worker each registered service is in this environment",
        Some("viewer"),
    ),
    r(
        "put",
        "/api/v1/projects/{project}/environments/{environment}/services/{service}",
        "Register the service's Worker for the environment (admin; a deployer may repeat what is registered)",
        Some("deployer"),
    ),
    r(
        "get",
        "/api/v1/deployments/{deployment_id}/services",
        "The versions a deployment recorded as uploaded",
        Some("viewer"),
    ),
    r(
        "post",
        "/api/v1/deployments/{deployment_id}/services",
        "Record uploaded versions (deploying, lock held; each checked with Cloudflare in the environment's account)",
        Some("deployer"),
    ),
];

fn params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

/// The OpenAPI 3.1 document.
#[must_use]
pub fn document(version: &str) -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        let mut op = json!({
            "summary": route.summary,
            "operationId": format!("{}{}", route.method, route.path.replace(['/', '{', '}', '.', '-'], "_")),
            "responses": {
                "200": { "description": "success", "content": { "application/json": {} } },
                "default": { "description": "error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        let p = params(route.path);
        if !p.is_empty() {
            op["parameters"] = Value::Array(p);
        }
        match route.role {
            Some(role) => {
                op["security"] = json!([{ "bearer": [] }]);
                op["x-clodo-min-role"] = json!(role);
            }
            None => op["security"] = json!([]),
        }
        if route.method == "post" || route.method == "put" {
            op["requestBody"] = json!({ "required": false, "content": { "application/json": { "schema": { "type": "object" } } } });
        }
        item[route.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Clodo control plane", "version": version },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "`clodo_…` API token" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "object", "properties": {
                        "code": { "type": "string" }, "message": { "type": "string" }, "hint": { "type": ["string", "null"] }
                    } } }
                }
            }
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
}
