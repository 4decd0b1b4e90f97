//! The calls the CLI makes on one account's Pages projects and D1 databases: read a project
//! and its deployments, roll a project back, read the migrations a database applied, and
//! take a Time Travel bookmark before migrating.

use super::account_client::AccountClient;
use super::client::CallError;
use super::endpoints::{
    D1Query, D1Sql, GetD1Bookmark, GetPagesProject, ListPagesDeployments, PagesDeployment,
    PagesProject, RollbackPagesDeployment,
};
use super::transport::Transport;

/// Cloudflare's code for "no such Pages project".
pub const PAGES_PROJECT_NOT_FOUND: i64 = 8_000_007;

impl<T: Transport> AccountClient<T> {
    /// The Pages project; `Ok(None)` when the account has no project of that name.
    ///
    /// # Errors
    /// Any other failure of the call.
    pub async fn pages_project(&self, project: &str) -> Result<Option<PagesProject>, CallError> {
        let call = self
            .client
            .call(&GetPagesProject {
                account: self.account.clone(),
                project: project.to_owned(),
            })
            .await;
        match call {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.has_code(PAGES_PROJECT_NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The project's deployments, newest first (one page, as wrangler reads them).
    ///
    /// # Errors
    /// The call's error.
    pub async fn pages_deployments(
        &self,
        project: &str,
    ) -> Result<Vec<PagesDeployment>, CallError> {
        self.client
            .list(&ListPagesDeployments {
                account: self.account.clone(),
                project: project.to_owned(),
            })
            .await
    }

    /// Makes an earlier production deployment of the project live again.
    ///
    /// # Errors
    /// The call's error (Cloudflare refuses preview and failed deployments).
    pub async fn rollback_pages(
        &self,
        project: &str,
        deployment_id: &str,
    ) -> Result<PagesDeployment, CallError> {
        self.client
            .call(&RollbackPagesDeployment {
                account: self.account.clone(),
                project: project.to_owned(),
                deployment_id: deployment_id.to_owned(),
            })
            .await
    }

    /// The names of the migrations the database applied, read from `table` as wrangler does
    /// (`SELECT … ORDER BY id`); a database where the table does not exist yet applied none.
    /// Only reads: the table is not created here (wrangler creates it when it applies).
    ///
    /// # Errors
    /// The call's error, other than the table's absence.
    pub async fn applied_migrations(
        &self,
        database_id: &str,
        table: &str,
    ) -> Result<Vec<String>, CallError> {
        if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || table.is_empty() {
            return Err(CallError::InvalidPath {
                path: table.to_owned(),
                reason: "a migrations table name is letters, digits and '_'".into(),
            });
        }
        let answer = self
            .client
            .call(&D1Query {
                account: self.account.clone(),
                database_id: database_id.to_owned(),
                body: D1Sql {
                    sql: format!("SELECT name FROM {table} ORDER BY id"),
                },
            })
            .await;
        match answer {
            Ok(results) => Ok(results
                .into_iter()
                .flat_map(|r| r.results)
                .filter_map(|row| row["name"].as_str().map(str::to_owned))
                .collect()),
            Err(e) if e.to_string().contains("no such table") => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The database's current Time Travel bookmark: restoring to it undoes what comes after.
    ///
    /// # Errors
    /// The call's error.
    pub async fn d1_bookmark(&self, database_id: &str) -> Result<String, CallError> {
        self.client
            .call(&GetD1Bookmark {
                account: self.account.clone(),
                database_id: database_id.to_owned(),
            })
            .await
            .map(|b| b.bookmark)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;

    use super::*;
    use crate::cloudflare::{Client, HttpRequest, HttpResponse, RetryPolicy, TransportError};

    /// Answers every request with `(status, body)` and records what was sent.
    struct Fixed {
        status: u16,
        body: &'static str,
        sent: RefCell<Vec<HttpRequest>>,
    }

    impl Transport for Fixed {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(request);
            Ok(HttpResponse {
                status: self.status,
                headers: vec![],
                body: self.body.as_bytes().to_vec(),
            })
        }
        async fn sleep(&self, _ms: u64) {}
        fn now_ms(&self) -> u64 {
            0
        }
    }

    fn account(status: u16, body: &'static str) -> AccountClient<Fixed> {
        let transport = Fixed {
            status,
            body,
            sent: RefCell::default(),
        };
        AccountClient::new(
            Client::new(transport, "http://api", "tok", RetryPolicy::default()),
            "acc",
        )
    }

    #[test]
    fn applied_migrations_are_read_like_wrangler_and_a_missing_table_is_none() {
        let cf = account(
            200,
            r#"{"success":true,"errors":[],"result":[{"results":[{"name":"0001_a.sql"},{"name":"0002_b.sql"}],"success":true}]}"#,
        );
        let applied = block_on(cf.applied_migrations("db-1", "d1_migrations")).unwrap();
        assert_eq!(applied, vec!["0001_a.sql", "0002_b.sql"]);
        let sent = cf.client.transport().sent.borrow();
        assert_eq!(sent[0].method, "POST");
        assert_eq!(
            sent[0].url,
            "http://api/accounts/acc/d1/database/db-1/query"
        );
        let body: serde_json::Value =
            serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["sql"], "SELECT name FROM d1_migrations ORDER BY id");
        drop(sent);

        let cf = account(
            400,
            r#"{"success":false,"errors":[{"code":7500,"message":"no such table: d1_migrations: SQLITE_ERROR"}],"result":null}"#,
        );
        assert!(block_on(cf.applied_migrations("db-1", "d1_migrations"))
            .unwrap()
            .is_empty());
        // A table name that could inject SQL is refused before anything is sent.
        assert!(block_on(cf.applied_migrations("db-1", "t; DROP TABLE x")).is_err());
        assert!(cf.client.transport().sent.borrow().len() == 1);
    }

    #[test]
    fn a_missing_pages_project_is_none_and_a_rollback_posts_to_the_deployment() {
        let cf = account(
            404,
            r#"{"success":false,"errors":[{"code":8000007,"message":"Project not found"}],"result":null}"#,
        );
        assert_eq!(block_on(cf.pages_project("site")).unwrap(), None);
        let cf = account(
            200,
            r#"{"success":true,"errors":[],"result":{"id":"d-1","url":"https://a.site.pages.dev","environment":"production","latest_stage":{"name":"deploy","status":"success"}}}"#,
        );
        let d = block_on(cf.rollback_pages("site", "d-1")).unwrap();
        assert!(d.is_good_production());
        let sent = cf.client.transport().sent.borrow();
        assert_eq!(sent[0].method, "POST");
        assert_eq!(
            sent[0].url,
            "http://api/accounts/acc/pages/projects/site/deployments/d-1/rollback"
        );
    }
}
