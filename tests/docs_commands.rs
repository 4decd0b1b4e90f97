//! What README.md and docs/ show exists (issue 19: docs checked by tests, not trusted): every
//! `clodo …` command and flag is found in the real CLI's clap definition, and every API
//! operation (`GET /api/v1/…`) in the OpenAPI document the Worker serves, so a renamed command,
//! flag or route fails here before a reader meets it.

use std::path::{Path, PathBuf};

use clodo::cli::Cli;

/// The Markdown files whose code blocks are checked.
fn markdown_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|e| e.expect("a docs entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The shell lines of a file's fenced code blocks (sh, bash, shell, console or unnamed), with
/// `\` continuations joined, each with its line number.
fn shell_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_shell = None::<bool>;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            in_shell = match in_shell {
                Some(_) => None,
                None => Some(matches!(
                    lang.trim(),
                    "" | "sh" | "bash" | "shell" | "console"
                )),
            };
            continue;
        }
        if in_shell != Some(true) {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        joined.push_str(trimmed.trim_start_matches("$ "));
        if let Some(cut) = joined.strip_suffix('\\') {
            pending = Some((start, format!("{cut} ")));
        } else {
            out.push((start, joined));
        }
    }
    out
}

/// The inline code spans of prose lines (outside fenced blocks) that start with `clodo `.
fn inline_commands(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Odd pieces between backticks are code spans.
        for span in line.split('`').skip(1).step_by(2) {
            if span.starts_with("clodo ") {
                out.push((i + 1, span.to_owned()));
            }
        }
    }
    out
}

/// Splits a shell command into words: quotes group, a `#` word starts a comment. Enough for
/// documentation, which uses no nested quoting.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None::<char>;
    let mut started = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, '#') if !started => break,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The `clodo` invocations of one shell line: its arguments after `clodo` (or after
/// `cargo run … --bin clodo --`), one per command of a `&&`, `||`, `;` or `|` chain.
fn clodo_invocations(line: &str) -> Vec<Vec<String>> {
    let line = without_substitutions(line);
    let mut found = Vec::new();
    for part in line
        .split("&&")
        .flat_map(|p| p.split("||"))
        .flat_map(|p| p.split(';'))
    {
        for command in part.split('|') {
            let w = words(command.trim().trim_start_matches('(').trim_end_matches(')'));
            let args = match w.first().map(String::as_str) {
                Some("clodo") => w[1..].to_vec(),
                Some("cargo") if w.iter().any(|x| x == "clodo") && w.iter().any(|x| x == "--") => {
                    let dash = w.iter().position(|x| x == "--").unwrap_or(w.len());
                    w[dash + 1..].to_vec()
                }
                _ => continue,
            };
            // Redirections and what follows them are the shell's, not clodo's.
            let args: Vec<String> = args
                .into_iter()
                .take_while(|a| !a.starts_with('>') && !a.starts_with('<') && a != "2>&1")
                .collect();
            found.push(args);
        }
    }
    found
}

/// The line with each `$(…)` command substitution (not nested) replaced by one placeholder
/// word: its inner command is another program's (`jq -r …`), its output one argument.
fn without_substitutions(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        match rest[start..].find(')') {
            Some(end) => {
                out.push_str("VALUE");
                rest = &rest[start + end + 1..];
            }
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What is wrong with one documented invocation, if anything: each word that names a
/// subcommand must be one (from the top down), and each flag must be a flag of the command it
/// follows. Values and placeholders are not judged: prose names commands without their
/// arguments (`clodo rollback`) and synopses bracket the optional ones (`[--json]`).
fn unknown_words(root: &clap::Command, args: &[String]) -> Option<String> {
    let mut command = root;
    let mut path = vec!["clodo".to_owned()];
    let mut expect_subcommand = true;
    for raw in args {
        let word = raw.trim_matches(|c| matches!(c, '[' | ']' | '{' | '}' | ',' | '.'));
        if word.is_empty() {
            continue;
        }
        // `clodo … --json`: "any command", nothing more to check.
        if word == "…" || word == "..." {
            return None;
        }
        if let Some(flag) = word.strip_prefix("--") {
            let name = flag.split('=').next().unwrap_or_default();
            let known = name == "help"
                || (name == "version" && path.len() == 1)
                || command.get_arguments().any(|a| a.get_long() == Some(name));
            if !known {
                return Some(format!("`{}` has no flag --{name}", path.join(" ")));
            }
            continue;
        }
        if let Some(short) = word.strip_prefix('-') {
            if let Some(c) = short.chars().next().filter(|c| c.is_ascii_alphabetic()) {
                let known = c == 'h' || command.get_arguments().any(|a| a.get_short() == Some(c));
                if !known {
                    return Some(format!("`{}` has no flag -{c}", path.join(" ")));
                }
            }
            continue;
        }
        if expect_subcommand && command.has_subcommands() {
            match command.find_subcommand(word) {
                Some(sub) => {
                    command = sub;
                    path.push(word.to_owned());
                }
                None if word.chars().all(|c| c.is_ascii_lowercase() || c == '-') => {
                    return Some(format!("`{}` has no subcommand {word}", path.join(" ")));
                }
                None => expect_subcommand = false,
            }
        } else {
            expect_subcommand = false;
        }
    }
    None
}

#[test]
fn every_clodo_command_in_the_docs_exists() {
    use clap::CommandFactory;
    let root = Cli::command();
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("a readable Markdown file");
        let mut lines = shell_lines(&text);
        lines.extend(inline_commands(&text));
        for (line_no, line) in lines {
            for args in clodo_invocations(&line) {
                checked += 1;
                if let Some(problem) = unknown_words(&root, &args) {
                    failures.push(format!(
                        "{}:{line_no}: clodo {}\n    {problem}",
                        file.display(),
                        args.join(" ")
                    ));
                }
            }
        }
    }
    assert!(
        checked > 200,
        "only {checked} clodo commands found: is the extraction broken?"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} documented commands name what the CLI does not have:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_extraction_reads_continuations_chains_and_comments() {
    assert_eq!(
        clodo_invocations("clodo status $(jq -r .id release.json) --follow"),
        vec![vec![
            "status".to_owned(),
            "VALUE".to_owned(),
            "--follow".to_owned()
        ]]
    );
    let md = "```sh\nclodo deploy --env staging \\\n  --yes   # ship it\nx && clodo status d1 | jq .\n```\n";
    let lines = shell_lines(md);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        clodo_invocations(&lines[0].1),
        vec![vec!["deploy", "--env", "staging", "--yes"]]
    );
    assert_eq!(clodo_invocations(&lines[1].1), vec![vec!["status", "d1"]]);
    assert_eq!(words("clodo a 'b c' \"d\""), vec!["clodo", "a", "b c", "d"]);
}

#[test]
fn a_renamed_command_or_flag_is_caught() {
    use clap::CommandFactory;
    let root = Cli::command();
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        unknown_words(&root, &args(&["deploy", "--env", "staging", "--yes"])),
        None
    );
    assert_eq!(unknown_words(&root, &args(&["rollback"])), None);
    assert!(unknown_words(&root, &args(&["deploy", "--no-such-flag"])).is_some());
    assert!(unknown_words(&root, &args(&["nosuchcommand"])).is_some());
    assert!(unknown_words(&root, &args(&["lock", "grab"])).is_some());
}

/// Paths under `/api/v1/` that the docs quote from other products' APIs, not Clodo's.
const FOREIGN_API_PATHS: &[&str] = &[
    // Datadog's events API (docs/notifications.md, the `datadog` channel).
    "/api/v1/events",
];

/// Whether a documented path (`/api/v1/projects/shop/github`, `…/{deployment_id}`,
/// `…/<id>`) is an instance of a template of the OpenAPI document (`…/{project}/github`).
fn matches_template(documented: &str, template: &str) -> bool {
    let doc: Vec<&str> = documented.split('/').collect();
    let tpl: Vec<&str> = template.split('/').collect();
    doc.len() == tpl.len()
        && doc.iter().zip(&tpl).all(|(d, t)| {
            let placeholder = t.starts_with('{');
            d == t || (placeholder && !d.is_empty())
        })
}

/// Every `METHOD /api/v1/…` in README.md and docs/: file, line, method, path (query and
/// trailing punctuation cut).
fn documented_operations() -> Vec<(PathBuf, usize, String, String)> {
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut found = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("a readable Markdown file");
        for (i, line) in text.lines().enumerate() {
            for method in methods {
                let needle = format!("{method} /api/v1/");
                let mut rest = line;
                while let Some(at) = rest.find(&needle) {
                    let after = &rest[at + method.len() + 1..];
                    let path: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "_{}/.:<>-".contains(*c))
                        .collect();
                    let path = path.trim_end_matches(['.', ':', ',', '/']).to_owned();
                    found.push((file.clone(), i + 1, method.to_owned(), path));
                    rest = &after[1..];
                }
            }
        }
    }
    found
}

#[test]
fn every_api_operation_in_the_docs_is_in_the_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/openapi.json")).expect("docs/openapi.json");
    let document: serde_json::Value = serde_json::from_str(&text).expect("the document is JSON");
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    let operations = documented_operations();
    let mut failures = Vec::new();
    for (file, line, method, path) in &operations {
        if FOREIGN_API_PATHS.contains(&path.as_str()) {
            continue;
        }
        let known = paths.iter().any(|(template, ops)| {
            matches_template(path, template) && ops.get(method.to_lowercase()).is_some()
        });
        if !known {
            failures.push(format!("{}:{line}: {method} {path}", file.display()));
        }
    }
    assert!(
        operations.len() > 60,
        "only {} operations found: is the extraction broken?",
        operations.len()
    );
    assert!(
        failures.is_empty(),
        "{} documented operations are not in docs/openapi.json:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_documented_path_matches_only_its_template() {
    let t = "/api/v1/projects/{project}/github";
    assert!(matches_template("/api/v1/projects/shop/github", t));
    assert!(matches_template("/api/v1/projects/{project}/github", t));
    assert!(!matches_template("/api/v1/projects/shop/gitlab", t));
    assert!(!matches_template("/api/v1/projects/shop", t));
}

/// A fenced code block: the line of its opening fence, its info string (`toml clodo.toml`)
/// and its text (the fence's indentation removed).
fn fenced_blocks(text: &str) -> Vec<(usize, String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(info) = trimmed.strip_prefix("```") {
            match open.take() {
                Some((start, info, _, body)) => blocks.push((start, info, body)),
                None => open = Some((i + 1, info.trim().to_owned(), indent, String::new())),
            }
            continue;
        }
        if let Some((_, _, indent, body)) = open.as_mut() {
            let cut = line.len().min(*indent);
            body.push_str(line.get(cut..).unwrap_or(line));
            body.push('\n');
        }
    }
    blocks
}

/// What a config block must be, from its info string. The rule (issue 19: each config snippet
/// validates):
///
/// - ```` ```toml clodo.toml ```` is a whole `clodo.toml`: parsed by the product's loader
///   (`clodo::config::parse_project`) with no error and no warning; the schema check in
///   `src/config/tests/project_schema.rs` validates the same blocks against
///   `schemas/clodo.schema.json`.
/// - ```` ```toml clodo.toml fragment ```` is part of one (a table or two, no `project`):
///   checked the same way with `project = "docs-example"` put in front.
/// - ```` ```toml wrangler ```` (or `jsonc wrangler`, `json wrangler`) is a wrangler config
///   or part of one: parsed by Clodo's wrangler loader (`WranglerConfig::parse`).
/// - `invalid` after either (```` ```toml clodo.toml invalid ````) marks a block that shows a
///   mistake on purpose: the loader must refuse it, so the example keeps showing an error.
/// - Any other ```` ```toml ```` block fails the test until it is tagged.
#[derive(Debug, PartialEq)]
enum ConfigBlock {
    ClodoToml { fragment: bool, invalid: bool },
    Wrangler { format: &'static str, invalid: bool },
    Untagged,
    NotConfig,
}

fn classify(info: &str) -> ConfigBlock {
    let mut words = info.split_whitespace();
    let lang = words.next().unwrap_or_default();
    let tags: Vec<&str> = words.collect();
    let invalid = tags.contains(&"invalid");
    let format = match lang {
        "toml" => "toml",
        "jsonc" => "jsonc",
        "json" => "json",
        _ => return ConfigBlock::NotConfig,
    };
    if tags.contains(&"clodo.toml") && format == "toml" {
        ConfigBlock::ClodoToml {
            fragment: tags.contains(&"fragment"),
            invalid,
        }
    } else if tags.contains(&"wrangler") {
        ConfigBlock::Wrangler { format, invalid }
    } else if format == "toml" {
        ConfigBlock::Untagged
    } else {
        // JSON blocks are API bodies and outputs unless tagged `wrangler`.
        ConfigBlock::NotConfig
    }
}

/// The loader's verdict on one block: `Ok` when it accepts it cleanly, the error or warnings
/// otherwise.
fn load_block(kind: &ConfigBlock, body: &str) -> Result<(), String> {
    match kind {
        ConfigBlock::ClodoToml { fragment, .. } => {
            let text = if *fragment {
                format!("project = \"docs-example\"\n{body}")
            } else {
                body.to_owned()
            };
            let config =
                clodo::config::parse_project(&text, "clodo.toml").map_err(|e| e.to_string())?;
            if config.warnings.is_empty() {
                Ok(())
            } else {
                Err(config
                    .warnings
                    .iter()
                    .map(|w| w.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        }
        ConfigBlock::Wrangler { format, .. } => {
            let format = match *format {
                "toml" => clodo::config::ConfigFormat::Toml,
                "jsonc" => clodo::config::ConfigFormat::Jsonc,
                _ => clodo::config::ConfigFormat::Json,
            };
            clodo::config::WranglerConfig::parse(body, format, "wrangler")
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        ConfigBlock::Untagged | ConfigBlock::NotConfig => Ok(()),
    }
}

#[test]
fn every_config_snippet_in_the_docs_loads() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("a readable Markdown file");
        for (line, info, body) in fenced_blocks(&text) {
            let kind = classify(&info);
            let at = format!("{}:{line}", file.display());
            match &kind {
                ConfigBlock::NotConfig => continue,
                ConfigBlock::Untagged => {
                    failures.push(format!(
                        "{at}: a ```toml block must say what it is: ```toml clodo.toml, ```toml clodo.toml fragment or ```toml wrangler (add `invalid` for a deliberate mistake)"
                    ));
                    continue;
                }
                _ => {}
            }
            checked += 1;
            let invalid = matches!(
                kind,
                ConfigBlock::ClodoToml { invalid: true, .. }
                    | ConfigBlock::Wrangler { invalid: true, .. }
            );
            match (load_block(&kind, &body), invalid) {
                (Ok(()), false) | (Err(_), true) => {}
                (Err(e), false) => failures.push(format!("{at}: ```{info}\n    {e}")),
                (Ok(()), true) => failures.push(format!(
                    "{at}: ```{info} is marked invalid but the loader accepts it"
                )),
            }
        }
    }
    assert!(
        checked >= 3,
        "only {checked} config blocks found: is the extraction broken?"
    );
    assert!(
        failures.is_empty(),
        "{} config snippets in the docs do not load:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn config_blocks_are_told_apart_by_their_info_string() {
    assert_eq!(
        classify("toml clodo.toml"),
        ConfigBlock::ClodoToml {
            fragment: false,
            invalid: false
        }
    );
    assert_eq!(
        classify("toml clodo.toml fragment invalid"),
        ConfigBlock::ClodoToml {
            fragment: true,
            invalid: true
        }
    );
    assert_eq!(
        classify("jsonc wrangler"),
        ConfigBlock::Wrangler {
            format: "jsonc",
            invalid: false
        }
    );
    assert_eq!(classify("toml"), ConfigBlock::Untagged);
    assert_eq!(classify("json"), ConfigBlock::NotConfig);
    assert_eq!(classify("sh"), ConfigBlock::NotConfig);
    // The loader really judges: a typo'd key and a bad strategy are refused.
    let clodo = ConfigBlock::ClodoToml {
        fragment: true,
        invalid: false,
    };
    assert!(load_block(&clodo, "[deploy]\nstrategy = \"gradual\"\n").is_ok());
    assert!(load_block(&clodo, "[deploy]\nstrategy = \"canary\"\n").is_err());
    assert!(load_block(&clodo, "[deploy]\nstratgy = \"gradual\"\n").is_err());
    // Wrangler snippets go through Clodo's wrangler loader: broken TOML or JSONC is refused.
    let wrangler = |format| ConfigBlock::Wrangler {
        format,
        invalid: false,
    };
    assert!(load_block(
        &wrangler("toml"),
        "name = \"api\"\nmain = \"src/index.ts\"\n[[d1_databases]]\nbinding = \"DB\"\n"
    )
    .is_ok());
    assert!(load_block(&wrangler("toml"), "name = \n").is_err());
    assert!(load_block(&wrangler("jsonc"), "{ \"name\": \"api\", // ok\n }").is_ok());
    assert!(load_block(&wrangler("jsonc"), "{ \"name\": }").is_err());
    let md = "text\n  ```toml clodo.toml\n  project = \"x\"\n  ```\n";
    assert_eq!(
        fenced_blocks(md),
        vec![(
            2,
            "toml clodo.toml".to_owned(),
            "project = \"x\"\n".to_owned()
        )]
    );
}
