//! Bound resources under `/accounts/{a}/...`: D1, KV, R2 and queues.

use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{account_member, account_scope, no_route, ApiRequest, Reply};
use super::auth::{Access, Product};
use super::error::SandboxError;
use super::pagination::{cursor_page, page_request, paginate};
use super::state::{
    hex_id, now_rfc3339, uuid_id, D1Database, KvNamespace, PagesDeployment, PagesProject, Queue,
    R2Bucket, State, Store, Token,
};

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
            let items: Vec<Value> = st
                .hyperdrive_configs
                .iter()
                .filter(|c| c.account_id == a)
                .map(hyperdrive_json)
                .collect();
            Ok(Reply::ok(Value::Array(items)))
        }
        ("GET", ["hyperdrive", "configs", id]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            st.hyperdrive_configs
                .iter()
                .find(|c| c.account_id == a && c.id == *id)
                .map(|c| Reply::ok(hyperdrive_json(c)))
                .ok_or_else(|| {
                    SandboxError::not_found(
                        UNVERIFIED_NOT_FOUND,
                        format!("Hyperdrive config {id} not found"),
                    )
                })
        }
        ("GET", ["vectorize", "v2", "indexes"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let items: Vec<Value> = st
                .vectorize_indexes
                .iter()
                .filter(|i| i.account_id == a)
                .map(vectorize_json)
                .collect();
            Ok(Reply::ok(Value::Array(items)))
        }
        ("GET", ["vectorize", "v2", "indexes", name]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            st.vectorize_indexes
                .iter()
                .find(|i| i.account_id == a && i.name == *name)
                .map(|i| Reply::ok(vectorize_json(i)))
                .ok_or_else(|| {
                    SandboxError::not_found(
                        UNVERIFIED_NOT_FOUND,
                        format!("Vectorize index {name} not found"),
                    )
                })
        }
        ("GET", ["mtls_certificates"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let items: Vec<Value> = st
                .mtls_certificates
                .iter()
                .filter(|c| c.account_id == a)
                .map(|c| json!(c))
                .collect();
            Ok(Reply::ok(Value::Array(items)))
        }
        ("GET", ["mtls_certificates", id]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            st.mtls_certificates
                .iter()
                .find(|c| c.account_id == a && c.id == *id)
                .map(|c| Reply::ok(json!(c)))
                .ok_or_else(|| {
                    SandboxError::not_found(
                        UNVERIFIED_NOT_FOUND,
                        format!("mTLS certificate {id} not found"),
                    )
                })
        }
        ("GET", ["pages", "projects"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let items: Vec<Value> = st
                .pages_projects
                .iter()
                .filter(|p| p.account_id == a)
                .map(pages_project_json)
                .collect();
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

fn d1_json(db: &D1Database) -> Value {
    let mut v = json!({
        "uuid": db.uuid,
        "name": db.name,
        "created_at": db.created_at,
        "version": "production",
    });
    if let Some(j) = &db.jurisdiction {
        v["jurisdiction"] = json!(j);
    }
    if let Some(h) = &db.primary_location_hint {
        v["primary_location_hint"] = json!(h);
    }
    v
}

/// Wrangler passes either the uuid or the name to `GET /d1/database/{id}`.
fn d1_find<'a>(st: &'a State, a: &str, id: &str) -> Result<&'a D1Database, SandboxError> {
    st.d1_databases
        .iter()
        .find(|d| d.account_id == a && (d.uuid == id || d.name == id))
        .ok_or_else(|| {
            SandboxError::not_found(7404, format!("The database {id} could not be found"))
        })
}

fn d1_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
    account_scope(st, t, req, a, Product::D1, Access::Read)?;
    let request = page_request(&req.query, 1000, 10000)?;
    let search = req.query.get("name").map(str::to_ascii_lowercase);
    let items: Vec<Value> = st
        .d1_databases
        .iter()
        .filter(|d| d.account_id == a)
        .filter(|d| {
            search
                .as_deref()
                .is_none_or(|s| d.name.to_ascii_lowercase().contains(s))
        })
        .map(d1_json)
        .collect();
    let (page, info) = paginate(&items, request);
    Ok(Reply::page(Value::Array(page), info))
}

/// Resource names: 1–63 of lowercase letters, digits, `-` and `_`, not starting with `-`.
fn valid_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[derive(Deserialize)]
struct NewD1 {
    name: String,
    #[serde(default)]
    primary_location_hint: Option<String>,
    #[serde(default)]
    jurisdiction: Option<String>,
}

async fn d1_create(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: NewD1 = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::D1, Access::Edit)?;
            if !valid_resource_name(&body.name) {
                return Err(SandboxError::rejected(
                    400,
                    7500,
                    format!("Invalid database name {:?}", body.name),
                ));
            }
            if st
                .d1_databases
                .iter()
                .any(|d| d.account_id == a && d.name == body.name)
            {
                return Err(SandboxError::rejected(
                    400,
                    7502,
                    format!("A database with that name already exists: {}", body.name),
                ));
            }
            let db = D1Database {
                uuid: uuid_id(),
                account_id: a.to_string(),
                name: body.name.clone(),
                created_at: now_rfc3339(),
                jurisdiction: body.jurisdiction.clone(),
                primary_location_hint: body.primary_location_hint.clone(),
            };
            let out = d1_json(&db);
            st.d1_databases.push(db);
            Ok(Reply::ok(out))
        })
        .await
}

fn kv_json(ns: &KvNamespace) -> Value {
    json!({ "id": ns.id, "title": ns.title, "supports_url_encoding": true })
}

fn kv_find<'a>(st: &'a State, a: &str, id: &str) -> Result<&'a KvNamespace, SandboxError> {
    st.kv_namespaces
        .iter()
        .find(|n| n.account_id == a && n.id == id)
        .ok_or_else(|| SandboxError::not_found(10013, "list keys: 'namespace not found'"))
}

fn kv_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
    account_scope(st, t, req, a, Product::Kv, Access::Read)?;
    let request = page_request(&req.query, 20, 1000)?;
    let mut items: Vec<&KvNamespace> = st
        .kv_namespaces
        .iter()
        .filter(|n| n.account_id == a)
        .collect();
    match req.query.get("order") {
        Some("title") => items.sort_by(|x, y| x.title.cmp(&y.title)),
        Some("id") => items.sort_by(|x, y| x.id.cmp(&y.id)),
        _ => {}
    }
    if req.query.get("direction") == Some("desc") {
        items.reverse();
    }
    let items: Vec<Value> = items.into_iter().map(kv_json).collect();
    let (page, info) = paginate(&items, request);
    Ok(Reply::page(Value::Array(page), info))
}

#[derive(Deserialize)]
struct NewKv {
    title: String,
}

async fn kv_create(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: NewKv = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Kv, Access::Edit)?;
            if body.title.trim().is_empty() || body.title.len() > 512 {
                return Err(SandboxError::rejected(
                    400,
                    10019,
                    "Invalid namespace title",
                ));
            }
            if st
                .kv_namespaces
                .iter()
                .any(|n| n.account_id == a && n.title == body.title)
            {
                return Err(SandboxError::rejected(
                    400,
                    10014,
                    "create namespace: 'a namespace with this account ID and title already exists'",
                ));
            }
            let ns = KvNamespace {
                id: hex_id(),
                account_id: a.to_string(),
                title: body.title.clone(),
            };
            let out = kv_json(&ns);
            st.kv_namespaces.push(ns);
            Ok(Reply::ok(out))
        })
        .await
}

/// The jurisdiction a request addresses (`cf-r2-jurisdiction`, default `default`).
fn jurisdiction(req: &ApiRequest) -> &str {
    req.header("cf-r2-jurisdiction").unwrap_or("default")
}

fn r2_json(b: &R2Bucket) -> Value {
    let mut v = json!({
        "name": b.name,
        "creation_date": b.creation_date,
        "storage_class": b.storage_class,
        "jurisdiction": b.jurisdiction,
    });
    if let Some(l) = &b.location {
        v["location"] = json!(l);
    }
    v
}

fn r2_find<'a>(st: &'a State, a: &str, name: &str, j: &str) -> Result<&'a R2Bucket, SandboxError> {
    st.r2_buckets
        .iter()
        .find(|b| b.account_id == a && b.name == name && b.jurisdiction == j)
        .ok_or_else(|| SandboxError::not_found(10006, "The specified bucket does not exist."))
}

fn r2_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
    account_scope(st, t, req, a, Product::R2, Access::Read)?;
    let per_page = page_request(&req.query, 20, 1000)?.per_page;
    let j = jurisdiction(req);
    let mut buckets: Vec<&R2Bucket> = st
        .r2_buckets
        .iter()
        .filter(|b| b.account_id == a && b.jurisdiction == j)
        .filter(|b| {
            req.query
                .get("name_contains")
                .is_none_or(|s| b.name.contains(s))
        })
        .filter(|b| {
            req.query
                .get("start_after")
                .is_none_or(|s| b.name.as_str() > s)
        })
        .collect();
    buckets.sort_by(|x, y| x.name.cmp(&y.name));
    let (page, next) = cursor_page(
        &buckets,
        |b| b.name.as_str(),
        req.query.get("cursor"),
        per_page,
    )?;
    let mut info = json!({ "per_page": per_page });
    if let Some(cursor) = next {
        info["cursor"] = json!(cursor);
    }
    let buckets: Vec<Value> = page.into_iter().map(r2_json).collect();
    Ok(Reply::page(json!({ "buckets": buckets }), info))
}

/// R2 bucket names: 3–63 lowercase letters, digits and `-`, not starting or ending with `-`.
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewBucket {
    name: String,
    #[serde(default)]
    location_hint: Option<String>,
    #[serde(default)]
    storage_class: Option<String>,
}

async fn r2_create(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: NewBucket = req.json()?;
    let j = jurisdiction(req).to_string();
    if !["default", "eu", "fedramp"].contains(&j.as_str()) {
        return Err(SandboxError::rejected(
            400,
            10059,
            format!("Unknown jurisdiction {j}"),
        ));
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::R2, Access::Edit)?;
            if !valid_bucket_name(&body.name) {
                return Err(SandboxError::rejected(
                    400,
                    10005,
                    "The specified bucket name is not valid.",
                ));
            }
            if st
                .r2_buckets
                .iter()
                .any(|b| b.account_id == a && b.name == body.name && b.jurisdiction == j)
            {
                return Err(SandboxError::rejected(
                    409,
                    10004,
                    "The bucket you tried to create already exists, and you own it.",
                ));
            }
            let bucket = R2Bucket {
                account_id: a.to_string(),
                name: body.name.clone(),
                creation_date: now_rfc3339(),
                location: body.location_hint.clone(),
                storage_class: body
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "Standard".into()),
                jurisdiction: j.clone(),
            };
            let out = r2_json(&bucket);
            st.r2_buckets.push(bucket);
            Ok(Reply::ok(out))
        })
        .await
}

fn queue_json(q: &Queue) -> Value {
    json!({
        "queue_id": q.queue_id,
        "queue_name": q.queue_name,
        "created_on": q.created_on,
        "modified_on": q.created_on,
        "producers": q.producers,
        "producers_total_count": q.producers.len(),
        "consumers": q.consumers,
        "consumers_total_count": q.consumers.len(),
        "settings": { "delivery_delay": 0 },
    })
}

fn queue_find<'a>(st: &'a State, a: &str, id: &str) -> Result<&'a Queue, SandboxError> {
    st.queues
        .iter()
        .find(|q| q.account_id == a && q.queue_id == id)
        .ok_or_else(|| SandboxError::not_found(11000, "Queue does not exist"))
}

fn queue_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
    account_scope(st, t, req, a, Product::Queues, Access::Read)?;
    let request = page_request(&req.query, 20, 1000)?;
    let names = req.query.get_all("name");
    let items: Vec<Value> = st
        .queues
        .iter()
        .filter(|q| q.account_id == a)
        .filter(|q| names.is_empty() || names.contains(&q.queue_name.as_str()))
        .map(queue_json)
        .collect();
    let (page, info) = paginate(&items, request);
    Ok(Reply::page(Value::Array(page), info))
}

#[derive(Deserialize)]
struct NewQueue {
    queue_name: String,
}

async fn queue_create(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: NewQueue = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Queues, Access::Edit)?;
            if !valid_resource_name(&body.queue_name) {
                return Err(SandboxError::rejected(400, 11003, "Invalid queue name"));
            }
            if st
                .queues
                .iter()
                .any(|q| q.account_id == a && q.queue_name == body.queue_name)
            {
                return Err(SandboxError::rejected(
                    409,
                    11009,
                    "A queue with this name already exists",
                ));
            }
            let queue = Queue {
                queue_id: hex_id(),
                account_id: a.to_string(),
                queue_name: body.queue_name.clone(),
                created_on: now_rfc3339(),
                consumers: vec![],
                producers: vec![],
            };
            let out = queue_json(&queue);
            st.queues.push(queue);
            Ok(Reply::ok(out))
        })
        .await
}

/// A Worker consumer as wrangler sends it (`POST`/`PUT …/queues/{id}/consumers`).
#[derive(Deserialize)]
struct NewConsumer {
    #[serde(rename = "type", default = "worker_type")]
    kind: String,
    script_name: Option<String>,
    dead_letter_queue: Option<String>,
    #[serde(default)]
    settings: Value,
}

fn worker_type() -> String {
    "worker".to_owned()
}

/// Adds a consumer (`consumer` None) or replaces one. A queue has at most one Worker
/// consumer per script, as on Cloudflare; a second POST for the same script is refused.
async fn consumer_put(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    queue_id: &str,
    consumer: Option<&str>,
) -> Result<Reply, SandboxError> {
    let body: NewConsumer = req.json()?;
    if body.kind != "worker" {
        return Err(SandboxError::rejected(
            400,
            11003,
            "the sandbox models Worker consumers only (type \"worker\")",
        ));
    }
    let script = body
        .script_name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SandboxError::rejected(400, 11003, "script_name is required"))?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Queues, Access::Edit)?;
            let qid = queue_find(st, a, queue_id)?.queue_id.clone();
            let queue = st
                .queues
                .iter_mut()
                .find(|q| q.queue_id == qid)
                .expect("found above");
            let existing = queue.consumers.iter().position(|c| match consumer {
                Some(id) => c["consumer_id"] == id,
                None => c["script"] == script.as_str(),
            });
            let consumer_id = match (consumer, existing) {
                (Some(_), None) => {
                    return Err(SandboxError::not_found(11000, "Consumer does not exist"))
                }
                (None, Some(_)) => {
                    return Err(SandboxError::rejected(
                        409,
                        11004,
                        format!("Worker `{script}` already consumes this queue"),
                    ))
                }
                (_, Some(i)) => queue.consumers[i]["consumer_id"].clone(),
                (None, None) => Value::String(hex_id()),
            };
            let record = json!({
                "consumer_id": consumer_id,
                "type": "worker",
                "script": script,
                "queue_name": queue.queue_name,
                "dead_letter_queue": body.dead_letter_queue,
                "settings": body.settings,
                "created_on": now_rfc3339(),
            });
            match existing {
                Some(i) => queue.consumers[i] = record.clone(),
                None => queue.consumers.push(record.clone()),
            }
            Ok(Reply::ok(record))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_bucket_name("my-bucket"));
        assert!(!valid_bucket_name("ab"));
        assert!(!valid_bucket_name("-ab"));
        assert!(!valid_bucket_name("My_bucket"));
        assert!(valid_resource_name("app-db"));
        assert!(!valid_resource_name("App DB"));
    }
}
