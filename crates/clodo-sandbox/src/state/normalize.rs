//! Normalizing a seed (ids, timestamps, version numbers, references) and looking records up.

use super::*;

pub fn fill<F: FnOnce() -> String>(field: &mut String, make: F) {
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
                if !["success", "failure"].contains(&deployment.status.as_str())
                    || !["production", "preview"].contains(&deployment.environment.as_str())
                {
                    return bad(format!(
                        "Pages deployment {} of {}: status must be success or failure, environment production or preview",
                        deployment.id, project.name
                    ));
                }
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
