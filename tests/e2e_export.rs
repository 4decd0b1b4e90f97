//! `clodo export terraform|pulumi`: the HCL parses with a real HCL parser (python-hcl2 from
//! PyPI, in target/hcl2-venv) and names the right resources and attributes; the Pulumi program
//! type-checks with `tsc` against `@pulumi/cloudflare` from npm (tests/pulumi/, installed by
//! scripts/setup.sh or on first use here); import ids come from the account (an in-process
//! sandbox where real wrangler deployed the Worker), and offline exports have none.
//! `#[ignore]`d under a plain `cargo test` (tsc alone takes ~25 s): `tests/e2e.sh` runs it
//! beside the other e2e jobs.

mod sandbox_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sandbox_support::*;
use serde_json::Value;

const CLODO: &str = env!("CARGO_BIN_EXE_clodo");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The python-hcl2 release the parser test pins.
const HCL2_VERSION: &str = "8.1.4";

static SETUP: Mutex<()> = Mutex::new(());

/// target/hcl2-venv's python, created with python-hcl2 when missing.
fn hcl_python() -> PathBuf {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(ROOT).join("target/hcl2-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import hcl2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        assert!(made.is_ok_and(|s| s.success()), "python3 -m venv failed");
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("python-hcl2=={HCL2_VERSION}"))
            .status();
        assert!(
            pip.is_ok_and(|s| s.success()),
            "pip install python-hcl2 failed"
        );
    }
    python
}

/// tests/pulumi with its node_modules (npm ci when missing).
fn pulumi_dir() -> PathBuf {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Path::new(ROOT).join("tests/pulumi");
    if !dir.join("node_modules/@pulumi/cloudflare").is_dir() {
        let ci = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir)
            .status();
        assert!(
            ci.is_ok_and(|s| s.success()),
            "npm ci in tests/pulumi failed"
        );
    }
    dir
}

/// Parses `file` with python-hcl2 and summarises it: resources `{type: {name: {attr: value}}}`
/// (strings unquoted), import blocks `[{to, id}]`, variable names.
fn parse_hcl(file: &Path) -> Value {
    const SUMMARY: &str = r#"
import hcl2, json, sys
def unq(v):
    if isinstance(v, str):
        return v[1:-1] if len(v) >= 2 and v[0] == '"' and v[-1] == '"' else v
    if isinstance(v, list):
        return [unq(x) for x in v]
    if isinstance(v, dict):
        return {unq(k): unq(x) for k, x in v.items() if k != "__is_block__"}
    return v
d = unq(hcl2.load(open(sys.argv[1])))
res = {}
for block in d.get("resource", []):
    for t, named in block.items():
        for n, attrs in named.items():
            res.setdefault(t, {})[n] = attrs
imports = [{"to": i["to"], "id": i["id"]} for i in d.get("import", [])]
variables = [k for v in d.get("variable", []) for k in v]
print(json.dumps({"resources": res, "imports": imports, "variables": variables}))
"#;
    let out = Command::new(hcl_python())
        .args(["-c", SUMMARY])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python-hcl2 could not parse {}:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).expect("summary is JSON")
}

/// Runs `clodo export …` in `dir`; `sandbox` gives it an account to read.
fn export(dir: &Path, args: &[&str], sandbox: Option<&str>) -> String {
    let mut cmd = Command::new(CLODO);
    cmd.arg("export").args(args).current_dir(dir);
    cmd.env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_API_BASE_URL");
    if let Some(base) = sandbox {
        cmd.env("CLOUDFLARE_API_BASE_URL", base)
            .env("CLOUDFLARE_API_TOKEN", EDIT_TOKEN)
            .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT);
    }
    let out = cmd.output().expect("clodo runs");
    succeeded(&format!("clodo export {args:?}"), &out, "\n")
}

fn attr<'a>(summary: &'a Value, kind: &str, name: &str) -> &'a Value {
    let r = &summary["resources"][kind][name];
    assert!(r.is_object(), "no {kind}.{name} in {summary:#}");
    r
}

#[test]
#[ignore = "slow (python-hcl2, tsc, the sandbox): run through tests/e2e.sh"]
fn offline_terraform_declares_every_resource_with_v5_attributes_and_no_imports() {
    let project = worker_project("routed");
    let out = temp_dir("export-tf");
    export(
        &project,
        &["terraform", "--offline", "-o", out.to_str().unwrap()],
        None,
    );
    let text = std::fs::read_to_string(out.join("main.tf")).unwrap();
    assert!(text.contains("Offline"), "{text}");
    let hcl = parse_hcl(&out.join("main.tf"));
    assert_eq!(hcl["imports"], serde_json::json!([]), "{hcl:#}");
    assert_eq!(
        attr(&hcl, "cloudflare_d1_database", "app_db")["name"],
        "app-db"
    );
    assert_eq!(
        attr(&hcl, "cloudflare_r2_bucket", "assets")["name"],
        "assets"
    );
    assert_eq!(attr(&hcl, "cloudflare_queue", "jobs")["queue_name"], "jobs");
    assert!(attr(&hcl, "cloudflare_workers_kv_namespace", "routed_cache")["title"].is_string());
    let script = attr(&hcl, "cloudflare_workers_script", "routed");
    assert_eq!(script["script_name"], "routed");
    assert_eq!(script["main_module"], "index.js");
    assert_eq!(script["compatibility_date"], "2025-01-01");
    assert!(script["content_sha256"]
        .as_str()
        .unwrap()
        .contains("filesha256("));
    let bindings = script["bindings"].as_array().unwrap();
    let binding = |n: &str| bindings.iter().find(|b| b["name"] == n).unwrap().clone();
    assert_eq!(binding("DB")["type"], "d1");
    assert_eq!(binding("DB")["id"], "${cloudflare_d1_database.app_db.id}");
    assert_eq!(binding("CACHE")["type"], "kv_namespace");
    assert_eq!(
        binding("ASSETS")["bucket_name"],
        "${cloudflare_r2_bucket.assets.name}"
    );
    assert_eq!(
        binding("JOBS")["queue_name"],
        "${cloudflare_queue.jobs.queue_name}"
    );
    let cron = attr(&hcl, "cloudflare_workers_cron_trigger", "routed");
    assert_eq!(cron["schedules"][0]["cron"], "*/5 * * * *");
    let route = attr(
        &hcl,
        "cloudflare_workers_route",
        "routed_example_com_routed",
    );
    assert_eq!(route["pattern"], "example.com/routed/*");
    assert_eq!(route["zone_id"], "${var.zone_id_example_com}");
    let domain = attr(&hcl, "cloudflare_workers_custom_domain", "shop_example_com");
    assert_eq!(domain["hostname"], "shop.example.com");
    let dns = attr(&hcl, "cloudflare_dns_record", "example_com");
    assert_eq!(
        (dns["type"].clone(), dns["proxied"].clone()),
        ("AAAA".into(), true.into())
    );
    assert_eq!(hcl["variables"], serde_json::json!(["zone_id_example_com"]));
}

#[test]
#[ignore = "slow (python-hcl2, tsc, the sandbox): run through tests/e2e.sh"]
fn corpus_configs_export_to_hcl_that_parses() {
    let mut configs: Vec<PathBuf> =
        std::fs::read_dir(Path::new(ROOT).join("tests/fixtures/config"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "toml" || x == "jsonc" || x == "json")
            })
            .collect();
    configs.push(fixtures().join("workers/counter/wrangler.toml"));
    for config in configs {
        let out = temp_dir("export-corpus");
        let name = config.file_name().unwrap().to_string_lossy().into_owned();
        let dir = temp_dir("export-corpus-src");
        std::fs::copy(&config, dir.join(&name)).unwrap();
        export(
            &dir,
            &[
                "terraform",
                "--offline",
                "-c",
                &name,
                "-o",
                out.to_str().unwrap(),
            ],
            None,
        );
        let hcl = parse_hcl(&out.join("main.tf"));
        let scripts = hcl["resources"]["cloudflare_workers_script"].as_object();
        assert!(scripts.is_some_and(|s| s.len() == 1), "{name}: {hcl:#}");
    }
    // A Durable Object class with its migration.
    let dir = fixtures().join("workers/counter");
    let out = temp_dir("export-counter");
    export(
        &dir,
        &["terraform", "--offline", "-o", out.to_str().unwrap()],
        None,
    );
    let hcl = parse_hcl(&out.join("main.tf"));
    let script = attr(&hcl, "cloudflare_workers_script", "counter");
    assert_eq!(script["migrations"]["new_tag"], "v1");
    assert_eq!(
        script["migrations"]["steps"][0]["new_sqlite_classes"][0],
        "Counter"
    );
    assert_eq!(script["bindings"][0]["type"], "durable_object_namespace");
    assert_eq!(script["bindings"][0]["class_name"], "Counter");
}

#[tokio::test]
#[ignore = "slow (python-hcl2, tsc, the sandbox): run through tests/e2e.sh"]
async fn exports_import_what_the_account_already_has() {
    let sandbox = start_seeded().await;
    let project = worker_project("routed");
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let routes = api.result("/zones/zone_example/workers/routes").await;
    let route_id = items(&routes)
        .iter()
        .find(|r| r["pattern"] == "example.com/routed/*")
        .map(|r| str_of(&r["id"]).to_owned())
        .expect("route deployed");
    let base = sandbox.base_url();
    let out = temp_dir("export-online");
    let dir = project.to_path_buf();
    let out_path = out.to_str().unwrap().to_owned();
    let base2 = base.clone();
    tokio::task::spawn_blocking(move || {
        export(&dir, &["terraform", "-o", &out_path], Some(&base2));
    })
    .await
    .unwrap();
    let hcl = parse_hcl(&out.join("main.tf"));
    let imports: Vec<(String, String)> = hcl["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (str_of(&i["to"]).to_owned(), str_of(&i["id"]).to_owned()))
        .collect();
    let id_of = |to: &str| {
        imports
            .iter()
            .find(|(t, _)| t.contains(to))
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no import of {to} in {imports:?}"))
    };
    assert_eq!(
        id_of("cloudflare_d1_database.app_db"),
        "acc_test/11111111-1111-4111-8111-111111111111"
    );
    assert_eq!(
        id_of("cloudflare_workers_kv_namespace.cache"),
        "acc_test/kv0000000000000000000000000000a1"
    );
    assert_eq!(
        id_of("cloudflare_r2_bucket.assets"),
        "acc_test/assets/default"
    );
    assert_eq!(
        id_of("cloudflare_queue.jobs"),
        "acc_test/q0000000000000000000000000000001"
    );
    assert_eq!(id_of("cloudflare_workers_script.routed"), "acc_test/routed");
    assert_eq!(
        id_of("cloudflare_workers_route."),
        format!("zone_example/{route_id}")
    );
    assert!(id_of("cloudflare_workers_custom_domain.shop_example_com").starts_with("acc_test/"));
    // The zone id came from the account: no variable is needed.
    assert_eq!(hcl["variables"], serde_json::json!([]));
    // The route's host has a proxied record already: it is imported, not duplicated.
    assert_eq!(
        attr(&hcl, "cloudflare_dns_record", "example_com")["content"],
        "192.0.2.1"
    );

    // The Pulumi program of the same project type-checks against @pulumi/cloudflare, with
    // the same import ids as resource options.
    let pulumi = pulumi_dir();
    let out = temp_dir("export-pulumi");
    let dir = project.to_path_buf();
    let out_path = out.to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        export(&dir, &["pulumi", "-o", &out_path], Some(&base));
    })
    .await
    .unwrap();
    let program = std::fs::read_to_string(out.join("index.ts")).unwrap();
    assert!(
        program.contains("new cloudflare.WorkersScript(\"routed\""),
        "{program}"
    );
    assert!(
        program.contains("{ import: \"acc_test/routed\" }"),
        "{program}"
    );
    tsc(&pulumi, &program).expect("the exported program type-checks");
    // A control: the same check fails on an attribute the provider does not have.
    let broken = program.replace("scriptName:", "scriptNme:");
    assert!(
        tsc(&pulumi, &broken).is_err(),
        "tsc accepted a wrong attribute"
    );
}

/// Type-checks `program` next to tests/pulumi/node_modules (so `@pulumi/cloudflare` resolves)
/// with strict settings; the error output when it does not.
fn tsc(dir: &Path, program: &str) -> Result<(), String> {
    let file = dir.join(format!(".check-{}.ts", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, program).unwrap();
    let out = Command::new(dir.join("node_modules/.bin/tsc"))
        .args([
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--target",
            "es2020",
            "--module",
            "commonjs",
            "--moduleResolution",
            "node",
            "--types",
            "node",
        ])
        .arg(&file)
        .current_dir(dir)
        .output()
        .expect("tsc runs");
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
