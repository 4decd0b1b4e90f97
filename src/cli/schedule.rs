//! `clodo cancel`, `clodo schedule add|list|rm` and `clodo calendar`: scheduled deploys,
//! recurring schedules and the iCalendar feed of both with the environments' windows and
//! freezes. Scheduling itself is `clodo deploy --at`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;

use super::client::{self, enc, Failure};
use super::deploy::StrategyArg;
use super::errors::CliCode;
use crate::api::contract::schedules::{CancelOutcome, NewSchedule, Schedule, ScheduleList};
use crate::config::ProjectConfig;

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The scheduled deployment (`dep_…`).
    pub deployment: String,
    #[arg(long)]
    pub json: bool,
}

/// `clodo cancel DEPLOYMENT`: cancels a scheduled deployment before it starts; a second
/// cancel answers the same without changing anything; a started one is refused (abort it).
pub fn cancel(args: CancelArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        let out: CancelOutcome = api
            .send::<(), _>(
                Method::POST,
                &format!("/api/v1/deployments/{}/cancel", enc(&args.deployment)),
                None,
            )
            .await?;
        if args.json {
            client::print_typed(&out);
        } else if out.cancelled_now {
            println!("cancelled {}", args.deployment);
        } else {
            println!("{} was already cancelled", args.deployment);
        }
        Ok(())
    })
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub action: ScheduleAction,
}

/// Where a schedule lives: a project's environment.
#[derive(Debug, Args)]
pub struct Place {
    /// The project (slug); default: `project` of ./clodo.toml.
    #[arg(long)]
    pub project: Option<String>,
    /// The environment the schedule deploys to.
    #[arg(long, short = 'e')]
    pub env: String,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Deploy at each occurrence of a cron expression (5 fields, UTC), e.g. a weekly train.
    Add {
        #[command(flatten)]
        place: Place,
        /// `minute hour day-of-month month day-of-week` in UTC, e.g. "0 9 * * wed".
        #[arg(long)]
        cron: String,
        /// Ship the newest succeeded deployment of this environment (the same Worker names);
        /// default: re-deploy this environment's own newest recorded versions.
        #[arg(long)]
        from: Option<String>,
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        #[arg(long, short = 'm')]
        message: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The environment's recurring schedules.
    List {
        #[command(flatten)]
        place: Place,
        #[arg(long)]
        json: bool,
    },
    /// Delete a recurring schedule (deployments it already created are left as they are).
    Rm {
        #[command(flatten)]
        place: Place,
        /// The schedule (`sch_…`).
        id: String,
        /// Print `{"deleted": ID}`.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn project_of(project: Option<String>) -> Result<String, Failure> {
    if let Some(p) = project {
        return Ok(p);
    }
    let text = std::fs::read_to_string("clodo.toml").map_err(|e| {
        Failure::Setup(format!(
            "--project is needed (no ./clodo.toml to read it from: {e})"
        ))
    })?;
    crate::config::parse_project(&text, "clodo.toml")
        .map(|p: ProjectConfig| p.project)
        .map_err(|e| Failure::Setup(format!("./clodo.toml: {e}")))
}

fn schedules_path(project: &str, env: &str) -> String {
    format!(
        "/api/v1/projects/{}/environments/{}/schedules",
        enc(project),
        enc(env)
    )
}

fn show(s: &Schedule) -> String {
    let next = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(s.next_at)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    let from = s.source_environment.as_deref().map_or_else(
        || "its own last versions".to_owned(),
        |e| format!("from {e}"),
    );
    let mut line = format!(
        "{}  \"{}\" UTC  {} ({})  next {next}",
        s.id, s.cron, s.strategy, from
    );
    if let Some(err) = &s.last_error {
        line.push_str(&format!("  last: {err}"));
    } else if let Some(d) = &s.last_deployment_id {
        line.push_str(&format!("  last: {d}"));
    }
    line
}

pub fn schedule(args: ScheduleArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            ScheduleAction::Add {
                place,
                cron,
                from,
                strategy,
                message,
                json,
            } => {
                let project = project_of(place.project)?;
                let body = NewSchedule {
                    cron,
                    source_environment: from,
                    strategy: strategy.map(Into::into),
                    rollout: None,
                    message,
                };
                let created: Schedule = api
                    .send(
                        Method::POST,
                        &schedules_path(&project, &place.env),
                        Some(&body),
                    )
                    .await?;
                if json {
                    client::print_typed(&created);
                } else {
                    println!("{}", show(&created));
                }
            }
            ScheduleAction::List { place, json } => {
                let project = project_of(place.project)?;
                let list: ScheduleList = api.get(&schedules_path(&project, &place.env)).await?;
                if json {
                    client::print_typed(&list);
                } else if list.items.is_empty() {
                    println!("no recurring schedules for {project}/{}", place.env);
                } else {
                    for s in &list.items {
                        println!("{}", show(s));
                    }
                }
            }
            ScheduleAction::Rm { place, id, json } => {
                let project = project_of(place.project)?;
                let path = format!("{}/{}", schedules_path(&project, &place.env), enc(&id));
                let _: Option<serde_json::Value> =
                    api.send::<(), _>(Method::DELETE, &path, None).await?;
                client::print_done(json, "deleted", &id, &format!("deleted {id}"));
            }
        }
        Ok(())
    })
}

#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// Only this project's (slug); default: every project of the team.
    #[arg(long)]
    pub project: Option<String>,
}

/// `clodo calendar [--project P] > clodo.ics`: the iCalendar feed, as the API serves it.
pub fn calendar(args: CalendarArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        let path = match &args.project {
            Some(p) => format!("/api/v1/calendar.ics?project={}", enc(p)),
            None => "/api/v1/calendar.ics".to_owned(),
        };
        let (text, _) = api.raw(Method::GET, &path, None).await?;
        use std::io::Write;
        std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Failure::Local(CliCode::LocalIo, format!("writing the calendar: {e}")))?;
        Ok(())
    })
}
