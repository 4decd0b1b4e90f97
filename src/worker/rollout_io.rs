//! What the `Rollout` Durable Object does for the engine: the driver's I/O traits
//! (`crate::rollout::driver`) implemented over the object's storage, the lock object, D1 and
//! the Cloudflare API (traffic splits through the deployments API, HTTP health checks and
//! analytics measurements, with the team's stored credential for the environment's account
//! decrypted for each run); and the version check the control plane makes before it records
//! an upload.

use std::time::Duration;

use futures::future::{select, Either};
use worker::{Delay, Env, Fetch, Headers, Request, RequestInit, State};

use super::assessments::{account_token, api_base_url};
use super::cf_fetch::{method, FetchTransport};
use super::durable::client::{LockClient, ObjectError};
use crate::cloudflare::endpoints::AnalyticsQuery;
use crate::cloudflare::{AccountClient, CallError, Client, RetryPolicy};
use crate::config::Metric;
use crate::lock::{LockErrorCode, Requester};
use crate::rollout::analytics::{query_body, read_sample, Sample};
use crate::rollout::driver::{
    self, Clock, CloudflareApi, CommandSource, DeploymentRecorder, DriverError, Effects,
    EnvironmentLock, LockAnswer, RecordError, RecordedCommand, RolloutEnd, RolloutStore,
    WorkerError,
};
pub use crate::rollout::driver::{OpenError, Owner};
use crate::rollout::{
    HealthRequest, HealthResponse, Measurement, MetricQuery, PagesSite, Spec, Split,
};

/// Storage keys of a rollout: the engine state, who it runs for, and the id of the last
/// command (from D1's `rollout_commands`) it applied.
const ROLLOUT_KEY: &str = "rollout";
const OWNER_KEY: &str = "owner";
const LAST_COMMAND_KEY: &str = "last_command_id";

/// The Cloudflare API on `account_id` with the team's stored credential for it.
///
/// # Errors
/// The team has no usable credential for the account (a 404 with the fix).
pub(super) async fn account_client(
    env: &Env,
    team_id: &str,
    account_id: &str,
) -> Result<AccountClient<FetchTransport>, crate::api::ApiError> {
    let token = account_token(env, team_id, account_id).await?;
    let client = Client::new(
        FetchTransport,
        &api_base_url(env),
        &token,
        RetryPolicy::default(),
    );
    Ok(AccountClient::new(client, account_id))
}

/// Whether a version exists for a Worker, as Cloudflare answered.
pub enum VersionCheck {
    Exists,
    /// A definite no (404, or the Worker is not in the account), with Cloudflare's words.
    Missing(String),
    /// No definite answer (5xx, timeout): not known, so never taken as a yes.
    Unknown(String),
    /// Cloudflare refused the team's credential (401, 403): a retry will not help; a working
    /// credential will.
    Refused(String),
}

/// What a failed check call means: a definite no, a refused credential, or not known.
fn check_failed(e: &CallError, missing: bool) -> VersionCheck {
    if missing {
        VersionCheck::Missing(e.to_string())
    } else if matches!(e.status(), Some(401 | 403)) {
        VersionCheck::Refused(e.to_string())
    } else {
        VersionCheck::Unknown(e.to_string())
    }
}

/// The Cloudflare side of one alarm run: the API bound to the owner's account.
pub struct Io {
    account: AccountClient<FetchTransport>,
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

impl Io {
    /// Decrypts the team's credential for the account.
    ///
    /// # Errors
    /// The team has no usable credential for the account.
    pub async fn open(env: &Env, owner: &Owner) -> Result<Io, OpenError> {
        let account = account_client(env, &owner.team_id, &owner.account_id)
            .await
            .map_err(|e| OpenError {
                account: owner.account_id.clone(),
                reason: e.message,
            })?;
        Ok(Io { account })
    }

    /// Asks Cloudflare whether `version` is a version of Worker `script` in the account.
    pub async fn verify_version(&self, script: &str, version: &str) -> VersionCheck {
        if !crate::rollout::valid_script_name(script) || !crate::rollout::valid_version_id(version)
        {
            return VersionCheck::Missing("not a valid Worker name or version id".into());
        }
        match self.account.version(script, version).await {
            Ok(_) => VersionCheck::Exists,
            Err(e) => check_failed(&e, e.is_not_found()),
        }
    }

    /// Whether `id` is a deployment of the Pages project `project` in the account.
    pub async fn verify_pages_deployment(&self, project: &str, id: &str) -> VersionCheck {
        match self.account.pages_deployments(project).await {
            Ok(list) if list.iter().any(|d| d.id == id) => VersionCheck::Exists,
            Ok(_) => {
                VersionCheck::Missing(format!("no deployment {id} in Pages project {project}"))
            }
            Err(e) => check_failed(
                &e,
                e.is_not_found() || e.has_code(crate::cloudflare::PAGES_PROJECT_NOT_FOUND),
            ),
        }
    }

    /// A/B tests: the version-key rule on the zones routing to `script` (see
    /// `cloudflare::affinity`); the zones it is on.
    ///
    /// # Errors
    /// The Cloudflare call that failed.
    pub async fn ensure_affinity(
        &self,
        script: &str,
        expression: &str,
    ) -> Result<Vec<String>, CallError> {
        self.account.ensure_affinity(script, expression).await
    }

    /// The version serving most of `script`'s traffic now (`None`: not deployed), read when a
    /// scheduled deployment starts: what its rollout splits against and restores.
    ///
    /// # Errors
    /// Cloudflare's answer as text.
    pub async fn live_version(&self, script: &str) -> Result<Option<String>, String> {
        Ok(self
            .live_split(script)
            .await?
            .and_then(|d| d.main_version().map(str::to_owned)))
    }

    /// `script`'s current traffic split (`None`: not deployed).
    ///
    /// # Errors
    /// Cloudflare's answer as text.
    pub async fn live_split(
        &self,
        script: &str,
    ) -> Result<Option<crate::deploy::DeploymentEntry>, String> {
        let history = self
            .account
            .deployments_if_deployed(script)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        Ok(crate::deploy::parse_deployments(&history)
            .into_iter()
            .next())
    }

    /// The Cloudflare API on the environment's account, for calls beyond the rollout's own
    /// (a server-side rollback serves one version with it).
    pub fn account(&self) -> &AccountClient<FetchTransport> {
        &self.account
    }

    /// One Worker's traffic split.
    async fn set_split(&self, split: &Split, message: &str) -> Result<(), CallError> {
        self.account
            .set_traffic(&split.script, &split.versions, message)
            .await
    }

    /// Every split at once, each Worker's outcome beside its name.
    async fn set_splits(
        &self,
        splits: &[Split],
        message: &str,
    ) -> Vec<(String, Result<(), CallError>)> {
        let results =
            futures::future::join_all(splits.iter().map(|s| self.set_split(s, message))).await;
        splits
            .iter()
            .map(|s| s.script.clone())
            .zip(results)
            .collect()
    }
}

impl CloudflareApi for Io {
    async fn apply(&self, splits: &[Split], message: &str) -> Result<(), Vec<WorkerError>> {
        let failed: Vec<WorkerError> = self
            .set_splits(splits, message)
            .await
            .into_iter()
            .filter_map(|(script, result)| result.err().map(|error| WorkerError { script, error }))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed)
        }
    }

    async fn restore(
        &self,
        splits: &[Split],
        message: &str,
    ) -> Vec<(String, Result<(), CallError>)> {
        self.set_splits(splits, message).await
    }

    /// From Workers analytics (GraphQL).
    async fn measure(&self, spec: &Spec, q: &MetricQuery) -> Measurement {
        let metric = spec.analysis[q.metric].metric;
        let sample = self.sample(metric, q, &q.version).await;
        // The baseline: the previous version over the very same window.
        let baseline = match &q.baseline_version {
            Some(previous) => Some(self.sample(metric, q, previous).await.map(|s| s.value)),
            None => None,
        };
        Measurement {
            query: q.clone(),
            requests: sample.as_ref().ok().map(|s| s.requests),
            value: sample.map(|s| s.value),
            baseline,
        }
    }

    /// Through the Pages rollback API, with the same client `clodo rollback` uses.
    async fn restore_pages(&self, site: &PagesSite) -> Result<String, CallError> {
        let Some(to) = site.previous_deployment_id.as_deref() else {
            return Err(CallError::InvalidPath {
                path: site.project.clone(),
                reason: "no previous production deployment to roll back to".into(),
            });
        };
        self.account
            .rollback_pages(&site.project, to)
            .await
            .map(|d| d.id)
    }
}

impl Io {
    /// One version of the query's Worker over the query's window.
    async fn sample(
        &self,
        metric: Metric,
        q: &MetricQuery,
        version: &str,
    ) -> Result<Sample, String> {
        let query = AnalyticsQuery {
            body: query_body(
                &self.account.account,
                &q.script,
                version,
                q.since_ms,
                q.until_ms,
            ),
        };
        match self.account.client.analytics(&query).await {
            Ok(body) => read_sample(metric, version, &body),
            Err(e) => Err(format!("analytics: {e}")),
        }
    }
}

/// Makes one health request: status, body and latency, or why there was no answer.
pub async fn health(req: &HealthRequest) -> HealthResponse {
    let started = now_ms();
    let result = async {
        let headers = Headers::new();
        for (k, v) in &req.headers {
            headers.set(k, v).map_err(|e| format!("header {k}: {e}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(method(&req.method)).with_headers(headers);
        if let Some(body) = &req.body {
            init.with_body(Some(wasm_bindgen::JsValue::from_str(body)));
        }
        let outgoing =
            Request::new_with_init(&req.url, &init).map_err(|e| format!("{}: {e}", req.url))?;
        let call = Box::pin(async {
            let mut resp = Fetch::Request(outgoing)
                .send()
                .await
                .map_err(|e| format!("{}: {e}", req.url))?;
            let status = resp.status_code();
            // Only the start of the body is compared; a health endpoint's answer is short.
            let text = resp.text().await.unwrap_or_default();
            let text: String = text.chars().take(64 * 1024).collect();
            Ok::<_, String>((status, text))
        });
        let timer = Box::pin(Delay::from(Duration::from_millis(req.timeout_ms)));
        match select(call, timer).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Err(format!("no answer within {} ms", req.timeout_ms)),
        }
    }
    .await;
    let latency = u64::try_from(now_ms() - started).unwrap_or(0);
    HealthResponse {
        check: req.check,
        result: result.map(|(status, body)| (status, body, latency)),
    }
}

fn storage_error(e: worker::Error) -> DriverError {
    DriverError::Storage(e.to_string())
}

/// The rollout's state in its Durable Object's storage; every save is also sent to the
/// live-status WebSockets.
pub struct ObjectStore<'a> {
    pub state: &'a State,
}

impl ObjectStore<'_> {
    /// Sends the status to every live-status WebSocket; once the rollout has ended and is
    /// recorded, closes them (the last message is the final status).
    fn broadcast(&self, r: &crate::rollout::Rollout) {
        let sockets = self.state.get_websockets();
        if sockets.is_empty() {
            return;
        }
        let Ok(text) = serde_json::to_string(&r.status(now_ms())) else {
            return;
        };
        let done = r.phase.is_terminal() && r.recorded;
        for ws in sockets {
            // A socket that went away meanwhile is dropped by the runtime; nothing to do.
            let _ = ws.send_with_str(&text);
            if done {
                let _ = ws.close(Some(1000), Some("rollout ended"));
            }
        }
    }
}

impl RolloutStore for ObjectStore<'_> {
    async fn owner(&self) -> Result<Option<Owner>, DriverError> {
        self.state
            .storage()
            .get::<Owner>(OWNER_KEY)
            .await
            .map_err(storage_error)
    }

    async fn save_owner(&self, owner: &Owner) -> Result<(), DriverError> {
        self.state
            .storage()
            .put(OWNER_KEY, owner)
            .await
            .map_err(storage_error)
    }

    async fn load(&self) -> Result<Option<crate::rollout::Rollout>, DriverError> {
        self.state
            .storage()
            .get::<crate::rollout::Rollout>(ROLLOUT_KEY)
            .await
            .map_err(storage_error)
    }

    async fn save(&self, r: &crate::rollout::Rollout) -> Result<(), DriverError> {
        self.state
            .storage()
            .put(ROLLOUT_KEY, r)
            .await
            .map_err(storage_error)?;
        self.broadcast(r);
        Ok(())
    }

    async fn last_command(&self) -> Result<i64, DriverError> {
        let id = self.state.storage().get::<i64>(LAST_COMMAND_KEY).await;
        Ok(id.map_err(storage_error)?.unwrap_or(0))
    }

    async fn save_applied(
        &self,
        r: &crate::rollout::Rollout,
        last_command: i64,
    ) -> Result<(), DriverError> {
        /// Both keys in one `put_multiple`: written together or not at all. The field names
        /// are the storage keys `ROLLOUT_KEY` and `LAST_COMMAND_KEY`.
        #[derive(serde::Serialize)]
        struct Applied<'r> {
            rollout: &'r crate::rollout::Rollout,
            last_command_id: i64,
        }
        self.state
            .storage()
            .put_multiple(Applied {
                rollout: r,
                last_command_id: last_command,
            })
            .await
            .map_err(storage_error)?;
        self.broadcast(r);
        Ok(())
    }
}

/// The Worker's clock (the request's start time inside workerd; leases are seconds).
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// The environment's `DeployLock` object.
pub struct LockObject<'a> {
    pub env: &'a Env,
}

impl EnvironmentLock for LockObject<'_> {
    /// The Rollout object acts for the deployment (the server, not a token): the holder id
    /// is the deployment id.
    async fn heartbeat(&self, owner: &Owner, deployment_id: &str) -> LockAnswer {
        let lock = LockClient::new(self.env.clone(), &owner.environment_id);
        match lock.heartbeat(deployment_id, Requester::Server).await {
            Ok(_) => LockAnswer::Held,
            Err(ObjectError::Refused(e)) if e.code() == LockErrorCode::NotHolder => {
                LockAnswer::Lost(e.to_string())
            }
            Err(ObjectError::Refused(e)) => {
                LockAnswer::Unknown(format!("the lock refused the heartbeat: {e}"))
            }
            Err(ObjectError::Failed(e)) => LockAnswer::Unknown(e.message),
        }
    }
}

/// D1: the commands people recorded, and the deployment's record.
pub struct Database<'a> {
    pub env: &'a Env,
}

impl CommandSource for Database<'_> {
    async fn after(
        &self,
        deployment_id: &str,
        after: i64,
    ) -> Result<Vec<RecordedCommand>, DriverError> {
        let failed = |e: crate::api::ApiError| DriverError::Commands(e.message);
        let db = super::db::db(self.env).map_err(failed)?;
        super::db::all::<RecordedCommand>(worker::query!(
            &db,
            "SELECT id, command, actor, version FROM rollout_commands WHERE deployment_id = ?1 AND id > ?2 ORDER BY id",
            &deployment_id,
            &after
        ))
        .await
        .map_err(failed)
    }
}

impl DeploymentRecorder for Database<'_> {
    async fn finish(&self, end: &RolloutEnd<'_>) -> Result<(), RecordError> {
        let (team, id) = (&end.owner.team_id, end.deployment_id);
        let ab = &end.detail["rollout"]["ab"];
        if !ab.is_null() {
            remove_affinity(self.env, end).await;
            // The A/B test's results on the rollout's row (an idempotent write: a retry after
            // a crash writes the same value).
            let failed = |e: crate::api::ApiError| RecordError(e.message);
            let db = super::db::db(self.env).map_err(failed)?;
            let stmt = worker::query!(
                &db,
                "UPDATE rollouts SET ab_result = ?1 WHERE deployment_id = ?2 AND team_id = ?3",
                &ab.to_string(),
                &id,
                team
            );
            super::db::run(stmt).await.map_err(failed)?;
        }
        super::deployments::finish_for_rollout(self.env, team, id, end.status, &end.detail)
            .await
            .map_err(|e| RecordError(e.message))
    }

    async fn lock_lost(
        &self,
        deployment_id: &str,
        detail: &serde_json::Value,
    ) -> Result<(), RecordError> {
        let db = super::db::db(self.env).map_err(|e| RecordError(e.message))?;
        let insert = super::rollouts::event_stmt(&db, deployment_id, "rollout_lock_lost", detail);
        super::db::run(insert)
            .await
            .map_err(|e| RecordError(e.message))?;
        // Its notifications were queued with the event.
        super::outbox::kick(self.env).await;
        Ok(())
    }

    async fn pages_restored(
        &self,
        owner: &Owner,
        deployment_id: &str,
        site: &PagesSite,
        live: &str,
    ) -> Result<(), RecordError> {
        super::pages_d1::record_rolled_back(self.env, &owner.team_id, deployment_id, site, live)
            .await
            .map_err(|e| RecordError(e.message))
    }
}

/// The Cloudflare API with the team's credential for the owner's account, and plain fetch
/// for health checks.
pub struct Cloudflare<'a> {
    pub env: &'a Env,
}

impl Effects for Cloudflare<'_> {
    type Api = Io;

    async fn open(&self, owner: &Owner) -> Result<Io, OpenError> {
        Io::open(self.env, owner).await
    }

    async fn health(&self, request: &HealthRequest) -> HealthResponse {
        health(request).await
    }
}

/// The driver of the rollout stored in `state`, over the Worker's I/O.
pub type ObjectDriver<'a> = driver::Driver<
    ObjectStore<'a>,
    WorkerClock,
    LockObject<'a>,
    Database<'a>,
    Database<'a>,
    Cloudflare<'a>,
>;

pub fn object_driver<'a>(state: &'a State, env: &'a Env) -> ObjectDriver<'a> {
    driver::Driver {
        store: ObjectStore { state },
        clock: WorkerClock,
        lock: LockObject { env },
        commands: Database { env },
        recorder: Database { env },
        effects: Cloudflare { env },
    }
}

/// The A/B test has ended: its version-key rule leaves the zones routing to the Worker. A
/// failure is logged, not fatal: the deployment's end must still be recorded (the rule only
/// keeps setting a header that no split uses any more).
async fn remove_affinity(env: &Env, end: &RolloutEnd<'_>) {
    let ab = &end.detail["rollout"]["ab"];
    if ab["affinity"] == serde_json::json!("client") {
        return;
    }
    let Some(script) = ab["script"].as_str().filter(|s| !s.is_empty()) else {
        return;
    };
    let outcome = match Io::open(env, end.owner).await {
        Ok(io) => io
            .account
            .remove_affinity(script)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = outcome {
        worker::console_error!(
            "rollout {}: removing the A/B version-key rule: {e}",
            end.deployment_id
        );
    }
}
