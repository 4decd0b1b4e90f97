//! `clodo assess`: gap analysis of a wrangler config (or a clodo.toml project) against the
//! account, before anything is deployed. Exit 0 ready, 1 not ready (blocking findings, or checks
//! that could not be made without `--allow-inconclusive`), 2 not assessed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::assess_pages_d1::{assess_pages_d1, PagesD1};
use super::errors::{self, CliCode};
use super::rollback::Cloudflare;
use crate::assess::{self, Context, Finding, Report, ServiceInput};
use crate::cloudflare::{Client, ReqwestTransport, RetryPolicy, DEFAULT_BASE_URL};
use crate::config::{self, ConfigFormat, ResolvedWorker};

/// Output formats of `clodo assess`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
    /// Findings grouped by severity as Markdown tables (a GitHub job summary, a merge request).
    Markdown,
    /// GitLab Code Quality JSON (`artifacts: reports: codequality`).
    Codequality,
}

/// Which configs to load and for which environment: what `assess`, `plan`, `drift` and
/// `export` share.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// A wrangler config (wrangler.toml, wrangler.jsonc or wrangler.json). Default: found in
    /// the current directory the way wrangler finds it.
    #[arg(long, short = 'c', conflicts_with = "project")]
    pub config: Option<PathBuf>,
    /// A clodo.toml listing the project's services. Default: ./clodo.toml when it exists.
    #[arg(long, short = 'p')]
    pub project: Option<PathBuf>,
    /// The environment (`[env.NAME]`).
    #[arg(long, short = 'e')]
    pub env: Option<String>,
    /// Overall time limit for the API calls, in seconds.
    #[arg(long, default_value_t = 60)]
    pub deadline_secs: u64,
}

impl Selection {
    /// The assessment that loads these configs and reads the account (or not, `offline`), for
    /// commands that need its facts rather than its verdict.
    pub(super) fn assess_args(&self, offline: bool) -> AssessArgs {
        AssessArgs {
            select: self.clone(),
            format: Format::Json,
            json: false,
            offline,
            allow_inconclusive: true,
            also: Vec::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct AssessArgs {
    #[command(flatten)]
    pub select: Selection,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Shorthand for `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Only the checks that need no API (no token needed).
    #[arg(long)]
    pub offline: bool,
    /// Report ready even when some checks could not be made (API errors, timeouts, missing read
    /// permissions). Those findings stay in the report, which says readiness was granted
    /// despite them. Errors still block.
    #[arg(long)]
    pub allow_inconclusive: bool,
    /// Also write the same report in another format to a file (repeatable), e.g.
    /// `--also markdown=summary.md --also codequality=gl-code-quality.json`: one assessment,
    /// several renderings, for pipelines.
    #[arg(long = "also", value_name = "FORMAT=FILE", value_parser = parse_also)]
    pub also: Vec<AlsoWrite>,
}

/// One `--also FORMAT=FILE`.
#[derive(Debug, Clone)]
pub struct AlsoWrite {
    pub format: Format,
    pub file: PathBuf,
}

fn parse_also(text: &str) -> Result<AlsoWrite, String> {
    let (format, file) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not FORMAT=FILE (e.g. markdown=summary.md)"))?;
    let format = Format::from_str(format, true).map_err(|_| {
        format!(
            "`{format}` is not a format: use human, json, sarif, github, markdown or codequality"
        )
    })?;
    if file.is_empty() {
        return Err(format!("`{text}` names no file after `=`"));
    }
    Ok(AlsoWrite {
        format,
        file: PathBuf::from(file),
    })
}

/// Why nothing could be assessed (exit code 2).
#[derive(Debug)]
pub(super) struct Unassessable(pub String);

/// A loaded service: its resolved config and what the project adds.
pub(super) struct Loaded {
    /// The `clodo.toml` service name; `None` for a single `--config`.
    pub service: Option<String>,
    /// The wrangler config file it came from.
    pub file: PathBuf,
    pub worker: ResolvedWorker,
    pub extra_secrets: Vec<String>,
    pub main_exists: Option<bool>,
}

/// An assessment with what a deploy needs next: the loaded services, the project and the
/// account's inventory.
pub(super) struct Assessed {
    pub report: Report,
    /// The token check could not even connect: nothing remote was checked.
    pub unreachable: bool,
    pub loaded: Vec<Loaded>,
    pub project: Option<config::ProjectConfig>,
    pub inventory: Option<assess::Inventory>,
    /// Pages services and D1 databases with migrations, as assessed.
    pub pages_d1: PagesD1,
}

impl AssessArgs {
    /// The assessment `deploy` and `rollback` run of a clodo.toml project before acting.
    pub(super) fn of_project(
        project: PathBuf,
        env: Option<String>,
        offline: bool,
        deadline_secs: u64,
        allow_inconclusive: bool,
    ) -> Self {
        Self {
            select: Selection {
                config: None,
                project: Some(project),
                env,
                deadline_secs,
            },
            format: Format::Human,
            json: false,
            offline,
            allow_inconclusive,
            also: Vec::new(),
        }
    }
}

pub fn run(args: AssessArgs) -> ExitCode {
    let format = if args.json { Format::Json } else { args.format };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errors::print(
                CliCode::LocalIo,
                &format!("clodo assess: cannot start the runtime: {e}"),
            );
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(assess_command(&args)) {
        Ok(Assessed {
            report,
            unreachable,
            ..
        }) => {
            print!(
                "{}",
                render(&report, format, std::io::stdout().is_terminal())
            );
            for also in &args.also {
                if let Err(e) = std::fs::write(&also.file, render(&report, also.format, false)) {
                    errors::print(
                        CliCode::LocalIo,
                        &format!(
                            "clodo assess: cannot write the {:?} report to {}: {e}",
                            also.format,
                            also.file.display()
                        ),
                    );
                    return ExitCode::from(2);
                }
            }
            if report.inconclusive_allowed {
                eprintln!(
                    "clodo assess: readiness granted by --allow-inconclusive although {} check(s) could not be made; see the unverified findings",
                    report.unverified
                );
            }
            if unreachable {
                errors::print(
                    CliCode::CloudflareUnreachable,
                    "clodo assess: the Cloudflare API could not be reached; nothing remote was checked",
                );
                ExitCode::from(2)
            } else if report.ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(Unassessable(message)) => {
            errors::print(CliCode::NotAssessed, &format!("clodo assess: {message}"));
            ExitCode::from(2)
        }
    }
}

/// The report in `format`; colour only for the human format on a terminal without `NO_COLOR`.
fn render(report: &Report, format: Format, terminal: bool) -> String {
    match format {
        Format::Human => {
            let color = !super::output::no_color() && terminal;
            report.to_human(color)
        }
        Format::Json => format!("{}\n", pretty(&report.to_json())),
        Format::Sarif => format!("{}\n", pretty(&report.to_sarif())),
        Format::Github => report.to_github(),
        Format::Markdown => report.to_markdown(),
        Format::Codequality => format!("{}\n", pretty(&report.to_codequality())),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Loads and assesses what `args` name; `clodo deploy` runs the same before it touches anything.
pub(super) async fn assess_command(args: &AssessArgs) -> Result<Assessed, Unassessable> {
    let cwd =
        std::env::current_dir().map_err(|e| Unassessable(format!("no current directory: {e}")))?;
    let (loaded, early, project) = load_services(args, &cwd)?;
    let ctx = Context {
        today: chrono::Utc::now().date_naive(),
        env: args.select.env.clone(),
        project_workers: assess::project_workers(loaded.iter().map(|l| &l.worker)),
    };
    let inputs: Vec<ServiceInput<'_>> = loaded
        .iter()
        .map(|l| ServiceInput {
            worker: &l.worker,
            extra_required_secrets: l.extra_secrets.clone(),
            main_exists: l.main_exists,
        })
        .collect();

    let project_file = args
        .select
        .project
        .clone()
        .unwrap_or_else(|| cwd.join("clodo.toml"));
    let has_pages = project
        .as_ref()
        .is_some_and(|p| p.services.iter().any(|s| !s.is_worker()));
    if args.offline || (inputs.is_empty() && !has_pages) {
        let report = assess::assess::<ReqwestTransport>(&inputs, &ctx, None).await;
        let pages_d1 = match &project {
            Some(p) => {
                assess_pages_d1(p, &project_file, &loaded, args.select.env.as_deref(), None).await
            }
            None => PagesD1::default(),
        };
        drop(inputs);
        let parts = (loaded, project, None, pages_d1);
        return Ok(assessed(
            report,
            early,
            false,
            parts,
            args.allow_inconclusive,
        ));
    }
    let token = env_value("CLOUDFLARE_API_TOKEN").ok_or_else(|| {
        Unassessable("CLOUDFLARE_API_TOKEN is not set: export the API token wrangler uses, or pass --offline for the local checks only".into())
    })?;
    let account_id = env_value("CLOUDFLARE_ACCOUNT_ID")
        .or_else(|| inputs.iter().find_map(|s| s.worker.account_id.clone()))
        .ok_or_else(|| {
            Unassessable("no account: set CLOUDFLARE_ACCOUNT_ID or account_id in the config".into())
        })?;
    let base = env_value("CLOUDFLARE_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let policy = RetryPolicy {
        deadline_ms: args.select.deadline_secs.saturating_mul(1000),
        ..RetryPolicy::default()
    };
    let client = Client::new(ReqwestTransport::new(), &base, &token, policy);
    let cf = Cloudflare::new(
        Client::new(ReqwestTransport::new(), &base, &token, policy),
        &account_id,
    );
    let hint = super::token_hint::recall(&base, &token);
    let (report, inventory) =
        assess::assess_with_inventory(&inputs, &ctx, Some((&client, account_id.as_str())), hint)
            .await;
    if let Some(inv) = inventory.as_ref().filter(|inv| !inv.api_unreachable()) {
        super::token_hint::remember(&base, &token, inv.token_hint());
    }
    let unreachable = inventory
        .as_ref()
        .is_some_and(assess::Inventory::api_unreachable);
    let pages_d1 = match (&project, unreachable) {
        (Some(p), false) => {
            assess_pages_d1(
                p,
                &project_file,
                &loaded,
                args.select.env.as_deref(),
                Some(&cf),
            )
            .await
        }
        _ => PagesD1::default(),
    };
    drop(inputs);
    let parts = (loaded, project, inventory, pages_d1);
    Ok(assessed(
        report,
        early,
        unreachable,
        parts,
        args.allow_inconclusive,
    ))
}

/// What an assessment read besides its report: the configs, the project, the account's
/// inventory (none offline) and the Pages/D1 facts.
type AssessedParts = (
    Vec<Loaded>,
    Option<config::ProjectConfig>,
    Option<assess::Inventory>,
    PagesD1,
);

/// The account report completed with the findings made before it (unusable configs, Pages and
/// D1), the same way whether the account was read or not.
fn assessed(
    mut report: Report,
    mut early: Vec<Finding>,
    unreachable: bool,
    (loaded, project, inventory, pages_d1): AssessedParts,
    allow_inconclusive: bool,
) -> Assessed {
    early.extend(pages_d1.findings.iter().cloned());
    report.merge(early);
    if allow_inconclusive {
        report.allow_inconclusive();
    }
    Assessed {
        report,
        unreachable,
        loaded,
        project,
        inventory,
        pages_d1,
    }
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Loads the config or the project's configs. Findings about configs that cannot be used
/// (syntax, unknown env) come back as `early` findings; a missing file is `Unassessable`.
/// What `load_services` found: the usable services, findings about unusable configs, and the
/// project when there is one.
type LoadedServices = (Vec<Loaded>, Vec<Finding>, Option<config::ProjectConfig>);

fn load_services(args: &AssessArgs, cwd: &Path) -> Result<LoadedServices, Unassessable> {
    let project = match (&args.select.project, &args.select.config) {
        (Some(p), _) => Some(p.clone()),
        (None, None) if cwd.join("clodo.toml").is_file() => Some(cwd.join("clodo.toml")),
        _ => None,
    };
    let mut loaded = Vec::new();
    let mut early = Vec::new();
    if let Some(project_path) = project {
        let text = read(&project_path)?;
        let project = match config::parse_project(&text, &project_path.display().to_string()) {
            Ok(p) => p,
            Err(e) => return Ok((loaded, vec![assess::config_error_finding(&e)], None)),
        };
        let base = project_path.parent().unwrap_or(Path::new("."));
        // Pages services have no wrangler config; `assess_pages_d1` checks them.
        for service in project.services.iter().filter(|s| s.is_worker()) {
            let path = base.join(&service.config);
            let file = if path.is_dir() {
                config::find_config(&path).ok_or_else(|| {
                    Unassessable(format!(
                        "service `{}` in {}: no wrangler.json, wrangler.jsonc or wrangler.toml in {}",
                        service.name,
                        project_path.display(),
                        path.display()
                    ))
                })?
            } else {
                path
            };
            // Project-wide and per-environment required secrets count for every service.
            load_one(
                Some(&service.name),
                &file,
                args.select.env.as_deref(),
                project.required_secrets_for(&service.name, args.select.env.as_deref()),
                &mut loaded,
                &mut early,
            )?;
        }
        return Ok((loaded, early, Some(project)));
    }
    let file = match &args.select.config {
        Some(path) => path.clone(),
        None => config::find_config(cwd).ok_or_else(|| {
            Unassessable(format!(
                "no wrangler.json, wrangler.jsonc or wrangler.toml in {} (pass --config PATH or --project clodo.toml)",
                cwd.display()
            ))
        })?,
    };
    load_one(
        None,
        &file,
        args.select.env.as_deref(),
        Vec::new(),
        &mut loaded,
        &mut early,
    )?;
    Ok((loaded, early, None))
}

fn read(path: &Path) -> Result<String, Unassessable> {
    std::fs::read_to_string(path)
        .map_err(|e| Unassessable(format!("cannot read {}: {e}", path.display())))
}

fn format_of(path: &Path) -> ConfigFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonc") => ConfigFormat::Jsonc,
        Some("json") => ConfigFormat::Json,
        _ => ConfigFormat::Toml,
    }
}

fn load_one(
    service: Option<&str>,
    file: &Path,
    env: Option<&str>,
    extra_secrets: Vec<String>,
    loaded: &mut Vec<Loaded>,
    early: &mut Vec<Finding>,
) -> Result<(), Unassessable> {
    let text = read(file)?;
    let display = file.display().to_string();
    let worker = match assess::load_config(&text, format_of(file), &display, env) {
        Ok(w) => w,
        Err(finding) => {
            early.push(*finding);
            return Ok(());
        }
    };
    let main_exists = worker
        .main
        .as_deref()
        .map(|main| file.parent().unwrap_or(Path::new(".")).join(main).exists());
    loaded.push(Loaded {
        service: service.map(str::to_owned),
        file: file.to_path_buf(),
        worker,
        extra_secrets,
        main_exists,
    });
    Ok(())
}
