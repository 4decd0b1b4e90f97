//! JSON views of scripts, services, settings and versions, and the script content endpoints.

use super::*;

pub fn script_json(st: &State, s: &Script) -> Value {
    let current = s.current_version();
    json!({
        "id": s.name,
        "tag": s.tag,
        "etag": current.map(|v| v.etag.clone()),
        "handlers": current.map(|v| v.handlers.clone()).unwrap_or_default(),
        "named_handlers": current.map(|v| v.named_handlers.clone()).unwrap_or_default(),
        "created_on": s.created_on,
        "modified_on": s.modified_on,
        "migration_tag": s.migration_tag,
        "usage_model": current.map_or("standard".to_string(), |v| v.usage_model.clone()),
        "compatibility_date": current.and_then(|v| v.compatibility_date.clone()),
        "compatibility_flags": current.map(|v| v.compatibility_flags.clone()).unwrap_or_default(),
        "last_deployed_from": s.last_deployed_from,
        "tags": s.tags,
        "logpush": s.logpush,
        "has_assets": false,
        "has_modules": current.is_some_and(|v| !v.modules.is_empty()),
        "routes": script_routes(st, &s.account_id, &s.name),
    })
}

pub fn service_json(s: &Script) -> Value {
    let current = s.current_version();
    json!({
        "id": s.name,
        "created_on": s.created_on,
        "modified_on": s.modified_on,
        "default_environment": {
            "environment": "production",
            "created_on": s.created_on,
            "modified_on": s.modified_on,
            "script": {
                "id": s.name,
                "tag": s.tag,
                "tags": s.tags,
                "etag": current.map(|v| v.etag.clone()),
                "handlers": current.map(|v| v.handlers.clone()).unwrap_or_default(),
                "migration_tag": s.migration_tag,
                "last_deployed_from": s.last_deployed_from,
                "compatibility_date": current.and_then(|v| v.compatibility_date.clone()),
                "usage_model": current.map_or("standard".to_string(), |v| v.usage_model.clone()),
                "created_on": s.created_on,
                "modified_on": s.modified_on,
            }
        }
    })
}

pub fn settings_json(s: &Script) -> Value {
    let current = s.current_version();
    json!({
        "bindings": current.map(|v| v.bindings.clone()).unwrap_or_default(),
        "compatibility_date": current.and_then(|v| v.compatibility_date.clone()),
        "compatibility_flags": current.map(|v| v.compatibility_flags.clone()).unwrap_or_default(),
        "usage_model": current.map_or("standard".to_string(), |v| v.usage_model.clone()),
        "logpush": s.logpush,
        "observability": s.observability,
        "tail_consumers": s.tail_consumers,
        "tags": s.tags,
        "placement": {},
        "limits": {},
    })
}

pub fn script_settings_json(s: &Script) -> Value {
    json!({
        "logpush": s.logpush,
        "observability": s.observability,
        "tail_consumers": s.tail_consumers,
        "tags": s.tags,
    })
}

pub fn subdomain_json(s: &Script) -> Value {
    json!({ "enabled": s.workers_dev_enabled, "previews_enabled": s.previews_enabled })
}

pub fn version_json(script: &Script, v: &Version) -> Value {
    json!({
        "id": v.id,
        "number": v.number,
        "metadata": {
            "author_email": v.author_email,
            "author_id": "",
            "created_on": v.created_on,
            "modified_on": v.created_on,
            "source": v.source,
            "hasPreview": false,
        },
        "annotations": v.annotations,
        "resources": {
            "bindings": v.bindings,
            "script": {
                "etag": v.etag,
                "handlers": v.handlers,
                "last_deployed_from": script.last_deployed_from,
            },
            "script_runtime": {
                "compatibility_date": v.compatibility_date,
                "compatibility_flags": v.compatibility_flags,
                "usage_model": v.usage_model,
                "limits": {},
            },
        },
        // The sandbox stores Workers but never runs them, so nothing has a startup cost.
        "startup_time_ms": 0,
    })
}

pub fn decode_module(module: &Module) -> Result<Vec<u8>, SandboxError> {
    base64::engine::general_purpose::STANDARD
        .decode(&module.content_base64)
        .map_err(|e| {
            SandboxError::Persist(format!("stored module {} is corrupt: {e}", module.name))
        })
}

/// `GET …/scripts/{s}/content/v2[?version=]`: every module of a version (default: the one
/// serving most traffic) as `multipart/form-data`, the main module named in `cf-entrypoint`.
pub fn script_content_v2(script: &Script, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let version = match req.query.get("version") {
        Some(id) => script.version(id).ok_or_else(|| version_not_found(id))?,
        None => script
            .current_version()
            .ok_or_else(|| SandboxError::not_found(10222, "This Worker has no deployed content"))?,
    };
    let main = version
        .main_module
        .clone()
        .ok_or_else(|| SandboxError::not_found(10222, "This version has no stored modules"))?;
    let parts = version
        .modules
        .iter()
        .map(|m| {
            Ok(multipart::Part {
                name: m.name.clone(),
                filename: Some(m.name.clone()),
                content_type: Some(m.content_type.clone()).filter(|c| !c.is_empty()),
                data: decode_module(m)?,
            })
        })
        .collect::<Result<Vec<_>, SandboxError>>()?;
    let (body, boundary) = multipart::encode(&parts);
    Ok(Reply::Raw {
        status: 200,
        content_type: format!("multipart/form-data; boundary={boundary}"),
        headers: vec![("cf-entrypoint".into(), main)],
        body,
    })
}

pub fn script_content(script: &Script) -> Result<Reply, SandboxError> {
    let version = script
        .current_version()
        .ok_or_else(|| SandboxError::not_found(10222, "This Worker has no deployed content"))?;
    let main = version
        .main_module
        .as_deref()
        .and_then(|m| version.modules.iter().find(|x| x.name == m))
        .or(version.modules.first())
        .ok_or_else(|| SandboxError::not_found(10222, "This Worker has no deployed content"))?;
    let body = decode_module(main)?;
    Ok(Reply::Raw {
        status: 200,
        content_type: if main.content_type.is_empty() {
            "application/javascript".into()
        } else {
            main.content_type.clone()
        },
        headers: vec![],
        body,
    })
}

pub fn list_versions(script: &Script, req: &ApiRequest) -> Result<Reply, SandboxError> {
    let newest_first: Vec<Value> = script
        .versions
        .iter()
        .rev()
        .map(|v| version_json(script, v))
        .collect();
    if req.query.flag("deployable") {
        // Cloudflare ignores pagination here and returns every deployable version.
        let items: Vec<Value> = newest_first.into_iter().take(DEPLOYABLE_VERSIONS).collect();
        return Ok(Reply::ok(json!({ "items": items })));
    }
    let (page, info) = paginate(&newest_first, page_request(&req.query, 10, 100)?);
    Ok(Reply::page(json!({ "items": page }), info))
}
