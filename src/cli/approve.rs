//! `clodo approve <deployment>`: approve someone else's deployment, with a comment.

use std::process::ExitCode;

use super::client::{self, enc};
use crate::api::contract::deployments::{ApprovalRequest, Approved};
use clap::Args;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The deployment id (`dep_…`).
    pub deployment: String,
    /// Why you approve; stored with the approval.
    #[arg(long, short)]
    pub comment: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ApproveArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        let request = ApprovalRequest {
            comment: args.comment,
        };
        let out: Approved = api
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/deployments/{}/approvals", enc(&args.deployment)),
                Some(&request),
            )
            .await?;
        if args.json {
            client::print_typed(&out);
        } else {
            println!(
                "approved {} ({}/{} approvals); status {}",
                args.deployment, out.approvals, out.required, out.deployment.status
            );
        }
        Ok(())
    })
}
