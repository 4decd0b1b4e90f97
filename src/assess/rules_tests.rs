//! Pure tests of the rules against in-memory inventories: each starts from a config whose
//! every resource exists (no finding: no false alarm) and changes one thing.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;
use crate::assess::inventory::{
    D1Info, Inventory, KvInfo, QueueInfo, ScriptInfo, ScriptRemote, TokenOwner, TokenState,
    Unanswered,
};
use crate::config::{ConfigFormat, ResolvedWorker, WranglerConfig};

const CONFIG: &str = r#"
name = "api"
main = "src/index.js"
compatibility_date = "2026-06-01"

[[d1_databases]]
binding = "DB"
database_name = "app-db"
database_id = "11111111-1111-4111-8111-111111111111"

[[kv_namespaces]]
binding = "CACHE"
id = "kv1"

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[[services]]
binding = "AUTH"
service = "auth"
"#;

fn worker(text: &str) -> ResolvedWorker {
    WranglerConfig::parse(text, ConfigFormat::Toml, "wrangler.toml")
        .unwrap()
        .resolve(None)
        .unwrap()
}

fn ctx() -> Context {
    Context {
        today: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        env: None,
        project_workers: BTreeMap::new(),
    }
}

fn script(name: &str) -> ScriptInfo {
    ScriptInfo {
        name: name.into(),
        handlers: vec!["fetch".into()],
        named_handlers: vec![],
        migration_tag: None,
        last_deployed_from: Some("wrangler".into()),
    }
}

/// An account that has everything CONFIG needs; `api` exists with no secrets.
fn inventory() -> Inventory {
    let mut per_script = BTreeMap::new();
    per_script.insert(
        "api".to_owned(),
        ScriptRemote {
            secrets: Ok(Some(vec![])),
            live: Ok(Some(vec![])),
            settings_bindings: None,
        },
    );
    Inventory {
        token: Ok(TokenState::Verified {
            owner: TokenOwner::User,
            status: "active".into(),
            expires_on: None,
        }),
        account: Ok("Test".into()),
        scripts: Ok(vec![script("api"), script("auth")]),
        d1: Some(Ok(vec![D1Info {
            uuid: "11111111-1111-4111-8111-111111111111".into(),
            name: "app-db".into(),
        }])),
        kv: Some(Ok(vec![KvInfo {
            id: "kv1".into(),
            title: "cache".into(),
        }])),
        r2: BTreeMap::new(),
        queues: Some(Ok(vec![QueueInfo {
            name: "jobs".into(),
        }])),
        do_namespaces: None,
        hyperdrive: None,
        vectorize: None,
        zones: None,
        custom_domains: None,
        per_script,
        zone_routes: BTreeMap::new(),
        dns_records: BTreeMap::new(),
        capabilities: BTreeMap::new(),
    }
}

fn remote(w: &ResolvedWorker, inv: &Inventory, secrets: &[&str]) -> Vec<Finding> {
    let input = ServiceInput {
        worker: w,
        extra_required_secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        main_exists: Some(true),
    };
    remote_findings(&input, inv, &ctx())
}

fn kinds(f: &[Finding]) -> Vec<Kind> {
    f.iter().map(|f| f.kind).collect()
}

fn unanswered() -> Unanswered {
    Unanswered {
        reason: "503 after 3 attempts".into(),
        forbidden: false,
    }
}

#[test]
fn everything_present_gives_no_finding() {
    let w = worker(CONFIG);
    let input = ServiceInput {
        worker: &w,
        extra_required_secrets: vec![],
        main_exists: Some(true),
    };
    assert!(local_findings(&input, &ctx()).is_empty());
    let (access, usable) = access_findings(&inventory(), "acc", None);
    assert!(access.is_empty() && usable);
    assert!(remote(&w, &inventory(), &[]).is_empty());
}

#[test]
fn each_missing_resource_is_an_error_with_a_fix_and_a_location() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Ok(vec![]));
    inv.kv = Some(Ok(vec![]));
    inv.queues = Some(Ok(vec![]));
    inv.scripts = Ok(vec![script("api")]);
    let found = remote(&w, &inv, &[]);
    for kind in [
        Kind::D1Missing,
        Kind::KvMissing,
        Kind::QueueMissing,
        Kind::ServiceMissing,
    ] {
        let f = found
            .iter()
            .find(|f| f.kind == kind)
            .unwrap_or_else(|| panic!("{kind:?} in {found:?}"));
        assert_eq!(f.severity, Severity::Error);
        assert!(!f.fix.is_empty());
        let loc = f.location.as_ref().expect("located");
        assert_eq!(loc.file, "wrangler.toml");
        assert!(loc.line.is_some(), "{f:?}");
    }
}

#[test]
fn an_unanswered_list_is_inconclusive_never_missing() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Err(unanswered()));
    inv.kv = Some(Err(unanswered()));
    let found = remote(&w, &inv, &[]);
    assert!(!kinds(&found).contains(&Kind::D1Missing));
    assert!(!kinds(&found).contains(&Kind::KvMissing));
    let inconclusive = found
        .iter()
        .filter(|f| f.kind == Kind::Inconclusive)
        .count();
    assert_eq!(inconclusive, 2, "{found:?}");
}

#[test]
fn a_required_secret_the_worker_lacks_is_missing_and_one_it_has_is_not() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.per_script.get_mut("api").unwrap().secrets = Ok(Some(vec!["HAVE".into()]));
    let found = remote(&w, &inv, &["HAVE", "NEED"]);
    let secrets: Vec<&Finding> = found
        .iter()
        .filter(|f| f.kind == Kind::SecretMissing)
        .collect();
    assert_eq!(secrets.len(), 1, "{found:?}");
    assert!(secrets[0].message.contains("NEED"));
    assert!(
        secrets[0].fix.contains("wrangler secret put NEED"),
        "{}",
        secrets[0].fix
    );
}

#[test]
fn a_d1_id_of_another_database_name_is_a_mismatch() {
    let w = worker(&CONFIG.replace("database_name = \"app-db\"", "database_name = \"other\""));
    let found = remote(&w, &inventory(), &[]);
    assert!(kinds(&found).contains(&Kind::D1NameMismatch), "{found:?}");
}

#[test]
fn a_project_sibling_counts_as_present_for_a_service_binding() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.scripts = Ok(vec![script("api")]);
    let mut c = ctx();
    c.project_workers.insert("auth".into(), Default::default());
    let input = ServiceInput {
        worker: &w,
        extra_required_secrets: vec![],
        main_exists: Some(true),
    };
    let found = remote_findings(&input, &inv, &c);
    assert!(!kinds(&found).contains(&Kind::ServiceMissing), "{found:?}");
}

#[test]
fn token_problems_block_and_stop_the_resource_checks() {
    let mut inv = inventory();
    inv.token = Ok(TokenState::Verified {
        owner: TokenOwner::User,
        status: "expired".into(),
        expires_on: None,
    });
    // The skipped resource checks are said, never passed silently.
    let (found, usable) = access_findings(&inv, "acc", None);
    assert!(!usable);
    assert_eq!(kinds(&found), vec![Kind::TokenExpired, Kind::Inconclusive]);
    inv.token = Ok(TokenState::Rejected {
        reason: "Invalid API Token".into(),
    });
    let (found, _) = access_findings(&inv, "acc", None);
    assert_eq!(kinds(&found), vec![Kind::TokenInvalid, Kind::Inconclusive]);
}

#[test]
fn local_rules_check_main_and_the_compatibility_date() {
    let w = worker(&CONFIG.replace("2026-06-01", "2024-01-01"));
    let input = ServiceInput {
        worker: &w,
        extra_required_secrets: vec![],
        main_exists: Some(false),
    };
    let found = local_findings(&input, &ctx());
    assert!(kinds(&found).contains(&Kind::MainMissing), "{found:?}");
    let stale = found
        .iter()
        .find(|f| f.kind == Kind::CompatibilityDateStale)
        .expect("stale date");
    assert_ne!(
        stale.severity,
        Severity::Error,
        "a stale date does not block"
    );
}
