//! Audit entries (who did what, when, before → after) and their exports: JSON lines and CSV.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One append-only audit row as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The CSV header, in column order.
pub const CSV_HEADER: &str = "id,at,actor,action,target_type,target_id,before,after";

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

/// RFC 4180 quoting, plus a leading `'` on cells a spreadsheet would run as a formula, since
/// actors and targets come from API callers and an export is often opened in one.
fn csv_cell(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

impl AuditEntry {
    /// One line of JSON (no trailing newline).
    #[must_use]
    pub fn to_json_line(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        v["at_iso"] = Value::String(rfc3339(self.at));
        v.to_string()
    }

    /// One CSV record (no trailing newline); `at` as RFC 3339, JSON columns as JSON text.
    #[must_use]
    pub fn to_csv_row(&self) -> String {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
        [
            self.id.to_string(),
            rfc3339(self.at),
            self.actor.clone(),
            self.action.clone(),
            self.target_type.clone(),
            self.target_id.clone(),
            json(&self.before),
            json(&self.after),
        ]
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// The formats of `GET /api/v1/audit?format=`: `json` (a page, the default), `jsonl` or `csv`
/// (an export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Json,
    Jsonl,
    Csv,
}

impl ExportFormat {
    /// The name in the query string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// Renders entries as JSON lines or CSV (with header); `Json` is the paged API shape and is
/// rendered by the route, so it yields the JSON lines form here.
#[must_use]
pub fn render(entries: &[AuditEntry], format: ExportFormat) -> String {
    let mut out = String::new();
    if format == ExportFormat::Csv {
        out.push_str(CSV_HEADER);
        out.push('\n');
    }
    for e in entries {
        out.push_str(&match format {
            ExportFormat::Csv => e.to_csv_row(),
            ExportFormat::Json | ExportFormat::Jsonl => e.to_json_line(),
        });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> AuditEntry {
        AuditEntry {
            id: 7,
            at: 1_767_225_600_000,
            actor: "token:abc (ops, bob@x.io)".into(),
            action: "lock.force_unlock".into(),
            target_type: "lock".into(),
            target_id: "=HYPERLINK(\"x\")".into(),
            before: Some(json!({"holder": "dep-1"})),
            after: None,
        }
    }

    #[test]
    fn json_lines_carry_every_field() {
        let line = entry().to_json_line();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["action"], "lock.force_unlock");
        assert_eq!(v["before"]["holder"], "dep-1");
        assert_eq!(v["at_iso"], "2026-01-01T00:00:00+00:00");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let row = entry().to_csv_row();
        assert_eq!(
            row,
            "7,2026-01-01T00:00:00+00:00,\"token:abc (ops, bob@x.io)\",lock.force_unlock,lock,\
             \"'=HYPERLINK(\"\"x\"\")\",\"{\"\"holder\"\":\"\"dep-1\"\"}\","
        );
        let csv = render(&[entry(), entry()], ExportFormat::Csv);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.starts_with(CSV_HEADER));
    }

    #[test]
    fn format_names_are_the_ones_the_query_parses() {
        for format in [ExportFormat::Json, ExportFormat::Jsonl, ExportFormat::Csv] {
            assert_eq!(serde_json::to_value(format).unwrap(), format.as_str());
        }
    }
}
