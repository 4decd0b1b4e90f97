//! `clodo rollback --server`: asks the control plane to roll the environment back by itself
//! (`POST …/environments/{env}/rollback`): it chooses the last good deployment from its own
//! records and moves the Workers with the team's stored credential, so no Cloudflare token or
//! wrangler is needed here.

use reqwest::Method;

use super::client::{self, enc, Failure};
use super::errors::CliCode;
use super::rollback::RollbackArgs;
use crate::api::contract::deployments::DeploymentStatus;
use crate::api::contract::env_rollback::{
    EnvironmentRollback, RollbackRequest, ServiceRollbackOutcome,
};

pub(super) async fn server_rollback(args: &RollbackArgs) -> Result<(), Failure> {
    if !args.service.is_empty() || args.to.is_some() || args.emergency {
        return Err(Failure::Setup(
            "--server rolls every recorded service back to one deployment: --service, --to and --emergency do not apply (use --to-deployment ID)".into(),
        ));
    }
    let text = std::fs::read_to_string(&args.project)
        .map_err(|e| Failure::Setup(format!("{}: {e}", args.project.display())))?;
    let project = crate::config::parse_project(&text, &args.project.display().to_string())
        .map_err(|e| Failure::Setup(format!("{}: {e}", args.project.display())))?
        .project;
    let api = client::client()?;
    let path = format!(
        "/api/v1/projects/{}/environments/{}/rollback",
        enc(&project),
        enc(&args.env)
    );
    let request = RollbackRequest {
        to_deployment: args.to_deployment.clone(),
        reason: args.reason.clone(),
    };
    let done: EnvironmentRollback = api.send(Method::POST, &path, Some(&request)).await?;
    if args.json {
        client::print_typed(&done);
    }
    for s in &done.services {
        let what = match s.outcome {
            ServiceRollbackOutcome::Moved => "serves 100%".to_owned(),
            ServiceRollbackOutcome::AlreadyLive => "already served 100%".to_owned(),
            ServiceRollbackOutcome::Failed => {
                format!("FAILED: {}", s.error.as_deref().unwrap_or_default())
            }
        };
        eprintln!("  {} ({}): {} {what}", s.service, s.script, s.to_version);
    }
    eprintln!("{}", done.message);
    if done.deployment.status == DeploymentStatus::Succeeded {
        Ok(())
    } else {
        Err(Failure::outcome(
            CliCode::DeploymentFailed,
            format!("rollback {} {}", done.deployment.id, done.deployment.status),
        ))
    }
}
