//! The GitHub REST calls Clodo makes, over the same `Transport` seam as the Cloudflare client
//! (reqwest natively, `worker::Fetch` in the Worker, a scripted fake in unit tests). Every path
//! segment is checked and encoded, and requests go only to the integration's API base URL.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::app::InstallationToken;
use crate::cloudflare::{segment, HttpRequest, Transport};

/// A call that did not succeed: the status GitHub answered (none when no answer came) and
/// what it said, for the delivery log. The token is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GitHub {what}: {detail}")]
pub struct GithubError {
    pub what: String,
    pub status: Option<u16>,
    pub detail: String,
}

/// A commit status state (`POST /repos/{o}/{r}/statuses/{sha}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Success,
    Failure,
    Error,
}

impl StatusState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }
}

/// The REST client of one integration: base URL, repository and token.
pub struct GithubClient<'a, T: Transport> {
    transport: &'a T,
    base: &'a str,
    owner: String,
    name: String,
    token: &'a str,
}

#[derive(Deserialize)]
struct Contents {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    encoding: String,
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

impl<'a, T: Transport> GithubClient<'a, T> {
    /// # Errors
    /// When `repository` is not `owner/name` with path-safe parts.
    pub fn new(
        transport: &'a T,
        base: &'a str,
        repository: &str,
        token: &'a str,
    ) -> Result<Self, GithubError> {
        let invalid = |detail: String| GithubError {
            what: "repository".into(),
            status: None,
            detail,
        };
        let (owner, name) = repository
            .split_once('/')
            .ok_or_else(|| invalid(format!("`{repository}` is not owner/name")))?;
        Ok(Self {
            transport,
            base,
            owner: segment(owner).map_err(|e| invalid(e.to_string()))?,
            name: segment(name).map_err(|e| invalid(e.to_string()))?,
            token,
        })
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/repos/{}/{}{rest}", self.base, self.owner, self.name)
    }

    async fn call(
        &self,
        what: &str,
        method: &str,
        url: String,
        body: Option<Value>,
    ) -> Result<(u16, Vec<u8>), GithubError> {
        call(self.transport, self.token, what, method, url, body).await
    }

    fn refused(what: &str, status: u16, body: &[u8]) -> GithubError {
        refused(what, status, body)
    }

    /// The text of `path` at commit `sha`; `None` when the commit has no such file.
    ///
    /// # Errors
    /// Any other answer, a directory, or content that is not UTF-8.
    pub async fn file(&self, path: &str, sha: &str) -> Result<Option<String>, GithubError> {
        let what = format!("contents of {path}");
        let mut encoded = String::new();
        for part in path.split('/') {
            encoded.push('/');
            encoded.push_str(&segment(part).map_err(|e| GithubError {
                what: what.clone(),
                status: None,
                detail: e.to_string(),
            })?);
        }
        let sha = segment(sha).map_err(|e| GithubError {
            what: what.clone(),
            status: None,
            detail: e.to_string(),
        })?;
        let url = self.url(&format!("/contents{encoded}?ref={sha}"));
        let (status, body) = self.call(&what, "GET", url, None).await?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(Self::refused(&what, status, &body)),
        }
        let fail = |detail: String| GithubError {
            what: what.clone(),
            status: Some(status),
            detail,
        };
        let contents: Contents =
            serde_json::from_slice(&body).map_err(|e| fail(format!("unexpected answer: {e}")))?;
        if contents.kind != "file" || contents.encoding != "base64" {
            return Err(fail(format!(
                "not a base64-encoded file (type `{}`, encoding `{}`)",
                contents.kind, contents.encoding
            )));
        }
        // GitHub wraps the base64 text in lines.
        let packed: String = contents
            .content
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bytes = STANDARD
            .decode(packed)
            .map_err(|e| fail(format!("content is not base64: {e}")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| fail("content is not UTF-8 text".into()))
    }

    /// Posts a commit status under `context`.
    ///
    /// # Errors
    /// Any answer but 201.
    pub async fn status(
        &self,
        sha: &str,
        state: StatusState,
        target_url: &str,
        description: &str,
        context: &str,
    ) -> Result<(), GithubError> {
        let what = "commit status";
        let sha = segment(sha).map_err(|e| GithubError {
            what: what.into(),
            status: None,
            detail: e.to_string(),
        })?;
        let body = json!({
            "state": state.as_str(),
            "target_url": target_url,
            "description": description,
            "context": context,
        });
        let (status, answer) = self
            .call(
                what,
                "POST",
                self.url(&format!("/statuses/{sha}")),
                Some(body),
            )
            .await?;
        if status == 201 {
            Ok(())
        } else {
            Err(Self::refused(what, status, &answer))
        }
    }

    /// Comments on pull request `number`; answers the comment's id.
    ///
    /// # Errors
    /// Any answer but 201.
    pub async fn comment(&self, number: u64, body: &str) -> Result<u64, GithubError> {
        let what = "pull request comment";
        let (status, answer) = self
            .call(
                what,
                "POST",
                self.url(&format!("/issues/{number}/comments")),
                Some(json!({ "body": body })),
            )
            .await?;
        if status != 201 {
            return Err(Self::refused(what, status, &answer));
        }
        serde_json::from_slice::<Created>(&answer)
            .map(|c| c.id)
            .map_err(|e| GithubError {
                what: what.into(),
                status: Some(status),
                detail: format!("unexpected answer: {e}"),
            })
    }

    /// Replaces comment `id`'s text; `false` when the comment is gone (deleted on GitHub).
    ///
    /// # Errors
    /// Any answer but 200 or 404.
    pub async fn edit_comment(&self, id: u64, body: &str) -> Result<bool, GithubError> {
        let what = "comment edit";
        let (status, answer) = self
            .call(
                what,
                "PATCH",
                self.url(&format!("/issues/comments/{id}")),
                Some(json!({ "body": body })),
            )
            .await?;
        match status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(Self::refused(what, status, &answer)),
        }
    }

    /// Dispatches `workflow` (a file name or id, checked by `valid_workflow`) on `branch`
    /// with the Clodo environment as its `environment` input.
    ///
    /// # Errors
    /// Any answer but 204.
    pub async fn dispatch_workflow(
        &self,
        workflow: &str,
        branch: &str,
        environment: &str,
    ) -> Result<(), GithubError> {
        let what = "workflow dispatch";
        if !super::valid_workflow(workflow) {
            return Err(GithubError {
                what: what.into(),
                status: None,
                detail: format!("`{workflow}` is not a workflow file name or id"),
            });
        }
        let body = json!({ "ref": branch, "inputs": { "environment": environment } });
        let url = self.url(&format!("/actions/workflows/{workflow}/dispatches"));
        let (status, answer) = self.call(what, "POST", url, Some(body)).await?;
        if status == 204 {
            Ok(())
        } else {
            Err(Self::refused(what, status, &answer))
        }
    }

    /// Approves or rejects the deployment of `environment` a workflow run waits for.
    ///
    /// # Errors
    /// Any answer but 2xx.
    pub async fn review_deployment(
        &self,
        run_id: u64,
        environment: &str,
        approved: bool,
        comment: &str,
    ) -> Result<(), GithubError> {
        let what = "deployment review";
        let body = json!({
            "environment_name": environment,
            "state": if approved { "approved" } else { "rejected" },
            "comment": comment,
        });
        let url = self.url(&format!(
            "/actions/runs/{run_id}/deployment_protection_rule"
        ));
        let (status, answer) = self.call(what, "POST", url, Some(body)).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(Self::refused(what, status, &answer))
        }
    }
}

/// One REST call with `bearer` (a token, or an App's JWT): the status and the body.
async fn call<T: Transport>(
    transport: &T,
    bearer: &str,
    what: &str,
    method: &str,
    url: String,
    body: Option<Value>,
) -> Result<(u16, Vec<u8>), GithubError> {
    let mut headers = vec![
        (
            "accept".to_owned(),
            "application/vnd.github+json".to_owned(),
        ),
        ("authorization".to_owned(), format!("Bearer {bearer}")),
        ("x-github-api-version".to_owned(), "2022-11-28".to_owned()),
        // GitHub refuses requests without a User-Agent.
        ("user-agent".to_owned(), format!("clodo/{}", crate::VERSION)),
    ];
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let request = HttpRequest {
        method: method.to_owned(),
        url,
        headers,
        body: body.map(|b| b.to_string()),
    };
    let response = transport.send(request).await.map_err(|e| GithubError {
        what: what.to_owned(),
        status: None,
        detail: e.to_string(),
    })?;
    Ok((response.status, response.body))
}

fn refused(what: &str, status: u16, body: &[u8]) -> GithubError {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    GithubError {
        what: what.to_owned(),
        status: Some(status),
        detail: format!("HTTP {status}: {message}"),
    }
}

/// Exchanges an App's JWT for a token of `installation_id`
/// (`POST {base}/app/installations/{id}/access_tokens`).
///
/// # Errors
/// Any answer but 201 with a token, or no answer.
pub async fn installation_token<T: Transport>(
    transport: &T,
    base: &str,
    installation_id: u64,
    jwt: &str,
) -> Result<InstallationToken, GithubError> {
    let what = "installation token";
    let url = format!("{base}/app/installations/{installation_id}/access_tokens");
    let (status, body) = call(transport, jwt, what, "POST", url, None).await?;
    if status != 201 {
        return Err(refused(what, status, &body));
    }
    InstallationToken::parse(&body).map_err(|detail| GithubError {
        what: what.into(),
        status: Some(status),
        detail,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::*;
    use crate::cloudflare::{HttpResponse, TransportError};

    /// Answers scripted responses in order and records every request.
    #[derive(Default)]
    pub(crate) struct Scripted {
        pub answers: RefCell<VecDeque<(u16, String)>>,
        pub sent: RefCell<Vec<HttpRequest>>,
    }

    impl Scripted {
        pub(crate) fn new(answers: &[(u16, &str)]) -> Self {
            Self {
                answers: RefCell::new(answers.iter().map(|(s, b)| (*s, (*b).to_owned())).collect()),
                sent: RefCell::default(),
            }
        }
    }

    impl Transport for Scripted {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.borrow_mut().push(request);
            let (status, body) = self
                .answers
                .borrow_mut()
                .pop_front()
                .ok_or_else(|| TransportError::Connect("no scripted answer".into()))?;
            Ok(HttpResponse {
                status,
                headers: vec![],
                body: body.into_bytes(),
            })
        }
        async fn sleep(&self, _ms: u64) {}
        fn now_ms(&self) -> u64 {
            0
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn files_are_read_at_the_commit_and_decoded() {
        let t = Scripted::new(&[
            (
                200,
                r#"{"type":"file","encoding":"base64","content":"bmFtZSA9\nICJhcGki\n"}"#,
            ),
            (404, r#"{"message":"Not Found"}"#),
            (
                403,
                r#"{"message":"Resource not accessible by integration"}"#,
            ),
        ]);
        let gh = GithubClient::new(&t, "http://gh", "acme/shop", "tok").unwrap();
        assert_eq!(
            run(gh.file("workers/api/wrangler.toml", "abc1234"))
                .unwrap()
                .as_deref(),
            Some("name = \"api\"")
        );
        assert_eq!(run(gh.file("clodo.toml", "abc1234")).unwrap(), None);
        let err = run(gh.file("clodo.toml", "abc1234")).unwrap_err();
        assert_eq!(err.status, Some(403));
        assert!(err.detail.contains("not accessible"), "{err}");
        let sent = t.sent.borrow();
        assert_eq!(
            sent[0].url,
            "http://gh/repos/acme/shop/contents/workers/api/wrangler.toml?ref=abc1234"
        );
        assert!(sent[0]
            .headers
            .contains(&("authorization".into(), "Bearer tok".into())));
        assert!(run(gh.file("../secrets", "abc1234")).is_err());
    }

    #[test]
    fn an_app_jwt_is_exchanged_for_an_installation_token() {
        let t = Scripted::new(&[
            (
                201,
                r#"{"token":"ghs_1","expires_at":"2026-12-02T09:00:00Z"}"#,
            ),
            (
                401,
                r#"{"message":"A JSON web token could not be decoded"}"#,
            ),
        ]);
        let got = run(installation_token(&t, "http://gh", 77, "jwt.x.y")).unwrap();
        assert_eq!(got.token, "ghs_1");
        let err = run(installation_token(&t, "http://gh", 77, "jwt.x.y")).unwrap_err();
        assert_eq!(err.status, Some(401));
        let sent = t.sent.borrow();
        assert_eq!(sent[0].method, "POST");
        assert_eq!(sent[0].url, "http://gh/app/installations/77/access_tokens");
        assert!(sent[0]
            .headers
            .contains(&("authorization".into(), "Bearer jwt.x.y".into())));
    }

    #[test]
    fn statuses_comments_and_reviews_are_posted_where_github_expects_them() {
        let t = Scripted::new(&[
            (201, "{}"),
            (201, r#"{"id":99}"#),
            (200, "{}"),
            (404, "{}"),
            (204, ""),
        ]);
        let gh = GithubClient::new(&t, "http://gh", "acme/shop", "tok").unwrap();
        run(gh.status(
            "abc1234",
            StatusState::Failure,
            "http://r",
            "2 errors",
            "clodo/assessment",
        ))
        .unwrap();
        assert_eq!(run(gh.comment(7, "hi")).unwrap(), 99);
        assert!(run(gh.dispatch_workflow("../x", "main", "production")).is_err());
        assert!(run(gh.edit_comment(99, "hi again")).unwrap());
        assert!(!run(gh.edit_comment(99, "gone")).unwrap());
        run(gh.review_deployment(42, "production", false, "frozen")).unwrap();
        let sent = t.sent.borrow();
        let urls: Vec<(&str, &str)> = sent
            .iter()
            .map(|r| (r.method.as_str(), r.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("POST", "http://gh/repos/acme/shop/statuses/abc1234"),
                ("POST", "http://gh/repos/acme/shop/issues/7/comments"),
                ("PATCH", "http://gh/repos/acme/shop/issues/comments/99"),
                ("PATCH", "http://gh/repos/acme/shop/issues/comments/99"),
                (
                    "POST",
                    "http://gh/repos/acme/shop/actions/runs/42/deployment_protection_rule"
                ),
            ]
        );
        let status: Value = serde_json::from_str(sent[0].body.as_deref().unwrap()).unwrap();
        assert_eq!(status["state"], "failure");
        let review: Value = serde_json::from_str(sent[4].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            review,
            json!({"environment_name":"production","state":"rejected","comment":"frozen"})
        );
    }
}
