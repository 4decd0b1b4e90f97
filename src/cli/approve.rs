//! `clodo approve <deployment>`: approve someone else's deployment, with a comment.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::client::{self, enc};

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
        let out = api
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/deployments/{}/approvals", enc(&args.deployment)),
                Some(&json!({ "comment": args.comment })),
            )
            .await?;
        if args.json {
            client::print_json(&out);
        } else {
            println!(
                "approved {} ({}/{} approvals); status {}",
                args.deployment,
                out["approvals"],
                out["required"],
                out["deployment"]["status"].as_str().unwrap_or("?")
            );
        }
        Ok(())
    })
}
