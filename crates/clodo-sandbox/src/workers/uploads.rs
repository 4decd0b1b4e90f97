//! Multipart Worker uploads: parsing, handler detection, binding checks and building a version.

use super::*;

/// A parsed multipart Worker upload.
#[derive(Debug, Default)]
pub struct Upload {
    pub metadata: Value,
    pub modules: Vec<Module>,
    pub main_module: Option<String>,
    pub bindings: Vec<Value>,
    pub keep_bindings: Vec<String>,
    pub migrations: Option<Value>,
    pub annotations: BTreeMap<String, String>,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
    pub usage_model: Option<String>,
    /// Secrets set by this upload (`secret_text` bindings), values dropped.
    pub secrets: Vec<Secret>,
    pub handlers: Vec<String>,
    pub named_handlers: Vec<Value>,
    /// `?bindings_inherit=strict`: an inherited binding must exist on the current version.
    pub strict_bindings: bool,
    /// Who uploaded it (`wrangler` or `api`), as the dashboard shows it.
    pub source: &'static str,
}

/// Named entrypoints a module exports: `export class X extends WorkerEntrypoint` (an RPC
/// entrypoint) or `extends DurableObject`, as `{name, handlers}` the way Cloudflare lists them.
pub fn detect_named_handlers(source: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices("export class ") {
        let rest = &source[at + "export class ".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        let header = rest[name.len()..].split('{').next().unwrap_or_default();
        let base = header.trim().strip_prefix("extends").map(str::trim);
        let handlers = match base {
            Some("WorkerEntrypoint") => vec!["fetch"],
            Some("DurableObject") => vec!["fetch", "alarm"],
            _ => continue,
        };
        if !name.is_empty() {
            found.push(json!({ "name": name, "handlers": handlers }));
        }
    }
    found
}

/// Handlers a module exports, read from its source (the sandbox does not run code).
pub fn detect_handlers(source: &str) -> Vec<String> {
    ["fetch", "scheduled", "queue", "email", "tail", "trace"]
        .iter()
        .filter(|h| {
            [format!("{h}("), format!("{h}:"), format!("async {h}")]
                .iter()
                .any(|needle| source.contains(needle.as_str()))
        })
        .map(|h| h.to_string())
        .collect()
}

/// The parts of a multipart upload (a Worker's or a Pages deployment's), refused over
/// [`UPLOAD_LIMIT`] with Cloudflare's 10027, and with `not_multipart` when it is not multipart.
pub fn upload_parts(
    req: &ApiRequest,
    not_multipart: &str,
) -> Result<Vec<multipart::Part>, SandboxError> {
    if req.body.len() > UPLOAD_LIMIT {
        return Err(SandboxError::BodyTooLarge {
            limit: UPLOAD_LIMIT,
            code: 10027,
        });
    }
    let boundary = req
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(|| invalid(not_multipart))?;
    multipart::parse(&req.body, &boundary)
}

/// Parses the upload body: a `metadata` JSON part plus module parts.
pub fn parse_upload(req: &ApiRequest) -> Result<Upload, SandboxError> {
    let parts = upload_parts(
        req,
        "Worker uploads must be multipart/form-data with a metadata part",
    )?;
    let metadata_part = parts
        .iter()
        .find(|p| p.name == "metadata")
        .ok_or_else(|| invalid("The upload has no metadata part"))?;
    let mut metadata: Value = serde_json::from_slice(&metadata_part.data)
        .map_err(|e| invalid(format!("The metadata part is not valid JSON: {e}")))?;
    if !metadata.is_object() {
        return Err(invalid("The metadata part must be a JSON object"));
    }
    let main_module = metadata
        .get("main_module")
        .or_else(|| metadata.get("body_part"))
        .and_then(Value::as_str)
        .map(String::from);
    let modules: Vec<Module> = parts
        .iter()
        .filter(|p| p.name != "metadata")
        .map(|p| Module {
            name: p.name.clone(),
            content_type: p.content_type.clone().unwrap_or_default(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(&p.data),
        })
        .collect();
    let main = main_module
        .as_deref()
        .ok_or_else(|| invalid("metadata needs main_module (ES modules) or body_part"))?;
    let main_part = parts
        .iter()
        .find(|p| p.name == main)
        .ok_or_else(|| invalid(format!("No such module \"{main}\" in the upload")))?;
    let handlers = detect_handlers(&String::from_utf8_lossy(&main_part.data));
    let named_handlers = detect_named_handlers(&String::from_utf8_lossy(&main_part.data));

    let mut secrets = Vec::new();
    let mut bindings = Vec::new();
    for binding in metadata
        .get("bindings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let kind = binding
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = binding
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || kind.is_empty() {
            return Err(invalid("Every binding needs a type and a name"));
        }
        let mut kept = binding.clone();
        if kind == "secret_text" || kind == "secret_key" {
            secrets.push(Secret {
                name: name.to_string(),
                secret_type: kind.to_string(),
            });
            if let Some(obj) = kept.as_object_mut() {
                obj.retain(|k, _| k == "type" || k == "name");
            }
        }
        bindings.push(kept);
    }
    // Never keep secret values, not even inside the stored metadata.
    if let Some(b) = metadata.get_mut("bindings") {
        *b = Value::Array(bindings.clone());
    }
    let mut annotations = BTreeMap::new();
    if let Some(obj) = metadata.get("annotations").and_then(Value::as_object) {
        for (k, v) in obj {
            if let Some(s) = v.as_str() {
                annotations.insert(k.clone(), s.to_string());
            }
        }
    }
    if annotations
        .get("workers/message")
        .is_some_and(|m| m.len() > 1000)
    {
        return Err(invalid("workers/message must be at most 1000 bytes"));
    }
    if annotations
        .get("workers/tag")
        .is_some_and(|m| m.len() > 100)
    {
        return Err(invalid("workers/tag must be at most 100 bytes"));
    }
    let strings = |key: &str| string_list(&metadata, key);
    Ok(Upload {
        keep_bindings: strings("keep_bindings"),
        compatibility_flags: strings("compatibility_flags"),
        compatibility_date: metadata
            .get("compatibility_date")
            .and_then(Value::as_str)
            .map(String::from),
        usage_model: metadata
            .get("usage_model")
            .and_then(Value::as_str)
            .map(String::from),
        migrations: metadata.get("migrations").filter(|m| !m.is_null()).cloned(),
        main_module,
        modules,
        bindings,
        annotations,
        secrets,
        handlers,
        named_handlers,
        strict_bindings: req.query.get("bindings_inherit") == Some("strict"),
        source: req.source(),
        metadata,
    })
}

/// Checks that every binding points at something that exists in the account.
pub fn check_bindings(
    st: &State,
    a: &str,
    script_name: &str,
    bindings: &[Value],
) -> Result<(), SandboxError> {
    for b in bindings {
        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
        let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
        let field = |key: &str| b.get(key).and_then(Value::as_str).unwrap_or_default();
        match kind {
            "d1" => {
                let id = field("id");
                if id.is_empty() {
                    return Err(invalid(format!(
                        "binding {name} of type d1 must have a valid `id` specified"
                    )));
                }
                if !st
                    .d1_databases
                    .iter()
                    .any(|d| d.account_id == a && d.uuid == id)
                {
                    return Err(invalid(format!(
                        "binding {name} references D1 database {id}, which does not exist"
                    )));
                }
            }
            "kv_namespace" => {
                let id = field("namespace_id");
                if !st
                    .kv_namespaces
                    .iter()
                    .any(|n| n.account_id == a && n.id == id)
                {
                    return Err(invalid(format!(
                        "binding {name} references KV namespace {id:?}, which does not exist"
                    )));
                }
            }
            "r2_bucket" => {
                let bucket = field("bucket_name");
                let j = b
                    .get("jurisdiction")
                    .and_then(Value::as_str)
                    .unwrap_or("default");
                if !st
                    .r2_buckets
                    .iter()
                    .any(|x| x.account_id == a && x.name == bucket && x.jurisdiction == j)
                {
                    return Err(invalid(format!(
                        "binding {name} references R2 bucket {bucket:?}, which does not exist"
                    )));
                }
            }
            "queue" => {
                let queue = field("queue_name");
                if !st
                    .queues
                    .iter()
                    .any(|q| q.account_id == a && q.queue_name == queue)
                {
                    return Err(invalid(format!("Queue \"{queue}\" does not exist")));
                }
            }
            "service" => {
                let service = field("service");
                if service != script_name && st.script(a, service).is_none() {
                    return Err(SandboxError::rejected(
                        400,
                        10143,
                        format!("Could not resolve service binding '{name}'. Target script '{service}' not found."),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Builds the next version of a script from an upload: resolves `inherit` bindings against an
/// earlier version, carries over `keep_bindings` types, and lists the script's secrets.
pub fn build_version(
    previous: Option<&Script>,
    upload: &Upload,
    strict_inherit: bool,
    source: &str,
    author_email: &str,
    triggered_by: &str,
) -> Result<Version, SandboxError> {
    let latest = previous.and_then(|s| s.versions.last());
    let mut bindings: Vec<Value> = Vec::new();
    for b in &upload.bindings {
        if b.get("type").and_then(Value::as_str) != Some("inherit") {
            bindings.push(b.clone());
            continue;
        }
        let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
        let old_name = b.get("old_name").and_then(Value::as_str).unwrap_or(name);
        let from = match b.get("version_id").and_then(Value::as_str) {
            None | Some("latest") => latest,
            Some(id) => previous.and_then(|s| s.version(id)),
        };
        let inherited = from.and_then(|v| {
            v.bindings
                .iter()
                .find(|x| x.get("name").and_then(Value::as_str) == Some(old_name))
        });
        match inherited {
            Some(found) => {
                let mut copy = found.clone();
                copy["name"] = json!(name);
                bindings.push(copy);
            }
            None if strict_inherit => {
                return Err(SandboxError::rejected(
                    400,
                    10057,
                    format!("binding '{name}' of type 'inherit' is invalid: no binding '{old_name}' to inherit"),
                ));
            }
            None => {}
        }
    }
    let bound = |bindings: &[Value], name: &str| {
        bindings
            .iter()
            .any(|x| x.get("name").and_then(Value::as_str) == Some(name))
    };
    if let Some(latest) = latest {
        for b in &latest.bindings {
            let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
            let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
            if upload.keep_bindings.iter().any(|k| k == kind) && !bound(&bindings, name) {
                bindings.push(b.clone());
            }
        }
    }
    // Secrets outlive uploads: every secret of the script is bound in every new version.
    for secret in previous.map(|s| s.secrets.as_slice()).unwrap_or_default() {
        if !bound(&bindings, &secret.name) {
            bindings.push(json!({ "type": secret.secret_type, "name": secret.name }));
        }
    }
    let mut annotations = upload.annotations.clone();
    annotations
        .entry("workers/triggered_by".into())
        .or_insert_with(|| triggered_by.to_string());
    Ok(Version {
        id: uuid_id(),
        number: latest.map_or(1, |v| v.number + 1),
        created_on: now_rfc3339(),
        author_email: author_email.to_string(),
        source: source.to_string(),
        annotations,
        bindings,
        compatibility_date: upload.compatibility_date.clone(),
        compatibility_flags: upload.compatibility_flags.clone(),
        usage_model: upload
            .usage_model
            .clone()
            .unwrap_or_else(|| "standard".into()),
        main_module: upload.main_module.clone(),
        handlers: upload.handlers.clone(),
        named_handlers: upload.named_handlers.clone(),
        modules: upload.modules.clone(),
        metadata: Some(upload.metadata.clone()),
        etag: hex_id(),
    })
}

/// The strings of the array at `key` of `object` (other entries skipped); empty when absent.
pub fn string_list(object: &Value, key: &str) -> Vec<String> {
    object
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
