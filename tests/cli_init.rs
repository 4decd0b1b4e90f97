//! `clodo init` run as the built binary in throwaway directories: discovery (skipping
//! node_modules and .wrangler), flags for CI, answers on stdin, and refusing to overwrite.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use clodo::config::{self, Strategy};
use common::{files_dir, strings, FilesDir};

const CLODO: &str = env!("CARGO_BIN_EXE_clodo");

fn dir(files: &[(&str, &str)]) -> FilesDir {
    files_dir("init", files)
}

fn init(cwd: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(CLODO)
        .arg("init")
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clodo runs");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const API: &str = "name = \"shop-api\"\nmain = \"src/index.js\"\ncompatibility_date = \"2026-04-20\"\n[env.staging]\n[env.production]\n";
const WEB: &str = "{\n  // the storefront\n  \"name\": \"shop-web\",\n  \"main\": \"src/index.js\",\n  \"compatibility_date\": \"2026-04-20\",\n  \"env\": { \"staging\": { \"services\": [{ \"binding\": \"API\", \"service\": \"shop-api-staging\" }] } },\n}\n";

fn shop() -> FilesDir {
    dir(&[
        ("services/api/wrangler.toml", API),
        ("services/web/wrangler.jsonc", WEB),
        // wrangler prefers wrangler.jsonc over wrangler.toml in one directory
        ("services/web/wrangler.toml", "name = \"stale\"\n"),
        (
            "node_modules/some-lib/wrangler.toml",
            "name = \"dependency\"\n",
        ),
        (".wrangler/tmp/wrangler.json", "{\"name\": \"state\"}"),
        ("README.md", "# shop\n"),
    ])
}

fn load(root: &Path) -> config::ProjectConfig {
    config::load_project(&root.join("clodo.toml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn ci_flags_write_a_loadable_project() {
    let d = shop();
    let out = init(
        &d.0,
        &[
            "--yes",
            "--project-name",
            "shop",
            "--strategy",
            "gradual",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["project"], "shop");
    assert_eq!(summary["strategy"], "gradual");
    let configs: Vec<&str> = strings(&summary["services"], "config");
    assert_eq!(
        configs,
        ["services/api/wrangler.toml", "services/web/wrangler.jsonc"]
    );

    let p = load(&d.0);
    assert_eq!(p.project, "shop");
    let names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    assert_eq!(p.settings(Some("staging")).strategy, Strategy::Gradual);
    assert_eq!(p.settings(None).traffic_steps(), vec![10.0, 50.0, 100.0]);
    // Every listed config is a real file relative to clodo.toml.
    for s in &p.services {
        assert!(
            s.config_path(&d.0.join("clodo.toml")).is_file(),
            "{}",
            s.config
        );
    }
    let written = std::fs::read_to_string(d.0.join("clodo.toml")).unwrap();
    assert!(
        written.contains("# calls api through service bindings"),
        "{written}"
    );
}

#[test]
fn defaults_without_a_terminal_and_refusal_to_overwrite() {
    let d = shop();
    // Not a terminal and no flags: the defaults (directory name, gradual), no questions.
    let out = init(&d.0, &[], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("strategy gradual"), "{}", text(&out));
    assert!(
        text(&out).contains("next: clodo assess --env staging"),
        "{}",
        text(&out)
    );
    let first = std::fs::read_to_string(d.0.join("clodo.toml")).unwrap();
    let dir_name = d.0.file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(load(&d.0).project, dir_name);

    let out = init(&d.0, &["--yes", "--project-name", "other"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("already exists; pass --force"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(d.0.join("clodo.toml")).unwrap(),
        first
    );

    let out = init(&d.0, &["--yes", "--project-name", "other", "--force"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(load(&d.0).project, "other");
}

#[test]
fn answers_on_stdin_when_interactive() {
    let d = shop();
    let out = init(
        &d.0,
        &["--interactive", "--health-service", "web"],
        Some("my-shop\nblue_green\nhttps://shop.example.com/healthz\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Project name ["), "{stderr}");
    assert!(
        stderr.contains("Strategy (immediate, gradual, blue-green) [gradual]"),
        "{stderr}"
    );
    let p = load(&d.0);
    assert_eq!(p.project, "my-shop");
    let s = p.settings(Some("production"));
    assert_eq!(s.strategy, Strategy::BlueGreen);
    assert_eq!(s.health_checks[0].service.as_deref(), Some("web"));
    assert_eq!(s.health_checks[0].url, "https://shop.example.com/healthz");

    // A wrong strategy is asked again; empty answers take the defaults.
    let d = shop();
    let out = init(&d.0, &["--interactive"], Some("\nsideways\n\n\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("`sideways` is not a strategy"),
        "{}",
        text(&out)
    );
    assert_eq!(load(&d.0).settings(None).strategy, Strategy::Gradual);
}

#[test]
fn usage_errors() {
    let d = shop();
    // Each is a usage error (exit 2) that names the problem and writes nothing.
    let refused: [(&[&str], &str); 4] = [
        (&["--strategy", "blue-green"], "--health-url"),
        (
            &["--health-url", "ftp://x", "--health-service", "api"],
            "scheme `ftp`",
        ),
        (
            &["--health-url", "https://x", "--health-service", "db"],
            "not one of the services found: api, web",
        ),
        (&["--health-service", "api"], "pass --health-url too"),
    ];
    for (args, says) in refused {
        let args: Vec<&str> = std::iter::once("--yes")
            .chain(args.iter().copied())
            .collect();
        let out = init(&d.0, &args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        assert!(!d.0.join("clodo.toml").exists(), "{args:?}");
    }

    let empty = dir(&[("node_modules/x/wrangler.toml", "name = \"x\"\n")]);
    let out = init(&empty.0, &["--yes"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no wrangler.json, wrangler.jsonc, wrangler.toml"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_config_at_the_root_is_named_after_its_worker_and_clashes_get_paths() {
    let d = dir(&[
        (
            "wrangler.toml",
            "name = \"Edge Router\"\nmain = \"i.js\"\ncompatibility_date = \"2026-04-20\"\n",
        ),
        ("a/api/wrangler.toml", API),
        ("b/api/wrangler.toml", API),
        ("broken/wrangler.toml", "name = [\n"),
    ]);
    let out = init(&d.0, &["--yes", "--project-name", "p"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("broken/wrangler.toml is listed but does not load"),
        "{}",
        text(&out)
    );
    let p = load(&d.0);
    let names: Vec<(&str, &str)> = p
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.config.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("api", "a/api/wrangler.toml"),
            ("b-api", "b/api/wrangler.toml"),
            ("broken", "broken/wrangler.toml"),
            ("edge-router", "wrangler.toml"),
        ]
    );
}
