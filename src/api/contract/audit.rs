//! Contract types of the audit log (`GET /api/v1/audit`): one entry, and the JSON page. The
//! JSON-lines export carries one `AuditEntry` a line; the CSV export its columns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::control::audit::{AuditEntry, ExportFormat};

/// `GET /api/v1/audit` (`format=json`, the default): a page, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// The `cursor` of the next page; none on the last one.
    pub next_cursor: Option<String>,
}
