//! The account, its API tokens and its storage products (D1, KV, R2, Queues, Hyperdrive,
//! Vectorize).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{account_path, names_of, or_default, Endpoint, ListEndpoint, Method, NoBody, Paging};
use crate::cloudflare::path::{api_path, InvalidSegment};

/// The largest page the list endpoints accept, so one call usually suffices.
const PER_PAGE: usize = 100;

/// `GET /user/tokens/verify` (a user's token) or `GET /accounts/{a}/tokens/verify` (an
/// account-owned token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyToken {
    User,
    Account(String),
}

/// What a token verify says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenVerify {
    #[serde(default)]
    pub id: Option<String>,
    /// `active`, `disabled` or `expired`.
    #[serde(default, deserialize_with = "or_default")]
    pub status: String,
    #[serde(default)]
    pub expires_on: Option<String>,
}

impl Endpoint for VerifyToken {
    type Result = TokenVerify;
    type Body = NoBody;
    const METHOD: Method = Method::Get;
    fn path(&self) -> Result<String, InvalidSegment> {
        match self {
            Self::User => api_path(&["user", "tokens", "verify"]),
            Self::Account(account) => account_path(account, &["tokens", "verify"]),
        }
    }
}

/// `GET /user/tokens/{id}` or `GET /accounts/{a}/tokens/{id}`: a token with its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetToken {
    User { id: String },
    Account { account: String, id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenDetails {
    #[serde(default, deserialize_with = "or_default")]
    pub policies: Vec<TokenPolicy>,
}

/// One policy of the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPolicy {
    /// `allow` or `deny`.
    #[serde(default, deserialize_with = "or_default")]
    pub effect: String,
    /// Permission group names, e.g. `Workers Scripts Write`.
    #[serde(
        default,
        rename(deserialize = "permission_groups"),
        deserialize_with = "names_of"
    )]
    pub groups: Vec<String>,
    /// The resources object as the API gives it (account and zone keys).
    #[serde(default)]
    pub resources: Value,
}

impl Endpoint for GetToken {
    type Result = TokenDetails;
    type Body = NoBody;
    const METHOD: Method = Method::Get;
    fn path(&self) -> Result<String, InvalidSegment> {
        match self {
            Self::User { id } => api_path(&["user", "tokens", id]),
            Self::Account { account, id } => account_path(account, &["tokens", id]),
        }
    }
}

/// `GET /accounts/{a}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAccount {
    pub account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountInfo {
    #[serde(default)]
    pub name: Option<String>,
}

impl Endpoint for GetAccount {
    type Result = AccountInfo;
    type Body = NoBody;
    const METHOD: Method = Method::Get;
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(&self.account, &[])
    }
}

/// An item known by its name (R2 buckets, Vectorize indexes, secrets).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Named {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
}

/// An item known by its id (Hyperdrive configs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Identified {
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct D1Info {
    #[serde(default, deserialize_with = "or_default")]
    pub uuid: String,
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvInfo {
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueInfo {
    #[serde(
        default,
        rename(deserialize = "queue_name"),
        deserialize_with = "or_default"
    )]
    pub name: String,
}

/// Declares an account-level list endpoint: its name, path below the account, item and paging.
macro_rules! account_list {
    ($(#[$doc:meta])* $name:ident, [$($seg:literal),+], $item:ty, $paging:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub account: String,
        }

        impl ListEndpoint for $name {
            type Item = $item;
            const PAGING: Paging = $paging;
            fn path(&self) -> Result<String, InvalidSegment> {
                account_path(&self.account, &[$($seg),+])
            }
        }
    };
}

account_list!(
    /// `GET /accounts/{a}/d1/database`.
    ListD1Databases, ["d1", "database"], D1Info, Paging::Pages { per_page: PER_PAGE }
);
account_list!(
    /// `GET /accounts/{a}/storage/kv/namespaces`.
    ListKvNamespaces, ["storage", "kv", "namespaces"], KvInfo, Paging::Pages { per_page: PER_PAGE }
);
account_list!(
    /// `GET /accounts/{a}/queues`.
    ListQueues, ["queues"], QueueInfo, Paging::Pages { per_page: PER_PAGE }
);
account_list!(
    /// `GET /accounts/{a}/hyperdrive/configs`.
    ListHyperdriveConfigs, ["hyperdrive", "configs"], Identified, Paging::Whole
);
account_list!(
    /// `GET /accounts/{a}/vectorize/v2/indexes`.
    ListVectorizeIndexes, ["vectorize", "v2", "indexes"], Named, Paging::Whole
);

/// `GET /accounts/{a}/r2/buckets` in one jurisdiction (`None` = the default one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListR2Buckets {
    pub account: String,
    pub jurisdiction: Option<String>,
}

impl ListEndpoint for ListR2Buckets {
    type Item = Named;
    const PAGING: Paging = Paging::Cursor {
        items_key: "buckets",
        per_page: 1000,
    };
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(&self.account, &["r2", "buckets"])
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        self.jurisdiction
            .iter()
            .map(|j| ("cf-r2-jurisdiction", j.clone()))
            .collect()
    }
}
