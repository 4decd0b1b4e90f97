//! Workers endpoints under `/accounts/{a}/workers/...`: scripts, uploads, versions, deployments,
//! secrets, settings, routes, custom domains, subdomains, schedules and Durable Object namespaces.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{account_scope, check_route_free, no_route, pattern_host, ApiRequest, Reply};
use super::auth::{Access, Product};
use super::error::SandboxError;
use super::multipart;
use super::pagination::{page_request, paginate};
use super::state::{
    hex_id, now_rfc3339, uuid_id, zone_for_hostname, CustomDomain, Deployment, DeploymentVersion,
    DurableObjectNamespace, Module, Schedule, Script, Secret, State, Store, Token, Version,
    WorkerRoute,
};

/// Script uploads are bundles of modules; Cloudflare's paid limit is in this range.
pub const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// Versions a deployment or rollback may target: the 100 most recent.
const DEPLOYABLE_VERSIONS: usize = 100;

pub fn script_not_found() -> SandboxError {
    SandboxError::not_found(10007, "This Worker does not exist on your account.")
}

pub async fn handle(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    rest: &[&str],
) -> Result<Reply, SandboxError> {
    let read = |st: &State, product| account_scope(st, t, req, a, product, Access::Read);
    match (req.method.as_str(), rest) {
        ("GET", ["scripts"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            let scripts: Vec<Value> = st
                .scripts
                .iter()
                .filter(|s| s.account_id == a)
                .map(|s| script_json(&st, s))
                .collect();
            Ok(Reply::ok(Value::Array(scripts)))
        }
        ("GET", ["scripts", s]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            script_content(find_script(&st, a, s)?)
        }
        ("GET", ["scripts", s, "content", "v2"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            script_content_v2(find_script(&st, a, s)?, req)
        }
        ("PUT", ["scripts", s]) => upload_and_deploy(store, t, req, a, s).await,
        ("DELETE", ["scripts", s]) => delete_script(store, t, req, a, s).await,
        ("GET", ["scripts", s, "settings"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            Ok(Reply::ok(settings_json(find_script(&st, a, s)?)))
        }
        ("GET", ["scripts", s, "script-settings"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            Ok(Reply::ok(script_settings_json(find_script(&st, a, s)?)))
        }
        ("PATCH", ["scripts", s, "script-settings"]) => {
            patch_script_settings(store, t, req, a, s).await
        }
        ("GET", ["scripts", s, "secrets"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            let secrets = &find_script(&st, a, s)?.secrets;
            Ok(Reply::ok(json!(secrets)))
        }
        ("GET", ["scripts", s, "secrets", name]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            find_script(&st, a, s)?
                .secrets
                .iter()
                .find(|x| x.name == *name)
                .map(|x| Reply::ok(json!(x)))
                .ok_or_else(|| secret_not_found(name))
        }
        ("PUT", ["scripts", s, "secrets"]) => put_secret(store, t, req, a, s).await,
        ("DELETE", ["scripts", s, "secrets", name]) => {
            delete_secret(store, t, req, a, s, name).await
        }
        ("PATCH", ["scripts", s, "secrets-bulk"]) => patch_secrets_bulk(store, t, req, a, s).await,
        ("PATCH", ["workers", s, "versions", "latest"]) => {
            patch_latest_version(store, t, req, a, s).await
        }
        ("GET", ["scripts", s, "versions"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            list_versions(find_script(&st, a, s)?, req)
        }
        ("POST", ["scripts", s, "versions"]) => upload_version(store, t, req, a, s).await,
        ("GET", ["scripts", s, "versions", id]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            let script = find_script(&st, a, s)?;
            let version = script.version(id).ok_or_else(|| version_not_found(id))?;
            Ok(Reply::ok(version_json(script, version)))
        }
        ("GET", ["scripts", s, "deployments"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            let script = find_script(&st, a, s)?;
            let deployments: Vec<&Deployment> = script.deployments.iter().rev().collect();
            Ok(Reply::ok(json!({ "deployments": deployments })))
        }
        ("POST", ["scripts", s, "deployments"]) => create_deployment(store, t, req, a, s).await,
        ("GET", ["scripts", s, "deployments", id]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            find_script(&st, a, s)?
                .deployments
                .iter()
                .find(|d| d.id == *id)
                .map(|d| Reply::ok(json!(d)))
                .ok_or_else(|| deployment_not_found(id))
        }
        ("DELETE", ["scripts", s, "deployments", id]) => {
            delete_deployment(store, t, req, a, s, id).await
        }
        ("GET", ["scripts", s, "routes"]) => {
            let st = store.read().await;
            read(&st, Product::Routes)?;
            find_script(&st, a, s)?;
            Ok(Reply::ok(Value::Array(script_routes(&st, a, s))))
        }
        ("PUT", ["scripts", s, "routes"]) => put_script_routes(store, t, req, a, s).await,
        ("GET", ["scripts", s, "subdomain"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            let script = find_script(&st, a, s)?;
            Ok(Reply::ok(subdomain_json(script)))
        }
        ("POST", ["scripts", s, "subdomain"]) => post_script_subdomain(store, t, req, a, s).await,
        ("GET", ["scripts", s, "schedules"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            Ok(Reply::ok(
                json!({ "schedules": find_script(&st, a, s)?.schedules }),
            ))
        }
        ("PUT", ["scripts", s, "schedules"]) => put_schedules(store, t, req, a, s).await,
        ("POST", ["scripts", s, "domains", "changeset"]) => {
            let st = store.read().await;
            read(&st, Product::Routes)?;
            find_script(&st, a, s)?;
            domains_changeset(&st, req, a, s)
        }
        ("PUT", ["scripts", s, "domains", "records"]) => {
            put_domain_records(store, t, req, a, s).await
        }
        ("GET", ["services", s]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            Ok(Reply::ok(service_json(find_script(&st, a, s)?)))
        }
        ("GET", ["subdomain"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            st.account(a)
                .and_then(|acc| acc.workers_subdomain.clone())
                .map(|sub| Reply::ok(json!({ "subdomain": sub })))
                .ok_or_else(|| {
                    SandboxError::not_found(
                        10007,
                        "This account does not have a workers.dev subdomain.",
                    )
                })
        }
        ("GET", ["domains", "records"]) | ("GET", ["domains"]) => {
            let st = store.read().await;
            read(&st, Product::Routes)?;
            list_domains(&st, req, a, rest.len() == 2)
        }
        ("PUT", ["domains"]) => put_domain(store, t, req, a).await,
        ("GET", ["domains", id]) => {
            let st = store.read().await;
            read(&st, Product::Routes)?;
            st.custom_domains
                .iter()
                .find(|d| d.account_id == a && d.id == *id)
                .map(|d| Reply::ok(domain_json(d)))
                .ok_or_else(domain_not_found)
        }
        ("DELETE", ["domains", id]) => {
            store
                .mutate(|st| {
                    account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
                    let at = st
                        .custom_domains
                        .iter()
                        .position(|d| d.account_id == a && d.id == *id)
                        .ok_or_else(domain_not_found)?;
                    st.custom_domains.remove(at);
                    Ok(Reply::ok(Value::Null))
                })
                .await
        }
        ("GET", ["dispatch", "namespaces"]) => {
            let st = store.read().await;
            super::api::account_member(&st, t, req, a)?;
            let items: Vec<Value> = st
                .dispatch_namespaces
                .iter()
                .filter(|n| n.account_id == a)
                .map(dispatch_json)
                .collect();
            Ok(Reply::ok(Value::Array(items)))
        }
        ("GET", ["dispatch", "namespaces", name]) => {
            let st = store.read().await;
            super::api::account_member(&st, t, req, a)?;
            st.dispatch_namespaces
                .iter()
                .find(|n| n.account_id == a && n.namespace_name == *name)
                .map(|n| Reply::ok(dispatch_json(n)))
                .ok_or_else(|| {
                    SandboxError::not_found(
                        super::resources::UNVERIFIED_NOT_FOUND,
                        format!("Dispatch namespace {name} not found"),
                    )
                })
        }
        ("GET", ["durable_objects", "namespaces"]) => {
            let st = store.read().await;
            read(&st, Product::WorkersScripts)?;
            let items: Vec<Value> = st
                .durable_object_namespaces
                .iter()
                .filter(|n| n.account_id == a)
                .map(|n| json!({ "id": n.id, "name": n.name, "script": n.script, "class": n.class, "use_sqlite": n.use_sqlite }))
                .collect();
            let (page, info) = paginate(&items, page_request(&req.query, 1000, 1000)?);
            Ok(Reply::page(Value::Array(page), info))
        }
        _ => Err(no_route(req)),
    }
}

fn dispatch_json(n: &super::state::DispatchNamespace) -> Value {
    json!({
        "namespace_id": n.namespace_id,
        "namespace_name": n.namespace_name,
        "created_on": n.created_on,
        "modified_on": n.created_on,
    })
}

fn find_script<'a>(st: &'a State, a: &str, name: &str) -> Result<&'a Script, SandboxError> {
    st.script(a, name).ok_or_else(script_not_found)
}

fn version_not_found(id: &str) -> SandboxError {
    SandboxError::not_found(10007, format!("Version {id} of this Worker does not exist"))
}

fn deployment_not_found(id: &str) -> SandboxError {
    SandboxError::not_found(
        10007,
        format!("Deployment {id} of this Worker does not exist"),
    )
}

fn secret_not_found(name: &str) -> SandboxError {
    SandboxError::not_found(10056, format!("Secret {name} not found"))
}

fn domain_not_found() -> SandboxError {
    SandboxError::not_found(100101, "Custom domain not found")
}

fn invalid(message: impl Into<String>) -> SandboxError {
    SandboxError::rejected(400, 10021, message)
}

// ---------------------------------------------------------------------------------------------
// JSON views

fn script_json(st: &State, s: &Script) -> Value {
    let current = s.current_version();
    json!({
        "id": s.name,
        "tag": s.tag,
        "etag": current.map(|v| v.etag.clone()),
        "handlers": current.map(|v| v.handlers.clone()).unwrap_or_default(),
        "named_handlers": current.map(|v| v.named_handlers.clone()).unwrap_or_default(),
        "created_on": s.created_on,
        "modified_on": s.modified_on,
        "migration_tag": s.migration_tag,
        "usage_model": current.map_or("standard".to_string(), |v| v.usage_model.clone()),
        "compatibility_date": current.and_then(|v| v.compatibility_date.clone()),
        "compatibility_flags": current.map(|v| v.compatibility_flags.clone()).unwrap_or_default(),
        "last_deployed_from": s.last_deployed_from,
        "tags": s.tags,
        "logpush": s.logpush,
        "has_assets": false,
        "has_modules": current.is_some_and(|v| !v.modules.is_empty()),
        "routes": script_routes(st, &s.account_id, &s.name),
    })
}

fn service_json(s: &Script) -> Value {
    let current = s.current_version();
    json!({
        "id": s.name,
        "created_on": s.created_on,
        "modified_on": s.modified_on,
        "default_environment": {
            "environment": "production",
            "created_on": s.created_on,
            "modified_on": s.modified_on,
            "script": {
                "id": s.name,
                "tag": s.tag,
                "tags": s.tags,
                "etag": current.map(|v| v.etag.clone()),
                "handlers": current.map(|v| v.handlers.clone()).unwrap_or_default(),
                "migration_tag": s.migration_tag,
                "last_deployed_from": s.last_deployed_from,
                "compatibility_date": current.and_then(|v| v.compatibility_date.clone()),
                "usage_model": current.map_or("standard".to_string(), |v| v.usage_model.clone()),
                "created_on": s.created_on,
                "modified_on": s.modified_on,
            }
        }
    })
}

fn settings_json(s: &Script) -> Value {
    let current = s.current_version();
    json!({
        "bindings": current.map(|v| v.bindings.clone()).unwrap_or_default(),
        "compatibility_date": current.and_then(|v| v.compatibility_date.clone()),
        "compatibility_flags": current.map(|v| v.compatibility_flags.clone()).unwrap_or_default(),
        "usage_model": current.map_or("standard".to_string(), |v| v.usage_model.clone()),
        "logpush": s.logpush,
        "observability": s.observability,
        "tail_consumers": s.tail_consumers,
        "tags": s.tags,
        "placement": {},
        "limits": {},
    })
}

fn script_settings_json(s: &Script) -> Value {
    json!({
        "logpush": s.logpush,
        "observability": s.observability,
        "tail_consumers": s.tail_consumers,
        "tags": s.tags,
    })
}

fn subdomain_json(s: &Script) -> Value {
    json!({ "enabled": s.workers_dev_enabled, "previews_enabled": s.previews_enabled })
}

pub fn version_json(script: &Script, v: &Version) -> Value {
    json!({
        "id": v.id,
        "number": v.number,
        "metadata": {
            "author_email": v.author_email,
            "author_id": "",
            "created_on": v.created_on,
            "modified_on": v.created_on,
            "source": v.source,
            "hasPreview": false,
        },
        "annotations": v.annotations,
        "resources": {
            "bindings": v.bindings,
            "script": {
                "etag": v.etag,
                "handlers": v.handlers,
                "last_deployed_from": script.last_deployed_from,
            },
            "script_runtime": {
                "compatibility_date": v.compatibility_date,
                "compatibility_flags": v.compatibility_flags,
                "usage_model": v.usage_model,
                "limits": {},
            },
        },
        // The sandbox stores Workers but never runs them, so nothing has a startup cost.
        "startup_time_ms": 0,
    })
}

fn decode_module(module: &Module) -> Result<Vec<u8>, SandboxError> {
    base64::engine::general_purpose::STANDARD
        .decode(&module.content_base64)
        .map_err(|e| {
            SandboxError::Persist(format!("stored module {} is corrupt: {e}", module.name))
        })
}

/// `GET …/scripts/{s}/content/v2[?version=]`: every module of a version (default: the one
/// serving most traffic) as `multipart/form-data`, the main module named in `cf-entrypoint`.
fn script_content_v2(script: &Script, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let version = match req.query.get("version") {
        Some(id) => script.version(id).ok_or_else(|| version_not_found(id))?,
        None => script
            .current_version()
            .ok_or_else(|| SandboxError::not_found(10222, "This Worker has no deployed content"))?,
    };
    let main = version
        .main_module
        .clone()
        .ok_or_else(|| SandboxError::not_found(10222, "This version has no stored modules"))?;
    let parts = version
        .modules
        .iter()
        .map(|m| {
            Ok(multipart::Part {
                name: m.name.clone(),
                filename: Some(m.name.clone()),
                content_type: Some(m.content_type.clone()).filter(|c| !c.is_empty()),
                data: decode_module(m)?,
            })
        })
        .collect::<Result<Vec<_>, SandboxError>>()?;
    let (body, boundary) = multipart::encode(&parts);
    Ok(Reply::Raw {
        status: 200,
        content_type: format!("multipart/form-data; boundary={boundary}"),
        headers: vec![("cf-entrypoint".into(), main)],
        body,
    })
}

fn script_content(script: &Script) -> Result<Reply, SandboxError> {
    let version = script
        .current_version()
        .ok_or_else(|| SandboxError::not_found(10222, "This Worker has no deployed content"))?;
    let main = version
        .main_module
        .as_deref()
        .and_then(|m| version.modules.iter().find(|x| x.name == m))
        .or(version.modules.first())
        .ok_or_else(|| SandboxError::not_found(10222, "This Worker has no deployed content"))?;
    let body = decode_module(main)?;
    Ok(Reply::Raw {
        status: 200,
        content_type: if main.content_type.is_empty() {
            "application/javascript".into()
        } else {
            main.content_type.clone()
        },
        headers: vec![],
        body,
    })
}

fn list_versions(script: &Script, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let newest_first: Vec<Value> = script
        .versions
        .iter()
        .rev()
        .map(|v| version_json(script, v))
        .collect();
    if req.query.flag("deployable") {
        // Cloudflare ignores pagination here and returns every deployable version.
        let items: Vec<Value> = newest_first.into_iter().take(DEPLOYABLE_VERSIONS).collect();
        return Ok(Reply::ok(json!({ "items": items })));
    }
    let (page, info) = paginate(&newest_first, page_request(&req.query, 10, 100)?);
    Ok(Reply::page(json!({ "items": page }), info))
}

// ---------------------------------------------------------------------------------------------
// Uploads

/// A parsed multipart Worker upload.
#[derive(Debug, Default)]
pub struct Upload {
    pub metadata: Value,
    pub modules: Vec<Module>,
    pub main_module: Option<String>,
    pub bindings: Vec<Value>,
    pub keep_bindings: Vec<String>,
    pub migrations: Option<Value>,
    pub annotations: BTreeMap<String, String>,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
    pub usage_model: Option<String>,
    /// Secrets set by this upload (`secret_text` bindings), values dropped.
    pub secrets: Vec<Secret>,
    pub handlers: Vec<String>,
    pub named_handlers: Vec<Value>,
}

/// Named entrypoints a module exports: `export class X extends WorkerEntrypoint` (an RPC
/// entrypoint) or `extends DurableObject`, as `{name, handlers}` the way Cloudflare lists them.
pub fn detect_named_handlers(source: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices("export class ") {
        let rest = &source[at + "export class ".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        let header = rest[name.len()..].split('{').next().unwrap_or_default();
        let base = header.trim().strip_prefix("extends").map(str::trim);
        let handlers = match base {
            Some("WorkerEntrypoint") => vec!["fetch"],
            Some("DurableObject") => vec!["fetch", "alarm"],
            _ => continue,
        };
        if !name.is_empty() {
            found.push(json!({ "name": name, "handlers": handlers }));
        }
    }
    found
}

/// Handlers a module exports, read from its source (the sandbox does not run code).
pub fn detect_handlers(source: &str) -> Vec<String> {
    ["fetch", "scheduled", "queue", "email", "tail", "trace"]
        .iter()
        .filter(|h| {
            [format!("{h}("), format!("{h}:"), format!("async {h}")]
                .iter()
                .any(|needle| source.contains(needle.as_str()))
        })
        .map(|h| h.to_string())
        .collect()
}

/// Parses the upload body: a `metadata` JSON part plus module parts.
pub fn parse_upload(req: &ApiRequest) -> Result<Upload, SandboxError> {
    if req.body.len() > UPLOAD_LIMIT {
        return Err(SandboxError::BodyTooLarge {
            limit: UPLOAD_LIMIT,
            code: 10027,
        });
    }
    let boundary = req
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(|| {
            invalid("Worker uploads must be multipart/form-data with a metadata part")
        })?;
    let parts = multipart::parse(&req.body, &boundary)?;
    let metadata_part = parts
        .iter()
        .find(|p| p.name == "metadata")
        .ok_or_else(|| invalid("The upload has no metadata part"))?;
    let mut metadata: Value = serde_json::from_slice(&metadata_part.data)
        .map_err(|e| invalid(format!("The metadata part is not valid JSON: {e}")))?;
    if !metadata.is_object() {
        return Err(invalid("The metadata part must be a JSON object"));
    }
    let main_module = metadata
        .get("main_module")
        .or_else(|| metadata.get("body_part"))
        .and_then(Value::as_str)
        .map(String::from);
    let modules: Vec<Module> = parts
        .iter()
        .filter(|p| p.name != "metadata")
        .map(|p| Module {
            name: p.name.clone(),
            content_type: p.content_type.clone().unwrap_or_default(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(&p.data),
        })
        .collect();
    let main = main_module
        .as_deref()
        .ok_or_else(|| invalid("metadata needs main_module (ES modules) or body_part"))?;
    let main_part = parts
        .iter()
        .find(|p| p.name == main)
        .ok_or_else(|| invalid(format!("No such module \"{main}\" in the upload")))?;
    let handlers = detect_handlers(&String::from_utf8_lossy(&main_part.data));
    let named_handlers = detect_named_handlers(&String::from_utf8_lossy(&main_part.data));

    let mut secrets = Vec::new();
    let mut bindings = Vec::new();
    for binding in metadata
        .get("bindings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let kind = binding
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = binding
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || kind.is_empty() {
            return Err(invalid("Every binding needs a type and a name"));
        }
        let mut kept = binding.clone();
        if kind == "secret_text" || kind == "secret_key" {
            secrets.push(Secret {
                name: name.to_string(),
                secret_type: kind.to_string(),
            });
            if let Some(obj) = kept.as_object_mut() {
                obj.retain(|k, _| k == "type" || k == "name");
            }
        }
        bindings.push(kept);
    }
    // Never keep secret values, not even inside the stored metadata.
    if let Some(b) = metadata.get_mut("bindings") {
        *b = Value::Array(bindings.clone());
    }
    let mut annotations = BTreeMap::new();
    if let Some(obj) = metadata.get("annotations").and_then(Value::as_object) {
        for (k, v) in obj {
            if let Some(s) = v.as_str() {
                annotations.insert(k.clone(), s.to_string());
            }
        }
    }
    if annotations
        .get("workers/message")
        .is_some_and(|m| m.len() > 1000)
    {
        return Err(invalid("workers/message must be at most 1000 bytes"));
    }
    if annotations
        .get("workers/tag")
        .is_some_and(|m| m.len() > 100)
    {
        return Err(invalid("workers/tag must be at most 100 bytes"));
    }
    let strings = |key: &str| -> Vec<String> {
        metadata
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Upload {
        keep_bindings: strings("keep_bindings"),
        compatibility_flags: strings("compatibility_flags"),
        compatibility_date: metadata
            .get("compatibility_date")
            .and_then(Value::as_str)
            .map(String::from),
        usage_model: metadata
            .get("usage_model")
            .and_then(Value::as_str)
            .map(String::from),
        migrations: metadata.get("migrations").filter(|m| !m.is_null()).cloned(),
        main_module,
        modules,
        bindings,
        annotations,
        secrets,
        handlers,
        named_handlers,
        metadata,
    })
}

/// Checks that every binding points at something that exists in the account.
fn check_bindings(
    st: &State,
    a: &str,
    script_name: &str,
    bindings: &[Value],
) -> Result<(), SandboxError> {
    for b in bindings {
        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
        let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
        let field = |key: &str| b.get(key).and_then(Value::as_str).unwrap_or_default();
        match kind {
            "d1" => {
                let id = field("id");
                if id.is_empty() {
                    return Err(invalid(format!(
                        "binding {name} of type d1 must have a valid `id` specified"
                    )));
                }
                if !st
                    .d1_databases
                    .iter()
                    .any(|d| d.account_id == a && d.uuid == id)
                {
                    return Err(invalid(format!(
                        "binding {name} references D1 database {id}, which does not exist"
                    )));
                }
            }
            "kv_namespace" => {
                let id = field("namespace_id");
                if !st
                    .kv_namespaces
                    .iter()
                    .any(|n| n.account_id == a && n.id == id)
                {
                    return Err(invalid(format!(
                        "binding {name} references KV namespace {id:?}, which does not exist"
                    )));
                }
            }
            "r2_bucket" => {
                let bucket = field("bucket_name");
                let j = b
                    .get("jurisdiction")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if !st
                    .r2_buckets
                    .iter()
                    .any(|x| x.account_id == a && x.name == bucket && x.jurisdiction == j)
                {
                    return Err(invalid(format!(
                        "binding {name} references R2 bucket {bucket:?}, which does not exist"
                    )));
                }
            }
            "queue" => {
                let queue = field("queue_name");
                if !st
                    .queues
                    .iter()
                    .any(|q| q.account_id == a && q.queue_name == queue)
                {
                    return Err(invalid(format!("Queue \"{queue}\" does not exist")));
                }
            }
            "service" => {
                let service = field("service");
                if service != script_name && st.script(a, service).is_none() {
                    return Err(SandboxError::rejected(
                        400,
                        10143,
                        format!("Could not resolve service binding '{name}'. Target script '{service}' not found."),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Builds the next version of a script from an upload: resolves `inherit` bindings against an
/// earlier version, carries over `keep_bindings` types, and lists the script's secrets.
pub fn build_version(
    previous: Option<&Script>,
    upload: &Upload,
    strict_inherit: bool,
    source: &str,
    author_email: &str,
    triggered_by: &str,
) -> Result<Version, SandboxError> {
    let latest = previous.and_then(|s| s.versions.last());
    let mut bindings: Vec<Value> = Vec::new();
    for b in &upload.bindings {
        if b.get("type").and_then(Value::as_str) != Some("inherit") {
            bindings.push(b.clone());
            continue;
        }
        let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
        let old_name = b.get("old_name").and_then(Value::as_str).unwrap_or(name);
        let from = match b.get("version_id").and_then(Value::as_str) {
            None | Some("latest") => latest,
            Some(id) => previous.and_then(|s| s.version(id)),
        };
        let inherited = from.and_then(|v| {
            v.bindings
                .iter()
                .find(|x| x.get("name").and_then(Value::as_str) == Some(old_name))
        });
        match inherited {
            Some(found) => {
                let mut copy = found.clone();
                copy["name"] = json!(name);
                bindings.push(copy);
            }
            None if strict_inherit => {
                return Err(SandboxError::rejected(
                    400,
                    10057,
                    format!("binding '{name}' of type 'inherit' is invalid: no binding '{old_name}' to inherit"),
                ));
            }
            None => {}
        }
    }
    let bound = |bindings: &[Value], name: &str| {
        bindings
            .iter()
            .any(|x| x.get("name").and_then(Value::as_str) == Some(name))
    };
    if let Some(latest) = latest {
        for b in &latest.bindings {
            let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
            let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
            if upload.keep_bindings.iter().any(|k| k == kind) && !bound(&bindings, name) {
                bindings.push(b.clone());
            }
        }
    }
    // Secrets outlive uploads: every secret of the script is bound in every new version.
    for secret in previous.map(|s| s.secrets.as_slice()).unwrap_or_default() {
        if !bound(&bindings, &secret.name) {
            bindings.push(json!({ "type": secret.secret_type, "name": secret.name }));
        }
    }
    let mut annotations = upload.annotations.clone();
    annotations
        .entry("workers/triggered_by".into())
        .or_insert_with(|| triggered_by.to_string());
    Ok(Version {
        id: uuid_id(),
        number: latest.map_or(1, |v| v.number + 1),
        created_on: now_rfc3339(),
        author_email: author_email.to_string(),
        source: source.to_string(),
        annotations,
        bindings,
        compatibility_date: upload.compatibility_date.clone(),
        compatibility_flags: upload.compatibility_flags.clone(),
        usage_model: upload
            .usage_model
            .clone()
            .unwrap_or_else(|| "standard".into()),
        main_module: upload.main_module.clone(),
        handlers: upload.handlers.clone(),
        named_handlers: upload.named_handlers.clone(),
        modules: upload.modules.clone(),
        metadata: Some(upload.metadata.clone()),
        etag: hex_id(),
    })
}

fn author(t: &Token) -> String {
    t.user_email.clone().unwrap_or_default()
}

fn new_script(a: &str, name: &str) -> Script {
    let now = now_rfc3339();
    Script {
        account_id: a.to_string(),
        name: name.to_string(),
        tag: hex_id(),
        created_on: now.clone(),
        modified_on: now,
        migration_tag: None,
        last_deployed_from: None,
        tags: vec![],
        logpush: false,
        observability: None,
        tail_consumers: None,
        secrets: vec![],
        workers_dev_enabled: false,
        previews_enabled: false,
        schedules: vec![],
        versions: vec![],
        deployments: vec![],
    }
}

fn valid_script_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Adds secrets named by an upload to the script's list (replacing same-named ones).
fn merge_secrets(script: &mut Script, secrets: &[Secret]) {
    for secret in secrets {
        script.secrets.retain(|s| s.name != secret.name);
        script.secrets.push(secret.clone());
    }
}

fn push_deployment(
    script: &mut Script,
    versions: Vec<DeploymentVersion>,
    annotations: BTreeMap<String, String>,
    source: &str,
    author_email: &str,
) -> Deployment {
    let deployment = Deployment {
        id: uuid_id(),
        created_on: now_rfc3339(),
        source: source.to_string(),
        strategy: "percentage".into(),
        versions,
        annotations,
        author_email: author_email.to_string(),
    };
    script.deployments.push(deployment.clone());
    script.modified_on = deployment.created_on.clone();
    script.last_deployed_from = Some(source.to_string());
    deployment
}

/// The class-level changes of a migration upload, read before anything is mutated.
#[derive(Debug, Default, PartialEq)]
pub struct MigrationPlan {
    pub new_tag: Option<String>,
    pub new_classes: Vec<(String, bool)>,
    pub renamed: Vec<(String, String)>,
    pub deleted: Vec<String>,
}

/// Reads `metadata.migrations` (`{old_tag, new_tag, steps[]}` or a single flat step) and checks
/// its `old_tag` against the script's current tag.
pub fn plan_migrations(
    migrations: &Value,
    current_tag: Option<&str>,
) -> Result<MigrationPlan, SandboxError> {
    if let Some(old) = migrations.get("old_tag").and_then(Value::as_str) {
        if Some(old) != current_tag {
            return Err(SandboxError::rejected(
                400,
                10079,
                format!(
                    "Migration tag precondition failed; the current migration tag is {:?}",
                    current_tag.unwrap_or("")
                ),
            ));
        }
    }
    let steps: Vec<Value> = match migrations.get("steps").and_then(Value::as_array) {
        Some(steps) => steps.clone(),
        None => vec![migrations.clone()],
    };
    let names = |step: &Value, key: &str| -> Vec<String> {
        step.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut plan = MigrationPlan {
        new_tag: migrations
            .get("new_tag")
            .and_then(Value::as_str)
            .map(String::from),
        ..Default::default()
    };
    for step in &steps {
        plan.new_classes
            .extend(names(step, "new_classes").into_iter().map(|c| (c, false)));
        plan.new_classes.extend(
            names(step, "new_sqlite_classes")
                .into_iter()
                .map(|c| (c, true)),
        );
        plan.deleted.extend(names(step, "deleted_classes"));
        for r in step
            .get("renamed_classes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(from), Some(to)) = (
                r.get("from").and_then(Value::as_str),
                r.get("to").and_then(Value::as_str),
            ) {
                plan.renamed.push((from.to_string(), to.to_string()));
            }
        }
    }
    Ok(plan)
}

fn apply_migrations(
    st: &mut State,
    a: &str,
    script: &str,
    plan: &MigrationPlan,
) -> Result<(), SandboxError> {
    for (class, _) in &plan.new_classes {
        if st
            .durable_object_namespaces
            .iter()
            .any(|n| n.account_id == a && n.script == script && n.class == *class)
        {
            return Err(SandboxError::rejected(
                400,
                10074,
                format!("Cannot apply new-class migration to class '{class}' that is already depended on"),
            ));
        }
    }
    for (class, sqlite) in &plan.new_classes {
        st.durable_object_namespaces.push(DurableObjectNamespace {
            id: hex_id(),
            account_id: a.to_string(),
            name: format!("{script}_{class}"),
            script: script.to_string(),
            class: class.clone(),
            use_sqlite: *sqlite,
        });
    }
    for (from, to) in &plan.renamed {
        for ns in st
            .durable_object_namespaces
            .iter_mut()
            .filter(|n| n.account_id == a && n.script == script && n.class == *from)
        {
            ns.class = to.clone();
            ns.name = format!("{script}_{to}");
        }
    }
    st.durable_object_namespaces
        .retain(|n| !(n.account_id == a && n.script == script && plan.deleted.contains(&n.class)));
    Ok(())
}

/// `PUT /scripts/{s}`: the non-versioned upload that also deploys at 100% (and applies Durable
/// Object migrations); creates the script when it is new.
async fn upload_and_deploy(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let upload = parse_upload(req)?;
    let strict = req.query.get("bindings_inherit") == Some("strict");
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            if !valid_script_name(s) {
                return Err(invalid(format!("Invalid Worker name {s:?}")));
            }
            check_bindings(st, a, s, &upload.bindings)?;
            let existing = st.script(a, s);
            let is_new = existing.is_none();
            let plan = match &upload.migrations {
                Some(m) => Some(plan_migrations(
                    m,
                    existing.and_then(|x| x.migration_tag.as_deref()),
                )?),
                None => None,
            };
            let version = build_version(
                existing,
                &upload,
                strict,
                source,
                &author(t),
                if is_new { "create" } else { "upload" },
            )?;
            if let Some(plan) = &plan {
                apply_migrations(st, a, s, plan)?;
            }
            if is_new {
                st.scripts.push(new_script(a, s));
            }
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            if let Some(tag) = plan.and_then(|p| p.new_tag) {
                script.migration_tag = Some(tag);
            }
            merge_secrets(script, &upload.secrets);
            let version_id = version.id.clone();
            script.versions.push(version);
            let annotations = upload
                .annotations
                .get("workers/message")
                .map(|m| BTreeMap::from([("workers/message".to_string(), m.clone())]))
                .unwrap_or_default();
            push_deployment(
                script,
                vec![DeploymentVersion {
                    version_id: version_id.clone(),
                    percentage: 100.0,
                }],
                annotations,
                source,
                &author(t),
            );
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let mut out = script_json(st, script);
            out["deployment_id"] = json!(version_id);
            Ok(Reply::ok(out))
        })
        .await
}

/// `POST /scripts/{s}/versions`: a new version, not deployed. The Worker must exist and the
/// upload may not carry Durable Object migrations (10211).
async fn upload_version(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let upload = parse_upload(req)?;
    let strict = req.query.get("bindings_inherit") == Some("strict");
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let existing = st.script(a, s).ok_or_else(script_not_found)?;
            if upload.migrations.is_some() {
                return Err(SandboxError::rejected(
                    400,
                    10211,
                    "Version upload failed. You attempted to upload a version of a Worker that includes a Durable Object migration, but migrations must be fully applied by running \"wrangler deploy\".",
                ));
            }
            check_bindings(st, a, s, &upload.bindings)?;
            let version = build_version(Some(existing), &upload, strict, source, &author(t), "upload")?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            merge_secrets(script, &upload.secrets);
            script.versions.push(version);
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let version = script.versions.last().ok_or_else(script_not_found)?;
            Ok(Reply::ok(version_json(script, version)))
        })
        .await
}

async fn delete_script(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = find_script(st, a, s)?;
            let tag = script.tag.clone();
            st.scripts.retain(|x| !(x.account_id == a && x.name == s));
            let zone_ids: Vec<String> = st
                .zones
                .iter()
                .filter(|z| z.account_id == a)
                .map(|z| z.id.clone())
                .collect();
            for route in st
                .worker_routes
                .iter_mut()
                .filter(|r| zone_ids.contains(&r.zone_id))
            {
                if route.script.as_deref() == Some(s) {
                    route.script = None;
                }
            }
            st.custom_domains
                .retain(|d| !(d.account_id == a && d.service == s));
            st.durable_object_namespaces
                .retain(|n| !(n.account_id == a && n.script == s));
            Ok(Reply::ok(json!({ "id": tag })))
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Deployments

#[derive(Deserialize)]
struct NewDeployment {
    #[serde(default = "percentage")]
    strategy: String,
    versions: Vec<DeploymentVersion>,
    #[serde(default)]
    annotations: BTreeMap<String, Option<String>>,
}

fn percentage() -> String {
    "percentage".into()
}

/// Checks a traffic split against the script: one or two known, recent, distinct versions whose
/// percentages (each 0–100) add up to 100.
pub fn validate_split(
    script: &Script,
    strategy: &str,
    versions: &[DeploymentVersion],
) -> Result<(), SandboxError> {
    if strategy != "percentage" {
        return Err(invalid(format!(
            "Unknown deployment strategy {strategy:?}; only \"percentage\" is supported"
        )));
    }
    if versions.is_empty() || versions.len() > 2 {
        return Err(invalid("A deployment must name one or two versions"));
    }
    if versions.len() == 2 && versions[0].version_id == versions[1].version_id {
        return Err(invalid("A deployment may not name the same version twice"));
    }
    let recent: Vec<&str> = script
        .versions
        .iter()
        .rev()
        .take(DEPLOYABLE_VERSIONS)
        .map(|v| v.id.as_str())
        .collect();
    for v in versions {
        if script.version(&v.version_id).is_none() {
            return Err(invalid(format!(
                "Version {} does not exist on this Worker",
                v.version_id
            )));
        }
        if !recent.contains(&v.version_id.as_str()) {
            return Err(invalid(format!(
                "Version {} is not among the {DEPLOYABLE_VERSIONS} most recent versions",
                v.version_id
            )));
        }
        if !(0.0..=100.0).contains(&v.percentage) {
            return Err(invalid("Percentages must be between 0 and 100"));
        }
    }
    let total: f64 = versions.iter().map(|v| v.percentage).sum();
    if (total - 100.0).abs() > 0.001 {
        return Err(invalid(format!(
            "Percentages must add up to 100, got {total}"
        )));
    }
    Ok(())
}

/// The error code the sandbox answers for a deployment across a Durable Object migration.
/// Cloudflare refuses it (docs: "Rollbacks" limits) but its code is not verified: sandbox
/// choice, documented in docs/sandbox.md.
pub const ACROSS_MIGRATION_CODE: u32 = 10224;

/// Cloudflare refuses to deploy a version older than a Durable Object migration the Worker
/// has since applied (a migration runs once, through a non-versioned deploy, and cannot be
/// undone by serving older code). A version applied migrations when its upload carried
/// `metadata.migrations`; versions are kept in upload order.
pub fn refuse_across_migration(
    script: &Script,
    versions: &[DeploymentVersion],
) -> Result<(), SandboxError> {
    let migrated = script.versions.iter().enumerate().rev().find(|(_, v)| {
        v.metadata
            .as_ref()
            .and_then(|m| m.get("migrations"))
            .is_some_and(|m| !m.is_null())
    });
    let Some((at, by)) = migrated else {
        return Ok(());
    };
    for wanted in versions {
        let older = script
            .versions
            .iter()
            .position(|v| v.id == wanted.version_id)
            .is_some_and(|i| i < at);
        if older {
            let tag = by
                .metadata
                .as_ref()
                .and_then(|m| m["migrations"].get("new_tag"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Err(SandboxError::rejected(
                400,
                ACROSS_MIGRATION_CODE,
                format!(
                    "Version {} cannot be deployed: a Durable Object migration (tag {tag:?}, version {}) was applied after it. Rollbacks across a Durable Object migration are not allowed.",
                    wanted.version_id, by.id
                ),
            ));
        }
    }
    Ok(())
}

async fn create_deployment(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: NewDeployment = req.json()?;
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            validate_split(script, &body.strategy, &body.versions)?;
            refuse_across_migration(script, &body.versions)?;
            let annotations: BTreeMap<String, String> = body
                .annotations
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            let deployment = push_deployment(
                script,
                body.versions.clone(),
                annotations,
                source,
                &author(t),
            );
            Ok(Reply::ok(json!(deployment)))
        })
        .await
}

async fn delete_deployment(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
    id: &str,
) -> Result<Reply, SandboxError> {
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            let at = script
                .deployments
                .iter()
                .position(|d| d.id == id)
                .ok_or_else(|| deployment_not_found(id))?;
            if at + 1 == script.deployments.len() {
                return Err(invalid("The active deployment cannot be deleted"));
            }
            script.deployments.remove(at);
            Ok(Reply::ok(Value::Null))
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Secrets and settings

#[derive(Deserialize)]
struct SecretBody {
    name: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(rename = "type", default = "secret_text")]
    secret_type: String,
}

fn secret_text() -> String {
    "secret_text".into()
}

/// A secret change makes and deploys a new version, which is only allowed when the latest version
/// is the one fully deployed (else 10215).
fn redeploy_with_secrets(
    script: &mut Script,
    source: &str,
    author_email: &str,
) -> Result<(), SandboxError> {
    let Some(latest) = script.versions.last() else {
        return Ok(());
    };
    let serving_only_latest = script
        .active_deployment()
        .is_some_and(|d| d.versions.len() == 1 && d.versions[0].version_id == latest.id);
    if !serving_only_latest {
        return Err(SandboxError::rejected(
            400,
            10215,
            "Secret edit failed. You attempted to modify a secret, but the latest version of your Worker isn't currently deployed. Please ensure that the latest version of your Worker is fully deployed (wrangler versions deploy) before modifying secrets.",
        ));
    }
    let mut next = latest.clone();
    next.bindings.retain(|b| {
        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
        kind != "secret_text" && kind != "secret_key"
    });
    for secret in &script.secrets {
        next.bindings
            .push(json!({ "type": secret.secret_type, "name": secret.name }));
    }
    next.id = uuid_id();
    next.number = latest.number + 1;
    next.created_on = now_rfc3339();
    next.source = source.to_string();
    next.author_email = author_email.to_string();
    next.etag = hex_id();
    next.annotations = BTreeMap::from([("workers/triggered_by".to_string(), "secret".to_string())]);
    let id = next.id.clone();
    script.versions.push(next);
    push_deployment(
        script,
        vec![DeploymentVersion {
            version_id: id,
            percentage: 100.0,
        }],
        BTreeMap::new(),
        source,
        author_email,
    );
    Ok(())
}

async fn put_secret(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: SecretBody = req.json()?;
    if !valid_secret_name(&body.name) {
        return Err(invalid(format!("Invalid secret name {:?}", body.name)));
    }
    if body.secret_type == "secret_text" && body.text.is_none() {
        return Err(invalid("A secret_text secret needs text"));
    }
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let mut changed = script.clone();
            merge_secrets(
                &mut changed,
                &[Secret {
                    name: body.name.clone(),
                    secret_type: body.secret_type.clone(),
                }],
            );
            redeploy_with_secrets(&mut changed, source, &author(t))?;
            *st.script_mut(a, s).ok_or_else(script_not_found)? = changed;
            Ok(Reply::ok(
                json!({ "name": body.name, "type": body.secret_type }),
            ))
        })
        .await
}

async fn delete_secret(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
    name: &str,
) -> Result<Reply, SandboxError> {
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            if !script.secrets.iter().any(|x| x.name == name) {
                return Err(secret_not_found(name));
            }
            let mut changed = script.clone();
            changed.secrets.retain(|x| x.name != name);
            redeploy_with_secrets(&mut changed, source, &author(t))?;
            *st.script_mut(a, s).ok_or_else(script_not_found)? = changed;
            Ok(Reply::ok(Value::Null))
        })
        .await
}

#[derive(Deserialize)]
struct SecretsBulkBody {
    secrets: BTreeMap<String, Option<Value>>,
}

fn valid_secret_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `PATCH …/secrets-bulk`: a JSON merge patch of secrets (`null` deletes), applied as one new
/// deployed version.
async fn patch_secrets_bulk(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: SecretsBulkBody = req.json()?;
    if let Some(bad) = body.secrets.keys().find(|n| !valid_secret_name(n)) {
        return Err(invalid(format!("Invalid secret name {bad:?}")));
    }
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let mut changed = st.script(a, s).ok_or_else(script_not_found)?.clone();
            for (name, value) in &body.secrets {
                match value {
                    None => changed.secrets.retain(|x| x.name != *name),
                    Some(v) => {
                        let secret_type = v
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("secret_text");
                        merge_secrets(
                            &mut changed,
                            &[Secret {
                                name: name.clone(),
                                secret_type: secret_type.to_string(),
                            }],
                        );
                    }
                }
            }
            redeploy_with_secrets(&mut changed, source, &author(t))?;
            let secrets = json!(changed.secrets);
            *st.script_mut(a, s).ok_or_else(script_not_found)? = changed;
            Ok(Reply::ok(secrets))
        })
        .await
}

#[derive(Deserialize)]
struct LatestVersionPatch {
    #[serde(default)]
    env: BTreeMap<String, Option<Value>>,
    #[serde(default)]
    annotations: BTreeMap<String, Option<String>>,
}

/// `PATCH …/workers/workers/{s}/versions/latest`: a new version from the latest one with `env`
/// bindings merged in (`null` removes), not deployed; 10222 when the Worker has no versions.
async fn patch_latest_version(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let patch: LatestVersionPatch = req.json()?;
    for (name, value) in &patch.env {
        if !valid_secret_name(name) {
            return Err(invalid(format!("Invalid binding name {name:?}")));
        }
        if let Some(v) = value {
            if v.get("type").and_then(Value::as_str).is_none() {
                return Err(invalid(format!("env.{name} needs a type")));
            }
        }
    }
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let latest = script
                .versions
                .last()
                .ok_or_else(|| SandboxError::rejected(404, 10222, "This Worker has no versions"))?;
            let mut next = latest.clone();
            let mut secrets = script.secrets.clone();
            for (name, value) in &patch.env {
                next.bindings
                    .retain(|b| b.get("name").and_then(Value::as_str) != Some(name));
                secrets.retain(|x| x.name != *name);
                let Some(v) = value else { continue };
                let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
                if kind == "secret_text" || kind == "secret_key" {
                    secrets.push(Secret {
                        name: name.clone(),
                        secret_type: kind.to_string(),
                    });
                    next.bindings.push(json!({ "type": kind, "name": name }));
                } else {
                    let mut binding = v.clone();
                    binding["name"] = json!(name);
                    next.bindings.push(binding);
                }
            }
            next.id = uuid_id();
            next.number = latest.number + 1;
            next.created_on = now_rfc3339();
            next.source = source.to_string();
            next.author_email = author(t);
            next.etag = hex_id();
            next.annotations = patch
                .annotations
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            next.annotations
                .entry("workers/triggered_by".into())
                .or_insert_with(|| "secret".into());
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            script.secrets = secrets;
            script.versions.push(next);
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let version = script.versions.last().ok_or_else(script_not_found)?;
            Ok(Reply::ok(version_json(script, version)))
        })
        .await
}

async fn patch_script_settings(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: Value = req.json()?;
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("script-settings must be a JSON object"))?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            if let Some(v) = obj.get("logpush") {
                script.logpush = v.as_bool().unwrap_or(false);
            }
            if let Some(v) = obj.get("tags") {
                script.tags = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            if let Some(v) = obj.get("observability") {
                script.observability = Some(v.clone()).filter(|v| !v.is_null());
            }
            if let Some(v) = obj.get("tail_consumers") {
                script.tail_consumers = Some(v.clone()).filter(|v| !v.is_null());
            }
            Ok(Reply::ok(script_settings_json(script)))
        })
        .await
}

#[derive(Deserialize)]
struct SubdomainBody {
    enabled: bool,
    #[serde(default)]
    previews_enabled: Option<bool>,
}

async fn post_script_subdomain(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: SubdomainBody = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            if body.enabled
                && st
                    .account(a)
                    .and_then(|x| x.workers_subdomain.as_ref())
                    .is_none()
            {
                return Err(SandboxError::not_found(
                    10007,
                    "This account does not have a workers.dev subdomain.",
                ));
            }
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            script.workers_dev_enabled = body.enabled;
            script.previews_enabled = body.previews_enabled.unwrap_or(body.enabled);
            Ok(Reply::ok(subdomain_json(script)))
        })
        .await
}

#[derive(Deserialize)]
struct CronBody {
    cron: String,
}

async fn put_schedules(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: Vec<CronBody> = req.json()?;
    for c in &body {
        if c.cron.split_whitespace().count() != 5 {
            return Err(invalid(format!("Invalid cron expression {:?}", c.cron)));
        }
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            let now = now_rfc3339();
            script.schedules = body
                .iter()
                .map(|c| Schedule {
                    cron: c.cron.clone(),
                    created_on: now.clone(),
                    modified_on: now.clone(),
                })
                .collect();
            Ok(Reply::ok(json!({ "schedules": script.schedules })))
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Routes and custom domains

fn script_routes(st: &State, a: &str, s: &str) -> Vec<Value> {
    st.worker_routes
        .iter()
        .filter(|r| r.script.as_deref() == Some(s))
        .filter_map(|r| {
            let zone = st.zones.iter().find(|z| z.id == r.zone_id && z.account_id == a)?;
            Some(json!({ "id": r.id, "pattern": r.pattern, "script": s, "zone_id": zone.id, "zone_name": zone.name }))
        })
        .collect()
}

#[derive(Deserialize)]
struct ScriptRouteBody {
    pattern: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
}

/// Finds the account zone a route or domain belongs to: by id, by name, or by its host.
fn resolve_zone(
    st: &State,
    a: &str,
    zone_id: Option<&str>,
    zone_name: Option<&str>,
    host: &str,
) -> Result<super::state::Zone, SandboxError> {
    let zones: Vec<super::state::Zone> = st
        .zones
        .iter()
        .filter(|z| z.account_id == a)
        .cloned()
        .collect();
    let found = match (zone_id, zone_name) {
        (Some(id), _) => zones.iter().find(|z| z.id == id),
        (None, Some(name)) => zones.iter().find(|z| z.name == name),
        (None, None) => zone_for_hostname(&zones, host),
    };
    found.cloned().ok_or_else(|| {
        SandboxError::rejected(
            400,
            10022,
            format!("Could not find a zone for {host} in this account"),
        )
    })
}

async fn put_script_routes(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: Vec<ScriptRouteBody> = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
            find_script(st, a, s)?;
            let mut planned = Vec::new();
            for r in &body {
                let zone = resolve_zone(
                    st,
                    a,
                    r.zone_id.as_deref(),
                    r.zone_name.as_deref(),
                    &pattern_host(&r.pattern),
                )?;
                check_route_free(st, &zone.id, &r.pattern, Some(s), None)?;
                planned.push(WorkerRoute {
                    id: hex_id(),
                    zone_id: zone.id.clone(),
                    pattern: r.pattern.clone(),
                    script: Some(s.to_string()),
                });
            }
            let account_zones: Vec<String> = st
                .zones
                .iter()
                .filter(|z| z.account_id == a)
                .map(|z| z.id.clone())
                .collect();
            st.worker_routes.retain(|r| {
                !(r.script.as_deref() == Some(s) && account_zones.contains(&r.zone_id))
            });
            st.worker_routes.extend(planned);
            Ok(Reply::ok(Value::Array(script_routes(st, a, s))))
        })
        .await
}

fn domain_json(d: &CustomDomain) -> Value {
    json!({
        "id": d.id, "hostname": d.hostname, "service": d.service, "environment": d.environment,
        "zone_id": d.zone_id, "zone_name": d.zone_name, "cert_id": d.cert_id,
    })
}

fn list_domains(st: &State, req: &ApiRequest, a: &str, paged: bool) -> Result<Reply, SandboxError> {
    let q = &req.query;
    let items: Vec<Value> = st
        .custom_domains
        .iter()
        .filter(|d| d.account_id == a)
        .filter(|d| q.get("hostname").is_none_or(|h| h == d.hostname))
        .filter(|d| q.get("service").is_none_or(|x| x == d.service))
        .filter(|d| q.get("zone_id").is_none_or(|x| x == d.zone_id))
        .filter(|d| q.get("zone_name").is_none_or(|x| x == d.zone_name))
        .filter(|d| q.get("environment").is_none_or(|x| x == d.environment))
        .map(domain_json)
        .collect();
    if paged {
        let (page, info) = paginate(&items, page_request(q, 20, 100)?);
        return Ok(Reply::page(Value::Array(page), info));
    }
    Ok(Reply::ok(Value::Array(items)))
}

fn valid_custom_hostname(host: &str) -> bool {
    !host.is_empty() && !host.contains('*') && !host.contains('/')
}

#[derive(Deserialize)]
struct DomainBody {
    hostname: String,
    service: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

async fn put_domain(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: DomainBody = req.json()?;
    if !valid_custom_hostname(&body.hostname) {
        return Err(invalid(
            "Custom domains take a hostname without wildcards or paths",
        ));
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
            find_script(st, a, &body.service)?;
            let zone = resolve_zone(
                st,
                a,
                body.zone_id.as_deref(),
                body.zone_name.as_deref(),
                &body.hostname,
            )?;
            let domain = upsert_domain(
                st,
                a,
                &body.hostname,
                &body.service,
                body.environment.as_deref(),
                &zone,
            );
            Ok(Reply::ok(domain_json(&domain)))
        })
        .await
}

fn upsert_domain(
    st: &mut State,
    a: &str,
    hostname: &str,
    service: &str,
    environment: Option<&str>,
    zone: &super::state::Zone,
) -> CustomDomain {
    st.custom_domains
        .retain(|d| !(d.account_id == a && d.hostname == hostname));
    let domain = CustomDomain {
        id: hex_id(),
        account_id: a.to_string(),
        hostname: hostname.to_string(),
        service: service.to_string(),
        environment: environment.unwrap_or("production").to_string(),
        zone_id: zone.id.clone(),
        zone_name: zone.name.clone(),
        cert_id: hex_id(),
    };
    st.custom_domains.push(domain.clone());
    domain
}

#[derive(Deserialize)]
struct Origin {
    hostname: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
}

/// Hostnames with DNS records of their own, which a custom domain would override (100117).
fn dns_conflicts(st: &State, hostname: &str) -> bool {
    st.dns_records
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(hostname))
}

fn domains_changeset(
    st: &State,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let origins: Vec<Origin> = req.json()?;
    let replace = req.query.flag("replace_state");
    let mut added = vec![];
    let mut updated = vec![];
    let mut conflicting = vec![];
    for o in &origins {
        match st.custom_domains.iter().find(|d| d.account_id == a && d.hostname == o.hostname) {
            Some(d) if d.service == s => {}
            Some(d) => updated.push(json!({ "id": d.id, "hostname": d.hostname, "service": d.service, "modified": true })),
            None if dns_conflicts(st, &o.hostname) => conflicting.push(json!({ "hostname": o.hostname })),
            None => added.push(json!({ "hostname": o.hostname, "zone_id": o.zone_id, "zone_name": o.zone_name })),
        }
    }
    let removed: Vec<Value> = if replace {
        st.custom_domains
            .iter()
            .filter(|d| {
                d.account_id == a
                    && d.service == s
                    && !origins.iter().any(|o| o.hostname == d.hostname)
            })
            .map(domain_json)
            .collect()
    } else {
        vec![]
    };
    Ok(Reply::ok(
        json!({ "added": added, "removed": removed, "updated": updated, "conflicting": conflicting }),
    ))
}

#[derive(Deserialize)]
struct DomainRecordsBody {
    #[serde(default)]
    override_scope: bool,
    #[serde(default)]
    override_existing_origin: bool,
    #[serde(default)]
    override_existing_dns_record: bool,
    origins: Vec<Origin>,
}

async fn put_domain_records(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: DomainRecordsBody = req.json()?;
    for o in &body.origins {
        if !valid_custom_hostname(&o.hostname) {
            return Err(invalid(
                "Custom domains take a hostname without wildcards or paths",
            ));
        }
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
            find_script(st, a, s)?;
            let mut zones = Vec::new();
            for o in &body.origins {
                let zone = resolve_zone(st, a, o.zone_id.as_deref(), o.zone_name.as_deref(), &o.hostname)?;
                let current = st.custom_domains.iter().find(|d| d.account_id == a && d.hostname == o.hostname);
                match current {
                    Some(d) if d.service != s && !body.override_existing_origin => {
                        return Err(SandboxError::rejected(
                            409,
                            100116,
                            format!("Hostname {} is already attached to Worker {}", o.hostname, d.service),
                        ))
                    }
                    None if dns_conflicts(st, &o.hostname) && !body.override_existing_dns_record => {
                        return Err(SandboxError::rejected(
                            409,
                            100117,
                            format!("Hostname '{}' already has externally managed DNS records (A, CNAME, etc). Either delete them, try a different hostname, or use the option 'override_existing_dns_record' to override.", o.hostname),
                        ))
                    }
                    _ => {}
                }
                zones.push(zone);
            }
            if body.override_scope {
                st.custom_domains.retain(|d| !(d.account_id == a && d.service == s));
            }
            let mut out = Vec::new();
            for (o, zone) in body.origins.iter().zip(&zones) {
                if body.override_existing_dns_record {
                    st.dns_records.retain(|r| !r.name.eq_ignore_ascii_case(&o.hostname));
                }
                out.push(domain_json(&upsert_domain(st, a, &o.hostname, s, None, zone)));
            }
            Ok(Reply::ok(Value::Array(out)))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_with_versions(ids: &[&str]) -> Script {
        let mut s = new_script("a", "w");
        for id in ids {
            let mut v: Version = serde_json::from_value(json!({ "id": id })).unwrap();
            v.number = s.versions.len() as u64 + 1;
            s.versions.push(v);
        }
        s
    }

    fn dv(id: &str, pct: f64) -> DeploymentVersion {
        DeploymentVersion {
            version_id: id.into(),
            percentage: pct,
        }
    }

    #[test]
    fn a_version_older_than_a_durable_object_migration_cannot_be_deployed() {
        let mut s = script_with_versions(&["v1", "v2", "v3"]);
        s.versions[1].metadata = Some(json!({ "migrations": { "new_tag": "m2", "steps": [] } }));
        let err = refuse_across_migration(&s, &[dv("v1", 100.0)]).unwrap_err();
        assert!(format!("{err:?}").contains("m2"), "{err:?}");
        assert!(refuse_across_migration(&s, &[dv("v3", 10.0), dv("v1", 90.0)]).is_err());
        // The migrating version itself and later ones are fine.
        assert!(refuse_across_migration(&s, &[dv("v2", 100.0)]).is_ok());
        assert!(refuse_across_migration(&s, &[dv("v3", 50.0), dv("v2", 50.0)]).is_ok());
        // No migration in the history: nothing is refused.
        let plain = script_with_versions(&["v1", "v2"]);
        assert!(refuse_across_migration(&plain, &[dv("v1", 100.0)]).is_ok());
    }

    #[test]
    fn splits() {
        let s = script_with_versions(&["v1", "v2", "v3"]);
        assert!(validate_split(&s, "percentage", &[dv("v1", 10.0), dv("v2", 90.0)]).is_ok());
        assert!(validate_split(&s, "percentage", &[dv("v1", 100.0)]).is_ok());
        assert!(validate_split(&s, "percentage", &[dv("v1", 0.0), dv("v2", 100.0)]).is_ok());
        assert!(validate_split(&s, "percentage", &[dv("v1", 10.0), dv("v2", 80.0)]).is_err());
        assert!(validate_split(&s, "percentage", &[dv("v1", 50.0), dv("v1", 50.0)]).is_err());
        assert!(validate_split(
            &s,
            "percentage",
            &[dv("v1", 30.0), dv("v2", 30.0), dv("v3", 40.0)]
        )
        .is_err());
        assert!(validate_split(&s, "percentage", &[dv("nope", 100.0)]).is_err());
        assert!(validate_split(&s, "immediate", &[dv("v1", 100.0)]).is_err());
        assert!(validate_split(&s, "percentage", &[]).is_err());
    }

    #[test]
    fn inherit_bindings_resolve_or_fail_strictly() {
        let mut s = script_with_versions(&["v1"]);
        s.versions[0].bindings = vec![json!({ "type": "plain_text", "name": "A", "text": "x" })];
        s.secrets = vec![Secret {
            name: "TOKEN".into(),
            secret_type: "secret_text".into(),
        }];
        let upload = Upload {
            bindings: vec![json!({ "type": "inherit", "name": "A" })],
            ..Default::default()
        };
        let v = build_version(Some(&s), &upload, true, "api", "", "upload").unwrap();
        assert_eq!(v.number, 2);
        assert_eq!(v.bindings[0]["text"], "x");
        assert!(v
            .bindings
            .iter()
            .any(|b| b["name"] == "TOKEN" && b["type"] == "secret_text"));
        assert_eq!(v.annotations["workers/triggered_by"], "upload");

        let missing = Upload {
            bindings: vec![json!({ "type": "inherit", "name": "B" })],
            ..Default::default()
        };
        let err = build_version(Some(&s), &missing, true, "api", "", "upload").unwrap_err();
        assert_eq!(err.envelope()["errors"][0]["code"], 10057);
        assert!(
            build_version(Some(&s), &missing, false, "api", "", "upload")
                .unwrap()
                .bindings
                .iter()
                .all(|b| b["name"] != "B")
        );
    }

    #[test]
    fn keep_bindings_carry_over_vars() {
        let mut s = script_with_versions(&["v1"]);
        s.versions[0].bindings =
            vec![json!({ "type": "plain_text", "name": "DASH_VAR", "text": "1" })];
        let keep = Upload {
            keep_bindings: vec!["plain_text".into()],
            ..Default::default()
        };
        assert_eq!(
            build_version(Some(&s), &keep, true, "api", "", "upload")
                .unwrap()
                .bindings
                .len(),
            1
        );
        let drop = Upload::default();
        assert!(build_version(Some(&s), &drop, true, "api", "", "upload")
            .unwrap()
            .bindings
            .is_empty());
    }

    #[test]
    fn migrations_plan_checks_the_old_tag() {
        let m = json!({ "old_tag": "v1", "new_tag": "v2", "steps": [
            { "new_sqlite_classes": ["Counter"] },
            { "renamed_classes": [{ "from": "A", "to": "B" }], "deleted_classes": ["C"] }
        ]});
        let plan = plan_migrations(&m, Some("v1")).unwrap();
        assert_eq!(plan.new_tag.as_deref(), Some("v2"));
        assert_eq!(plan.new_classes, vec![("Counter".to_string(), true)]);
        assert_eq!(plan.renamed, vec![("A".to_string(), "B".to_string())]);
        assert_eq!(plan.deleted, vec!["C".to_string()]);
        let err = plan_migrations(&m, None).unwrap_err();
        assert_eq!(err.envelope()["errors"][0]["code"], 10079);
        let flat =
            plan_migrations(&json!({ "new_tag": "v1", "new_classes": ["X"] }), None).unwrap();
        assert_eq!(flat.new_classes, vec![("X".to_string(), false)]);
    }

    #[test]
    fn handler_detection() {
        let src =
            "export default { async fetch(req) { return new Response('hi') }, scheduled(e) {} }";
        assert_eq!(detect_handlers(src), vec!["fetch", "scheduled"]);
        let classes = "export class Api extends WorkerEntrypoint { ping() {} }\nexport class Room extends DurableObject {}\nexport class Plain {}";
        let named = detect_named_handlers(classes);
        assert_eq!(named.len(), 2);
        assert_eq!(named[0]["name"], "Api");
        assert_eq!(named[1]["name"], "Room");
    }
}
