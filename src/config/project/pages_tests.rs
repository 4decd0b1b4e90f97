//! Unit tests of Pages services in `clodo.toml`: accepted shapes and clear refusals.

use std::path::{Path, PathBuf};

use super::*;

fn parse(services: &str) -> Result<ProjectConfig, crate::config::ConfigError> {
    parse_project(
        &format!("project = \"shop\"\n[[services]]\nname = \"api\"\nconfig = \"api\"\n{services}"),
        "clodo.toml",
    )
}

#[test]
fn pages_service_with_project_per_environment() {
    let p = parse(
        "[[services]]\nname = \"storefront\"\nkind = \"pages\"\nbuild_output_dir = \"storefront/public\"\nproject_name = \"shop-storefront-dev\"\nproduction_branch = \"main\"\ndepends_on = [\"api\"]\n[services.project_names]\nstaging = \"shop-storefront-staging\"\n",
    )
    .unwrap();
    let s = p.service("storefront").unwrap();
    assert_eq!(s.kind, ServiceKind::Pages);
    assert!(!s.is_worker());
    assert!(p.service("api").unwrap().is_worker());
    let pages = s.pages.as_ref().unwrap();
    assert_eq!(
        pages.project_for(Some("staging")),
        Some("shop-storefront-staging")
    );
    assert_eq!(
        pages.project_for(Some("production")),
        Some("shop-storefront-dev")
    );
    assert_eq!(pages.project_for(None), Some("shop-storefront-dev"));
    assert_eq!(pages.production_branch.as_deref(), Some("main"));
    assert_eq!(
        pages.output_path(Path::new("/repo/clodo.toml")),
        PathBuf::from("/repo/storefront/public")
    );
    assert_eq!(p.deploy_order(), vec!["api", "storefront"]);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn pages_service_without_default_project_has_none_outside_its_envs() {
    let p = parse(
        "[[services]]\nname = \"site\"\nkind = \"pages\"\nbuild_output_dir = \"dist\"\nproject_names = { production = \"site\" }\n",
    )
    .unwrap();
    let pages = p.service("site").unwrap().pages.clone().unwrap();
    assert_eq!(pages.project_for(Some("production")), Some("site"));
    assert_eq!(pages.project_for(Some("staging")), None);
}

fn refused(services: &str, key_path: &str, says: &str) {
    let err = parse(services).unwrap_err();
    assert_eq!(err.key_path.as_deref(), Some(key_path), "{err}");
    assert!(err.message.contains(says), "{err}");
    assert!(err.line.is_some(), "{err}");
    assert!(err.expected.is_some(), "{err}");
}

#[test]
fn refuses_bad_pages_values_with_where_and_how() {
    let head = "[[services]]\nname = \"site\"\n";
    refused(
        &format!("{head}kind = \"static\"\nconfig = \"x\"\n"),
        "services[1].kind",
        "unknown kind `static`",
    );
    refused(
        &format!("{head}kind = \"pages\"\nproject_name = \"site\"\n"),
        "services[1]",
        "has no `build_output_dir`",
    );
    refused(
        &format!("{head}kind = \"pages\"\nbuild_output_dir = \" \"\nproject_name = \"site\"\n"),
        "services[1].build_output_dir",
        "is empty",
    );
    refused(
        &format!("{head}kind = \"pages\"\nbuild_output_dir = \"dist\"\n"),
        "services[1]",
        "names no Pages project",
    );
    refused(
        &format!(
            "{head}kind = \"pages\"\nbuild_output_dir = \"dist\"\nproject_name = \"My_Site\"\n"
        ),
        "services[1].project_name",
        "is not a Pages project name",
    );
    refused(
        &format!("{head}kind = \"pages\"\nbuild_output_dir = \"dist\"\nproject_names = {{ staging = \"-bad\" }}\n"),
        "services[1].project_names.staging",
        "is not a Pages project name",
    );
    refused(
        &format!("{head}kind = \"pages\"\nbuild_output_dir = \"dist\"\nproject_names = \"site\"\n"),
        "services[1].project_names",
        "is not a table",
    );
    refused(
        &format!("{head}kind = \"pages\"\nbuild_output_dir = \"dist\"\nproject_name = \"site\"\nproduction_branch = \"my branch\"\n"),
        "services[1].production_branch",
        "is not a branch name",
    );
    refused(
        &format!("{head}kind = \"pages\"\nbuild_output_dir = \"dist\"\nproject_name = \"site\"\nconfig = \"site\"\n"),
        "services[1].config",
        "applies only to Workers",
    );
    refused(
        &format!("{head}config = \"site\"\nbuild_output_dir = \"dist\"\n"),
        "services[1].build_output_dir",
        "applies only to Pages services",
    );
}

#[test]
fn pages_project_names() {
    for ok in ["a", "shop-storefront", "x1-2", &"a".repeat(58)] {
        assert!(valid_pages_project(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(59)] {
        assert!(!valid_pages_project(bad), "{bad}");
    }
}
