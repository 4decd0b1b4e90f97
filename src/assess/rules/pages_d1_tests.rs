//! Unit tests of the Pages and D1 migration rules over fetched facts.

use serde_json::json;

use super::*;
use crate::deploy::migrations::Destructive;
use serde_json::Value;

fn project(branch: &str, configs: Value, domains: &[&str]) -> PagesProject {
    PagesProject {
        name: "shop-storefront".into(),
        subdomain: "shop-storefront.pages.dev".into(),
        production_branch: branch.into(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        deployment_configs: configs,
    }
}

fn facts<'a>(location: &'a Location, project: Read<Option<PagesProject>>) -> PagesFacts<'a> {
    PagesFacts {
        service: "storefront",
        env: Some("staging"),
        location,
        project_name: Some("shop-storefront"),
        expected_branch: Some("main"),
        output_files: Some(2),
        output_dir: "storefront/public",
        project,
        d1: Ok(vec![D1Info {
            uuid: "db-1".into(),
            name: "shop-db".into(),
        }]),
        kv: Ok(vec![]),
        r2: Err("HTTP 403".into()),
        scripts: Ok(vec![]),
        zones: Ok(vec![ZoneInfo {
            id: "z".into(),
            name: "shop.example".into(),
            status: "pending".into(),
        }]),
    }
}

fn kinds(found: &[Finding]) -> Vec<Kind> {
    found.iter().map(|f| f.kind).collect()
}

#[test]
fn a_healthy_project_has_no_findings() {
    let l = Location::default();
    let configs = json!({"production": {"d1_databases": {"DB": {"id": "db-1"}}}, "preview": {}});
    let found = pages_findings(&facts(
        &l,
        Ok(Some(project(
            "main",
            configs,
            &["shop-storefront.pages.dev"],
        ))),
    ));
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn missing_project_branch_output_bindings_and_domains_are_findings_with_fixes() {
    let l = Location::default();
    let mut f = facts(&l, Ok(None));
    f.output_files = None;
    let found = pages_findings(&f);
    assert_eq!(
        kinds(&found),
        vec![Kind::PagesOutputMissing, Kind::PagesProjectMissing]
    );
    assert!(found[1]
        .fix
        .contains("wrangler pages project create shop-storefront --production-branch main"));
    assert_eq!(found[1].severity, Severity::Error);

    let configs = json!({"production": {
        "d1_databases": {"DB": {"id": "gone"}},
        "kv_namespaces": {"CACHE": {"namespace_id": "kv-x"}},
        "r2_buckets": {"IMAGES": {"name": "imgs"}},
        "services": {"API": {"service": "shop-api-staging"}}
    }, "preview": {}});
    let found = pages_findings(&facts(
        &l,
        Ok(Some(project(
            "production",
            configs,
            &["www.shop.example", "x.other.example"],
        ))),
    ));
    assert_eq!(
        kinds(&found),
        vec![
            Kind::PagesBranchMismatch,
            Kind::D1Missing,
            Kind::KvMissing,
            Kind::Inconclusive,
            Kind::ServiceMissing,
            Kind::ZoneInactive,
            Kind::ZoneMissing,
        ]
    );
    assert!(found[3].unverified, "an unread list is never a pass");
    assert!(found
        .iter()
        .all(|f| f.service.as_deref() == Some("storefront")));
}

#[test]
fn a_project_that_could_not_be_read_is_unverified_not_ready() {
    let l = Location::default();
    let found = pages_findings(&facts(&l, Err("timeout".into())));
    assert_eq!(kinds(&found), vec![Kind::Inconclusive]);
    assert!(found[0].unverified);
}

fn d1<'a>(l: &'a Location, pending: Read<Vec<MigrationReport>>) -> D1Facts<'a> {
    D1Facts {
        service: "api",
        env: Some("staging"),
        binding: "DB",
        database: "shop-db-staging",
        location: l,
        pending,
    }
}

#[test]
fn pending_destructive_migrations_warn_and_warn_again_for_gradual_rollouts() {
    let l = Location::default();
    let none = migration_findings(&d1(&l, Ok(vec![])), Strategy::Gradual);
    assert!(none.is_empty());
    let additive = vec![MigrationReport {
        name: "0002_add_column.sql".into(),
        destructive: vec![],
    }];
    let found = migration_findings(&d1(&l, Ok(additive)), Strategy::Gradual);
    assert_eq!(kinds(&found), vec![Kind::D1MigrationsPending]);
    assert!(found[0].message.contains("0002_add_column.sql"));
    let dropping = vec![MigrationReport {
        name: "0003_drop.sql".into(),
        destructive: vec![Destructive::DropColumn {
            table: "orders".into(),
            column: "note".into(),
        }],
    }];
    let found = migration_findings(&d1(&l, Ok(dropping.clone())), Strategy::Gradual);
    assert_eq!(
        kinds(&found),
        vec![
            Kind::D1MigrationsPending,
            Kind::D1MigrationDestructive,
            Kind::D1DestructiveGradual
        ]
    );
    assert!(found[1].fix.contains("--allow-destructive"));
    assert_eq!(found[1].severity, Severity::Warning);
    let immediate = migration_findings(&d1(&l, Ok(dropping)), Strategy::Immediate);
    assert_eq!(
        kinds(&immediate),
        vec![Kind::D1MigrationsPending, Kind::D1MigrationDestructive]
    );
    let unread = migration_findings(&d1(&l, Err("HTTP 500".into())), Strategy::Immediate);
    assert!(unread[0].unverified);
}
