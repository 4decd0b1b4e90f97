//! `clodo lock status|acquire|release|force-unlock`: an environment's deploy lock.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{self, enc, Failure};

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub action: LockAction,
}

#[derive(Debug, Args)]
pub struct Target {
    /// Project slug.
    #[arg(long)]
    pub project: String,
    /// Environment name.
    #[arg(long = "env")]
    pub environment: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LockAction {
    /// Who holds the lock, until when, and who waits.
    Status(Target),
    /// Take the lock, or join its queue.
    Acquire {
        #[command(flatten)]
        target: Target,
        /// Your holder id (e.g. the deployment or CI job id).
        #[arg(long)]
        holder: String,
        /// Lease length in seconds (5 to 3600).
        #[arg(long, default_value_t = 60)]
        lease: i64,
        #[arg(long, default_value = "deploy")]
        purpose: String,
    },
    /// Release the lock you hold.
    Release {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        holder: String,
    },
    /// Renew the lease you hold (long jobs call it before the lease ends).
    Heartbeat {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        holder: String,
    },
    /// Leave the queue you are waiting in.
    Cancel {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        holder: String,
    },
    /// Break the lock (admin only, audited).
    ForceUnlock {
        #[command(flatten)]
        target: Target,
        /// Why; recorded in the audit log.
        #[arg(long)]
        reason: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn base(t: &Target) -> String {
    format!(
        "/api/v1/projects/{}/environments/{}/lock",
        enc(&t.project),
        enc(&t.environment)
    )
}

fn describe(info: &Value) -> String {
    let mut out = match info["holder"].as_object() {
        Some(h) => format!(
            "held by {} ({}, {}) since {}, lease until {}",
            h["holder_id"].as_str().unwrap_or("?"),
            h["actor"].as_str().unwrap_or("?"),
            h["purpose"].as_str().unwrap_or("?"),
            client::time(h["acquired_at_ms"].as_i64()),
            client::time(h["lease_until_ms"].as_i64()),
        ),
        None => "free".to_owned(),
    };
    for (i, w) in info["queue"].as_array().into_iter().flatten().enumerate() {
        out.push_str(&format!(
            "\n  {}. {} ({})",
            i + 1,
            w["holder_id"].as_str().unwrap_or("?"),
            w["actor"].as_str().unwrap_or("?")
        ));
    }
    out
}

pub fn run(args: LockArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        let post = reqwest::Method::POST;
        match args.action {
            LockAction::Status(t) => {
                let info = api.call(reqwest::Method::GET, &base(&t), None).await?;
                if t.json {
                    client::print_json(&info);
                } else {
                    println!("{}", describe(&info));
                }
            }
            LockAction::Acquire {
                target,
                holder,
                lease,
                purpose,
            } => {
                let body = json!({ "holder_id": holder, "lease_ms": lease.saturating_mul(1000), "purpose": purpose });
                let out = api
                    .call(post, &format!("{}/acquire", base(&target)), Some(&body))
                    .await?;
                if target.json {
                    client::print_json(&out);
                } else if out["outcome"] == "granted" {
                    println!(
                        "granted to {holder}, lease until {}",
                        client::time(out["lease"]["lease_until_ms"].as_i64())
                    );
                } else {
                    println!(
                        "queued at position {} behind {}",
                        out["position"],
                        out["holder"]["holder_id"].as_str().unwrap_or("?")
                    );
                }
            }
            LockAction::Release { target, holder } => {
                let out = api
                    .call(
                        post,
                        &format!("{}/release", base(&target)),
                        Some(&json!({ "holder_id": holder })),
                    )
                    .await?;
                if target.json {
                    client::print_json(&out);
                } else {
                    match out["next_holder"]["holder_id"].as_str() {
                        Some(next) => println!("released; {next} holds it now"),
                        None => println!("released; the lock is free"),
                    }
                }
            }
            LockAction::Heartbeat { target, holder } => {
                let out = api
                    .call(
                        post,
                        &format!("{}/heartbeat", base(&target)),
                        Some(&json!({ "holder_id": holder })),
                    )
                    .await?;
                if target.json {
                    client::print_json(&out);
                } else {
                    let until = out["lease_until_ms"]
                        .as_i64()
                        .or_else(|| out["lease"]["lease_until_ms"].as_i64());
                    println!("renewed; lease until {}", client::time(until));
                }
            }
            LockAction::Cancel { target, holder } => {
                let out = api
                    .call(
                        post,
                        &format!("{}/cancel", base(&target)),
                        Some(&json!({ "holder_id": holder })),
                    )
                    .await?;
                if target.json {
                    client::print_json(&out);
                } else {
                    println!("{holder} left the queue");
                }
            }
            LockAction::ForceUnlock {
                target,
                reason,
                yes,
            } => {
                if !yes {
                    return Err(Failure::Setup(
                        "force-unlock breaks someone's lease; pass --yes to confirm".into(),
                    ));
                }
                let out = api
                    .call(
                        post,
                        &format!("{}/force-unlock", base(&target)),
                        Some(&json!({ "reason": reason })),
                    )
                    .await?;
                if target.json {
                    client::print_json(&out);
                } else {
                    let broken = out["broken_lease"]["holder_id"]
                        .as_str()
                        .unwrap_or("nobody");
                    println!(
                        "broke the lease of {broken}; now {}",
                        describe(&out["lock"])
                    );
                }
            }
        }
        Ok(())
    })
}
