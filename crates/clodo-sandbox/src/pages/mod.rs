//! Cloudflare Pages under `/accounts/{a}/pages/...`: projects (list, create, get, domains),
//! the direct-upload token, deployments (create from a manifest of uploaded assets, list, get,
//! logs, rollback), plus `assets` (the JWT-authorised `/pages/assets/*` calls) and `serve`
//! (answering a deployment's files over loopback for health checks).

pub mod assets;
mod deployments;
pub mod serve;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{account_member, no_route, ApiRequest, Reply};
use crate::error::SandboxError;
use crate::pagination::{page_request, paginate};
use crate::state::{
    default_deployment_configs, now_rfc3339, uuid_id, PagesDeployment, PagesProject, State, Store,
    Token,
};

pub use assets::UploadGrants;

pub fn project_not_found() -> SandboxError {
    SandboxError::not_found(
        8000007,
        "Project not found. The specified project name does not match any of your existing projects.",
    )
}

pub fn project_find<'a>(
    st: &'a State,
    a: &str,
    name: &str,
) -> Result<&'a PagesProject, SandboxError> {
    st.pages_projects
        .iter()
        .find(|p| p.account_id == a && p.name == name)
        .ok_or_else(project_not_found)
}

fn project_find_mut<'a>(
    st: &'a mut State,
    a: &str,
    name: &str,
) -> Result<&'a mut PagesProject, SandboxError> {
    st.pages_projects
        .iter_mut()
        .find(|p| p.account_id == a && p.name == name)
        .ok_or_else(project_not_found)
}

/// A branch as it appears in an alias host: lowercased, non-alphanumerics as `-`.
pub fn branch_alias(branch: &str) -> String {
    let alias: String = branch
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    alias.trim_matches('-').to_string()
}

pub fn short_id(d: &PagesDeployment) -> String {
    d.id.chars().take(8).collect()
}

/// The deployment currently served at `<project>.pages.dev`: the newest successful production one.
pub fn live_production(project: &PagesProject) -> Option<&PagesDeployment> {
    project
        .deployments
        .iter()
        .rev()
        .find(|d| d.environment == "production" && d.status == "success")
}

pub fn deployment_json(project: &PagesProject, d: &PagesDeployment) -> Value {
    let short = short_id(d);
    let aliases: Option<Vec<String>> = if d.environment == "production" {
        (!project.domains.is_empty()).then(|| {
            project
                .domains
                .iter()
                .map(|h| format!("https://{h}"))
                .collect()
        })
    } else {
        d.branch.as_deref().map(|b| {
            vec![format!(
                "https://{}.{}.pages.dev",
                branch_alias(b),
                project.name
            )]
        })
    };
    let stage = |name: &str, status: &str| json!({ "name": name, "started_on": d.created_on, "ended_on": d.created_on, "status": status });
    let stages: Vec<Value> = ["queued", "initialize", "clone_repo", "build"]
        .iter()
        .map(|n| stage(n, "success"))
        .chain(std::iter::once(stage("deploy", &d.status)))
        .collect();
    let config_env = if d.environment == "production" {
        "production"
    } else {
        "preview"
    };
    json!({
        "id": d.id,
        "short_id": short,
        "project_id": project.id,
        "project_name": project.name,
        "environment": d.environment,
        "url": format!("https://{short}.{}.pages.dev", project.name),
        "created_on": d.created_on,
        "modified_on": d.created_on,
        "production_branch": project.production_branch,
        "is_skipped": false,
        "deployment_trigger": { "type": "ad_hoc", "metadata": {
            "branch": d.branch,
            "commit_hash": d.commit_hash,
            "commit_message": d.commit_message,
            "commit_dirty": d.commit_dirty,
        } },
        "latest_stage": stages.last().cloned(),
        "stages": stages,
        "aliases": aliases,
        "env_vars": project.deployment_configs[config_env].get("env_vars").cloned().unwrap_or(json!({})),
        "uses_functions": d.has_worker,
        "source": null,
        "build_config": no_build_config(),
        "is_rollback": d.is_rollback,
    })
}

/// Direct-upload projects have no build settings.
fn no_build_config() -> Value {
    json!({ "build_command": null, "destination_dir": null, "root_dir": null, "web_analytics_tag": null, "web_analytics_token": null })
}

pub fn project_json(p: &PagesProject) -> Value {
    let mut domains = vec![format!("{}.pages.dev", p.name)];
    domains.extend(p.domains.iter().cloned());
    let mut configs = p.deployment_configs.clone();
    for env in ["production", "preview"] {
        if !configs[env].is_object() {
            configs[env] = json!({});
        }
    }
    json!({
        "id": p.id,
        "name": p.name,
        "subdomain": format!("{}.pages.dev", p.name),
        "production_branch": p.production_branch,
        "created_on": p.created_on,
        "domains": domains,
        "deployment_configs": configs,
        "source": null,
        "build_config": no_build_config(),
        "canonical_deployment": live_production(p).map(|d| deployment_json(p, d)),
        "latest_deployment": p.deployments.last().map(|d| deployment_json(p, d)),
    })
}

fn domain_json(p: &PagesProject, host: &str) -> Value {
    json!({
        "id": format!("{}:{host}", p.id),
        "name": host,
        "status": "active",
        "verification_data": { "status": "active" },
        "validation_data": { "status": "active", "method": "http" },
        "zone_tag": null,
        "certificate_authority": "google",
        "created_on": p.created_on,
    })
}

/// Project names become `<name>.pages.dev`: 1–58 lowercase letters, digits and inner dashes.
fn valid_project_name(name: &str) -> bool {
    (1..=58).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Direct-upload projects only: Git `source` and `build_config` are refused as unknown fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: String,
    #[serde(default)]
    production_branch: Option<String>,
    #[serde(default)]
    deployment_configs: Option<Value>,
}

async fn create_project(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: NewProject = req.json()?;
    if !valid_project_name(&body.name) {
        return Err(SandboxError::rejected(
            400,
            8000011,
            format!(
                "Invalid project name {:?}: use 1-58 lowercase letters, digits and dashes",
                body.name
            ),
        ));
    }
    let mut configs = body
        .deployment_configs
        .clone()
        .unwrap_or_else(default_deployment_configs);
    for env in ["production", "preview"] {
        if !configs[env].is_object() {
            configs[env] = json!({});
        }
    }
    store
        .mutate(|st| {
            account_member(st, t, req, a)?;
            if st.pages_projects.iter().any(|p| p.name == body.name) {
                return Err(SandboxError::rejected(
                    409,
                    8000002,
                    format!("A project with the name {} already exists", body.name),
                ));
            }
            let project = PagesProject {
                id: uuid_id(),
                account_id: a.to_string(),
                name: body.name.clone(),
                production_branch: body
                    .production_branch
                    .clone()
                    .unwrap_or_else(crate::state::default_branch),
                created_on: now_rfc3339(),
                deployment_configs: configs.clone(),
                domains: vec![],
                deployments: vec![],
            };
            let out = project_json(&project);
            st.pages_projects.push(project);
            Ok(Reply::ok(out))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectPatch {
    #[serde(default)]
    production_branch: Option<String>,
    #[serde(default)]
    deployment_configs: Option<serde_json::Map<String, Value>>,
}

/// Merges `patch` into `target` as Cloudflare's project PATCH does: objects merge key by key
/// (one level down too, so one binding can be added or removed), `null` removes a key, anything
/// else replaces.
fn merge_config(target: &mut Value, patch: &serde_json::Map<String, Value>) {
    if !target.is_object() {
        *target = json!({});
    }
    let Some(target) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(Value::Object(have)), Value::Object(more)) => {
                for (k, v) in more {
                    if v.is_null() {
                        have.remove(k);
                    } else {
                        have.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `PATCH …/pages/projects/{p}`: production branch and per-environment deployment configs.
async fn update_project(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    name: &str,
) -> Result<Reply, SandboxError> {
    let patch: ProjectPatch = req.json()?;
    if let Some(configs) = &patch.deployment_configs {
        if let Some(env) = configs
            .keys()
            .find(|k| *k != "production" && *k != "preview")
        {
            return Err(SandboxError::BadRequest(format!(
                "deployment_configs has an unknown environment {env:?}: use production or preview"
            )));
        }
        if let Some((env, _)) = configs.iter().find(|(_, v)| !v.is_object()) {
            return Err(SandboxError::BadRequest(format!(
                "deployment_configs.{env} must be an object"
            )));
        }
    }
    if patch.production_branch.as_deref() == Some("") {
        return Err(SandboxError::BadRequest(
            "production_branch must not be empty".into(),
        ));
    }
    store
        .mutate(|st| {
            account_member(st, t, req, a)?;
            let project = project_find_mut(st, a, name)?;
            if let Some(branch) = &patch.production_branch {
                project.production_branch = branch.clone();
            }
            if let Some(configs) = &patch.deployment_configs {
                for (env, value) in configs {
                    if let Some(fields) = value.as_object() {
                        merge_config(&mut project.deployment_configs[env.as_str()], fields);
                    }
                }
            }
            Ok(Reply::ok(project_json(project)))
        })
        .await
}

pub async fn handle(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    rest: &[&str],
) -> Result<Reply, SandboxError> {
    match (req.method.as_str(), rest) {
        ("GET", ["projects"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let items = crate::api::account_list(&st.pages_projects, a, project_json);
            let (page, info) = paginate(&items, page_request(&req.query, 10, 100)?);
            Ok(Reply::page(Value::Array(page), info))
        }
        ("POST", ["projects"]) => create_project(store, t, req, a).await,
        ("GET", ["projects", name]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            project_find(&st, a, name).map(|p| Reply::ok(project_json(p)))
        }
        ("PATCH", ["projects", name]) => update_project(store, t, req, a, name).await,
        ("GET", ["projects", name, "domains"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let project = project_find(&st, a, name)?;
            let items: Vec<Value> = project
                .domains
                .iter()
                .map(|h| domain_json(project, h))
                .collect();
            let (page, info) = paginate(&items, page_request(&req.query, 25, 100)?);
            Ok(Reply::page(Value::Array(page), info))
        }
        ("GET", ["projects", name, "upload-token"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let project = project_find(&st, a, name)?;
            let jwt = store.files.pages_grants.issue(a, &project.name);
            Ok(Reply::ok(json!({ "jwt": jwt })))
        }
        ("GET", ["projects", name, "deployments"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let project = project_find(&st, a, name)?;
            let items: Vec<Value> = project
                .deployments
                .iter()
                .rev()
                .filter(|d| req.query.get("env").is_none_or(|e| e == d.environment))
                .map(|d| deployment_json(project, d))
                .collect();
            let (page, info) = paginate(&items, page_request(&req.query, 25, 25)?);
            Ok(Reply::page(Value::Array(page), info))
        }
        ("POST", ["projects", name, "deployments"]) => {
            deployments::create(store, t, req, a, name).await
        }
        ("GET", ["projects", name, "deployments", id]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let project = project_find(&st, a, name)?;
            let d = deployments::find(project, id)?;
            Ok(Reply::ok(deployment_json(project, d)))
        }
        ("GET", ["projects", name, "deployments", id, "history", "logs"]) => {
            let st = store.read().await;
            account_member(&st, t, req, a)?;
            let project = project_find(&st, a, name)?;
            let d = deployments::find(project, id)?;
            let data: Vec<Value> = d
                .logs
                .iter()
                .map(|line| json!({ "line": line, "ts": d.created_on }))
                .collect();
            Ok(Reply::ok(json!({
                "total": data.len(),
                "includes_container_logs": false,
                "data": data,
            })))
        }
        ("POST", ["projects", name, "deployments", id, "rollback"]) => {
            store
                .mutate(|st| {
                    account_member(st, t, req, a)?;
                    let project = project_find_mut(st, a, name)?;
                    let rollback = deployments::rollback(project, id)?;
                    Ok(Reply::ok(deployment_json(project, &rollback)))
                })
                .await
        }
        _ => Err(no_route(req)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_patches_merge_one_level_and_null_removes() {
        let mut config = json!({
            "compatibility_date": "2025-01-01",
            "d1_databases": { "DB": { "id": "a" }, "OLD": { "id": "b" } },
        });
        let patch = json!({
            "compatibility_date": "2026-01-01",
            "d1_databases": { "OLD": null, "NEW": { "id": "c" } },
            "kv_namespaces": { "KV": { "namespace_id": "k" } },
        });
        merge_config(&mut config, patch.as_object().unwrap());
        assert_eq!(
            config,
            json!({
                "compatibility_date": "2026-01-01",
                "d1_databases": { "DB": { "id": "a" }, "NEW": { "id": "c" } },
                "kv_namespaces": { "KV": { "namespace_id": "k" } },
            })
        );
        merge_config(
            &mut config,
            json!({ "kv_namespaces": null }).as_object().unwrap(),
        );
        assert!(config.get("kv_namespaces").is_none());
    }

    #[test]
    fn branch_aliases_and_project_names() {
        assert_eq!(branch_alias("feature/New_Look"), "feature-new-look");
        assert!(valid_project_name("storefront-2"));
        assert!(!valid_project_name("Store"));
        assert!(!valid_project_name("-x"));
        assert!(!valid_project_name(&"a".repeat(59)));
    }
}
