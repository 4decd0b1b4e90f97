//! The plan and drift rules over hand-made live facts.

use serde_json::json;

use super::*;
use crate::config::{ConfigFormat, ResolvedWorker, WranglerConfig};

const CONFIG: &str = r#"
name = "api"
main = "src/index.js"
compatibility_date = "2025-01-01"
compatibility_flags = ["nodejs_compat"]
routes = [
  { pattern = "example.com/api/*", zone_name = "example.com" },
  { pattern = "shop.example.com", custom_domain = true },
]
keep_vars = false

[triggers]
crons = ["*/5 * * * *"]

[vars]
MODE = "prod"

[[kv_namespaces]]
binding = "CACHE"
id = "kv1"

[[d1_databases]]
binding = "DB"
database_name = "app"
database_id = "d1-uuid"

[secrets]
required = ["API_KEY"]

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Room"]

[[migrations]]
tag = "v2"
new_sqlite_classes = ["Lobby"]
"#;

fn worker() -> ResolvedWorker {
    WranglerConfig::parse(CONFIG, ConfigFormat::Toml, "wrangler.toml")
        .unwrap()
        .resolve(None)
        .unwrap()
}

/// What a deploy of CONFIG left live.
fn in_sync() -> LiveService {
    let raw = vec![
        json!({ "type": "kv_namespace", "name": "CACHE", "namespace_id": "kv1" }),
        json!({ "type": "d1", "name": "DB", "id": "d1-uuid" }),
        json!({ "type": "plain_text", "name": "MODE", "text": "prod" }),
        json!({ "type": "secret_text", "name": "API_KEY" }),
    ];
    LiveService {
        exists: Ok(true),
        settings: Ok(LiveSettings {
            bindings: bindings::from_settings(&raw, "api"),
            compatibility_date: Some("2025-01-01".into()),
            compatibility_flags: vec!["nodejs_compat".into()],
        }),
        secrets: Ok(vec!["API_KEY".into()]),
        deployment: Ok(Some(LiveDeployment {
            id: "dep1".into(),
            source: Some("wrangler".into()),
            message: None,
            versions: vec![("v1".into(), 100.0)],
        })),
        schedules: Ok(vec!["*/5 * * * *".into()]),
        routes: Ok(vec!["example.com/api/*".into()]),
        custom_domains: Ok(vec!["shop.example.com".into()]),
        migration_tag: Ok(Some("v2".into())),
        same_code: Ok(true),
        d1_pending: vec![("DB".into(), Ok(vec![]))],
        last_deployed_from: Some("wrangler".into()),
    }
}

fn plan_of(live: &LiveService) -> ServicePlan {
    plan_service("api", &worker(), &["API_KEY".to_owned()], live)
}

fn has(plan: &ServicePlan, area: Area, name: &str, action: Action) -> bool {
    plan.changes
        .iter()
        .any(|c| c.area == area && c.name == name && c.action == action)
}

#[test]
fn a_worker_in_sync_plans_no_changes_and_exits_zero() {
    let plan = plan_of(&in_sync());
    assert_eq!(plan.changes, vec![], "{plan:#?}");
    assert_eq!(plan.action, ServiceAction::NoChange);
    assert_eq!(plan.new_version, Verdict::No);
    let report = PlanReport::new(None, vec![plan]);
    assert_eq!(report.detailed_exit_code(), 0);
}

#[test]
fn every_area_that_differs_is_a_change() {
    let mut live = in_sync();
    let raw = vec![
        json!({ "type": "kv_namespace", "name": "CACHE", "namespace_id": "kv-other" }),
        json!({ "type": "plain_text", "name": "MODE", "text": "dev" }),
        json!({ "type": "plain_text", "name": "DASH_ONLY", "text": "x" }),
        json!({ "type": "r2_bucket", "name": "OLD", "bucket_name": "old" }),
    ];
    live.settings = Ok(LiveSettings {
        bindings: bindings::from_settings(&raw, "api"),
        compatibility_date: Some("2024-06-01".into()),
        compatibility_flags: vec![],
    });
    live.secrets = Ok(vec![]);
    live.schedules = Ok(vec!["0 * * * *".into()]);
    live.routes = Ok(vec![]);
    live.custom_domains = Ok(vec!["old.example.com".into()]);
    live.migration_tag = Ok(Some("v1".into()));
    live.same_code = Ok(false);
    live.d1_pending = vec![("DB".into(), Ok(vec!["0002_add.sql".into()]))];
    live.deployment = Ok(Some(LiveDeployment {
        id: "dep2".into(),
        source: Some("wrangler".into()),
        message: None,
        versions: vec![("v1".into(), 90.0), ("v2".into(), 10.0)],
    }));
    let plan = plan_of(&live);
    assert!(has(&plan, Area::Code, "api", Action::Change));
    assert!(has(&plan, Area::Binding, "CACHE", Action::Change));
    assert!(has(&plan, Area::Binding, "DB", Action::Add));
    assert!(has(&plan, Area::Binding, "OLD", Action::Remove));
    assert!(has(&plan, Area::Var, "MODE", Action::Change));
    assert!(has(&plan, Area::Var, "DASH_ONLY", Action::Remove));
    assert!(has(
        &plan,
        Area::CompatibilityDate,
        "compatibility_date",
        Action::Change
    ));
    assert!(has(
        &plan,
        Area::CompatibilityFlag,
        "nodejs_compat",
        Action::Add
    ));
    assert!(has(&plan, Area::Secret, "API_KEY", Action::Missing));
    assert!(has(&plan, Area::Cron, "*/5 * * * *", Action::Add));
    assert!(has(&plan, Area::Cron, "0 * * * *", Action::Remove));
    assert!(has(&plan, Area::Route, "example.com/api/*", Action::Add));
    assert!(has(
        &plan,
        Area::CustomDomain,
        "shop.example.com",
        Action::Add
    ));
    assert!(has(
        &plan,
        Area::CustomDomain,
        "old.example.com",
        Action::Remove
    ));
    assert!(has(
        &plan,
        Area::DurableObjectMigration,
        "v2",
        Action::Pending
    ));
    assert!(has(
        &plan,
        Area::D1Migration,
        "0002_add.sql",
        Action::Pending
    ));
    assert!(has(&plan, Area::Traffic, "dep2", Action::Change));
    assert_eq!(plan.new_version, Verdict::Yes);
    // A var's value is compared, never shown.
    let text = serde_json::to_string(&plan).unwrap();
    assert!(
        !text.contains("\"prod\"") && !text.contains("\"dev\""),
        "{text}"
    );
    assert!(!render_plan(&PlanReport::new(None, vec![plan.clone()]), false).contains("prod"));
    assert_eq!(PlanReport::new(None, vec![plan]).detailed_exit_code(), 2);
}

#[test]
fn keep_vars_keeps_vars_set_outside_the_config() {
    let text = CONFIG.replace("keep_vars = false", "keep_vars = true");
    let w = WranglerConfig::parse(&text, ConfigFormat::Toml, "wrangler.toml")
        .unwrap()
        .resolve(None)
        .unwrap();
    let mut live = in_sync();
    if let Ok(s) = &mut live.settings {
        s.bindings.insert(
            "DASH_ONLY".into(),
            BindingFact {
                kind: "plain_text".into(),
                target: Some("x".into()),
            },
        );
    }
    let plan = plan_service("api", &w, &["API_KEY".to_owned()], &live);
    assert!(plan.changes.is_empty(), "{plan:#?}");
}

#[test]
fn a_check_that_could_not_be_made_is_unknown_never_no_change() {
    let mut live = in_sync();
    live.settings = Err("Worker settings: 403".into());
    live.same_code = Err("the bundle could not be built".into());
    live.schedules = Err("schedules: timeout".into());
    let plan = plan_of(&live);
    assert_eq!(plan.action, ServiceAction::Unknown);
    assert_eq!(plan.new_version, Verdict::Unknown);
    assert!(has(&plan, Area::Binding, "bindings", Action::Unknown));
    assert!(has(&plan, Area::Cron, "cron", Action::Unknown));
    let report = PlanReport::new(None, vec![plan]);
    assert!(!report.changes);
    assert_eq!(report.unknown, 3);
    assert_eq!(
        report.detailed_exit_code(),
        2,
        "unknown is not 'no changes'"
    );
    assert!(render_plan(&report, false).contains("could not be made"));
}

#[test]
fn a_new_worker_is_created_with_everything_in_its_config() {
    let mut live = in_sync();
    live.exists = Ok(false);
    let plan = plan_of(&live);
    assert_eq!(plan.action, ServiceAction::Create);
    assert_eq!(plan.new_version, Verdict::Yes);
    assert!(has(&plan, Area::Binding, "CACHE", Action::Add));
    assert!(has(
        &plan,
        Area::DurableObjectMigration,
        "v1",
        Action::Pending
    ));
    assert!(has(&plan, Area::Secret, "API_KEY", Action::Missing));
}

#[test]
fn drift_reports_settings_splits_and_outside_deployments_with_their_fix() {
    let mut live = in_sync();
    live.schedules = Ok(vec!["0 * * * *".into()]);
    live.same_code = Ok(false);
    live.deployment = Ok(Some(LiveDeployment {
        id: "dep3".into(),
        source: Some("api".into()),
        message: Some("edited in the dashboard".into()),
        versions: vec![("v9".into(), 50.0), ("v1".into(), 50.0)],
    }));
    let plan = plan_of(&live);
    let recorded: RecordedVersions = Some(["v1".to_owned()].into_iter().collect());
    let drift = drift_service(&plan, &live, Some("production"), &recorded);
    let kinds: Vec<DriftKind> = drift.items.iter().map(|i| i.kind).collect();
    assert!(kinds.contains(&DriftKind::Trigger));
    assert!(kinds.contains(&DriftKind::Split));
    assert!(kinds.contains(&DriftKind::OutsideDeployment));
    assert!(kinds.contains(&DriftKind::UnrecordedVersion));
    // Undeployed code is what a deploy ships, not drift.
    assert!(!drift.items.iter().any(|i| i.what.starts_with("code")));
    let unrecorded = drift
        .items
        .iter()
        .find(|i| i.kind == DriftKind::UnrecordedVersion)
        .unwrap();
    assert_eq!(unrecorded.what, "version v9");
    let cron = drift
        .items
        .iter()
        .find(|i| i.kind == DriftKind::Trigger)
        .unwrap();
    assert_eq!(cron.reconcile, "clodo deploy --env production");
    let report = DriftReport::new(Some("production".into()), true, vec![drift]);
    assert!(report.drifted);

    // Clodo's own traffic moves (message `clodo …`) are not outside deployments.
    let mut ours = in_sync();
    ours.deployment = Ok(Some(LiveDeployment {
        id: "dep4".into(),
        source: Some("api".into()),
        message: Some("clodo dep_1".into()),
        versions: vec![("v1".into(), 100.0)],
    }));
    let drift = drift_service(&plan_of(&ours), &ours, None, &None);
    assert!(drift.items.is_empty(), "{drift:#?}");
}
