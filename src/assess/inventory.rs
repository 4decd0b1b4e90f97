//! What the account has, fetched once per resource type and in parallel, for the rules to match
//! the config against locally. Each part is `Fetched`: either the answer or why there is none,
//! so a rule can say `inconclusive` instead of guessing.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use serde::Serialize;
use serde_json::Value;

use crate::cloudflare::{api_path, CallError, Client, Envelope, Transport};

/// A part of the inventory, or why it could not be read.
pub type Fetched<T> = Result<T, Unanswered>;

/// Why a part of the inventory has no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unanswered {
    pub reason: String,
    /// The token lacks the read permission (as opposed to a timeout or server error).
    pub forbidden: bool,
    /// The permission that makes the call answerable, as the dashboard names it
    /// (`Account · D1 · Read`); `None` when no permission can help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

impl Unanswered {
    fn from_call(what: &str, permission: &str, err: &CallError) -> Self {
        Self {
            reason: format!("{what}: {err}"),
            forbidden: err.is_forbidden(),
            permission: (!permission.is_empty()).then(|| permission.to_owned()),
        }
    }
}

/// The read permission each list needs, named as the dashboard's token editor shows it.
pub mod read_permission {
    pub const WORKERS_SCRIPTS: &str = "Account · Workers Scripts · Read";
    pub const D1: &str = "Account · D1 · Read";
    pub const KV: &str = "Account · Workers KV Storage · Read";
    pub const R2: &str = "Account · Workers R2 Storage · Read";
    pub const QUEUES: &str = "Account · Queues · Read";
    pub const HYPERDRIVE: &str = "Account · Hyperdrive · Read";
    pub const VECTORIZE: &str = "Account · Vectorize · Read";
    pub const ZONES: &str = "Zone · Zone · Read";
    pub const ROUTES: &str = "Zone · Workers Routes · Read";
    pub const DNS: &str = "Zone · DNS · Read";
}
use read_permission as perm;

/// What the rules need fetched; derived from the resolved configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub account_id: String,
    /// The Workers being deployed (resolved names): their secrets, deployments and settings.
    pub scripts: BTreeSet<String>,
    pub d1: bool,
    pub kv: bool,
    /// R2 jurisdictions in use; `None` is the default jurisdiction.
    pub r2_jurisdictions: BTreeSet<Option<String>>,
    pub queues: bool,
    pub do_namespaces: bool,
    pub hyperdrive: bool,
    pub vectorize: bool,
    /// Hosts of routes and custom domains, for the zone lookup.
    pub hostnames: BTreeSet<String>,
    /// Custom-domain hostnames: their attachments and DNS records.
    pub custom_domains: BTreeSet<String>,
    /// Whether any route (not custom domain) needs the zone's route table.
    pub routes: bool,
}

/// How the token verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TokenState {
    /// A token the API knows; `status` is `active`, `disabled` or `expired`.
    Verified {
        /// The token's id (from the verify answer), to read its policies.
        id: Option<String>,
        owner: TokenOwner,
        status: String,
        expires_on: Option<String>,
    },
    /// The API does not accept this token at all (unknown, malformed).
    Rejected { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOwner {
    User,
    Account,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptInfo {
    pub name: String,
    pub handlers: Vec<String>,
    /// Named entrypoints and Durable Object classes.
    pub named_handlers: Vec<String>,
    pub migration_tag: Option<String>,
    pub last_deployed_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct D1Info {
    pub uuid: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvInfo {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueInfo {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoNamespace {
    pub script: Option<String>,
    pub class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneInfo {
    pub id: String,
    pub name: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomDomain {
    pub hostname: String,
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteInfo {
    pub pattern: String,
    pub script: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    pub record_type: String,
    pub name: String,
    pub content: String,
}

/// One traffic split entry of the live deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveVersion {
    pub version_id: String,
    pub percentage: f64,
}

/// What the account says about one of the Workers being deployed. `None` inside = the Worker
/// does not exist yet (a first deploy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptRemote {
    pub secrets: Fetched<Option<Vec<String>>>,
    /// The deployment serving traffic (newest first from the API).
    pub live: Fetched<Option<Vec<LiveVersion>>>,
    /// Binding `(type, name)` pairs of the live version, fetched only when the Worker was last
    /// changed in the dashboard (for drift).
    pub settings_bindings: Option<Fetched<Vec<(String, String)>>>,
}

/// One policy of the token, as `GET /user/tokens/{id}` (or the account endpoint) shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenPolicy {
    /// `allow` or `deny`.
    pub effect: String,
    /// Permission group names, e.g. `Workers Scripts Write`.
    pub groups: Vec<String>,
    /// The resources object as the API gives it (account and zone keys).
    pub resources: Value,
}

/// Everything fetched for one assessment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    pub token: Fetched<TokenState>,
    /// The token's own policies; `None` when the token did not verify or has no id.
    pub token_policies: Option<Fetched<Vec<TokenPolicy>>>,
    /// `Ok(name)` when the account is reachable with this token.
    pub account: Fetched<String>,
    pub scripts: Fetched<Vec<ScriptInfo>>,
    pub d1: Option<Fetched<Vec<D1Info>>>,
    pub kv: Option<Fetched<Vec<KvInfo>>>,
    pub r2: BTreeMap<Option<String>, Fetched<Vec<String>>>,
    pub queues: Option<Fetched<Vec<QueueInfo>>>,
    pub do_namespaces: Option<Fetched<Vec<DoNamespace>>>,
    /// Hyperdrive config ids.
    pub hyperdrive: Option<Fetched<Vec<String>>>,
    /// Vectorize index names.
    pub vectorize: Option<Fetched<Vec<String>>>,
    pub zones: Option<Fetched<Vec<ZoneInfo>>>,
    pub custom_domains: Option<Fetched<Vec<CustomDomain>>>,
    pub per_script: BTreeMap<String, ScriptRemote>,
    /// Route tables of the zones that routes fall in.
    pub zone_routes: BTreeMap<String, Fetched<Vec<RouteInfo>>>,
    /// DNS records per custom-domain hostname.
    pub dns_records: BTreeMap<String, Fetched<Vec<DnsRecord>>>,
    /// Read access per product, from the probes (`None` = not probed).
    pub capabilities: BTreeMap<&'static str, Option<bool>>,
}

/// Per-page sizes: the largest each list endpoint accepts, so one call usually suffices.
const PER_PAGE: usize = 100;
const D1_PER_PAGE: usize = 100;
/// The zone list: Cloudflare caps `per_page` at 50 for zones.
const ZONES_PER_PAGE: usize = 50;

/// Fetches the inventory: a first round of independent calls in parallel, then a second round
/// (only when routes or custom domains need it) for zone route tables and DNS records.
pub async fn fetch<T: Transport>(client: &Client<T>, needs: &Needs) -> Inventory {
    let a = needs.account_id.as_str();
    // Every id and name that goes into a path is checked and encoded: a hostile value in a
    // config (`../../user`) fails that call instead of reaching another endpoint.
    let acct = |rest: &[&str]| {
        let mut parts = vec!["accounts", a];
        parts.extend_from_slice(rest);
        path_of(&parts)
    };

    // Round 1. Both verify endpoints are asked at once: which one answers tells the token's
    // owner, and asking them one after the other would cost a round trip.
    let zones_query = [("account.id", a.to_owned())];
    let user_verify = client.get("/user/tokens/verify", &[]);
    let account_verify = get_at(client, acct(&["tokens", "verify"]), &[]);
    let account = get_at(client, acct(&[]), &[]);
    let scripts = get_at(client, acct(&["workers", "scripts"]), &[]);
    let d1 = optional(needs.d1, || {
        list_at(client, acct(&["d1", "database"]), D1_PER_PAGE)
    });
    let kv = optional(needs.kv, || {
        list_at(client, acct(&["storage", "kv", "namespaces"]), PER_PAGE)
    });
    let queues = optional(needs.queues, || {
        list_at(client, acct(&["queues"]), PER_PAGE)
    });
    let namespaces = optional(needs.do_namespaces, || {
        list_at(
            client,
            acct(&["workers", "durable_objects", "namespaces"]),
            PER_PAGE,
        )
    });
    let hyperdrive = optional(needs.hyperdrive, || {
        get_at(client, acct(&["hyperdrive", "configs"]), &[])
    });
    let vectorize = optional(needs.vectorize, || {
        get_at(client, acct(&["vectorize", "v2", "indexes"]), &[])
    });
    let zones = optional(!needs.hostnames.is_empty(), || {
        client.list_pages("/zones", &zones_query, ZONES_PER_PAGE)
    });
    let domains = optional(!needs.custom_domains.is_empty(), || {
        get_at(client, acct(&["workers", "domains"]), &[])
    });
    let r2 = join_all(needs.r2_jurisdictions.iter().map(|j| {
        let headers: Vec<(&str, String)> = j
            .iter()
            .map(|j| ("cf-r2-jurisdiction", j.clone()))
            .collect();
        let path = acct(&["r2", "buckets"]);
        async move {
            let items = match path {
                Ok(path) => {
                    client
                        .list_cursor(&path, &[("per_page", "1000".to_owned())], &headers, |r| {
                            r["buckets"].as_array().cloned().unwrap_or_default()
                        })
                        .await
                }
                Err(e) => Err(e),
            };
            (j.clone(), items)
        }
    }));
    let acct = &acct;
    let per_script = join_all(needs.scripts.iter().map(|s| async move {
        let (secrets, deployments) = futures::join!(
            get_at(
                client,
                acct(&["workers", "scripts", s.as_str(), "secrets"]),
                &[]
            ),
            get_at(
                client,
                acct(&["workers", "scripts", s.as_str(), "deployments"]),
                &[]
            )
        );
        (s.clone(), secrets, deployments)
    }));

    let (
        (user_verify, account_verify, account, scripts),
        (d1, kv, queues, namespaces),
        (zones, domains, r2, per_script),
        (hyperdrive, vectorize),
    ) = futures::join!(
        async { futures::join!(user_verify, account_verify, account, scripts) },
        async { futures::join!(d1, kv, queues, namespaces) },
        async { futures::join!(zones, domains, r2, per_script) },
        async { futures::join!(hyperdrive, vectorize) },
    );
    let names_in = |what: &'static str, permission: &'static str, key: &'static str| {
        move |r: Result<Envelope, CallError>| {
            r.map(|e| {
                e.result
                    .as_array()
                    .map(|items| items.iter().map(|v| text(v, key)).collect())
                    .unwrap_or_default()
            })
            .map_err(|e| Unanswered::from_call(what, permission, &e))
        }
    };
    let hyperdrive = hyperdrive.map(names_in("Hyperdrive configs", perm::HYPERDRIVE, "id"));
    let vectorize = vectorize.map(names_in("Vectorize indexes", perm::VECTORIZE, "name"));

    let token = token_state(user_verify, account_verify);
    let account = account
        .map(|e| e.result["name"].as_str().unwrap_or(a).to_owned())
        .map_err(|e| Unanswered::from_call("account", "", &e));
    let scripts = scripts
        .map(|e| parse_scripts(&e.result))
        .map_err(|e| Unanswered::from_call("Workers scripts", perm::WORKERS_SCRIPTS, &e));
    let d1 = d1.map(|r| {
        r.map(|items| {
            items
                .iter()
                .map(|v| D1Info {
                    uuid: text(v, "uuid"),
                    name: text(v, "name"),
                })
                .collect()
        })
        .map_err(|e| Unanswered::from_call("D1 databases", perm::D1, &e))
    });
    let kv = kv.map(|r| {
        r.map(|items| {
            items
                .iter()
                .map(|v| KvInfo {
                    id: text(v, "id"),
                    title: text(v, "title"),
                })
                .collect()
        })
        .map_err(|e| Unanswered::from_call("KV namespaces", perm::KV, &e))
    });
    let queues = queues.map(|r| {
        r.map(|items| {
            items
                .iter()
                .map(|v| QueueInfo {
                    name: text(v, "queue_name"),
                })
                .collect()
        })
        .map_err(|e| Unanswered::from_call("queues", perm::QUEUES, &e))
    });
    let do_namespaces = namespaces.map(|r| {
        r.map(|items| {
            items
                .iter()
                .map(|v| DoNamespace {
                    script: v["script"].as_str().map(str::to_owned),
                    class: text(v, "class"),
                })
                .collect()
        })
        .map_err(|e| Unanswered::from_call("Durable Object namespaces", perm::WORKERS_SCRIPTS, &e))
    });
    let zones: Option<Fetched<Vec<ZoneInfo>>> = zones.map(|r| {
        r.map(|items| {
            items
                .iter()
                .map(|v| ZoneInfo {
                    id: text(v, "id"),
                    name: text(v, "name"),
                    status: text(v, "status"),
                })
                .collect()
        })
        .map_err(|e| Unanswered::from_call("zones", perm::ZONES, &e))
    });
    let custom_domains = domains.map(|r| {
        r.map(|e| {
            e.result
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|v| CustomDomain {
                            hostname: text(v, "hostname"),
                            service: text(v, "service"),
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .map_err(|e| Unanswered::from_call("custom domains", perm::ROUTES, &e))
    });
    let r2: BTreeMap<Option<String>, Fetched<Vec<String>>> = r2
        .into_iter()
        .map(|(j, items)| {
            let what = match &j {
                Some(j) => format!("R2 buckets (jurisdiction {j})"),
                None => "R2 buckets".to_owned(),
            };
            let items = items
                .map(|b| b.iter().map(|v| text(v, "name")).collect())
                .map_err(|e| Unanswered::from_call(&what, perm::R2, &e));
            (j, items)
        })
        .collect();

    // Round 2: what depends on round 1.
    let dash_scripts: Vec<String> = match &scripts {
        Ok(list) => list
            .iter()
            .filter(|s| needs.scripts.contains(&s.name))
            .filter(|s| s.last_deployed_from.as_deref() == Some("dash"))
            .map(|s| s.name.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    let route_zones: BTreeSet<String> = match &zones {
        Some(Ok(zones)) if needs.routes => needs
            .hostnames
            .iter()
            .filter_map(|h| zone_for_host(zones, h))
            .map(|z| z.id.clone())
            .collect(),
        _ => BTreeSet::new(),
    };
    let dns_hosts: Vec<(String, String)> = match &zones {
        Some(Ok(zones)) => needs
            .custom_domains
            .iter()
            .filter_map(|h| zone_for_host(zones, h).map(|z| (h.clone(), z.id.clone())))
            .collect(),
        _ => Vec::new(),
    };
    let settings = join_all(dash_scripts.iter().map(|s| async move {
        let r = get_at(
            client,
            acct(&["workers", "scripts", s.as_str(), "settings"]),
            &[],
        )
        .await;
        (s.clone(), r)
    }));
    let routes = join_all(route_zones.iter().map(|z| async move {
        let r = get_at(
            client,
            path_of(&["zones", z.as_str(), "workers", "routes"]),
            &[],
        )
        .await;
        (z.clone(), r)
    }));
    let dns = join_all(dns_hosts.iter().map(|(host, zone)| async move {
        let r = get_at(
            client,
            path_of(&["zones", zone.as_str(), "dns_records"]),
            &[("name", host.clone())],
        )
        .await;
        (host.clone(), r)
    }));
    // The token's own policies, to tell which write permissions it has: its id came with the
    // verify answer, and the endpoint depends on who owns the token.
    let policies_path = match &token {
        Ok(TokenState::Verified {
            id: Some(id),
            owner,
            status,
            ..
        }) if status == "active" => Some(match owner {
            TokenOwner::User => path_of(&["user", "tokens", id.as_str()]),
            TokenOwner::Account => acct(&["tokens", id.as_str()]),
        }),
        _ => None,
    };
    let policies = async {
        match policies_path {
            Some(path) => Some(get_at(client, path, &[]).await),
            None => None,
        }
    };
    let (settings, routes, dns, policies) = futures::join!(settings, routes, dns, policies);
    let token_policies = policies.map(|r| {
        r.map(|e| parse_policies(&e.result))
            .map_err(|e| Unanswered::from_call("the token's policies", "", &e))
    });
    let mut settings: BTreeMap<String, Fetched<Vec<(String, String)>>> = settings
        .into_iter()
        .map(|(s, r)| {
            let bindings = r
                .map(|e| {
                    e.result["bindings"]
                        .as_array()
                        .map(|b| {
                            b.iter()
                                .map(|v| (text(v, "type"), text(v, "name")))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .map_err(|e| Unanswered::from_call("Worker settings", perm::WORKERS_SCRIPTS, &e));
            (s, bindings)
        })
        .collect();

    let per_script = per_script
        .into_iter()
        .map(|(name, secrets, deployments)| {
            let remote = ScriptRemote {
                secrets: existing(secrets, "secrets").map(|r| {
                    r.map(|e| {
                        e.result
                            .as_array()
                            .map(|s| s.iter().map(|v| text(v, "name")).collect())
                            .unwrap_or_default()
                    })
                }),
                live: existing(deployments, "deployments")
                    .map(|r| r.and_then(|e| live_versions(&e.result))),
                settings_bindings: settings.remove(&name),
            };
            (name, remote)
        })
        .collect();
    let zone_routes = routes
        .into_iter()
        .map(|(z, r)| {
            let routes = r
                .map(|e| {
                    e.result
                        .as_array()
                        .map(|items| {
                            items
                                .iter()
                                .map(|v| RouteInfo {
                                    pattern: text(v, "pattern"),
                                    script: v["script"].as_str().map(str::to_owned),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .map_err(|e| Unanswered::from_call("zone routes", perm::ROUTES, &e));
            (z, routes)
        })
        .collect();
    let dns_records = dns
        .into_iter()
        .map(|(h, r)| {
            let records = r
                .map(|e| {
                    e.result
                        .as_array()
                        .map(|items| {
                            items
                                .iter()
                                .map(|v| DnsRecord {
                                    record_type: text(v, "type"),
                                    name: text(v, "name"),
                                    content: text(v, "content"),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .map_err(|e| Unanswered::from_call("DNS records", perm::DNS, &e));
            (h, records)
        })
        .collect();

    let mut inventory = Inventory {
        token,
        token_policies,
        account,
        scripts,
        d1,
        kv,
        r2,
        queues,
        do_namespaces,
        hyperdrive,
        vectorize,
        zones,
        custom_domains,
        per_script,
        zone_routes,
        dns_records,
        capabilities: BTreeMap::new(),
    };
    inventory.capabilities = capabilities(&inventory);
    inventory
}

/// Read access per product, from the answers above: `Some(true)` read worked, `Some(false)`
/// the API refused for lack of permission, `None` not probed or not answered.
fn capabilities(inv: &Inventory) -> BTreeMap<&'static str, Option<bool>> {
    fn probe<T>(f: Option<&Fetched<T>>) -> Option<bool> {
        match f {
            Some(Ok(_)) => Some(true),
            Some(Err(u)) if u.forbidden => Some(false),
            _ => None,
        }
    }
    let mut caps = BTreeMap::new();
    caps.insert("workers_scripts", probe(Some(&inv.scripts)));
    caps.insert("d1", probe(inv.d1.as_ref()));
    caps.insert("kv", probe(inv.kv.as_ref()));
    caps.insert(
        "r2",
        inv.r2
            .values()
            .map(|f| probe(Some(f)))
            .reduce(|a, b| match (a, b) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            })
            .flatten(),
    );
    caps.insert("queues", probe(inv.queues.as_ref()));
    caps.insert("zones", probe(inv.zones.as_ref()));
    caps.insert(
        "routes",
        inv.zone_routes
            .values()
            .map(|f| probe(Some(f)))
            .find(Option::is_some)
            .flatten(),
    );
    caps.insert(
        "dns",
        inv.dns_records
            .values()
            .map(|f| probe(Some(f)))
            .find(Option::is_some)
            .flatten(),
    );
    caps
}

/// The zone a host belongs to: the longest zone name that is the host or a parent of it,
/// as wrangler walks `a.b.x.com` → `b.x.com` → `x.com`.
#[must_use]
pub fn zone_for_host<'a>(zones: &'a [ZoneInfo], host: &str) -> Option<&'a ZoneInfo> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    zones
        .iter()
        .filter(|z| {
            let zone = z.name.to_ascii_lowercase();
            host == zone || host.ends_with(&format!(".{zone}"))
        })
        .max_by_key(|z| z.name.len())
}

fn optional<F, Fut, R>(wanted: bool, call: F) -> impl std::future::Future<Output = Option<R>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let fut = wanted.then(call);
    async move {
        match fut {
            Some(f) => Some(f.await),
            None => None,
        }
    }
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// A per-script call where "no such Worker" is an answer (the Worker is new), not a failure.
fn existing(r: Result<Envelope, CallError>, what: &str) -> Fetched<Option<Envelope>> {
    match r {
        Ok(e) => Ok(Some(e)),
        Err(e) if e.has_code(10007) || e.status() == Some(404) => Ok(None),
        Err(e) => Err(Unanswered::from_call(what, perm::WORKERS_SCRIPTS, &e)),
    }
}

/// `/a/b/c` from raw segments, each checked and encoded; a refused value becomes the error
/// of the call that needed it.
fn path_of(parts: &[&str]) -> Result<String, CallError> {
    api_path(parts).map_err(|e| CallError::InvalidPath {
        path: parts.join("/"),
        reason: e.to_string(),
    })
}

async fn get_at<T: Transport>(
    client: &Client<T>,
    path: Result<String, CallError>,
    query: &[(&str, String)],
) -> Result<Envelope, CallError> {
    client.get(&path?, query).await
}

async fn list_at<T: Transport>(
    client: &Client<T>,
    path: Result<String, CallError>,
    per_page: usize,
) -> Result<Vec<Value>, CallError> {
    client.list_pages(&path?, &[], per_page).await
}

fn parse_policies(result: &Value) -> Vec<TokenPolicy> {
    result["policies"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|p| TokenPolicy {
                    effect: text(p, "effect"),
                    groups: p["permission_groups"]
                        .as_array()
                        .map(|g| g.iter().map(|g| text(g, "name")).collect())
                        .unwrap_or_default(),
                    resources: p["resources"].clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn token_state(
    user: Result<Envelope, CallError>,
    account: Result<Envelope, CallError>,
) -> Fetched<TokenState> {
    let verified = |e: &Envelope, owner| TokenState::Verified {
        id: e.result["id"].as_str().map(str::to_owned),
        owner,
        status: text(&e.result, "status"),
        expires_on: e.result["expires_on"].as_str().map(str::to_owned),
    };
    match (&user, &account) {
        (Ok(e), _) => Ok(verified(e, TokenOwner::User)),
        (_, Ok(e)) => Ok(verified(e, TokenOwner::Account)),
        (Err(CallError::Unanswered { reason }), _) | (_, Err(CallError::Unanswered { reason })) => {
            Err(Unanswered {
                reason: format!("token verification: {reason}"),
                forbidden: false,
                permission: None,
            })
        }
        (Err(user_err), Err(_)) => Ok(TokenState::Rejected {
            reason: user_err.to_string(),
        }),
    }
}

fn parse_scripts(result: &Value) -> Vec<ScriptInfo> {
    result
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| ScriptInfo {
                    name: text(v, "id"),
                    handlers: strings(&v["handlers"]),
                    named_handlers: v["named_handlers"]
                        .as_array()
                        .map(|n| n.iter().map(|h| text(h, "name")).collect())
                        .unwrap_or_default(),
                    migration_tag: v["migration_tag"].as_str().map(str::to_owned),
                    last_deployed_from: v["last_deployed_from"].as_str().map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn live_versions(result: &Value) -> Option<Vec<LiveVersion>> {
    let newest = result["deployments"].as_array()?.first()?;
    Some(
        newest["versions"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .map(|v| LiveVersion {
                        version_id: text(v, "version_id"),
                        percentage: v["percentage"].as_f64().unwrap_or(0.0),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Collects the set of names from a list, for membership tests.
#[must_use]
pub fn names<'a, I: IntoIterator<Item = &'a str>>(items: I) -> BTreeSet<&'a str> {
    items.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;

    use super::*;
    use crate::cloudflare::{HttpRequest, HttpResponse, RetryPolicy, TransportError};

    /// Answers every call with an empty success and records the URLs asked for.
    #[derive(Default)]
    struct Recorder {
        urls: RefCell<Vec<String>>,
    }

    impl Transport for Recorder {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.urls.borrow_mut().push(request.url);
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body: br#"{"success":true,"errors":[],"messages":[],"result":[]}"#.to_vec(),
            })
        }
        async fn sleep(&self, _ms: u64) {}
        fn now_ms(&self) -> u64 {
            0
        }
    }

    #[test]
    fn hostile_names_never_reach_another_endpoint() {
        let client = Client::new(
            Recorder::default(),
            "http://api",
            "t",
            RetryPolicy::default(),
        );
        let mut needs = Needs {
            account_id: "acc".into(),
            ..Needs::default()
        };
        needs.scripts.insert("../../../user/tokens".into());
        needs.scripts.insert("ok-worker".into());
        let inv = block_on(fetch(&client, &needs));
        let urls = client.transport().urls.borrow().clone();
        assert!(
            urls.iter()
                .all(|u| !u.contains("..") && !u.contains("/user/tokens/secrets")),
            "{urls:#?}"
        );
        assert!(urls
            .iter()
            .any(|u| u == "http://api/accounts/acc/workers/scripts/ok-worker/secrets"));
        // The hostile name's checks are unanswered (so unverified), never passed.
        let hostile = &inv.per_script["../../../user/tokens"];
        assert!(hostile.secrets.is_err() && hostile.live.is_err());

        // An account id that is not a path segment fails every account call.
        let client = Client::new(
            Recorder::default(),
            "http://api",
            "t",
            RetryPolicy::default(),
        );
        let needs = Needs {
            account_id: "acc/../../zones".into(),
            d1: true,
            ..Needs::default()
        };
        let inv = block_on(fetch(&client, &needs));
        assert!(inv.account.is_err() && matches!(inv.d1, Some(Err(_))));
        let urls = client.transport().urls.borrow().clone();
        assert!(urls.iter().all(|u| !u.contains("zones")), "{urls:#?}");
    }
}
