//! The native `clodo` CLI: argument parsing and dispatch to one module per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Clodo: know what will fail before you deploy to Cloudflare, then deploy safely.
#[derive(Debug, Parser)]
#[command(name = "clodo", version = crate::VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Every `clodo` subcommand; each lives in its own module under `src/cli/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local Cloudflare API (v4 subset) that real wrangler can deploy to.
    Sandbox(crate::sandbox::SandboxArgs),
}

/// Parses the command line, runs the subcommand and maps its outcome to a process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sandbox(args) => crate::sandbox::run_cli(args),
    }
}
