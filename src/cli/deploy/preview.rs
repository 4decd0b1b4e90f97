//! `clodo deploy --preview`: every Pages site of the project to its branch's preview, each
//! recorded on the environment (`POST …/environments/{e}/previews`, which the control plane
//! checks with Cloudflare) and its URL printed. No migration runs, no Worker traffic moves, no
//! lock is taken: a preview serves no production traffic. Workers are not previewed: see
//! docs/cli.md for what that needs.

use reqwest::Method;
use serde_json::json;

use super::super::assess::Assessed;
use super::super::client::{self, enc, Failure};
use super::super::deployment::say;
use super::{pages_d1, DeployArgs};
use crate::api::contract::previews::{Preview, RecordPreview};
use crate::config::ProjectConfig;

/// A commit id the control plane records (lowercase hex); anything else is left out.
fn recordable_sha(sha: Option<String>) -> Option<String> {
    sha.filter(|s| {
        (7..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Deploys every Pages site to the branch's preview and records it; `identity` is the git
/// branch and commit (from `--git-ref`/`--git-sha` or git).
pub(super) async fn preview(
    args: &DeployArgs,
    identity: (Option<String>, Option<String>),
    assessed: &Assessed,
    project: &ProjectConfig,
) -> Result<(), Failure> {
    let (git_ref, git_sha) = identity;
    let branch = git_ref.ok_or_else(|| {
        Failure::Setup(
            "--preview needs a branch: pass --git-ref BRANCH (no git branch found)".into(),
        )
    })?;
    let environment = args.env.clone().ok_or_else(|| {
        Failure::Setup("--env is required: previews are recorded per environment".into())
    })?;
    if assessed.pages_d1.pages.is_empty() {
        return Err(Failure::Setup(format!(
            "{} has no Pages service to preview",
            project.project
        )));
    }
    // Before anything is deployed: a preview that cannot be recorded is not made.
    let api = client::client()?;
    let path = format!(
        "/api/v1/projects/{}/environments/{}/previews",
        enc(&project.project),
        enc(&environment)
    );
    let git_sha = recordable_sha(git_sha);
    let mut recorded = Vec::new();
    for target in &assessed.pages_d1.pages {
        let shipped = pages_d1::deploy_pages(None, assessed, target, Some(&branch))
            .await
            .map_err(Failure::Setup)?;
        println!("{}: {}", shipped.service, shipped.url);
        let record = RecordPreview {
            service: shipped.service.clone(),
            project: shipped.project.clone(),
            pages_deployment_id: shipped.deployment_id.clone(),
            url: shipped.url.clone(),
            branch: branch.clone(),
            git_sha: git_sha.clone(),
        };
        let preview: Preview = api
            .send(Method::POST, &path, Some(&record))
            .await
            .map_err(|e| {
                say(&format!(
                    "✗ {} is deployed at {} but the control plane did not record it: {}",
                    shipped.service, shipped.url, e.message
                ));
                Failure::Api(e)
            })?;
        recorded.push(preview);
    }
    if args.json {
        client::print_json(&json!({ "preview": recorded }));
    }
    say(&format!(
        "✓ preview of {branch} deployed and recorded on {}/{environment}; no migration ran and no Worker traffic moved",
        project.project
    ));
    Ok(())
}
