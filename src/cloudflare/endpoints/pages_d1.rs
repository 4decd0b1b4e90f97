//! Pages projects and deployments, D1 queries and Time Travel bookmarks: what `clodo assess`,
//! `clodo deploy` and `clodo rollback` read and do on Pages and D1 besides running wrangler.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{account_path, or_default, Endpoint, Method, NoBody, Paging};
use crate::cloudflare::path::InvalidSegment;

/// `GET /accounts/{a}/pages/projects/{project}` (code 8000007: no such project).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPagesProject {
    pub account: String,
    pub project: String,
}

/// A Pages project as Clodo reads it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct PagesProject {
    pub name: String,
    /// `<name>.pages.dev`.
    pub subdomain: String,
    #[serde(deserialize_with = "or_default")]
    pub production_branch: String,
    #[serde(deserialize_with = "or_default")]
    pub domains: Vec<String>,
    /// `{production: {...bindings}, preview: {...}}` as the API sends it.
    pub deployment_configs: Value,
}

get_endpoint!(GetPagesProject => PagesProject, |e| account_path(
    &e.account,
    &["pages", "projects", &e.project]
));

/// The stage a Pages deployment reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct PagesStage {
    pub name: String,
    pub status: String,
}

/// One Pages deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct PagesDeployment {
    pub id: String,
    pub url: String,
    /// `production` or `preview`.
    pub environment: String,
    #[serde(deserialize_with = "or_default")]
    pub aliases: Vec<String>,
    pub created_on: String,
    pub latest_stage: PagesStage,
}

impl PagesDeployment {
    /// A production deployment whose last stage (`deploy`) succeeded: what a Pages rollback
    /// may target.
    #[must_use]
    pub fn is_good_production(&self) -> bool {
        self.environment == "production"
            && self.latest_stage.name == "deploy"
            && self.latest_stage.status == "success"
    }
}

/// `GET /accounts/{a}/pages/projects/{project}/deployments` (newest first, first page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPagesDeployments {
    pub account: String,
    pub project: String,
}

list_endpoint!(ListPagesDeployments => PagesDeployment, Paging::Whole, |e| account_path(
    &e.account,
    &["pages", "projects", &e.project, "deployments"]
));

/// `POST /accounts/{a}/pages/projects/{project}/deployments/{id}/rollback`: makes that
/// (successful production) deployment the live one again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackPagesDeployment {
    pub account: String,
    pub project: String,
    pub deployment_id: String,
}

impl Endpoint for RollbackPagesDeployment {
    type Result = PagesDeployment;
    type Body = NoBody;
    const METHOD: Method = Method::Post;
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(
            &self.account,
            &[
                "pages",
                "projects",
                &self.project,
                "deployments",
                &self.deployment_id,
                "rollback",
            ],
        )
    }
}

/// `POST /accounts/{a}/d1/database/{uuid}/query` with `{sql}`: one result per statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct D1Query {
    pub account: String,
    pub database_id: String,
    pub body: D1Sql,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct D1Sql {
    pub sql: String,
}

/// One statement's answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct D1Result {
    #[serde(deserialize_with = "or_default")]
    pub results: Vec<Value>,
    pub success: bool,
}

impl Endpoint for D1Query {
    type Result = Vec<D1Result>;
    type Body = D1Sql;
    const METHOD: Method = Method::Post;
    fn path(&self) -> Result<String, InvalidSegment> {
        account_path(
            &self.account,
            &["d1", "database", &self.database_id, "query"],
        )
    }
    fn body(&self) -> Option<&D1Sql> {
        Some(&self.body)
    }
}

/// `GET /accounts/{a}/d1/database/{uuid}/time_travel/bookmark`: the current bookmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetD1Bookmark {
    pub account: String,
    pub database_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct D1Bookmark {
    pub bookmark: String,
}

get_endpoint!(GetD1Bookmark => D1Bookmark, |e| account_path(
    &e.account,
    &["d1", "database", &e.database_id, "time_travel", "bookmark"]
));
