//! Workers: scripts, their deployments (the traffic split), versions, secrets and settings,
//! custom domains and Durable Object namespaces.

use serde::{Deserialize, Serialize};

use super::{account_path, names_of, or_default, Endpoint, Method, Named, Paging};
use crate::cloudflare::path::InvalidSegment;

/// One Worker of the account: its name, handlers, named entrypoints and Durable Object classes,
/// the last Durable Object migration applied, and where it was last deployed from (`wrangler`,
/// `dash`, `api`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptInfo {
    #[serde(rename(deserialize = "id"))]
    pub name: String,
    #[serde(deserialize_with = "or_default")]
    pub handlers: Vec<String>,
    #[serde(deserialize_with = "names_of")]
    pub named_handlers: Vec<String>,
    pub migration_tag: Option<String>,
    pub last_deployed_from: Option<String>,
}

/// `GET /accounts/{a}/workers/scripts`: the account's Workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScripts {
    pub account: String,
}

list_endpoint!(ListScripts => ScriptInfo, Paging::Whole, |e| {
    account_path(&e.account, &["workers", "scripts"])
});

/// One Worker of an account: what the per-script endpoints are called on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub account: String,
    pub script: String,
}

impl Script {
    #[must_use]
    pub fn new(account: &str, script: &str) -> Self {
        Self {
            account: account.to_owned(),
            script: script.to_owned(),
        }
    }

    /// `/accounts/{a}/workers/scripts/{s}/rest...`.
    fn path(&self, rest: &[&str]) -> Result<String, InvalidSegment> {
        let mut parts = vec!["workers", "scripts", self.script.as_str()];
        parts.extend_from_slice(rest);
        account_path(&self.account, &parts)
    }

    /// `GET /accounts/{a}/workers/scripts/{s}/content/v2` (`?version=` names the version):
    /// the modules as `multipart/form-data`, the main module in the `cf-entrypoint` header.
    /// Not an envelope, so not an [`Endpoint`].
    ///
    /// # Errors
    /// A segment that is not safe in a path.
    pub fn content_path(&self) -> Result<String, InvalidSegment> {
        self.path(&["content", "v2"])
    }
}

/// `GET /accounts/{a}/workers/scripts/{s}/secrets`: the names of the Worker's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScriptSecrets(pub Script);

list_endpoint!(ListScriptSecrets => Named, Paging::Whole, |e| e.0.path(&["secrets"]));

/// The deployments of a Worker, newest first; the first one serves traffic.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Deployments {
    #[serde(deserialize_with = "or_default")]
    pub deployments: Vec<Deployment>,
}

/// One deployment: the versions it splits traffic between.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Deployment {
    pub id: String,
    #[serde(deserialize_with = "or_default")]
    pub versions: Vec<VersionShare>,
    /// Who made it (`wrangler`, `api`, `dash`, …).
    pub source: Option<String>,
    /// `workers/message`, `workers/triggered_by`.
    #[serde(deserialize_with = "or_default")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// One version's share of the traffic, in percent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionShare {
    pub version_id: String,
    pub percentage: f64,
}

/// `GET /accounts/{a}/workers/scripts/{s}/deployments`: the Worker's deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDeployments(pub Script);

get_endpoint!(ListDeployments => Deployments, |e| e.0.path(&["deployments"]));

/// `POST /accounts/{a}/workers/scripts/{s}/deployments`: sets the Worker's traffic split
/// ("set traffic"); the one way Clodo moves traffic, for rollouts, rollbacks and restores.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateDeployment {
    pub script: Script,
    pub body: DeploymentBody,
}

/// The body: a percentage split and the message shown in the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentBody {
    /// Always `percentage`.
    pub strategy: &'static str,
    pub versions: Vec<VersionShare>,
    pub annotations: Annotations,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotations {
    #[serde(rename = "workers/message")]
    pub message: String,
}

impl CreateDeployment {
    /// Serves `versions` (`(version id, percent)`, adding up to 100) of `script`.
    #[must_use]
    pub fn split(account: &str, script: &str, versions: &[(String, f64)], message: &str) -> Self {
        let versions = versions
            .iter()
            .map(|(version_id, percentage)| VersionShare {
                version_id: version_id.clone(),
                percentage: *percentage,
            })
            .collect();
        Self {
            script: Script::new(account, script),
            body: DeploymentBody {
                strategy: "percentage",
                versions,
                annotations: Annotations {
                    message: message.to_owned(),
                },
            },
        }
    }
}

impl Endpoint for CreateDeployment {
    /// The created deployment (its id and split).
    type Result = Deployment;
    type Body = DeploymentBody;
    const METHOD: Method = Method::Post;
    fn path(&self) -> Result<String, InvalidSegment> {
        self.script.path(&["deployments"])
    }
    fn body(&self) -> Option<&DeploymentBody> {
        Some(&self.body)
    }
}

/// `GET /accounts/{a}/workers/scripts/{s}/versions/{v}`: one version of the Worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetVersion {
    pub script: Script,
    pub version: String,
}

/// A version of a Worker, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VersionInfo {
    pub id: String,
}

get_endpoint!(GetVersion => VersionInfo, |e| e.script.path(&["versions", &e.version]));

/// `GET /accounts/{a}/workers/scripts/{s}/settings`: the live version's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSettings(pub Script);

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ScriptSettingsResult {
    #[serde(deserialize_with = "or_default")]
    pub bindings: Vec<BindingRef>,
    pub compatibility_date: Option<String>,
    #[serde(deserialize_with = "or_default")]
    pub compatibility_flags: Vec<String>,
}

/// A binding as the settings name it: its type and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BindingRef {
    #[serde(rename = "type")]
    pub binding_type: String,
    pub name: String,
    /// The binding's other fields (its target: `id`, `namespace_id`, `bucket_name`, …).
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

get_endpoint!(ScriptSettings => ScriptSettingsResult, |e| e.0.path(&["settings"]));

/// `GET /accounts/{a}/workers/scripts/{s}/schedules`: the Worker's cron triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSchedules(pub Script);

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Schedules {
    #[serde(deserialize_with = "or_default")]
    pub schedules: Vec<CronSchedule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct CronSchedule {
    pub cron: String,
}

get_endpoint!(ListSchedules => Schedules, |e| e.0.path(&["schedules"]));

/// A custom domain attached to a Worker: the hostname and the Worker (`service`) it routes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomDomain {
    pub hostname: String,
    pub service: String,
    /// The attachment's id (what `clodo export` imports); not part of reports.
    #[serde(skip_serializing)]
    pub id: String,
    #[serde(skip_serializing)]
    pub zone_id: String,
}

/// `GET /accounts/{a}/workers/domains`: custom domains attached to Workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCustomDomains {
    pub account: String,
}

list_endpoint!(ListCustomDomains => CustomDomain, Paging::Whole, |e| {
    account_path(&e.account, &["workers", "domains"])
});

/// A Durable Object namespace: its class and the Worker (`script`) defining it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DoNamespace {
    pub script: Option<String>,
    pub class: String,
}

/// `GET /accounts/{a}/workers/durable_objects/namespaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDurableObjectNamespaces {
    pub account: String,
}

list_endpoint!(
    ListDurableObjectNamespaces => DoNamespace,
    Paging::Pages { per_page: 100 },
    |e| account_path(&e.account, &["workers", "durable_objects", "namespaces"])
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_traffic_is_one_post_with_a_percentage_split() {
        let call = CreateDeployment::split(
            "acc",
            "api",
            &[("v1".into(), 90.0), ("v2".into(), 10.0)],
            "clodo dep_1",
        );
        assert_eq!(
            call.path().unwrap(),
            "/accounts/acc/workers/scripts/api/deployments"
        );
        assert_eq!(CreateDeployment::METHOD, Method::Post);
        assert_eq!(
            serde_json::to_value(call.body().unwrap()).unwrap(),
            serde_json::json!({
                "strategy": "percentage",
                "versions": [
                    { "version_id": "v1", "percentage": 90.0 },
                    { "version_id": "v2", "percentage": 10.0 },
                ],
                "annotations": { "workers/message": "clodo dep_1" },
            })
        );
        let hostile = CreateDeployment::split("acc", "../../user", &[], "m");
        assert!(hostile.path().is_err());
    }

    #[test]
    fn answers_decode_leniently_where_the_api_omits_fields() {
        let d: Deployments = serde_json::from_value(serde_json::json!({
            "deployments": [{ "id": "d1", "versions": [{ "version_id": "v", "percentage": 100 }] }]
        }))
        .unwrap();
        assert_eq!(d.deployments[0].versions[0].percentage, 100.0);
        let s: ScriptInfo = serde_json::from_value(serde_json::json!({
            "id": "api", "named_handlers": [{ "name": "Room" }], "migration_tag": null
        }))
        .unwrap();
        assert_eq!(s.name, "api");
        assert_eq!(s.named_handlers, vec!["Room".to_owned()]);
        assert!(s.handlers.is_empty() && s.migration_tag.is_none());
    }
}
