//! The `kind` of a `[[services]]` entry and the keys of a Pages service (`kind = "pages"`):
//! build output directory, Pages project per environment, expected production branch. Keys
//! of the other kind are refused, never ignored.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{valid_pages_project, PagesService, ServiceKind};
use super::parse::Reader;
use crate::config::source::child_path;
use crate::config::ConfigError;

/// Keys only a Pages service takes.
const PAGES_ONLY: [&str; 4] = [
    "build_output_dir",
    "project_name",
    "project_names",
    "production_branch",
];
/// Keys only a Worker service takes.
const WORKER_ONLY: [&str; 2] = ["config", "required_secrets"];

/// Reads `kind` and the keys that depend on it from one service table (removing them), and
/// returns the kind, the wrangler config path (empty for Pages) and the Pages settings.
pub fn service_kind(
    r: &Reader<'_>,
    t: &mut Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<(ServiceKind, String, Option<PagesService>), ConfigError> {
    let kind_path = child_path(path, "kind");
    let kind = match r.string(t.get("kind"), &kind_path)?.as_deref() {
        None | Some("worker") => ServiceKind::Worker,
        Some("pages") => ServiceKind::Pages,
        Some(other) => {
            return Err(r.error(
                &kind_path,
                format!("service `{name}`: unknown kind `{other}`"),
                "kind = \"worker\" (the default) or kind = \"pages\"",
            ))
        }
    };
    t.remove("kind");
    match kind {
        ServiceKind::Worker => {
            if let Some(k) = PAGES_ONLY.iter().find(|k| t.contains_key(**k)) {
                return Err(r.error(
                    &child_path(path, k),
                    format!("service `{name}`: `{k}` applies only to Pages services"),
                    "kind = \"pages\" on this service, or remove the key",
                ));
            }
            let config = r
                .string(t.get("config"), &child_path(path, "config"))?
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| {
                    r.error(
                        path,
                        format!("service `{name}` has no `config`"),
                        "config = \"path/to/wrangler.toml\" or the directory holding it",
                    )
                })?;
            t.remove("config");
            Ok((kind, config, None))
        }
        ServiceKind::Pages => {
            if let Some(k) = WORKER_ONLY.iter().find(|k| t.contains_key(**k)) {
                return Err(r.error(
                    &child_path(path, k),
                    format!(
                        "service `{name}` is a Pages service: `{k}` applies only to Workers (a Pages project's bindings and secrets are set on the project)"
                    ),
                    "build_output_dir, project_name, project_names, production_branch, depends_on",
                ));
            }
            let pages = pages_settings(r, t, path, name)?;
            for k in PAGES_ONLY {
                t.remove(k);
            }
            Ok((kind, String::new(), Some(pages)))
        }
    }
}

fn pages_settings(
    r: &Reader<'_>,
    t: &Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<PagesService, ConfigError> {
    let dir_path = child_path(path, "build_output_dir");
    let build_output_dir = r
        .string(t.get("build_output_dir"), &dir_path)?
        .ok_or_else(|| {
            r.error(
                path,
                format!("Pages service `{name}` has no `build_output_dir`"),
                "build_output_dir = \"path/to/static/files\" (relative to clodo.toml)",
            )
        })?;
    if build_output_dir.trim().is_empty() {
        return Err(r.error(
            &dir_path,
            format!("Pages service `{name}`: `build_output_dir` is empty"),
            "the directory of the files to upload, relative to clodo.toml",
        ));
    }
    let project_path = child_path(path, "project_name");
    let project_name = r.string(t.get("project_name"), &project_path)?;
    if let Some(p) = &project_name {
        check_project(r, &project_path, name, p)?;
    }
    let names_path = child_path(path, "project_names");
    let mut project_names = BTreeMap::new();
    if let Some(v) = t.get("project_names") {
        let table = r.table(v, &names_path, "a table of environment = \"project name\"")?;
        for (env, v) in table {
            let p = child_path(&names_path, env);
            let project = r.string(Some(v), &p)?.unwrap_or_default();
            check_project(r, &p, name, &project)?;
            project_names.insert(env.clone(), project);
        }
    }
    if project_name.is_none() && project_names.is_empty() {
        return Err(r.error(
            path,
            format!("Pages service `{name}` names no Pages project"),
            "project_name = \"my-site\" and/or project_names = { staging = \"my-site-staging\" }",
        ));
    }
    let branch_path = child_path(path, "production_branch");
    let production_branch = r.string(t.get("production_branch"), &branch_path)?;
    if let Some(b) = &production_branch {
        if b.trim().is_empty() || b.chars().any(char::is_whitespace) {
            return Err(r.error(
                &branch_path,
                format!("Pages service `{name}`: production branch {b:?} is not a branch name"),
                "a git branch name such as \"main\"",
            ));
        }
    }
    Ok(PagesService {
        build_output_dir,
        project_name,
        project_names,
        production_branch,
    })
}

fn check_project(r: &Reader<'_>, path: &str, name: &str, project: &str) -> Result<(), ConfigError> {
    if valid_pages_project(project) {
        return Ok(());
    }
    Err(r.error(
        path,
        format!("Pages service `{name}`: {project:?} is not a Pages project name"),
        "1-58 lowercase letters, digits or '-', not starting or ending with '-'",
    ))
}
