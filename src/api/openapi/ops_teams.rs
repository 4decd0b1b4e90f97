//! OpenAPI operations of teams, tokens, members, projects, services, environments, policies,
//! credentials and the audit log. Bodies and answers are the contract types of
//! `api::contract::{teams, audit}`; their schemas (with the request constraints) are generated.

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Value};

use super::schema::*;
use super::Op;
use crate::api::contract::audit::{AuditPage, ExportFormat};
use crate::api::contract::teams::*;

/// `T`'s schema as a `$ref` into the components (the generator adds `T` there).
pub(super) fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

pub(super) fn op_bootstrap(g: &mut SchemaGenerator) -> Op {
    Op {
        bootstrap_secret: true,
        ..creates::<NewTeam, TeamCreated>(g)
    }
}

pub(super) fn op_create_team(g: &mut SchemaGenerator) -> Op {
    op_bootstrap(g)
}

pub(super) fn op_me(g: &mut SchemaGenerator) -> Op {
    answers::<Me>(g)
}

/// An operation without a body that answers `T` with 200.
pub(super) fn answers<T: JsonSchema>(g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(schema_of::<T>(g)),
        ..Op::default()
    }
}

/// An operation creating something: body `B`, 201 with `T`, 409 when it exists.
fn creates<B: JsonSchema, T: JsonSchema>(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(schema_of::<B>(g)),
        ok: 201,
        errors: &[409],
        ..answers::<T>(g)
    }
}

pub(super) fn op_list_tokens(g: &mut SchemaGenerator) -> Op {
    answers::<Items<Token>>(g)
}

pub(super) fn op_create_token(g: &mut SchemaGenerator) -> Op {
    Op {
        errors: &[404, 409],
        ..creates::<NewToken, TokenCreated>(g)
    }
}

pub(super) fn op_revoke_token(g: &mut SchemaGenerator) -> Op {
    answers::<TokenRevoked>(g)
}

pub(super) fn op_list_members(g: &mut SchemaGenerator) -> Op {
    answers::<Items<Member>>(g)
}

pub(super) fn op_add_member(g: &mut SchemaGenerator) -> Op {
    creates::<NewMember, Member>(g)
}

pub(super) fn op_remove_member(g: &mut SchemaGenerator) -> Op {
    Op {
        // 400: an admin removing themselves; 409: the team's last admin.
        errors: &[400, 409],
        ..answers::<MemberRemoved>(g)
    }
}

pub(super) fn op_list_projects(g: &mut SchemaGenerator) -> Op {
    answers::<Items<Project>>(g)
}

pub(super) fn op_create_project(g: &mut SchemaGenerator) -> Op {
    creates::<NewProject, Project>(g)
}

pub(super) fn op_get_project(g: &mut SchemaGenerator) -> Op {
    answers::<ProjectDetail>(g)
}

pub(super) fn op_list_services(g: &mut SchemaGenerator) -> Op {
    answers::<Items<Service>>(g)
}

pub(super) fn op_create_service(g: &mut SchemaGenerator) -> Op {
    creates::<NewService, Service>(g)
}

pub(super) fn op_list_environments(g: &mut SchemaGenerator) -> Op {
    answers::<Items<Environment>>(g)
}

pub(super) fn op_create_environment(g: &mut SchemaGenerator) -> Op {
    creates::<NewEnvironment, Environment>(g)
}

pub(super) fn op_get_environment(g: &mut SchemaGenerator) -> Op {
    answers::<Environment>(g)
}

pub(super) fn op_update_environment(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(schema_of::<EnvironmentChange>(g)),
        ..answers::<Environment>(g)
    }
}

pub(super) fn op_list_service_scripts(g: &mut SchemaGenerator) -> Op {
    answers::<Items<ServiceScript>>(g)
}

pub(super) fn op_list_shipped(g: &mut SchemaGenerator) -> Op {
    answers::<Items<crate::api::contract::deployments::ShippedDeployment>>(g)
}

pub(super) fn op_put_service_script(g: &mut SchemaGenerator) -> Op {
    Op {
        path_schemas: vec![("service", slug())],
        body: Some(schema_of::<ServiceScriptChange>(g)),
        // 403 (shared): a deployer naming a Worker other than the registered one.
        errors: &[409],
        ..answers::<ServiceScriptSet>(g)
    }
}

pub(super) fn op_get_policy(g: &mut SchemaGenerator) -> Op {
    answers::<Policy>(g)
}

pub(super) fn op_put_policy(g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(schema_of::<Policy>(g)),
        cross_field_rules: Some(
            "a window's start is before its end; a freeze's starts_at is before its ends_at",
        ),
        ..answers::<Policy>(g)
    }
}

pub(super) fn op_list_credentials(g: &mut SchemaGenerator) -> Op {
    answers::<Items<Credential>>(g)
}

pub(super) fn op_create_credential(g: &mut SchemaGenerator) -> Op {
    creates::<NewCredential, Credential>(g)
}

pub(super) fn op_delete_credential(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 204,
        ok_body: None,
        ..Op::default()
    }
}

pub(super) fn op_reencrypt(g: &mut SchemaGenerator) -> Op {
    Op {
        bootstrap_secret: true,
        ..answers::<ReencryptReport>(g)
    }
}

pub(super) fn op_audit(g: &mut SchemaGenerator) -> Op {
    Op {
        query: vec![
            query(
                "format",
                schema_of::<ExportFormat>(g),
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
        ..answers::<AuditPage>(g)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::super::{components, contract_schemas, document, Route, ROUTES};

    /// The routes of teams, tokens, members, projects, services, environments, policies,
    /// credentials, the audit log, the meta routes (`ops_teams`, `ops_meta`) and, through the
    /// `/api/v1/me` prefix, the metrics (`/api/v1/metrics/…`), except the document itself
    /// (OpenAPI's own shape).
    fn control_routes() -> impl Iterator<Item = &'static Route> {
        const PREFIXES: [&str; 11] = [
            "/api/v1/bootstrap",
            "/api/v1/teams",
            "/api/v1/me",
            "/api/v1/tokens",
            "/api/v1/members",
            "/api/v1/projects",
            "/api/v1/credentials",
            "/api/v1/audit",
            "/api/v1/channels",
            "/api/v1/deliveries",
            "/api/v1/access",
        ];
        ROUTES.iter().filter(|r| {
            ["/healthz", "/readyz", "/api/v1/version"].contains(&r.path)
                || PREFIXES.iter().any(|p| r.path.starts_with(p)) && !r.path.contains("/lock")
        })
    }

    #[test]
    fn control_routes_take_their_schemas_from_contract_types() {
        // What schemars generated for the operations (`$ref` targets of contract types), as
        // opposed to the hand-written components.
        let mut generator = contract_schemas();
        for route in ROUTES {
            (route.op)(&mut generator);
        }
        let _ = generator.subschema_for::<crate::api::ErrorBody>();
        let generated: BTreeSet<String> =
            generator.take_definitions(true).keys().cloned().collect();
        let hand_written = components();
        let from_contract = |schema: &Value, what: &str| {
            let target = schema["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: not a $ref to a contract type: {schema}"));
            let name = target.strip_prefix("#/components/schemas/").unwrap();
            assert!(generated.contains(name), "{what}: {name} is not generated");
            assert!(
                hand_written.get(name).is_none(),
                "{what}: {name} is hand-written"
            );
        };
        let doc = document("0.1.0");
        let mut count = 0;
        for route in control_routes() {
            let op = &doc["paths"][route.path][route.method];
            let name = format!("{} {}", route.method, route.path);
            for (status, response) in op["responses"].as_object().unwrap() {
                if let Some(schema) = response.pointer("/content/application~1json/schema") {
                    from_contract(schema, &format!("{name} {status}"));
                }
            }
            if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
                from_contract(schema, &format!("{name} body"));
            }
            count += 1;
        }
        assert_eq!(count, 53, "the control routes");
        assert!(generated.contains("Error") && generated.contains("Role"));
    }
}
