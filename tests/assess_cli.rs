//! End-to-end tests of `clodo assess`: the real binary against a sandbox Cloudflare API seeded
//! with `tests/fixtures/assess/seed.json`, one test per group of finding kinds.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use clodo::sandbox::{self, RunningSandbox, SandboxOptions};
use common::{files_dir, FilesDir};
use serde_json::{json, Value};

const CLODO: &str = env!("CARGO_BIN_EXE_clodo");

fn seed() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/assess/seed.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn start() -> RunningSandbox {
    sandbox::start(SandboxOptions::with_seed_json(seed()))
        .await
        .expect("sandbox starts")
}

/// A throwaway project directory with files, removed on drop.
fn project(files: &[(&str, &str)]) -> FilesDir {
    files_dir("assess", files)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
    fn kinds(&self) -> BTreeSet<String> {
        self.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn assess(dir: &Path, api: Option<&str>, token: &str, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(CLODO);
    cmd.arg("assess").args(args).current_dir(dir);
    cmd.env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_BASE_URL")
        .env("NO_COLOR", "1");
    if let Some(api) = api {
        cmd.env("CLOUDFLARE_API_BASE_URL", api)
            .env("CLOUDFLARE_API_TOKEN", token)
            .env("CLOUDFLARE_ACCOUNT_ID", "acc_a");
    }
    let out: Output = cmd.output().await.expect("clodo runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn finding<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {report:#}"))
}

fn findings_of<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// A config whose every binding, route and secret exists: the precision baseline.
const GOOD: &str = r#"
name = "api"
main = "src/index.js"
compatibility_date = "2026-06-01"

routes = [{ pattern = "example.com/api/*", zone_name = "example.com" }]

[[d1_databases]]
binding = "DB"
database_name = "app-db"
database_id = "11111111-1111-4111-8111-111111111111"

[[kv_namespaces]]
binding = "CACHE"
id = "0f2ac74b498b48028cb68387c421e279"

[[r2_buckets]]
binding = "ASSETS"
bucket_name = "assets"

[[r2_buckets]]
binding = "EU_ASSETS"
bucket_name = "eu-assets"
jurisdiction = "eu"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[queues.consumers]]
queue = "jobs"

[[services]]
binding = "ADMIN"
service = "other-worker"
entrypoint = "Admin"

[durable_objects]
bindings = [
  { name = "ROOM", class_name = "Room" },
  { name = "COUNTER", class_name = "Counter", script_name = "other-worker" },
]

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Room"]

[secrets]
required = ["API_KEY"]

[vars]
MODE = "production"
"#;

#[tokio::test]
async fn a_config_whose_resources_all_exist_is_ready_with_no_findings() {
    let sb = start().await;
    let p = project(&[
        ("wrangler.toml", GOOD),
        ("src/index.js", "export default {}"),
    ]);
    let run = assess(
        &p.0,
        Some(&sb.base_url()),
        "edit-token",
        &["--format", "json"],
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["ready"], true);
    assert_eq!(report["findings"], json!([]), "no false alarms");
    assert_eq!(report["checked"]["bindings"], 8);
    assert_eq!(report["capabilities"]["d1"], true);
    assert!(report["api_calls"].as_u64().unwrap() >= 8);
    assert!(report["duration_ms"].is_u64());
}

#[tokio::test]
async fn every_remote_gap_is_found_with_its_fix_and_location() {
    let sb = start().await;
    let config = r#"
name = "api"
main = "src/index.js"
compatibility_date = "2026-06-01"
routes = [
  "example.com/taken/*",
  "nozone.test/*",
  "pending.dev/*",
  { pattern = "taken.example.com", custom_domain = true },
  { pattern = "taken-dns.example.com", custom_domain = true },
]

[vars]
SHARED = "clashes with a secret"

[[d1_databases]]
binding = "DB"
database_name = "app-db"
database_id = "99999999-9999-4999-8999-999999999999"

[[d1_databases]]
binding = "MISNAMED"
database_name = "app-db"
database_id = "22222222-2222-4222-8222-222222222222"

[[kv_namespaces]]
binding = "CACHE"
id = "ffffffffffffffffffffffffffffffff"

[[r2_buckets]]
binding = "MEDIA"
bucket_name = "no-such-bucket"

[[r2_buckets]]
binding = "EU"
bucket_name = "assets"
jurisdiction = "eu"

[[queues.producers]]
binding = "Q"
queue = "no-such-queue"

[[services]]
binding = "GONE"
service = "no-such-worker"

[[services]]
binding = "ADMIN"
service = "other-worker"
entrypoint = "Nope"

[durable_objects]
bindings = [
  { name = "ROOM", class_name = "Room" },
  { name = "GHOST", class_name = "Ghost" },
  { name = "REMOTE", class_name = "Nope", script_name = "other-worker" },
]

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Room"]

[[migrations]]
tag = "v2"
new_sqlite_classes = ["Lobby"]

[secrets]
required = ["API_KEY", "MISSING_ONE"]
"#;
    let p = project(&[("wrangler.toml", config), ("src/index.js", "")]);
    let run = assess(&p.0, Some(&sb.base_url()), "edit-token", &["--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["ready"], false);
    let expected = [
        "d1_missing",
        "d1_name_mismatch",
        "kv_missing",
        "r2_missing",
        "queue_missing",
        "service_missing",
        "service_entrypoint_missing",
        "do_class_missing",
        "do_migration_missing",
        "do_migration_pending",
        "secret_missing",
        "var_secret_clash",
        "route_conflict",
        "zone_missing",
        "zone_inactive",
        "custom_domain_conflict",
    ];
    let kinds = run.kinds();
    for kind in expected {
        assert!(kinds.contains(kind), "missing {kind} in {report:#}");
    }
    assert!(!kinds.contains("inconclusive"), "{report:#}");

    let d1 = finding(&report, "d1_missing");
    assert_eq!(d1["severity"], "error");
    assert_eq!(d1["service"], "api");
    assert!(
        d1["location"]["file"]
            .as_str()
            .unwrap()
            .ends_with("wrangler.toml"),
        "{d1}"
    );
    assert!(d1["location"]["line"].as_u64().is_some(), "{d1}");
    assert!(
        d1["fix"]
            .as_str()
            .unwrap()
            .contains("11111111-1111-4111-8111-111111111111"),
        "{d1}"
    );
    assert!(finding(&report, "r2_missing")["fix"]
        .as_str()
        .unwrap()
        .contains("wrangler r2 bucket create"));
    let r2_fixes: Vec<&str> = findings_of(&report, "r2_missing")
        .iter()
        .map(|f| f["fix"].as_str().unwrap())
        .collect();
    assert!(
        r2_fixes.contains(&"wrangler r2 bucket create assets -J eu"),
        "{r2_fixes:?}"
    );
    assert_eq!(
        finding(&report, "queue_missing")["fix"],
        "wrangler queues create no-such-queue"
    );
    assert_eq!(
        finding(&report, "secret_missing")["fix"],
        "wrangler secret put MISSING_ONE"
    );
    assert_eq!(findings_of(&report, "secret_missing").len(), 1);
    assert!(finding(&report, "service_entrypoint_missing")["message"]
        .as_str()
        .unwrap()
        .contains("Admin"));
    assert!(finding(&report, "do_migration_missing")["message"]
        .as_str()
        .unwrap()
        .contains("Ghost"));
    assert_eq!(finding(&report, "do_migration_pending")["severity"], "info");
    assert_eq!(findings_of(&report, "custom_domain_conflict").len(), 2);
    // A non-interactive wrangler deploy would replace the secret with the var: an error.
    let clash = finding(&report, "var_secret_clash");
    assert_eq!(clash["severity"], "error", "{clash}");
    assert!(clash["message"].as_str().unwrap().contains("`SHARED`"));
    let taken = findings_of(&report, "custom_domain_conflict")
        .into_iter()
        .find(|f| f["message"].as_str().unwrap().contains("other-worker"))
        .expect("the hostname attached to another Worker");
    assert_eq!(taken["severity"], "error");
    assert!(finding(&report, "route_conflict")["message"]
        .as_str()
        .unwrap()
        .contains("other-worker"));
}

#[tokio::test]
async fn local_checks_need_no_api() {
    let config = r#"
name = "Bad_Name"
main = "src/missing.js"
compatibility_date = "2020-01-01"

[[kv_namespaces]]
binding = "CACHE"
id = "0f2ac74b498b48028cb68387c421e279"

[env.staging]
name = "api-staging"
"#;
    let p = project(&[("wrangler.toml", config)]);
    let run = assess(&p.0, None, "", &["--offline", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let kinds = run.kinds();
    for kind in ["name_invalid", "main_missing", "compatibility_date_stale"] {
        assert!(kinds.contains(kind), "missing {kind}: {}", run.stdout);
    }

    let run = assess(&p.0, None, "", &["--offline", "--json", "--env", "staging"]).await;
    let report = run.json();
    let inherited = finding(&report, "binding_not_inherited");
    assert_eq!(inherited["severity"], "warning");
    assert!(inherited["message"]
        .as_str()
        .unwrap()
        .contains("kv_namespaces"));
    assert_eq!(inherited["env"], "staging");

    let run = assess(&p.0, None, "", &["--offline", "--json", "--env", "prod"]).await;
    assert_eq!(run.code, 1);
    let report = run.json();
    assert!(finding(&report, "env_unknown")["message"]
        .as_str()
        .unwrap()
        .contains("staging"));

    let future = project(&[(
        "wrangler.jsonc",
        "{\n  // a comment\n  \"name\": \"api\",\n  \"main\": \"index.js\",\n  \"compatibility_date\": \"2999-01-01\",\n}\n",
    ), ("index.js", "")]);
    let run = assess(&future.0, None, "", &["--offline", "--json"]).await;
    assert!(
        run.kinds().contains("compatibility_date_invalid"),
        "{}",
        run.stdout
    );

    let broken = project(&[("wrangler.toml", "name = \"api\"\nmain = [\n")]);
    let run = assess(&broken.0, None, "", &["--offline", "--json"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    let invalid = finding(&report, "config_invalid");
    assert!(invalid["location"]["line"].as_u64().is_some(), "{invalid}");
}

#[tokio::test]
async fn token_and_account_problems_block_and_skip_the_resource_checks() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let api = sb.base_url();
    let cases = [
        ("disabled-token", "token_invalid"),
        ("expired-token", "token_expired"),
        ("no-such-token", "token_invalid"),
        ("d1-only-token", "token_missing_permission"),
    ];
    for (token, kind) in cases {
        let run = assess(&p.0, Some(&api), token, &["--json"]).await;
        assert_eq!(run.code, 1, "{token}: {}", run.stdout);
        let report = run.json();
        assert_eq!(finding(&report, kind)["severity"], "error", "{token}");
        assert!(
            !run.kinds().contains("d1_missing"),
            "{token}: no false resource findings"
        );
    }
    // An account-owned token verifies through the account endpoint and works.
    let run = assess(&p.0, Some(&api), "account-token", &["--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);

    let mut cmd = tokio::process::Command::new(CLODO);
    let out = cmd
        .args(["assess", "--json"])
        .current_dir(&p.0)
        .env("CLOUDFLARE_API_BASE_URL", &api)
        .env("CLOUDFLARE_API_TOKEN", "edit-token")
        .env("CLOUDFLARE_ACCOUNT_ID", "acc_elsewhere")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(finding(&report, "account_inaccessible")["message"]
        .as_str()
        .unwrap()
        .contains("acc_elsewhere"));
}

#[tokio::test]
async fn drift_and_split_traffic_are_warnings() {
    let sb = start().await;
    let dash = project(&[
        (
            "wrangler.toml",
            "name = \"dash-worker\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n",
        ),
        ("i.js", ""),
    ]);
    let run = assess(&dash.0, Some(&sb.base_url()), "edit-token", &["--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    let drift = finding(&report, "dashboard_drift");
    assert_eq!(drift["severity"], "warning");
    assert!(
        drift["message"].as_str().unwrap().contains("LEGACY_KV"),
        "{drift}"
    );

    let split = project(&[
        (
            "wrangler.toml",
            "name = \"split-worker\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n",
        ),
        ("i.js", ""),
    ]);
    let run = assess(&split.0, Some(&sb.base_url()), "edit-token", &["--json"]).await;
    let report = run.json();
    assert!(finding(&report, "deployment_split_in_progress")["message"]
        .as_str()
        .unwrap()
        .contains("10"));
}

async fn add_fault(sb: &RunningSandbox, rule: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/faults", sb.admin_url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

#[tokio::test]
async fn unanswerable_checks_are_inconclusive_never_missing() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    // D1 answers 503 every time: the D1 check cannot be answered.
    add_fault(&sb, json!({ "kind": "server_error", "status": 503, "path": "/client/v4/accounts/*/d1/database" })).await;
    // The queue list hangs past the per-call timeout? Too slow for a test; drop the connection.
    add_fault(
        &sb,
        json!({ "kind": "drop", "path": "/client/v4/accounts/*/queues" }),
    )
    .await;
    let run = assess(&p.0, Some(&sb.base_url()), "edit-token", &["--json"]).await;
    let report = run.json();
    let inconclusive = findings_of(&report, "inconclusive");
    assert!(
        inconclusive
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("D1 binding `DB`")),
        "{report:#}"
    );
    assert!(
        inconclusive
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("queue `jobs`")),
        "{report:#}"
    );
    assert!(!run.kinds().contains("d1_missing") && !run.kinds().contains("queue_missing"));
    // A check that could not be made never passes as ready.
    assert_eq!(run.code, 1, "{report:#}");
    assert_eq!(report["ready"], false);
    assert!(report["unverified"].as_u64().unwrap() >= 2, "{report:#}");
    for f in &inconclusive {
        assert_eq!(f["unverified"], true, "{f}");
        assert!(
            f["fix"].as_str().unwrap().contains("--allow-inconclusive"),
            "{f}"
        );
    }
    let human = assess(&p.0, Some(&sb.base_url()), "edit-token", &[]).await;
    assert!(
        human.stdout.contains("unverified [inconclusive]")
            && human.stdout.contains("not ready: 0 errors"),
        "{}",
        human.stdout
    );

    // Opting out explicitly: ready, the findings stay, and the report says why it is ready.
    let run = assess(
        &p.0,
        Some(&sb.base_url()),
        "edit-token",
        &["--json", "--allow-inconclusive"],
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}\n{}", run.stderr);
    assert_eq!(report["ready"], true);
    assert_eq!(report["inconclusive_allowed"], true);
    assert!(!findings_of(&report, "inconclusive").is_empty());
    assert!(
        run.stderr.contains("--allow-inconclusive"),
        "{}",
        run.stderr
    );
    // Errors still block with the flag.
    let bad = project(&[
        ("wrangler.toml", &GOOD.replace("jobs", "no-such-queue")),
        ("src/index.js", ""),
    ]);
    let sb2 = start().await;
    add_fault(&sb2, json!({ "kind": "server_error", "status": 503, "path": "/client/v4/accounts/*/d1/database" })).await;
    let run = assess(
        &bad.0,
        Some(&sb2.base_url()),
        "edit-token",
        &["--json", "--allow-inconclusive"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["ready"], false);

    // A token without D1 read: the permission to add is named, and the report is not ready.
    let sb = start().await;
    let run = assess(&p.0, Some(&sb.base_url()), "no-d1-token", &["--json"]).await;
    let report = run.json();
    assert_eq!(report["capabilities"]["d1"], false);
    let missing = finding(&report, "token_missing_permission");
    assert!(
        missing["fix"]
            .as_str()
            .unwrap()
            .contains("Account · D1 · Read"),
        "{missing}"
    );
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("D1 binding `DB`"),
        "{missing}"
    );
    assert_eq!(missing["unverified"], true);
    assert!(
        findings_of(&report, "inconclusive").is_empty(),
        "{report:#}"
    );
    assert_eq!(run.code, 1, "{report:#}");
}

#[tokio::test]
async fn write_permissions_are_checked_when_the_token_can_read_its_policies() {
    let sb = start().await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    // Reads its own policies; routes only as Read: the deploy's route write would fail.
    let run = assess(&p.0, Some(&sb.base_url()), "introspect-token", &["--json"]).await;
    let report = run.json();
    assert_eq!(run.code, 1, "{report:#}");
    assert_eq!(report["write_access"]["state"], "missing", "{report:#}");
    assert_eq!(
        report["write_access"]["missing"],
        json!(["Zone · Workers Routes · Edit"])
    );
    let f = finding(&report, "token_missing_permission");
    assert_eq!(f["severity"], "error");
    assert!(f["fix"]
        .as_str()
        .unwrap()
        .contains("Zone · Workers Routes · Edit"));
    // Every needed write granted: verified.
    let run = assess(
        &p.0,
        Some(&sb.base_url()),
        "full-introspect-token",
        &["--json"],
    )
    .await;
    let report = run.json();
    assert_eq!(run.code, 0, "{report:#}");
    assert_eq!(report["write_access"]["state"], "verified");
    assert_eq!(
        report["write_access"]["needed"],
        json!([
            "Account · Queues · Edit",
            "Account · Workers Scripts · Edit",
            "Zone · Workers Routes · Edit"
        ])
    );
    // The usual token cannot read its policies: write access is said to be unverified.
    let run = assess(&p.0, Some(&sb.base_url()), "edit-token", &[]).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("write access: unverified"),
        "{}",
        run.stdout
    );
}

/// `clodo deploy` in `dir` against the sandbox, with no control plane configured.
async fn deploy(dir: &Path, home: &Path, api: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new(CLODO)
        .args(["deploy", "--env", "production", "--yes"])
        .args(extra)
        .current_dir(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("CLODO_API_URL")
        .env_remove("CLODO_TOKEN")
        .env("NO_COLOR", "1")
        .env("CLOUDFLARE_API_BASE_URL", api)
        .env("CLOUDFLARE_API_TOKEN", "edit-token")
        .env("CLOUDFLARE_ACCOUNT_ID", "acc_a")
        .output()
        .await
        .expect("clodo runs")
}

#[tokio::test]
async fn deploy_stops_on_a_check_that_could_not_be_made_unless_allowed() {
    let sb = start().await;
    add_fault(&sb, json!({ "kind": "server_error", "status": 503, "path": "/client/v4/accounts/*/d1/database" })).await;
    let wrangler = "name = \"api\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n\n[env.production]\nd1_databases = [{ binding = \"DB\", database_name = \"app-db\", database_id = \"11111111-1111-4111-8111-111111111111\" }]\n";
    let p = project(&[
        (
            "clodo.toml",
            "project = \"shop\"\n\n[[services]]\nname = \"api\"\nconfig = \"wrangler.toml\"\n",
        ),
        ("wrangler.toml", wrangler),
        ("i.js", ""),
    ]);
    let home = project(&[]);
    let out = deploy(&p.0, &home.0, &sb.base_url(), &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("could not be made"), "{stderr}");
    assert!(stderr.contains("--allow-inconclusive"), "{stderr}");
    assert!(
        !stderr.contains("▸ plan"),
        "nothing past the assessment: {stderr}"
    );

    // With the flag the deploy goes past the assessment (and stops later: no control plane).
    let out = deploy(&p.0, &home.0, &sb.base_url(), &["--allow-inconclusive"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("▸ assess: ready to deploy only because --allow-inconclusive"),
        "{stderr}"
    );
    assert!(stderr.contains("▸ plan"), "{stderr}");
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_servers_delay() {
    let sb = start().await;
    add_fault(&sb, json!({ "kind": "rate_limit", "retry_after": 1, "times": 2, "path": "/client/v4/accounts/*/storage/kv/namespaces" })).await;
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let run = assess(&p.0, Some(&sb.base_url()), "edit-token", &["--json"]).await;
    let report = run.json();
    assert_eq!(report["findings"], json!([]), "{report:#}");
    let log: Value = reqwest::get(format!("{}/requests", sb.admin_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kv_calls = log["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/storage/kv/namespaces")
        })
        .count();
    assert_eq!(kv_calls, 3, "two 429s then a success");
}

#[tokio::test]
async fn an_unreachable_api_or_missing_token_exits_2() {
    let p = project(&[("wrangler.toml", GOOD), ("src/index.js", "")]);
    let run = assess(
        &p.0,
        Some("http://127.0.0.1:9/client/v4"),
        "edit-token",
        &["--json", "--deadline-secs", "5"],
    )
    .await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let run = assess(&p.0, None, "", &["--json"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("CLOUDFLARE_API_TOKEN"),
        "{}",
        run.stderr
    );
    let empty = project(&[("README", "")]);
    let run = assess(&empty.0, None, "", &["--offline"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("wrangler.toml"), "{}", run.stderr);
}

#[tokio::test]
async fn services_of_one_project_count_as_present() {
    let sb = start().await;
    let p = project(&[
        (
            "clodo.toml",
            "project = \"shop\"\n\n[[services]]\nname = \"backend\"\nconfig = \"backend\"\n\n[[services]]\nname = \"frontend\"\nconfig = \"frontend/wrangler.toml\"\nrequired_secrets = [\"SESSION_KEY\"]\n",
        ),
        ("backend/wrangler.toml", "name = \"shop-backend\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n"),
        ("backend/i.js", ""),
        (
            "frontend/wrangler.toml",
            "name = \"shop-frontend\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n\n[[services]]\nbinding = \"API\"\nservice = \"shop-backend\"\n",
        ),
        ("frontend/i.js", ""),
    ]);
    let run = assess(&p.0, Some(&sb.base_url()), "edit-token", &["--json"]).await;
    let report = run.json();
    assert!(!run.kinds().contains("service_missing"), "{report:#}");
    let secret = finding(&report, "secret_missing");
    assert_eq!(secret["service"], "shop-frontend");
    assert_eq!(report["services"], json!(["shop-backend", "shop-frontend"]));
}

#[tokio::test]
async fn output_formats() {
    let sb = start().await;
    let p = project(&[(
        "wrangler.toml",
        "name = \"api\"\nmain = \"i.js\"\ncompatibility_date = \"2026-06-01\"\n\n[[queues.producers]]\nbinding = \"Q\"\nqueue = \"nope\"\n",
    ), ("i.js", "")]);
    let api = sb.base_url();
    let human = assess(&p.0, Some(&api), "edit-token", &[]).await;
    assert_eq!(human.code, 1);
    assert!(!human.stdout.contains('\x1b'), "NO_COLOR is honoured");
    assert!(
        human.stdout.starts_with("api\n  error [queue_missing]"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("fix: wrangler queues create nope"));
    assert!(human
        .stdout
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("not ready: 1 error"));

    let gh = assess(&p.0, Some(&api), "edit-token", &["--format", "github"]).await;
    let first = gh.stdout.lines().next().unwrap();
    assert!(first.starts_with("::error file="), "{first}");
    assert!(
        first.contains(",line=") && first.contains("title=queue_missing::api: queue producer"),
        "{first}"
    );

    let sarif = assess(&p.0, Some(&api), "edit-token", &["--format", "sarif"]).await;
    let log: Value = serde_json::from_str(&sarif.stdout).unwrap();
    validate_sarif(&log);
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "queue_missing");
}

/// The SARIF 2.1.0 constraints a consumer (GitHub code scanning) relies on.
fn validate_sarif(log: &Value) {
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().expect("runs[]");
    for run in runs {
        let driver = &run["tool"]["driver"];
        assert!(driver["name"].is_string());
        let rules = driver["rules"].as_array().unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        for result in run["results"].as_array().unwrap() {
            assert!(
                ["none", "note", "warning", "error"].contains(&result["level"].as_str().unwrap())
            );
            assert!(result["message"]["text"].is_string());
            let index = result["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(ids[index], result["ruleId"].as_str().unwrap());
            for location in result["locations"].as_array().into_iter().flatten() {
                let physical = &location["physicalLocation"];
                assert!(physical["artifactLocation"]["uri"].is_string());
                if let Some(line) = physical["region"]["startLine"].as_u64() {
                    assert!(line >= 1);
                }
            }
        }
    }
}
