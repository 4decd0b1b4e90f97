//! End-to-end: deploy-on-push. A push to `main`, whose assessment is ready, dispatches the
//! repository's deploy workflow on the fake GitHub with the environment as its input, once:
//! a redelivery dispatches nothing, and neither does the outbox's retry of the delivery after
//! GitHub failed the next call. A push whose assessment is not ready dispatches nothing and
//! says why in the commit status `clodo/deploy/production`.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;
mod fake_github;

use std::time::Duration;

use e2e_support::{str_of, unique};
use fake_github::{connected_with, Connected, CLODO_TOML, SHA_A, SHA_B};
use serde_json::json;

const PRESENT: &str = include_str!("fixtures/assess/present.toml");
const CONTEXT: &str = "clodo/deploy/production";

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_ready_push_dispatches_the_deploy_workflow_once_and_a_broken_one_says_why_not() {
    let gh = connected_with(json!({ "deploy_on_push": [
        { "branch": "main", "environment": "production", "workflow": "deploy.yml" } ] }))
    .await;
    let shown = gh.team.admin.read("/api/v1/projects/shop/github").await;
    assert_eq!(
        shown["deploy_on_push"][0]["workflow"], "deploy.yml",
        "{shown}"
    );
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, "name = \"broken\nmain = ");
    // The deploy status fails once: the outbox retries the whole delivery, which must not
    // dispatch a second time.
    gh.recorded
        .lock()
        .unwrap()
        .fail_status_once
        .push(CONTEXT.into());

    let delivery = unique("d");
    let (status, body) = gh
        .deliver("push", &delivery, Connected::push("main", SHA_A))
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the deploy status of A", |r| {
        r.statuses
            .iter()
            .any(|(s, b)| s == SHA_A && b["context"] == CONTEXT)
    })
    .await;
    {
        let s = gh.recorded.lock().unwrap();
        assert_eq!(s.dispatches.len(), 1, "{:?}", s.dispatches);
        assert_eq!(s.dispatches[0].0, "deploy.yml");
        assert_eq!(
            s.dispatches[0].1,
            json!({ "ref": "main", "inputs": { "environment": "production" } })
        );
        let deploy = s
            .statuses
            .iter()
            .find(|(sha, b)| sha == SHA_A && b["context"] == CONTEXT)
            .unwrap();
        assert_eq!(deploy.1["state"], "success", "{}", deploy.1);
        assert!(
            str_of(&deploy.1["description"]).contains("dispatched deploy.yml"),
            "{}",
            deploy.1
        );
    }

    // GitHub redelivers: nothing twice.
    let (status, body) = gh
        .deliver("push", &delivery, Connected::push("main", SHA_A))
        .await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");

    // A broken commit: no dispatch, and the status says why.
    let (status, _) = gh
        .deliver("push", &unique("d"), Connected::push("main", SHA_B))
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the deploy status of B", |r| {
        r.statuses
            .iter()
            .any(|(s, b)| s == SHA_B && b["context"] == CONTEXT)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = gh.recorded.lock().unwrap();
    assert_eq!(s.dispatches.len(), 1, "{:?}", s.dispatches);
    let refused = s
        .statuses
        .iter()
        .find(|(sha, b)| sha == SHA_B && b["context"] == CONTEXT)
        .unwrap();
    assert_eq!(refused.1["state"], "failure");
    assert!(
        str_of(&refused.1["description"])
            .contains("not deployed to production: the assessment is not ready"),
        "{}",
        refused.1
    );
}
