//! What the account has, fetched once per resource type and in parallel, for the rules to match
//! the config against locally. Each part is `Fetched`: either the answer or why there is none,
//! so a rule can say `inconclusive` instead of guessing. The fetch plan is in `fetch`; the
//! shapes of the answers are the endpoints' own (`cloudflare::endpoints`).

mod fetch;
pub mod pages_d1;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::cloudflare::{AttemptFailure, CallError, TransportError};

pub use crate::cloudflare::endpoints::{
    CustomDomain, D1Info, DnsRecord, DoNamespace, KvInfo, QueueInfo, RouteInfo, ScriptInfo,
    TokenPolicy, ZoneInfo,
};
pub use fetch::fetch;

/// One traffic split entry of the live deployment.
pub type LiveVersion = crate::cloudflare::endpoints::VersionShare;

/// A part of the inventory, or why it could not be read.
pub type Fetched<T> = Result<T, Unanswered>;

/// Why a part of the inventory has no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unanswered {
    pub reason: String,
    /// The token lacks the read permission (as opposed to a timeout or server error).
    pub forbidden: bool,
    /// A definite no: the API refused the call (a 4xx) or the client refused to send it (a value
    /// that cannot be a path segment). Otherwise no definite answer came and a later try may
    /// succeed.
    #[serde(skip)]
    pub refused: bool,
    /// No connection could be made to the API at all (every attempt failed to connect).
    #[serde(skip)]
    pub unreachable: bool,
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
            refused: matches!(
                err,
                CallError::Api {
                    status: 400..=499,
                    ..
                } | CallError::InvalidPath { .. }
            ),
            unreachable: matches!(
                err,
                CallError::GaveUp {
                    last: AttemptFailure::Transport(TransportError::Connect(_)),
                    ..
                } | CallError::NoTimeToRetry {
                    last: AttemptFailure::Transport(TransportError::Connect(_)),
                    ..
                }
            ),
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
    /// Who the token was the last time it verified (remembered by the caller): its policies
    /// are then read in the first round, beside verify, instead of in a second round after
    /// it. Used only when verify answers the same id and owner again.
    pub token_hint: Option<TokenHint>,
}

/// A token's id and owner as an earlier verify answered them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHint {
    pub owner: TokenOwner,
    pub id: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOwner {
    User,
    Account,
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

/// The id and owner of a token that verified active (whose policies can be read).
fn active_token(token: &Fetched<TokenState>) -> Option<TokenHint> {
    match token {
        Ok(TokenState::Verified {
            id: Some(id),
            owner,
            status,
            ..
        }) if status == "active" => Some(TokenHint {
            owner: *owner,
            id: id.clone(),
        }),
        _ => None,
    }
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

impl Inventory {
    /// The token's id and owner when it verified active: what a caller remembers for the
    /// next assessment's [`Needs::token_hint`].
    #[must_use]
    pub fn token_hint(&self) -> Option<TokenHint> {
        active_token(&self.token)
    }

    /// The API could not be reached at all: the token check could not even connect, so nothing
    /// remote was checked.
    #[must_use]
    pub fn api_unreachable(&self) -> bool {
        matches!(&self.token, Err(why) if why.unreachable)
    }
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
    // One answer per zone or hostname: the first that says anything speaks for all.
    fn first_probe<'a, T: 'a>(parts: impl IntoIterator<Item = &'a Fetched<T>>) -> Option<bool> {
        parts.into_iter().find_map(|f| probe(Some(f)))
    }
    caps.insert("routes", first_probe(inv.zone_routes.values()));
    caps.insert("dns", first_probe(inv.dns_records.values()));
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
    use crate::cloudflare::{
        Client, HttpRequest, HttpResponse, RetryPolicy, Transport, TransportError,
    };

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

    /// Refuses every connection.
    struct Unplugged;

    impl Transport for Unplugged {
        async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
            Err(TransportError::Connect("connection refused".into()))
        }
        async fn sleep(&self, _ms: u64) {}
        fn now_ms(&self) -> u64 {
            0
        }
    }

    #[test]
    fn an_api_that_cannot_be_reached_is_said_so_and_checks_nothing() {
        let client = Client::new(Unplugged, "http://api", "t", RetryPolicy::default());
        let needs = Needs {
            account_id: "acc".into(),
            ..Needs::default()
        };
        let inv = block_on(fetch(&client, &needs));
        assert!(inv.api_unreachable());
        let why = inv.token.unwrap_err();
        assert!(why.unreachable && !why.refused && !why.forbidden, "{why:?}");
        assert!(why.reason.contains("could not connect"), "{}", why.reason);
        // A definite refusal is not "unreachable".
        let client = Client::new(
            Recorder::default(),
            "http://api",
            "t",
            RetryPolicy::default(),
        );
        assert!(!block_on(fetch(&client, &needs)).api_unreachable());
    }
}
