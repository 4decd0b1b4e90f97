//! `clodo diff A B`: what changed between two deployments: versions, compatibility dates and
//! bindings per service (from the snapshots `clodo deploy` records), and the git range.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::client::{self, enc, Failure};
use crate::api::contract::deployments::DeploymentDetail;
use crate::deploy::{diff, ServiceSnapshot};

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older deployment id.
    pub from: String,
    /// The newer deployment id.
    pub to: String,
    /// Print the difference as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DiffArgs) -> ExitCode {
    client::run(diff_command(args))
}

/// The service snapshots recorded on a deployment (`contract::deployments::shipped_services`).
#[must_use]
pub(super) fn shipped_by(record: &DeploymentDetail) -> Vec<ServiceSnapshot> {
    crate::api::contract::deployments::shipped_services(&record.events)
}

async fn diff_command(args: DiffArgs) -> Result<(), Failure> {
    let api = client::client()?;
    let path = |id: &str| format!("/api/v1/deployments/{}", enc(id));
    let a: DeploymentDetail = api.get(&path(&args.from)).await?;
    let b: DeploymentDetail = api.get(&path(&args.to)).await?;
    let (sa, sb) = (shipped_by(&a), shipped_by(&b));
    let differences = diff(&sa, &sb);
    let sha = |r: &DeploymentDetail| r.deployment.git_sha.clone();
    let commits = match (sha(&a), sha(&b)) {
        (Some(x), Some(y)) if x != y => git_log(&x, &y),
        _ => None,
    };
    if args.json {
        client::print_json(&json!({
            "from": { "id": args.from, "git_sha": sha(&a), "shipped": !sa.is_empty() },
            "to": { "id": args.to, "git_sha": sha(&b), "shipped": !sb.is_empty() },
            "differences": differences,
            "commits": commits,
        }));
        return Ok(());
    }
    for (id, s) in [(&args.from, &sa), (&args.to, &sb)] {
        if s.is_empty() {
            println!("note: {id} shipped no versions (it never reached verifying)");
        }
    }
    if differences.is_empty() {
        println!("no differences in versions, compatibility dates or bindings");
    }
    for d in &differences {
        match (&d.before, &d.after) {
            (Some(x), Some(y)) => println!("~ {} {}: {x} -> {y}", d.service, d.what),
            (Some(x), None) => println!("- {} {}: {x}", d.service, d.what),
            (None, Some(y)) => println!("+ {} {}: {y}", d.service, d.what),
            (None, None) => {}
        }
    }
    match (sha(&a), sha(&b)) {
        (Some(x), Some(y)) if x != y => {
            println!("git: {x}..{y}");
            match commits {
                Some(lines) => lines.iter().for_each(|l| println!("  {l}")),
                None => println!("  (not in this repository: run `git log {x}..{y}` where it is)"),
            }
        }
        (Some(x), Some(_)) => println!("git: same commit {x}"),
        _ => println!("git: a deployment has no recorded commit"),
    }
    Ok(())
}

/// `git log --oneline A..B` in the current directory, when both commits are known here.
fn git_log(from: &str, to: &str) -> Option<Vec<String>> {
    let out = std::process::Command::new("git")
        .args(["log", "--oneline", &format!("{from}..{to}")])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}
