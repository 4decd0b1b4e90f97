//! `clodo github connect|show|disconnect`: a project's GitHub integration. The webhook secret
//! and the API token are read from environment variables, never from the command line (which
//! shell history and process lists keep).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::client::{self, enc, Failure};
use crate::api::contract::github::{
    DeployOnPush, GithubAppSettings, GithubIntegration, GithubSettings,
};

#[derive(Debug, Args)]
pub struct GithubArgs {
    #[command(subcommand)]
    pub action: GithubAction,
}

// Parsed once per run: the size of the biggest variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum GithubAction {
    /// Connect the project to a repository (or replace its settings and secrets).
    Connect {
        /// Project slug.
        #[arg(long)]
        project: String,
        /// `owner/name`.
        #[arg(long)]
        repository: String,
        /// A tracked branch glob (repeat for several); default `main`.
        #[arg(long = "branch")]
        branches: Vec<String>,
        /// The GitHub API base URL (GitHub Enterprise Server: https://HOST/api/v3).
        #[arg(long)]
        api_base_url: Option<String>,
        /// The Clodo environment whose Cloudflare account assessments check against.
        #[arg(long = "env")]
        environment: Option<String>,
        /// The environment variable holding the webhook secret.
        #[arg(long, default_value = "CLODO_GITHUB_WEBHOOK_SECRET")]
        secret_env: String,
        /// The environment variable holding the GitHub API token (not read with --app-id).
        #[arg(long, default_value = "GITHUB_TOKEN")]
        token_env: String,
        /// Authenticate as this GitHub App (with --installation-id and --private-key-file)
        /// instead of with a token.
        #[arg(long, requires_all = ["installation_id", "private_key_file"])]
        app_id: Option<u64>,
        /// The App's installation on the repository's account.
        #[arg(long, requires = "app_id")]
        installation_id: Option<u64>,
        /// The App's private key (PEM, as GitHub downloads it).
        #[arg(long, requires = "app_id")]
        private_key_file: Option<std::path::PathBuf>,
        /// Deploy-on-push: `BRANCH=ENVIRONMENT:WORKFLOW` (`main=production:deploy.yml`); a
        /// ready push to BRANCH dispatches WORKFLOW with the environment (repeatable).
        #[arg(long = "deploy-on-push", value_parser = parse_deploy_on_push)]
        deploy_on_push: Vec<DeployOnPush>,
        #[arg(long)]
        json: bool,
    },
    /// Show the project's integration (never its secrets).
    Show {
        #[arg(long)]
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Disconnect the project: its deliveries are refused from then on.
    Disconnect {
        #[arg(long)]
        project: String,
        /// Print `{"disconnected": PROJECT}`.
        #[arg(long)]
        json: bool,
    },
}

/// `main=production:deploy.yml` → the rule (the server checks the parts).
fn parse_deploy_on_push(text: &str) -> Result<DeployOnPush, String> {
    let (branch, rest) = text
        .split_once('=')
        .ok_or("expected BRANCH=ENVIRONMENT:WORKFLOW")?;
    let (environment, workflow) = rest
        .split_once(':')
        .ok_or("expected BRANCH=ENVIRONMENT:WORKFLOW")?;
    Ok(DeployOnPush {
        branch: branch.to_owned(),
        environment: environment.to_owned(),
        workflow: workflow.to_owned(),
    })
}

fn path(project: &str) -> String {
    format!("/api/v1/projects/{}/github", enc(project))
}

pub(super) fn secret_from(var: &str) -> Result<String, Failure> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            Failure::Setup(format!(
                "set {var} (it is read from the environment so it stays out of shell history)"
            ))
        })
}

fn describe(i: &GithubIntegration) -> String {
    format!(
        "{} ← {}\n  branches: {}\n  api: {} ({})\n  assessed against: {}\n  webhook: <your Clodo URL>{} (content type application/json)\n  updated by {} at {}",
        i.project,
        i.repository,
        i.branches.join(", "),
        i.api_base_url,
        match (i.app_id, i.installation_id) {
            (Some(app), Some(installation)) =>
                format!("as GitHub App {app}, installation {installation}"),
            _ => "with a token".to_owned(),
        },
        i.environment.as_deref().unwrap_or("(no environment: config checks only)"),
        i.webhook_path,
        i.updated_by,
        client::time(Some(i.updated_at))
    )
}

pub fn run(args: GithubArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            GithubAction::Connect {
                project,
                repository,
                branches,
                api_base_url,
                environment,
                secret_env,
                token_env,
                app_id,
                installation_id,
                private_key_file,
                deploy_on_push,
                json,
            } => {
                let (api_token, app) = match (app_id, installation_id, private_key_file) {
                    (Some(app_id), Some(installation_id), Some(file)) => {
                        let private_key = std::fs::read_to_string(&file).map_err(|e| {
                            Failure::Setup(format!("reading {}: {e}", file.display()))
                        })?;
                        let app = GithubAppSettings {
                            app_id,
                            installation_id,
                            private_key,
                        };
                        (None, Some(app))
                    }
                    _ => (Some(secret_from(&token_env)?), None),
                };
                let settings = GithubSettings {
                    repository,
                    webhook_secret: secret_from(&secret_env)?,
                    api_token,
                    app,
                    branches: if branches.is_empty() {
                        vec!["main".to_owned()]
                    } else {
                        branches
                    },
                    api_base_url,
                    environment,
                    deploy_on_push,
                };
                let out: GithubIntegration = api
                    .send(reqwest::Method::PUT, &path(&project), Some(&settings))
                    .await?;
                if json {
                    client::print_typed(&out);
                } else {
                    println!("connected {}", describe(&out));
                }
            }
            GithubAction::Show { project, json } => {
                let out: GithubIntegration = api.get(&path(&project)).await?;
                if json {
                    client::print_typed(&out);
                } else {
                    println!("{}", describe(&out));
                }
            }
            GithubAction::Disconnect { project, json } => {
                api.send::<(), ()>(reqwest::Method::DELETE, &path(&project), None)
                    .await?;
                client::print_done(
                    json,
                    "disconnected",
                    &project,
                    &format!("disconnected {project} from GitHub"),
                );
            }
        }
        Ok(())
    })
}
