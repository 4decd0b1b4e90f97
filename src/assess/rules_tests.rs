//! Pure tests of the rules against in-memory inventories: each starts from a config whose
//! every resource exists (no finding: no false alarm) and changes one thing.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;
use crate::assess::inventory::{
    CustomDomain, D1Info, Inventory, KvInfo, QueueInfo, ScriptInfo, ScriptRemote, TokenOwner,
    TokenPolicy, TokenState, Unanswered, ZoneInfo,
};
use crate::assess::{Report, WriteState};
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
            id: Some("tok".into()),
            owner: TokenOwner::User,
            status: "active".into(),
            expires_on: None,
        }),
        token_policies: None,
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
        permission: None,
    }
}

fn forbidden(permission: &str) -> Unanswered {
    Unanswered {
        reason: "HTTP 403: Authentication error (10000)".into(),
        forbidden: true,
        permission: Some(permission.into()),
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
        id: None,
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

/// A full assessment's report from the findings the rules give for one Worker.
fn report_of(w: &ResolvedWorker, inv: &Inventory) -> Report {
    let (mut all, _) = access_findings(inv, "acc", None);
    all.extend(remote(w, inv, &[]));
    Report::new(all)
}

#[test]
fn a_check_that_could_not_be_made_makes_the_report_not_ready() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Err(unanswered()));
    let mut report = report_of(&w, &inv);
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::Inconclusive)
        .expect("inconclusive");
    assert!(
        f.unverified && f.message.contains("D1 binding `DB`"),
        "{f:?}"
    );
    assert!(f.fix.contains("--allow-inconclusive"), "{}", f.fix);
    assert_eq!(report.count(Severity::Error), 0);
    assert!(!report.ready, "an unanswered check never passes as ready");
    assert_eq!(report.unverified, 1);
    assert!(report.summary_line().starts_with("not ready"));
    // Explicitly allowed: ready, the finding stays, and the report says why it is ready.
    report.allow_inconclusive();
    assert!(report.ready && report.inconclusive_allowed);
    assert_eq!(report.findings.len(), 1);
    assert!(report.summary_line().contains("--allow-inconclusive"));
    assert_eq!(report.to_json()["inconclusive_allowed"], true);
    // Allowing unverified checks never hides a proven error.
    inv.kv = Some(Ok(vec![]));
    let mut report = report_of(&w, &inv);
    report.allow_inconclusive();
    assert!(!report.ready && !report.inconclusive_allowed);
}

#[test]
fn an_unread_live_deployment_or_script_list_is_unverified_not_passed() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.per_script.get_mut("api").unwrap().live = Err(unanswered());
    let report = report_of(&w, &inv);
    assert!(!report.ready, "{:?}", report.findings);
    assert!(report
        .findings
        .iter()
        .any(|f| f.unverified && f.message.contains("live deployment")));
    let mut inv = inventory();
    inv.scripts = Err(unanswered());
    let report = report_of(&w, &inv);
    assert!(!report.ready);
}

#[test]
fn a_forbidden_list_names_the_permission_to_add() {
    let w = worker(CONFIG);
    let mut inv = inventory();
    inv.d1 = Some(Err(forbidden("Account · D1 · Read")));
    let report = report_of(&w, &inv);
    let f = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::TokenMissingPermission)
        .unwrap_or_else(|| panic!("{:?}", report.findings));
    assert!(f.fix.contains("Account · D1 · Read"), "{}", f.fix);
    assert!(f.message.contains("D1 binding `DB`"));
    assert_eq!(
        f.severity,
        Severity::Warning,
        "not proven to fail the deploy"
    );
    assert!(f.unverified);
    assert!(!report.findings.iter().any(|f| f.kind == Kind::Inconclusive));
    assert!(!report.ready);
}

#[test]
fn a_var_or_binding_named_like_a_secret_is_an_error() {
    let w = worker(&format!("{CONFIG}\n[vars]\nSHARED = \"x\"\n"));
    let mut inv = inventory();
    inv.per_script.get_mut("api").unwrap().secrets =
        Ok(Some(vec!["SHARED".into(), "CACHE".into()]));
    let found = remote(&w, &inv, &[]);
    let clashes: Vec<&Finding> = found
        .iter()
        .filter(|f| f.kind == Kind::VarSecretClash)
        .collect();
    assert_eq!(clashes.len(), 2, "{found:?}");
    for c in &clashes {
        assert_eq!(
            c.severity,
            Severity::Error,
            "the secret's value would be lost"
        );
        assert!(c.location.is_some());
    }
    assert!(clashes.iter().any(|c| c.message.contains("var `SHARED`")));
    assert!(clashes
        .iter()
        .any(|c| c.message.contains("KV binding `CACHE`")));
}

#[test]
fn a_custom_domain_of_another_worker_is_an_error() {
    let w = worker(&CONFIG.replace(
        "main = \"src/index.js\"",
        "main = \"src/index.js\"\nroutes = [{ pattern = \"shop.example.com\", custom_domain = true }]",
    ));
    let mut inv = inventory();
    inv.zones = Some(Ok(vec![ZoneInfo {
        id: "z1".into(),
        name: "example.com".into(),
        status: "active".into(),
    }]));
    inv.custom_domains = Some(Ok(vec![CustomDomain {
        hostname: "shop.example.com".into(),
        service: "legacy-shop".into(),
    }]));
    let found = remote(&w, &inv, &[]);
    let f = found
        .iter()
        .find(|f| f.kind == Kind::CustomDomainConflict)
        .unwrap_or_else(|| panic!("{found:?}"));
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("legacy-shop") && f.message.contains("take it over"));
    // Its own domain is no conflict.
    inv.custom_domains = Some(Ok(vec![CustomDomain {
        hostname: "shop.example.com".into(),
        service: "api".into(),
    }]));
    assert!(!kinds(&remote(&w, &inv, &[])).contains(&Kind::CustomDomainConflict));
}

fn policy(groups: &[&str], resources: serde_json::Value) -> TokenPolicy {
    TokenPolicy {
        effect: "allow".into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        resources,
    }
}

#[test]
fn write_access_is_verified_missing_or_unverified() {
    let w = worker(&format!(
        "{}\n[[queues.consumers]]\nqueue = \"jobs\"\n",
        CONFIG.replace(
            "main = \"src/index.js\"",
            "main = \"src/index.js\"\nroutes = [\"example.com/*\"]"
        )
    ));
    let input = ServiceInput {
        worker: &w,
        extra_required_secrets: vec![],
        main_exists: Some(true),
    };
    let services = [input];
    let needed: Vec<String> = needed_writes(&services)
        .iter()
        .map(Permission::label)
        .collect();
    assert_eq!(
        needed,
        vec![
            "Account · Queues · Edit",
            "Account · Workers Scripts · Edit",
            "Zone · Workers Routes · Edit",
        ]
    );

    // The token cannot read its own policies: unverified, said, not a finding.
    let mut inv = inventory();
    inv.token_policies = Some(Err(forbidden("")));
    let (access, findings) = write_access(&services, &inv, "acc", None);
    assert_eq!(access.state, WriteState::Unverified);
    assert!(access.reason.unwrap().contains("API Tokens Read"));
    assert!(findings.is_empty());

    // Policies read: the scripts and queues groups are there, routes only as Read.
    let account = serde_json::json!({ "com.cloudflare.api.account.acc": "*" });
    let zones = serde_json::json!({ "com.cloudflare.api.account.acc": { "com.cloudflare.api.account.zone.*": "*" } });
    inv.token_policies = Some(Ok(vec![
        policy(&["Workers Scripts Write", "Queues Write"], account.clone()),
        policy(&["Workers Routes Read"], zones.clone()),
    ]));
    let (access, findings) = write_access(&services, &inv, "acc", None);
    assert_eq!(access.state, WriteState::Missing);
    assert_eq!(access.missing, vec!["Zone · Workers Routes · Edit"]);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, Kind::TokenMissingPermission);
    assert_eq!(findings[0].severity, Severity::Error);
    assert!(findings[0].fix.contains("Zone · Workers Routes · Edit"));

    // Another account's grant does not count; a deny wins over an allow.
    inv.token_policies = Some(Ok(vec![
        policy(
            &["Workers Scripts Write", "Queues Write"],
            serde_json::json!({ "com.cloudflare.api.account.other": "*" }),
        ),
        policy(&["Workers Routes Write"], zones.clone()),
    ]));
    let (access, _) = write_access(&services, &inv, "acc", None);
    assert_eq!(access.missing.len(), 2, "{access:?}");
    let mut deny = policy(&["Queues Write"], account.clone());
    deny.effect = "deny".into();
    inv.token_policies = Some(Ok(vec![
        policy(&["Workers Scripts Write", "Queues Write"], account),
        policy(&["Workers Routes Write"], zones),
        deny,
    ]));
    let (access, _) = write_access(&services, &inv, "acc", None);
    assert_eq!(access.missing, vec!["Account · Queues · Edit"]);
}

/// Every kind's severity, as `docs/findings.md` states it: error when the deploy or the Worker
/// will fail, warning when it deploys but misbehaves.
#[test]
fn severities_match_what_cloudflare_does_at_deploy_time() {
    let w = worker(&format!("{CONFIG}\n[vars]\nSHARED = \"x\"\n"));
    let mut inv = inventory();
    inv.per_script.get_mut("api").unwrap().secrets = Ok(Some(vec!["SHARED".into()]));
    let found = remote(&w, &inv, &["NEED"]);
    let sev = |k: Kind| found.iter().find(|f| f.kind == k).map(|f| f.severity);
    assert_eq!(sev(Kind::VarSecretClash), Some(Severity::Error));
    assert_eq!(sev(Kind::SecretMissing), Some(Severity::Error));
}
