//! `clodo promote`: finish a rollout now (`clodo promote DEPLOYMENT`), pick an A/B test's
//! winner (`clodo promote DEPLOYMENT --version V`), or ship exactly what an environment
//! verified to the next one (`clodo promote --from staging --to production`).

use std::process::ExitCode;

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
}

/// Dispatches to the rollout steer or to environment promotion.
pub fn run(args: PromoteArgs) -> ExitCode {
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
        (None, Some(_from), Some(_to)) => {
            eprintln!(
                "error: `clodo promote --from --to` (environment promotion) is not built yet"
            );
            ExitCode::from(2)
        }
        _ => {
            eprintln!(
                "error: name a deployment (`clodo promote DEPLOYMENT`) or two environments \
                 (`clodo promote --from staging --to production`)"
            );
            ExitCode::from(2)
        }
    }
}
