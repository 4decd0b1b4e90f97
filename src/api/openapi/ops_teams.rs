//! OpenAPI operations of teams, tokens, members, projects, services, environments, policies,
//! credentials and the audit log.

use schemars::SchemaGenerator;
use serde_json::{json, Value};

use super::schema::*;
use super::Op;

pub(super) fn new_team() -> Value {
    closed(
        &["slug", "name", "admin_email"],
        json!({ "slug": slug(), "name": string(1, 200), "admin_email": email() }),
    )
}

pub(super) fn op_bootstrap(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(new_team()),
        ok: 201,
        ok_body: Some(sref("TeamCreated")),
        errors: &[409],
        bootstrap_secret: true,
        ..Op::default()
    }
}

pub(super) fn op_create_team(_g: &mut SchemaGenerator) -> Op {
    Op {
        body: Some(new_team()),
        ok: 201,
        ok_body: Some(sref("TeamCreated")),
        errors: &[409],
        bootstrap_secret: true,
        ..Op::default()
    }
}

pub(super) fn op_me(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["team_id", "token_id", "actor", "role"],
            json!({ "team_id": text(), "token_id": text(), "actor": text(), "role": sref("Role") }),
        )),
        ..Op::default()
    }
}

pub(super) fn op_list_tokens(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Token"))),
        ..Op::default()
    }
}

pub(super) fn op_create_token(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_revoke_token(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(open(
            &["id", "revoked_at"],
            json!({ "id": text(), "revoked_at": millis() }),
        )),
        ..Op::default()
    }
}

pub(super) fn op_list_members(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Member"))),
        ..Op::default()
    }
}

pub(super) fn op_add_member(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_remove_member(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_list_projects(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Project"))),
        ..Op::default()
    }
}

pub(super) fn op_create_project(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_get_project(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_list_services(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Service"))),
        ..Op::default()
    }
}

pub(super) fn op_create_service(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_list_environments(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Environment"))),
        ..Op::default()
    }
}

pub(super) fn op_create_environment(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_get_policy(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Policy")),
        ..Op::default()
    }
}

pub(super) fn op_put_policy(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_list_credentials(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(sref("Credential"))),
        ..Op::default()
    }
}

pub(super) fn op_create_credential(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_delete_credential(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 204,
        ok_body: None,
        ..Op::default()
    }
}

pub(super) fn op_audit(_g: &mut SchemaGenerator) -> Op {
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

pub(super) fn op_get_environment(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(sref("Environment")),
        ..Op::default()
    }
}

pub(super) fn op_update_environment(_g: &mut SchemaGenerator) -> Op {
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
pub(super) fn script_name() -> Value {
    json!({ "type": "string", "pattern": "^[a-z0-9_-]{1,63}$" })
}

pub(super) fn op_list_service_scripts(_g: &mut SchemaGenerator) -> Op {
    Op {
        ok: 200,
        ok_body: Some(list_of(open(
            &["service", "script", "updated_by", "updated_at"],
            json!({ "service": slug(), "script": script_name(), "updated_by": text(), "updated_at": millis() }),
        ))),
        ..Op::default()
    }
}

pub(super) fn op_put_service_script(_g: &mut SchemaGenerator) -> Op {
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
