//! End-to-end: a preview deployment recorded on an environment (what `clodo deploy --preview`
//! does after `wrangler pages deploy --branch`) edits the Clodo comment of the pull request from
//! that branch on the fake GitHub, in place: the comment gains a "Previews" section with the
//! URL; recording the same preview again edits nothing; a preview of another branch leaves the
//! comment alone; the next push's assessment keeps the previews in the comment.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;
mod fake_github;

use std::time::Duration;

use e2e_support::shop::sandbox_url;
use e2e_support::{str_of, unique};
use fake_github::{connected, Connected, ACCOUNT, CLODO_TOML, SANDBOX_TOKEN, SHA_A, SHA_B};
use serde_json::{json, Value};

const PRESENT: &str = include_str!("fixtures/assess/present.toml");

/// A call to the sandbox's Cloudflare API in the GitHub test account; the `result`.
async fn sandbox(request: reqwest::RequestBuilder) -> Value {
    let answer: Value = request
        .bearer_auth(SANDBOX_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    answer["result"].clone()
}

/// A Pages project with a preview deployment of `branch` (an empty site, as a direct upload
/// with an empty manifest makes); the deployment's id.
async fn pages_preview(project: &str, branch: &str) -> String {
    let client = reqwest::Client::new();
    let base = format!("{}/accounts/{ACCOUNT}/pages/projects", sandbox_url());
    let (status, _) = {
        let r = client
            .get(format!("{base}/{project}"))
            .bearer_auth(SANDBOX_TOKEN)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    if status == 404 {
        sandbox(
            client
                .post(&base)
                .json(&json!({ "name": project, "production_branch": "main" })),
        )
        .await;
    }
    let boundary = "clodo-e2e-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{{}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"branch\"\r\n\r\n{branch}\r\n--{boundary}--\r\n"
    );
    let made = sandbox(
        client
            .post(format!("{base}/{project}/deployments"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body),
    )
    .await;
    assert_eq!(made["environment"], "preview", "{made}");
    str_of(&made["id"]).to_owned()
}

async fn record_preview(gh: &Connected, project: &str, id: &str, branch: &str) -> Value {
    gh.team
        .admin
        .create(
            "/api/v1/projects/shop/environments/production/previews",
            json!({ "service": "storefront", "project": project, "pages_deployment_id": id,
                    "url": format!("https://{id}.{project}.pages.dev"), "branch": branch,
                    "git_sha": SHA_A }),
        )
        .await
}

#[tokio::test]
#[ignore = "needs the local Worker and sandbox: run through tests/e2e.sh"]
async fn a_recorded_preview_edits_the_pull_request_comment_in_place() {
    let gh = connected().await;
    gh.commit(SHA_A, CLODO_TOML, PRESENT);
    gh.commit(SHA_B, CLODO_TOML, PRESENT);
    let (status, body) = gh
        .deliver(
            "pull_request",
            &unique("d"),
            Connected::pull_request("opened", 9, SHA_A),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    gh.wait_for("the comment", |r| !r.comments.is_empty()).await;
    let (id, _, first) = gh.recorded.lock().unwrap().comments[0].clone();
    assert!(!first.contains("Previews"), "{first}");

    // The head branch of the pull request is `feature`: its preview is shown on the comment.
    let project = unique("site");
    let deployment = pages_preview(&project, "feature").await;
    let recorded = record_preview(&gh, &project, &deployment, "feature").await;
    let url = str_of(&recorded["url"]).to_owned();
    gh.wait_for("the edit with the preview", |r| !r.edits.is_empty())
        .await;
    {
        let s = gh.recorded.lock().unwrap();
        assert_eq!(
            s.comments.len(),
            1,
            "never a second comment: {:?}",
            s.comments
        );
        let (edited, text) = &s.edits[0];
        assert_eq!(*edited, id);
        assert!(text.contains("Clodo assessment of `aaaaaaa`"), "{text}");
        assert!(text.contains("### Previews of `feature`"), "{text}");
        assert!(
            text.contains(&format!("| production | storefront | {url} | `aaaaaaa` |")),
            "{text}"
        );
    }

    // The same preview recorded again answers the first record and edits nothing; a preview
    // of another branch does not touch this pull request's comment.
    let again = record_preview(&gh, &project, &deployment, "feature").await;
    assert_eq!(again["id"], recorded["id"]);
    let other = pages_preview(&project, "other").await;
    record_preview(&gh, &project, &other, "other").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(gh.recorded.lock().unwrap().edits.len(), 1);

    // The next push's assessment edits the same comment and keeps the previews.
    let (status, _) = gh
        .deliver(
            "pull_request",
            &unique("d"),
            Connected::pull_request("synchronize", 9, SHA_B),
        )
        .await;
    assert_eq!(status, 202);
    gh.wait_for("the edit of the push", |r| r.edits.len() == 2)
        .await;
    let s = gh.recorded.lock().unwrap();
    assert_eq!(s.comments.len(), 1, "{:?}", s.comments);
    let (edited, text) = &s.edits[1];
    assert_eq!(*edited, id);
    assert!(text.contains("`bbbbbbb`") && text.contains(&url), "{text}");
}
