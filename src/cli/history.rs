//! `clodo history`: the team's deployments, newest first, following the API's cursor.

use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use super::client::{self, enc};

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
}

pub fn run(args: HistoryArgs) -> ExitCode {
    client::run(async move {
        let api = client::client()?;
        let mut items: Vec<Value> = Vec::new();
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
            let page = api
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/deployments?{query}"),
                    None,
                )
                .await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
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
                "{}  {:<18} {}/{}  {}  by {}{}",
                client::time(d["created_at"].as_i64()),
                d["status"].as_str().unwrap_or("?"),
                d["project"].as_str().unwrap_or("?"),
                d["environment"].as_str().unwrap_or("?"),
                d["id"].as_str().unwrap_or("?"),
                d["requested_by"].as_str().unwrap_or("?"),
                d["override_reason"]
                    .as_str()
                    .map(|r| format!("  [override: {r}]"))
                    .unwrap_or_default(),
            );
        }
        Ok(())
    })
}
