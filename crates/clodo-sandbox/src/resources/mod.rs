//! Bound resources under `/accounts/{a}/...`: D1, KV, R2 and queues.

mod queues;
mod storage;
#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{
    account_find, account_list, account_member, account_scope, no_route, ApiRequest, Reply,
};
use super::auth::{Access, Product};
use super::error::SandboxError;
use super::pagination::{cursor_page, page_request, paginate};
use super::state::{
    hex_id, now_rfc3339, uuid_id, D1Database, KvNamespace, PagesDeployment, PagesProject, Queue,
    R2Bucket, State, Store, Token,
};

pub use self::storage::d1_find;
use self::{queues::*, storage::*};

/// The not-found code for products whose real code the sandbox does not know (documented).
pub const UNVERIFIED_NOT_FOUND: u32 = 1404;

pub async fn handle(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    rest: &[&str],
) -> Result<Reply, SandboxError> {
    match (req.method.as_str(), rest) {
        ("GET", ["d1", "database"]) => d1_list(&*store.read().await, t, req, a),
        ("POST", ["d1", "database"]) => d1_create(store, t, req, a).await,
        ("GET", ["d1", "database", id]) => {
            let st = store.read().await;
            account_scope(&st, t, req, a, Product::D1, Access::Read)?;
            d1_find(&st, a, id).map(|db| Reply::ok(d1_json(db)))
        }
        ("DELETE", ["d1", "database", id]) => {
            store
                .mutate(|st| {
                    account_scope(st, t, req, a, Product::D1, Access::Edit)?;
                    let uuid = d1_find(st, a, id)?.uuid.clone();
                    st.d1_databases.retain(|d| d.uuid != uuid);
                    crate::d1::forget(&store.files, &uuid);
                    Ok(Reply::ok(Value::Null))
                })
                .await
        }

        ("GET", ["storage", "kv", "namespaces"]) => kv_list(&*store.read().await, t, req, a),
        ("POST", ["storage", "kv", "namespaces"]) => kv_create(store, t, req, a).await,
        ("GET", ["storage", "kv", "namespaces", id]) => {
            let st = store.read().await;
            account_scope(&st, t, req, a, Product::Kv, Access::Read)?;
            kv_find(&st, a, id).map(|ns| Reply::ok(kv_json(ns)))
        }
        ("DELETE", ["storage", "kv", "namespaces", id]) => {
            store
                .mutate(|st| {
                    account_scope(st, t, req, a, Product::Kv, Access::Edit)?;
                    kv_find(st, a, id)?;
                    st.kv_namespaces
                        .retain(|n| !(n.account_id == a && n.id == *id));
                    Ok(Reply::ok(Value::Null))
                })
                .await
        }

        ("GET", ["r2", "buckets"]) => r2_list(&*store.read().await, t, req, a),
        ("POST", ["r2", "buckets"]) => r2_create(store, t, req, a).await,
        ("GET", ["r2", "buckets", name]) => {
            let st = store.read().await;
            account_scope(&st, t, req, a, Product::R2, Access::Read)?;
            r2_find(&st, a, name, jurisdiction(req)).map(|b| Reply::ok(r2_json(b)))
        }
        ("DELETE", ["r2", "buckets", name]) => {
            store
                .mutate(|st| {
                    account_scope(st, t, req, a, Product::R2, Access::Edit)?;
                    let j = jurisdiction(req);
                    r2_find(st, a, name, j)?;
                    st.r2_buckets
                        .retain(|b| !(b.account_id == a && b.name == *name && b.jurisdiction == j));
                    Ok(Reply::ok(json!({})))
                })
                .await
        }

        ("GET", ["queues"]) => queue_list(&*store.read().await, t, req, a),
        ("POST", ["queues"]) => queue_create(store, t, req, a).await,
        ("GET", ["queues", id]) => {
            let st = store.read().await;
            account_scope(&st, t, req, a, Product::Queues, Access::Read)?;
            queue_find(&st, a, id).map(|q| Reply::ok(queue_json(q)))
        }
        ("GET", ["queues", id, "consumers"]) => {
            let st = store.read().await;
            account_scope(&st, t, req, a, Product::Queues, Access::Read)?;
            queue_find(&st, a, id).map(|q| Reply::ok(Value::Array(q.consumers.clone())))
        }
        ("POST", ["queues", id, "consumers"]) => consumer_put(store, t, req, a, id, None).await,
        ("PUT", ["queues", id, "consumers", consumer]) => {
            consumer_put(store, t, req, a, id, Some(consumer)).await
        }
        ("DELETE", ["queues", id, "consumers", consumer]) => {
            store
                .mutate(|st| {
                    account_scope(st, t, req, a, Product::Queues, Access::Edit)?;
                    let qid = queue_find(st, a, id)?.queue_id.clone();
                    let queue = st.queues.iter_mut().find(|q| q.queue_id == qid);
                    let consumers = &mut queue.expect("found above").consumers;
                    let before = consumers.len();
                    consumers.retain(|c| c["consumer_id"] != *consumer);
                    if consumers.len() == before {
                        return Err(SandboxError::not_found(11000, "Consumer does not exist"));
                    }
                    Ok(Reply::ok(Value::Null))
                })
                .await
        }
        ("DELETE", ["queues", id]) => {
            store
                .mutate(|st| {
                    account_scope(st, t, req, a, Product::Queues, Access::Edit)?;
                    let qid = queue_find(st, a, id)?.queue_id.clone();
                    st.queues.retain(|q| q.queue_id != qid);
                    Ok(Reply::ok(Value::Null))
                })
                .await
        }
        ("GET", ["hyperdrive", "configs"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            Ok(Reply::ok(Value::Array(account_list(
                &st.hyperdrive_configs,
                a,
                hyperdrive_json,
            ))))
        }
        ("GET", ["hyperdrive", "configs", id]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let missing = format!("Hyperdrive config {id}");
            account_find(
                &st.hyperdrive_configs,
                a,
                |c| c.id == *id,
                hyperdrive_json,
                &missing,
            )
        }
        ("GET", ["vectorize", "v2", "indexes"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            Ok(Reply::ok(Value::Array(account_list(
                &st.vectorize_indexes,
                a,
                vectorize_json,
            ))))
        }
        ("GET", ["vectorize", "v2", "indexes", name]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let missing = format!("Vectorize index {name}");
            account_find(
                &st.vectorize_indexes,
                a,
                |i| i.name == *name,
                vectorize_json,
                &missing,
            )
        }
        ("GET", ["mtls_certificates"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            Ok(Reply::ok(Value::Array(account_list(
                &st.mtls_certificates,
                a,
                |c| json!(c),
            ))))
        }
        ("GET", ["mtls_certificates", id]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let missing = format!("mTLS certificate {id}");
            account_find(
                &st.mtls_certificates,
                a,
                |c| c.id == *id,
                |c| json!(c),
                &missing,
            )
        }
        ("GET", ["pages", "projects"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let items = account_list(&st.pages_projects, a, pages_project_json);
            let (page, info) = paginate(&items, page_request(&req.query, 10, 100)?);
            Ok(Reply::page(Value::Array(page), info))
        }
        ("GET", ["pages", "projects", name]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            pages_find(&st, a, name).map(|p| Reply::ok(pages_project_json(p)))
        }
        ("GET", ["pages", "projects", name, "deployments"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let project = pages_find(&st, a, name)?;
            let items: Vec<Value> = project
                .deployments
                .iter()
                .rev()
                .filter(|d| req.query.get("env").is_none_or(|e| e == d.environment))
                .map(|d| pages_deployment_json(project, d))
                .collect();
            let (page, info) = paginate(&items, page_request(&req.query, 25, 25)?);
            Ok(Reply::page(Value::Array(page), info))
        }
        ("POST", ["pages", "projects", name, "deployments", id, "rollback"]) => {
            store
                .mutate(|st| {
                    account_member(st, t, req, a)?;
                    let project = pages_find(st, a, name)?;
                    let target = project
                        .deployments
                        .iter()
                        .find(|d| d.id == *id)
                        .ok_or_else(|| {
                            SandboxError::not_found(
                                UNVERIFIED_NOT_FOUND,
                                format!("Deployment {id} not found"),
                            )
                        })?;
                    if target.environment != "production" {
                        return Err(SandboxError::rejected(
                            400,
                            8000020,
                            "Only production deployments can be rolled back to",
                        ));
                    }
                    let rollback = PagesDeployment {
                        id: uuid_id(),
                        created_on: now_rfc3339(),
                        is_rollback: true,
                        ..target.clone()
                    };
                    let project = st
                        .pages_projects
                        .iter_mut()
                        .find(|p| p.account_id == a && p.name == *name)
                        .ok_or_else(pages_not_found)?;
                    project.deployments.push(rollback.clone());
                    Ok(Reply::ok(pages_deployment_json(project, &rollback)))
                })
                .await
        }
        _ => Err(no_route(req)),
    }
}

fn hyperdrive_json(c: &super::state::HyperdriveConfig) -> Value {
    json!({ "id": c.id, "name": c.name, "origin": c.origin })
}

fn vectorize_json(i: &super::state::VectorizeIndex) -> Value {
    json!({
        "name": i.name,
        "created_on": i.created_on,
        "modified_on": i.created_on,
        "config": { "dimensions": i.dimensions, "metric": i.metric },
    })
}

fn pages_not_found() -> SandboxError {
    SandboxError::not_found(
        8000007,
        "Project not found. The specified project name does not match any of your existing projects.",
    )
}

fn pages_find<'a>(st: &'a State, a: &str, name: &str) -> Result<&'a PagesProject, SandboxError> {
    st.pages_projects
        .iter()
        .find(|p| p.account_id == a && p.name == name)
        .ok_or_else(pages_not_found)
}

fn pages_deployment_json(project: &PagesProject, d: &PagesDeployment) -> Value {
    let short_id: String = d.id.chars().take(8).collect();
    json!({
        "id": d.id,
        "short_id": short_id,
        "project_id": project.id,
        "project_name": project.name,
        "environment": d.environment,
        "url": format!("https://{short_id}.{}.pages.dev", project.name),
        "created_on": d.created_on,
        "modified_on": d.created_on,
        "is_skipped": false,
        "deployment_trigger": { "type": "ad_hoc", "metadata": { "branch": d.branch, "commit_hash": d.commit_hash } },
        "latest_stage": { "name": "deploy", "status": "success" },
        "aliases": null,
        "is_rollback": d.is_rollback,
    })
}

fn pages_project_json(p: &PagesProject) -> Value {
    let canonical = p
        .deployments
        .iter()
        .rev()
        .find(|d| d.environment == "production");
    json!({
        "id": p.id,
        "name": p.name,
        "subdomain": format!("{}.pages.dev", p.name),
        "production_branch": p.production_branch,
        "created_on": p.created_on,
        "domains": [format!("{}.pages.dev", p.name)],
        "canonical_deployment": canonical.map(|d| pages_deployment_json(p, d)),
        "latest_deployment": p.deployments.last().map(|d| pages_deployment_json(p, d)),
    })
}
