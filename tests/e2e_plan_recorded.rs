//! `clodo drift` with a control plane: the versions serving traffic are checked against the
//! deployments Clodo recorded, so a manual `wrangler deploy` after `clodo deploy` shows as an
//! unrecorded version. Real `clodo`, real wrangler, the local Worker and the sandbox.
//!
//! `#[ignore]`d under a plain `cargo test`; `tests/e2e.sh` runs it with `--ignored`.

mod e2e_support;

use e2e_support::shop::{clodo, deploy_args, live, shop_setup, wrangler};
use serde_json::Value;

fn drift(dir: &std::path::Path, token: &str) -> Value {
    let (code, out, err) = clodo(dir, token, &["drift", "--env", "staging", "--json"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn unrecorded(report: &Value) -> Vec<(String, String)> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["kind"] == "unrecorded_version")
                .map(|i| {
                    (
                        s["service"].as_str().unwrap().to_owned(),
                        i["what"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the local Worker, the sandbox and wrangler: run through tests/e2e.sh"]
async fn drift_tells_a_manual_wrangler_deploy_from_clodos_recorded_ones() {
    let (team, project) = shop_setup().await;
    let (code, out, err) = clodo(&project.dir, &team.admin.token, &deploy_args("immediate"));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");

    let report = drift(&project.dir, &team.admin.token);
    assert_eq!(report["recorded_deployments"], true, "{report:#}");
    assert_eq!(unrecorded(&report), vec![], "{report:#}");

    // Someone ships the api by hand, behind Clodo's back.
    wrangler(&project.dir.join("api"), &["deploy", "--env", "staging"]);
    let manual = live(&project.script("api"))
        .await
        .expect("the manual deploy is live");
    let report = drift(&project.dir, &team.admin.token);
    assert_eq!(report["drifted"], true, "{report:#}");
    assert_eq!(
        unrecorded(&report),
        vec![("api".to_owned(), format!("version {manual}"))],
        "{report:#}"
    );
}
