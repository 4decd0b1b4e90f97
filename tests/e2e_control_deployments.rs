//! End-to-end tests of deployment requests (issue 5) against the built Worker under local
//! workerd: approvals that refuse self-approval and queue at the required count, freezes with
//! the audited emergency override, cursor-paginated history, and the `clodo` CLI logging in,
//! locking, approving and exporting the audit log.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs them with `--ignored`.

mod e2e_support;

use e2e_support::{assert_says, base_url, outcome, strings, strings_present, unique, Team};
use serde_json::{json, Value};

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn approvals_refuse_self_approval_and_queue_at_the_required_count() {
    let team = Team::new().await;
    let (alice, alice_actor) = team.person("alice", "approver").await;
    let (bob, bob_actor) = team.person("bob", "approver").await;
    let (carol, _) = team.person("carol", "deployer").await;
    team.set_policy(json!({ "required_approvals": 1 })).await;
    let dep = alice.create("/api/v1/deployments", json!({ "project": "shop", "environment": "production", "git_ref": "main", "git_sha": "abc123" })).await;
    assert_eq!(dep["status"], "awaiting_approval");
    assert_eq!(dep["requested_by"], alice_actor);
    let id = dep["id"].as_str().unwrap();
    let approvals = format!("/api/v1/deployments/{id}/approvals");
    let transitions = format!("/api/v1/deployments/{id}/transitions");
    let err = alice
        .post_refused(
            &approvals,
            json!({ "comment": "lgtm (me)" }),
            (403, "forbidden"),
        )
        .await;
    assert_says(&err, "message", "someone else");
    carol
        .post_refused(&approvals, json!({}), (403, "forbidden"))
        .await;
    // Nobody can skip the approval with a transition.
    alice
        .post_refused(&transitions, json!({ "to": "queued" }), (409, "conflict"))
        .await;
    let ok = bob
        .create(&approvals, json!({ "comment": "checked the diff" }))
        .await;
    assert_eq!(ok["deployment"]["status"], "queued");
    bob.post_refused(&approvals, json!({}), (409, "conflict"))
        .await;
    let (_, list) = alice.get(&approvals).await;
    assert_eq!(list["items"][0]["actor"], bob_actor);
    assert_eq!(list["items"][0]["comment"], "checked the diff");
    // The rest of the lifecycle, with an illegal move refused.
    // Deploying needs the environment's lock, held under the deployment's id.
    let err = carol
        .post_refused(
            &transitions,
            json!({ "to": "deploying" }),
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "lock");
    let lock = team.lock();
    let held = carol.acquire(&lock, id, None).await;
    assert_eq!(held["outcome"], "granted", "{held}");
    for to in ["deploying", "verifying", "succeeded"] {
        let (status, body) = carol.post(&transitions, json!({ "to": to })).await;
        assert_eq!(status, 200, "{to}: {body}");
        assert_eq!(body["status"], to);
    }
    carol
        .post_refused(
            &transitions,
            json!({ "to": "deploying" }),
            (409, "conflict"),
        )
        .await;
    // Finishing released the lock.
    let (_, info) = carol.get(&lock).await;
    assert_eq!(info["held"], false, "{info}");
    let (_, full) = carol.get(&format!("/api/v1/deployments/{id}")).await;
    let kinds: Vec<&str> = strings(&full["events"], "kind");
    assert_eq!(
        kinds,
        [
            "requested",
            "transition",
            "approved",
            "transition",
            "transition",
            "transition",
            "transition"
        ]
    );
    let to: Vec<&str> = strings_present(&full["events"], "to_status");
    assert_eq!(
        to,
        [
            "requested",
            "awaiting_approval",
            "queued",
            "deploying",
            "verifying",
            "succeeded"
        ]
    );
    assert!(full["finished_at"].is_number() && full["started_at"].is_number());
    assert_eq!(team.audit("deployment.approve").await.len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn a_freeze_blocks_deploys_and_the_emergency_override_is_audited() {
    let team = Team::new().await;
    let (deployer, _) = team.person("dan", "deployer").await;
    let (approver, approver_actor) = team.person("ann", "approver").await;
    let now = chrono::Utc::now();
    let policy = json!({
        "branches": ["main", "release/*"],
        "freezes": [{
            "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "ends_at": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "reason": "Black Friday",
        }],
    });
    team.set_policy(policy).await;
    let request = json!({ "project": "shop", "environment": "production", "git_ref": "main" });
    let err = deployer
        .post_refused("/api/v1/deployments", request.clone(), (409, "conflict"))
        .await;
    assert_says(&err, "message", "Black Friday");
    // A plain deployer cannot override.
    let mut with_override = request.clone();
    with_override["emergency_override"] = json!({ "reason": "payments down, hotfix" });
    deployer
        .post_refused(
            "/api/v1/deployments",
            with_override.clone(),
            (403, "forbidden"),
        )
        .await;
    let dep = approver.create("/api/v1/deployments", with_override).await;
    assert_eq!(dep["override_reason"], "payments down, hotfix");
    assert_eq!(dep["overridden_rules"][0]["kind"], "frozen");
    let entries = team.audit("deployment.emergency_override").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"], approver_actor);
    assert_eq!(entries[0]["target_id"], dep["id"]);
    assert_eq!(entries[0]["after"]["reason"], "payments down, hotfix");
    // Branch rules are checked too: a feature branch is refused even by an approver.
    let err = approver
        .post_refused(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production", "git_ref": "feature/x" }),
            (409, "conflict"),
        )
        .await;
    assert_says(&err, "message", "feature/x");
    // A policy with a bad time zone is refused with the field.
    let err = team.admin.refused("PUT", &format!("{}/policy", team.env_path()), Some(json!({ "windows": [{ "days": ["mon"], "start": "09:00", "end": "17:00", "timezone": "Mars/Base" }] })), (400, "bad_request")).await;
    assert_says(&err, "message", "timezone");
    let (_, audit_policy) = team.admin.get("/api/v1/audit?action=policy.update").await;
    assert_eq!(audit_policy["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn history_is_cursor_paginated_newest_first() {
    let team = Team::new().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let dep = team.admin.create("/api/v1/deployments", json!({ "project": "shop", "environment": "production", "message": format!("#{i}") })).await;
        ids.push(dep["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/deployments?limit=2&cursor={c}"),
            None => "/api/v1/deployments?limit=2".into(),
        };
        let page = team.admin.read(&path).await;
        for d in page["items"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);
    team.admin
        .refused(
            "GET",
            "/api/v1/deployments?cursor=garbage!",
            None,
            (400, "bad_request"),
        )
        .await;
}

/// Runs the real `clodo` binary with a private config directory and no inherited login.
fn clodo(
    config_home: &std::path::Path,
    token: Option<&str>,
    args: &[&str],
) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_clodo"));
    cmd.args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("CLODO_TOKEN")
        .env("CLODO_API_URL", base_url());
    if let Some(token) = token {
        cmd.env("CLODO_TOKEN", token);
    }
    outcome(cmd.output().expect("clodo runs"))
}

#[tokio::test]
#[ignore = "needs the local Worker: run through tests/e2e.sh"]
async fn the_cli_logs_in_locks_approves_and_exports() {
    let team = Team::new().await;
    let (deployer, _) = team.person("cli-dev", "deployer").await;
    let (approver, _) = team.person("cli-approver", "approver").await;
    let home = std::env::temp_dir().join(unique("clodo-cli"));
    let (code, out, err) = clodo(
        &home,
        None,
        &["login", "--token", &deployer.token, "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let login: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(login["role"], "deployer");
    let config = home.join("clodo/config.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is owner-only");
    }
    let target = ["--project", "shop", "--env", "production", "--json"];
    let with = |head: &[&str], tail: &[&str]| -> Vec<String> {
        head.iter()
            .chain(target.iter())
            .chain(tail.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |args: Vec<String>, token: Option<&str>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        clodo(&home, token, &refs)
    };
    // The stored login is used when no env token is set.
    let (code, out, err) = run(
        with(
            &["lock", "acquire"],
            &["--holder", "cli-1", "--lease", "30"],
        ),
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["outcome"],
        "granted"
    );
    let (code, out, _) = run(with(&["lock", "status"], &[]), None);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["holder"]["holder_id"],
        "cli-1"
    );
    // The holder renews its lease; a second caller queues, then leaves the queue.
    let (code, out, err) = run(with(&["lock", "heartbeat"], &["--holder", "cli-1"]), None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("lease_until_ms"), "{out}");
    let (code, out, err) = run(with(&["lock", "acquire"], &["--holder", "cli-2"]), None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["position"], 1);
    let (code, _, err) = run(with(&["lock", "cancel"], &["--holder", "cli-2"]), None);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(with(&["lock", "status"], &[]), None);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert!(status["queue"].as_array().unwrap().is_empty(), "{status}");
    let (code, _, err) = run(with(&["lock", "heartbeat"], &["--holder", "cli-2"]), None);
    assert_eq!(code, 1, "only the holder renews");
    assert!(err.contains("409"), "{err}");
    let (code, _, err) = run(
        with(&["lock", "force-unlock"], &["--reason", "x", "--yes"]),
        None,
    );
    assert_eq!(code, 1, "a deployer cannot force-unlock");
    assert!(err.contains("admin"), "{err}");
    let (code, out, err) = run(with(&["lock", "release"], &["--holder", "cli-1"]), None);
    assert_eq!(code, 0, "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap()["next_holder"].is_null());
    // Approve a deployment someone else requested, then see it in history.
    team.admin
        .put(
            &format!("{}/policy", team.env_path()),
            json!({ "required_approvals": 1 }),
        )
        .await;
    let (_, dep) = deployer
        .post(
            "/api/v1/deployments",
            json!({ "project": "shop", "environment": "production" }),
        )
        .await;
    let id = dep["id"].as_str().unwrap();
    let (code, _, err) = clodo(&home, None, &["approve", id, "--json"]);
    assert_eq!(code, 1, "a deployer cannot approve, not even their own");
    assert!(err.contains("approver role"), "{err}");
    let (code, out, err) = clodo(
        &home,
        Some(&approver.token),
        &["approve", id, "-c", "ship it", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["deployment"]["status"],
        "queued"
    );
    let (code, out, _) = clodo(&home, None, &["history", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["items"][0]["id"],
        id
    );
    let file = home.join("audit.csv");
    let file_arg = file.to_str().unwrap();
    let (code, out, err) = clodo(
        &home,
        Some(&team.admin.token),
        &[
            "audit", "export", "--format", "csv", "--output", file_arg, "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(csv.starts_with("id,at,actor,action"));
    assert_eq!(
        summary["rows"].as_u64().unwrap() as usize,
        csv.lines().count() - 1
    );
    assert!(csv.contains("deployment.approve"));
    let _ = std::fs::remove_dir_all(&home);
}
