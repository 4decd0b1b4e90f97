//! Every Cloudflare endpoint Clodo calls, each described once as data: method, path built from
//! checked and encoded segments, typed body and typed result. The assessment inventory, the
//! CLI's deploy and rollback and the Worker's rollout I/O all call through these, so a path or
//! a body exists in one place only.
//!
//! Single-answer endpoints implement [`Endpoint`] and are called with [`Client::call`]; list
//! endpoints implement [`ListEndpoint`] and are read whole with [`Client::list`], which follows
//! their paging.

/// Declares a `GET` endpoint with one answer: `Type => Result, |self| path`.
macro_rules! get_endpoint {
    ($endpoint:ty => $result:ty, |$s:ident| $path:expr) => {
        impl $crate::cloudflare::endpoints::Endpoint for $endpoint {
            type Result = $result;
            type Body = $crate::cloudflare::endpoints::NoBody;
            const METHOD: $crate::cloudflare::endpoints::Method =
                $crate::cloudflare::endpoints::Method::Get;
            fn path(&self) -> Result<String, $crate::cloudflare::InvalidSegment> {
                let $s = self;
                $path
            }
        }
    };
}

/// Declares a list endpoint: `Type => Item, paging, |self| path`.
macro_rules! list_endpoint {
    ($endpoint:ty => $item:ty, $paging:expr, |$s:ident| $path:expr) => {
        impl $crate::cloudflare::endpoints::ListEndpoint for $endpoint {
            type Item = $item;
            const PAGING: $crate::cloudflare::endpoints::Paging = $paging;
            fn path(&self) -> Result<String, $crate::cloudflare::InvalidSegment> {
                let $s = self;
                $path
            }
        }
    };
}

mod account;
mod analytics;
mod pages_d1;
mod rulesets;
mod workers;
mod zones;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::client::{BadAnswer, CallError, Client};
use super::path::{api_path, InvalidSegment};
use super::transport::Transport;

pub use account::{
    AccountInfo, D1Info, GetAccount, GetToken, Identified, KvInfo, ListD1Databases,
    ListHyperdriveConfigs, ListKvNamespaces, ListQueues, ListR2Buckets, ListVectorizeIndexes,
    Named, QueueInfo, TokenDetails, TokenPolicy, TokenVerify, VerifyToken,
};
pub use analytics::AnalyticsQuery;
pub use pages_d1::{
    D1Bookmark, D1Query, D1Result, D1Sql, GetD1Bookmark, GetPagesProject, ListPagesDeployments,
    PagesDeployment, PagesProject, PagesStage, RollbackPagesDeployment,
};
pub use rulesets::{EntrypointRules, GetPhaseEntrypoint, PutPhaseEntrypoint, RulesetInfo};
pub use workers::{
    Annotations, BindingRef, CreateDeployment, CronSchedule, CustomDomain, Deployment,
    DeploymentBody, Deployments, DoNamespace, GetVersion, ListCustomDomains, ListDeployments,
    ListDurableObjectNamespaces, ListSchedules, ListScriptSecrets, ListScripts, Schedules, Script,
    ScriptInfo, ScriptSettings, ScriptSettingsResult, VersionInfo, VersionShare,
};
pub use zones::{DnsRecord, ListDnsRecords, ListZoneRoutes, ListZones, RouteInfo, ZoneInfo};

/// The HTTP methods Clodo uses on the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
        }
    }
}

/// The body of an endpoint that sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NoBody;

/// One endpoint with one answer.
pub trait Endpoint {
    /// What the envelope's `result` decodes to.
    type Result: DeserializeOwned;
    /// What is sent as the JSON body.
    type Body: Serialize;
    const METHOD: Method;
    /// The path below the API base, from checked segments (see [`api_path`]).
    ///
    /// # Errors
    /// The first value that cannot be a path segment.
    fn path(&self) -> Result<String, InvalidSegment>;
    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    fn body(&self) -> Option<&Self::Body> {
        None
    }
}

/// How a list endpoint hands out its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// One answer holds every item (`result[]`).
    Whole,
    /// Page numbers (`page`, `per_page`, `result_info.total_count`).
    Pages { per_page: usize },
    /// A cursor in `result_info.cursor`; the items are `result[items_key]`.
    Cursor {
        items_key: &'static str,
        per_page: usize,
    },
}

/// A `GET` endpoint answering a list.
pub trait ListEndpoint {
    type Item: DeserializeOwned;
    const PAGING: Paging;
    /// As [`Endpoint::path`].
    ///
    /// # Errors
    /// The first value that cannot be a path segment.
    fn path(&self) -> Result<String, InvalidSegment>;
    fn query(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// `/accounts/{account}/rest...`, each segment checked.
fn account_path(account: &str, rest: &[&str]) -> Result<String, InvalidSegment> {
    let mut parts = vec!["accounts", account];
    parts.extend_from_slice(rest);
    api_path(&parts)
}

fn refused(err: &InvalidSegment) -> CallError {
    CallError::InvalidPath {
        path: err.value.clone(),
        reason: err.to_string(),
    }
}

fn decode<R: DeserializeOwned>(request: &str, value: Value) -> Result<R, CallError> {
    serde_json::from_value(value).map_err(|e| CallError::BadAnswer {
        request: request.to_owned(),
        problem: BadAnswer::UnexpectedResult(e.to_string()),
    })
}

impl<T: Transport> Client<T> {
    /// Calls one endpoint and decodes its result.
    ///
    /// # Errors
    /// `CallError::InvalidPath` when a segment is refused (nothing is sent), the call's error,
    /// or `BadAnswer` when the result does not have the endpoint's shape.
    pub async fn call<E: Endpoint>(&self, endpoint: &E) -> Result<E::Result, CallError> {
        let path = endpoint.path().map_err(|e| refused(&e))?;
        let body = match endpoint.body() {
            Some(b) => Some(serde_json::to_string(b).map_err(|e| CallError::BadAnswer {
                request: format!("{} {path}", E::METHOD.as_str()),
                problem: BadAnswer::UnexpectedResult(format!("unencodable body: {e}")),
            })?),
            None => None,
        };
        let envelope = self
            .request(E::METHOD.as_str(), &path, &endpoint.query(), &[], body)
            .await?;
        decode(&format!("{} {path}", E::METHOD.as_str()), envelope.result)
    }

    /// Every item of a list endpoint, following its paging.
    ///
    /// # Errors
    /// As [`Client::call`]; the first failing page's error.
    pub async fn list<E: ListEndpoint>(&self, endpoint: &E) -> Result<Vec<E::Item>, CallError> {
        let path = endpoint.path().map_err(|e| refused(&e))?;
        let query = endpoint.query();
        let headers = endpoint.headers();
        let items = match E::PAGING {
            Paging::Whole => match self
                .request("GET", &path, &query, &headers, None)
                .await?
                .result
            {
                Value::Null => Vec::new(),
                Value::Array(items) => items,
                _ => {
                    return Err(CallError::BadAnswer {
                        request: format!("GET {path}"),
                        problem: BadAnswer::UnexpectedResult("expected a list result".into()),
                    })
                }
            },
            Paging::Pages { per_page } => {
                self.list_pages(&path, &query, &headers, per_page).await?
            }
            Paging::Cursor {
                items_key,
                per_page,
            } => {
                let mut query = query;
                query.push(("per_page", per_page.to_string()));
                self.list_cursor(&path, &query, &headers, |r| {
                    r[items_key].as_array().cloned().unwrap_or_default()
                })
                .await?
            }
        };
        decode(&format!("GET {path}"), Value::Array(items))
    }
}

/// Reads `[{"name": ...}, ...]` as the list of names (permission groups, named handlers).
fn names_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        name: String,
    }
    let items: Option<Vec<Item>> = serde::Deserialize::deserialize(d)?;
    Ok(items.into_iter().flatten().map(|i| i.name).collect())
}

/// A value the API may send as `null`: read as its default (an empty string or list).
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    let value: Option<T> = serde::Deserialize::deserialize(d)?;
    Ok(value.unwrap_or_default())
}
