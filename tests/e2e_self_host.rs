//! Self-hosting in one command: scripts/self-host.sh, with real wrangler, deploys Clodo itself
//! to the sandbox's demo account (the Worker bundle tests/e2e.sh built; the dashboard it builds
//! itself), and the
//! account then has what an installation needs: the D1 database with every migration applied,
//! the Worker with its four Durable Object classes and both secrets, the dashboard on Pages.
//! A second run reuses all of it and keeps the secrets; bad input stops before any change.

mod e2e_support;

use std::process::Command;

use e2e_support::shop::{repo, sandbox_call, sandbox_url, ACCOUNT, TOKEN};
use e2e_support::{items, outcome, str_of, unique};
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// scripts/self-host.sh with `args`, against the sandbox as the demo account's token, with
/// `env` added and stdin not a terminal: exit code, stdout, stderr.
fn self_host(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("scripts/self-host.sh"))
        .args(args)
        .env("CLOUDFLARE_API_BASE_URL", sandbox_url())
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLODO_BOOTSTRAP_TOKEN")
        .env_remove("CLODO_ENCRYPTION_KEY")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, out, err) = outcome(cmd.output().expect("bash runs"));
    eprintln!("self-host {args:?}: exit {code}\n{out}\n{err}");
    (code, out, err)
}

/// The account's D1 databases called `name`.
async fn databases(name: &str) -> Vec<Value> {
    let (_, body) = sandbox_call(
        "GET",
        &format!("/accounts/{ACCOUNT}/d1/database?name={name}"),
        None,
    )
    .await;
    items(&body["result"])
        .iter()
        .filter(|d| d["name"] == name)
        .cloned()
        .collect()
}

async fn result(path: &str) -> Value {
    let (status, body) = sandbox_call("GET", &format!("/accounts/{ACCOUNT}{path}"), None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body["result"].clone()
}

#[tokio::test]
#[ignore = "needs the sandbox and the builds of tests/e2e.sh: run through it"]
async fn self_host_deploys_clodo_to_an_account_and_runs_again_safely() {
    let name = format!("clodo-{}", unique("sh").replace('-', "").to_lowercase());
    let name = &name[..name.len().min(40)];
    let out_dir = std::env::temp_dir().join(unique("self-host"));
    let out_arg = out_dir.to_string_lossy().into_owned();
    let args = [
        "--account",
        ACCOUNT,
        "--name",
        name,
        "--no-worker-build",
        "--out-dir",
        &out_arg,
    ];
    let env = [
        ("CLODO_BOOTSTRAP_TOKEN", "self-host-operator-secret"),
        ("CLODO_ENCRYPTION_KEY", KEY),
    ];
    let (code, out, err) = self_host(&args, &env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "control plane: https://{name}.shop-demo.workers.dev"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "dashboard:     https://{name}-dashboard.pages.dev"
        )),
        "{out}"
    );
    assert!(
        err.contains(&format!("creating D1 database {name}")),
        "{err}"
    );

    // The database exists once, named as the Worker, with every migration applied.
    let dbs = databases(name).await;
    assert_eq!(dbs.len(), 1, "{dbs:?}");
    let db_id = str_of(&dbs[0]["uuid"]).to_owned();
    let config = std::fs::read_to_string(out_dir.join("wrangler.toml")).unwrap();
    assert!(
        config.contains(&format!("database_id = \"{db_id}\"")),
        "{config}"
    );
    assert!(
        !config.contains("[build]") && !config.contains("[env."),
        "{config}"
    );
    let migrations = std::fs::read_dir(repo().join("migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    let (status, body) = sandbox_call(
        "POST",
        &format!("/accounts/{ACCOUNT}/d1/database/{db_id}/query"),
        Some(json!({ "sql": "SELECT name FROM d1_migrations ORDER BY id" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        items(&body["result"][0]["results"]).len(),
        migrations,
        "{body}"
    );

    // The Worker, its Durable Object classes, both secrets.
    let namespaces = result("/workers/durable_objects/namespaces").await;
    let mut classes: Vec<&str> = items(&namespaces)
        .iter()
        .filter(|n| n["script"] == name)
        .map(|n| n["class"].as_str().unwrap())
        .collect();
    classes.sort_unstable();
    assert_eq!(classes, ["DeployLock", "Outbox", "Rollout", "Scheduler"]);
    let secret_names = |v: &Value| {
        let mut n: Vec<String> = items(v)
            .iter()
            .map(|s| str_of(&s["name"]).to_owned())
            .collect();
        n.sort();
        n
    };
    let secrets = result(&format!("/workers/scripts/{name}/secrets")).await;
    assert_eq!(
        secret_names(&secrets),
        ["CLODO_BOOTSTRAP_TOKEN", "CLODO_ENCRYPTION_KEY"]
    );
    let deployments = result(&format!("/workers/scripts/{name}/deployments")).await;
    let first_count = items(&deployments["deployments"]).len();

    // The dashboard on Pages: a production deployment of main serving the build made for
    // this installation (its script calls the Worker's URL; its CSP allows only that origin),
    // not the local one in frontend/dist.
    let project = format!("{name}-dashboard");
    let pages = result(&format!(
        "/pages/projects/{project}/deployments?env=production"
    ))
    .await;
    assert_eq!(items(&pages).len(), 1, "{pages}");
    let site = format!(
        "{}/__sandbox/pages/{project}/production",
        e2e_support::shop::sandbox_root()
    );
    let html = reqwest::get(format!("{site}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let built = out_dir.join("dashboard");
    assert_eq!(
        html,
        std::fs::read_to_string(built.join("index.html")).unwrap()
    );
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no script in {html}"));
    let js = reqwest::get(format!("{site}{script}")).await.unwrap();
    assert_eq!(js.status(), 200, "{script}");
    let worker_url = format!("https://{name}.shop-demo.workers.dev");
    assert!(
        js.text().await.unwrap().contains(&worker_url),
        "{script} calls {worker_url}"
    );
    let headers = std::fs::read_to_string(built.join("_headers")).unwrap();
    assert!(
        headers.contains(&format!("connect-src 'self' {worker_url} wss://")),
        "{headers}"
    );

    // Again, with no secrets given and no terminal: everything reused, the secrets kept,
    // a new Worker deployment and dashboard deployment.
    let (code, out, err) = self_host(&args, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains(&format!("D1 database {name} exists ({db_id})")),
        "{err}"
    );
    assert!(
        err.contains(&format!("Pages project {project} exists")),
        "{err}"
    );
    assert!(
        err.contains("secret CLODO_ENCRYPTION_KEY is set already; kept"),
        "{err}"
    );
    assert!(
        err.contains("secret CLODO_BOOTSTRAP_TOKEN is set already; kept"),
        "{err}"
    );
    assert_eq!(databases(name).await.len(), 1);
    let deployments = result(&format!("/workers/scripts/{name}/deployments")).await;
    assert_eq!(items(&deployments["deployments"]).len(), first_count + 1);
    let pages = result(&format!(
        "/pages/projects/{project}/deployments?env=production"
    ))
    .await;
    assert_eq!(items(&pages).len(), 2, "{pages}");

    // A given encryption key never replaces the one the stored credentials are encrypted with.
    let (code, _, err) = self_host(&args, &[("CLODO_ENCRYPTION_KEY", KEY)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("CLODO_ENCRYPTION_KEY already: not replaced"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[tokio::test]
#[ignore = "needs the sandbox and the builds of tests/e2e.sh: run through it"]
async fn self_host_refuses_bad_input_before_changing_anything() {
    // No account.
    let (code, _, err) = self_host(&["--no-worker-build"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no account: pass --account ACCOUNT_ID"),
        "{err}"
    );
    // A new installation without its secrets and no terminal to ask on: nothing created.
    let name = format!("clodo-{}", unique("bad").replace('-', "").to_lowercase());
    let name = &name[..name.len().min(40)];
    let (code, _, err) = self_host(
        &["--account", ACCOUNT, "--name", name, "--no-worker-build"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("CLODO_BOOTSTRAP_TOKEN is not set"), "{err}");
    assert!(databases(name).await.is_empty());
    // A key that is not 32 bytes.
    let (code, _, err) = self_host(
        &["--account", ACCOUNT, "--name", name, "--no-worker-build"],
        &[
            ("CLODO_BOOTSTRAP_TOKEN", "x"),
            ("CLODO_ENCRYPTION_KEY", "dG9vIHNob3J0"),
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("must be 32 bytes in base64"), "{err}");
    assert!(databases(name).await.is_empty());
    // A Worker name wrangler would refuse.
    let (code, _, err) = self_host(&["--account", ACCOUNT, "--name", "Bad_Name"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("--name 'Bad_Name'"), "{err}");
}
