//! A commit's configs read through the contents API, then assessed like `clodo assess` does on
//! a checkout: `clodo.toml` at the repository root names the Workers' wrangler configs (a file,
//! or a directory holding one); without it, a wrangler config at the root is the one service.

use super::client::{GithubClient, GithubError};
use crate::assess::{self, Context, Finding, Kind, Report, ServiceInput, Severity};
use crate::cloudflare::{Client, Transport};
use crate::config::{self, ConfigFormat, ResolvedWorker, CONFIG_FILE_NAMES};

/// One Worker service's config as read at the commit.
pub struct CommitWorker {
    pub file: String,
    pub worker: ResolvedWorker,
    pub extra_secrets: Vec<String>,
}

/// What the commit holds: usable Workers, and findings about configs that are not usable.
pub struct CommitConfigs {
    /// The file the assessment is stored under (`clodo.toml` or the root wrangler config).
    pub entry_file: String,
    pub workers: Vec<CommitWorker>,
    pub early: Vec<Finding>,
}

/// Why the commit could not be assessed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAssessed {
    #[error("the commit has no clodo.toml or wrangler config at the repository root")]
    NoConfig,
    #[error(transparent)]
    Github(#[from] GithubError),
}

fn format_of(file: &str) -> ConfigFormat {
    if file.ends_with(".jsonc") {
        ConfigFormat::Jsonc
    } else if file.ends_with(".json") {
        ConfigFormat::Json
    } else {
        ConfigFormat::Toml
    }
}

/// A `clodo.toml` service path as a repository path: `./` and empty steps dropped; `None` when
/// it leaves the repository (`..`, absolute).
#[must_use]
pub fn repo_path(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains('\\') {
        return None;
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return None;
    }
    Some(parts.join("/"))
}

fn is_config_file(path: &str) -> bool {
    [".toml", ".json", ".jsonc"]
        .iter()
        .any(|e| path.ends_with(e))
}

/// The first of `candidates` the commit has, with its text.
async fn first_file<T: Transport>(
    gh: &GithubClient<'_, T>,
    sha: &str,
    candidates: &[String],
) -> Result<Option<(String, String)>, GithubError> {
    for path in candidates {
        if let Some(text) = gh.file(path, sha).await? {
            return Ok(Some((path.clone(), text)));
        }
    }
    Ok(None)
}

fn unusable(message: String, fix: &str, service: &str) -> Finding {
    let mut finding = Finding::new(Kind::ConfigInvalid, Severity::Error, message, fix);
    finding.service = Some(service.to_owned());
    finding
}

/// Reads the commit's configs for wrangler environment `env`.
///
/// # Errors
/// `NoConfig` when there is nothing to assess; `Github` when a file could not be read (a
/// check that could not be made is never reported as a pass).
pub async fn load<T: Transport>(
    gh: &GithubClient<'_, T>,
    sha: &str,
    env: Option<&str>,
) -> Result<CommitConfigs, NotAssessed> {
    let mut out = CommitConfigs {
        entry_file: "clodo.toml".to_owned(),
        workers: Vec::new(),
        early: Vec::new(),
    };
    let Some(text) = gh.file("clodo.toml", sha).await? else {
        let roots: Vec<String> = CONFIG_FILE_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let (file, text) = first_file(gh, sha, &roots)
            .await?
            .ok_or(NotAssessed::NoConfig)?;
        out.entry_file.clone_from(&file);
        load_one(&mut out, file, &text, env, Vec::new());
        return Ok(out);
    };
    let project = match config::parse_project(&text, "clodo.toml") {
        Ok(p) => p,
        Err(e) => {
            out.early.push(assess::config_error_finding(&e));
            return Ok(out);
        }
    };
    for service in project.services.iter().filter(|s| s.is_worker()) {
        let Some(path) = repo_path(&service.config) else {
            out.early.push(unusable(
                format!(
                    "service `{}`: config `{}` is outside the repository",
                    service.name, service.config
                ),
                "name a path inside the repository, relative to clodo.toml",
                &service.name,
            ));
            continue;
        };
        let candidates: Vec<String> = if is_config_file(&path) {
            vec![path.clone()]
        } else {
            CONFIG_FILE_NAMES
                .iter()
                .map(|n| {
                    if path.is_empty() {
                        (*n).to_owned()
                    } else {
                        format!("{path}/{n}")
                    }
                })
                .collect()
        };
        match first_file(gh, sha, &candidates).await? {
            Some((file, text)) => {
                let secrets = project.required_secrets_for(&service.name, env);
                load_one(&mut out, file, &text, env, secrets);
            }
            None => out.early.push(unusable(
                format!(
                    "service `{}`: the commit has no wrangler config at `{}`",
                    service.name, service.config
                ),
                "commit the wrangler config, or fix `config` in clodo.toml",
                &service.name,
            )),
        }
    }
    Ok(out)
}

fn load_one(
    out: &mut CommitConfigs,
    file: String,
    text: &str,
    env: Option<&str>,
    extra_secrets: Vec<String>,
) {
    match assess::load_config(text, format_of(&file), &file, env) {
        Ok(worker) => out.workers.push(CommitWorker {
            file,
            worker,
            extra_secrets,
        }),
        Err(finding) => out.early.push(*finding),
    }
}

/// Assesses loaded configs, against `remote`'s account when given (else the checks that need
/// no API only). Whether `main` exists is not known without a checkout.
pub async fn assess<T: Transport>(
    configs: CommitConfigs,
    ctx: &Context,
    remote: Option<(&Client<T>, &str)>,
) -> Report {
    let inputs: Vec<ServiceInput<'_>> = configs
        .workers
        .iter()
        .map(|w| ServiceInput {
            worker: &w.worker,
            extra_required_secrets: w.extra_secrets.clone(),
            main_exists: None,
        })
        .collect();
    let ctx = Context {
        project_workers: assess::project_workers(configs.workers.iter().map(|w| &w.worker)),
        ..ctx.clone()
    };
    let mut report = assess::assess(&inputs, &ctx, remote).await;
    drop(inputs);
    report.merge(configs.early);
    report
}

#[cfg(test)]
mod tests {
    use super::super::client::tests::Scripted;
    use super::*;

    fn file(text: &str) -> String {
        use base64::Engine as _;
        let content = base64::engine::general_purpose::STANDARD.encode(text);
        format!(r#"{{"type":"file","encoding":"base64","content":"{content}"}}"#)
    }

    #[test]
    fn service_paths_stay_inside_the_repository() {
        assert_eq!(repo_path("./workers/api/").as_deref(), Some("workers/api"));
        assert_eq!(repo_path("wrangler.toml").as_deref(), Some("wrangler.toml"));
        assert_eq!(repo_path("../other"), None);
        assert_eq!(repo_path("/etc"), None);
    }

    #[test]
    fn clodo_toml_names_the_configs_read_at_the_commit() {
        let project = "project = \"shop\"\n\n[[services]]\nname = \"api\"\nconfig = \"workers/api\"\n\n[[services]]\nname = \"web\"\nconfig = \"web/wrangler.toml\"\n";
        let api =
            r#"{ "name": "api", "main": "src/index.js", "compatibility_date": "2025-01-01" }"#;
        let t = Scripted::new(&[
            (200, &file(project)),
            (404, "{}"),
            (200, &file(api)),
            (404, "{}"),
        ]);
        let gh = GithubClient::new(&t, "http://gh", "acme/shop", "tok").unwrap();
        let configs = futures::executor::block_on(load(&gh, "abc1234", None)).unwrap();
        let early: Vec<&str> = configs.early.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(configs.workers.len(), 1, "{early:?}");
        assert_eq!(configs.workers[0].file, "workers/api/wrangler.jsonc");
        assert_eq!(configs.early.len(), 1);
        assert!(configs.early[0]
            .message
            .contains("no wrangler config at `web/wrangler.toml`"));
        let urls: Vec<String> = t.sent.borrow().iter().map(|r| r.url.clone()).collect();
        assert_eq!(
            urls,
            [
                "http://gh/repos/acme/shop/contents/clodo.toml?ref=abc1234",
                "http://gh/repos/acme/shop/contents/workers/api/wrangler.json?ref=abc1234",
                "http://gh/repos/acme/shop/contents/workers/api/wrangler.jsonc?ref=abc1234",
                "http://gh/repos/acme/shop/contents/web/wrangler.toml?ref=abc1234",
            ]
        );
    }

    #[test]
    fn a_commit_without_configs_or_an_unreadable_one_is_not_assessed() {
        let t = Scripted::new(&[(404, "{}"), (404, "{}"), (404, "{}"), (404, "{}")]);
        let gh = GithubClient::new(&t, "http://gh", "acme/shop", "tok").unwrap();
        assert!(matches!(
            futures::executor::block_on(load(&gh, "abc1234", None)),
            Err(NotAssessed::NoConfig)
        ));
        let t = Scripted::new(&[(401, r#"{"message":"Bad credentials"}"#)]);
        let gh = GithubClient::new(&t, "http://gh", "acme/shop", "tok").unwrap();
        assert!(matches!(
            futures::executor::block_on(load(&gh, "abc1234", None)),
            Err(NotAssessed::Github(GithubError {
                status: Some(401),
                ..
            }))
        ));
    }
}
