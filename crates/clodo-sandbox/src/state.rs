//! The sandbox's in-memory model of one Cloudflare universe, its seed format and its persistence.
//!
//! The seed file and the persisted state share one JSON shape (`State`): every field has a
//! default, and `State::normalize` fills in ids, timestamps and version numbers a hand-written
//! seed leaves out, then checks that references (token → account, record → zone, ...) resolve.
//! So a state file is always a valid seed, and `docs/sandbox.schema.json` describes both.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{RwLock, RwLockReadGuard};

use super::analytics::AnalyticsModel;
use super::auth::{Access, Product};
use super::error::SandboxError;

/// A 32-hex-digit id, the shape Cloudflare uses for tags, zone ids, KV ids and token ids.
pub fn hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A hyphenated UUID, the shape of version, deployment and D1 ids.
pub fn uuid_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The current time in the RFC 3339 form Cloudflare returns (`2024-01-01T00:00:00.000000Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

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

fn default_zone_status() -> String {
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

fn default_ttl() -> u32 {
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

fn default_storage_class() -> String {
    "Standard".into()
}

fn default_jurisdiction() -> String {
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

fn default_secret_type() -> String {
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

fn default_source() -> String {
    "api".into()
}

fn default_usage_model() -> String {
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

fn default_strategy() -> String {
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

fn default_environment() -> String {
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

fn default_dimensions() -> u32 {
    768
}

fn default_metric() -> String {
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
    /// Oldest first; the last production one is live.
    #[serde(default)]
    pub deployments: Vec<PagesDeployment>,
}

fn default_branch() -> String {
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
}

fn default_pages_environment() -> String {
    "production".into()
}

fn fill<F: FnOnce() -> String>(field: &mut String, make: F) {
    if field.is_empty() {
        *field = make();
    }
}

impl State {
    /// Fills ids, timestamps and numbers a seed may omit, and checks that references resolve.
    pub fn normalize(&mut self) -> Result<(), SandboxError> {
        let bad = |what: String| Err(SandboxError::Startup(format!("invalid seed: {what}")));
        let now = now_rfc3339();
        let account_ids: Vec<String> = self.accounts.iter().map(|a| a.id.clone()).collect();
        let has_account = |id: &str| account_ids.iter().any(|a| a == id);
        for token in &mut self.tokens {
            fill(&mut token.id, hex_id);
            if token.value.is_empty() {
                return bad(format!("token {} has an empty value", token.id));
            }
            if let Some(missing) = token.accounts.iter().find(|a| !has_account(a)) {
                return bad(format!(
                    "token {} names unknown account {missing}",
                    token.id
                ));
            }
            if token.owner == TokenOwner::Account && token.accounts.len() != 1 {
                return bad(format!(
                    "account-owned token {} must name exactly one account",
                    token.id
                ));
            }
        }
        for zone in &mut self.zones {
            fill(&mut zone.id, hex_id);
            fill(&mut zone.created_on, || now.clone());
            if !has_account(&zone.account_id) {
                return bad(format!("zone {} names unknown account", zone.name));
            }
        }
        let zones = self.zones.clone();
        for record in &mut self.dns_records {
            fill(&mut record.id, hex_id);
            if !zones.iter().any(|z| z.id == record.zone_id) {
                return bad(format!("DNS record {} names unknown zone", record.name));
            }
        }
        for db in &mut self.d1_databases {
            fill(&mut db.uuid, uuid_id);
            fill(&mut db.created_at, || now.clone());
            if !has_account(&db.account_id) {
                return bad(format!("D1 database {} names unknown account", db.name));
            }
        }
        for ns in &mut self.kv_namespaces {
            fill(&mut ns.id, hex_id);
            if !has_account(&ns.account_id) {
                return bad(format!("KV namespace {} names unknown account", ns.title));
            }
        }
        for bucket in &mut self.r2_buckets {
            fill(&mut bucket.creation_date, || now.clone());
            if !has_account(&bucket.account_id) {
                return bad(format!("R2 bucket {} names unknown account", bucket.name));
            }
        }
        for queue in &mut self.queues {
            fill(&mut queue.queue_id, hex_id);
            fill(&mut queue.created_on, || now.clone());
            if !has_account(&queue.account_id) {
                return bad(format!("queue {} names unknown account", queue.queue_name));
            }
        }
        for script in &mut self.scripts {
            if !has_account(&script.account_id) {
                return bad(format!("script {} names unknown account", script.name));
            }
            fill(&mut script.tag, hex_id);
            fill(&mut script.created_on, || now.clone());
            fill(&mut script.modified_on, || now.clone());
            for schedule in &mut script.schedules {
                fill(&mut schedule.created_on, || now.clone());
                fill(&mut schedule.modified_on, || now.clone());
            }
            let mut number = 0;
            for version in &mut script.versions {
                fill(&mut version.id, uuid_id);
                fill(&mut version.created_on, || now.clone());
                fill(&mut version.etag, hex_id);
                number = if version.number > number {
                    version.number
                } else {
                    number + 1
                };
                version.number = number;
            }
            for deployment in &mut script.deployments {
                fill(&mut deployment.id, uuid_id);
                fill(&mut deployment.created_on, || now.clone());
                for dv in &deployment.versions {
                    if !script.versions.iter().any(|v| v.id == dv.version_id) {
                        return bad(format!(
                            "deployment of script {} names unknown version {}",
                            script.name, dv.version_id
                        ));
                    }
                }
                let total: f64 = deployment.versions.iter().map(|v| v.percentage).sum();
                if (total - 100.0).abs() > 0.001 {
                    return bad(format!(
                        "deployment of script {} has percentages summing to {total}",
                        script.name
                    ));
                }
            }
        }
        for route in &mut self.worker_routes {
            fill(&mut route.id, hex_id);
            if !zones.iter().any(|z| z.id == route.zone_id) {
                return bad(format!("route {} names unknown zone", route.pattern));
            }
        }
        for domain in &mut self.custom_domains {
            fill(&mut domain.id, hex_id);
            fill(&mut domain.cert_id, hex_id);
            let zone = if domain.zone_id.is_empty() {
                zone_for_hostname(&zones, &domain.hostname)
            } else {
                zones.iter().find(|z| z.id == domain.zone_id)
            };
            let Some(zone) = zone else {
                return bad(format!("custom domain {} has no zone", domain.hostname));
            };
            domain.zone_id = zone.id.clone();
            domain.zone_name = zone.name.clone();
        }
        for ns in &mut self.durable_object_namespaces {
            fill(&mut ns.id, hex_id);
        }
        for config in &mut self.hyperdrive_configs {
            fill(&mut config.id, hex_id);
        }
        for index in &mut self.vectorize_indexes {
            fill(&mut index.created_on, || now.clone());
        }
        for cert in &mut self.mtls_certificates {
            fill(&mut cert.id, uuid_id);
        }
        for ns in &mut self.dispatch_namespaces {
            fill(&mut ns.namespace_id, uuid_id);
            fill(&mut ns.created_on, || now.clone());
        }
        for project in &mut self.pages_projects {
            fill(&mut project.id, uuid_id);
            fill(&mut project.created_on, || now.clone());
            for deployment in &mut project.deployments {
                fill(&mut deployment.id, uuid_id);
                fill(&mut deployment.created_on, || now.clone());
            }
        }
        let accounts_of_extras = self
            .durable_object_namespaces
            .iter()
            .map(|x| ("Durable Object namespace", &x.name, &x.account_id))
            .chain(
                self.hyperdrive_configs
                    .iter()
                    .map(|x| ("Hyperdrive config", &x.name, &x.account_id)),
            )
            .chain(
                self.vectorize_indexes
                    .iter()
                    .map(|x| ("Vectorize index", &x.name, &x.account_id)),
            )
            .chain(
                self.mtls_certificates
                    .iter()
                    .map(|x| ("mTLS certificate", &x.name, &x.account_id)),
            )
            .chain(
                self.dispatch_namespaces
                    .iter()
                    .map(|x| ("dispatch namespace", &x.namespace_name, &x.account_id)),
            )
            .chain(
                self.pages_projects
                    .iter()
                    .map(|x| ("Pages project", &x.name, &x.account_id)),
            )
            .chain(
                self.custom_domains
                    .iter()
                    .map(|x| ("custom domain", &x.hostname, &x.account_id)),
            );
        for (kind, name, account) in accounts_of_extras {
            if !has_account(account) {
                return bad(format!("{kind} {name} names unknown account {account}"));
            }
        }
        Ok(())
    }

    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub fn script(&self, account_id: &str, name: &str) -> Option<&Script> {
        self.scripts
            .iter()
            .find(|s| s.account_id == account_id && s.name == name)
    }

    pub fn script_mut(&mut self, account_id: &str, name: &str) -> Option<&mut Script> {
        self.scripts
            .iter_mut()
            .find(|s| s.account_id == account_id && s.name == name)
    }
}

/// The zone whose name is `hostname` or its longest parent domain, as wrangler walks them.
pub fn zone_for_hostname<'a>(zones: &'a [Zone], hostname: &str) -> Option<&'a Zone> {
    let host = hostname.trim_end_matches('.').to_ascii_lowercase();
    zones
        .iter()
        .filter(|z| {
            let name = z.name.to_ascii_lowercase();
            host == name || host.ends_with(&format!(".{name}"))
        })
        .max_by_key(|z| z.name.len())
}

impl Script {
    /// The deployment serving traffic now, if any.
    pub fn active_deployment(&self) -> Option<&Deployment> {
        self.deployments.last()
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    /// The version carrying most traffic, whose settings describe the script as a whole.
    pub fn current_version(&self) -> Option<&Version> {
        let deployment = self.active_deployment()?;
        let top = deployment
            .versions
            .iter()
            .max_by(|a, b| a.percentage.total_cmp(&b.percentage))?;
        self.version(&top.version_id)
    }
}

/// Shared, lock-protected state plus where to persist it.
pub struct Store {
    state: RwLock<State>,
    state_file: Option<PathBuf>,
}

impl Store {
    pub fn new(state: State, state_dir: Option<PathBuf>) -> Self {
        Store {
            state: RwLock::new(state),
            state_file: state_dir.map(|dir| dir.join("state.json")),
        }
    }

    /// Loads `DIR/state.json` when it exists (it wins over the seed), else the seed, else empty.
    pub fn load(
        seed: Option<&std::path::Path>,
        state_dir: Option<&std::path::Path>,
    ) -> Result<State, SandboxError> {
        let persisted = state_dir
            .map(|d| d.join("state.json"))
            .filter(|p| p.exists());
        let source = persisted.as_deref().or(seed);
        let mut state = match source {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    SandboxError::Startup(format!("cannot read {}: {e}", path.display()))
                })?;
                serde_json::from_str::<State>(&text).map_err(|e| {
                    SandboxError::Startup(format!("cannot parse {}: {e}", path.display()))
                })?
            }
            None => State::default(),
        };
        state.normalize()?;
        Ok(state)
    }

    pub async fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().await
    }

    /// Runs one mutation under the write lock and persists the result before releasing it, so
    /// the file on disk never lags behind an answer already sent. `change` must validate before
    /// it mutates: an `Err` leaves the state as it was.
    pub async fn mutate<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, SandboxError>,
    ) -> Result<T, SandboxError> {
        let mut guard = self.state.write().await;
        let out = change(&mut guard)?;
        if let Some(file) = &self.state_file {
            write_atomically(file, &guard)?;
        }
        Ok(out)
    }
}

/// Writes the state to a temporary file next to `file`, then renames it over `file`.
fn write_atomically(file: &std::path::Path, state: &State) -> Result<(), SandboxError> {
    let persist = |e: std::io::Error| SandboxError::Persist(format!("{}: {e}", file.display()));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(persist)?;
    }
    let json = serde_json::to_vec(state).map_err(|e| SandboxError::Persist(e.to_string()))?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(persist)?;
    std::fs::rename(&tmp, file).map_err(persist)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> Zone {
        Zone {
            id: format!("id-{name}"),
            name: name.into(),
            account_id: "a".into(),
            status: "active".into(),
            paused: false,
            created_on: String::new(),
        }
    }

    #[test]
    fn zone_lookup_walks_to_the_longest_parent() {
        let zones = vec![zone("example.com"), zone("shop.example.com")];
        assert_eq!(
            zone_for_hostname(&zones, "api.shop.example.com")
                .unwrap()
                .name,
            "shop.example.com"
        );
        assert_eq!(
            zone_for_hostname(&zones, "example.com").unwrap().name,
            "example.com"
        );
        assert!(zone_for_hostname(&zones, "notexample.com").is_none());
    }

    #[test]
    fn normalize_numbers_versions_and_rejects_dangling_references() {
        let mut state: State = serde_json::from_value(serde_json::json!({
            "accounts": [{"id": "a", "name": "A"}],
            "scripts": [{"account_id": "a", "name": "w", "versions": [{}, {}],
                          "deployments": []}]
        }))
        .unwrap();
        state.normalize().unwrap();
        let numbers: Vec<u64> = state.scripts[0].versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, vec![1, 2]);

        let mut dangling: State = serde_json::from_value(serde_json::json!({
            "accounts": [{"id": "a", "name": "A"}],
            "tokens": [{"value": "t", "accounts": ["b"]}]
        }))
        .unwrap();
        assert!(dangling.normalize().is_err());
    }

    #[test]
    fn seed_rejects_deployments_not_summing_to_100() {
        let mut state: State = serde_json::from_value(serde_json::json!({
            "accounts": [{"id": "a", "name": "A"}],
            "scripts": [{"account_id": "a", "name": "w", "versions": [{"id": "v1"}],
                          "deployments": [{"versions": [{"version_id": "v1", "percentage": 50}]}]}]
        }))
        .unwrap();
        assert!(state.normalize().is_err());
    }
}
