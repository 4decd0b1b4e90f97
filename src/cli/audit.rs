//! `clodo audit export`: the team's audit log as JSON lines or CSV, all pages, to stdout or
//! a file.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::client::{self, enc, Failure};
use super::errors::CliCode;
use crate::api::contract::audit::ExportFormat;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: AuditAction,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Write every audit entry (oldest first).
    Export {
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Only this action, e.g. `lock.force_unlock`.
        #[arg(long)]
        action: Option<String>,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Print a JSON summary (rows, file) on stdout; needs --output.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: AuditArgs) -> ExitCode {
    client::run(async move {
        let AuditAction::Export {
            format,
            action,
            output,
            json,
        } = args.action;
        if json && output.is_none() {
            return Err(Failure::Setup(
                "--json needs --output (stdout carries the export otherwise)".into(),
            ));
        }
        let api = client::client()?;
        let fmt = match format {
            Format::Jsonl => ExportFormat::Jsonl,
            Format::Csv => ExportFormat::Csv,
        }
        .as_str();
        let mut out = String::new();
        let mut rows = 0usize;
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/audit?format={fmt}");
            if let Some(a) = &action {
                path.push_str(&format!("&action={}", enc(a)));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", enc(c)));
            }
            let (text, headers) = api.raw(reqwest::Method::GET, &path, None).await?;
            // Every CSV page repeats the header; keep only the first.
            let body = if matches!(format, Format::Csv) && !out.is_empty() {
                text.split_once('\n')
                    .map_or("", |(_, rest)| rest)
                    .to_owned()
            } else {
                text
            };
            rows += body.lines().count();
            out.push_str(&body);
            match headers
                .get("clodo-next-cursor")
                .and_then(|v| v.to_str().ok())
            {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        if matches!(format, Format::Csv) {
            rows = rows.saturating_sub(1);
        }
        match &output {
            Some(path) => std::fs::write(path, &out).map_err(|e| {
                Failure::Local(CliCode::LocalIo, format!("{}: {e}", path.display()))
            })?,
            None => std::io::stdout()
                .write_all(out.as_bytes())
                .map_err(|e| Failure::Local(CliCode::LocalIo, e.to_string()))?,
        }
        if json {
            client::print_json(&json!({ "rows": rows, "format": fmt, "output": output }));
        } else if let Some(path) = &output {
            eprintln!("wrote {rows} entries to {}", path.display());
        }
        Ok(())
    })
}
