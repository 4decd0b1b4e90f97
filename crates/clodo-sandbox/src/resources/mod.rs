//! Bound resources under `/accounts/{a}/...`: D1, KV, R2 and queues (D1 SQL and Time Travel
//! live in `d1`, Pages in `pages`).

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
    hex_id, now_rfc3339, uuid_id, D1Database, KvNamespace, Queue, R2Bucket, State, Store, Token,
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
