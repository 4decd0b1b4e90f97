//! The checks that need no API: config problems, the entry point, the compatibility date and
//! what an environment does not inherit.

use chrono::NaiveDate;

use super::{loc, Context, Out, ServiceInput};
use crate::assess::finding::{Finding, FindingLocation, Kind, Severity};

/// A compatibility date older than this is reported as stale.
const STALE_AFTER_DAYS: i64 = 365;

/// The checks that need no API: config problems, the entry point, dates, inheritance.
#[must_use]
pub fn local_findings(input: &ServiceInput<'_>, ctx: &Context) -> Vec<Finding> {
    let w = input.worker;
    let mut out = Out {
        findings: Vec::new(),
        service: w.name.as_deref(),
        env: ctx.env.as_deref(),
    };
    for p in &w.problems {
        let kind = match p.kind {
            "name_invalid" => Kind::NameInvalid,
            "main_missing" => Kind::MainMissing,
            "compatibility_date_invalid" => Kind::CompatibilityDateInvalid,
            _ => Kind::ConfigInvalid,
        };
        out.at(
            kind,
            Severity::Error,
            &p.location,
            p.message.clone(),
            p.fix.clone(),
        );
    }
    if let (Some(main), Some(false)) = (&w.main, input.main_exists) {
        out.push(
            Finding::new(
                Kind::MainMissing,
                Severity::Error,
                format!("the entry point `{main}` does not exist"),
                format!("build first (the file is usually produced by your build step) or fix `main = \"{main}\"`"),
            )
            .at(FindingLocation {
                file: w.file.clone(),
                line: None,
                column: None,
                key_path: Some("main".into()),
            }),
        );
    }
    if let Some(date) = w.compatibility_date.as_deref() {
        if let Ok(parsed) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            let file_loc = FindingLocation {
                file: w.file.clone(),
                line: None,
                column: None,
                key_path: Some("compatibility_date".into()),
            };
            let today = ctx.today.format("%Y-%m-%d");
            if parsed > ctx.today {
                out.push(
                    Finding::new(
                        Kind::CompatibilityDateInvalid,
                        Severity::Error,
                        format!(
                            "compatibility_date {date} is in the future; Cloudflare refuses it"
                        ),
                        format!("set compatibility_date = \"{today}\" or earlier"),
                    )
                    .at(file_loc),
                );
            } else if (ctx.today - parsed).num_days() > STALE_AFTER_DAYS {
                out.push(
                    Finding::new(
                        Kind::CompatibilityDateStale,
                        Severity::Info,
                        format!(
                            "compatibility_date {date} is {} days old; the Worker misses runtime fixes made since",
                            (ctx.today - parsed).num_days()
                        ),
                        format!("test with compatibility_date = \"{today}\", then commit it"),
                    )
                    .at(file_loc),
                );
            }
        }
    }
    for n in &w.not_inherited {
        let env = ctx.env.as_deref().unwrap_or("?");
        out.push(
            Finding::new(
                Kind::BindingNotInherited,
                Severity::Warning,
                format!(
                    "`{}` is set at the top level but not in [env.{env}]; wrangler does not inherit it, so this environment deploys without it",
                    n.key
                ),
                format!("repeat `{}` under [env.{env}] with this environment's resources", n.key),
            )
            .at(loc(&n.top_level_location)),
        );
    }
    out.findings
}

#[cfg(test)]
mod tests {
    use crate::assess::rules::fixtures::*;

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
}
