//! Semantic checks of a resolved Worker that need no network: the `name_invalid`,
//! `main_missing`, `compatibility_date_invalid` and `config_invalid` problems. Each check only
//! fires on what wrangler or the Cloudflare API would certainly reject.

use std::collections::BTreeMap;

use super::{ConfigProblem, Location, ResolvedWorker};

/// The Cloudflare limit on a Worker script name.
const MAX_NAME_LEN: usize = 63;

/// Appends the problems of `w` to `problems`.
pub(crate) fn check(w: &ResolvedWorker, problems: &mut Vec<ConfigProblem>) {
    let file_loc = || Location {
        file: w.file.clone(),
        line: None,
        column: None,
        key_path: String::new(),
    };
    if !w.is_pages {
        check_name(w, problems, file_loc());
        if w.main.as_deref().is_none_or(|m| m.trim().is_empty()) && !w.has_assets {
            problems.push(ConfigProblem {
                kind: "main_missing",
                message: "no `main` entry point and no `assets`: wrangler has nothing to deploy"
                    .to_owned(),
                fix: "set `main = \"src/index.js\"` (the Worker's entry module) or configure `assets = { directory = \"./public\" }`".to_owned(),
                location: w.main_location.clone().unwrap_or_else(|| Location {
                    key_path: "main".to_owned(),
                    ..file_loc()
                }),
            });
        }
        check_date(w, problems, file_loc());
    }
    check_duplicates(w, problems);
    check_custom_domains(w, problems);
}

fn check_name(w: &ResolvedWorker, problems: &mut Vec<ConfigProblem>, file_loc: Location) {
    let location = w.name_location.clone().unwrap_or(Location {
        key_path: "name".to_owned(),
        ..file_loc
    });
    let Some(name) = &w.name else {
        problems.push(ConfigProblem {
            kind: "name_invalid",
            message: "no `name`: wrangler cannot deploy a Worker without one".to_owned(),
            fix: "set `name = \"my-worker\"` at the top of the config".to_owned(),
            location,
        });
        return;
    };
    let why = if name.is_empty() {
        Some("is empty".to_owned())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "is {} characters long (at most {MAX_NAME_LEN})",
            name.len()
        ))
    } else if name.chars().any(|c| c.is_ascii_uppercase()) {
        Some("contains uppercase letters (Worker names are lowercase)".to_owned())
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        Some(format!("contains `{c}` (use letters, digits and dashes)"))
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("starts or ends with a dash".to_owned())
    } else {
        None
    };
    if let Some(why) = why {
        let suggestion: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(MAX_NAME_LEN)
            .collect::<String>()
            .trim_matches('-')
            .to_owned();
        let derived = w
            .env
            .as_ref()
            .filter(|_| !name.is_empty())
            .map_or(String::new(), |e| {
                format!(" (derived as `<name>-{e}` because [env.{e}] sets no name)")
            });
        problems.push(ConfigProblem {
            kind: "name_invalid",
            message: format!("Worker name `{name}`{derived} {why}"),
            fix: if suggestion.is_empty() {
                "set `name` to lowercase letters, digits and dashes".to_owned()
            } else {
                format!("set `name = \"{suggestion}\"`")
            },
            location,
        });
    }
}

fn check_date(w: &ResolvedWorker, problems: &mut Vec<ConfigProblem>, file_loc: Location) {
    let location = w.compatibility_date_location.clone().unwrap_or(Location {
        key_path: "compatibility_date".to_owned(),
        ..file_loc
    });
    match &w.compatibility_date {
        None => problems.push(ConfigProblem {
            kind: "compatibility_date_invalid",
            message: "no `compatibility_date`: wrangler refuses to deploy without one".to_owned(),
            fix: "add `compatibility_date = \"YYYY-MM-DD\"` (the date you last tested the Worker)"
                .to_owned(),
            location,
        }),
        Some(d) if !valid_date(d) => problems.push(ConfigProblem {
            kind: "compatibility_date_invalid",
            message: format!("compatibility_date `{d}` is not a real YYYY-MM-DD date"),
            fix: "write the date as `YYYY-MM-DD`, e.g. `2025-01-15`".to_owned(),
            location,
        }),
        Some(_) => {}
    }
}

/// A calendar date written exactly as `YYYY-MM-DD`.
pub(crate) fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &d[r];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (Some(y), Some(m), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// wrangler rejects a config whose bindings reuse a name (in `env` they would shadow each
/// other). Vars are left to the var/secret rules of gap analysis.
fn check_duplicates(w: &ResolvedWorker, problems: &mut Vec<ConfigProblem>) {
    let mut seen: BTreeMap<&str, Vec<(&str, &Location)>> = BTreeMap::new();
    let names = w
        .d1_databases
        .iter()
        .map(|b| (b.binding.as_str(), "d1_databases", &b.location))
        .chain(
            w.kv_namespaces
                .iter()
                .map(|b| (b.binding.as_str(), "kv_namespaces", &b.location)),
        )
        .chain(
            w.r2_buckets
                .iter()
                .map(|b| (b.binding.as_str(), "r2_buckets", &b.location)),
        )
        .chain(
            w.queue_producers
                .iter()
                .map(|b| (b.binding.as_str(), "queues.producers", &b.location)),
        )
        .chain(
            w.durable_objects
                .iter()
                .map(|b| (b.name.as_str(), "durable_objects", &b.location)),
        )
        .chain(
            w.services
                .iter()
                .map(|b| (b.binding.as_str(), "services", &b.location)),
        )
        .chain(
            w.other_bindings
                .iter()
                .filter(|b| !matches!(b.kind.as_str(), "unsafe" | "send_email" | "ratelimits"))
                .map(|b| (b.binding.as_str(), b.kind.as_str(), &b.location)),
        );
    for (name, kind, location) in names {
        seen.entry(name).or_default().push((kind, location));
    }
    for (name, uses) in seen {
        if uses.len() < 2 {
            continue;
        }
        let kinds: Vec<String> = uses
            .iter()
            .map(|(k, l)| match l.line {
                Some(line) => format!("{k} (line {line})"),
                None => (*k).to_owned(),
            })
            .collect();
        problems.push(ConfigProblem {
            kind: "config_invalid",
            message: format!(
                "binding name `{name}` is used {} times: {}; wrangler rejects duplicate binding names",
                uses.len(),
                kinds.join(", ")
            ),
            fix: format!("rename or remove all but one binding named `{name}`"),
            location: uses[1].1.clone(),
        });
    }
}

/// A Custom Domain is a hostname: wrangler rejects paths and wildcards in it.
fn check_custom_domains(w: &ResolvedWorker, problems: &mut Vec<ConfigProblem>) {
    for r in w.routes.iter().filter(|r| r.custom_domain) {
        let why = if r.pattern.contains('*') {
            "contains a wildcard `*`"
        } else if r.pattern.contains('/') {
            "contains a path"
        } else {
            continue;
        };
        problems.push(ConfigProblem {
            kind: "config_invalid",
            message: format!("custom domain `{}` {why}; a Custom Domain is a bare hostname", r.pattern),
            fix: "use the bare hostname (e.g. `api.example.com`) with `custom_domain = true`, or drop `custom_domain` to make it a route".to_owned(),
            location: r.location.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::valid_date;

    #[test]
    fn dates() {
        assert!(valid_date("2024-02-29"));
        assert!(!valid_date("2023-02-29"));
        assert!(!valid_date("2024-13-01"));
        assert!(!valid_date("2024-1-01"));
        assert!(!valid_date("2024/01/01"));
        assert!(!valid_date("2024-04-31"));
    }
}
