//! `clodo init`: writes a `clodo.toml` listing the wrangler configs found under a directory,
//! with a deploy strategy and checks to start from. In a terminal it asks for the project name,
//! the strategy and a health check URL; in CI it takes them as flags (`--yes` asks nothing).
//! Exit 0 written, 1 nothing to write (no configs, or clodo.toml exists without `--force`),
//! 2 bad arguments or I/O failure.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::deploy::StrategyArg;
use clap::Args;
use serde_json::json;

use super::errors::{self, CliCode};
use crate::config::{self, Strategy, CONFIG_FILE_NAMES};

/// Directories never searched: dependencies and wrangler's local state hold configs that are
/// not the project's own.
const SKIPPED_DIRS: &[&str] = &["node_modules", ".wrangler", ".git", "target"];
/// Deep enough for monorepos (`apps/team/service/worker`), shallow enough to stay fast.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project's name. Default: the directory's name.
    #[arg(long)]
    pub project_name: Option<String>,
    /// How new versions take traffic. Default: gradual.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// A URL to check before each traffic step (required for blue-green).
    #[arg(long)]
    pub health_url: Option<String>,
    /// The service whose new version the health check targets. Default: the first found.
    #[arg(long)]
    pub health_service: Option<String>,
    /// Ask nothing: take the flags and the defaults.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Ask even when stdin is not a terminal (answers one per line).
    #[arg(long, conflicts_with = "yes")]
    pub interactive: bool,
    /// Overwrite an existing clodo.toml.
    #[arg(long)]
    pub force: bool,
    /// The project's root directory. Default: the current directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A wrangler config found under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Service name for clodo.toml.
    pub name: String,
    /// Path relative to the root, with `/`.
    pub config: String,
    /// The Worker's top-level `name`, when the config parses and has one.
    pub worker: Option<String>,
    /// Envs the config defines.
    pub envs: Vec<String>,
    /// Workers the config binds with service bindings (any env).
    pub calls: BTreeSet<String>,
    /// Why the config could not be read, if it could not.
    pub error: Option<String>,
}

/// Why init stopped.
enum Stop {
    /// Nothing written for a reason the user can act on (exit 1).
    Refused(String),
    /// Bad arguments or I/O (exit 2).
    Failed(String),
}

pub fn run(args: InitArgs) -> ExitCode {
    match init(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Refused(m)) => {
            errors::print(CliCode::NothingWritten, &format!("clodo init: {m}"));
            ExitCode::from(1)
        }
        Err(Stop::Failed(m)) => {
            errors::print(CliCode::BadInput, &format!("clodo init: {m}"));
            ExitCode::from(2)
        }
    }
}

fn init(args: &InitArgs) -> Result<(), Stop> {
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()
            .map_err(|e| Stop::Failed(format!("cannot read the current directory: {e}")))?,
    };
    if !root.is_dir() {
        return Err(Stop::Failed(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let target = root.join("clodo.toml");
    if target.exists() && !args.force {
        return Err(Stop::Refused(format!(
            "{} already exists; pass --force to overwrite it",
            target.display()
        )));
    }
    let found = discover(&root);
    if found.is_empty() {
        return Err(Stop::Refused(format!(
            "no {} under {} (node_modules and .wrangler are skipped)",
            CONFIG_FILE_NAMES.join(", "),
            root.display()
        )));
    }
    for f in &found {
        if let Some(e) = &f.error {
            eprintln!(
                "clodo init: warning: {} is listed but does not load: {e}",
                f.config
            );
        }
    }

    let ask = !args.yes && (args.interactive || std::io::stdin().is_terminal());
    let mut prompt = Prompt::new(ask);
    let default_name = sanitize(
        &root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default(),
    );
    let default_name = if default_name.is_empty() {
        "my-project".to_owned()
    } else {
        default_name
    };
    if ask {
        let names: Vec<&str> = found.iter().map(|f| f.config.as_str()).collect();
        prompt.say(&format!(
            "Found {} wrangler config(s): {}",
            found.len(),
            names.join(", ")
        ));
    }
    let project = match &args.project_name {
        Some(p) => p.trim().to_owned(),
        None => prompt.ask("Project name", &default_name)?,
    };
    if project.is_empty() {
        return Err(Stop::Failed("the project name is empty".to_owned()));
    }
    let strategy = match args.strategy {
        Some(s) => Strategy::from(s),
        None => loop {
            let answer = prompt.ask("Strategy (immediate, gradual, blue-green)", "gradual")?;
            match Strategy::parse(&answer) {
                Some(s) => break s,
                None if prompt.asking => {
                    prompt.say(&format!("`{answer}` is not a strategy"));
                }
                None => return Err(Stop::Failed(format!("unknown strategy `{answer}`"))),
            }
        },
    };
    let health_url = match &args.health_url {
        Some(u) => Some(u.clone()),
        None if prompt.asking => {
            let question = if strategy == Strategy::BlueGreen {
                "Health check URL (required for blue-green)"
            } else {
                "Health check URL (empty: none)"
            };
            Some(prompt.ask(question, "")?).filter(|u| !u.is_empty())
        }
        None => None,
    };
    if strategy == Strategy::BlueGreen && health_url.is_none() {
        return Err(Stop::Failed(
            "blue-green smoke-tests the new version before the flip: pass --health-url URL"
                .to_owned(),
        ));
    }
    let health = match health_url {
        None if args.health_service.is_some() => {
            return Err(Stop::Failed(
                "--health-service names the target of a health check: pass --health-url too"
                    .to_owned(),
            ))
        }
        None => None,
        Some(url) => {
            let service = match &args.health_service {
                Some(s) if found.iter().any(|f| &f.name == s) => s.clone(),
                Some(s) => {
                    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
                    return Err(Stop::Failed(format!(
                        "--health-service `{s}` is not one of the services found: {}",
                        names.join(", ")
                    )));
                }
                None => found[0].name.clone(),
            };
            Some((service, url))
        }
    };

    let text = render(&project, strategy, &found, health.as_ref());
    // The file must load as written; a value that breaks it (a bad URL) is reported as the
    // parser would, before anything is written.
    let parsed = config::parse_project(&text, "clodo.toml")
        .map_err(|e| Stop::Failed(format!("the generated clodo.toml would not load: {e}")))?;
    std::fs::write(&target, &text)
        .map_err(|e| Stop::Failed(format!("cannot write {}: {e}", target.display())))?;

    if args.json {
        let services: Vec<_> = found
            .iter()
            .map(|f| json!({ "name": f.name, "config": f.config, "worker": f.worker }))
            .collect();
        println!(
            "{}",
            json!({
                "path": target.display().to_string(),
                "project": parsed.project,
                "strategy": strategy.as_str(),
                "services": services,
            })
        );
    } else {
        let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
        println!(
            "wrote {}: project `{project}`, {} service(s) ({}), strategy {strategy}",
            target.display(),
            found.len(),
            names.join(", ")
        );
        let envs: BTreeSet<&str> = found
            .iter()
            .flat_map(|f| f.envs.iter().map(String::as_str))
            .collect();
        // staging first: the place to try a new setup.
        match envs.get("staging").or(envs.iter().next()) {
            Some(env) => println!("next: clodo assess --env {env}"),
            None => println!("next: clodo assess"),
        }
    }
    Ok(())
}

/// Questions on stderr, answers from stdin; when not asking, every question takes its default.
struct Prompt {
    asking: bool,
    lines: Option<std::io::Lines<std::io::StdinLock<'static>>>,
}

impl Prompt {
    fn new(asking: bool) -> Prompt {
        Prompt {
            asking,
            lines: asking.then(|| std::io::stdin().lock().lines()),
        }
    }

    fn say(&self, text: &str) {
        if self.asking {
            eprintln!("{text}");
        }
    }

    fn ask(&mut self, question: &str, default: &str) -> Result<String, Stop> {
        let Some(lines) = self.lines.as_mut() else {
            return Ok(default.to_owned());
        };
        if default.is_empty() {
            eprint!("{question}: ");
        } else {
            eprint!("{question} [{default}]: ");
        }
        let _ = std::io::stderr().flush();
        match lines.next() {
            Some(Ok(line)) if !line.trim().is_empty() => Ok(line.trim().to_owned()),
            Some(Ok(_)) => Ok(default.to_owned()),
            Some(Err(e)) => Err(Stop::Failed(format!("reading the answer: {e}"))),
            // End of input: nobody is there to answer, so the defaults stand.
            None => {
                eprintln!();
                Ok(default.to_owned())
            }
        }
    }
}

/// A name usable as a project or service name: lower case, letters, digits and `-`.
fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Every wrangler config under `root` (one per directory, in wrangler's order of preference),
/// sorted by path, with unique service names.
#[must_use]
pub fn discover(root: &Path) -> Vec<Found> {
    let mut files = Vec::new();
    walk(root, 0, &mut files);
    files.sort();
    let mut out: Vec<Found> = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap_or(&file);
        let config = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let dir_name = rel
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| sanitize(&n.to_string_lossy()));
        let (worker, envs, calls, error) = match config::load_file(&file) {
            Ok(c) => {
                let mut calls = BTreeSet::new();
                let mut envs = c.env_names();
                for env in std::iter::once(None).chain(envs.iter().map(|e| Some(e.as_str()))) {
                    if let Ok(w) = c.resolve(env) {
                        calls.extend(w.services.iter().map(|b| b.service.clone()));
                    }
                }
                let worker = c
                    .raw()
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_owned);
                envs.dedup();
                (worker, envs, calls, None)
            }
            Err(e) => (None, Vec::new(), BTreeSet::new(), Some(e.to_string())),
        };
        // The directory's name reads best (`api`); a config at the root is named after its
        // Worker. Clashes fall back to the whole relative path.
        let mut name = dir_name
            .filter(|n| !n.is_empty())
            .or_else(|| worker.as_deref().map(sanitize))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "worker".to_owned());
        if out.iter().any(|f| f.name == name) {
            name = sanitize(config.rsplit_once('/').map_or(config.as_str(), |(d, _)| d));
        }
        let base = name.clone();
        let mut n = 2;
        while out.iter().any(|f| f.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.push(Found {
            name,
            config,
            worker,
            envs,
            calls,
            error,
        });
    }
    out
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if let Some(file) = config::find_config(dir) {
        out.push(file);
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // `file_type` does not follow symlinks, so a link back up cannot loop.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_dir && !SKIPPED_DIRS.contains(&name.as_ref()) && !name.starts_with('.') {
            walk(&entry.path(), depth + 1, out);
        }
    }
}

/// A TOML basic string: JSON's escapes (`\"`, `\\`, `\n`, `\u00XX`) are all valid TOML.
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The text of the new clodo.toml.
#[must_use]
pub fn render(
    project: &str,
    strategy: Strategy,
    services: &[Found],
    health: Option<&(String, String)>,
) -> String {
    let mut t = String::new();
    t.push_str("# Written by `clodo init`. Reference: docs/config.md (clodo.toml).\n");
    t.push_str(&format!("project = {}\n", quote(project)));
    for s in services {
        t.push_str("\n[[services]]\n");
        t.push_str(&format!("name = {}\n", quote(&s.name)));
        t.push_str(&format!("config = {}\n", quote(&s.config)));
        let callees: Vec<&str> = services
            .iter()
            .filter(|o| o.name != s.name)
            .filter(|o| {
                o.worker.as_ref().is_some_and(|w| {
                    s.calls.iter().any(|c| {
                        c == w
                            || c.strip_prefix(w.as_str())
                                .is_some_and(|r| r.starts_with('-'))
                    })
                })
            })
            .map(|o| o.name.as_str())
            .collect();
        if !callees.is_empty() {
            t.push_str(&format!(
                "# calls {} through service bindings, so it is deployed after {}\n",
                callees.join(", "),
                if callees.len() == 1 { "it" } else { "them" }
            ));
        }
        t.push_str(
            "# required_secrets = [\"API_KEY\"]   # must be set on the Worker before a deploy\n",
        );
    }

    t.push_str("\n[deploy]\n");
    t.push_str(&format!("strategy = {}\n", quote(strategy.as_str())));
    match strategy {
        Strategy::Gradual => {
            t.push_str("steps = [10, 50, 100]             # % of traffic on the new version\n");
            t.push_str(
                "step_wait_secs = 60               # each step holds this long while checks run\n",
            );
        }
        Strategy::BlueGreen => {
            t.push_str("# the new version starts at 0%, the health checks reach it through the\n");
            t.push_str("# version override header, then it takes 100%\n");
        }
        Strategy::Immediate => {}
        Strategy::Ab => {
            t.push_str("# both versions side by side; a cookie keeps each user on one version\n");
            t.push_str(
                "ab = { split = 50, window_secs = 3600, affinity = { cookie = \"uid\" } }\n",
            );
        }
    }
    t.push_str("auto_rollback = true              # a failed check rolls every service back\n");

    match health {
        Some((service, url)) => {
            t.push_str("\n[[health_checks]]\n");
            t.push_str(&format!("service = {}\n", quote(service)));
            t.push_str(&format!("url = {}\n", quote(url)));
            t.push_str("expect_status = 200\n");
            t.push_str("max_latency_ms = 1000\n");
        }
        None => {
            t.push_str("\n# [[health_checks]]\n");
            t.push_str(&format!(
                "# service = {}\n",
                quote(services.first().map_or("api", |s| s.name.as_str()))
            ));
            t.push_str("# url = \"https://example.com/healthz\"\n");
            t.push_str("# expect_status = 200\n");
        }
    }

    if strategy != Strategy::Immediate {
        t.push_str("\n[[analysis]]\n");
        t.push_str("metric = \"error_rate\"\n");
        t.push_str("condition = \"< 0.05\"              # under 5% errors on the new version\n");
        t.push_str("interval_secs = 60\n");
        t.push_str("count = 3\n");
        t.push_str("failure_limit = 1\n");
    }

    t.push_str("\n# Notifications are channels on the control plane, not keys of this file:\n");
    t.push_str("# clodo channels add --kind slack --name ops --url-env SLACK_WEBHOOK_URL\n");

    let envs: BTreeSet<&str> = services
        .iter()
        .flat_map(|s| s.envs.iter().map(String::as_str))
        .collect();
    if !envs.is_empty() {
        t.push_str(&format!(
            "\n# Environments found in the wrangler configs: {}. Override per environment:\n",
            envs.iter().copied().collect::<Vec<_>>().join(", ")
        ));
        let example = envs
            .get("staging")
            .or(envs.iter().next())
            .copied()
            .unwrap_or("staging");
        t.push_str(&format!(
            "# [env.{example}.deploy]\n# strategy = \"immediate\"\n"
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, config: &str, worker: &str, calls: &[&str]) -> Found {
        Found {
            name: name.into(),
            config: config.into(),
            worker: Some(worker.into()),
            envs: vec!["staging".into()],
            calls: calls.iter().map(|c| (*c).to_owned()).collect(),
            error: None,
        }
    }

    #[test]
    fn rendered_files_load_for_every_strategy() {
        let services = [
            found("api", "api/wrangler.toml", "shop-api", &[]),
            found(
                "web",
                "web/wrangler.jsonc",
                "shop-web",
                &["shop-api-staging"],
            ),
        ];
        for strategy in Strategy::ALL {
            let health = (
                "web".to_owned(),
                "https://shop.example.com/healthz".to_owned(),
            );
            let text = render("shop \"x\"", strategy, &services, Some(&health));
            let p = config::parse_project(&text, "clodo.toml")
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(p.project, "shop \"x\"");
            assert_eq!(p.services.len(), 2);
            assert!(p.warnings.is_empty(), "{:?}", p.warnings);
            let s = p.settings(Some("staging"));
            assert_eq!(s.strategy, strategy);
            assert_eq!(s.health_checks[0].service.as_deref(), Some("web"));
            assert_eq!(
                s.analysis.len(),
                usize::from(strategy != Strategy::Immediate)
            );
            assert!(
                text.contains("# calls api through service bindings"),
                "{text}"
            );
        }
        let text = render("p", Strategy::Gradual, &services, None);
        assert!(config::parse_project(&text, "clodo.toml")
            .unwrap()
            .health_checks
            .is_empty());
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize("My Shop_2"), "my-shop-2");
        assert_eq!(sanitize("--"), "");
    }
}
