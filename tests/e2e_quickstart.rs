//! The README's quick start, followed step by step as a user would, against the local Worker,
//! sandbox and dashboard tests/e2e.sh starts: the commands are read from the README's
//! quick-start block (so the README and this test cannot drift), run with the real `clodo`
//! and real wrangler in a scratch copy of examples/, and each step's promise is checked:
//! `clodo assess` finds the example's gap, the fix the README shows makes it ready, the deploys
//! go out, the rollout is visible through the API the dashboard reads, and `clodo rollback`
//! puts the first release back.

mod e2e_support;

use e2e_support::readme::{
    block_after, commands, localize, own_team, run_checked, scratch_checkout, sh_blocks, Shell,
};
use e2e_support::shop::{live, repo};
use e2e_support::str_of;
use serde_json::Value;

/// The README's heading of the quick start.
const HEADING: &str = "## Quick start";

/// What the quick start promises, in order: each step of the block is one of these.
#[derive(Debug, PartialEq)]
enum Step {
    /// Set-up (exports, the team, project, environment and credential, `cd`): must succeed.
    Setup,
    /// `clodo assess` while the gap is there (exit 1 naming it, as its comment says).
    AssessGap,
    /// The fix the README shows (edits clodo.toml).
    Fix,
    /// `clodo assess` after the fix: ready.
    AssessReady,
    /// The first `clodo deploy` (waits for the rollout).
    Deploy,
    /// The second deploy, detached.
    DeployDetached,
    /// `clodo status ID --follow`.
    Follow,
    /// The dashboard's API read of the rollout.
    DashboardRead,
    /// `clodo rollback`.
    Rollback,
}

fn classify(command: &str, assessed: bool) -> Step {
    if command.contains("clodo assess") {
        if assessed {
            Step::AssessReady
        } else {
            Step::AssessGap
        }
    } else if command.starts_with("sed ") {
        Step::Fix
    } else if command.contains("clodo deploy") && command.contains("--detach") {
        Step::DeployDetached
    } else if command.contains("clodo deploy") {
        Step::Deploy
    } else if command.contains("clodo status") {
        Step::Follow
    } else if command.contains("/rollout") {
        Step::DashboardRead
    } else if command.contains("clodo rollback") {
        Step::Rollback
    } else {
        Step::Setup
    }
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn the_readme_quick_start_works_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    // The two set-up commands stay at the top, before anything else the README runs.
    let first = sh_blocks(&readme).remove(0);
    assert_eq!(
        commands(&first)
            .iter()
            .map(|c| c.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["make dev", "make test"],
        "the README's first block must be the two set-up commands"
    );

    let steps = commands(&block_after(&readme, HEADING));
    let root = scratch_checkout();
    let shell = Shell::open(&root);
    let clodo_toml = root.join("examples/shop/clodo.toml");
    let mut seen = Vec::new();
    let mut first_release = None;
    for command in &steps {
        let step = classify(command, seen.contains(&Step::AssessGap));
        let command = own_team(&localize(command));
        // Every step keeps what its comment promises (exit code, output); then what the
        // story needs checked beyond the output.
        let out = run_checked(&shell, &command);
        match step {
            Step::AssessGap => assert!(out.contains("\"main\""), "names the branch:\n{out}"),
            Step::Fix => {
                let text = std::fs::read_to_string(&clodo_toml).unwrap();
                assert!(
                    text.contains("production_branch = \"main\"") && !text.contains("\"master\""),
                    "{text}"
                );
            }
            Step::AssessReady => assert!(!out.contains("pages_branch_mismatch"), "{out}"),
            Step::Deploy => {
                first_release = Some(live("shop-api-staging").await.expect("api at 100%"));
            }
            Step::Follow => {
                let second = live("shop-api-staging").await.expect("api at 100%");
                assert_ne!(
                    Some(&second),
                    first_release.as_ref(),
                    "a new version went out"
                );
            }
            Step::DashboardRead => {
                let status: Value = serde_json::from_str(&out)
                    .unwrap_or_else(|e| panic!("the rollout status is JSON ({e}): {out}"));
                assert_eq!(status["traffic_percent"], 100.0, "{status}");
                assert_eq!(status["phase"], "succeeded", "{status}");
            }
            Step::Rollback => {
                assert_eq!(
                    live("shop-api-staging").await,
                    first_release,
                    "rollback puts the first release's api back at 100%"
                );
                // The dashboard's history (GET /api/v1/deployments) shows the rollback last.
                let api =
                    e2e_support::Api::at(&shell.var("CLODO_API_URL"), &shell.var("CLODO_TOKEN"));
                let page = api
                    .read("/api/v1/deployments?project=shop&environment=staging&limit=1")
                    .await;
                let latest = &page["items"][0];
                assert_eq!(latest["status"], "succeeded", "{latest}");
                assert!(
                    str_of(&latest["message"]).starts_with("rollback"),
                    "{latest}"
                );
            }
            Step::DeployDetached | Step::Setup => {}
        }
        seen.push(step);
    }
    let story: Vec<&Step> = seen.iter().filter(|s| **s != Step::Setup).collect();
    assert_eq!(
        story,
        [
            &Step::AssessGap,
            &Step::Fix,
            &Step::AssessReady,
            &Step::Deploy,
            &Step::DeployDetached,
            &Step::Follow,
            &Step::DashboardRead,
            &Step::Rollback
        ],
        "the quick start tells this story, in this order"
    );
    let _ = std::fs::remove_dir_all(&root);
}
