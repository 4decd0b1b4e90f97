//! Consistency tests of the route table and the document: every served route documented and
//! vice versa, refs resolve, error statuses declared, request bodies closed, enums complete.

use super::*;
use std::collections::BTreeSet;

/// Every `.rs` file below `dir`, subfolders included.
fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// (method, path) pairs registered with `.route("path", get(..).post(..))` in the Worker's
/// router sources.
fn registered_routes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for path in rust_files(concat!(env!("CARGO_MANIFEST_DIR"), "/src/worker").as_ref()) {
        let text = std::fs::read_to_string(path).unwrap();
        for chunk in text.split(".route(").skip(1) {
            let Some(path) = chunk.split('"').nth(1) else {
                continue;
            };
            // The route call's own arguments: up to the `)` closing `.route(`.
            let mut depth = 1usize;
            let end = chunk
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(chunk.len(), |(i, _)| i);
            let body = &chunk[..end];
            for method in ["get", "post", "put", "delete", "patch"] {
                let needle = format!("{method}(");
                let hit = body.match_indices(&needle).any(|(i, _)| {
                    i == 0
                        || !body.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && body.as_bytes()[i - 1] != b'_'
                });
                if hit {
                    out.insert((method.to_owned(), path.to_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn every_route_is_in_the_spec_and_every_spec_route_is_served() {
    let served = registered_routes();
    let spec: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&spec).collect();
    let stale: Vec<_> = spec.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes served but not in openapi::ROUTES: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "routes in openapi::ROUTES that are not served: {stale:?}"
    );
}

#[test]
fn document_is_openapi_3_1_with_path_params() {
    let doc = document("0.1.0");
    assert_eq!(doc["openapi"], "3.1.0");
    let op = &doc["paths"]["/api/v1/deployments/{deployment_id}"]["get"];
    assert_eq!(op["parameters"][0]["name"], "deployment_id");
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
    let count: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_object().unwrap().len())
        .sum();
    assert_eq!(count, ROUTES.len());
}

/// Every `"$ref"` string anywhere in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves_to_a_component() {
    let doc = document("0.1.0");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50, "{}", found.len());
    for target in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {target}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "$ref {target} does not resolve"
        );
    }
}

#[test]
fn every_operation_declares_its_success_and_the_shared_error_statuses() {
    let doc = document("0.1.0");
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method];
        let responses = op["responses"].as_object().unwrap();
        let declared: BTreeSet<u16> = responses.keys().map(|k| k.parse().unwrap()).collect();
        let name = format!("{} {}", route.method, route.path);
        assert!(!declared.contains(&0), "{name}");
        assert!(
            declared.iter().any(|s| (100..300).contains(s)),
            "{name}: no success status"
        );
        for status in [500, 503] {
            assert!(declared.contains(&status), "{name}: no {status}");
        }
        if route.role.is_some() {
            assert!(declared.is_superset(&BTreeSet::from([401, 403])), "{name}");
            assert_eq!(op["security"], json!([{ "bearer": [] }]), "{name}");
        }
        if op.get("requestBody").is_some() {
            assert!(
                declared.is_superset(&BTreeSet::from([400, 413, 415])),
                "{name}"
            );
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert!(
                    schema == "#/components/schemas/Error"
                        || (route.path == "/readyz" && status == "503"),
                    "{name} {status}: errors use the Error schema"
                );
            }
        }
    }
}

#[test]
fn request_bodies_refuse_unknown_fields_like_the_server() {
    let doc = document("0.1.0");
    // Every body is closed (the rollout start's too: only its settings, no account,
    // Workers or versions).
    let open_bodies: [&str; 0] = [];
    for route in ROUTES {
        let op = &doc["paths"][route.path][route.method];
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
            continue;
        };
        let schema = match schema.get("$ref").and_then(Value::as_str) {
            Some(target) => doc.pointer(target.strip_prefix('#').unwrap()).unwrap(),
            None => schema,
        };
        let closed = schema["additionalProperties"] == json!(false);
        assert_eq!(
            closed,
            !open_bodies.contains(&route.path),
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[test]
fn enums_list_what_the_server_parses() {
    let doc = document("0.1.0");
    let schemas = &doc["components"]["schemas"];
    for role in crate::control::Role::ALL {
        assert!(schemas["Role"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!(role.as_str())));
    }
    let zones = schemas["Window"]["properties"]["timezone"]["enum"]
        .as_array()
        .unwrap();
    assert!(zones.contains(&json!("Europe/Berlin")));
    let resolve = |schema: &Value| match schema["$ref"].as_str() {
        Some(target) => doc
            .pointer(target.strip_prefix('#').unwrap())
            .unwrap()
            .clone(),
        None => schema.clone(),
    };
    let detail = resolve(&schemas["Error"]["properties"]["error"]);
    let codes = resolve(&detail["properties"]["code"])["enum"].clone();
    let codes = codes.as_array().unwrap();
    assert!(codes.contains(&json!("not_found")));
    let command = &doc["paths"]["/api/v1/deployments/{deployment_id}/rollout/{command}"]["post"]
        ["parameters"][1]["schema"]["enum"];
    for c in ["pause", "resume", "promote", "abort"] {
        assert!(crate::rollout::Command::parse(c).is_some());
        assert!(command.as_array().unwrap().contains(&json!(c)), "{c}");
    }
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let committed: Value = serde_json::from_str(DOCUMENT_JSON).expect("docs/openapi.json is JSON");
    assert!(
        committed == document(crate::VERSION),
        "docs/openapi.json is out of date with the route table and contract types: run \
         scripts/gen-api-types.sh and commit it"
    );
}
