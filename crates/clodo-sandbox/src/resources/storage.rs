//! D1 databases, KV namespaces and R2 buckets: views, lookups, lists and creation.

use super::*;

pub fn d1_json(db: &D1Database) -> Value {
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
pub fn d1_find<'a>(st: &'a State, a: &str, id: &str) -> Result<&'a D1Database, SandboxError> {
    st.d1_databases
        .iter()
        .find(|d| d.account_id == a && (d.uuid == id || d.name == id))
        .ok_or_else(|| {
            SandboxError::not_found(7404, format!("The database {id} could not be found"))
        })
}

pub fn d1_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
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
pub fn valid_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[derive(Deserialize)]
pub struct NewD1 {
    name: String,
    #[serde(default)]
    primary_location_hint: Option<String>,
    #[serde(default)]
    jurisdiction: Option<String>,
}

pub async fn d1_create(
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

pub fn kv_json(ns: &KvNamespace) -> Value {
    json!({ "id": ns.id, "title": ns.title, "supports_url_encoding": true })
}

pub fn kv_find<'a>(st: &'a State, a: &str, id: &str) -> Result<&'a KvNamespace, SandboxError> {
    st.kv_namespaces
        .iter()
        .find(|n| n.account_id == a && n.id == id)
        .ok_or_else(|| SandboxError::not_found(10013, "list keys: 'namespace not found'"))
}

pub fn kv_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
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
pub struct NewKv {
    title: String,
}

pub async fn kv_create(
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
pub fn jurisdiction(req: &ApiRequest) -> &str {
    req.header("cf-r2-jurisdiction").unwrap_or("default")
}

pub fn r2_json(b: &R2Bucket) -> Value {
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

pub fn r2_find<'a>(
    st: &'a State,
    a: &str,
    name: &str,
    j: &str,
) -> Result<&'a R2Bucket, SandboxError> {
    st.r2_buckets
        .iter()
        .find(|b| b.account_id == a && b.name == name && b.jurisdiction == j)
        .ok_or_else(|| SandboxError::not_found(10006, "The specified bucket does not exist."))
}

pub fn r2_list(st: &State, t: &Token, req: &ApiRequest, a: &str) -> Result<Reply, SandboxError> {
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
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewBucket {
    name: String,
    #[serde(default)]
    location_hint: Option<String>,
    #[serde(default)]
    storage_class: Option<String>,
}

pub async fn r2_create(
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
