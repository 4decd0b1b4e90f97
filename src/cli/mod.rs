//! The native `clodo` CLI: argument parsing and dispatch to one module per subcommand.

mod approve;
pub mod assess;
mod audit;
pub mod client;
mod deploy;
mod deployment;
mod diff;
pub mod errors;
mod history;
mod init;
mod lock;
mod login;
mod metrics;
pub mod output;
mod promote;
mod promote_env;
mod rollback;
mod rollout;
mod schedule;
mod token_hint;
mod wrangler;
// Pages and D1 (issue 14).
mod assess_pages_d1;
mod github;
// Notification channels and the delivery log (issue 15).
mod deliveries;
mod rollback_pages_d1;
mod summary;
// plan, drift and export (issue 17).
mod export;
mod plan;
// Server-side rollback and the Slack app (issue 15).
mod rollback_server;
mod slack;
// Output conventions checked over the whole command tree (issue 17).
#[cfg(test)]
mod tree_tests;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::api::contract::rollouts::Command as Steer;

/// Clodo: know what will fail before you deploy to Cloudflare, then deploy safely.
#[derive(Debug, Parser)]
#[command(name = "clodo", version = crate::VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every `clodo` subcommand; each lives in its own module under `src/cli/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find what will fail before deploying: config, token, resources, routes, secrets.
    Assess(assess::AssessArgs),
    /// Run a local Cloudflare API (v4 subset) that real wrangler can deploy to.
    Sandbox(crate::sandbox::SandboxArgs),
    /// Store the control plane's URL and your API token (~/.config/clodo/config.json, 0600).
    Login(login::LoginArgs),
    /// Show, take, release or break an environment's deploy lock.
    Lock(lock::LockArgs),
    /// Approve a deployment that waits for approvals.
    Approve(approve::ApproveArgs),
    /// Assess, then upload every service with wrangler in dependency waves and serve the new versions.
    Deploy(deploy::DeployArgs),
    /// Put the previous good version of every service back at 100% (no canary steps).
    Rollback(rollback::RollbackArgs),
    /// What changed between two deployments: versions, bindings, compatibility dates, commits.
    Diff(diff::DiffArgs),
    /// The team's deployments, newest first.
    History(history::HistoryArgs),
    /// Export the audit log as JSON lines or CSV.
    Audit(audit::AuditArgs),
    /// Write a clodo.toml listing the wrangler configs found under this directory.
    Init(init::InitArgs),
    /// A deployment's rollout: phase, traffic, analysis, recent log (`--follow` to watch).
    Status(rollout::StatusArgs),
    /// Send a rollout's new versions to 100% now (or an A/B test's chosen version), or ship
    /// what one environment verified to another (`--from staging --to production`).
    Promote(promote::PromoteArgs),
    /// Hold a rollout at its current step until `clodo resume`.
    Pause(rollout::SteerArgs),
    /// Continue a paused rollout.
    Resume(rollout::SteerArgs),
    /// Stop a rollout and put every service back on its previous version.
    Abort(rollout::SteerArgs),
    /// Print the control plane's OpenAPI document (what `scripts/gen-api-types.sh` reads).
    #[command(hide = true)]
    Openapi,
    /// Cancel a scheduled deployment before it starts (`clodo deploy --at`).
    Cancel(schedule::CancelArgs),
    /// Recurring schedules of an environment: add, list, rm (cron, UTC).
    Schedule(schedule::ScheduleArgs),
    /// Print the team's deploy calendar (iCalendar): scheduled deploys, recurring schedules,
    /// windows and freezes (`clodo calendar > clodo.ics`).
    Calendar(schedule::CalendarArgs),
    /// DORA metrics of an environment: deployment frequency, change lead time, change fail
    /// rate, failed deployment recovery time, rework rate, with DORA's bands.
    Metrics(metrics::MetricsArgs),
    /// A project's GitHub integration: connect, show, disconnect (docs/github.md).
    Github(github::GithubArgs),
    /// A project's notification channels and monitoring markers: add, list, rm, enable.
    Channels(deliveries::ChannelsArgs),
    /// The delivery log of notifications and markers (`show ID`, `replay ID`).
    Deliveries(deliveries::DeliveriesArgs),
    /// A project's weekly summary: `send` queues it now (docs/notifications.md).
    Summary(summary::SummaryArgs),
    /// What a deploy would change against what is live, per service (docs/plan.md).
    Plan(plan::PlanArgs),
    /// What was changed live outside the config or outside Clodo, with the fix (docs/plan.md).
    Drift(plan::PlanArgs),
    /// The configs' resources as Terraform (provider v5) or a Pulumi program (docs/export.md).
    Export(export::ExportArgs),
    /// The team's Slack app: connect, show, disconnect, link your Slack user, post a report
    /// (docs/slack.md).
    Slack(slack::SlackArgs),
}

/// Parses the command line, runs the subcommand and maps its outcome to a process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` come this way too: they are not errors.
            let usage_error = e.use_stderr();
            let _ = e.print();
            if usage_error {
                errors::print_link(errors::CliCode::Usage);
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        Command::Assess(args) => assess::run(args),
        Command::Sandbox(args) => {
            let code = crate::sandbox::run_cli(args);
            if code != ExitCode::SUCCESS {
                // The sandbox crate printed `error: …`; the link is the CLI's.
                errors::print_link(errors::CliCode::SandboxFailed);
            }
            code
        }
        Command::Login(args) => login::run(args),
        Command::Lock(args) => lock::run(args),
        Command::Approve(args) => approve::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Diff(args) => diff::run(args),
        Command::History(args) => history::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Init(args) => init::run(args),
        Command::Status(args) => rollout::status(args),
        Command::Promote(args) => promote::run(args),
        Command::Pause(args) => rollout::steer(Steer::Pause, args),
        Command::Resume(args) => rollout::steer(Steer::Resume, args),
        Command::Abort(args) => rollout::steer(Steer::Abort, args),
        Command::Openapi => {
            let doc = crate::api::openapi::document(crate::VERSION);
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Cancel(args) => schedule::cancel(args),
        Command::Schedule(args) => schedule::schedule(args),
        Command::Calendar(args) => schedule::calendar(args),
        Command::Metrics(args) => metrics::run(args),
        Command::Github(args) => github::run(args),
        Command::Channels(args) => deliveries::channels(args),
        Command::Deliveries(args) => deliveries::deliveries(args),
        Command::Summary(args) => summary::summary(args),
        Command::Plan(args) => plan::run_plan(args),
        Command::Drift(args) => plan::run_drift(args),
        Command::Export(args) => export::run(args),
        Command::Slack(args) => slack::run(args),
    }
}
