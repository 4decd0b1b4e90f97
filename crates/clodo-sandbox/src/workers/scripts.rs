//! Scripts: creating, uploading (with Durable Object migrations) and deleting them.

use super::*;

pub fn author(t: &Token) -> String {
    t.user_email.clone().unwrap_or_default()
}

pub fn new_script(a: &str, name: &str) -> Script {
    let now = now_rfc3339();
    Script {
        account_id: a.to_string(),
        name: name.to_string(),
        tag: hex_id(),
        created_on: now.clone(),
        modified_on: now,
        migration_tag: None,
        last_deployed_from: None,
        tags: vec![],
        logpush: false,
        observability: None,
        tail_consumers: None,
        secrets: vec![],
        workers_dev_enabled: false,
        previews_enabled: false,
        schedules: vec![],
        versions: vec![],
        deployments: vec![],
    }
}

pub fn valid_script_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Adds secrets named by an upload to the script's list (replacing same-named ones).
pub fn merge_secrets(script: &mut Script, secrets: &[Secret]) {
    for secret in secrets {
        script.secrets.retain(|s| s.name != secret.name);
        script.secrets.push(secret.clone());
    }
}

pub fn push_deployment(
    script: &mut Script,
    versions: Vec<DeploymentVersion>,
    annotations: BTreeMap<String, String>,
    source: &str,
    author_email: &str,
) -> Deployment {
    let deployment = Deployment {
        id: uuid_id(),
        created_on: now_rfc3339(),
        source: source.to_string(),
        strategy: "percentage".into(),
        versions,
        annotations,
        author_email: author_email.to_string(),
    };
    script.deployments.push(deployment.clone());
    script.modified_on = deployment.created_on.clone();
    script.last_deployed_from = Some(source.to_string());
    deployment
}

/// The class-level changes of a migration upload, read before anything is mutated.
#[derive(Debug, Default, PartialEq)]
pub struct MigrationPlan {
    pub new_tag: Option<String>,
    pub new_classes: Vec<(String, bool)>,
    pub renamed: Vec<(String, String)>,
    pub deleted: Vec<String>,
}

/// Reads `metadata.migrations` (`{old_tag, new_tag, steps[]}` or a single flat step) and checks
/// its `old_tag` against the script's current tag.
pub fn plan_migrations(
    migrations: &Value,
    current_tag: Option<&str>,
) -> Result<MigrationPlan, SandboxError> {
    if let Some(old) = migrations.get("old_tag").and_then(Value::as_str) {
        if Some(old) != current_tag {
            return Err(SandboxError::rejected(
                400,
                10079,
                format!(
                    "Migration tag precondition failed; the current migration tag is {:?}",
                    current_tag.unwrap_or("")
                ),
            ));
        }
    }
    let steps: Vec<Value> = match migrations.get("steps").and_then(Value::as_array) {
        Some(steps) => steps.clone(),
        None => vec![migrations.clone()],
    };
    let mut plan = MigrationPlan {
        new_tag: migrations
            .get("new_tag")
            .and_then(Value::as_str)
            .map(String::from),
        ..Default::default()
    };
    for step in &steps {
        plan.new_classes.extend(
            string_list(step, "new_classes")
                .into_iter()
                .map(|c| (c, false)),
        );
        plan.new_classes.extend(
            string_list(step, "new_sqlite_classes")
                .into_iter()
                .map(|c| (c, true)),
        );
        plan.deleted.extend(string_list(step, "deleted_classes"));
        for r in step
            .get("renamed_classes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(from), Some(to)) = (
                r.get("from").and_then(Value::as_str),
                r.get("to").and_then(Value::as_str),
            ) {
                plan.renamed.push((from.to_string(), to.to_string()));
            }
        }
    }
    Ok(plan)
}

pub fn apply_migrations(
    st: &mut State,
    a: &str,
    script: &str,
    plan: &MigrationPlan,
) -> Result<(), SandboxError> {
    for (class, _) in &plan.new_classes {
        if st
            .durable_object_namespaces
            .iter()
            .any(|n| n.account_id == a && n.script == script && n.class == *class)
        {
            return Err(SandboxError::rejected(
                400,
                10074,
                format!("Cannot apply new-class migration to class '{class}' that is already depended on"),
            ));
        }
    }
    for (class, sqlite) in &plan.new_classes {
        st.durable_object_namespaces.push(DurableObjectNamespace {
            id: hex_id(),
            account_id: a.to_string(),
            name: format!("{script}_{class}"),
            script: script.to_string(),
            class: class.clone(),
            use_sqlite: *sqlite,
        });
    }
    for (from, to) in &plan.renamed {
        for ns in st
            .durable_object_namespaces
            .iter_mut()
            .filter(|n| n.account_id == a && n.script == script && n.class == *from)
        {
            ns.class = to.clone();
            ns.name = format!("{script}_{to}");
        }
    }
    st.durable_object_namespaces
        .retain(|n| !(n.account_id == a && n.script == script && plan.deleted.contains(&n.class)));
    Ok(())
}

/// `PUT /scripts/{s}`: the non-versioned upload that also deploys at 100% (and applies Durable
/// Object migrations); creates the script when it is new.
pub async fn upload_and_deploy(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let upload = parse_upload(req)?;
    let (strict, source) = (upload.strict_bindings, upload.source);
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            if !valid_script_name(s) {
                return Err(invalid(format!("Invalid Worker name {s:?}")));
            }
            check_bindings(st, a, s, &upload.bindings)?;
            let existing = st.script(a, s);
            let is_new = existing.is_none();
            let plan = match &upload.migrations {
                Some(m) => Some(plan_migrations(
                    m,
                    existing.and_then(|x| x.migration_tag.as_deref()),
                )?),
                None => None,
            };
            let version = build_version(
                existing,
                &upload,
                strict,
                source,
                &author(t),
                if is_new { "create" } else { "upload" },
            )?;
            if let Some(plan) = &plan {
                apply_migrations(st, a, s, plan)?;
            }
            if is_new {
                st.scripts.push(new_script(a, s));
            }
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            if let Some(tag) = plan.and_then(|p| p.new_tag) {
                script.migration_tag = Some(tag);
            }
            merge_secrets(script, &upload.secrets);
            let version_id = version.id.clone();
            script.versions.push(version);
            let annotations = upload
                .annotations
                .get("workers/message")
                .map(|m| BTreeMap::from([("workers/message".to_string(), m.clone())]))
                .unwrap_or_default();
            push_deployment(
                script,
                vec![DeploymentVersion {
                    version_id: version_id.clone(),
                    percentage: 100.0,
                }],
                annotations,
                source,
                &author(t),
            );
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let mut out = script_json(st, script);
            out["deployment_id"] = json!(version_id);
            Ok(Reply::ok(out))
        })
        .await
}

/// `POST /scripts/{s}/versions`: a new version, not deployed. The Worker must exist and the
/// upload may not carry Durable Object migrations (10211).
pub async fn upload_version(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let upload = parse_upload(req)?;
    let (strict, source) = (upload.strict_bindings, upload.source);
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let existing = st.script(a, s).ok_or_else(script_not_found)?;
            if upload.migrations.is_some() {
                return Err(SandboxError::rejected(
                    400,
                    10211,
                    "Version upload failed. You attempted to upload a version of a Worker that includes a Durable Object migration, but migrations must be fully applied by running \"wrangler deploy\".",
                ));
            }
            check_bindings(st, a, s, &upload.bindings)?;
            let version = build_version(Some(existing), &upload, strict, source, &author(t), "upload")?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            merge_secrets(script, &upload.secrets);
            script.versions.push(version);
            let script = st.script(a, s).ok_or_else(script_not_found)?;
            let version = script.versions.last().ok_or_else(script_not_found)?;
            Ok(Reply::ok(version_json(script, version)))
        })
        .await
}

pub async fn delete_script(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = find_script(st, a, s)?;
            let tag = script.tag.clone();
            st.scripts.retain(|x| !(x.account_id == a && x.name == s));
            let zone_ids: Vec<String> = st
                .zones
                .iter()
                .filter(|z| z.account_id == a)
                .map(|z| z.id.clone())
                .collect();
            for route in st
                .worker_routes
                .iter_mut()
                .filter(|r| zone_ids.contains(&r.zone_id))
            {
                if route.script.as_deref() == Some(s) {
                    route.script = None;
                }
            }
            st.custom_domains
                .retain(|d| !(d.account_id == a && d.service == s));
            st.durable_object_namespaces
                .retain(|n| !(n.account_id == a && n.script == s));
            Ok(Reply::ok(json!({ "id": tag })))
        })
        .await
}
