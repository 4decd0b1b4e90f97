//! The generated reference pages stay true (issue 19: docs checked by tests, not trusted):
//! docs/cli-reference.md is rendered from the real CLI's clap definition and
//! docs/config-reference.md from schemas/clodo.schema.json, and each test fails when the
//! committed page differs from what the code would generate now.
//!
//! Regenerate both after changing a command, a flag, its help text or the schema:
//!
//! ```sh
//! CLODO_UPDATE_DOCS=1 cargo test --test docs_reference
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clodo::cli::Cli;
use serde_json::{Map, Value};

const REGENERATE: &str = "CLODO_UPDATE_DOCS=1 cargo test --test docs_reference";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `generated` with the committed file, or writes it when `CLODO_UPDATE_DOCS` is set.
fn check_in_sync(relative: &str, generated: &str) {
    let path: PathBuf = root().join(relative);
    if std::env::var_os("CLODO_UPDATE_DOCS").is_some() {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("{relative}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        // The first differing line, so the failure says what drifted without a full diff.
        let first = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map_or_else(
                || "the files differ in length".to_owned(),
                |(i, (a, b))| format!("line {}:\n  committed: {a}\n  generated: {b}", i + 1),
            );
        panic!(
            "{relative} is out of date with the code ({first})\nregenerate it with: {REGENERATE}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CLI reference
// ---------------------------------------------------------------------------------------------

/// Escapes text for a Markdown table cell: one line, no bare `|`.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// How an argument is written on the command line: `-e, --env <ENV>`, `<DEPLOYMENT>`.
fn arg_synopsis(arg: &clap::Arg) -> String {
    let values: Vec<String> = arg
        .get_value_names()
        .map(|names| names.iter().map(|n| format!("<{n}>")).collect())
        .unwrap_or_else(|| vec![format!("<{}>", arg.get_id().as_str().to_uppercase())]);
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    if arg.is_positional() {
        let mut s = values.join(" ");
        if arg.get_num_args().is_some_and(|n| n.max_values() > 1) {
            s.push('…');
        }
        return s;
    }
    let mut names = Vec::new();
    if let Some(c) = arg.get_short() {
        names.push(format!("-{c}"));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("--{l}"));
    }
    let mut s = names.join(", ");
    if takes_value {
        s.push(' ');
        s.push_str(&values.join(" "));
    }
    s
}

/// The help text of an argument or command, long form preferred.
fn help_of(
    long: Option<&clap::builder::StyledStr>,
    short: Option<&clap::builder::StyledStr>,
) -> String {
    long.or(short).map(ToString::to_string).unwrap_or_default()
}

fn render_command(out: &mut String, cmd: &clap::Command, path: &str) {
    let _ = writeln!(out, "## `{path}`\n");
    let about = help_of(cmd.get_long_about(), cmd.get_about());
    if !about.is_empty() {
        let _ = writeln!(out, "{}\n", about.trim());
    }
    let usage = cmd.clone().render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ").trim();
    let _ = writeln!(out, "```text\n{usage}\n```\n");

    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    if !args.is_empty() {
        out.push_str("| argument | required | default | env | description |\n");
        out.push_str("| --- | --- | --- | --- | --- |\n");
        for arg in args {
            // A switch's implicit `false` says nothing; only defaults of values are shown.
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            let defaults: Vec<String> = if takes_value || arg.is_positional() {
                arg.get_default_values()
                    .iter()
                    .map(|v| format!("`{}`", v.to_string_lossy()))
                    .collect()
            } else {
                Vec::new()
            };
            let env = arg
                .get_env()
                .map(|e| format!("`{}`", e.to_string_lossy()))
                .unwrap_or_default();
            let mut description = cell(&help_of(arg.get_long_help(), arg.get_help()));
            let possible: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| format!("`{}`", v.get_name()))
                .collect();
            // A boolean flag's possible values (`true`, `false`) say nothing to a reader.
            if !possible.is_empty() && (takes_value || arg.is_positional()) {
                if !description.is_empty() {
                    if !description.ends_with('.') {
                        description.push('.');
                    }
                    description.push(' ');
                }
                let _ = write!(description, "One of: {}.", possible.join(", "));
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                cell(&arg_synopsis(arg)),
                if arg.is_required_set() { "yes" } else { "" },
                defaults.join(", "),
                env,
                description
            );
        }
        out.push('\n');
    }
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    if !subs.is_empty() {
        out.push_str("| subcommand | what |\n| --- | --- |\n");
        for sub in &subs {
            let name = format!("{path} {}", sub.get_name());
            let _ = writeln!(
                out,
                "| [`{name}`](#{}) | {} |",
                anchor(&name),
                cell(&help_of(None, sub.get_about()))
            );
        }
        out.push('\n');
    }
    for sub in subs {
        render_command(out, sub, &format!("{path} {}", sub.get_name()));
    }
}

/// GitHub's heading anchor for `` `clodo lock acquire` ``.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// docs/cli-reference.md, from the clap definition.
fn cli_reference() -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = String::new();
    out.push_str("# CLI reference\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the clap definitions (src/cli/) by tests/docs_reference.rs: do not edit.\n     Regenerate: {REGENERATE} -->\n"
    );
    out.push_str(
        "Every `clodo` command, subcommand and flag with its help text, default and environment \
         variable, generated from the CLI's own definition (a test fails when this page and the \
         code differ). The guide to using them, exit codes and examples is [cli.md](cli.md).\n\n",
    );
    out.push_str(
        "Every command also takes `-h` / `--help`; `clodo --version` prints the version.\n\n",
    );
    render_command(&mut out, &cmd, "clodo");
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[test]
fn the_cli_reference_is_generated_from_the_clap_definitions() {
    check_in_sync("docs/cli-reference.md", &cli_reference());
}

#[test]
fn the_cli_reference_covers_every_visible_command_and_flag() {
    let page = cli_reference();
    let mut cmd = Cli::command();
    cmd.build();
    fn walk(cmd: &clap::Command, path: &str, page: &str, seen: &mut usize) {
        assert!(
            page.contains(&format!("## `{path}`")),
            "{path} has no section"
        );
        *seen += 1;
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(l) = arg.get_long().filter(|l| !matches!(*l, "help" | "version")) {
                assert!(page.contains(&format!("--{l}")), "{path} --{l} is missing");
            }
        }
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            walk(sub, &format!("{path} {}", sub.get_name()), page, seen);
        }
    }
    let mut seen = 0;
    walk(&cmd, "clodo", &page, &mut seen);
    assert!(seen > 30, "only {seen} commands: is the walk broken?");
    // Hidden commands (the OpenAPI printer for scripts) stay out.
    assert!(!page.contains("## `clodo openapi`"));
}

// ---------------------------------------------------------------------------------------------
// clodo.toml reference
// ---------------------------------------------------------------------------------------------

/// The schema and helpers to read it.
struct Schema {
    root: Value,
}

impl Schema {
    fn load() -> Self {
        let text = std::fs::read_to_string(root().join("schemas/clodo.schema.json"))
            .expect("schemas/clodo.schema.json");
        Self {
            root: serde_json::from_str(&text).expect("the schema is JSON"),
        }
    }

    /// Follows a local `$ref`, keeping the referring schema's own description and default
    /// (siblings of a `$ref` are annotations in this schema).
    fn resolve<'a>(&'a self, s: &'a Value) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let target = r
                    .strip_prefix('#')
                    .and_then(|p| self.root.pointer(p))
                    .unwrap_or_else(|| panic!("unresolved $ref {r}"));
                self.resolve(target)
            }
            None => s,
        }
    }

    /// A readable type: `string`, `integer (1-100)`, `array of string`, `table`, alternatives
    /// joined by "or".
    fn type_of(&self, s: &Value) -> String {
        let s = self.resolve(s);
        if let Some(options) = s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
        {
            if s.get("type").is_none() && s.get("properties").is_none() {
                let mut kinds: Vec<String> = Vec::new();
                for o in options {
                    let k = self.type_of(o);
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                }
                return kinds.join(" or ");
            }
        }
        if s.get("enum").is_some() && s.get("type").is_none() {
            return "string".into();
        }
        if s.get("const").is_some() {
            return format!("`{}`", toml_value(&s["const"]));
        }
        let base = match s.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
            _ => "any".into(),
        };
        let mut out = match base.as_str() {
            "object" => "table".to_owned(),
            "array" => match s.get("items") {
                Some(items) => format!("array of {}", self.type_of(items)),
                None => "array".into(),
            },
            "number" => "number".into(),
            _ => base,
        };
        let low = match (s.get("minimum"), s.get("exclusiveMinimum")) {
            (Some(a), _) => Some(format!("≥ {a}")),
            (None, Some(a)) => Some(format!("> {a}")),
            (None, None) => None,
        };
        let high = s.get("maximum").map(|b| format!("≤ {b}"));
        let range = match (low, high) {
            (Some(l), Some(h)) => Some(format!("{l}, {h}")),
            (l, h) => l.or(h),
        };
        if let Some(r) = range {
            let _ = write!(out, " ({r})");
        }
        out
    }

    /// The values a key allows, when the schema lists them.
    fn allowed(&self, s: &Value) -> String {
        let s = self.resolve(s);
        if let Some(items) = s.get("items") {
            // An array's allowed values are its items'.
            return self.allowed(items);
        }
        let mut values: Vec<String> = Vec::new();
        if let Some(Value::Array(e)) = s.get("enum") {
            values.extend(e.iter().map(|v| format!("`{}`", toml_value(v))));
        }
        if let Some(options) = s
            .get("oneOf")
            .or_else(|| s.get("anyOf"))
            .and_then(Value::as_array)
        {
            for o in options {
                let o = self.resolve(o);
                if let Some(c) = o.get("const") {
                    values.push(format!("`{}`", toml_value(c)));
                } else if let Some(Value::Array(e)) = o.get("enum") {
                    values.extend(e.iter().map(|v| format!("`{}`", toml_value(v))));
                } else if let Some(Value::Object(props)) = o.get("properties") {
                    // An inline-table alternative: its keys and their types.
                    let keys: Vec<String> = props
                        .iter()
                        .map(|(k, v)| format!("{k} = {}", self.type_of(v).replace('`', "")))
                        .collect();
                    values.push(format!("`{{ {} }}`", keys.join(", ")));
                }
            }
        }
        if let Some(Value::Array(examples)) = s.get("examples") {
            // A documented example reads better than the pattern that checks it.
            let e: Vec<String> = examples
                .iter()
                .map(|v| format!("`{}`", toml_value(v)))
                .collect();
            values.push(format!("e.g. {}", e.join(", ")));
        } else if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            values.push(format!("matching `{p}`"));
        }
        values.join(", ")
    }
}

/// A JSON value as it is written in TOML.
fn toml_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The description of a property: its own, or its target's through a `$ref`.
fn description(schema: &Schema, s: &Value) -> String {
    s.get("description")
        .and_then(Value::as_str)
        .map(ToOwned::to_owned)
        .or_else(|| {
            schema
                .resolve(s)
                .get("description")
                .and_then(Value::as_str)
                .map(ToOwned::to_owned)
        })
        .unwrap_or_default()
}

fn default_of(schema: &Schema, s: &Value) -> String {
    s.get("default")
        .or_else(|| schema.resolve(s).get("default"))
        .map(|d| format!("`{}`", toml_value(d)))
        .unwrap_or_default()
}

/// The object schema a table is described by: itself, or (for `oneOf` a string or a table)
/// its table option.
fn table_schema<'a>(schema: &'a Schema, s: &'a Value) -> Option<&'a Value> {
    let s = schema.resolve(s);
    if s.get("properties").is_some() {
        return Some(s);
    }
    s.get("oneOf")
        .or_else(|| s.get("anyOf"))
        .and_then(Value::as_array)
        .and_then(|os| {
            os.iter()
                .map(|o| schema.resolve(o))
                .find(|o| o.get("properties").is_some())
        })
}

/// One table's section: its keys in a table, then its sub-tables as their own sections.
fn render_table(
    out: &mut String,
    schema: &Schema,
    rendered: &mut Vec<(String, String)>,
    (path, header): (&str, &str),
    s: &Value,
    intro: &str,
) {
    let Some(table) = table_schema(schema, s) else {
        return;
    };
    let _ = writeln!(out, "## {header}\n");
    let text = if intro.is_empty() {
        description(schema, s)
    } else {
        intro.to_owned()
    };
    if !text.is_empty() {
        let _ = writeln!(out, "{}\n", text.trim());
    }
    let required: Vec<&str> = table
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(Value::Array(options)) = table.get("anyOf") {
        out.push_str("At least one of these holds:\n\n");
        for o in options {
            let needs: Vec<String> = o
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(|k| format!("`{k}`"))
                        .collect()
                })
                .unwrap_or_default();
            let what = o.get("description").and_then(Value::as_str).unwrap_or("");
            let kind = o
                .pointer("/properties/kind/const")
                .map(|k| format!(" (`kind = {}`)", toml_value(k)))
                .unwrap_or_default();
            let label = format!("{}{kind}", what.trim_end_matches('.'));
            let label = label.trim();
            if label.is_empty() {
                let _ = writeln!(out, "- {} is set", needs.join(" and "));
            } else {
                let _ = writeln!(out, "- {label}: {} set", needs.join(" and "));
            }
        }
        out.push('\n');
    }
    let props: &Map<String, Value> = table["properties"].as_object().expect("properties");
    out.push_str("| key | type | required | default | allowed values | description |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    let mut nested = Vec::new();
    for (key, p) in props {
        let resolved = schema.resolve(p);
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        // A sub-table (or array of tables) gets its own section below, once per definition:
        // `[env.NAME.deploy]` points at `[deploy]` instead of repeating it.
        // Only values that are tables themselves get a section; alternatives (a string or an
        // inline table) are listed in the row's allowed values instead.
        let is_table = |v: &Value| schema.resolve(v).get("properties").is_some();
        let (section, body) = match resolved.get("items") {
            Some(items) if is_table(items) => (format!("`[[{child}]]`"), items),
            Some(_) => (String::new(), resolved),
            None if is_table(resolved) => (format!("`[{child}]`"), resolved),
            None => (String::new(), resolved),
        };
        let mut text = description(schema, p);
        if !section.is_empty() {
            let reference = body
                .get("$ref")
                .or_else(|| p.get("$ref"))
                .and_then(Value::as_str)
                .map(ToOwned::to_owned);
            let earlier = reference
                .as_ref()
                .and_then(|r| rendered.iter().find(|(seen, _)| seen == r))
                .map(|(_, at)| at.clone());
            let target = earlier.clone().unwrap_or_else(|| section.clone());
            if !text.is_empty() {
                text.push(' ');
            }
            let _ = write!(text, "Keys: [{target}](#{}).", anchor(&target));
            if earlier.is_none() {
                if let Some(r) = reference {
                    rendered.push((r, section.clone()));
                }
                nested.push((child, section, body, description(schema, p)));
            }
        }
        let _ = writeln!(
            out,
            "| `{key}` | {} | {} | {} | {} | {} |",
            cell(&schema.type_of(p)),
            if required.contains(&key.as_str()) {
                "yes"
            } else {
                ""
            },
            cell(&default_of(schema, p)),
            cell(&schema.allowed(p)),
            cell(&text)
        );
    }
    out.push('\n');
    for (child, section, body, text) in nested {
        render_table(out, schema, rendered, (&child, &section), body, &text);
    }
}

/// docs/config-reference.md, from schemas/clodo.schema.json.
fn config_reference() -> String {
    let schema = Schema::load();
    let root = &schema.root;
    let mut out = String::new();
    out.push_str("# `clodo.toml` reference\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from schemas/clodo.schema.json by tests/docs_reference.rs: do not edit.\n     Regenerate: {REGENERATE} -->\n"
    );
    let _ = writeln!(
        out,
        "Every table and key of `clodo.toml`, generated from its JSON Schema \
         ([`schemas/clodo.schema.json`](../schemas/clodo.schema.json), which a unit test keeps in \
         step with the parser). The guide with examples is [config.md](config.md).\n\n{}\n",
        root["description"].as_str().unwrap_or_default()
    );
    out.push_str(
        "Sections are named by their TOML headers: `[deploy]` is a table, `[[health_checks]]` \
         an array of tables (one header per entry), `NAME` a name you choose. A table can also \
         be written inline (`deploy = { strategy = \"gradual\" }`).\n\n",
    );
    // The top level.
    let mut rendered = Vec::new();
    render_table(
        &mut out,
        &schema,
        &mut rendered,
        ("", "Top level"),
        root,
        "The keys at the top of the file, before any table. `services` and `env` are described \
         below the tables they lead to: [`[[services]]`](#services), \
         [`[services.NAME]`](#servicesname), [`[env.NAME]`](#envname).",
    );
    // `services` is an array of tables or a table of named tables (a `oneOf` the walk above
    // does not descend into): both forms get a section.
    let entry = serde_json::json!({ "$ref": "#/$defs/service" });
    render_table(
        &mut out,
        &schema,
        &mut rendered,
        ("services", "`[[services]]`"),
        &entry,
        "A `[[services]]` entry: one Worker (its wrangler config) or one Pages project.",
    );
    let services = &root["properties"]["services"];
    if let Some(named) = services
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|os| os.iter().find(|o| o.get("additionalProperties").is_some()))
    {
        render_table(
            &mut out,
            &schema,
            &mut rendered,
            ("services.NAME", "`[services.NAME]`"),
            &named["additionalProperties"],
            "The `[services.NAME]` form of a service: the same keys as `[[services]]`, the table's key is the name.",
        );
    }
    if let Some(env) = root["properties"]["env"].get("additionalProperties") {
        let env = schema.resolve(env).clone();
        render_table(
            &mut out,
            &schema,
            &mut rendered,
            ("env.NAME", "`[env.NAME]`"),
            &env,
            "Per-environment settings (`NAME` is the environment, as in `clodo deploy --env NAME`).",
        );
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[test]
fn the_config_reference_is_generated_from_the_json_schema() {
    check_in_sync("docs/config-reference.md", &config_reference());
}

#[test]
fn the_config_reference_covers_every_key_of_the_schema() {
    let page = config_reference();
    let schema = Schema::load();
    let mut keys = 0;
    let mut stack = vec![&schema.root];
    let mut seen_defs = Vec::new();
    while let Some(s) = stack.pop() {
        for (key, p) in s
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            keys += 1;
            // A key of an inline-table alternative (`{ pause = … }`) is listed in its row.
            assert!(
                page.contains(&format!("| `{key}` |")) || page.contains(&format!("{key} = ")),
                "key `{key}` is missing"
            );
            stack.push(p);
        }
        for child in ["items", "additionalProperties"] {
            if let Some(c) = s.get(child).filter(|c| c.is_object()) {
                stack.push(c);
            }
        }
        for options in ["oneOf", "anyOf"] {
            for o in s
                .get(options)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                stack.push(o);
            }
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            if !seen_defs.contains(&r) {
                seen_defs.push(r);
                stack.push(schema.resolve(s));
            }
        }
    }
    assert!(keys > 40, "only {keys} keys: is the walk broken?");
}

#[test]
fn a_stale_page_fails_with_the_command_that_regenerates_it() {
    if std::env::var_os("CLODO_UPDATE_DOCS").is_some() {
        return; // the check writes instead of comparing then
    }
    let outcome = std::panic::catch_unwind(|| {
        check_in_sync("target/docs-reference-absent.md", "# generated\n");
    });
    let message = outcome
        .expect_err("a page that differs must fail")
        .downcast::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("is out of date"), "{message}");
    assert!(message.contains(REGENERATE), "{message}");
}

// ---------------------------------------------------------------------------------------------
// API reference
// ---------------------------------------------------------------------------------------------

/// The schema name a `$ref` (or an array of one) points at, for a table cell.
fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("`{name}`");
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") {
        return format!("array of {}", schema_name(&schema["items"]));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some(t) => format!("`{t}`"),
        None => "JSON".to_owned(),
    }
}

/// The body a request or response carries: its schema by name, or its media type.
fn content_of(content: &Value) -> String {
    let Some(map) = content.as_object() else {
        return "–".to_owned();
    };
    map.iter()
        .map(|(media, v)| match v.get("schema") {
            Some(schema) if media == "application/json" => schema_name(schema),
            _ => format!("`{media}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// docs/api-reference.md, from the committed OpenAPI document (itself generated from the
/// contract types and checked by `api::openapi`'s tests).
fn api_reference() -> String {
    let text =
        std::fs::read_to_string(root().join("docs/openapi.json")).expect("docs/openapi.json");
    let doc: Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    let mut out = String::new();
    out.push_str("# API reference\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from docs/openapi.json by tests/docs_reference.rs: do not edit.\n     Regenerate: {REGENERATE} -->\n"
    );
    out.push_str(
        "Every operation of the control plane's API, generated from its OpenAPI document \
         ([openapi.json](openapi.json), also served at `GET /api/v1/openapi.json`; a test \
         fails when this page and the document differ). Concepts, authentication, errors, \
         idempotency and examples are in [api.md](api.md). Every request sends \
         `Authorization: Bearer <token>`; a state-changing one may send `Idempotency-Key`.\n\n",
    );
    // Grouped by the first path segment after /api/v1/ (deployments, projects, …).
    let mut groups: std::collections::BTreeMap<String, Vec<(String, String, Value)>> =
        std::collections::BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let group = match path.strip_prefix("/api/v1/") {
            Some(rest) => rest.split('/').next().unwrap_or(rest).to_owned(),
            None => "health".to_owned(), // /healthz, /readyz: outside the versioned API
        };
        for (method, op) in ops.as_object().expect("operations") {
            if op.get("responses").is_none() {
                continue; // path-level parameters, not an operation
            }
            groups.entry(group.clone()).or_default().push((
                method.to_uppercase(),
                path.clone(),
                op.clone(),
            ));
        }
    }
    out.push_str("| group | operations |\n| --- | --- |\n");
    for (group, ops) in &groups {
        let _ = writeln!(out, "| [{group}](#{}) | {} |", anchor(group), ops.len());
    }
    out.push('\n');
    for (group, ops) in &groups {
        let _ = writeln!(out, "## {group}\n");
        for (method, path, op) in ops {
            let _ = writeln!(out, "### `{method} {path}`\n");
            if let Some(summary) = op.get("summary").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", summary.trim());
            }
            if let Some(description) = op.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", description.trim());
            }
            let schemes: Vec<&str> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|o| o.keys().map(String::as_str))
                .collect();
            let role = match op.get("x-clodo-min-role").and_then(Value::as_str) {
                Some(role) => format!("{role} (team API token)"),
                None if schemes.contains(&"bootstrap") => {
                    "operator (the `CLODO_BOOTSTRAP_TOKEN` secret)".to_owned()
                }
                None => "none (no token)".to_owned(),
            };
            let _ = writeln!(out, "- Role: {role}");
            let params: Vec<String> = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?;
                    let place = p.get("in")?.as_str()?;
                    let required = p.get("required").and_then(Value::as_bool) == Some(true);
                    Some(format!(
                        "`{name}` ({place}{})",
                        if required { ", required" } else { "" }
                    ))
                })
                .collect();
            if !params.is_empty() {
                let _ = writeln!(out, "- Parameters: {}", params.join(", "));
            }
            if let Some(body) = op.get("requestBody") {
                let _ = writeln!(out, "- Body: {}", content_of(&body["content"]));
            }
            let mut answers = Vec::new();
            for (status, response) in op["responses"].as_object().expect("responses") {
                let content = response.get("content").map(content_of);
                answers.push(match content {
                    Some(c) if status.starts_with('2') => format!("{status} {c}"),
                    _ => status.clone(),
                });
            }
            let _ = writeln!(out, "- Answers: {}\n", answers.join(", "));
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[test]
fn the_api_reference_is_generated_from_the_openapi_document() {
    check_in_sync("docs/api-reference.md", &api_reference());
}

#[test]
fn the_api_reference_names_every_operation_once() {
    let page = api_reference();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/openapi.json")).unwrap())
            .unwrap();
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if op.get("responses").is_none() {
                continue;
            }
            operations += 1;
            let heading = format!("### `{} {path}`\n", method.to_uppercase());
            assert_eq!(page.matches(&heading).count(), 1, "{heading}");
        }
    }
    assert!(
        operations > 80,
        "only {operations} operations: is the walk broken?"
    );
}
