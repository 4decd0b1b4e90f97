//! The fetch plan: which endpoints the needs call for, asked in two parallel rounds (the second
//! only for what depends on the first: Worker settings, zone route tables, DNS records and the
//! token's policies, which move to the first round when the caller remembers the token's id).
//! Every path is built by `cloudflare::endpoints` from checked segments, so a hostile value in
//! a config fails that call instead of reaching another endpoint.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;

use super::{
    active_token, capabilities, read_permission as perm, zone_for_host, Fetched, Inventory, Needs,
    ScriptRemote, TokenOwner, TokenState, Unanswered,
};
use crate::cloudflare::endpoints::{
    Endpoint, GetAccount, GetToken, ListCustomDomains, ListD1Databases, ListDeployments,
    ListDnsRecords, ListDurableObjectNamespaces, ListEndpoint, ListHyperdriveConfigs,
    ListKvNamespaces, ListQueues, ListR2Buckets, ListScriptSecrets, ListScripts,
    ListVectorizeIndexes, ListZoneRoutes, ListZones, Script, ScriptSettings, TokenPolicy,
    TokenVerify, VerifyToken,
};
use crate::cloudflare::{CallError, Client, Transport};

/// Fetches the inventory: a first round of independent calls in parallel, then a second round
/// (only when routes or custom domains need it) for zone route tables and DNS records.
pub async fn fetch<T: Transport>(client: &Client<T>, needs: &Needs) -> Inventory {
    let account = || needs.account_id.clone();
    let script = |s: &String| Script::new(&needs.account_id, s);

    // Round 1. Both verify endpoints are asked at once: which one answers tells the token's
    // owner, and asking them one after the other would cost a round trip.
    let user_verify = call(client, VerifyToken::User);
    let account_verify = call(client, VerifyToken::Account(account()));
    let account_info = call(client, GetAccount { account: account() });
    let scripts = listed(
        client,
        ListScripts { account: account() },
        "Workers scripts",
        perm::WORKERS_SCRIPTS,
    );
    let d1 = optional(needs.d1, || {
        listed(
            client,
            ListD1Databases { account: account() },
            "D1 databases",
            perm::D1,
        )
    });
    let kv = optional(needs.kv, || {
        listed(
            client,
            ListKvNamespaces { account: account() },
            "KV namespaces",
            perm::KV,
        )
    });
    let queues = optional(needs.queues, || {
        listed(
            client,
            ListQueues { account: account() },
            "queues",
            perm::QUEUES,
        )
    });
    let namespaces = optional(needs.do_namespaces, || {
        listed(
            client,
            ListDurableObjectNamespaces { account: account() },
            "Durable Object namespaces",
            perm::WORKERS_SCRIPTS,
        )
    });
    let hyperdrive = optional(needs.hyperdrive, || async {
        listed(
            client,
            ListHyperdriveConfigs { account: account() },
            "Hyperdrive configs",
            perm::HYPERDRIVE,
        )
        .await
        .map(|configs| configs.into_iter().map(|c| c.id).collect())
    });
    let vectorize = optional(needs.vectorize, || async {
        listed(
            client,
            ListVectorizeIndexes { account: account() },
            "Vectorize indexes",
            perm::VECTORIZE,
        )
        .await
        .map(|indexes| indexes.into_iter().map(|i| i.name).collect())
    });
    let zones = optional(!needs.hostnames.is_empty(), || {
        listed(
            client,
            ListZones { account: account() },
            "zones",
            perm::ZONES,
        )
    });
    let domains = optional(!needs.custom_domains.is_empty(), || {
        listed(
            client,
            ListCustomDomains { account: account() },
            "custom domains",
            perm::ROUTES,
        )
    });
    let r2 = join_all(needs.r2_jurisdictions.iter().map(|j| async move {
        let what = match j {
            Some(j) => format!("R2 buckets (jurisdiction {j})"),
            None => "R2 buckets".to_owned(),
        };
        let endpoint = ListR2Buckets {
            account: account(),
            jurisdiction: j.clone(),
        };
        let buckets = listed(client, endpoint, &what, perm::R2)
            .await
            .map(|b| b.into_iter().map(|b| b.name).collect());
        (j.clone(), buckets)
    }));
    let per_script = join_all(needs.scripts.iter().map(|s| async move {
        let (secrets, deployments) = futures::join!(
            list(client, ListScriptSecrets(script(s))),
            call(client, ListDeployments(script(s)))
        );
        let remote = ScriptRemote {
            secrets: existing(secrets, "secrets")
                .map(|r| r.map(|names| names.into_iter().map(|n| n.name).collect())),
            live: existing(deployments, "deployments")
                .map(|r| r.and_then(|d| d.deployments.into_iter().next().map(|d| d.versions))),
            settings_bindings: None,
        };
        (s.clone(), remote)
    }));

    // The policies of the token as it was last time, asked beside verify; kept only if verify
    // answers the same token (else asked again in round 2, for the id verify gave).
    let hinted_endpoint = needs
        .token_hint
        .as_ref()
        .map(|h| token_endpoint(h.owner, &h.id, account()));
    let hinted_policies = async {
        match &hinted_endpoint {
            Some(endpoint) => Some(policies_of(client, endpoint).await),
            None => None,
        }
    };

    let (
        (user_verify, account_verify, account_info, scripts),
        (d1, kv, queues, do_namespaces),
        (zones, custom_domains, r2, per_script),
        (hyperdrive, vectorize, hinted_policies),
    ) = futures::join!(
        async { futures::join!(user_verify, account_verify, account_info, scripts) },
        async { futures::join!(d1, kv, queues, namespaces) },
        async { futures::join!(zones, domains, r2, per_script) },
        async { futures::join!(hyperdrive, vectorize, hinted_policies) },
    );
    let token = token_state(user_verify, account_verify);
    let account_name = account_info
        .map(|a| a.name.unwrap_or_else(|| needs.account_id.clone()))
        .map_err(|e| Unanswered::from_call("account", "", &e));

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
        let bindings = call(client, ScriptSettings(script(s)))
            .await
            .map(|settings| {
                settings
                    .bindings
                    .into_iter()
                    .map(|b| (b.binding_type, b.name))
                    .collect()
            })
            .map_err(|e| Unanswered::from_call("Worker settings", perm::WORKERS_SCRIPTS, &e));
        (s.clone(), bindings)
    }));
    let routes = join_all(route_zones.iter().map(|z| async move {
        let endpoint = ListZoneRoutes { zone: z.clone() };
        (
            z.clone(),
            listed(client, endpoint, "zone routes", perm::ROUTES).await,
        )
    }));
    let dns = join_all(dns_hosts.iter().map(|(host, zone)| async move {
        let endpoint = ListDnsRecords {
            zone: zone.clone(),
            name: host.clone(),
        };
        (
            host.clone(),
            listed(client, endpoint, "DNS records", perm::DNS).await,
        )
    }));
    // The token's own policies, to tell which write permissions it has: its id came with the
    // verify answer, and the endpoint depends on who owns the token. Already read in round 1
    // when the hint named this token.
    let (early_policies, policies_endpoint) = match active_token(&token) {
        Some(v) if needs.token_hint.as_ref() == Some(&v) => (hinted_policies, None),
        Some(v) => (None, Some(token_endpoint(v.owner, &v.id, account()))),
        None => (None, None),
    };
    let policies = async {
        match &policies_endpoint {
            Some(endpoint) => Some(policies_of(client, endpoint).await),
            None => early_policies,
        }
    };
    let (settings, zone_routes, dns_records, token_policies) =
        futures::join!(settings, routes, dns, policies);
    let mut settings: BTreeMap<String, Fetched<Vec<(String, String)>>> =
        settings.into_iter().collect();
    let per_script = per_script
        .into_iter()
        .map(|(name, mut remote)| {
            remote.settings_bindings = settings.remove(&name);
            (name, remote)
        })
        .collect();

    let mut inventory = Inventory {
        token,
        token_policies,
        account: account_name,
        scripts,
        d1,
        kv,
        r2: r2.into_iter().collect(),
        queues,
        do_namespaces,
        hyperdrive,
        vectorize,
        zones,
        custom_domains,
        per_script,
        zone_routes: zone_routes.into_iter().collect(),
        dns_records: dns_records.into_iter().collect(),
        capabilities: BTreeMap::new(),
    };
    inventory.capabilities = capabilities(&inventory);
    inventory
}

/// [`Client::call`] for an endpoint built in place.
async fn call<T: Transport, E: Endpoint>(
    client: &Client<T>,
    endpoint: E,
) -> Result<E::Result, CallError> {
    client.call(&endpoint).await
}

/// [`Client::list`] for an endpoint built in place.
async fn list<T: Transport, E: ListEndpoint>(
    client: &Client<T>,
    endpoint: E,
) -> Result<Vec<E::Item>, CallError> {
    client.list(&endpoint).await
}

/// Every item of a list, or why there is none (`what` and the permission name the part).
async fn listed<T: Transport, E: ListEndpoint>(
    client: &Client<T>,
    endpoint: E,
    what: &str,
    permission: &str,
) -> Fetched<Vec<E::Item>> {
    list(client, endpoint)
        .await
        .map_err(|e| Unanswered::from_call(what, permission, &e))
}

/// One endpoint's result, or why there is none.
async fn answered<T: Transport, E: Endpoint>(
    client: &Client<T>,
    endpoint: &E,
    what: &str,
    permission: &str,
) -> Fetched<E::Result> {
    client
        .call(endpoint)
        .await
        .map_err(|e| Unanswered::from_call(what, permission, &e))
}

/// The call, only when `wanted`.
async fn optional<F, Fut, R>(wanted: bool, call: F) -> Option<R>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = R>,
{
    match wanted.then(call) {
        Some(f) => Some(f.await),
        None => None,
    }
}

/// A per-script call where "no such Worker" is an answer (the Worker is new), not a failure.
fn existing<R>(r: Result<R, CallError>, what: &str) -> Fetched<Option<R>> {
    match r {
        Ok(answer) => Ok(Some(answer)),
        Err(e) if e.has_code(10007) || e.status() == Some(404) => Ok(None),
        Err(e) => Err(Unanswered::from_call(what, perm::WORKERS_SCRIPTS, &e)),
    }
}

/// Who owns the token, from which verify endpoint accepted it. No definite answer from either
/// leaves the token unverified; two refusals mean the API does not know it.
fn token_state(
    user: Result<TokenVerify, CallError>,
    account: Result<TokenVerify, CallError>,
) -> Fetched<TokenState> {
    let verified = |t: TokenVerify, owner| TokenState::Verified {
        id: t.id,
        owner,
        status: t.status,
        expires_on: t.expires_on,
    };
    match (user, account) {
        (Ok(t), _) => Ok(verified(t, TokenOwner::User)),
        (_, Ok(t)) => Ok(verified(t, TokenOwner::Account)),
        (Err(e), _) | (_, Err(e)) if e.is_unanswered() => Err(Unanswered {
            forbidden: false,
            refused: false,
            ..Unanswered::from_call("token verification", "", &e)
        }),
        (Err(user_err), Err(_)) => Ok(TokenState::Rejected {
            reason: user_err.to_string(),
        }),
    }
}

/// Where a token's own details (its policies) are read: user tokens under `/user`, account
/// tokens under their account.
fn token_endpoint(owner: TokenOwner, id: &str, account: String) -> GetToken {
    match owner {
        TokenOwner::User => GetToken::User { id: id.to_owned() },
        TokenOwner::Account => GetToken::Account {
            account,
            id: id.to_owned(),
        },
    }
}

async fn policies_of<T: Transport>(
    client: &Client<T>,
    endpoint: &GetToken,
) -> Fetched<Vec<TokenPolicy>> {
    answered(client, endpoint, "the token's policies", "")
        .await
        .map(|t| t.policies)
}
