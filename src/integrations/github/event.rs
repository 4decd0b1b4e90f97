//! What a verified GitHub delivery asks Clodo to do. Only `repository_of` reads a body before
//! its signature is checked, and only to pick whose secret to check it with: nothing it returns
//! is trusted until that check passed.

use serde::{Deserialize, Serialize};

use super::tracks;

/// The work a delivery asks for (stored as the outbox entry's payload, hence serialisable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Work {
    /// `ping`: GitHub checking the hook; answered, nothing else.
    Ping,
    /// Assess the configs of a commit and report on it (status; comment for a pull request).
    Assess(AssessCommit),
    /// `deployment_protection_rule`: approve or reject a GitHub environment deployment.
    Review(ReviewRequest),
    /// Nothing to do, and why (an untracked branch, an event Clodo does not handle).
    Ignore(String),
    /// A preview of this head branch was recorded: re-render the Clodo comment of each pull
    /// request from the branch (its stored assessment part and the previews table).
    RefreshComments { branch: String },
}

/// A delivery's slow work as the outbox keeps it (kind `github`, one row per delivery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// `X-GitHub-Delivery`.
    pub delivery: String,
    pub event: String,
    /// The public origin of the Worker the delivery came to: report links start with it.
    pub origin: String,
    /// When Clodo received it (Unix ms): what orders the pull request comment's updates.
    pub received_at: i64,
    pub work: Work,
}

/// The outbox key of a delivery to a project: the same delivery queues one row, however often
/// GitHub redelivers it.
#[must_use]
pub fn job_key(project_id: &str, delivery: &str) -> String {
    format!("gh_{project_id}_{delivery}")
}

/// The outbox key of the comment refresh a recorded preview queues: one per Pages deployment
/// of an environment, so recording the same preview again queues nothing.
#[must_use]
pub fn preview_key(environment_id: &str, pages_project: &str, pages_deployment_id: &str) -> String {
    format!("ghpv_{environment_id}_{pages_project}_{pages_deployment_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessCommit {
    pub sha: String,
    /// The branch ref pushed, or the pull request's head ref.
    pub git_ref: String,
    /// The pull request whose comment shows the assessment.
    pub pull_request: Option<u64>,
}

impl AssessCommit {
    /// The branch name of `git_ref` (`refs/heads/feature/x` → `feature/x`): what previews of
    /// the pull request's head are recorded under.
    #[must_use]
    pub fn branch(&self) -> &str {
        self.git_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.git_ref)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRequest {
    /// The GitHub environment, which names the Clodo environment of the project.
    pub environment: String,
    pub sha: String,
    pub git_ref: Option<String>,
    /// The workflow run waiting for the review (from `deployment_callback_url`).
    pub run_id: u64,
}

/// A delivery that is not what its event header says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `{event}` payload is not understood: {reason}")]
pub struct BadPayload {
    pub event: String,
    pub reason: String,
}

#[derive(Deserialize)]
struct RepositoryOnly {
    repository: Option<NamedRepository>,
}

#[derive(Deserialize)]
struct NamedRepository {
    full_name: String,
}

/// The `repository.full_name` of a delivery, lower-cased (GitHub names are case-insensitive),
/// used only to find the candidate integrations whose secrets may verify it.
#[must_use]
pub fn repository_of(body: &[u8]) -> Option<String> {
    let only: RepositoryOnly = serde_json::from_slice(body).ok()?;
    only.repository.map(|r| r.full_name.to_ascii_lowercase())
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u64,
    pull_request: PullRequest,
}

#[derive(Deserialize)]
struct PullRequest {
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    git_ref: String,
    sha: String,
}

#[derive(Deserialize)]
struct ProtectionRule {
    action: String,
    environment: String,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    deployment_callback_url: String,
}

fn parse<'a, T: Deserialize<'a>>(event: &str, body: &'a [u8]) -> Result<T, BadPayload> {
    serde_json::from_slice(body).map_err(|e| BadPayload {
        event: event.to_owned(),
        reason: e.to_string(),
    })
}

fn is_sha(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decides what a delivery (already verified) asks for, given the tracked branch globs and the
/// API base URL the integration trusts (a review is only ever sent there).
///
/// # Errors
/// `BadPayload` when a handled event's payload lacks what the event needs.
pub fn classify(
    event: &str,
    body: &[u8],
    branches: &[String],
    api_base_url: &str,
    repository: &str,
) -> Result<Work, BadPayload> {
    let bad = |reason: &str| BadPayload {
        event: event.to_owned(),
        reason: reason.to_owned(),
    };
    match event {
        "ping" => Ok(Work::Ping),
        "push" => {
            let push: Push = parse(event, body)?;
            if push.deleted {
                return Ok(Work::Ignore(format!("{} was deleted", push.git_ref)));
            }
            if !tracks(branches, &push.git_ref) {
                return Ok(Work::Ignore(format!(
                    "{} is not a tracked branch ({})",
                    push.git_ref,
                    branches.join(", ")
                )));
            }
            if !is_sha(&push.after) {
                return Err(bad("`after` is not a commit sha"));
            }
            Ok(Work::Assess(AssessCommit {
                sha: push.after,
                git_ref: push.git_ref,
                pull_request: None,
            }))
        }
        "pull_request" => {
            let pr: PullRequestEvent = parse(event, body)?;
            if !matches!(pr.action.as_str(), "opened" | "synchronize" | "reopened") {
                return Ok(Work::Ignore(format!("pull_request `{}`", pr.action)));
            }
            let base = format!("refs/heads/{}", pr.pull_request.base.git_ref);
            if !tracks(branches, &base) {
                return Ok(Work::Ignore(format!(
                    "the pull request targets {base}, not a tracked branch"
                )));
            }
            if !is_sha(&pr.pull_request.head.sha) {
                return Err(bad("`pull_request.head.sha` is not a commit sha"));
            }
            Ok(Work::Assess(AssessCommit {
                sha: pr.pull_request.head.sha,
                git_ref: format!("refs/heads/{}", pr.pull_request.head.git_ref),
                pull_request: Some(pr.number),
            }))
        }
        "deployment_protection_rule" => {
            let rule: ProtectionRule = parse(event, body)?;
            if rule.action != "requested" {
                return Ok(Work::Ignore(format!(
                    "deployment_protection_rule `{}`",
                    rule.action
                )));
            }
            let run_id = run_of_callback(&rule.deployment_callback_url, api_base_url, repository)
                .ok_or_else(|| {
                    bad("`deployment_callback_url` is not this repository's workflow run review URL on the configured API")
                })?;
            if !is_sha(&rule.sha) {
                return Err(bad("`sha` is not a commit sha"));
            }
            Ok(Work::Review(ReviewRequest {
                environment: rule.environment,
                sha: rule.sha,
                git_ref: rule.git_ref,
                run_id,
            }))
        }
        other => Ok(Work::Ignore(format!("event `{other}` is not handled"))),
    }
}

/// The run id of `{base}/repos/{repository}/actions/runs/{id}/deployment_protection_rule`.
/// Anything else is refused: the token is only ever sent to the configured API, for this
/// repository.
#[must_use]
pub fn run_of_callback(url: &str, api_base_url: &str, repository: &str) -> Option<u64> {
    let prefix = format!("{api_base_url}/repos/");
    let rest = url.strip_prefix(&prefix)?;
    let (repo, rest) = rest.split_at_checked(repository.len())?;
    if !repo.eq_ignore_ascii_case(repository) {
        return None;
    }
    let id = rest
        .strip_prefix("/actions/runs/")?
        .strip_suffix("/deployment_protection_rule")?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = "https://api.github.com";
    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn classify_json(event: &str, body: serde_json::Value) -> Result<Work, BadPayload> {
        let body = serde_json::to_vec(&body).unwrap();
        classify(event, &body, &["main".to_owned()], BASE, "acme/shop")
    }

    #[test]
    fn jobs_round_trip_through_the_outbox_payload() {
        let job = Job {
            delivery: "d-1".into(),
            event: "push".into(),
            origin: "https://c".into(),
            received_at: 1,
            work: Work::Assess(AssessCommit {
                sha: SHA.into(),
                git_ref: "refs/heads/main".into(),
                pull_request: Some(3),
            }),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
        assert!(crate::outbox::valid_key(&job_key(
            "prj_0123abcd",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        )));
    }

    #[test]
    fn the_repository_is_read_for_lookup_only() {
        let body = br#"{"repository":{"full_name":"Acme/Shop","id":1},"zen":"x"}"#;
        assert_eq!(repository_of(body).as_deref(), Some("acme/shop"));
        assert_eq!(repository_of(b"not json"), None);
        assert_eq!(repository_of(b"{}"), None);
    }

    #[test]
    fn pushes_to_tracked_branches_are_assessed() {
        let push = |r: &str| json!({ "ref": r, "after": SHA, "before": SHA, "deleted": false });
        assert_eq!(
            classify_json("push", push("refs/heads/main")).unwrap(),
            Work::Assess(AssessCommit {
                sha: SHA.into(),
                git_ref: "refs/heads/main".into(),
                pull_request: None
            })
        );
        assert!(matches!(
            classify_json("push", push("refs/heads/dev")).unwrap(),
            Work::Ignore(_)
        ));
        assert!(matches!(
            classify_json(
                "push",
                json!({ "ref": "refs/heads/main", "after": "0000", "deleted": true })
            )
            .unwrap(),
            Work::Ignore(_)
        ));
        assert!(classify_json("push", json!({ "ref": "refs/heads/main" })).is_err());
        assert_eq!(
            classify_json("ping", json!({ "zen": "z" })).unwrap(),
            Work::Ping
        );
        assert!(matches!(
            classify_json("issues", json!({})).unwrap(),
            Work::Ignore(_)
        ));
    }

    #[test]
    fn pull_requests_into_tracked_branches_are_assessed_with_their_number() {
        let pr = |action: &str, base: &str| {
            json!({ "action": action, "number": 7, "pull_request": {
                "head": { "ref": "feature", "sha": SHA }, "base": { "ref": base, "sha": SHA } } })
        };
        for action in ["opened", "synchronize", "reopened"] {
            assert_eq!(
                classify_json("pull_request", pr(action, "main")).unwrap(),
                Work::Assess(AssessCommit {
                    sha: SHA.into(),
                    git_ref: "refs/heads/feature".into(),
                    pull_request: Some(7)
                })
            );
        }
        assert!(matches!(
            classify_json("pull_request", pr("closed", "main")).unwrap(),
            Work::Ignore(_)
        ));
        assert!(matches!(
            classify_json("pull_request", pr("opened", "dev")).unwrap(),
            Work::Ignore(_)
        ));
    }

    #[test]
    fn reviews_go_only_to_the_configured_api_for_this_repository() {
        let rule = |url: &str| {
            json!({ "action": "requested", "environment": "production", "sha": SHA,
                    "ref": "refs/heads/main", "deployment_callback_url": url })
        };
        let ok = format!("{BASE}/repos/acme/shop/actions/runs/42/deployment_protection_rule");
        assert_eq!(
            classify_json("deployment_protection_rule", rule(&ok)).unwrap(),
            Work::Review(ReviewRequest {
                environment: "production".into(),
                sha: SHA.into(),
                git_ref: Some("refs/heads/main".into()),
                run_id: 42
            })
        );
        for bad in [
            "https://evil.example/repos/acme/shop/actions/runs/42/deployment_protection_rule",
            "https://api.github.com/repos/acme/other/actions/runs/42/deployment_protection_rule",
            "https://api.github.com/repos/acme/shop/actions/runs/4x/deployment_protection_rule",
            "https://api.github.com/repos/acme/shop/actions/runs/42/approve",
        ] {
            assert!(
                classify_json("deployment_protection_rule", rule(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
