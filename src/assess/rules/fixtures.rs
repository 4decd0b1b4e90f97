//! Shared fixtures of the rules' tests: a config whose every resource exists in an in-memory
//! account (no finding: no false alarm), which each test changes in one place.

use std::collections::BTreeMap;

use chrono::NaiveDate;

// The tests beside each product file import these fixtures and the rules in one line.
pub(super) use super::*;
use crate::assess::inventory::{
    D1Info, KvInfo, QueueInfo, ScriptRemote, TokenOwner, TokenPolicy, TokenState,
};
use crate::assess::Report;
use crate::config::{ConfigFormat, WranglerConfig};

pub(super) const CONFIG: &str = r#"
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

pub(super) fn worker(text: &str) -> ResolvedWorker {
    WranglerConfig::parse(text, ConfigFormat::Toml, "wrangler.toml")
        .unwrap()
        .resolve(None)
        .unwrap()
}

pub(super) fn ctx() -> Context {
    Context {
        today: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        env: None,
        project_workers: BTreeMap::new(),
    }
}

pub(super) fn script(name: &str) -> ScriptInfo {
    ScriptInfo {
        name: name.into(),
        handlers: vec!["fetch".into()],
        named_handlers: vec![],
        migration_tag: None,
        last_deployed_from: Some("wrangler".into()),
    }
}

/// An account that has everything CONFIG needs; `api` exists with no secrets.
pub(super) fn inventory() -> Inventory {
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
            ..QueueInfo::default()
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

pub(super) fn remote(w: &ResolvedWorker, inv: &Inventory, secrets: &[&str]) -> Vec<Finding> {
    let input = ServiceInput {
        worker: w,
        extra_required_secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
        main_exists: Some(true),
    };
    remote_findings(&input, inv, &ctx())
}

pub(super) fn kinds(f: &[Finding]) -> Vec<Kind> {
    f.iter().map(|f| f.kind).collect()
}

pub(super) fn no_answer() -> Unanswered {
    Unanswered {
        reason: "503 after 3 attempts".into(),
        forbidden: false,
        refused: false,
        unreachable: false,
        permission: None,
    }
}

pub(super) fn forbidden(permission: &str) -> Unanswered {
    Unanswered {
        reason: "HTTP 403: Authentication error (10000)".into(),
        forbidden: true,
        refused: true,
        unreachable: false,
        permission: Some(permission.into()),
    }
}

/// A full assessment's report from the findings the rules give for one Worker.
pub(super) fn report_of(w: &ResolvedWorker, inv: &Inventory) -> Report {
    let (mut all, _) = access_findings(inv, "acc", None);
    all.extend(remote(w, inv, &[]));
    Report::new(all)
}

pub(super) fn policy(groups: &[&str], resources: serde_json::Value) -> TokenPolicy {
    TokenPolicy {
        effect: "allow".into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        resources,
    }
}
