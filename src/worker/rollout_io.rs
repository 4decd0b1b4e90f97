//! What the `Rollout` Durable Object does for the engine: traffic splits through the Cloudflare
//! deployments API, HTTP health checks and analytics measurements, with the team's stored
//! credential for the environment's account decrypted for each run; and the version check the
//! control plane makes before it records an upload.

use std::time::Duration;

use futures::future::{select, Either};
use worker::{Delay, Env, Fetch, Headers, Request, RequestInit};

use super::assessments::{account_token, api_base_url};
use super::cf_fetch::{method, FetchTransport};
use crate::cloudflare::{Client, HttpRequest, RetryPolicy, Transport};
use crate::rollout::analytics::{query_body, read_metric, GRAPHQL_PATH};
use crate::rollout::{HealthRequest, HealthResponse, Measurement, MetricQuery, Spec, Split};

/// Who the rollout runs for, stored beside the engine state. Built by the control plane from
/// its records, never from a request: the account is the environment's.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub team_id: String,
    /// The Cloudflare account the deployment's environment is bound to.
    pub account_id: String,
    /// The environment whose deploy lock the deployment holds while the rollout runs.
    pub environment_id: String,
}

/// Whether a version exists for a Worker, as Cloudflare answered.
pub enum VersionCheck {
    Exists,
    /// A definite no (404, or the Worker is not in the account), with Cloudflare's words.
    Missing(String),
    /// No definite answer (5xx, timeout, 403): not known, so never taken as a yes.
    Unknown(String),
}

/// The Cloudflare side of one alarm run.
pub struct Io {
    client: Client<FetchTransport>,
    base: String,
    token: String,
    account: String,
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

impl Io {
    /// Decrypts the team's credential for the account.
    pub async fn open(env: &Env, owner: &Owner) -> Result<Io, String> {
        let token = account_token(env, &owner.team_id, &owner.account_id)
            .await
            .map_err(|e| format!("credential for {}: {}", owner.account_id, e.message))?;
        let base = api_base_url(env);
        Ok(Io {
            client: Client::new(FetchTransport, &base, &token, RetryPolicy::default()),
            base,
            token,
            account: owner.account_id.clone(),
        })
    }

    /// Asks Cloudflare whether `version` is a version of Worker `script` in the account.
    /// Both are validated names (no `/`, `?`, `#` or `.`), safe as path segments.
    pub async fn verify_version(&self, script: &str, version: &str) -> VersionCheck {
        if !crate::rollout::valid_script_name(script) || !crate::rollout::valid_version_id(version)
        {
            return VersionCheck::Missing("not a valid Worker name or version id".into());
        }
        let path = format!(
            "/accounts/{}/workers/scripts/{script}/versions/{version}",
            self.account
        );
        match self.client.get(&path, &[]).await {
            Ok(_) => VersionCheck::Exists,
            Err(e) if e.is_not_found() => VersionCheck::Missing(e.to_string()),
            Err(e) => VersionCheck::Unknown(e.to_string()),
        }
    }

    async fn set_split(&self, split: &Split, message: &str) -> Result<(), String> {
        let path = format!(
            "/accounts/{}/workers/scripts/{}/deployments",
            self.account, split.script
        );
        self.client
            .request(
                "POST",
                &path,
                &[],
                &[],
                Some(split.deployment_body(message).to_string()),
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", split.script))
    }

    /// Sets every split; `Err` lists the Workers that did not take theirs.
    pub async fn apply(&self, splits: &[Split], message: &str) -> Result<(), String> {
        let results =
            futures::future::join_all(splits.iter().map(|s| self.set_split(s, message))).await;
        let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }

    /// Sets every split, reporting per Worker.
    pub async fn restore(
        &self,
        splits: &[Split],
        message: &str,
    ) -> Vec<(String, Result<(), String>)> {
        let results =
            futures::future::join_all(splits.iter().map(|s| self.set_split(s, message))).await;
        splits
            .iter()
            .map(|s| s.script.clone())
            .zip(results)
            .collect()
    }

    /// Measures one version over its window from Workers analytics.
    pub async fn measure(&self, spec: &Spec, q: &MetricQuery) -> Measurement {
        let metric = spec.analysis[q.metric].metric;
        let body = query_body(&self.account, &q.script, &q.version, q.since_ms, q.until_ms);
        let request = HttpRequest {
            method: "POST".into(),
            url: format!("{}{GRAPHQL_PATH}", self.base.trim_end_matches('/')),
            headers: vec![
                ("authorization".into(), format!("Bearer {}", self.token)),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(body.to_string()),
        };
        let value = match FetchTransport.send(request).await {
            Ok(resp) if resp.status == 200 => read_metric(metric, &q.version, &resp.body),
            Ok(resp) => Err(format!("analytics answered HTTP {}", resp.status)),
            Err(e) => Err(format!("analytics unreachable: {e}")),
        };
        Measurement {
            query: q.clone(),
            value,
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
