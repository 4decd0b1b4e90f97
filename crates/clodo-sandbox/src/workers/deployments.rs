//! Deployments: the version split, the across-migration refusal, creating and deleting.

use super::*;

#[derive(Deserialize)]
pub struct NewDeployment {
    #[serde(default = "percentage")]
    strategy: String,
    versions: Vec<DeploymentVersion>,
    #[serde(default)]
    annotations: BTreeMap<String, Option<String>>,
}

pub fn percentage() -> String {
    "percentage".into()
}

/// Checks a traffic split against the script: one or two known, recent, distinct versions whose
/// percentages (each 0–100) add up to 100.
pub fn validate_split(
    script: &Script,
    strategy: &str,
    versions: &[DeploymentVersion],
) -> Result<(), SandboxError> {
    if strategy != "percentage" {
        return Err(invalid(format!(
            "Unknown deployment strategy {strategy:?}; only \"percentage\" is supported"
        )));
    }
    if versions.is_empty() || versions.len() > 2 {
        return Err(invalid("A deployment must name one or two versions"));
    }
    if versions.len() == 2 && versions[0].version_id == versions[1].version_id {
        return Err(invalid("A deployment may not name the same version twice"));
    }
    let recent: Vec<&str> = script
        .versions
        .iter()
        .rev()
        .take(DEPLOYABLE_VERSIONS)
        .map(|v| v.id.as_str())
        .collect();
    for v in versions {
        if script.version(&v.version_id).is_none() {
            return Err(invalid(format!(
                "Version {} does not exist on this Worker",
                v.version_id
            )));
        }
        if !recent.contains(&v.version_id.as_str()) {
            return Err(invalid(format!(
                "Version {} is not among the {DEPLOYABLE_VERSIONS} most recent versions",
                v.version_id
            )));
        }
        if !(0.0..=100.0).contains(&v.percentage) {
            return Err(invalid("Percentages must be between 0 and 100"));
        }
    }
    let total: f64 = versions.iter().map(|v| v.percentage).sum();
    if (total - 100.0).abs() > 0.001 {
        return Err(invalid(format!(
            "Percentages must add up to 100, got {total}"
        )));
    }
    Ok(())
}

/// The error code the sandbox answers for a deployment across a Durable Object migration.
/// Cloudflare refuses it (docs: "Rollbacks" limits) but its code is not verified: sandbox
/// choice, documented in docs/sandbox.md.
pub const ACROSS_MIGRATION_CODE: u32 = 10224;

/// Cloudflare refuses to deploy a version older than a Durable Object migration the Worker
/// has since applied (a migration runs once, through a non-versioned deploy, and cannot be
/// undone by serving older code). A version applied migrations when its upload carried
/// `metadata.migrations`; versions are kept in upload order.
pub fn refuse_across_migration(
    script: &Script,
    versions: &[DeploymentVersion],
) -> Result<(), SandboxError> {
    let migrated = script.versions.iter().enumerate().rev().find(|(_, v)| {
        v.metadata
            .as_ref()
            .and_then(|m| m.get("migrations"))
            .is_some_and(|m| !m.is_null())
    });
    let Some((at, by)) = migrated else {
        return Ok(());
    };
    for wanted in versions {
        let older = script
            .versions
            .iter()
            .position(|v| v.id == wanted.version_id)
            .is_some_and(|i| i < at);
        if older {
            let tag = by
                .metadata
                .as_ref()
                .and_then(|m| m["migrations"].get("new_tag"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            return Err(SandboxError::rejected(
                400,
                ACROSS_MIGRATION_CODE,
                format!(
                    "Version {} cannot be deployed: a Durable Object migration (tag {tag:?}, version {}) was applied after it. Rollbacks across a Durable Object migration are not allowed.",
                    wanted.version_id, by.id
                ),
            ));
        }
    }
    Ok(())
}

pub async fn create_deployment(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: NewDeployment = req.json()?;
    let source = req.source();
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            validate_split(script, &body.strategy, &body.versions)?;
            refuse_across_migration(script, &body.versions)?;
            let annotations: BTreeMap<String, String> = body
                .annotations
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            let deployment = push_deployment(
                script,
                body.versions.clone(),
                annotations,
                source,
                &author(t),
            );
            Ok(Reply::ok(json!(deployment)))
        })
        .await
}

pub async fn delete_deployment(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
    id: &str,
) -> Result<Reply, SandboxError> {
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::WorkersScripts, Access::Edit)?;
            let script = st.script_mut(a, s).ok_or_else(script_not_found)?;
            let at = script
                .deployments
                .iter()
                .position(|d| d.id == id)
                .ok_or_else(|| deployment_not_found(id))?;
            if at + 1 == script.deployments.len() {
                return Err(invalid("The active deployment cannot be deleted"));
            }
            script.deployments.remove(at);
            Ok(Reply::ok(Value::Null))
        })
        .await
}
