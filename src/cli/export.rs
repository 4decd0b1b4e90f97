//! `clodo export terraform|pulumi`: the project's configs as Terraform HCL (Cloudflare provider
//! v5) or a Pulumi TypeScript program, with import ids for what the account already has (read
//! through the assessment's inventory; `--offline` reads nothing and writes no imports).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::assess::Selection;
use super::assess::{assess_command, Assessed, Unassessable};
use super::errors::{self, CliCode};
use crate::assess::inventory::zone_for_host;
use crate::cloudflare::endpoints::ListDnsRecords;
use crate::cloudflare::{Client, ReqwestTransport, RetryPolicy, DEFAULT_BASE_URL};
use crate::iac::{self, Existing, ExportService};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    Terraform,
    Pulumi,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// `terraform` (main.tf) or `pulumi` (index.ts).
    pub target: Target,
    /// The directory to write into (created); default: print to stdout.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub select: Selection,
    /// Read nothing from the account: no import ids, zone ids become inputs.
    #[arg(long)]
    pub offline: bool,
    /// Print `{target, file, offline, resources: [{type, name, import_id}], source}` instead
    /// of the program (the file is still written with `-o`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ExportArgs) -> ExitCode {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        errors::print(CliCode::LocalIo, "clodo export: cannot start the runtime");
        return ExitCode::from(1);
    };
    match rt.block_on(export(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Unassessable(m)) => {
            errors::print(CliCode::NotAssessed, &format!("clodo export: {m}"));
            ExitCode::from(1)
        }
    }
}

/// `to` relative to `from` (both made absolute against the current directory).
fn relative(from: &Path, to: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = |p: &Path| {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<String>>()
    };
    let (f, t) = (abs(from), abs(to));
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_owned(), f.len() - common).collect();
    parts.extend(t[common..].iter().cloned());
    parts.join("/")
}

async fn export(args: &ExportArgs) -> Result<(), Unassessable> {
    let a = args.select.assess_args(args.offline);
    let Assessed {
        loaded,
        inventory,
        unreachable,
        ..
    } = assess_command(&a).await?;
    if unreachable {
        return Err(Unassessable(
            "the Cloudflare API could not be reached; pass --offline to export without import ids"
                .into(),
        ));
    }
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    let services: Vec<ExportService<'_>> = loaded
        .iter()
        .filter(|l| !l.worker.is_pages)
        .map(|l| ExportService {
            name: l
                .service
                .clone()
                .or_else(|| l.worker.name.clone())
                .unwrap_or_default(),
            config_dir: relative(&out_dir, l.file.parent().unwrap_or(Path::new("."))),
            worker: &l.worker,
        })
        .collect();
    let account = std::env::var("CLOUDFLARE_ACCOUNT_ID")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| loaded.iter().find_map(|l| l.worker.account_id.clone()))
        .unwrap_or_else(|| "YOUR_ACCOUNT_ID".to_owned());
    let existing = match &inventory {
        Some(inv) => Some(existing_of(inv, &loaded, args.select.deadline_secs).await),
        None => None,
    };
    let (resources, inputs) = iac::resources(&services, &account, existing.as_ref());
    let offline = existing.is_none();
    let (file, text) = match args.target {
        Target::Terraform => ("main.tf", iac::terraform(&resources, &inputs, offline)),
        Target::Pulumi => ("index.ts", iac::pulumi(&resources, &inputs, offline)),
    };
    match &args.out {
        None if args.json => {}
        None => print!("{text}"),
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(dir.join(file), &text))
                .map_err(|e| {
                    Unassessable(format!("cannot write {}: {e}", dir.join(file).display()))
                })?;
            eprintln!(
                "clodo export: wrote {} ({} resources, {} to import){}",
                dir.join(file).display(),
                resources.len(),
                resources.iter().filter(|r| r.import_id.is_some()).count(),
                if offline {
                    "; offline: no import ids"
                } else {
                    ""
                }
            );
        }
    }
    let written = args.out.as_ref().map(|dir| dir.join(file));
    if args.json {
        let listed: Vec<_> = resources
            .iter()
            .map(|r| serde_json::json!({"type": r.kind, "name": r.name, "import_id": r.import_id}))
            .collect();
        let summary = serde_json::json!({
            "target": match args.target {
                Target::Terraform => "terraform",
                Target::Pulumi => "pulumi",
            },
            "file": written.as_ref().map(|p| p.display().to_string()),
            "offline": offline,
            "resources": listed,
            "source": if written.is_some() { serde_json::Value::Null } else { text.clone().into() },
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    }
    Ok(())
}

/// What the account has, from the inventory, plus the DNS records of route hosts (the
/// inventory reads them only for custom domains).
async fn existing_of(
    inv: &crate::assess::Inventory,
    loaded: &[super::assess::Loaded],
    deadline_secs: u64,
) -> Existing {
    let mut e = Existing::default();
    if let Ok(list) = &inv.scripts {
        e.scripts = list.iter().map(|s| s.name.clone()).collect();
    }
    if let Some(Ok(list)) = &inv.d1 {
        e.d1 = list
            .iter()
            .map(|d| (d.name.clone(), d.uuid.clone()))
            .collect();
    }
    if let Some(Ok(list)) = &inv.kv {
        e.kv = list
            .iter()
            .map(|k| (k.id.clone(), k.title.clone()))
            .collect();
    }
    for (j, buckets) in &inv.r2 {
        if let Ok(names) = buckets {
            e.r2.extend(names.iter().map(|n| (j.clone(), n.clone())));
        }
    }
    if let Some(Ok(list)) = &inv.queues {
        e.queues = list
            .iter()
            .map(|q| (q.name.clone(), q.id.clone()))
            .collect();
    }
    if let Some(Ok(zones)) = &inv.zones {
        e.zones = zones.clone();
    }
    for (zone, routes) in &inv.zone_routes {
        if let Ok(list) = routes {
            e.routes
                .extend(list.iter().map(|r| (zone.clone(), r.clone())));
        }
    }
    if let Some(Ok(list)) = &inv.custom_domains {
        e.custom_domains = list.clone();
    }
    let hosts: BTreeSet<String> = loaded
        .iter()
        .flat_map(|l| &l.worker.routes)
        .filter(|r| !r.custom_domain)
        .map(|r| r.pattern.split('/').next().unwrap_or_default().to_owned())
        .filter(|h| !h.contains('*'))
        .collect();
    let token = std::env::var("CLOUDFLARE_API_TOKEN").unwrap_or_default();
    let base = std::env::var("CLOUDFLARE_API_BASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let policy = RetryPolicy {
        deadline_ms: deadline_secs.saturating_mul(1000),
        ..RetryPolicy::default()
    };
    let client = Client::new(ReqwestTransport::new(), &base, &token, policy);
    for host in hosts {
        let Some(zone) = zone_for_host(&e.zones, &host).map(|z| z.id.clone()) else {
            continue;
        };
        let endpoint = ListDnsRecords {
            zone: zone.clone(),
            name: host.clone(),
        };
        if let Ok(records) = client.list(&endpoint).await {
            e.dns.extend(records.into_iter().map(|r| (zone.clone(), r)));
        }
    }
    e
}
