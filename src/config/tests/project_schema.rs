//! `schemas/clodo.schema.json` stays in step with the parser, and the example validates.

use serde_json::{Map, Value};

use crate::config::{accepted_keys, tomlsrc};

const SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schemas/clodo.schema.json"
));
const EXAMPLE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/shop/clodo.toml"
));

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

fn toml(text: &str) -> Value {
    tomlsrc::parse(text, "clodo.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

/// Resolves a local `$ref` (`#/$defs/service/properties/config`).
fn follow<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r
                .strip_prefix('#')
                .and_then(|p| root.pointer(p))
                .unwrap_or_else(|| panic!("unresolved $ref {r}"));
            follow(root, target)
        }
        None => s,
    }
}

/// A structural validator for the keywords the schema uses: type, properties,
/// additionalProperties, required, enum, const, items, minItems, contains, minimum,
/// maximum, exclusiveMinimum, minLength, oneOf, anyOf, $ref. `pattern` is left to editors
/// (no regex engine in the pure core); the parser's own tests cover those values.
fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let s = follow(root, schema);
    // Siblings of a `$ref` in this schema are annotations (descriptions, defaults) only.
    let mut fail = |m: String| errors.push(format!("{path}: {m}"));
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "number" => v.is_number(),
            "integer" => v.is_u64() || v.is_i64(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            fail(format!("{v} is not of type {t}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = s.get("enum") {
        if !allowed.contains(v) {
            fail(format!("{v} is not one of {allowed:?}"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            fail(format!("{v} is not {c}"));
        }
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            fail(format!("{x} < {min}"));
        }
    }
    if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if x > max {
            fail(format!("{x} > {max}"));
        }
    }
    if let (Some(min), Some(x)) = (
        s.get("exclusiveMinimum").and_then(Value::as_f64),
        v.as_f64(),
    ) {
        if x <= min {
            fail(format!("{x} <= {min}"));
        }
    }
    if let (Some(min), Some(text)) = (s.get("minLength").and_then(Value::as_u64), v.as_str()) {
        if (text.chars().count() as u64) < min {
            fail(format!("{text:?} is shorter than {min}"));
        }
    }
    if let Value::Object(obj) = v {
        validate_object(root, s, obj, path, errors);
    }
    if let Value::Array(items) = v {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
            if (items.len() as u64) < min {
                errors.push(format!("{path}: fewer than {min} items"));
            }
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(root, item_schema, item, &format!("{path}[{i}]"), errors);
            }
        }
        if let Some(c) = s.get("contains") {
            let any = items.iter().any(|item| {
                let mut e = Vec::new();
                validate(root, c, item, path, &mut e);
                e.is_empty()
            });
            if !any {
                errors.push(format!("{path}: no item matches `contains`"));
            }
        }
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(Value::Array(options)) = s.get(keyword) {
            let passing = options
                .iter()
                .filter(|o| {
                    let mut e = Vec::new();
                    validate(root, o, v, path, &mut e);
                    e.is_empty()
                })
                .count();
            if passing == 0 || (exactly_one && passing > 1) {
                errors.push(format!("{path}: {passing} of the {keyword} options match"));
            }
        }
    }
}

fn validate_object(
    root: &Value,
    s: &Value,
    obj: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<String>,
) {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = s.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                errors.push(format!("{path}: `{r}` is required"));
            }
        }
    }
    for (k, item) in obj {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match (
            props.and_then(|ps| ps.get(k)),
            s.get("additionalProperties"),
        ) {
            (Some(ps), _) => validate(root, ps, item, &p, errors),
            (None, Some(Value::Bool(false))) => {
                errors.push(format!("{path}: unknown key `{k}`"));
            }
            (None, Some(extra)) if extra.is_object() => validate(root, extra, item, &p, errors),
            (None, _) => {}
        }
    }
}

fn errors_of(doc: &Value) -> Vec<String> {
    let root = schema();
    let mut errors = Vec::new();
    validate(&root, &root, doc, "", &mut errors);
    errors
}

#[test]
fn the_schema_is_draft_2020_12() {
    let s = schema();
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["type"], "object");
}

#[test]
fn schema_properties_match_the_parser_keys() {
    let s = schema();
    let table_schema = |table: &str| -> Value {
        let at = match table {
            "" => "",
            "project" => "/properties/project/oneOf/1",
            "services" => "/$defs/service",
            "health_checks" => "/$defs/health_check",
            other => return s["$defs"][other].clone(),
        };
        s.pointer(at).unwrap().clone()
    };
    for (table, keys) in accepted_keys() {
        let ts = table_schema(table);
        let mut in_schema: Vec<&str> = ts["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties for `{table}`"))
            .keys()
            .map(String::as_str)
            .collect();
        let mut in_parser: Vec<&str> = keys.to_vec();
        in_schema.sort_unstable();
        in_parser.sort_unstable();
        assert_eq!(in_schema, in_parser, "table `{table}`");
        assert_eq!(
            ts["additionalProperties"], false,
            "`{table}` flags unknown keys"
        );
    }
    // The [services.NAME] form takes the same keys.
    let named: Vec<&String> = s["$defs"]["named_service"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let entry: Vec<&String> = s["$defs"]["service"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(named, entry);
    // Enumerations agree with the parser's.
    use crate::config::{Metric, Strategy};
    for st in Strategy::ALL {
        assert!(
            s["$defs"]["strategy"]["enum"]
                .as_array()
                .unwrap()
                .contains(&Value::from(st.as_str())),
            "{st}"
        );
    }
    let metrics = &s["$defs"]["analysis"]["properties"]["metric"]["enum"];
    assert_eq!(metrics.as_array().unwrap().len(), Metric::ALL.len());
    for m in Metric::ALL {
        assert!(metrics
            .as_array()
            .unwrap()
            .contains(&Value::from(m.as_str())));
    }
}

#[test]
fn the_example_and_a_full_file_validate() {
    let errors = errors_of(&toml(EXAMPLE));
    assert!(errors.is_empty(), "examples/shop/clodo.toml: {errors:#?}");
    // The example parses too (the schema and the parser agree on it).
    crate::config::parse_project(EXAMPLE, "examples/shop/clodo.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let table_form = toml(
        "\"$schema\" = \"../schemas/clodo.schema.json\"\n[project]\nname = \"x\"\n[services.web]\nconfig = \"web\"\n[env.production.deploy]\nstrategy = \"immediate\"\n",
    );
    assert!(
        errors_of(&table_form).is_empty(),
        "{:?}",
        errors_of(&table_form)
    );
}

#[test]
fn the_validator_catches_what_editors_should_flag() {
    let cases = [
        (
            "project = \"p\"\nservices = [{ name = \"a\" }]\n",
            "services: 0 of the oneOf options match",
        ),
        (
            "project = \"p\"\n[deploy]\nstratgy = \"gradual\"\n",
            "unknown key `stratgy`",
        ),
        (
            "project = \"p\"\n[deploy]\nstrategy = \"canary\"\n",
            "is not one of",
        ),
        (
            "project = \"p\"\n[deploy]\nsteps = [10, 50]\n",
            "no item matches",
        ),
        // A step is a percentage or a gate, so 0 matches neither.
        (
            "project = \"p\"\n[deploy]\nsteps = [0, 100]\n",
            "0 of the oneOf options match",
        ),
        (
            "project = \"p\"\n[deploy]\nsteps = [10, {pause = false}, 100]\n",
            "0 of the oneOf options match",
        ),
        (
            "project = \"p\"\n[[analysis]]\nmetric = \"error_rate\"\n",
            "anyOf",
        ),
        (
            "project = \"p\"\n[[health_checks]]\nurl = \"https://x\"\nexpect_status = 700\n",
            "oneOf",
        ),
        (
            "project = \"p\"\n[env.prod]\nstrategy = \"gradual\"\n",
            "unknown key `strategy`",
        ),
        ("[deploy]\n", "`project` is required"),
    ];
    for (text, fragment) in cases {
        let errors = errors_of(&toml(text));
        assert!(
            errors.iter().any(|e| e.contains(fragment)),
            "{text:?}: {errors:?}"
        );
        // And the parser refuses (or, for a missing project, errors) on each of them too.
        assert!(
            crate::config::parse_project(text, "clodo.toml").is_err(),
            "{text:?}"
        );
    }
}

/// The ```` ```toml clodo.toml ```` blocks of README.md and docs/ (the tagging rule is
/// documented in tests/docs_commands.rs, which also loads them with the parser): each
/// validates against the schema, so what a reader copies is what an editor accepts. A
/// `fragment` gets a `project` in front; an `invalid` block shows a mistake on purpose.
#[test]
fn the_config_snippets_of_the_docs_validate_against_the_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|x| x == "md") {
            files.push(path);
        }
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let mut open: Option<(usize, Vec<String>, usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if let Some(info) = trimmed.strip_prefix("```") {
                if let Some((at, tags, _, body)) = open.take() {
                    let is_clodo = tags.first().is_some_and(|l| l == "toml")
                        && tags.iter().any(|t| t == "clodo.toml");
                    if is_clodo && !tags.iter().any(|t| t == "invalid") {
                        checked += 1;
                        let text = if tags.iter().any(|t| t == "fragment") {
                            format!("project = \"docs-example\"\n{body}")
                        } else {
                            body
                        };
                        for e in errors_of(&toml(&text)) {
                            failures.push(format!("{}:{at}: {e}", file.display()));
                        }
                    }
                } else {
                    let tags = info.split_whitespace().map(ToOwned::to_owned).collect();
                    open = Some((i + 1, tags, indent, String::new()));
                }
                continue;
            }
            if let Some((_, _, indent, body)) = open.as_mut() {
                body.push_str(line.get((*indent).min(line.len())..).unwrap_or(line));
                body.push('\n');
            }
        }
    }
    assert!(checked >= 3, "only {checked} clodo.toml blocks found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
