//! Workers endpoints under `/accounts/{a}/workers/...`: scripts, uploads, versions, deployments,
//! secrets, settings, routes, custom domains, subdomains, schedules and Durable Object namespaces.

mod deployments;
mod routes;
mod scripts;
mod settings;
#[cfg(test)]
mod tests;
mod uploads;
mod views;

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{
    account_find, account_list, account_member, account_scope, check_route_free, no_route,
    pattern_host, ApiRequest, Reply,
};
use super::auth::{Access, Product};
use super::error::SandboxError;
use super::multipart;
use super::pagination::{page_request, paginate};
use super::state::{
    hex_id, now_rfc3339, uuid_id, zone_for_hostname, CustomDomain, Deployment, DeploymentVersion,
    DispatchNamespace, DurableObjectNamespace, Module, Schedule, Script, Secret, State, Store,
    Token, Version, WorkerRoute,
};

pub use self::uploads::upload_parts;
use self::{deployments::*, routes::*, scripts::*, settings::*, uploads::*, views::*};

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
            account_member(&st, t, req, a)?;
            let items = account_list(&st.dispatch_namespaces, a, dispatch_json);
            Ok(Reply::ok(Value::Array(items)))
        }
        ("GET", ["dispatch", "namespaces", name]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let missing = format!("Dispatch namespace {name}");
            let named = |n: &DispatchNamespace| n.namespace_name == *name;
            account_find(&st.dispatch_namespaces, a, named, dispatch_json, &missing)
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

fn dispatch_json(n: &DispatchNamespace) -> Value {
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
