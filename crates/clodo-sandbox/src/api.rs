//! The Cloudflare API v4 subset: request/reply types, the route table, and the identity, zone,
//! DNS and route endpoints. Workers endpoints live in `workers`, bound resources in `resources`.

use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::analytics;
use super::auth::{self, Access, Product};
use super::error::SandboxError;
use super::pagination::{page_request, paginate, Query};
use super::state::{
    hex_id, zone_for_hostname, AccountOwned, State, Store, Token, TokenOwner, TokenStatus,
    WorkerRoute, Zone,
};
use super::{resources, rulesets, workers};

/// JSON bodies are small; anything bigger than this is refused before parsing.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// One API request, body already read (size-capped by the server).
pub struct ApiRequest {
    pub method: Method,
    /// The full path, as the client sent it (for error messages).
    pub path: String,
    /// Percent-decoded segments after `/client/v4`.
    pub segments: Vec<String>,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: axum::body::Bytes,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Parses a small JSON body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, SandboxError> {
        if self.body.len() > JSON_BODY_LIMIT {
            return Err(SandboxError::BodyTooLarge {
                limit: JSON_BODY_LIMIT,
                code: 10026,
            });
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| SandboxError::BadRequest(format!("invalid JSON body: {e}")))
    }

    /// Who made the change, as Cloudflare records it: wrangler identifies itself by user agent.
    pub fn source(&self) -> &'static str {
        match self.header("user-agent") {
            Some(ua) if ua.starts_with("wrangler") => "wrangler",
            _ => "api",
        }
    }
}

/// A successful answer.
pub enum Reply {
    /// The Cloudflare envelope around `result`.
    Envelope {
        status: u16,
        result: Value,
        result_info: Option<Value>,
        messages: Vec<Value>,
    },
    /// A body sent as is (script content, GraphQL).
    Raw {
        status: u16,
        content_type: String,
        /// Extra response headers (e.g. `cf-entrypoint` on script content).
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

impl Reply {
    pub fn ok(result: Value) -> Self {
        Reply::Envelope {
            status: 200,
            result,
            result_info: None,
            messages: vec![],
        }
    }

    pub fn page(result: Value, result_info: Value) -> Self {
        Reply::Envelope {
            status: 200,
            result,
            result_info: Some(result_info),
            messages: vec![],
        }
    }
}

/// Routes one request to its handler.
pub async fn handle(store: &Store, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let auth_header = req.header("authorization");
    let method = req.method.as_str();

    // The verify endpoints report on tokens of any status, so they authenticate themselves.
    match (method, segs.as_slice()) {
        ("GET", ["user", "tokens", "verify"]) => {
            return verify(&*store.read().await, auth_header, None)
        }
        ("GET", ["accounts", a, "tokens", "verify"]) => {
            return verify(&*store.read().await, auth_header, Some(a))
        }
        (_, ["pages", "assets", rest @ ..]) => {
            return crate::pages::assets::handle(store, req, rest).await
        }
        _ => {}
    }
    let token = auth::authenticate(&*store.read().await, auth_header)?.clone();
    let t = &token;

    match (method, segs.as_slice()) {
        // Reading token details needs "API Tokens Read" (user tokens) or "Account API Tokens
        // Read" (account tokens); without it Cloudflare answers 9109.
        ("GET", ["user", "tokens", id]) => token_details(&*store.read().await, t, None, id),
        ("GET", ["accounts", a, "tokens", id]) => {
            token_details(&*store.read().await, t, Some(a), id)
        }
        ("GET", ["user"]) => user(t),
        ("GET", ["memberships"]) => memberships(&*store.read().await, t, req),
        ("GET", ["accounts"]) => accounts(&*store.read().await, t, req),
        ("GET", ["accounts", a]) => account(&*store.read().await, t, req, a),
        ("POST", ["graphql"]) => graphql(&*store.read().await, t, req),

        ("GET", ["zones"]) => zones(&*store.read().await, t, req),
        ("GET", ["zones", z]) => {
            let st = store.read().await;
            let zone = zone_scope(&st, t, req, z, Product::Zones, Access::Read)?;
            Ok(Reply::ok(zone_json(&st, zone)))
        }
        ("GET", ["zones", z, "dns_records"]) => dns_records(&*store.read().await, t, req, z),
        ("POST", ["zones", z, "dns_records"]) => create_dns_record(store, t, req, z).await,
        ("GET", ["zones", z, "workers", "routes"]) => {
            let st = store.read().await;
            zone_scope(&st, t, req, z, Product::Routes, Access::Read)?;
            let routes: Vec<Value> = st
                .worker_routes
                .iter()
                .filter(|r| r.zone_id == *z)
                .map(route_json)
                .collect();
            Ok(Reply::ok(Value::Array(routes)))
        }
        ("GET", ["zones", z, "workers", "routes", id]) => {
            let st = store.read().await;
            zone_scope(&st, t, req, z, Product::Routes, Access::Read)?;
            st.worker_routes
                .iter()
                .find(|r| r.zone_id == *z && r.id == *id)
                .map(|r| Reply::ok(route_json(r)))
                .ok_or_else(route_not_found)
        }
        ("POST", ["zones", z, "workers", "routes"]) => {
            upsert_zone_route(store, t, req, z, None).await
        }
        ("PUT", ["zones", z, "workers", "routes", id]) => {
            upsert_zone_route(store, t, req, z, Some(id)).await
        }
        ("DELETE", ["zones", z, "workers", "routes", id]) => {
            store
                .mutate(|st| {
                    zone_scope(st, t, req, z, Product::Routes, Access::Edit)?;
                    let at = st
                        .worker_routes
                        .iter()
                        .position(|r| r.zone_id == *z && r.id == *id)
                        .ok_or_else(route_not_found)?;
                    st.worker_routes.remove(at);
                    Ok(Reply::ok(json!({ "id": id })))
                })
                .await
        }

        ("GET", ["zones", z, "rulesets", "phases", phase, "entrypoint"]) => {
            rulesets::get_entrypoint(store, t, req, z, phase).await
        }
        ("PUT", ["zones", z, "rulesets", "phases", phase, "entrypoint"]) => {
            rulesets::put_entrypoint(store, t, req, z, phase).await
        }
        (_, ["accounts", a, "workers", rest @ ..]) => workers::handle(store, t, req, a, rest).await,
        (_, ["accounts", a, "d1", "database", id, rest @ ..]) if !rest.is_empty() => {
            crate::d1::handle(store, t, req, a, id, rest).await
        }
        (_, ["accounts", a, "pages", rest @ ..]) => {
            crate::pages::handle(store, t, req, a, rest).await
        }
        (_, ["accounts", a, rest @ ..]) => resources::handle(store, t, req, a, rest).await,
        _ => Err(no_route(req)),
    }
}

pub fn no_route(req: &ApiRequest) -> SandboxError {
    SandboxError::NoRoute {
        method: req.method.to_string(),
        path: req.path.clone(),
    }
}

/// Checks `/accounts/{a}/...` access for this request.
pub fn account_scope(
    st: &State,
    token: &Token,
    req: &ApiRequest,
    account_id: &str,
    product: Product,
    need: Access,
) -> Result<(), SandboxError> {
    auth::authorize_account(st, token, account_id, &req.path, Some(product), need)
}

/// Checks `/accounts/{a}/...` access for products outside the token permission model
/// (Hyperdrive, Vectorize, mTLS, dispatch namespaces, Pages): covering the account is enough.
pub fn account_member(
    st: &State,
    token: &Token,
    req: &ApiRequest,
    account_id: &str,
) -> Result<(), SandboxError> {
    auth::authorize_account(st, token, account_id, &req.path, None, Access::Read)
}

/// The JSON views of the account's records, in stored order.
pub fn account_list<T: AccountOwned>(
    records: &[T],
    account_id: &str,
    view: impl Fn(&T) -> Value,
) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r.account_id() == account_id)
        .map(view)
        .collect()
}

/// The account's record that `matches`, answered as its JSON view; else a 1404 naming `missing`
/// (`"{missing} not found"`), the code Cloudflare uses for these products.
pub fn account_find<T: AccountOwned>(
    records: &[T],
    account_id: &str,
    matches: impl Fn(&T) -> bool,
    view: impl Fn(&T) -> Value,
    missing: &str,
) -> Result<Reply, SandboxError> {
    records
        .iter()
        .find(|r| r.account_id() == account_id && matches(r))
        .map(|r| Reply::ok(view(r)))
        .ok_or_else(|| {
            SandboxError::not_found(
                resources::UNVERIFIED_NOT_FOUND,
                format!("{missing} not found"),
            )
        })
}

/// Checks `/zones/{z}/...` access: the zone must exist (7003) and its account be covered with
/// the product permission (10000).
pub fn zone_scope<'a>(
    st: &'a State,
    token: &Token,
    req: &ApiRequest,
    zone_id: &str,
    product: Product,
    need: Access,
) -> Result<&'a Zone, SandboxError> {
    let zone = st
        .zones
        .iter()
        .find(|z| z.id == zone_id)
        .ok_or_else(|| SandboxError::BadIdentifier(req.path.clone()))?;
    if !auth::allows(token, &zone.account_id, Some(product), need) {
        return Err(SandboxError::Forbidden);
    }
    Ok(zone)
}

fn verify(st: &State, header: Option<&str>, account: Option<&str>) -> Result<Reply, SandboxError> {
    let token = auth::find_token(st, header).map_err(|e| match e {
        SandboxError::UnknownToken => SandboxError::InvalidApiToken,
        other => other,
    })?;
    let right_kind = match account {
        None => auth::is_kind(token, TokenOwner::User),
        Some(a) => {
            auth::is_kind(token, TokenOwner::Account) && token.accounts.iter().any(|x| x == a)
        }
    };
    if !right_kind {
        return Err(SandboxError::InvalidApiToken);
    }
    let status = auth::effective_status(token, chrono::Utc::now());
    let mut result = json!({ "id": token.id, "status": status.as_str() });
    if let Some(e) = &token.expires_on {
        result["expires_on"] = json!(e);
    }
    if let Some(n) = &token.not_before {
        result["not_before"] = json!(n);
    }
    let messages = if status == TokenStatus::Active {
        vec![
            json!({ "code": 10000, "message": "This API Token is valid and active", "type": null }),
        ]
    } else {
        vec![]
    };
    Ok(Reply::Envelope {
        status: 200,
        result,
        result_info: None,
        messages,
    })
}

/// `GET /user/tokens/{id}` (`account` = None) or `/accounts/{a}/tokens/{id}`: a token with its
/// policies, as Cloudflare shows them. The caller needs the token-read permission; it sees the
/// tokens of its own user (user endpoint) or of its own account (account endpoint).
fn token_details(
    st: &State,
    caller: &Token,
    account: Option<&str>,
    id: &str,
) -> Result<Reply, SandboxError> {
    let can_read = caller.permissions.contains_key(&Product::ApiTokens);
    let right_endpoint = match account {
        None => caller.owner == TokenOwner::User,
        Some(a) => caller.owner == TokenOwner::Account && caller.accounts.iter().any(|x| x == a),
    };
    if !can_read || !right_endpoint {
        return Err(SandboxError::Unauthorized);
    }
    let visible = |t: &&Token| match account {
        None => {
            t.owner == TokenOwner::User
                && (t.id == caller.id
                    || (caller.user_email.is_some() && t.user_email == caller.user_email))
        }
        Some(a) => t.owner == TokenOwner::Account && t.accounts.iter().any(|x| x == a),
    };
    let token = st
        .tokens
        .iter()
        .filter(visible)
        .find(|t| t.id == id)
        .ok_or_else(|| SandboxError::not_found(1003, "Token not found"))?;
    Ok(Reply::ok(token_json(token)))
}

/// A token as Cloudflare's token endpoints show it: one `allow` policy per scope (the account,
/// the account's zones, the user), each with the permission groups of that scope.
fn token_json(token: &Token) -> Value {
    let mut policies = Vec::new();
    for account in &token.accounts {
        for zone_level in [false, true] {
            let groups: Vec<Value> = token
                .permissions
                .iter()
                .filter(|(p, _)| p.is_zone_level() == zone_level && **p != Product::ApiTokens)
                .map(|(p, access)| {
                    let level = match access {
                        Access::Read => "Read",
                        Access::Edit => "Write",
                    };
                    let name = format!("{} {level}", p.group_stem(token.owner));
                    json!({ "id": group_id(&name), "name": name })
                })
                .collect();
            if groups.is_empty() {
                continue;
            }
            let key = format!("com.cloudflare.api.account.{account}");
            let resources = if zone_level {
                json!({ key: { "com.cloudflare.api.account.zone.*": "*" } })
            } else {
                json!({ key: "*" })
            };
            policies.push(json!({
                "id": format!("{}-{}", token.id, policies.len() + 1),
                "effect": "allow",
                "permission_groups": groups,
                "resources": resources,
            }));
        }
    }
    if token.permissions.contains_key(&Product::ApiTokens) {
        let name = format!("{} Read", Product::ApiTokens.group_stem(token.owner));
        let resources = match token.owner {
            TokenOwner::User => json!({ format!("com.cloudflare.api.user.{}", token.id): "*" }),
            TokenOwner::Account => json!(token
                .accounts
                .iter()
                .map(|a| (format!("com.cloudflare.api.account.{a}"), json!("*")))
                .collect::<serde_json::Map<_, _>>()),
        };
        policies.push(json!({
            "id": format!("{}-{}", token.id, policies.len() + 1),
            "effect": "allow",
            "permission_groups": [{ "id": group_id(&name), "name": name }],
            "resources": resources,
        }));
    }
    json!({
        "id": token.id,
        "name": token.name,
        "status": auth::effective_status(token, chrono::Utc::now()).as_str(),
        "issued_on": null,
        "modified_on": null,
        "last_used_on": null,
        "not_before": token.not_before,
        "expires_on": token.expires_on,
        "condition": {},
        "policies": policies,
    })
}

/// A stable id for a permission group (Cloudflare's are fixed hex ids; the name is what matters).
fn group_id(name: &str) -> String {
    name.to_ascii_lowercase().replace(' ', "_")
}

fn user(token: &Token) -> Result<Reply, SandboxError> {
    match (&token.owner, &token.user_email) {
        (TokenOwner::User, Some(email)) => Ok(Reply::ok(json!({ "id": token.id, "email": email }))),
        _ => Err(SandboxError::Unauthorized),
    }
}

fn account_json(st: &State, id: &str) -> Value {
    let name = st.account(id).map(|a| a.name.as_str()).unwrap_or_default();
    json!({ "id": id, "name": name, "type": "standard" })
}

fn memberships(st: &State, token: &Token, req: &ApiRequest) -> Result<Reply, SandboxError> {
    if token.owner == TokenOwner::Account {
        return Err(SandboxError::AccountTokenNotAllowed);
    }
    let items: Vec<Value> = token
        .accounts
        .iter()
        .map(|a| json!({ "id": a, "status": "accepted", "account": account_json(st, a) }))
        .collect();
    let (page, info) = paginate(&items, page_request(&req.query, 20, 50)?);
    Ok(Reply::page(Value::Array(page), info))
}

fn accounts(st: &State, token: &Token, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let items: Vec<Value> = token.accounts.iter().map(|a| account_json(st, a)).collect();
    let (page, info) = paginate(&items, page_request(&req.query, 20, 50)?);
    Ok(Reply::page(Value::Array(page), info))
}

fn account(st: &State, token: &Token, req: &ApiRequest, id: &str) -> Result<Reply, SandboxError> {
    auth::authorize_account(st, token, id, &req.path, None, Access::Read)?;
    Ok(Reply::ok(account_json(st, id)))
}

/// `POST /graphql`: answers in GraphQL's own shape (`{data, errors}`), not the v4 envelope.
fn graphql(st: &State, token: &Token, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let body: Value = req.json()?;
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let variables = body.get("variables").cloned().unwrap_or(Value::Null);
    let answer = match analytics::parse_filter(query, &variables) {
        Err(message) => json!({ "data": null, "errors": [{ "message": message }] }),
        Ok(filter)
            if !auth::allows(
                token,
                &filter.account_tag,
                Some(Product::WorkersScripts),
                Access::Read,
            ) =>
        {
            json!({ "data": null, "errors": [{
                "message": format!("not authorized for account {}", filter.account_tag),
                "extensions": { "code": "authz" }
            }] })
        }
        Ok(filter) => {
            let scripts: Vec<_> = st
                .scripts
                .iter()
                .filter(|s| s.account_id == filter.account_tag)
                .collect();
            let rows: Vec<Value> =
                analytics::invocations(&st.analytics, &scripts, &filter, chrono::Utc::now())
                    .iter()
                    .map(analytics::row_json)
                    .collect();
            json!({ "data": { "viewer": { "accounts": [
                { "workersInvocationsAdaptive": rows }
            ] } }, "errors": null })
        }
    };
    Ok(Reply::Raw {
        status: 200,
        content_type: "application/json".into(),
        headers: vec![],
        body: serde_json::to_vec(&answer).unwrap_or_default(),
    })
}

pub fn zone_json(st: &State, zone: &Zone) -> Value {
    json!({
        "id": zone.id,
        "name": zone.name,
        "status": zone.status,
        "paused": zone.paused,
        "type": "full",
        "account": { "id": zone.account_id, "name": st.account(&zone.account_id).map(|a| a.name.clone()) },
        "created_on": zone.created_on,
        "modified_on": zone.created_on,
    })
}

/// Cloudflare's string filter: `op:value` with op starts_with | ends_with | contains, or exact.
pub fn string_filter(filter: &str, value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let lower = filter.to_ascii_lowercase();
    if let Some(v) = lower.strip_prefix("starts_with:") {
        value.starts_with(v)
    } else if let Some(v) = lower.strip_prefix("ends_with:") {
        value.ends_with(v)
    } else if let Some(v) = lower.strip_prefix("contains:") {
        value.contains(v)
    } else {
        value == lower
    }
}

fn zones(st: &State, token: &Token, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let request = page_request(&req.query, 20, 50)?;
    let items: Vec<Value> = st
        .zones
        .iter()
        .filter(|z| auth::allows(token, &z.account_id, Some(Product::Zones), Access::Read))
        .filter(|z| {
            req.query
                .get("name")
                .is_none_or(|n| string_filter(n, &z.name))
        })
        .filter(|z| req.query.get("status").is_none_or(|s| s == z.status))
        .filter(|z| {
            req.query
                .get("account.id")
                .is_none_or(|a| a == z.account_id)
        })
        .map(|z| zone_json(st, z))
        .collect();
    let (page, info) = paginate(&items, request);
    Ok(Reply::page(Value::Array(page), info))
}

fn dns_json(r: &super::state::DnsRecord, zone: &Zone) -> Value {
    json!({
        "id": r.id, "zone_id": r.zone_id, "zone_name": zone.name, "type": r.record_type,
        "name": r.name, "content": r.content, "proxied": r.proxied, "ttl": r.ttl,
    })
}

fn dns_records(
    st: &State,
    token: &Token,
    req: &ApiRequest,
    z: &str,
) -> Result<Reply, SandboxError> {
    let zone = zone_scope(st, token, req, z, Product::Dns, Access::Read)?;
    let request = page_request(&req.query, 100, 5000)?;
    let q = &req.query;
    let name_ok = |name: &str| {
        let name = name.to_ascii_lowercase();
        q.get("name").is_none_or(|n| name == n.to_ascii_lowercase())
            && q.get("name.exact")
                .is_none_or(|n| name == n.to_ascii_lowercase())
            && q.get("name.contains")
                .is_none_or(|n| name.contains(&n.to_ascii_lowercase()))
            && q.get("name.startswith")
                .is_none_or(|n| name.starts_with(&n.to_ascii_lowercase()))
            && q.get("name.endswith")
                .is_none_or(|n| name.ends_with(&n.to_ascii_lowercase()))
    };
    let items: Vec<Value> = st
        .dns_records
        .iter()
        .filter(|r| r.zone_id == zone.id && name_ok(&r.name))
        .filter(|r| {
            q.get("type")
                .is_none_or(|t| t.eq_ignore_ascii_case(&r.record_type))
        })
        .filter(|r| q.get("content").is_none_or(|c| c == r.content))
        .filter(|r| q.get("proxied").is_none_or(|p| p == r.proxied.to_string()))
        .map(|r| dns_json(r, zone))
        .collect();
    let (page, info) = paginate(&items, request);
    Ok(Reply::page(Value::Array(page), info))
}

#[derive(serde::Deserialize)]
struct NewDnsRecord {
    #[serde(rename = "type")]
    record_type: String,
    name: String,
    content: String,
    #[serde(default)]
    proxied: bool,
    #[serde(default)]
    ttl: Option<u32>,
}

async fn create_dns_record(
    store: &Store,
    token: &Token,
    req: &ApiRequest,
    z: &str,
) -> Result<Reply, SandboxError> {
    let body: NewDnsRecord = req.json()?;
    store
        .mutate(|st| {
            let zone = zone_scope(st, token, req, z, Product::Dns, Access::Edit)?.clone();
            let name = body.name.trim_end_matches('.').to_ascii_lowercase();
            if name != zone.name && !name.ends_with(&format!(".{}", zone.name)) {
                return Err(SandboxError::rejected(
                    400,
                    9005,
                    format!("Record name {name} is not in zone {}", zone.name),
                ));
            }
            let record = super::state::DnsRecord {
                id: hex_id(),
                zone_id: zone.id.clone(),
                record_type: body.record_type.to_ascii_uppercase(),
                name,
                content: body.content.clone(),
                proxied: body.proxied,
                ttl: body.ttl.unwrap_or(1),
            };
            let out = dns_json(&record, &zone);
            st.dns_records.push(record);
            Ok(Reply::ok(out))
        })
        .await
}

pub fn route_json(r: &WorkerRoute) -> Value {
    json!({ "id": r.id, "pattern": r.pattern, "script": r.script })
}

fn route_not_found() -> SandboxError {
    SandboxError::not_found(10005, "Route not found")
}

/// The host part of a route pattern (`*.example.com/api*` → `example.com`), for zone lookup.
pub fn pattern_host(pattern: &str) -> String {
    let host = pattern
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    host.trim_start_matches("*.")
        .trim_start_matches('*')
        .to_ascii_lowercase()
}

/// Refuses a pattern that another script already serves in the zone.
pub fn check_route_free(
    st: &State,
    zone_id: &str,
    pattern: &str,
    script: Option<&str>,
    except_id: Option<&str>,
) -> Result<(), SandboxError> {
    let taken = st.worker_routes.iter().any(|r| {
        r.zone_id == zone_id
            && r.pattern == pattern
            && Some(r.id.as_str()) != except_id
            && r.script.as_deref() != script
    });
    if taken {
        return Err(SandboxError::rejected(
            409,
            10020,
            format!("A route with the pattern {pattern} already exists for another script"),
        ));
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct RouteBody {
    pattern: String,
    #[serde(default)]
    script: Option<String>,
}

async fn upsert_zone_route(
    store: &Store,
    token: &Token,
    req: &ApiRequest,
    z: &str,
    id: Option<&str>,
) -> Result<Reply, SandboxError> {
    let body: RouteBody = req.json()?;
    store
        .mutate(|st| {
            let zone = zone_scope(st, token, req, z, Product::Routes, Access::Edit)?.clone();
            let host = pattern_host(&body.pattern);
            if zone_for_hostname(std::slice::from_ref(&zone), &host).is_none() {
                return Err(SandboxError::rejected(
                    400,
                    10022,
                    format!(
                        "Route pattern {} is not in zone {}",
                        body.pattern, zone.name
                    ),
                ));
            }
            if let Some(script) = &body.script {
                if st.script(&zone.account_id, script).is_none() {
                    return Err(workers::script_not_found());
                }
            }
            check_route_free(st, &zone.id, &body.pattern, body.script.as_deref(), id)?;
            let route = match id {
                Some(id) => {
                    let route = st
                        .worker_routes
                        .iter_mut()
                        .find(|r| r.zone_id == zone.id && r.id == id)
                        .ok_or_else(route_not_found)?;
                    route.pattern = body.pattern.clone();
                    route.script = body.script.clone();
                    route.clone()
                }
                None => {
                    let route = WorkerRoute {
                        id: hex_id(),
                        zone_id: zone.id.clone(),
                        pattern: body.pattern.clone(),
                        script: body.script.clone(),
                    };
                    st.worker_routes.push(route.clone());
                    route
                }
            };
            Ok(Reply::ok(route_json(&route)))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_filters() {
        assert!(string_filter("example.com", "Example.com"));
        assert!(string_filter("starts_with:exa", "example.com"));
        assert!(string_filter("ends_with:.com", "example.com"));
        assert!(string_filter("contains:mpl", "example.com"));
        assert!(!string_filter("example.org", "example.com"));
    }

    #[test]
    fn pattern_hosts() {
        assert_eq!(pattern_host("*.example.com/api*"), "example.com");
        assert_eq!(pattern_host("shop.example.com/*"), "shop.example.com");
        assert_eq!(pattern_host("https://example.com"), "example.com");
    }
}
