//! The records of the sandbox model (accounts, tokens, zones, resources, scripts, versions,
//! deployments, ...): one serde shape for the seed and the state file.

use super::*;

/// Everything the sandbox knows. Also the seed and state-file format.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct State {
    pub accounts: Vec<Account>,
    pub tokens: Vec<Token>,
    pub zones: Vec<Zone>,
    pub dns_records: Vec<DnsRecord>,
    pub d1_databases: Vec<D1Database>,
    pub kv_namespaces: Vec<KvNamespace>,
    pub r2_buckets: Vec<R2Bucket>,
    pub queues: Vec<Queue>,
    pub scripts: Vec<Script>,
    pub worker_routes: Vec<WorkerRoute>,
    pub custom_domains: Vec<CustomDomain>,
    pub durable_object_namespaces: Vec<DurableObjectNamespace>,
    pub hyperdrive_configs: Vec<HyperdriveConfig>,
    pub vectorize_indexes: Vec<VectorizeIndex>,
    pub mtls_certificates: Vec<MtlsCertificate>,
    pub dispatch_namespaces: Vec<DispatchNamespace>,
    pub pages_projects: Vec<PagesProject>,
    pub analytics: AnalyticsModel,
    /// Zone phase entry point rulesets (`http_request_late_transform`).
    pub zone_rulesets: Vec<crate::rulesets::PhaseRuleset>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// The account's `<subdomain>.workers.dev`; absent means none registered yet (10007).
    #[serde(default)]
    pub workers_subdomain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    #[default]
    Active,
    Disabled,
    Expired,
}

impl TokenStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Disabled => "disabled",
            TokenStatus::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenOwner {
    #[default]
    User,
    Account,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    #[serde(default)]
    pub id: String,
    /// The secret sent as `Authorization: Bearer <value>`.
    pub value: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: TokenStatus,
    #[serde(default)]
    pub owner: TokenOwner,
    /// Accounts the token may act on; an account-owned token has exactly one.
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub permissions: BTreeMap<Product, Access>,
    /// The e-mail `GET /user` answers for a user-owned token.
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub expires_on: Option<String>,
    #[serde(default)]
    pub not_before: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub account_id: String,
    /// initializing | pending | active | moved
    #[serde(default = "default_zone_status")]
    pub status: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub created_on: String,
}

pub fn default_zone_status() -> String {
    "active".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecord {
    #[serde(default)]
    pub id: String,
    pub zone_id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub name: String,
    pub content: String,
    #[serde(default)]
    pub proxied: bool,
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

pub fn default_ttl() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct D1Database {
    #[serde(default)]
    pub uuid: String,
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub jurisdiction: Option<String>,
    #[serde(default)]
    pub primary_location_hint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvNamespace {
    #[serde(default)]
    pub id: String,
    pub account_id: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct R2Bucket {
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub creation_date: String,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default = "default_storage_class")]
    pub storage_class: String,
    /// default | eu | fedramp
    #[serde(default = "default_jurisdiction")]
    pub jurisdiction: String,
}

pub fn default_storage_class() -> String {
    "Standard".into()
}

pub fn default_jurisdiction() -> String {
    "default".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    #[serde(default)]
    pub queue_id: String,
    pub account_id: String,
    pub queue_name: String,
    #[serde(default)]
    pub created_on: String,
    #[serde(default)]
    pub consumers: Vec<Value>,
    #[serde(default)]
    pub producers: Vec<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub account_id: String,
    /// The script name (`id` in Cloudflare's answers).
    pub name: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub created_on: String,
    #[serde(default)]
    pub modified_on: String,
    #[serde(default)]
    pub migration_tag: Option<String>,
    /// wrangler | api | dash: who changed the script last.
    #[serde(default)]
    pub last_deployed_from: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub logpush: bool,
    #[serde(default)]
    pub observability: Option<Value>,
    #[serde(default)]
    pub tail_consumers: Option<Value>,
    /// Secret names and types; values are never stored.
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub workers_dev_enabled: bool,
    #[serde(default)]
    pub previews_enabled: bool,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Oldest first.
    #[serde(default)]
    pub versions: Vec<Version>,
    /// Oldest first; the last one serves traffic.
    #[serde(default)]
    pub deployments: Vec<Deployment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    #[serde(rename = "type", default = "default_secret_type")]
    pub secret_type: String,
}

pub fn default_secret_type() -> String {
    "secret_text".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub cron: String,
    #[serde(default)]
    pub created_on: String,
    #[serde(default)]
    pub modified_on: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Version {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub number: u64,
    #[serde(default)]
    pub created_on: String,
    #[serde(default)]
    pub author_email: String,
    /// wrangler | api | dash ...
    #[serde(default = "default_source")]
    pub source: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The bindings as uploaded, with secret values removed.
    #[serde(default)]
    pub bindings: Vec<Value>,
    #[serde(default)]
    pub compatibility_date: Option<String>,
    #[serde(default)]
    pub compatibility_flags: Vec<String>,
    #[serde(default = "default_usage_model")]
    pub usage_model: String,
    #[serde(default)]
    pub main_module: Option<String>,
    #[serde(default)]
    pub handlers: Vec<String>,
    /// Named entrypoints and Durable Object classes, `{name, handlers}` (seedable).
    #[serde(default)]
    pub named_handlers: Vec<serde_json::Value>,
    /// The uploaded file parts.
    #[serde(default)]
    pub modules: Vec<Module>,
    /// The full upload metadata JSON part, minus secret values.
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub etag: String,
}

pub fn default_source() -> String {
    "api".into()
}

pub fn default_usage_model() -> String {
    "standard".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    pub name: String,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub content_base64: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created_on: String,
    #[serde(default = "default_source")]
    pub source: String,
    #[serde(default = "default_strategy")]
    pub strategy: String,
    pub versions: Vec<DeploymentVersion>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub author_email: String,
}

pub fn default_strategy() -> String {
    "percentage".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeploymentVersion {
    pub version_id: String,
    pub percentage: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerRoute {
    #[serde(default)]
    pub id: String,
    pub zone_id: String,
    pub pattern: String,
    #[serde(default)]
    pub script: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDomain {
    #[serde(default)]
    pub id: String,
    pub account_id: String,
    pub hostname: String,
    pub service: String,
    #[serde(default = "default_environment")]
    pub environment: String,
    /// Filled from the zone whose name is the longest suffix of `hostname` when left out.
    #[serde(default)]
    pub zone_id: String,
    #[serde(default)]
    pub zone_name: String,
    #[serde(default)]
    pub cert_id: String,
}

pub fn default_environment() -> String {
    "production".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurableObjectNamespace {
    #[serde(default)]
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub script: String,
    pub class: String,
    #[serde(default)]
    pub use_sqlite: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperdriveConfig {
    #[serde(default)]
    pub id: String,
    pub account_id: String,
    pub name: String,
    /// The origin database (host, port, database, user, scheme); never a password.
    #[serde(default)]
    pub origin: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorizeIndex {
    pub account_id: String,
    pub name: String,
    #[serde(default = "default_dimensions")]
    pub dimensions: u32,
    /// cosine | euclidean | dot-product
    #[serde(default = "default_metric")]
    pub metric: String,
    #[serde(default)]
    pub created_on: String,
}

pub fn default_dimensions() -> u32 {
    768
}

pub fn default_metric() -> String {
    "cosine".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsCertificate {
    #[serde(default)]
    pub id: String,
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub expires_on: Option<String>,
    #[serde(default)]
    pub ca: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchNamespace {
    #[serde(default)]
    pub namespace_id: String,
    pub account_id: String,
    pub namespace_name: String,
    #[serde(default)]
    pub created_on: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagesProject {
    #[serde(default)]
    pub id: String,
    pub account_id: String,
    pub name: String,
    #[serde(default = "default_branch")]
    pub production_branch: String,
    #[serde(default)]
    pub created_on: String,
    /// `{production: {...}, preview: {...}}`: compatibility settings, env vars and bindings
    /// (`d1_databases`, `kv_namespaces`, `r2_buckets`, `services`, `durable_object_namespaces`)
    /// in Cloudflare's shape; both keys are always objects.
    #[serde(default = "default_deployment_configs")]
    pub deployment_configs: Value,
    /// Custom domains (the `<name>.pages.dev` subdomain is implied).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Oldest first; the last successful production one is live.
    #[serde(default)]
    pub deployments: Vec<PagesDeployment>,
}

pub fn default_deployment_configs() -> Value {
    serde_json::json!({ "production": {}, "preview": {} })
}

pub fn default_branch() -> String {
    "main".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagesDeployment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created_on: String,
    /// production | preview
    #[serde(default = "default_pages_environment")]
    pub environment: String,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub commit_hash: Option<String>,
    #[serde(default)]
    pub is_rollback: bool,
    #[serde(default)]
    pub commit_message: Option<String>,
    #[serde(default)]
    pub commit_dirty: Option<bool>,
    /// `/path` → asset hash (a direct upload's manifest); seeded deployments may have none.
    #[serde(default)]
    pub manifest: BTreeMap<String, String>,
    /// Whether the upload carried a `_worker.js` or a Functions/`_worker.bundle`.
    #[serde(default)]
    pub has_worker: bool,
    /// The `_headers`, `_redirects` and `_routes.json` files sent with the deployment.
    #[serde(default)]
    pub config_files: BTreeMap<String, String>,
    /// The deploy stage's outcome: `success` or `failure`.
    #[serde(default = "default_stage_status")]
    pub status: String,
    /// Build log lines (the last one says why a failed deployment failed).
    #[serde(default)]
    pub logs: Vec<String>,
}

pub fn default_stage_status() -> String {
    "success".into()
}

pub fn default_pages_environment() -> String {
    "production".into()
}

/// A record that belongs to one account (the read-only products answered by `account_find` /
/// `account_list` in `api`).
pub trait AccountOwned {
    fn account_id(&self) -> &str;
}

macro_rules! account_owned {
    ($($record:ty),*) => {
        $(impl AccountOwned for $record {
            fn account_id(&self) -> &str {
                &self.account_id
            }
        })*
    };
}

account_owned!(
    HyperdriveConfig,
    VectorizeIndex,
    MtlsCertificate,
    DispatchNamespace,
    PagesProject
);
