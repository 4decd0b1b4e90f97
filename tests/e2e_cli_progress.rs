//! On a terminal `clodo deploy` draws progress indicators (indicatif) for the uploads and
//! colours its success line; without one (every other e2e test) it prints only the plain
//! lines. `script` (util-linux) gives the real binary a pseudo-terminal, against the local
//! Worker, the sandbox and real wrangler.

mod e2e_support;

use std::process::Command;

use e2e_support::base_url;
use e2e_support::shop::{clodo_command, shop_setup};

/// `clodo <args>` inside a pseudo-terminal of 120 columns, with the environment the e2e
/// helpers give it except `CI`, and `NO_COLOR` only when asked: exit code and everything the
/// terminal showed.
fn on_a_terminal(template: &Command, args: &str, no_color: bool) -> (i32, String) {
    let mut cmd = Command::new("script");
    if let Some(dir) = template.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env_remove("NO_COLOR")
        .env_remove("CI")
        .env("TERM", "xterm-256color");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let line = format!(
        "stty cols 120 rows 40; exec '{}' {args}",
        env!("CARGO_BIN_EXE_clodo")
    );
    let out = cmd
        .args(["-qefc", &line, "/dev/null"])
        .output()
        .expect("script runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn a_deploy_on_a_terminal_draws_upload_progress_and_a_green_success() {
    let (team, project) = shop_setup().await;
    let template = clodo_command(&base_url(), &project.dir, &team.admin.token);
    let (code, shown) = on_a_terminal(
        &template,
        "deploy --env staging --strategy immediate --yes -m terminal",
        false,
    );
    assert_eq!(code, 0, "{shown}");
    // The upload bar of each wave: its prefix, its frame, the count of the wave's Workers
    // (api and jobs first, then web) and the wave it works on.
    assert!(shown.contains("upload ["), "no upload indicator:\n{shown}");
    assert!(shown.contains("0/2 wave 1: api, jobs"), "{shown}");
    assert!(shown.contains("0/1 wave 2: web"), "{shown}");
    // The rollout's indicator while the deploy follows it: one step for immediate.
    assert!(
        shown.contains("rollout ["),
        "no rollout indicator:\n{shown}"
    );
    assert!(shown.contains("/1 "), "{shown}");
    // The plain progress lines are still there, above the indicator.
    assert!(shown.contains("wave 1: api"), "{shown}");
    // Success in green.
    assert!(shown.contains("\u{1b}[32m✓ deployment"), "{shown}");

    // The same command with NO_COLOR: no indicator, no colour, the plain lines only.
    let (code, shown) = on_a_terminal(
        &template,
        "deploy --env staging --strategy immediate --yes -m plain",
        true,
    );
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("upload ["), "{shown}");
    assert!(
        !shown.contains('\u{1b}'),
        "escape codes with NO_COLOR:\n{shown}"
    );
    assert!(shown.contains("✓ deployment"), "{shown}");
}
