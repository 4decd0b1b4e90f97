//! The calls the CLI and the rollout make on one account's Workers: list them, read a Worker's
//! deployments, check a version exists, and set its traffic split. Each is one endpoint of
//! [`super::endpoints`]; errors stay the typed [`CallError`] for the caller to match on.

use super::client::{BadAnswer, CallError, Client};
use super::endpoints::{
    CreateDeployment, Deployment, GetVersion, ListDeployments, ListScripts, Script, ScriptInfo,
    VersionInfo,
};
use super::transport::Transport;
use crate::deploy::content::VersionContent;

/// A client bound to one Cloudflare account.
pub struct AccountClient<T> {
    pub client: Client<T>,
    pub account: String,
}

impl<T: Transport> AccountClient<T> {
    pub fn new(client: Client<T>, account: &str) -> Self {
        Self {
            client,
            account: account.to_owned(),
        }
    }

    /// The account's Workers (with their Durable Object migration tags).
    ///
    /// # Errors
    /// The call's error.
    pub async fn scripts(&self) -> Result<Vec<ScriptInfo>, CallError> {
        self.client
            .list(&ListScripts {
                account: self.account.clone(),
            })
            .await
    }

    /// The Worker's deployments, newest first (the first serves traffic).
    ///
    /// # Errors
    /// The call's error (`is_not_found` when the Worker does not exist).
    pub async fn deployments(&self, script: &str) -> Result<Vec<Deployment>, CallError> {
        let answer = self
            .client
            .call(&ListDeployments(Script::new(&self.account, script)))
            .await?;
        Ok(answer.deployments)
    }

    /// As [`Self::deployments`]; `None` when the Worker does not exist.
    ///
    /// # Errors
    /// The call's error, other than not-found.
    pub async fn deployments_if_deployed(
        &self,
        script: &str,
    ) -> Result<Option<Vec<Deployment>>, CallError> {
        match self.deployments(script).await {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One version of the Worker.
    ///
    /// # Errors
    /// The call's error (`is_not_found` when there is no such version or Worker).
    pub async fn version(&self, script: &str, version: &str) -> Result<VersionInfo, CallError> {
        self.client
            .call(&GetVersion {
                script: Script::new(&self.account, script),
                version: version.to_owned(),
            })
            .await
    }

    /// The modules of one version of the Worker, as uploaded (`GET …/scripts/{s}/content/v2
    /// ?version=`, the read wrangler's `versions secret put` makes to copy a version).
    ///
    /// # Errors
    /// The call's error; an answer that is not a version's modules is a `BadAnswer`.
    pub async fn version_content(
        &self,
        script: &str,
        version: &str,
    ) -> Result<VersionContent, CallError> {
        let path = Script::new(&self.account, script)
            .content_path()
            .map_err(|e| CallError::InvalidPath {
                path: format!("workers/scripts/{script}/content/v2"),
                reason: e.to_string(),
            })?;
        let answer = self
            .client
            .get_response(&path, &[("version", version.to_owned())])
            .await?;
        VersionContent::parse(
            answer.header("content-type").unwrap_or_default(),
            answer.header("cf-entrypoint"),
            &answer.body,
        )
        .map_err(|e| CallError::BadAnswer {
            request: format!("GET {path}?version={version}"),
            problem: BadAnswer::UnexpectedResult(e.to_string()),
        })
    }

    /// Sets the Worker's traffic split now: `(version id, percent)` adding up to 100.
    ///
    /// # Errors
    /// The call's error; on `is_unanswered` the split may or may not have been applied.
    pub async fn set_traffic(
        &self,
        script: &str,
        versions: &[(String, f64)],
        message: &str,
    ) -> Result<(), CallError> {
        self.client
            .call(&CreateDeployment::split(
                &self.account,
                script,
                versions,
                message,
            ))
            .await
            .map(|_| ())
    }

    /// Serves `version` to 100% of the Worker's traffic now.
    ///
    /// # Errors
    /// As [`Self::set_traffic`].
    pub async fn serve_only(
        &self,
        script: &str,
        version: &str,
        message: &str,
    ) -> Result<(), CallError> {
        self.set_traffic(script, &[(version.to_owned(), 100.0)], message)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures::executor::block_on;

    use super::*;
    use crate::cloudflare::{HttpRequest, HttpResponse, RetryPolicy, TransportError};

    /// Answers every request with `body` (status 200) and records what was sent.
    struct Fixed {
        body: &'static str,
        headers: Vec<(String, String)>,
        sent: RefCell<Vec<HttpRequest>>,
    }

    impl Transport for Fixed {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(request);
            Ok(HttpResponse {
                status: 200,
                headers: self.headers.clone(),
                body: self.body.as_bytes().to_vec(),
            })
        }
        async fn sleep(&self, _ms: u64) {}
        fn now_ms(&self) -> u64 {
            0
        }
    }

    fn account(body: &'static str) -> AccountClient<Fixed> {
        answering(body, &[])
    }

    fn answering(body: &'static str, headers: &[(&str, &str)]) -> AccountClient<Fixed> {
        let transport = Fixed {
            body,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            sent: RefCell::default(),
        };
        AccountClient::new(
            Client::new(transport, "http://api", "tok", RetryPolicy::default()),
            "acc",
        )
    }

    #[test]
    fn serve_only_posts_a_whole_split_to_the_deployments_endpoint() {
        let cf = account(r#"{"success":true,"errors":[],"result":{"id":"d9","versions":[]}}"#);
        block_on(cf.serve_only("api", "v1", "clodo rollback")).unwrap();
        let sent = cf.client.transport().sent.borrow();
        assert_eq!(sent[0].method, "POST");
        assert_eq!(
            sent[0].url,
            "http://api/accounts/acc/workers/scripts/api/deployments"
        );
        let body: serde_json::Value =
            serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(body["versions"][0]["version_id"], "v1");
        assert_eq!(body["versions"][0]["percentage"], 100.0);
        assert_eq!(body["annotations"]["workers/message"], "clodo rollback");
    }

    #[test]
    fn a_result_of_the_wrong_shape_is_a_bad_answer_not_a_success() {
        let cf = account(r#"{"success":true,"errors":[],"result":{"deployments":"none"}}"#);
        let err = block_on(cf.deployments("api")).unwrap_err();
        assert!(
            matches!(err, CallError::BadAnswer { .. }) && err.is_unanswered(),
            "{err}"
        );
        let cf =
            account(r#"{"success":true,"errors":[],"result":[{"id":"api","migration_tag":"v2"}]}"#);
        let scripts = block_on(cf.scripts()).unwrap();
        assert_eq!(scripts[0].migration_tag.as_deref(), Some("v2"));
    }

    #[test]
    fn a_versions_modules_are_read_from_the_content_endpoint() {
        let body = "--b\r\ncontent-disposition: form-data; name=\"index.js\"; filename=\"index.js\"\r\ncontent-type: application/javascript+module\r\n\r\nexport default {}\r\n--b--\r\n";
        let cf = answering(
            body,
            &[
                ("content-type", "multipart/form-data; boundary=b"),
                ("cf-entrypoint", "index.js"),
            ],
        );
        let content = block_on(cf.version_content("api", "v1")).unwrap();
        assert_eq!(content.main_module, "index.js");
        assert_eq!(content.modules[0].bytes, b"export default {}");
        let sent = cf.client.transport().sent.borrow();
        assert_eq!(sent[0].method, "GET");
        assert_eq!(
            sent[0].url,
            "http://api/accounts/acc/workers/scripts/api/content/v2?version=v1"
        );
        drop(sent);
        // A JSON answer is not a version's modules.
        let cf = account(r#"{"success":true,"errors":[],"result":null}"#);
        let err = block_on(cf.version_content("api", "v1")).unwrap_err();
        assert!(matches!(err, CallError::BadAnswer { .. }), "{err}");
    }
}
