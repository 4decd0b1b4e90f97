//! Version affinity for A/B tests on Cloudflare: Clodo keeps one Request Header Transform Rule
//! (identified by its `ref`, so a retry finds it instead of adding a second) in the
//! `http_request_late_transform` entry point of every zone that routes to the tested Worker,
//! setting `Cloudflare-Workers-Version-Key` from the configured cookie or header, and removes
//! it when the test ends. Which rules to write is decided by `rollout::ab` (pure).

use serde_json::Value;

use super::client::CallError;
use super::endpoints::{
    EntrypointRules, GetPhaseEntrypoint, ListZoneRoutes, ListZones, PutPhaseEntrypoint,
};
use super::transport::Transport;
use super::AccountClient;
use crate::rollout::ab::{with_affinity_rule, without_affinity_rule, AFFINITY_PHASE};

impl<T: Transport> AccountClient<T> {
    /// The account's zones with a route to Worker `script`.
    ///
    /// # Errors
    /// The first call that failed.
    pub async fn zones_routing_to(&self, script: &str) -> Result<Vec<String>, CallError> {
        let zones = self
            .client
            .list(&ListZones {
                account: self.account.clone(),
            })
            .await?;
        let mut out = Vec::new();
        for zone in zones.into_iter().filter(|z| z.status == "active") {
            let routes = self
                .client
                .list(&ListZoneRoutes {
                    zone: zone.id.clone(),
                })
                .await?;
            if routes.iter().any(|r| r.script.as_deref() == Some(script)) {
                out.push(zone.id);
            }
        }
        Ok(out)
    }

    /// The zone's late-transform rules (none when it has no entry point yet).
    async fn late_transform_rules(&self, zone: &str) -> Result<Vec<Value>, CallError> {
        let get = GetPhaseEntrypoint {
            zone: zone.to_owned(),
            phase: AFFINITY_PHASE.to_owned(),
        };
        match self.client.call(&get).await {
            Ok(r) => Ok(r.rules),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn put_late_transform(&self, zone: &str, rules: Vec<Value>) -> Result<(), CallError> {
        self.client
            .call(&PutPhaseEntrypoint {
                zone: zone.to_owned(),
                phase: AFFINITY_PHASE.to_owned(),
                body: EntrypointRules { rules },
            })
            .await
            .map(|_| ())
    }

    /// Makes sure each zone routing to `script` sets the version key from `expression`;
    /// returns those zones (empty: the Worker has no zone route, so no rule can reach it).
    ///
    /// # Errors
    /// The first call that failed (a retry is safe: a rule already in place is kept).
    pub async fn ensure_affinity(
        &self,
        script: &str,
        expression: &str,
    ) -> Result<Vec<String>, CallError> {
        let zones = self.zones_routing_to(script).await?;
        for zone in &zones {
            let rules = self.late_transform_rules(zone).await?;
            if let Some(next) = with_affinity_rule(&rules, expression) {
                self.put_late_transform(zone, next).await?;
            }
        }
        Ok(zones)
    }

    /// Removes Clodo's affinity rule from the zones routing to `script` (other rules stay).
    ///
    /// # Errors
    /// The first call that failed (a retry is safe).
    pub async fn remove_affinity(&self, script: &str) -> Result<(), CallError> {
        for zone in self.zones_routing_to(script).await? {
            let rules = self.late_transform_rules(&zone).await?;
            if let Some(next) = without_affinity_rule(&rules) {
                self.put_late_transform(&zone, next).await?;
            }
        }
        Ok(())
    }
}
