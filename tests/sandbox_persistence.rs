//! `--state DIR`: every mutation is persisted and a restarted sandbox picks the state up again
//! (the state directory wins over the seed).

mod sandbox_support;

use std::time::Duration;

use clodo::sandbox::{self, SandboxOptions, Seed};
use sandbox_support::*;
use serde_json::json;

#[tokio::test]
async fn state_survives_a_restart_and_wins_over_the_seed() {
    let state_dir = temp_dir("sandbox-state");
    let options = SandboxOptions {
        seed: Seed::Json(seed()),
        state_dir: Some(state_dir.to_path_buf()),
        ..Default::default()
    };
    let first = sandbox::start(options.clone()).await.unwrap();
    let api = Api::new(&first, Some(EDIT_TOKEN));
    api.post_ok(
        &format!("/accounts/{ACCOUNT}/d1/database"),
        json!({ "name": "kept-db" }),
    )
    .await;
    let project = worker_project("hello");
    wrangler_ok(
        &first,
        &project,
        &["deploy", "--message", "persist me"],
        None,
    )
    .await;
    admin(
        &first,
        "PATCH",
        "/analytics",
        Some(json!({ "requests_per_minute": 7 })),
    )
    .await;
    first.shutdown().await;

    assert!(state_dir.join("state.json").exists());
    assert!(
        !state_dir.join("state.json.tmp").exists(),
        "writes go through a temp file + rename"
    );

    // Same options: the seed would recreate the initial state, but the state dir wins.
    let second = sandbox::start(options).await.unwrap();
    let api = Api::new(&second, Some(EDIT_TOKEN));
    let db = api.account("/d1/database/kept-db").await;
    assert_eq!(db["name"], "kept-db");
    let deployments = api.account("/workers/scripts/hello/deployments").await;
    assert_eq!(
        deployments["deployments"][0]["annotations"]["workers/message"],
        "persist me"
    );
    let content = api
        .text(&format!("/accounts/{ACCOUNT}/workers/scripts/hello"))
        .await;
    assert!(
        content.contains("from the sandbox fixture"),
        "the uploaded bundle persisted: {content}"
    );
    assert_eq!(
        admin(&second, "GET", "/analytics", None).await["requests_per_minute"],
        7.0
    );
    second.shutdown().await;

    // Without a seed at all, the state dir alone is enough.
    let third = sandbox::start(SandboxOptions {
        state_dir: Some(state_dir.to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap();
    Api::new(&third, Some(EDIT_TOKEN))
        .result(&format!("/accounts/{ACCOUNT}/d1/database/kept-db"))
        .await;
    third.shutdown().await;
}

#[tokio::test]
async fn the_cli_persists_across_process_restarts() {
    use tokio::io::AsyncBufReadExt;
    let state_dir = temp_dir("sandbox-cli-state");
    let seed = fixtures().join("seed.json");
    let spawn = || async {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clodo"))
            .args([
                "sandbox",
                "--seed",
                seed.to_str().unwrap(),
                "--port",
                "0",
                "--state",
                state_dir.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn clodo sandbox");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        (child, first.rsplit(' ').next().unwrap().to_string())
    };
    let namespaces = format!("/accounts/{ACCOUNT}/storage/kv/namespaces");

    let (mut child, base) = spawn().await;
    let (_, created) = Api::at(&base, Some(EDIT_TOKEN))
        .post(&namespaces, json!({ "title": "survivor" }))
        .await;
    let id = created["result"]["id"].as_str().unwrap().to_string();
    child.kill().await.unwrap();

    let (mut child, base) = spawn().await;
    let (_, found) = Api::at(&base, Some(EDIT_TOKEN))
        .get(&format!("{namespaces}/{id}"))
        .await;
    assert_eq!(found["result"]["title"], "survivor");
    child.kill().await.unwrap();
}
