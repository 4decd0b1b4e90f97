//! `clodo lock status|acquire|release|force-unlock`: an environment's deploy lock.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::client::{self, enc, Client, Failure};
use super::errors::CliCode;
use crate::api::contract::locks::{
    AcquireOutcome, AcquireRequest, ForceUnlockRequest, ForceUnlocked, HolderRequest, Lease,
    LockInfo, Released, Waiter,
};

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

fn describe(info: &LockInfo) -> String {
    let mut out = match &info.holder {
        Some(h) => format!(
            "held by {} ({}, {}) since {}, lease until {}",
            h.claim.holder_id,
            h.claim.actor,
            h.claim.purpose,
            client::time(Some(h.acquired_at_ms)),
            client::time(Some(h.lease_until_ms)),
        ),
        None => "free".to_owned(),
    };
    for (i, w) in info.queue.iter().enumerate() {
        out.push_str(&format!(
            "\n  {}. {} ({})",
            i + 1,
            w.claim.holder_id,
            w.claim.actor
        ));
    }
    out
}

/// Prints a typed answer as pretty JSON (for `--json`).
fn print_json<T: Serialize>(answer: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(answer).unwrap_or_default()
    );
}

/// `POST {base}/{action}` with a typed body and answer.
async fn post<B: Serialize, T: serde::de::DeserializeOwned>(
    api: &Client,
    target: &Target,
    action: &str,
    body: &B,
) -> Result<T, Failure> {
    Ok(super::deployment::lock_call(api, &base(target), action, body).await?)
}

fn holder(holder: &str) -> HolderRequest {
    HolderRequest {
        holder_id: holder.to_owned(),
    }
}

pub fn run(args: LockArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        match args.action {
            LockAction::Status(t) => {
                let info: LockInfo = api.get(&base(&t)).await?;
                if t.json {
                    print_json(&info);
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
                let body = AcquireRequest {
                    holder_id: holder.clone(),
                    purpose: Some(purpose),
                    lease_ms: Some(lease.saturating_mul(1000)),
                };
                let out: AcquireOutcome = post(&api, &target, "acquire", &body).await?;
                if target.json {
                    print_json(&out);
                    return Ok(());
                }
                match out {
                    AcquireOutcome::Granted { lease } => println!(
                        "granted to {holder}, lease until {}",
                        client::time(Some(lease.lease_until_ms))
                    ),
                    AcquireOutcome::Queued { position, holder } => println!(
                        "queued at position {position} behind {}",
                        holder.claim.holder_id
                    ),
                }
            }
            LockAction::Release { target, holder: id } => {
                let out: Released = post(&api, &target, "release", &holder(&id)).await?;
                if target.json {
                    print_json(&out);
                } else {
                    match out.next_holder {
                        Some(next) => println!("released; {} holds it now", next.claim.holder_id),
                        None => println!("released; the lock is free"),
                    }
                }
            }
            LockAction::Heartbeat { target, holder: id } => {
                let out: Lease = post(&api, &target, "heartbeat", &holder(&id)).await?;
                if target.json {
                    print_json(&out);
                } else {
                    println!(
                        "renewed; lease until {}",
                        client::time(Some(out.lease_until_ms))
                    );
                }
            }
            LockAction::Cancel { target, holder: id } => {
                let out: Waiter = post(&api, &target, "cancel", &holder(&id)).await?;
                if target.json {
                    print_json(&out);
                } else {
                    println!("{id} left the queue");
                }
            }
            LockAction::ForceUnlock {
                target,
                reason,
                yes,
            } => {
                if !yes {
                    return Err(Failure::Local(
                        CliCode::NotConfirmed,
                        "force-unlock breaks someone's lease; pass --yes to confirm".into(),
                    ));
                }
                let body = ForceUnlockRequest { reason };
                let out: ForceUnlocked = post(&api, &target, "force-unlock", &body).await?;
                if target.json {
                    print_json(&out);
                } else {
                    let broken = out
                        .broken_lease
                        .as_ref()
                        .map_or("nobody", |lease| lease.claim.holder_id.as_str());
                    println!("broke the lease of {broken}; now {}", describe(&out.lock));
                }
            }
        }
        Ok(())
    })
}
