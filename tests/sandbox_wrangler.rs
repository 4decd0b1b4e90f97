//! Real wrangler (the repository's pinned version) against an in-process sandbox: each test runs
//! wrangler commands, then reads their effect back through the sandbox's normal API.

mod sandbox_support;

use sandbox_support::*;
use serde_json::Value;

/// The id wrangler prints after `label` (e.g. "Worker Version ID:").
fn id_after(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|l| l.split_once(label).map(|(_, rest)| rest.trim().to_string()))
        .unwrap_or_else(|| panic!("no {label:?} in wrangler output:\n{output}"))
}

fn script_path(rest: &str) -> String {
    format!("/accounts/{ACCOUNT}/workers/scripts/hello{rest}")
}

async fn deployments(api: &Api) -> Vec<Value> {
    api.result(&script_path("/deployments")).await["deployments"]
        .as_array()
        .expect("deployments array")
        .clone()
}

#[tokio::test]
async fn deploy_creates_the_worker_then_ships_new_versions() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("hello");

    let out = wrangler_ok(&sandbox, &project, &["deploy"], None).await;
    let first = id_after(&out, "Current Version ID:");
    // A first deploy goes through the non-versioned upload.
    let log = requests(&sandbox).await;
    assert!(
        log.iter()
            .any(|(m, p, s)| m == "PUT" && p.ends_with("/workers/scripts/hello") && *s == 200),
        "{log:?}"
    );

    let service = api.account("/workers/services/hello").await;
    assert_eq!(
        service["default_environment"]["script"]["last_deployed_from"],
        "wrangler"
    );
    let scripts = api.account("/workers/scripts").await;
    let hello = items(&scripts)
        .iter()
        .find(|s| s["id"] == "hello")
        .expect("hello listed");
    assert_eq!(hello["compatibility_date"], "2025-01-01");
    assert_eq!(hello["handlers"], serde_json::json!(["fetch"]));

    let version = api
        .result(&script_path(&format!("/versions/{first}")))
        .await;
    let bindings = version["resources"]["bindings"].as_array().unwrap();
    assert!(
        bindings
            .iter()
            .any(|b| b["name"] == "GREETING" && b["type"] == "plain_text" && b["text"] == "hello"),
        "{bindings:?}"
    );
    assert_eq!(
        version["resources"]["script_runtime"]["compatibility_date"],
        "2025-01-01"
    );

    // The stored bundle is the one wrangler built.
    let content = Api::new(&sandbox, Some(EDIT_TOKEN))
        .text(&script_path(""))
        .await;
    assert!(content.contains("from the sandbox fixture"), "{content}");

    let subdomain = api.result(&script_path("/subdomain")).await;
    assert_eq!(subdomain["enabled"], true);

    admin(&sandbox, "DELETE", "/requests", None).await;
    let out = wrangler_ok(
        &sandbox,
        &project,
        &["deploy", "--message", "second deploy"],
        None,
    )
    .await;
    let second = id_after(&out, "Current Version ID:");
    assert_ne!(first, second);
    // An existing Worker without migrations goes through versions + deployments.
    let log = requests(&sandbox).await;
    assert!(
        log.iter()
            .any(|(m, p, _)| m == "POST" && p.ends_with("/hello/versions")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|(m, p, _)| m == "POST" && p.ends_with("/hello/deployments")),
        "{log:?}"
    );

    let deps = deployments(&api).await;
    assert_eq!(deps.len(), 2);
    assert_eq!(deps[0]["versions"][0]["version_id"], second.as_str());
    assert_eq!(deps[0]["versions"][0]["percentage"], 100.0);
    assert_eq!(deps[0]["annotations"]["workers/message"], "second deploy");
    assert_eq!(deps[0]["author_email"], "dev@example.com");
    let versions = api.result(&script_path("/versions")).await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    assert_eq!(versions["items"][0]["number"], 2);
}

#[tokio::test]
async fn versions_upload_split_deploy_list_and_rollback() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("hello");

    let stable = id_after(
        &wrangler_ok(&sandbox, &project, &["deploy"], None).await,
        "Current Version ID:",
    );
    let out = wrangler_ok(
        &sandbox,
        &project,
        &[
            "versions",
            "upload",
            "--message",
            "canary build",
            "--tag",
            "c1",
        ],
        None,
    )
    .await;
    let canary = id_after(&out, "Worker Version ID:");

    let version = api
        .result(&script_path(&format!("/versions/{canary}")))
        .await;
    assert_eq!(version["annotations"]["workers/message"], "canary build");
    assert_eq!(version["annotations"]["workers/tag"], "c1");
    // Uploading does not deploy.
    assert_eq!(
        deployments(&api).await[0]["versions"][0]["version_id"],
        stable.as_str()
    );

    let split = [format!("{canary}@10"), format!("{stable}@90")];
    wrangler_ok(
        &sandbox,
        &project,
        &[
            "versions",
            "deploy",
            &split[0],
            &split[1],
            "-y",
            "--message",
            "canary 10%",
        ],
        None,
    )
    .await;
    let active = &deployments(&api).await[0];
    let traffic: Vec<(String, f64)> = items(&active["versions"])
        .iter()
        .map(|v| {
            (
                v["version_id"].as_str().unwrap().to_string(),
                v["percentage"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        traffic,
        vec![(canary.clone(), 10.0), (stable.clone(), 90.0)]
    );
    assert_eq!(active["annotations"]["workers/message"], "canary 10%");

    let listed = wrangler_ok(&sandbox, &project, &["deployments", "list"], None).await;
    assert!(
        listed.contains(&canary) && listed.contains(&stable),
        "{listed}"
    );
    assert!(
        listed.contains("(10%)") && listed.contains("(90%)"),
        "{listed}"
    );

    wrangler_ok(
        &sandbox,
        &project,
        &["rollback", "-y", "--message", "bad canary"],
        None,
    )
    .await;
    let deps = deployments(&api).await;
    assert_eq!(deps.len(), 3);
    assert_eq!(deps[0]["versions"].as_array().unwrap().len(), 1);
    assert_eq!(deps[0]["versions"][0]["version_id"], stable.as_str());
    assert_eq!(deps[0]["versions"][0]["percentage"], 100.0);
}

#[tokio::test]
async fn secret_put_creates_a_deployed_version_and_list_shows_names_only() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("hello");
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;

    wrangler_ok(
        &sandbox,
        &project,
        &["secret", "put", "API_TOKEN"],
        Some("s3cret-value"),
    )
    .await;
    let secrets = api.result(&script_path("/secrets")).await;
    assert_eq!(
        secrets,
        serde_json::json!([{ "name": "API_TOKEN", "type": "secret_text" }])
    );

    let deps = deployments(&api).await;
    assert_eq!(deps.len(), 2, "a secret change deploys a new version");
    let latest = deps[0]["versions"][0]["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    let version = api
        .result(&script_path(&format!("/versions/{latest}")))
        .await;
    assert_eq!(version["annotations"]["workers/triggered_by"], "secret");
    let everything = serde_json::to_string(&version).unwrap();
    assert!(everything.contains("API_TOKEN"));
    assert!(
        !everything.contains("s3cret-value"),
        "secret values are never returned"
    );

    let listed = wrangler_ok(&sandbox, &project, &["secret", "list"], None).await;
    assert!(listed.contains("API_TOKEN"), "{listed}");

    // With an undeployed latest version, wrangler gets Cloudflare's 10215 refusal.
    wrangler_ok(&sandbox, &project, &["versions", "upload"], None).await;
    let refused = wrangler(&sandbox, &project, &["secret", "put", "OTHER"], Some("x")).await;
    assert!(!refused.status.success());
    let text = String::from_utf8_lossy(&refused.stderr).to_string()
        + &String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.contains("latest version of your Worker isn't currently deployed"),
        "{text}"
    );
    assert_eq!(
        api.result(&script_path("/secrets"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // `versions secret put` copies the latest version (read back through content/v2) into a new,
    // undeployed version carrying the secret.
    let live_before = deployments(&api).await[0]["versions"][0]["version_id"].clone();
    let out = wrangler_ok(
        &sandbox,
        &project,
        &[
            "versions",
            "secret",
            "put",
            "VSECRET",
            "--message",
            "add vsecret",
        ],
        Some("vv-value"),
    )
    .await;
    let created = out
        .split("Created version ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no version id in {out}"))
        .to_string();
    let version = api
        .result(&script_path(&format!("/versions/{created}")))
        .await;
    let bindings = version["resources"]["bindings"].as_array().unwrap();
    assert!(
        bindings
            .iter()
            .any(|b| b["name"] == "VSECRET" && b["type"] == "secret_text"),
        "{bindings:?}"
    );
    assert!(
        bindings
            .iter()
            .any(|b| b["name"] == "GREETING" && b["text"] == "hello"),
        "inherited: {bindings:?}"
    );
    assert!(!version.to_string().contains("vv-value"));
    assert_eq!(
        deployments(&api).await[0]["versions"][0]["version_id"],
        live_before,
        "not deployed"
    );
    let viewed = wrangler_ok(&sandbox, &project, &["versions", "view", &created], None).await;
    assert!(
        viewed.contains("add vsecret") && viewed.contains("VSECRET"),
        "{viewed}"
    );
}

#[tokio::test]
async fn d1_kv_and_r2_create_and_list() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let cwd = temp_dir("wrangler-resources");

    let out = wrangler_ok(&sandbox, &cwd, &["d1", "create", "orders-db"], None).await;
    let listed = wrangler_ok(&sandbox, &cwd, &["d1", "list"], None).await;
    assert!(
        listed.contains("orders-db") && listed.contains("app-db"),
        "{listed}"
    );
    let found = api.account("/d1/database?name=orders-db").await;
    let uuid = found[0]["uuid"]
        .as_str()
        .expect("created database listed")
        .to_string();
    assert!(
        out.contains(&uuid),
        "wrangler printed the id the API returns: {out}"
    );
    assert_eq!(
        api.account(&format!("/d1/database/{uuid}")).await["name"],
        "orders-db"
    );

    wrangler_ok(
        &sandbox,
        &cwd,
        &["kv", "namespace", "create", "sessions"],
        None,
    )
    .await;
    let listed = wrangler_ok(&sandbox, &cwd, &["kv", "namespace", "list"], None).await;
    let json_start = listed.find('[').expect("kv list prints JSON");
    let json_end = listed.rfind(']').expect("kv list prints JSON");
    let namespaces: Value =
        serde_json::from_str(&listed[json_start..=json_end]).expect("kv list JSON");
    let sessions = items(&namespaces)
        .iter()
        .find(|n| n["title"] == "sessions")
        .expect("sessions listed");
    let id = sessions["id"].as_str().unwrap();
    assert_eq!(
        api.account(&format!("/storage/kv/namespaces/{id}")).await["title"],
        "sessions"
    );

    wrangler_ok(&sandbox, &cwd, &["r2", "bucket", "create", "media"], None).await;
    wrangler_ok(
        &sandbox,
        &cwd,
        &["r2", "bucket", "create", "eu-media", "-J", "eu"],
        None,
    )
    .await;
    let listed = wrangler_ok(&sandbox, &cwd, &["r2", "bucket", "list"], None).await;
    assert!(
        listed.contains("media") && listed.contains("assets"),
        "{listed}"
    );
    assert!(
        !listed.contains("eu-media"),
        "default-jurisdiction listing excludes EU buckets: {listed}"
    );
    let (status, eu) = api.get_eu(&format!("/accounts/{ACCOUNT}/r2/buckets")).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = strings_present(&eu["result"]["buckets"], "name");
    assert_eq!(names, vec!["eu-assets", "eu-media"]);
    assert_eq!(api.account("/r2/buckets/media").await["name"], "media");
}

#[tokio::test]
async fn durable_object_migration_deploys_through_the_script_upload() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("counter");

    wrangler_ok(&sandbox, &project, &["deploy"], None).await;
    let log = requests(&sandbox).await;
    assert!(
        log.iter()
            .any(|(m, p, _)| m == "PUT" && p.ends_with("/workers/scripts/counter")),
        "{log:?}"
    );
    let service = api.account("/workers/services/counter").await;
    assert_eq!(
        service["default_environment"]["script"]["migration_tag"],
        "v1"
    );
    let namespaces = api.account("/workers/durable_objects/namespaces").await;
    let counter = items(&namespaces)
        .iter()
        .find(|n| n["script"] == "counter")
        .expect("namespace created by the migration");
    assert_eq!(counter["class"], "Counter");
    assert_eq!(counter["use_sqlite"], true);

    // The migration is applied, so a version upload (which may not carry one) now works.
    let out = wrangler_ok(&sandbox, &project, &["versions", "upload"], None).await;
    let id = id_after(&out, "Worker Version ID:");
    let version = api
        .account(&format!("/workers/scripts/counter/versions/{id}"))
        .await;
    let bindings = version["resources"]["bindings"].as_array().unwrap();
    assert!(
        bindings
            .iter()
            .any(|b| b["type"] == "durable_object_namespace" && b["class_name"] == "Counter"),
        "{bindings:?}"
    );
}

#[tokio::test]
async fn a_rollback_across_a_durable_object_migration_is_refused_as_cloudflare_does() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("counter");
    let counter = |rest: &str| format!("/accounts/{ACCOUNT}/workers/scripts/counter{rest}");
    let live = |deps: &Value| deps["deployments"][0]["versions"][0]["version_id"].clone();

    // v1 applied with the first deploy, then a plain new version.
    let first = id_after(
        &wrangler_ok(&sandbox, &project, &["deploy"], None).await,
        "Current Version ID:",
    );
    let before = id_after(
        &wrangler_ok(&sandbox, &project, &["deploy"], None).await,
        "Current Version ID:",
    );
    assert_ne!(first, before);
    // A second migration: wrangler deploys it through the non-versioned upload.
    let config = project.join("wrangler.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[[migrations]]\ntag = \"v2\"\nnew_sqlite_classes = [\"Ledger\"]\n"),
    )
    .unwrap();
    let migrated = id_after(
        &wrangler_ok(&sandbox, &project, &["deploy"], None).await,
        "Current Version ID:",
    );
    // A plain upload after the migration.
    let later = id_after(
        &wrangler_ok(&sandbox, &project, &["versions", "upload"], None).await,
        "Worker Version ID:",
    );

    // wrangler rollback to the version before the migration: refused, nothing changes.
    let out = wrangler(
        &sandbox,
        &project,
        &["rollback", &before, "-y", "--message", "back"],
        None,
    )
    .await;
    let text = combined(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Durable Object migration"), "{text}");
    assert_eq!(
        live(&api.result(&counter("/deployments")).await),
        migrated.as_str()
    );
    // The same through the API, as a split too.
    for versions in [
        serde_json::json!([{ "version_id": first, "percentage": 100 }]),
        serde_json::json!([{ "version_id": later, "percentage": 50 }, { "version_id": before, "percentage": 50 }]),
    ] {
        let (status, body) = api
            .post(
                &counter("/deployments"),
                serde_json::json!({ "strategy": "percentage", "versions": versions }),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["code"], 10224, "{body}");
    }
    // The migrating version and later ones deploy as usual.
    wrangler_ok(
        &sandbox,
        &project,
        &["versions", "deploy", &format!("{later}@100"), "-y"],
        None,
    )
    .await;
    wrangler_ok(&sandbox, &project, &["rollback", &migrated, "-y"], None).await;
    assert_eq!(
        live(&api.result(&counter("/deployments")).await),
        migrated.as_str()
    );
}

#[tokio::test]
async fn deploy_applies_triggers_and_checks_bindings() {
    let sandbox = start_seeded().await;
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let project = worker_project("routed");
    wrangler_ok(&sandbox, &project, &["deploy"], None).await;

    let routes = api.result("/zones/zone_example/workers/routes").await;
    assert!(
        items(&routes)
            .iter()
            .any(|r| r["pattern"] == "example.com/routed/*" && r["script"] == "routed"),
        "{routes}"
    );
    let domains = api.account("/workers/domains?service=routed").await;
    assert_eq!(domains[0]["hostname"], "shop.example.com");
    assert_eq!(domains[0]["zone_name"], "example.com");
    let schedules = api.account("/workers/scripts/routed/schedules").await;
    assert_eq!(schedules["schedules"][0]["cron"], "*/5 * * * *");
    let settings = api.account("/workers/scripts/routed/settings").await;
    let kinds: Vec<&str> = strings_present(&settings["bindings"], "type");
    for kind in ["d1", "kv_namespace", "r2_bucket", "queue"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let scripts = api.account("/workers/scripts").await;
    let routed = items(&scripts)
        .iter()
        .find(|s| s["id"] == "routed")
        .unwrap();
    assert_eq!(
        routed["handlers"],
        serde_json::json!(["fetch", "scheduled"])
    );

    // A binding to a database that does not exist is refused by the upload (10021).
    let config = project.join("wrangler.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "11111111-1111-4111-8111-111111111111",
            "22222222-2222-4222-8222-222222222222",
        ),
    )
    .unwrap();
    let failed = wrangler(&sandbox, &project, &["deploy"], None).await;
    assert!(!failed.status.success());
    let out = combined(&failed);
    assert!(
        out.contains("does not exist") && out.contains("10021"),
        "{out}"
    );
}

#[tokio::test]
async fn a_read_only_token_cannot_deploy() {
    let sandbox = start_seeded().await;
    let project = worker_project("hello");
    let failed = wrangler_as(&sandbox, "read-only-token", &project, &["deploy"], None).await;
    assert!(!failed.status.success());
    let out = combined(&failed);
    assert!(
        out.contains("Authentication error") && out.contains("10000"),
        "{out}"
    );
    let log = requests(&sandbox).await;
    assert!(
        log.iter()
            .any(|(m, p, s)| m == "PUT" && p.ends_with("/scripts/hello") && *s == 403),
        "{log:?}"
    );
    let api = Api::new(&sandbox, Some(EDIT_TOKEN));
    let (status, body) = api
        .get(&format!("/accounts/{ACCOUNT}/workers/services/hello"))
        .await;
    assert_eq!((status, error_code(&body)), (404, 10007));
}
