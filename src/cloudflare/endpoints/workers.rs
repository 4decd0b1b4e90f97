//! Workers: scripts, their deployments (the traffic split), versions, secrets and settings,
//! custom domains and Durable Object namespaces.

use serde::{Deserialize, Serialize};

use super::{account_path, names_of, or_default, Endpoint, ListEndpoint, Method, NoBody, Paging};
use crate::cloudflare::path::InvalidSegment;

/// `GET /accounts/{a}/workers/scripts`: the account's Workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScripts {
    pub account: String,
}

/// One Worker of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptInfo {
    #[serde(default, rename(deserialize = "id"), deserialize_with = "or_default")]
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub handlers: Vec<String>,
    /// Named entrypoints and Durable Object classes.
    #[serde(default, deserialize_with = "names_of")]
    pub named_handlers: Vec<String>,
    /// The last Durable Object migration applied.
    #[serde(default)]
    pub migration_tag: Option<String>,
    /// `wrangler`, `dash`, `api`, ...
    #[serde(default)]
    pub last_deployed_from: Option<String>,
}

impl ListEndpoint for ListScripts {
    type Item = ScriptInfo;
    const PAGING: Paging = Paging::Whole;
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(&self.account, &["workers", "scripts"])
    }
}

/// A Worker of an account: the parent of the per-script endpoints.
fn script_path(account: &str, script: &str, rest: &[&str]) -> Result<String, InvalidSegment> {
    let mut parts = vec!["workers", "scripts", script];
    parts.extend_from_slice(rest);
    account_path(account, &parts)
}

/// `GET /accounts/{a}/workers/scripts/{s}/secrets`: the names of the Worker's secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListScriptSecrets {
    pub account: String,
    pub script: String,
}

impl ListEndpoint for ListScriptSecrets {
    type Item = super::Named;
    const PAGING: Paging = Paging::Whole;
    fn path(&self) -> Result<String, InvalidSegment> {
        script_path(&self.account, &self.script, &["secrets"])
    }
}

/// `GET /accounts/{a}/workers/scripts/{s}/deployments`: the Worker's deployments, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDeployments {
    pub account: String,
    pub script: String,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Deployments {
    /// Newest first; the first one serves traffic.
    #[serde(default, deserialize_with = "or_default")]
    pub deployments: Vec<Deployment>,
}

/// One deployment: the versions it splits traffic between.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Deployment {
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub versions: Vec<VersionShare>,
}

/// One version's share of the traffic, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionShare {
    #[serde(default, deserialize_with = "or_default")]
    pub version_id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub percentage: f64,
}

impl Endpoint for ListDeployments {
    type Result = Deployments;
    type Body = NoBody;
    const METHOD: Method = Method::Get;
    fn path(&self) -> Result<String, InvalidSegment> {
        script_path(&self.account, &self.script, &["deployments"])
    }
}

/// `POST /accounts/{a}/workers/scripts/{s}/deployments`: sets the Worker's traffic split
/// ("set traffic"); the one way Clodo moves traffic, for rollouts, rollbacks and restores.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateDeployment {
    pub account: String,
    pub script: String,
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
        Self {
            account: account.to_owned(),
            script: script.to_owned(),
            body: DeploymentBody {
                strategy: "percentage",
                versions: versions
                    .iter()
                    .map(|(version_id, percentage)| VersionShare {
                        version_id: version_id.clone(),
                        percentage: *percentage,
                    })
                    .collect(),
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
        script_path(&self.account, &self.script, &["deployments"])
    }
    fn body(&self) -> Option<&DeploymentBody> {
        Some(&self.body)
    }
}

/// `GET /accounts/{a}/workers/scripts/{s}/versions/{v}`: one version of the Worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetVersion {
    pub account: String,
    pub script: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
}

impl Endpoint for GetVersion {
    type Result = VersionInfo;
    type Body = NoBody;
    const METHOD: Method = Method::Get;
    fn path(&self) -> Result<String, InvalidSegment> {
        script_path(&self.account, &self.script, &["versions", &self.version])
    }
}

/// `GET /accounts/{a}/workers/scripts/{s}/settings`: the live version's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSettings {
    pub account: String,
    pub script: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct ScriptSettingsResult {
    #[serde(default, deserialize_with = "or_default")]
    pub bindings: Vec<BindingRef>,
}

/// A binding as the settings name it: its type and name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BindingRef {
    #[serde(default, rename = "type", deserialize_with = "or_default")]
    pub binding_type: String,
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
}

impl Endpoint for ScriptSettings {
    type Result = ScriptSettingsResult;
    type Body = NoBody;
    const METHOD: Method = Method::Get;
    fn path(&self) -> Result<String, InvalidSegment> {
        script_path(&self.account, &self.script, &["settings"])
    }
}

/// `GET /accounts/{a}/workers/domains`: custom domains attached to Workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCustomDomains {
    pub account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomDomain {
    #[serde(default, deserialize_with = "or_default")]
    pub hostname: String,
    /// The Worker it routes to.
    #[serde(default, deserialize_with = "or_default")]
    pub service: String,
}

impl ListEndpoint for ListCustomDomains {
    type Item = CustomDomain;
    const PAGING: Paging = Paging::Whole;
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(&self.account, &["workers", "domains"])
    }
}

/// `GET /accounts/{a}/workers/durable_objects/namespaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDurableObjectNamespaces {
    pub account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoNamespace {
    /// The Worker defining the class.
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub class: String,
}

impl ListEndpoint for ListDurableObjectNamespaces {
    type Item = DoNamespace;
    const PAGING: Paging = Paging::Pages { per_page: 100 };
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(&self.account, &["workers", "durable_objects", "namespaces"])
    }
}

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
