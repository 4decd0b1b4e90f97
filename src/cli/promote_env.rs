//! `clodo promote --from staging --to production`: ships exactly the code the source
//! environment verified to the target, through the target's own strategy, approvals and lock.
//!
//! The control plane picks the source (the source environment's latest succeeded deployment,
//! from its own records) and records the new deployment with `promoted_from`. This command
//! then reads each source version's modules from Cloudflare, uploads the very same files as a
//! new version of the target's Worker with real wrangler (`--no-bundle`, with the target's
//! `[env.NAME]` configuration, so its bindings, vars and compatibility settings are the
//! target's), reads the uploaded version back and compares the SHA-256 of every module. Any
//! difference stops the promotion before traffic moves; equal hashes are recorded on the
//! deployment and the target's rollout runs as for `clodo deploy`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use reqwest::Method;

use super::client::{self, enc, Failure};
use super::deploy::upload::{snapshots, upload_waves, Uploaded};
use super::deploy::{
    assess_project, confirm, deploy_settings, end_if_stopped, hand_to_rollout, plan,
    record_uploads, register_services, start_deploying, DeployArgs, Progress,
};
use super::deployment::{move_to, say, Recorded, Shipped};
use super::errors::CliCode;
use super::rollback::Cloudflare;
use crate::api::contract::deployments::{DeploymentStatus, ModuleDigest};
use crate::api::contract::promotions::{Promotion, PromotionRequest, SourceService};
use crate::deploy::content::{compare, VersionContent};

/// What `clodo promote --from --to` was asked.
#[derive(Debug, Clone)]
pub struct EnvPromotion {
    pub project: PathBuf,
    pub from: String,
    pub to: String,
    pub yes: bool,
    pub json: bool,
    pub detach: bool,
    pub message: Option<String>,
    pub allow_inconclusive: bool,
}

/// Runs the promotion; once the control plane recorded it, any stop ends the deployment as a
/// stopped `clodo deploy` does (restore what took traffic, `failed` or `cancelled`, lock freed).
pub async fn promote_to_an_end(args: EnvPromotion) -> Result<(), Failure> {
    let mut progress = Progress::default();
    let scratch = std::env::temp_dir().join(format!(
        "clodo-promote-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let outcome = promote(&args, &scratch, &mut progress).await;
    let _ = std::fs::remove_dir_all(&scratch);
    end_if_stopped(outcome, &progress).await
}

/// The modules staging verified, per service, as read back from Cloudflare.
struct SourceModules {
    service: SourceService,
    content: VersionContent,
}

#[allow(clippy::too_many_lines)]
async fn promote(
    args: &EnvPromotion,
    scratch: &Path,
    progress: &mut Progress,
) -> Result<(), Failure> {
    // The target is assessed and planned as `clodo deploy --env <to>` would be.
    let deploy_args = DeployArgs {
        project: args.project.clone(),
        env: Some(args.to.clone()),
        strategy: None,
        yes: args.yes,
        message: args.message.clone(),
        git_ref: None,
        git_sha: None,
        json: args.json,
        follow: !args.detach,
        detach: args.detach,
        allow_inconclusive: args.allow_inconclusive,
        allow_destructive: false,
        preview: false,
        at: None,
    };
    let assessed = assess_project(&deploy_args).await?;
    super::deploy::pages_d1::refuse_pages_and_migrations(
        &assessed,
        "environment promotion",
        &args.to,
    )?;
    let project = assessed.project.clone().ok_or_else(|| {
        Failure::Setup(format!(
            "{} could not be read as a project (see the findings above)",
            args.project.display()
        ))
    })?;
    let settings = deploy_settings(&project, Some(&args.to), None)?;
    let plan = plan(&project, &assessed.loaded)?;
    say(&format!(
        "▸ promote {} → {} ({} strategy, steps {:?})",
        args.from,
        args.to,
        settings.strategy,
        settings.traffic_steps()
    ));
    if !args.yes && std::io::stdin().is_terminal() && !confirm(&project.project, &args.to)? {
        return Err(Failure::Local(
            CliCode::NotConfirmed,
            "not confirmed; nothing was promoted".into(),
        ));
    }

    let api = client::client()?;
    register_services(&api, &project, &args.to, &assessed).await?;
    let request = PromotionRequest {
        from: args.from.clone(),
        strategy: Some(settings.strategy),
        message: args.message.clone(),
        emergency_override: None,
    };
    let promotion: Promotion = api
        .send(
            Method::POST,
            &format!(
                "/api/v1/projects/{}/environments/{}/promotions",
                enc(&project.project),
                enc(&args.to)
            ),
            Some(&request),
        )
        .await?;
    let created = promotion.deployment.clone();
    let deployment_id = created.id.clone();
    let lock = format!(
        "/api/v1/projects/{}/environments/{}/lock",
        enc(&project.project),
        enc(&args.to)
    );
    progress.recorded = Some(Recorded {
        api: api.clone(),
        id: deployment_id.clone(),
        lock: lock.clone(),
    });
    let source = &promotion.source;
    say(&format!(
        "▸ deployment {deployment_id}: {} — promotes {} ({}; {})",
        created.status,
        source.deployment_id,
        source.environment,
        source
            .services
            .iter()
            .map(|s| format!("{} {}", s.service, s.version_id))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    check_same_services(&plan.waves, &source.services)?;

    // Read what the source verified before waiting for anyone: a version that cannot be read
    // stops here, before approvals are asked for nothing.
    let source_cf = source_account(source.cloudflare_account_id.as_deref())?;
    let mut modules = Vec::new();
    for s in &source.services {
        let content = source_cf
            .version_content(&s.script, &s.version_id)
            .await
            .map_err(|e| {
                Failure::Setup(format!(
                    "{}: reading the modules of {} version {}: {e}",
                    s.service, s.script, s.version_id
                ))
            })?;
        say(&format!(
            "  {}: {} module(s) of {} {}",
            s.service,
            content.modules.len(),
            s.script,
            s.version_id
        ));
        modules.push(SourceModules {
            service: s.clone(),
            content,
        });
    }
    let entries = write_modules(scratch, &modules)?;

    let (heartbeat, now) = start_deploying(
        &api,
        &created,
        &lock,
        &assessed,
        &plan,
        "lock held; uploading the promoted modules",
    )
    .await?;
    let uploads = upload_waves(&assessed, &now, &plan, Some(&args.to), &entries, 0).await;
    let uploads = match uploads {
        Ok(u) => u,
        Err((done, message)) => {
            heartbeat.abort();
            progress.shipped = snapshots(&assessed, &done);
            progress.uploads = done;
            return Err(Failure::Local(
                CliCode::UploadFailed,
                format!("upload failed: {message}"),
            ));
        }
    };
    progress.uploads.clone_from(&uploads);
    progress.shipped = snapshots(&assessed, &uploads);
    let checked = verify_uploads(&assessed, &uploads, &modules).await;
    heartbeat.abort();
    let hashes = checked?;
    let shipped = progress.shipped.clone();
    record_uploads(&api, &deployment_id, &uploads, &hashes)
        .await
        .map_err(Failure::Api)?;
    move_to(
        &api,
        &deployment_id,
        DeploymentStatus::Verifying,
        &Shipped {
            message: "promoted modules uploaded; content hashes equal to the source's",
            services: &shipped,
        },
    )
    .await?;
    hand_to_rollout(
        &api,
        &deploy_args,
        &deployment_id,
        &settings,
        (&uploads, &shipped),
        None,
    )
    .await
}

/// The project's services in the target must be the ones the source deployment shipped: a
/// promotion ships a verified whole, never part of it or something beside it.
fn check_same_services(waves: &[Vec<String>], source: &[SourceService]) -> Result<(), Failure> {
    let planned: Vec<&String> = waves.iter().flatten().collect();
    let missing: Vec<&str> = source
        .iter()
        .filter(|s| !planned.contains(&&s.service))
        .map(|s| s.service.as_str())
        .collect();
    let unverified: Vec<&str> = planned
        .iter()
        .filter(|p| !source.iter().any(|s| s.service == ***p))
        .map(|p| p.as_str())
        .collect();
    if missing.is_empty() && unverified.is_empty() {
        return Ok(());
    }
    Err(Failure::Setup(format!(
        "the source deployment and this project's services differ (not in the project: [{}]; not shipped by the source: [{}]); deploy the whole project to the source environment first",
        missing.join(", "),
        unverified.join(", ")
    )))
}

/// The Cloudflare API for the source environment's account (the environment's binding on the
/// control plane), with wrangler's token.
fn source_account(account: Option<&str>) -> Result<Cloudflare, Failure> {
    let mut cf = Cloudflare::from_env()?;
    if let Some(a) = account {
        a.clone_into(&mut cf.account);
    }
    Ok(cf)
}

/// Writes each service's modules under `scratch/<service>/` with their names, so wrangler
/// uploads them as they are; answers each service's main module.
fn write_modules(
    scratch: &Path,
    modules: &[SourceModules],
) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut entries = BTreeMap::new();
    for m in modules {
        let dir = scratch.join(&m.service.service);
        for module in &m.content.modules {
            // Names were checked to be relative paths that stay inside `dir`.
            let file = dir.join(&module.name);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Failure::Setup(format!("{}: {e}", parent.display())))?;
            }
            std::fs::write(&file, &module.bytes)
                .map_err(|e| Failure::Setup(format!("{}: {e}", file.display())))?;
        }
        entries.insert(m.service.service.clone(), dir.join(&m.content.main_module));
    }
    Ok(entries)
}

/// Reads every uploaded version back from the target's account and compares its modules with
/// the source version's. Answers the hashes to record, or the differences.
async fn verify_uploads(
    assessed: &super::assess::Assessed,
    uploads: &[Uploaded],
    sources: &[SourceModules],
) -> Result<BTreeMap<String, Vec<ModuleDigest>>, Failure> {
    let target_cf = Cloudflare::for_project(&assessed.loaded)?;
    let mut hashes = BTreeMap::new();
    let mut problems = Vec::new();
    for u in uploads {
        let Some(source) = sources.iter().find(|s| s.service.service == u.service) else {
            problems.push(format!(
                "{}: not part of the promoted deployment",
                u.service
            ));
            continue;
        };
        let uploaded = target_cf
            .version_content(&u.script, &u.new_version)
            .await
            .map_err(|e| {
                Failure::Setup(format!(
                    "{}: reading back {} version {}: {e}",
                    u.service, u.script, u.new_version
                ))
            })?;
        let (want, got) = (source.content.digests(), uploaded.digests());
        let differences = compare(&want, &got);
        if differences.is_empty() && uploaded.main_module == source.content.main_module {
            say(&format!(
                "  {}: {} module(s) identical to {} {} (sha256 checked)",
                u.service,
                got.len(),
                source.service.script,
                source.service.version_id
            ));
            hashes.insert(u.service.clone(), got);
        } else {
            let mut what: Vec<String> = differences.iter().map(ToString::to_string).collect();
            if uploaded.main_module != source.content.main_module {
                what.push(format!(
                    "main module {} instead of {}",
                    uploaded.main_module, source.content.main_module
                ));
            }
            problems.push(format!(
                "{} ({} version {}): {}",
                u.service,
                u.script,
                u.new_version,
                what.join("; ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(hashes)
    } else {
        Err(Failure::Setup(format!(
            "the uploaded code differs from what the source deployment verified, so no traffic moved to it: {}",
            problems.join(" | ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(services: &[&str]) -> Vec<SourceService> {
        services
            .iter()
            .map(|s| SourceService {
                service: (*s).into(),
                script: format!("{s}-staging"),
                version_id: "v1".into(),
            })
            .collect()
    }

    #[test]
    fn a_promotion_ships_exactly_the_sources_services() {
        let waves = vec![vec!["api".to_owned()], vec!["web".to_owned()]];
        assert!(check_same_services(&waves, &source(&["web", "api"])).is_ok());
        let Err(Failure::Setup(m)) = check_same_services(&waves, &source(&["api"])) else {
            panic!("a service the source did not ship is refused");
        };
        assert!(m.contains("not shipped by the source: [web]"), "{m}");
        let Err(Failure::Setup(m)) = check_same_services(&waves, &source(&["api", "web", "jobs"]))
        else {
            panic!("a source service missing from the project is refused");
        };
        assert!(m.contains("not in the project: [jobs]"), "{m}");
    }
}
