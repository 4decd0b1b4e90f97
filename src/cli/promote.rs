//! `clodo promote`: finish a rollout now (`clodo promote DEPLOYMENT`), pick an A/B test's
//! winner (`clodo promote DEPLOYMENT --version V`), or ship exactly what an environment
//! verified to the next one (`clodo promote --from staging --to production`).

use std::process::ExitCode;

use std::path::PathBuf;

use super::client;
use super::errors::{self, CliCode};
use super::promote_env::{promote_to_an_end, EnvPromotion};
use super::rollout::{self, SteerArgs};
use crate::api::contract::rollouts::Command as Steer;

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The deployment whose rollout to promote (not with --from/--to).
    pub deployment: Option<String>,
    /// A/B tests: the version to keep (the recommended winner or the other one).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub version: Option<String>,
    /// Environment promotion: the environment whose verified deployment to ship.
    #[arg(long, requires = "to", conflicts_with = "deployment")]
    pub from: Option<String>,
    /// Environment promotion: the environment to ship it to.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Environment promotion: the project file listing the services.
    #[arg(long, short = 'p', default_value = "clodo.toml", requires = "from")]
    pub project: PathBuf,
    /// Environment promotion: do not ask for confirmation in a terminal.
    #[arg(long, short = 'y', requires = "from")]
    pub yes: bool,
    /// Environment promotion: a message recorded on the new deployment.
    #[arg(long, short = 'm', requires = "from")]
    pub message: Option<String>,
    /// Environment promotion: return once the target's rollout has started.
    #[arg(long, requires = "from")]
    pub detach: bool,
    /// Environment promotion: go on when some assessment checks of the target could not be
    /// made.
    #[arg(long, requires = "from")]
    pub allow_inconclusive: bool,
}

/// Dispatches to the rollout steer or to environment promotion.
pub fn run(args: PromoteArgs) -> ExitCode {
    super::output::machine_output(args.json);
    match (args.deployment, args.from, args.to) {
        (Some(deployment), None, None) => {
            let steer = SteerArgs {
                deployment,
                json: args.json,
            };
            match args.version {
                // A/B tests: keep this version (the server accepts only the test's two).
                Some(version) => rollout::promote_version(version, steer),
                None => rollout::steer(Steer::Promote, steer),
            }
        }
        (None, Some(from), Some(to)) => client::run(promote_to_an_end(EnvPromotion {
            project: args.project,
            from,
            to,
            yes: args.yes,
            json: args.json,
            detach: args.detach,
            message: args.message,
            allow_inconclusive: args.allow_inconclusive,
        })),
        _ => {
            errors::print(
                CliCode::Usage,
                "name a deployment (`clodo promote DEPLOYMENT`) or two environments \
                 (`clodo promote --from staging --to production`)",
            );
            ExitCode::from(2)
        }
    }
}
