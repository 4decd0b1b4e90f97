//! `clodo login`: checks a token against the API and stores it (with the API URL) in the
//! user's config file, mode 0600.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::client::{self, Client, Failure, Login};
use super::errors::CliCode;
use crate::api::contract::teams::Me;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The control plane's base URL.
    #[arg(long, env = "CLODO_API_URL", default_value = "http://127.0.0.1:8787")]
    pub api_url: String,
    /// The `clodo_…` token; read from stdin when absent (keeps it out of shell history).
    #[arg(long, env = "CLODO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: LoginArgs) -> ExitCode {
    client::run(async move {
        let token = match args.token {
            Some(t) => t,
            None => {
                // A person at a terminal is told what the silent wait is for; a pipe
                // (`echo $TOKEN | clodo login`) gets no prompt.
                if std::io::stdin().is_terminal() {
                    eprint!("Clodo API token (clodo_…): ");
                }
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                    Failure::Local(
                        CliCode::LocalIo,
                        format!("reading the token from stdin: {e}"),
                    )
                })?;
                line.trim().to_owned()
            }
        };
        if !token.starts_with("clodo_") {
            return Err(Failure::Setup("a Clodo token starts with `clodo_`".into()));
        }
        let login = Login {
            api_url: args.api_url.trim_end_matches('/').to_owned(),
            token,
        };
        let me: Me = Client::new(login.clone()).get("/api/v1/me").await?;
        let path = client::save(&login).map_err(|m| Failure::Local(CliCode::LocalIo, m))?;
        if args.json {
            client::print_json(&json!({
                "api_url": login.api_url, "team_id": me.team_id, "role": me.role,
                "actor": me.actor, "config_path": path,
            }));
        } else {
            println!(
                "logged in to {} as {} ({}); saved to {}",
                login.api_url,
                me.actor,
                me.role,
                path.display()
            );
        }
        Ok(())
    })
}
