//! Loads every real-world wrangler config of the shared corpus, resolves the top level and
//! every env, and checks facts verified by reading the files.

use std::path::{Path, PathBuf};

use clodo::config::{load_file, ResolvedWorker, WranglerConfig};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/corpus/wrangler-configs"
    ));
    if dir.is_dir() {
        Some(dir.to_path_buf())
    } else {
        println!("note: {} is absent; corpus tests skipped", dir.display());
        None
    }
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("toml" | "json" | "jsonc")
            )
        })
        .collect();
    files.sort();
    files
}

/// The corpus file whose name starts with `prefix` (`"058-"`), parsed.
fn load(prefix: &str) -> Option<WranglerConfig> {
    load_in(&corpus_dir()?, prefix)
}

fn load_in(dir: &Path, prefix: &str) -> Option<WranglerConfig> {
    let path = corpus_files(dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no corpus file {prefix}*"));
    Some(load_file(&path).unwrap_or_else(|e| panic!("{e}")))
}

fn resolve(cfg: &WranglerConfig, env: Option<&str>) -> ResolvedWorker {
    cfg.resolve(env).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_corpus_config_loads_and_resolves() {
    let Some(dir) = corpus_dir() else { return };
    let files = corpus_files(&dir);
    assert!(
        files.len() >= 40,
        "expected the 40 corpus files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let cfg = match load_file(path) {
            Ok(cfg) => cfg,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let envs = cfg.env_names();
        for env in std::iter::once(None).chain(envs.iter().map(|e| Some(e.as_str()))) {
            match cfg.resolve(env) {
                Ok(w) => {
                    println!(
                        "{name} [{}]: name={:?} routes={} d1={} kv={} r2={} do={} other={} warnings={} problems={} not_inherited={}",
                        env.unwrap_or("top"),
                        w.name,
                        w.routes.len(),
                        w.d1_databases.len(),
                        w.kv_namespaces.len(),
                        w.r2_buckets.len(),
                        w.durable_objects.len(),
                        w.other_bindings.len(),
                        w.warnings.len(),
                        w.problems.len(),
                        w.not_inherited.len()
                    );
                    for p in &w.problems {
                        println!(
                            "    problem {}: {} @{:?}",
                            p.kind, p.message, p.location.line
                        );
                    }
                    for wa in &w.warnings {
                        println!("    warning: {} @{:?}", wa.message, wa.location.line);
                    }
                    for n in &w.not_inherited {
                        println!("    not inherited: {}", n.key);
                    }
                }
                Err(e) => failures.push(format!("{name} env {env:?}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "configs that failed:\n{}",
        failures.join("\n")
    );
}

fn warning_texts(w: &ResolvedWorker) -> Vec<&str> {
    w.warnings.iter().map(|w| w.message.as_str()).collect()
}

fn kinds(w: &ResolvedWorker) -> Vec<&'static str> {
    w.problems.iter().map(|p| p.kind).collect()
}

fn missing(w: &ResolvedWorker) -> Vec<&str> {
    w.not_inherited.iter().map(|n| n.key.as_str()).collect()
}

/// Facts of the three copied files, checked against the copies (always present) and, when it
/// exists, the shared corpus.
fn check_copied(dir: &Path) {
    // 058: envs test/live redeclare d1/kv/vars but not durable_objects/workflows.
    let cfg = load_in(dir, "058-").unwrap();
    assert_eq!(cfg.env_names(), vec!["test", "live"]);
    for env in ["test", "live"] {
        let w = resolve(&cfg, Some(env));
        assert_eq!(missing(&w), vec!["durable_objects", "workflows"], "{env}");
        assert_eq!(w.d1_databases.len(), 2);
        assert!(w.durable_objects.is_empty());
        assert!(w.not_inherited[0].top_level_location.line.is_some());
        assert!(w.problems.is_empty(), "{:?}", w.problems);
    }
    let top = resolve(&cfg, None);
    assert_eq!(
        top.other_bindings
            .iter()
            .filter(|b| b.kind == "workflows")
            .count(),
        4
    );
    assert_eq!(top.crons.len(), 2);

    // 053: top-level kv/vars written after the env tables are top-level, so envs lack them.
    let cfg = load_in(dir, "053-").unwrap();
    let prod = resolve(&cfg, Some("production"));
    assert_eq!(prod.name.as_deref(), Some("subscription-manager"));
    assert_eq!(missing(&prod), vec!["vars", "kv_namespaces"]);
    let staging = resolve(&cfg, Some("staging"));
    assert_eq!(
        staging.name.as_deref(),
        Some("subscription-manager-staging")
    );
    assert_eq!(resolve(&cfg, None).kv_namespaces.len(), 1);

    // 010: wrangler v1 config: legacy keys warn; no main, no compatibility_date.
    let cfg = load_in(dir, "010-").unwrap();
    let w = resolve(&cfg, None);
    let warnings = warning_texts(&w);
    assert!(
        warnings.iter().any(|m| m.contains("`type`")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("durable_objects.classes")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|m| m.contains("build.upload_dir")),
        "{warnings:?}"
    );
    assert_eq!(
        kinds(&w),
        vec!["main_missing", "compatibility_date_invalid"]
    );
    assert_eq!(w.account_id, None, "an empty account_id means none");
}

#[test]
fn copied_fixtures_load() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/config"
    ));
    check_copied(dir);
}

#[test]
fn corpus_facts() {
    let Some(dir) = corpus_dir() else { return };
    check_copied(&dir);

    // 003: `routes` written as a single object in an env is read as one route, with a warning.
    let cfg = load("003-").unwrap();
    let w = resolve(&cfg, Some("preprod"));
    assert_eq!(w.routes.len(), 1);
    assert!(w.routes[0].custom_domain);
    assert_eq!(w.warnings.len(), 1);

    // 005: `tail_consumers` written after [[d1_databases]] belongs to that table.
    let w = resolve(&load("005-").unwrap(), None);
    assert!(warning_texts(&w)[0].contains("`tail_consumers` is inside `d1_databases[0]`"));

    // 006: env.production repeats only kv and vars.
    let w = resolve(&load("006-").unwrap(), Some("production"));
    assert_eq!(
        missing(&w),
        vec!["durable_objects", "r2_buckets", "d1_databases", "services"]
    );

    // 007: a Pages project: no main needed.
    let w = resolve(&load("007-").unwrap(), None);
    assert!(w.is_pages && w.problems.is_empty(), "{:?}", w.problems);

    // 016: `vars` after [dev] lands in dev; `pages_build_output_dir` lands in an r2 entry.
    let cfg = load("016-").unwrap();
    let w = resolve(&cfg, Some("production"));
    let warnings = warning_texts(&w);
    assert!(
        warnings.iter().any(|m| m.contains("`dev.vars`")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(
            |m| m.contains("`pages_build_output_dir` is inside `env.production.r2_buckets[0]`")
        ),
        "{warnings:?}"
    );
    assert!(!w.is_pages);
    assert_eq!(w.kv_namespaces.len(), 4);

    // 028: a block comment closing right before the opening brace.
    assert_eq!(resolve(&load("028-").unwrap(), None).d1_databases.len(), 1);

    // 033: a queue consumer with a `binding` key (consumers take none).
    let w = resolve(&load("033-").unwrap(), None);
    assert!(warning_texts(&w)[0].contains("`binding` in `queues.consumers[0]`"));
    assert!(w.queue_producers.is_empty());

    // 039: `workers_dev` under [env.staging.vars] is a var; `env.prod.routes` under [env.prod]
    // nests an env, so prod has no routes.
    let cfg = load("039-").unwrap();
    let staging = resolve(&cfg, Some("staging"));
    assert!(staging.vars.iter().any(|(n, _)| n == "workers_dev"));
    assert_eq!(staging.workers_dev, None);
    assert!(warning_texts(&staging)[0].contains("`env.staging.vars.workers_dev`"));
    let prod = resolve(&cfg, Some("prod"));
    assert!(prod.routes.is_empty());
    assert!(warning_texts(&prod)[0].contains("`env.prod.env` is ignored"));

    // 044: [[kv_namespaces]] KV and [[d1_databases]] DB declared twice.
    let w = resolve(&load("044-").unwrap(), None);
    assert_eq!(kinds(&w), vec!["config_invalid", "config_invalid"]);
    assert!(w.problems[0].message.contains("`DB`"));

    // 045: no main anywhere; env.dev exists only through [env.dev.vars].
    let cfg = load("045-").unwrap();
    assert_eq!(cfg.env_names(), vec!["dev", "production", "staging"]);
    assert_eq!(resolve(&cfg, Some("production")).routes.len(), 7);
    let staging = resolve(&cfg, Some("staging"));
    assert_eq!(staging.routes.len(), 1);
    assert_eq!(kinds(&staging), vec!["main_missing"]);

    // 049: bindings only in envs; a single `route` object with custom_domain.
    let w = resolve(&load("049-").unwrap(), Some("prod"));
    assert!(w.routes[0].custom_domain);
    assert_eq!(w.durable_objects.len(), 2);
    assert!(w.not_inherited.is_empty());

    // 065: [[env.test.containers]] declares env test, which repeats no binding.
    let w = resolve(&load("065-").unwrap(), Some("test"));
    assert_eq!(w.not_inherited.len(), 12);
    assert!(!missing(&w).contains(&"containers"));

    // 066: wrangler v1 keys; env.production sets only one of the seven top-level vars.
    let cfg = load("066-").unwrap();
    let w = resolve(&cfg, Some("production"));
    assert_eq!(w.name.as_deref(), Some("url-shortener"));
    assert_eq!(w.routes[0].pattern, "connect-with.vortex.name/*");
    assert_eq!(w.vars_missing_in_env.len(), 6);
    assert!(warning_texts(&w)
        .iter()
        .any(|m| m.contains("webpack_config")));

    // 069: every binding only in comments: nothing bound, nothing wrong.
    let w = resolve(&load("069-").unwrap(), None);
    assert!(w.problems.is_empty() && w.warnings.is_empty());
    assert!(w.other_bindings.is_empty() && w.d1_databases.is_empty());
}
