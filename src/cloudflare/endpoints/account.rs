//! The account, its API tokens and its storage products (D1, KV, R2, Queues, Hyperdrive,
//! Vectorize).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{account_path, names_of, ListEndpoint, Paging};
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

/// What a token verify says; `status` is `active`, `disabled` or `expired`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TokenVerify {
    pub id: Option<String>,
    pub status: String,
    pub expires_on: Option<String>,
}

get_endpoint!(VerifyToken => TokenVerify, |e| match e {
    VerifyToken::User => api_path(&["user", "tokens", "verify"]),
    VerifyToken::Account(account) => account_path(account, &["tokens", "verify"]),
});

/// `GET /user/tokens/{id}` or `GET /accounts/{a}/tokens/{id}`: a token with its policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetToken {
    User { id: String },
    Account { account: String, id: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TokenDetails {
    pub policies: Vec<TokenPolicy>,
}

/// One policy of the token: `effect` is `allow` or `deny`; `groups` are permission group
/// names (`Workers Scripts Write`); `resources` is the API's object (account and zone keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenPolicy {
    pub effect: String,
    #[serde(
        rename(deserialize = "permission_groups"),
        deserialize_with = "names_of"
    )]
    pub groups: Vec<String>,
    pub resources: Value,
}

get_endpoint!(GetToken => TokenDetails, |e| match e {
    GetToken::User { id } => api_path(&["user", "tokens", id]),
    GetToken::Account { account, id } => account_path(account, &["tokens", id]),
});

/// `GET /accounts/{a}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAccount {
    pub account: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccountInfo {
    pub name: Option<String>,
}

get_endpoint!(GetAccount => AccountInfo, |e| account_path(&e.account, &[]));

/// An item known by its name (R2 buckets, Vectorize indexes, secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Named {
    pub name: String,
}

/// An item known by its id (Hyperdrive configs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Identified {
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct D1Info {
    pub uuid: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvInfo {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueInfo {
    #[serde(rename(deserialize = "queue_name"))]
    pub name: String,
    /// The queue's id (what `clodo export` imports); not part of reports.
    #[serde(rename(deserialize = "queue_id"), skip_serializing)]
    pub id: String,
}

/// Declares an account-level list endpoint: its name, path below the account, item and paging.
macro_rules! account_list {
    ($(#[$doc:meta])* $name:ident, [$($seg:literal),+], $item:ty, $paging:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub account: String,
        }

        list_endpoint!($name => $item, $paging, |e| account_path(&e.account, &[$($seg),+]));
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
