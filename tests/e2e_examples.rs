//! Every example's README works as written: its ```sh blocks run, command by command, against
//! the local Worker and sandbox tests/e2e.sh starts, after the README quick start's set-up
//! lines (which the examples' READMEs ask for), in a scratch copy of examples/ with the real
//! `clodo` and real wrangler. Each command must exit as its comment says (`# exit N`, else 0)
//! and print what it promises (`→ TEXT`).

mod e2e_support;

use e2e_support::readme::{
    commands, localize, own_team, quick_start_setup, run_checked, scratch_checkout, sh_blocks,
    Shell,
};
use e2e_support::shop::repo;

/// The examples with a README to run (each folder of examples/ has one; checked below).
const EXAMPLES: [&str; 4] = ["single-worker", "team-workflow", "shop", "ci"];

fn run_readme(example: &str) {
    let text = std::fs::read_to_string(repo().join("examples").join(example).join("README.md"))
        .unwrap_or_else(|e| panic!("examples/{example}/README.md: {e}"));
    let blocks = sh_blocks(&text);
    assert!(
        !blocks.is_empty(),
        "examples/{example}/README.md has no ```sh block"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let root = scratch_checkout();
    let shell = Shell::open(&root);
    for command in quick_start_setup(&readme) {
        shell.ok(&own_team(&localize(&command)));
    }
    for block in &blocks {
        for command in commands(block) {
            run_checked(&shell, &localize(&command));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn every_example_folder_has_a_readme_this_test_runs() {
    let mut folders: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut known = EXAMPLES.to_vec();
    known.sort_unstable();
    assert_eq!(
        folders, known,
        "a new example needs a README and a test here"
    );
    for example in EXAMPLES {
        let text = std::fs::read_to_string(repo().join("examples").join(example).join("README.md"))
            .unwrap_or_else(|e| panic!("examples/{example}/README.md: {e}"));
        assert!(!sh_blocks(&text).is_empty(), "examples/{example}/README.md");
    }
}

#[test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
fn single_worker_readme_runs() {
    run_readme("single-worker");
}

#[test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
fn team_workflow_readme_runs() {
    run_readme("team-workflow");
}

#[test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
fn shop_readme_runs() {
    run_readme("shop");
}

#[test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
fn ci_readme_runs() {
    run_readme("ci");
}
