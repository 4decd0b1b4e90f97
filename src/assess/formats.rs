//! Two more renderings of a report for pipelines: Markdown (findings grouped by severity, for
//! a GitHub job summary, a merge request note or a pull request comment) and the GitLab Code
//! Quality JSON that GitLab shows in a merge request's widget.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::finding::{Finding, Severity};
use super::report::Report;

/// Markdown has no escape for table cells but `|` and line breaks.
#[must_use]
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

impl Report {
    /// The findings as Markdown tables, one per severity with findings (errors first); empty
    /// when there are none. Shared by `--format markdown` and the pull request comment.
    #[must_use]
    pub fn markdown_findings(&self) -> String {
        let mut out = String::new();
        for (severity, title) in [
            (Severity::Error, "Errors"),
            (Severity::Warning, "Warnings"),
            (Severity::Info, "Notes"),
        ] {
            let findings: Vec<&Finding> = self
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .collect();
            if findings.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "\n#### {title} ({})\n\n| | finding | fix |\n| --- | --- | --- |\n",
                findings.len()
            );
            for f in findings {
                let flag = if f.unverified { "not checked" } else { "" };
                let service = f
                    .service
                    .as_deref()
                    .map(|s| format!("`{}` ", markdown_cell(s)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {flag} | {service}{} | {} |",
                    markdown_cell(&f.message),
                    markdown_cell(&f.fix)
                );
            }
        }
        out
    }

    /// `clodo assess --format markdown`: a heading, the verdict and the findings tables.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        format!(
            "### Clodo assessment\n\n{} **{}**\n{}",
            if self.ready { "✅" } else { "❌" },
            markdown_cell(&self.summary_line()),
            self.markdown_findings()
        )
    }

    /// GitLab Code Quality report (the subset of the Code Climate format GitLab reads): one
    /// issue per finding with a fingerprint stable across runs, so GitLab can tell new
    /// findings from fixed ones between a merge request and its target branch.
    #[must_use]
    pub fn to_codequality(&self) -> Value {
        let issues: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let severity = match f.severity {
                    Severity::Error => "critical",
                    Severity::Warning => "major",
                    Severity::Info => "info",
                };
                let (path, line) = match &f.location {
                    Some(loc) => (loc.file.clone(), loc.line.unwrap_or(1).max(1)),
                    // GitLab needs a path: a finding about the account, not a file, is shown
                    // against the project's config.
                    None => ("clodo.toml".to_owned(), 1),
                };
                let service = f.service.as_deref().unwrap_or("");
                let fingerprint = fingerprint(&[
                    f.kind.as_str(),
                    service,
                    f.env.as_deref().unwrap_or(""),
                    &path,
                    &f.message,
                ]);
                json!({
                    "description": if service.is_empty() {
                        format!("{} Fix: {}", f.message, f.fix)
                    } else {
                        format!("{service}: {} Fix: {}", f.message, f.fix)
                    },
                    "check_name": f.kind.as_str(),
                    "fingerprint": fingerprint,
                    "severity": severity,
                    "location": { "path": path, "lines": { "begin": line } },
                })
            })
            .collect();
        Value::Array(issues)
    }
}

/// A hex SHA-256 over the parts, each followed by a NUL so ("ab","c") and ("a","bc") differ.
fn fingerprint(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::super::finding::{FindingLocation, Kind};
    use super::*;

    fn report() -> Report {
        let mut located = Finding::new(
            Kind::ALL[0],
            Severity::Error,
            "a | pipe\nand a newline",
            "run it",
        );
        located.service = Some("api".into());
        located.location = Some(FindingLocation {
            file: "api/wrangler.toml".into(),
            line: Some(7),
            column: None,
            key_path: None,
        });
        let mut unverified = Finding::new(Kind::ALL[1], Severity::Warning, "no answer", "retry");
        unverified.unverified = true;
        Report::new(vec![located, unverified])
    }

    #[test]
    fn markdown_groups_by_severity_and_escapes_cells() {
        let md = report().to_markdown();
        assert!(
            md.starts_with("### Clodo assessment\n\n❌ **not ready"),
            "{md}"
        );
        let errors = md.find("#### Errors (1)").expect("errors table");
        let warnings = md.find("#### Warnings (1)").expect("warnings table");
        assert!(errors < warnings);
        assert!(
            md.contains("`api` a \\| pipe and a newline | run it |"),
            "{md}"
        );
        assert!(md.contains("| not checked | no answer | retry |"), "{md}");
        assert!(!md.contains("#### Notes"));
    }

    #[test]
    fn codequality_issues_have_gitlab_fields_and_stable_fingerprints() {
        let first = report().to_codequality();
        let issues = first.as_array().expect("an array");
        assert_eq!(issues.len(), 2);
        let by_kind = |kind: Kind| {
            issues
                .iter()
                .find(|i| i["check_name"] == kind.as_str())
                .expect("an issue per finding")
        };
        let error = by_kind(Kind::ALL[0]);
        assert_eq!(error["severity"], "critical");
        assert_eq!(error["location"]["path"], "api/wrangler.toml");
        assert_eq!(error["location"]["lines"]["begin"], 7);
        let warning = by_kind(Kind::ALL[1]);
        assert_eq!(warning["severity"], "major");
        assert_eq!(warning["location"]["path"], "clodo.toml");
        assert_eq!(issues[0]["fingerprint"].as_str().map(str::len), Some(64));
        assert_ne!(issues[0]["fingerprint"], issues[1]["fingerprint"]);
        assert_eq!(first, report().to_codequality(), "fingerprints are stable");
    }
}
