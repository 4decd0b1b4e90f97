//! Pages deployments: creation from wrangler's multipart upload (a manifest of already uploaded
//! assets plus optional `_worker.bundle`/`_worker.js`, `_headers`, `_redirects`, `_routes.json`),
//! lookup, and rollback to an earlier successful production deployment.

use std::collections::BTreeMap;

use super::assets::{has_asset, MAX_FILE_COUNT};
use super::{deployment_json, project_find, project_not_found};
use crate::api::{account_member, ApiRequest, Reply};
use crate::error::SandboxError;
use crate::state::{now_rfc3339, uuid_id, PagesDeployment, PagesProject, Store, Token};
use crate::workers::upload_parts;

/// Not-found for a deployment id (the code is unverified; wrangler only branches on 8000007).
fn deployment_not_found(id: &str) -> SandboxError {
    SandboxError::not_found(8000009, format!("The deployment {id} could not be found"))
}

fn invalid(message: impl Into<String>) -> SandboxError {
    SandboxError::rejected(400, 8000096, message)
}

/// A deployment by its id or short id.
pub fn find<'a>(project: &'a PagesProject, id: &str) -> Result<&'a PagesDeployment, SandboxError> {
    project
        .deployments
        .iter()
        .find(|d| d.id == id || (id.len() == 8 && super::short_id(d) == id))
        .ok_or_else(|| deployment_not_found(id))
}

/// The parts of a deployment upload that matter, validated.
struct Upload {
    manifest: BTreeMap<String, String>,
    branch: Option<String>,
    commit_hash: Option<String>,
    commit_message: Option<String>,
    commit_dirty: Option<bool>,
    has_worker: bool,
    config_files: BTreeMap<String, String>,
}

fn parse(req: &ApiRequest) -> Result<Upload, SandboxError> {
    let parts = upload_parts(
        req,
        "A deployment is created with a multipart/form-data body",
    )?;
    let text = |name: &str| -> Option<String> {
        parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| String::from_utf8_lossy(&p.data).into_owned())
    };
    let manifest_text =
        text("manifest").ok_or_else(|| invalid("The deployment has no manifest part"))?;
    let manifest: BTreeMap<String, String> = serde_json::from_str(&manifest_text).map_err(|e| {
        invalid(format!(
            "The manifest is not a JSON object of path to hash: {e}"
        ))
    })?;
    if manifest.len() > MAX_FILE_COUNT {
        return Err(invalid(format!(
            "The manifest lists {} files; a deployment may have at most {MAX_FILE_COUNT}",
            manifest.len()
        )));
    }
    if let Some(path) = manifest
        .keys()
        .find(|p| !p.starts_with('/') || p.contains("/../"))
    {
        return Err(invalid(format!(
            "Manifest path {path:?} must be absolute (start with /)"
        )));
    }
    let has = |name: &str| parts.iter().any(|p| p.name == name);
    if has("_worker.js") && has("_worker.bundle") {
        return Err(invalid(
            "Send either _worker.js or _worker.bundle, not both",
        ));
    }
    let commit_dirty = match text("commit_dirty").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(invalid(format!(
                "commit_dirty must be \"true\" or \"false\", not {other:?}"
            )))
        }
    };
    let config_files = ["_headers", "_redirects", "_routes.json"]
        .iter()
        .filter_map(|name| text(name).map(|t| (name.to_string(), t)))
        .collect();
    Ok(Upload {
        manifest,
        branch: text("branch").filter(|b| !b.is_empty()),
        commit_hash: text("commit_hash"),
        commit_message: text("commit_message"),
        commit_dirty,
        has_worker: has("_worker.js") || has("_worker.bundle"),
        config_files,
    })
}

/// `POST /accounts/{a}/pages/projects/{p}/deployments`. Every manifest hash must have been
/// uploaded to the account's asset store first. Processing is immediate: the answer already
/// carries the final `deploy` stage.
pub async fn create(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    name: &str,
) -> Result<Reply, SandboxError> {
    {
        let st = store.read().await;
        account_member(&st, t, req, a)?;
        project_find(&st, a, name)?;
    }
    let upload = parse(req)?;
    if let Some((path, hash)) = upload
        .manifest
        .iter()
        .find(|(_, hash)| !has_asset(&store.files, a, hash))
    {
        return Err(invalid(format!(
            "The asset {path} (hash {hash}) was not uploaded: upload it through /pages/assets/upload before creating the deployment"
        )));
    }
    store
        .mutate(|st| {
            let project = st
                .pages_projects
                .iter_mut()
                .find(|p| p.account_id == a && p.name == name)
                .ok_or_else(project_not_found)?;
            let branch = upload
                .branch
                .clone()
                .unwrap_or_else(|| project.production_branch.clone());
            let environment = if branch == project.production_branch {
                "production"
            } else {
                "preview"
            };
            let deployment = PagesDeployment {
                id: uuid_id(),
                created_on: now_rfc3339(),
                environment: environment.into(),
                branch: Some(branch),
                commit_hash: upload.commit_hash.clone(),
                is_rollback: false,
                commit_message: upload.commit_message.clone(),
                commit_dirty: upload.commit_dirty,
                manifest: upload.manifest.clone(),
                has_worker: upload.has_worker,
                config_files: upload.config_files.clone(),
                status: "success".into(),
                logs: vec![
                    format!("Uploading {} files", upload.manifest.len()),
                    "Success: Your site was deployed!".into(),
                ],
            };
            let out = deployment_json(project, &deployment);
            project.deployments.push(deployment);
            Ok(Reply::ok(out))
        })
        .await
}

/// Makes `id` live again on the production alias: a new production deployment with the target's
/// files. Only successful production deployments can be rolled back to, as on Cloudflare.
pub fn rollback(project: &mut PagesProject, id: &str) -> Result<PagesDeployment, SandboxError> {
    let target = find(project, id)?;
    if target.environment != "production" {
        return Err(SandboxError::rejected(
            400,
            8000020,
            "Only production deployments can be rolled back to",
        ));
    }
    if target.status != "success" {
        return Err(SandboxError::rejected(
            400,
            8000020,
            "Only successful deployments can be rolled back to",
        ));
    }
    let rollback = PagesDeployment {
        id: uuid_id(),
        created_on: now_rfc3339(),
        is_rollback: true,
        logs: vec![format!("Rolled back to deployment {}", target.id)],
        ..target.clone()
    };
    project.deployments.push(rollback.clone());
    Ok(rollback)
}
