//! The result of an assessment and its four renderings: human, JSON, SARIF 2.1.0 and GitHub
//! workflow annotations.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use super::finding::{Finding, Kind, Severity};

/// Whether the token's write permissions could be checked against what the deploy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteState {
    /// The token's policies were read and grant every needed write permission.
    Verified,
    /// The token's policies were read and lack some (`missing`; each is also an error finding).
    Missing,
    /// The token cannot read its own policies: write access is not known.
    Unverified,
}

/// The write side of the token check (reads are probed by the inventory itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteAccess {
    pub state: WriteState,
    /// Every write permission this deploy needs, e.g. `Account · Workers Scripts · Edit`.
    pub needed: Vec<String>,
    /// The needed ones the token lacks (empty unless `state` is `missing`).
    pub missing: Vec<String>,
    /// Why the state is `unverified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An assessment: `ready` is false when any finding is an error, or when a check could not be
/// made (an `unverified` finding) and the caller did not explicitly allow that.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub ready: bool,
    pub findings: Vec<Finding>,
    /// How many findings are checks that could not be made.
    pub unverified: usize,
    /// True when `ready` was granted although checks are unverified (`--allow-inconclusive`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inconclusive_allowed: bool,
    /// Which write permissions the deploy needs and whether the token has them; `None` offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_access: Option<WriteAccess>,
    /// How many things of each sort were checked (bindings, routes, secrets, ...).
    pub checked: BTreeMap<String, usize>,
    pub duration_ms: u64,
    /// Cloudflare API calls made, retries included.
    pub api_calls: u32,
    /// What the token can read, per product: `true`, `false`, or `null` when not probed.
    pub capabilities: BTreeMap<String, Option<bool>>,
    /// The Workers assessed (resolved names) and the environment.
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl Report {
    /// Builds a report, sorting findings by service, then severity, then kind.
    #[must_use]
    pub fn new(mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| {
            (&a.service, a.severity, a.kind, &a.message)
                .cmp(&(&b.service, b.severity, b.kind, &b.message))
        });
        findings.dedup();
        let unverified = findings.iter().filter(|f| f.unverified).count();
        Self {
            ready: unverified == 0 && !findings.iter().any(|f| f.severity == Severity::Error),
            unverified,
            inconclusive_allowed: false,
            write_access: None,
            findings,
            checked: BTreeMap::new(),
            duration_ms: 0,
            api_calls: 0,
            capabilities: BTreeMap::new(),
            services: Vec::new(),
            env: None,
        }
    }

    /// Adds findings made outside the engine's run (the Pages/D1 checks, the project file's
    /// own): sorted in, with readiness and the unverified count made again; what the run
    /// measured (checked, capabilities, calls, time, services, env, write access) stays.
    pub fn merge(&mut self, extra: Vec<Finding>) {
        if extra.is_empty() {
            return;
        }
        let mut all = extra;
        all.append(&mut self.findings);
        let merged = Report::new(all);
        self.findings = merged.findings;
        self.ready = merged.ready;
        self.unverified = merged.unverified;
    }

    /// Grants readiness despite unverified checks, when the caller explicitly asked for it.
    /// Errors still block; the unverified findings stay in the report, and the report says
    /// that readiness was granted despite them.
    pub fn allow_inconclusive(&mut self) {
        let errors = self.count(Severity::Error) > 0;
        self.inconclusive_allowed = !errors && self.unverified > 0;
        self.ready = !errors;
    }

    #[must_use]
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The one-line verdict, e.g. `not ready: 2 errors, 1 warning (14 API calls, 180 ms)`.
    #[must_use]
    pub fn summary_line(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let verdict = if self.inconclusive_allowed {
            format!(
                "ready to deploy only because --allow-inconclusive was given ({} not verified)",
                plural(self.unverified, "check")
            )
        } else if self.ready {
            "ready to deploy".to_owned()
        } else {
            "not ready".to_owned()
        };
        let unverified = if self.unverified > 0 && !self.inconclusive_allowed {
            format!(", {} not verified", plural(self.unverified, "check"))
        } else {
            String::new()
        };
        format!(
            "{verdict}: {}, {}, {}{unverified} ({} API calls, {} ms)",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            plural(self.count(Severity::Info), "note"),
            self.api_calls,
            self.duration_ms
        )
    }

    /// Human output, grouped by service; ANSI colors only when `color`.
    #[must_use]
    pub fn to_human(&self, color: bool) -> String {
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        let mut out = String::new();
        let mut groups: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
        for f in &self.findings {
            groups
                .entry(f.service.clone().unwrap_or_else(|| "(project)".to_owned()))
                .or_default()
                .push(f);
        }
        for (service, findings) in &groups {
            let _ = writeln!(out, "{}", paint("1", service));
            for f in findings {
                let (code, label) = match f.severity {
                    Severity::Error => ("31", "error"),
                    // Not proven either way, but it blocks readiness: say so.
                    _ if f.unverified => ("33", "unverified"),
                    Severity::Warning => ("33", "warning"),
                    Severity::Info => ("36", "note"),
                };
                let _ = writeln!(out, "  {} [{}] {}", paint(code, label), f.kind, f.message);
                if let Some(loc) = &f.location {
                    let _ = writeln!(out, "      at {}", location_text(loc));
                }
                if !f.fix.is_empty() {
                    let _ = writeln!(out, "      fix: {}", f.fix);
                }
            }
        }
        if !self.capabilities.is_empty() {
            let caps: Vec<String> = self
                .capabilities
                .iter()
                .map(|(product, read)| {
                    let mark = match read {
                        Some(true) => "read",
                        Some(false) => "no read",
                        None => "not probed",
                    };
                    format!("{product}: {mark}")
                })
                .collect();
            let _ = writeln!(out, "token: {}", caps.join(", "));
        }
        if let Some(w) = &self.write_access {
            let line = match w.state {
                WriteState::Verified => format!("write access: verified ({})", w.needed.join(", ")),
                WriteState::Missing => format!("write access: missing {}", w.missing.join(", ")),
                WriteState::Unverified => format!(
                    "write access: unverified, {} ({})",
                    w.reason
                        .as_deref()
                        .unwrap_or("the token's policies could not be read"),
                    w.needed.join(", ")
                ),
            };
            let _ = writeln!(out, "{line}");
        }
        let verdict = self.summary_line();
        let _ = writeln!(
            out,
            "{}",
            paint(if self.ready { "32;1" } else { "31;1" }, &verdict)
        );
        out
    }

    /// The JSON document documented in `docs/findings.md`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// GitHub Actions workflow commands, one per finding, then a notice with the summary.
    #[must_use]
    pub fn to_github(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let command = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut props = vec![format!("title={}", escape_property(f.kind.as_str()))];
            if let Some(loc) = &f.location {
                props.insert(0, format!("file={}", escape_property(&loc.file)));
                if let Some(line) = loc.line {
                    props.insert(1, format!("line={line}"));
                    if let Some(col) = loc.column {
                        props.insert(2, format!("col={col}"));
                    }
                }
            }
            let service = f
                .service
                .as_deref()
                .map(|s| format!("{s}: "))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "::{command} {}::{}",
                props.join(","),
                escape_data(&format!("{service}{}\nFix: {}", f.message, f.fix))
            );
        }
        let _ = writeln!(
            out,
            "::notice title=clodo assess::{}",
            escape_data(&self.summary_line())
        );
        out
    }

    /// A SARIF 2.1.0 log with one rule per finding kind.
    #[must_use]
    pub fn to_sarif(&self) -> Value {
        let rules: Vec<Value> = Kind::ALL
            .iter()
            .map(|k| {
                json!({
                    "id": k.as_str(),
                    "name": k.as_str(),
                    "shortDescription": { "text": k.summary() },
                    "helpUri": format!("https://github.com/clodo-dev/clodo/blob/main/docs/findings.md#{}", k.as_str()),
                })
            })
            .collect();
        let results: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                let level = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "note",
                };
                let rule_index = Kind::ALL.iter().position(|k| *k == f.kind).unwrap_or(0);
                let mut result = json!({
                    "ruleId": f.kind.as_str(),
                    "ruleIndex": rule_index,
                    "level": level,
                    "message": { "text": format!("{} Fix: {}", f.message, f.fix) },
                });
                if let Some(loc) = &f.location {
                    let mut region = serde_json::Map::new();
                    if let Some(line) = loc.line {
                        region.insert("startLine".into(), json!(line.max(1)));
                        if let Some(col) = loc.column {
                            region.insert("startColumn".into(), json!(col.max(1)));
                        }
                    }
                    let mut physical =
                        json!({ "artifactLocation": { "uri": sarif_uri(&loc.file) } });
                    if !region.is_empty() {
                        physical["region"] = Value::Object(region);
                    }
                    result["locations"] = json!([{ "physicalLocation": physical }]);
                }
                if let Some(service) = &f.service {
                    result["properties"] = json!({ "service": service, "env": f.env });
                }
                result
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": {
                    "name": "clodo",
                    "version": crate::VERSION,
                    "informationUri": "https://github.com/clodo-dev/clodo",
                    "rules": rules,
                }},
                "results": results,
            }],
        })
    }
}

fn location_text(loc: &super::finding::FindingLocation) -> String {
    let mut text = loc.file.clone();
    if let Some(line) = loc.line {
        let _ = write!(text, ":{line}");
        if let Some(col) = loc.column {
            let _ = write!(text, ":{col}");
        }
    }
    if let Some(key) = &loc.key_path {
        let _ = write!(text, " ({key})");
    }
    text
}

/// SARIF wants URIs: relative paths with `/` separators and percent-encoded spaces.
fn sarif_uri(path: &str) -> String {
    path.replace('\\', "/").replace(' ', "%20")
}

/// Escaping of a workflow command's message (GitHub's toolkit rules).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property values: also `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::super::finding::FindingLocation;
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new(vec![
            Finding::new(
                Kind::D1Missing,
                Severity::Error,
                "D1 database `db` does not exist",
                "wrangler d1 create db",
            )
            .for_service(Some("api"), None)
            .at(FindingLocation {
                file: "wrangler.toml".into(),
                line: Some(12),
                column: Some(1),
                key_path: Some("d1_databases[0]".into()),
            }),
            Finding::new(
                Kind::CompatibilityDateStale,
                Severity::Info,
                "old, date: 2020",
                "set it",
            )
            .for_service(Some("api"), None),
        ]);
        r.api_calls = 7;
        r.duration_ms = 120;
        r
    }

    #[test]
    fn errors_make_it_not_ready_and_the_summary_counts() {
        let r = sample();
        assert!(!r.ready);
        assert_eq!(
            r.summary_line(),
            "not ready: 1 error, 0 warnings, 1 note (7 API calls, 120 ms)"
        );
        assert!(Report::new(vec![]).ready);
    }

    #[test]
    fn human_output_groups_by_service_and_colors_only_when_asked() {
        let r = sample();
        let plain = r.to_human(false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.starts_with("api\n  error [d1_missing]"), "{plain}");
        assert!(plain.contains("at wrangler.toml:12:1 (d1_databases[0])"));
        assert!(r.to_human(true).contains("\x1b[31m"));
    }

    #[test]
    fn github_annotations_escape_their_text() {
        let out = sample().to_github();
        let first = out.lines().next().unwrap();
        assert_eq!(
            first,
            "::error file=wrangler.toml,line=12,col=1,title=d1_missing::api: D1 database `db` does not exist%0AFix: wrangler d1 create db"
        );
        assert!(out
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("::notice title=compatibility_date_stale::api: old, date: 2020"));
    }

    #[test]
    fn sarif_has_rules_and_located_results() {
        let s = sample().to_sarif();
        assert_eq!(s["version"], "2.1.0");
        let run = &s["runs"][0];
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().unwrap().len(),
            Kind::ALL.len()
        );
        let result = &run["results"][0];
        assert_eq!(result["level"], "error");
        let rule = &run["tool"]["driver"]["rules"][result["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], result["ruleId"]);
        assert_eq!(
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
            12
        );
        assert_eq!(run["results"][1]["level"], "note");
    }
}
