//! `clodo slack connect|show|disconnect|link|post`: the team's Slack app. The signing secret
//! and the bot token are read from environment variables, never from the command line (which
//! shell history and process lists keep). `link` prints a one-time code for the logged-in
//! member to type in Slack (`/clodo link CODE`).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::client::{self, enc};
use super::github::secret_from;
use crate::api::contract::slack::{SlackApp, SlackLinkCode, SlackPostQueued, SlackSettings};

#[derive(Debug, Args)]
pub struct SlackArgs {
    #[command(subcommand)]
    pub action: SlackAction,
}

#[derive(Debug, Subcommand)]
pub enum SlackAction {
    /// Connect the team's Slack app (or replace its settings and secrets).
    Connect {
        /// The channel id (C…) approval requests and reports are posted to.
        #[arg(long)]
        channel: Option<String>,
        /// Slack's Web API base URL (default https://slack.com/api).
        #[arg(long)]
        api_base_url: Option<String>,
        /// The environment variable holding the app's signing secret.
        #[arg(long, default_value = "SLACK_SIGNING_SECRET")]
        signing_secret_env: String,
        /// The environment variable holding the bot token (xoxb-…).
        #[arg(long, default_value = "SLACK_BOT_TOKEN")]
        bot_token_env: String,
        #[arg(long)]
        json: bool,
    },
    /// Show the team's app (never its secrets).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Disconnect the app: Slack's commands and clicks are refused from then on.
    Disconnect {
        /// Print `{"disconnected": "slack"}`.
        #[arg(long)]
        json: bool,
    },
    /// A one-time code (ten minutes) linking your member to your Slack user.
    Link {
        #[arg(long)]
        json: bool,
    },
    /// Post an assessment report to the app's channel.
    Post {
        /// The assessment id.
        assessment: String,
        /// Print `{"channel", "delivery_id"}`.
        #[arg(long)]
        json: bool,
    },
}

const PATH: &str = "/api/v1/slack";

fn describe(a: &SlackApp) -> String {
    format!(
        "Slack app\n  api: {}\n  channel: {}\n  slash command URL: <your Clodo URL>{}\n  interactivity URL: <your Clodo URL>{}\n  linked users: {}\n  updated by {} at {}",
        a.api_base_url,
        a.channel.as_deref().unwrap_or("(none: nothing is posted unasked)"),
        a.commands_path,
        a.interactions_path,
        a.linked_users,
        a.updated_by,
        client::time(Some(a.updated_at))
    )
}

pub fn run(args: SlackArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            SlackAction::Connect {
                channel,
                api_base_url,
                signing_secret_env,
                bot_token_env,
                json,
            } => {
                let settings = SlackSettings {
                    signing_secret: secret_from(&signing_secret_env)?,
                    bot_token: secret_from(&bot_token_env)?,
                    channel,
                    api_base_url,
                };
                let out: SlackApp = api
                    .send(reqwest::Method::PUT, PATH, Some(&settings))
                    .await?;
                if json {
                    client::print_typed(&out);
                } else {
                    println!("connected {}", describe(&out));
                }
            }
            SlackAction::Show { json } => {
                let out: SlackApp = api.get(PATH).await?;
                if json {
                    client::print_typed(&out);
                } else {
                    println!("{}", describe(&out));
                }
            }
            SlackAction::Disconnect { json } => {
                api.send::<(), ()>(reqwest::Method::DELETE, PATH, None)
                    .await?;
                client::print_done(
                    json,
                    "disconnected",
                    "slack",
                    "disconnected the team's Slack app",
                );
            }
            SlackAction::Link { json } => {
                let out: SlackLinkCode = api
                    .send::<(), _>(reqwest::Method::POST, &format!("{PATH}/link-codes"), None)
                    .await?;
                if json {
                    client::print_typed(&out);
                } else {
                    println!(
                        "In Slack, type:\n\n  {}\n\nbefore {} (the code works once).",
                        out.command,
                        client::time(Some(out.expires_at))
                    );
                }
            }
            SlackAction::Post { assessment, json } => {
                let out: SlackPostQueued = api
                    .send::<(), _>(
                        reqwest::Method::POST,
                        &format!("/api/v1/assessments/{}/slack", enc(&assessment)),
                        None,
                    )
                    .await?;
                if json {
                    client::print_typed(&out);
                } else {
                    println!(
                        "queued for {} (delivery {}: `clodo deliveries show {}`)",
                        out.channel, out.delivery_id, out.delivery_id
                    );
                }
            }
        }
        Ok(())
    })
}
