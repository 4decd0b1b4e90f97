//! `clodo.toml`: the services of a project, each a path to a wrangler config, their required
//! secrets and deploy dependencies. Sections a later version defines (strategy, health checks,
//! notifications) are kept as JSON in `extra` rather than rejected.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::source::{child_path, index_path, SourceMap};
use super::{tomlsrc, ConfigError, Location};

/// A parsed `clodo.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectConfig {
    pub file: String,
    pub project: String,
    pub services: Vec<ProjectService>,
    /// Top-level sections this version does not interpret (strategy, health checks,
    /// notifications, ...), kept as JSON so a later version or the caller can read them.
    pub extra: Map<String, Value>,
}

/// One `[[services]]` entry of `clodo.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectService {
    pub name: String,
    /// Path to the wrangler config or its directory, relative to `clodo.toml`.
    pub config: String,
    pub required_secrets: Vec<String>,
    pub depends_on: Vec<String>,
    pub location: Location,
    /// Keys of this service entry this version does not interpret.
    pub extra: Map<String, Value>,
}

impl ProjectService {
    /// The service's config path resolved against the directory of `clodo_toml` (pure path
    /// arithmetic; whether it is a file or a directory is for the caller to find out).
    #[must_use]
    pub fn config_path(&self, clodo_toml: &Path) -> PathBuf {
        clodo_toml
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join(&self.config)
    }
}

impl ProjectConfig {
    /// Service names in deploy order: every service after the ones it depends on, otherwise
    /// in file order. `parse_project` has already rejected cycles and unknown names.
    #[must_use]
    pub fn deploy_order(&self) -> Vec<String> {
        let mut done: Vec<String> = Vec::new();
        while done.len() < self.services.len() {
            let next = self
                .services
                .iter()
                .find(|s| !done.contains(&s.name) && s.depends_on.iter().all(|d| done.contains(d)));
            match next {
                Some(s) => done.push(s.name.clone()),
                None => break, // unreachable after validation; never loop forever
            }
        }
        done
    }

    /// The service named `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&ProjectService> {
        self.services.iter().find(|s| s.name == name)
    }
}

struct Reader<'a> {
    file: &'a str,
    map: SourceMap,
}

impl Reader<'_> {
    fn loc(&self, path: &str) -> Location {
        let pos = self.map.get(path);
        Location {
            file: self.file.to_owned(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            key_path: path.to_owned(),
        }
    }

    fn error(&self, path: &str, message: String, expected: &str) -> ConfigError {
        let loc = self.loc(path);
        ConfigError {
            file: self.file.to_owned(),
            line: loc.line,
            column: loc.column,
            key_path: (!path.is_empty()).then(|| path.to_owned()),
            message,
            expected: Some(expected.to_owned()),
        }
    }

    fn string(&self, v: Option<&Value>, path: &str) -> Result<Option<String>, ConfigError> {
        match v {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(path, format!("`{path}` is not a string"), "a string")),
        }
    }

    fn list(&self, v: Option<&Value>, path: &str) -> Result<Vec<String>, ConfigError> {
        let Some(v) = v else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.error(
                path,
                format!("`{path}` is not an array"),
                "an array of strings",
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                self.string(Some(item), &index_path(path, i))
                    .map(Option::unwrap_or_default)
            })
            .collect()
    }
}

/// Parses the text of a `clodo.toml`.
pub fn parse_project(text: &str, file_name: &str) -> Result<ProjectConfig, ConfigError> {
    let (value, map) = tomlsrc::parse(text, file_name)?;
    let r = Reader {
        file: file_name,
        map,
    };
    let Value::Object(mut root) = value else {
        return Err(r.error("", "clodo.toml is not a table".to_owned(), "a table"));
    };

    // `project = "name"` or `[project] name = "name"`.
    let project = match root.remove("project") {
        Some(Value::String(s)) => s,
        Some(Value::Object(mut t)) => {
            let name = r.string(t.get("name"), "project.name")?;
            t.remove("name");
            if !t.is_empty() {
                root.insert("project".to_owned(), Value::Object(t));
            }
            name.ok_or_else(|| {
                r.error(
                    "project",
                    "[project] has no `name`".to_owned(),
                    "name = \"my-project\"",
                )
            })?
        }
        Some(_) => {
            return Err(r.error(
                "project",
                "`project` is neither a name nor a table".to_owned(),
                "project = \"my-project\"",
            ))
        }
        None => {
            return Err(r.error(
                "",
                "clodo.toml has no `project`".to_owned(),
                "project = \"my-project\" at the top of the file",
            ))
        }
    };
    if project.trim().is_empty() {
        return Err(r.error(
            "project",
            "the project name is empty".to_owned(),
            "a non-empty name",
        ));
    }

    // `[[services]]` entries, or `[services.NAME]` tables (the name is then the key).
    let entries: Vec<(Option<String>, Map<String, Value>, String)> = match root.remove("services") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let path = index_path("services", i);
                match item {
                    Value::Object(t) => Ok((None, t, path)),
                    _ => Err(r.error(
                        &path,
                        format!("`{path}` is not a table"),
                        "a [[services]] table",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Object(t)) => t
            .into_iter()
            .map(|(name, item)| {
                let path = child_path("services", &name);
                match item {
                    Value::Object(t) => Ok((Some(name), t, path)),
                    _ => Err(r.error(
                        &path,
                        format!("`{path}` is not a table"),
                        "a [services.NAME] table",
                    )),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(r.error(
                "services",
                "`services` is neither an array of tables nor a table".to_owned(),
                "[[services]] entries",
            ))
        }
    };

    let mut services: Vec<ProjectService> = Vec::new();
    for (key_name, mut t, path) in entries {
        let name = match key_name {
            Some(n) => n,
            None => r
                .string(t.get("name"), &child_path(&path, "name"))?
                .ok_or_else(|| {
                    r.error(&path, format!("`{path}` has no `name`"), "name = \"api\"")
                })?,
        };
        let config = r
            .string(t.get("config"), &child_path(&path, "config"))?
            .ok_or_else(|| {
                r.error(
                    &path,
                    format!("service `{name}` has no `config`"),
                    "config = \"path/to/wrangler.toml\" or the directory holding it",
                )
            })?;
        if services.iter().any(|s| s.name == name) {
            return Err(r.error(
                &path,
                format!("service `{name}` is declared twice"),
                "unique service names",
            ));
        }
        let required_secrets = r.list(
            t.get("required_secrets"),
            &child_path(&path, "required_secrets"),
        )?;
        let depends_on = r.list(t.get("depends_on"), &child_path(&path, "depends_on"))?;
        for k in ["name", "config", "required_secrets", "depends_on"] {
            t.remove(k);
        }
        services.push(ProjectService {
            name,
            config,
            required_secrets,
            depends_on,
            location: r.loc(&path),
            extra: t,
        });
    }

    for s in &services {
        for (i, d) in s.depends_on.iter().enumerate() {
            if !services.iter().any(|o| &o.name == d) {
                let known: Vec<&str> = services.iter().map(|o| o.name.as_str()).collect();
                return Err(r.error(
                    &index_path(&child_path(&s.location.key_path, "depends_on"), i),
                    format!(
                        "service `{}` depends on `{d}`, which is not a service of this project",
                        s.name
                    ),
                    &format!("one of: {}", known.join(", ")),
                ));
            }
        }
    }

    let config = ProjectConfig {
        file: file_name.to_owned(),
        project,
        services,
        extra: root,
    };
    if config.deploy_order().len() < config.services.len() {
        let order = config.deploy_order();
        let stuck: Vec<&str> = config
            .services
            .iter()
            .filter(|s| !order.contains(&s.name))
            .map(|s| s.name.as_str())
            .collect();
        let first = config.services.iter().find(|s| !order.contains(&s.name));
        return Err(r.error(
            first.map_or("services", |s| s.location.key_path.as_str()),
            format!("`depends_on` forms a cycle among: {}", stuck.join(", ")),
            "dependencies without cycles",
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = r#"
project = "shop"

[strategy]
kind = "canary"

[[services]]
name = "api"
config = "services/api"
required_secrets = ["STRIPE_KEY"]
depends_on = ["auth"]
health_check = "/healthz"

[[services]]
name = "auth"
config = "services/auth/wrangler.jsonc"
"#;

    #[test]
    fn parses_services_and_keeps_unknown_sections() {
        let p = parse_project(PROJECT, "clodo.toml").unwrap();
        assert_eq!(p.project, "shop");
        assert_eq!(p.services.len(), 2);
        assert_eq!(p.services[0].required_secrets, vec!["STRIPE_KEY"]);
        assert_eq!(p.services[0].extra["health_check"], "/healthz");
        assert_eq!(p.extra["strategy"]["kind"], "canary");
        assert_eq!(p.services[0].location.line, Some(7));
        assert_eq!(p.deploy_order(), vec!["auth", "api"]);
        assert_eq!(
            p.services[1].config_path(Path::new("/repo/clodo.toml")),
            PathBuf::from("/repo/services/auth/wrangler.jsonc")
        );
    }

    #[test]
    fn table_form_and_project_table() {
        let p = parse_project(
            "[project]\nname = \"x\"\n[services.web]\nconfig = \"web\"\n",
            "clodo.toml",
        )
        .unwrap();
        assert_eq!(p.project, "x");
        assert_eq!(p.services[0].name, "web");
    }

    #[test]
    fn rejects_unknown_dependency_and_cycles_with_position() {
        let err = parse_project(
            "project = \"p\"\n[[services]]\nname = \"a\"\nconfig = \"a\"\ndepends_on = [\"nope\"]\n",
            "clodo.toml",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(5));
        assert!(err.message.contains("`nope`"), "{err}");

        let err = parse_project(
            "project = \"p\"\n[[services]]\nname = \"a\"\nconfig = \"a\"\ndepends_on = [\"b\"]\n[[services]]\nname = \"b\"\nconfig = \"b\"\ndepends_on = [\"a\"]\n",
            "clodo.toml",
        )
        .unwrap_err();
        assert!(err.message.contains("cycle"), "{err}");

        let err = parse_project("[[services]]\nname = \"a\"\n", "clodo.toml").unwrap_err();
        assert!(err.message.contains("no `project`"), "{err}");
        let err = parse_project(
            "project = \"p\"\n[[services]]\nname = \"a\"\n",
            "clodo.toml",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
