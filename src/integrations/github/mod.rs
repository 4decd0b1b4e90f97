//! The GitHub integration's pure core: what an inbound delivery asks for (`event`), the REST
//! calls Clodo makes (`client`), loading and assessing a commit's configs through the contents
//! API (`commit`), and what Clodo posts back (`render`: statuses, the pull request comment, the
//! deployment review decided by the environment's policies).

pub mod app;
pub mod client;
pub mod commit;
pub mod event;
pub mod render;

use crate::api::contract::github::GithubSettings;
use crate::control::policy::glob_match;

/// The public GitHub API; GitHub Enterprise Server and the tests' fake set their own.
pub const DEFAULT_API_BASE_URL: &str = "https://api.github.com";

/// The commit status context and the marker of Clodo's pull request comment.
pub const STATUS_CONTEXT: &str = "clodo/assessment";

/// Where GitHub sends deliveries (outside `/api/v1`: it authenticates by signature, not token).
pub const WEBHOOK_PATH: &str = "/integrations/github/webhook";

/// Whether a push to `git_ref` (`refs/heads/main`) is on one of the tracked branch globs. Tags
/// and other refs are never tracked.
#[must_use]
pub fn tracks(branches: &[String], git_ref: &str) -> bool {
    git_ref
        .strip_prefix("refs/heads/")
        .is_some_and(|branch| branches.iter().any(|p| glob_match(p, branch)))
}

/// The settings as they are stored: the base URL without a trailing slash, checked.
///
/// # Errors
/// What is wrong, naming the field.
pub fn validate(settings: &GithubSettings) -> Result<String, String> {
    let (owner, name) = settings
        .repository
        .split_once('/')
        .ok_or("`repository` must be `owner/name`")?;
    // The same rules as the contract's `REPOSITORY_PATTERN`.
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    if !part_ok(owner) || !part_ok(name) || owner.starts_with('.') || name == "." || name == ".." {
        return Err("`repository` must be `owner/name` (letters, digits, '_', '.', '-')".into());
    }
    // Lengths count characters, as the contract's JSON Schema does.
    if !(16..=256).contains(&settings.webhook_secret.chars().count()) {
        return Err(
            "`webhook_secret` must be 16-256 characters (e.g. `openssl rand -hex 32`)".into(),
        );
    }
    match (&settings.api_token, &settings.app) {
        // Tokens are visible ASCII (the contract's pattern `^[!-~]+$`): no spaces, no Unicode.
        (Some(token), None) => {
            if token.is_empty()
                || token.len() > 1024
                || !token.bytes().all(|b| (b'!'..=b'~').contains(&b))
            {
                return Err(
                    "`api_token` must be 1-1024 visible ASCII characters (no spaces)".into(),
                );
            }
        }
        (None, Some(app)) => {
            // JSON numbers above 2^53 do not survive every client; GitHub's ids are far below.
            let id_ok = |id: u64| (1..=9_007_199_254_740_991).contains(&id);
            if !id_ok(app.app_id) || !id_ok(app.installation_id) {
                return Err("`app.app_id` and `app.installation_id` must be positive ids".into());
            }
            app::AppKey::from_pem(&app.private_key).map_err(|e| format!("`app.{e}"))?;
        }
        _ => {
            return Err(
                "give exactly one of `api_token` or `app` ({app_id, installation_id, private_key})"
                    .into(),
            )
        }
    }
    if settings.branches.is_empty()
        || settings.branches.len() > 50
        || settings
            .branches
            .iter()
            .any(|b| b.is_empty() || b.chars().count() > 200)
    {
        return Err("`branches` must be 1-50 globs of 1-200 characters".into());
    }
    if let Some(env) = &settings.environment {
        if env.is_empty() || env.chars().count() > 64 {
            return Err("`environment` must be 1-64 characters".into());
        }
    }
    validate_deploy_on_push(settings)?;
    super::api_base_url(
        settings
            .api_base_url
            .as_deref()
            .unwrap_or(DEFAULT_API_BASE_URL),
    )
    .ok_or_else(|| {
        "`api_base_url` must be an http(s) URL such as https://api.github.com or https://HOST/api/v3"
            .into()
    })
}

/// A workflow GitHub can dispatch by: its file name under `.github/workflows` or its id.
#[must_use]
pub fn valid_workflow(workflow: &str) -> bool {
    let file_ok = (workflow.ends_with(".yml") || workflow.ends_with(".yaml"))
        && workflow.len() > 4
        && workflow
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    let id_ok = !workflow.is_empty() && workflow.bytes().all(|b| b.is_ascii_digit());
    workflow.len() <= 100 && (file_ok || id_ok)
}

fn validate_deploy_on_push(settings: &GithubSettings) -> Result<(), String> {
    if settings.deploy_on_push.len() > 20 {
        return Err("`deploy_on_push`: at most 20 rules".into());
    }
    for (i, rule) in settings.deploy_on_push.iter().enumerate() {
        if rule.branch.is_empty() || rule.branch.chars().count() > 200 {
            return Err(format!(
                "`deploy_on_push[{i}].branch` must be a glob of 1-200 characters"
            ));
        }
        if !settings.branches.iter().any(|b| b == &rule.branch)
            && !tracks(&settings.branches, &format!("refs/heads/{}", rule.branch))
        {
            return Err(format!(
                "`deploy_on_push[{i}].branch` `{}` is not tracked: add it to `branches` (its pushes are what gets assessed)",
                rule.branch
            ));
        }
        if rule.environment.is_empty() || rule.environment.chars().count() > 64 {
            return Err(format!(
                "`deploy_on_push[{i}].environment` must be 1-64 characters"
            ));
        }
        if !valid_workflow(&rule.workflow) {
            return Err(format!(
                "`deploy_on_push[{i}].workflow` must be a workflow file name (`deploy.yml`) or id"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GithubSettings {
        GithubSettings {
            repository: "acme/shop".into(),
            webhook_secret: "0123456789abcdef".into(),
            api_token: Some("ghp_x".into()),
            app: None,
            branches: vec!["main".into(), "release/*".into()],
            api_base_url: None,
            environment: None,
            deploy_on_push: vec![],
        }
    }

    #[test]
    fn deploy_on_push_rules_name_a_tracked_branch_and_a_workflow() {
        use crate::api::contract::github::DeployOnPush;
        let rule = |branch: &str, workflow: &str| DeployOnPush {
            branch: branch.into(),
            environment: "production".into(),
            workflow: workflow.into(),
        };
        let mut s = settings();
        s.deploy_on_push = vec![rule("main", "deploy.yml"), rule("release/*", "42")];
        assert!(validate(&s).is_ok());
        for (bad, field) in [
            (rule("dev", "deploy.yml"), "not tracked"),
            (rule("main", "../x.yml"), "workflow"),
            (rule("main", "deploy.sh"), "workflow"),
        ] {
            s.deploy_on_push = vec![bad];
            let err = validate(&s).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn an_app_with_a_valid_key_is_accepted() {
        let mut s = settings();
        s.api_token = None;
        s.app = Some(crate::api::contract::github::GithubAppSettings {
            app_id: 4242,
            installation_id: 77,
            private_key: include_str!("../../../tests/fixtures/github/app-test-key.pem").into(),
        });
        assert_eq!(validate(&s).unwrap(), DEFAULT_API_BASE_URL);
    }

    #[test]
    fn tracked_branches_are_globs_over_heads_only() {
        let b = settings().branches;
        assert!(tracks(&b, "refs/heads/main"));
        assert!(tracks(&b, "refs/heads/release/1.2"));
        assert!(!tracks(&b, "refs/heads/feature/x"));
        assert!(!tracks(&b, "refs/tags/main"));
        assert!(!tracks(&b, "main"));
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        assert_eq!(validate(&settings()).unwrap(), DEFAULT_API_BASE_URL);
        let mut s = settings();
        s.api_base_url = Some("http://127.0.0.1:9000/".into());
        assert_eq!(validate(&s).unwrap(), "http://127.0.0.1:9000");
        for (change, field) in [
            (
                Box::new(|s: &mut GithubSettings| s.repository = "acme".into())
                    as Box<dyn Fn(&mut GithubSettings)>,
                "repository",
            ),
            (Box::new(|s| s.repository = "acme/..".into()), "repository"),
            (
                Box::new(|s| s.repository = ".acme/shop".into()),
                "repository",
            ),
            (
                Box::new(|s| s.webhook_secret = "short".into()),
                "webhook_secret",
            ),
            (Box::new(|s| s.api_token = Some("a b".into())), "api_token"),
            (Box::new(|s| s.api_token = None), "api_token"),
            (
                Box::new(|s| {
                    s.app = Some(crate::api::contract::github::GithubAppSettings {
                        app_id: 1,
                        installation_id: 2,
                        private_key: "not a key".into(),
                    });
                }),
                "api_token` or `app",
            ),
            (
                Box::new(|s| {
                    s.api_token = None;
                    s.app = Some(crate::api::contract::github::GithubAppSettings {
                        app_id: 1,
                        installation_id: 2,
                        private_key: "not a key".into(),
                    });
                }),
                "app.`private_key`",
            ),
            (Box::new(|s| s.branches = vec![]), "branches"),
            (
                Box::new(|s| s.api_base_url = Some("ftp://x".into())),
                "api_base_url",
            ),
        ] {
            let mut s = settings();
            change(&mut s);
            let err = validate(&s).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
    }
}
