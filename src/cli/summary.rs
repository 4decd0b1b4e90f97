//! `clodo summary send [--project P] [--week 2026-W49]`: queues a project's weekly summary
//! now (`POST /api/v1/projects/{project}/summary`, admin) rather than on Monday 09:00 UTC.
//! One delivery per channel that receives `summary.weekly`; asked again for the same week,
//! it queues nothing and shows the existing deliveries.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;

use super::client::{self, enc};
use crate::api::contract::notify::SummarySent;

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(subcommand)]
    pub action: SummaryAction,
}

#[derive(Debug, Subcommand)]
pub enum SummaryAction {
    /// Queue the summary of a week to the project's channels that receive summary.weekly.
    Send {
        /// The project (slug); default: `project` of ./clodo.toml.
        #[arg(long)]
        project: Option<String>,
        /// The ISO week (`2026-W49`); default: the last complete week. The current week
        /// sends the week to date.
        #[arg(long)]
        week: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// `clodo summary …`.
pub fn summary(args: SummaryArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            SummaryAction::Send {
                project,
                week,
                json,
            } => {
                let project = super::schedule::project_of(project)?;
                let mut path = format!("/api/v1/projects/{}/summary", enc(&project));
                if let Some(w) = &week {
                    path.push_str(&format!("?week={}", enc(w)));
                }
                let sent: SummarySent = api.send::<(), _>(Method::POST, &path, None).await?;
                if json {
                    client::print_typed(&sent);
                } else {
                    let span = if sent.complete { "" } else { " (week to date)" };
                    println!(
                        "{} {}{span}: {} queued now, {} channel(s) in all",
                        sent.project,
                        sent.week,
                        sent.queued,
                        sent.deliveries.len()
                    );
                    for d in &sent.deliveries {
                        println!(
                            "  {}  {}  {}",
                            d.id,
                            d.channel_id.as_deref().unwrap_or("-"),
                            d.state.as_str()
                        );
                    }
                }
            }
        }
        Ok(())
    })
}
