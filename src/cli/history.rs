//! `clodo history`: the team's deployments, newest first, following the API's cursor.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::client::{self, enc};
use crate::api::contract::deployments::{Deployment, DeploymentPage};
use crate::api::contract::previews::PreviewList;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[arg(long)]
    pub project: Option<String>,
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// How many deployments to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
    /// The environment's preview deployments (`clodo deploy --preview`) instead, newest first
    /// (needs --project and --env).
    #[arg(long, requires_all = ["project", "environment"])]
    pub previews: bool,
}

/// `clodo history --previews`: the recorded previews of one environment.
async fn previews(api: &client::Client, args: &HistoryArgs) -> Result<(), client::Failure> {
    let (Some(project), Some(env)) = (&args.project, &args.environment) else {
        return Err(client::Failure::Setup(
            "--previews needs --project and --env".into(),
        ));
    };
    let list: PreviewList = api
        .get(&format!(
            "/api/v1/projects/{}/environments/{}/previews",
            enc(project),
            enc(env)
        ))
        .await?;
    let items: Vec<_> = list.items.into_iter().take(args.limit).collect();
    if args.json {
        client::print_json(&json!({ "items": items }));
        return Ok(());
    }
    if items.is_empty() {
        println!("no previews");
    }
    for p in &items {
        println!(
            "{}  preview  {}/{}  {} ({}) on {}  {}  by {}",
            client::time(Some(p.created_at)),
            p.project,
            p.environment,
            p.service,
            p.pages_project,
            p.branch,
            p.url,
            p.created_by
        );
    }
    Ok(())
}

pub fn run(args: HistoryArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        if args.previews {
            return previews(&api, &args).await;
        }
        let mut items: Vec<Deployment> = Vec::new();
        let mut cursor: Option<String> = None;
        while items.len() < args.limit {
            let mut query = format!("limit={}", (args.limit - items.len()).min(200));
            for (k, v) in [
                ("project", &args.project),
                ("environment", &args.environment),
                ("cursor", &cursor),
            ] {
                if let Some(v) = v {
                    query.push_str(&format!("&{k}={}", enc(v)));
                }
            }
            let page: DeploymentPage = api.get(&format!("/api/v1/deployments?{query}")).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        if args.json {
            client::print_json(&json!({ "items": items }));
            return Ok(());
        }
        if items.is_empty() {
            println!("no deployments");
        }
        for d in &items {
            println!(
                "{}  {:<18} {}/{}  {}  by {}{}{}",
                client::time(Some(d.created_at)),
                d.status.as_str(),
                d.project,
                d.environment,
                d.id,
                d.requested_by,
                d.override_reason
                    .as_ref()
                    .map(|r| format!("  [override: {r}]"))
                    .unwrap_or_default(),
                d.promoted_from
                    .as_ref()
                    .map(|from| format!("  [promoted from {from}]"))
                    .unwrap_or_default(),
            );
        }
        Ok(())
    })
}
