//! Secrets, script and version settings, the workers.dev subdomain and cron schedules.

use super::*;

#[derive(Deserialize)]
pub struct SecretBody {
    name: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(rename = "type", default = "secret_text")]
    secret_type: String,
}

pub fn secret_text() -> String {
    "secret_text".into()
}

/// A secret change makes and deploys a new version, which is only allowed when the latest version
/// is the one fully deployed (else 10215).
pub fn redeploy_with_secrets(
    script: &mut Script,
    source: &str,
    author_email: &str,
) -> Result<(), SandboxError> {
    let Some(latest) = script.versions.last() else {
        return Ok(());
    };
    let serving_only_latest = script
        .active_deployment()
        .is_some_and(|d| d.versions.len() == 1 && d.versions[0].version_id == latest.id);
    if !serving_only_latest {
        return Err(SandboxError::rejected(
            400,
            10215,
            "Secret edit failed. You attempted to modify a secret, but the latest version of your Worker isn't currently deployed. Please ensure that the latest version of your Worker is fully deployed (wrangler versions deploy) before modifying secrets.",
        ));
    }
    let mut next = latest.clone();
    next.bindings.retain(|b| {
        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
        kind != "secret_text" && kind != "secret_key"
    });
    for secret in &script.secrets {
        next.bindings
            .push(json!({ "type": secret.secret_type, "name": secret.name }));
    }
    next.id = uuid_id();
    next.number = latest.number + 1;
    next.created_on = now_rfc3339();
    next.source = source.to_string();
    next.author_email = author_email.to_string();
    next.etag = hex_id();
    next.annotations = BTreeMap::from([("workers/triggered_by".to_string(), "secret".to_string())]);
    let id = next.id.clone();
    script.versions.push(next);
    push_deployment(
        script,
        vec![DeploymentVersion {
            version_id: id,
            percentage: 100.0,
        }],
        BTreeMap::new(),
        source,
        author_email,
    );
    Ok(())
}

pub async fn put_secret(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: SecretBody = req.json()?;
    if !valid_secret_name(&body.name) {
        return Err(invalid(format!("Invalid secret name {:?}", body.name)));
    }
    if body.secret_type == "secret_text" && body.text.is_none() {
        return Err(invalid("A secret_text secret needs text"));
    }
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let mut changed = script.clone();
            merge_secrets(
                &mut changed,
                &[Secret {
                    name: body.name.clone(),
                    secret_type: body.secret_type.clone(),
                }],
            );
            redeploy_with_secrets(&mut changed, source, &author(t))?;
            *st.script_mut(a, s).ok_or_else(script_not_found)? = changed;
            Ok(Reply::ok(
                json!({ "name": body.name, "type": body.secret_type }),
            ))
        })
        .await
}

pub async fn delete_secret(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
    name: &str,
) -> Result<Reply, SandboxError> {
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            if !script.secrets.iter().any(|x| x.name == name) {
                return Err(secret_not_found(name));
            }
            let mut changed = script.clone();
            changed.secrets.retain(|x| x.name != name);
            redeploy_with_secrets(&mut changed, source, &author(t))?;
            *st.script_mut(a, s).ok_or_else(script_not_found)? = changed;
            Ok(Reply::ok(Value::Null))
        })
        .await
}

#[derive(Deserialize)]
pub struct SecretsBulkBody {
    secrets: BTreeMap<String, Option<Value>>,
}

pub fn valid_secret_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `PATCH …/secrets-bulk`: a JSON merge patch of secrets (`null` deletes), applied as one new
/// deployed version.
pub async fn patch_secrets_bulk(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: SecretsBulkBody = req.json()?;
    if let Some(bad) = body.secrets.keys().find(|n| !valid_secret_name(n)) {
        return Err(invalid(format!("Invalid secret name {bad:?}")));
    }
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let mut changed = st.script(a, s).ok_or_else(script_not_found)?.clone();
            for (name, value) in &body.secrets {
                match value {
                    None => changed.secrets.retain(|x| x.name != *name),
                    Some(v) => {
                        let secret_type = v
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or("secret_text");
                        merge_secrets(
                            &mut changed,
                            &[Secret {
                                name: name.clone(),
                                secret_type: secret_type.to_string(),
                            }],
                        );
                    }
                }
            }
            redeploy_with_secrets(&mut changed, source, &author(t))?;
            let secrets = json!(changed.secrets);
            *st.script_mut(a, s).ok_or_else(script_not_found)? = changed;
            Ok(Reply::ok(secrets))
        })
        .await
}

#[derive(Deserialize)]
pub struct LatestVersionPatch {
    #[serde(default)]
    env: BTreeMap<String, Option<Value>>,
    #[serde(default)]
    annotations: BTreeMap<String, Option<String>>,
}

/// `PATCH …/workers/workers/{s}/versions/latest`: a new version from the latest one with `env`
/// bindings merged in (`null` removes), not deployed; 10222 when the Worker has no versions.
pub async fn patch_latest_version(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let patch: LatestVersionPatch = req.json()?;
    for (name, value) in &patch.env {
        if !valid_secret_name(name) {
            return Err(invalid(format!("Invalid binding name {name:?}")));
        }
        if let Some(v) = value {
            if v.get("type").and_then(Value::as_str).is_none() {
                return Err(invalid(format!("env.{name} needs a type")));
            }
        }
    }
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let latest = script
                .versions
                .last()
                .ok_or_else(|| SandboxError::rejected(404, 10222, "This Worker has no versions"))?;
            let mut next = latest.clone();
            let mut secrets = script.secrets.clone();
            for (name, value) in &patch.env {
                next.bindings
                    .retain(|b| b.get("name").and_then(Value::as_str) != Some(name));
                secrets.retain(|x| x.name != *name);
                let Some(v) = value else { continue };
                let kind = v.get("type").and_then(Value::as_str).unwrap_or_default();
                if kind == "secret_text" || kind == "secret_key" {
                    secrets.push(Secret {
                        name: name.clone(),
                        secret_type: kind.to_string(),
                    });
                    next.bindings.push(json!({ "type": kind, "name": name }));
                } else {
                    let mut binding = v.clone();
                    binding["name"] = json!(name);
                    next.bindings.push(binding);
                }
            }
            next.id = uuid_id();
            next.number = latest.number + 1;
            next.created_on = now_rfc3339();
            next.source = source.to_string();
            next.author_email = author(t);
            next.etag = hex_id();
            next.annotations = patch
                .annotations
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            next.annotations
                .entry("workers/triggered_by".into())
                .or_insert_with(|| "secret".into());
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            script.secrets = secrets;
            script.versions.push(next);
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let version = script.versions.last().ok_or_else(script_not_found)?;
            Ok(Reply::ok(version_json(script, version)))
        })
        .await
}

pub async fn patch_script_settings(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: Value = req.json()?;
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("script-settings must be a JSON object"))?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            if let Some(v) = obj.get("logpush") {
                script.logpush = v.as_bool().unwrap_or(false);
            }
            if let Some(v) = obj.get("tags") {
                script.tags = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            if let Some(v) = obj.get("observability") {
                script.observability = Some(v.clone()).filter(|v| !v.is_null());
            }
            if let Some(v) = obj.get("tail_consumers") {
                script.tail_consumers = Some(v.clone()).filter(|v| !v.is_null());
            }
            Ok(Reply::ok(script_settings_json(script)))
        })
        .await
}

#[derive(Deserialize)]
pub struct SubdomainBody {
    enabled: bool,
    #[serde(default)]
    previews_enabled: Option<bool>,
}

pub async fn post_script_subdomain(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: SubdomainBody = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            if body.enabled
                && st
                    .account(a)
                    .and_then(|x| x.workers_subdomain.as_ref())
                    .is_none()
            {
                return Err(SandboxError::not_found(
                    10007,
                    "This account does not have a workers.dev subdomain.",
                ));
            }
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            script.workers_dev_enabled = body.enabled;
            script.previews_enabled = body.previews_enabled.unwrap_or(body.enabled);
            Ok(Reply::ok(subdomain_json(script)))
        })
        .await
}

#[derive(Deserialize)]
pub struct CronBody {
    cron: String,
}

pub async fn put_schedules(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: Vec<CronBody> = req.json()?;
    for c in &body {
        if c.cron.split_whitespace().count() != 5 {
            return Err(invalid(format!("Invalid cron expression {:?}", c.cron)));
        }
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            let now = now_rfc3339();
            script.schedules = body
                .iter()
                .map(|c| Schedule {
                    cron: c.cron.clone(),
                    created_on: now.clone(),
                    modified_on: now.clone(),
                })
                .collect();
            Ok(Reply::ok(json!({ "schedules": script.schedules })))
        })
        .await
}
