//! D1 import, what `wrangler d1 execute DB --remote --file F` uses: `POST …/import` with
//! `action: init` (answers an upload URL unless a file with that MD5 is already uploaded),
//! an unauthenticated `PUT` of the file to that URL (answered with the MD5 as `ETag`, as R2's
//! presigned URLs do; here `/__sandbox/d1-import/{token}`), then `action: ingest`, which runs
//! the whole file as one transaction (a failure leaves the database as it was), and `poll`.

use std::collections::HashMap;
use std::sync::Mutex;

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Database, RowShape, SqlInput};
use crate::api::ApiRequest;
use crate::error::SandboxError;
use crate::state::hex_id;

/// The largest file the sandbox ingests (Cloudflare's limit is 5 GB).
pub const IMPORT_LIMIT: usize = 64 * 1024 * 1024;

/// One upload slot: who may fill it and, once filled, the file.
struct Slot {
    database: String,
    etag: String,
    filename: String,
    body: Option<Vec<u8>>,
}

/// Upload slots and finished imports, in memory (an interrupted import is simply redone).
#[derive(Default)]
pub struct Imports {
    slots: Mutex<HashMap<String, Slot>>,
    /// Final poll answers by `at_bookmark`, for `action: poll`.
    finished: Mutex<HashMap<String, Value>>,
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bad(message: impl Into<String>) -> SandboxError {
    SandboxError::rejected(400, super::D1_ERROR, message)
}

impl Imports {
    /// `PUT /__sandbox/d1-import/{token}`: stores the file; the answer's ETag is its MD5.
    pub fn receive(&self, token: &str, body: Vec<u8>) -> Result<String, SandboxError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .get_mut(token)
            .ok_or_else(|| SandboxError::not_found(1404, "No such import upload URL"))?;
        let etag = md5_hex(&body);
        slot.body = Some(body);
        Ok(etag)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    action: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    current_bookmark: Option<String>,
}

/// `POST …/d1/database/{uuid}/import`.
pub fn handle(
    imports: &Imports,
    database: &Database,
    uuid: &str,
    req: &ApiRequest,
) -> Result<Value, SandboxError> {
    let body: ImportBody = req.json()?;
    match body.action.as_str() {
        "init" => {
            let etag = body.etag.unwrap_or_default();
            if etag.len() != 32 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("init needs the file's MD5 as `etag` (32 hex digits)"));
            }
            let host = req.header("host").unwrap_or("127.0.0.1");
            let token = hex_id();
            let filename = format!("{etag}.sql");
            imports
                .slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    token.clone(),
                    Slot {
                        database: uuid.to_string(),
                        etag,
                        filename: filename.clone(),
                        body: None,
                    },
                );
            Ok(json!({
                "success": true,
                "filename": filename,
                "upload_url": format!("http://{host}/__sandbox/d1-import/{token}"),
            }))
        }
        "ingest" => {
            let (filename, etag) = (
                body.filename.unwrap_or_default(),
                body.etag.unwrap_or_default(),
            );
            let file = {
                let mut slots = imports.slots.lock().unwrap_or_else(|e| e.into_inner());
                let token = slots
                    .iter()
                    .find(|(_, s)| s.database == uuid && s.filename == filename && s.etag == etag)
                    .map(|(t, _)| t.clone())
                    .ok_or_else(|| bad(format!("No upload {filename} for this database")))?;
                let slot = slots.remove(&token).expect("found above");
                let bytes = slot
                    .body
                    .ok_or_else(|| bad(format!("{filename} was never uploaded")))?;
                if md5_hex(&bytes) != slot.etag {
                    return Err(bad(format!("{filename} does not match its etag")));
                }
                bytes
            };
            let sql = String::from_utf8(file).map_err(|_| bad("The SQL file is not UTF-8 text"))?;
            let started = std::time::Instant::now();
            let outcome = database.query(
                &[SqlInput {
                    sql,
                    params: vec![],
                }],
                RowShape::Objects,
                true,
            );
            let results = match outcome {
                Ok(results) => results,
                Err(SandboxError::Rejected { message, .. }) => {
                    return Ok(json!({
                        "success": true,
                        "type": "import",
                        "status": "error",
                        "at_bookmark": database.bookmark_at(None)?,
                        "messages": [],
                        "errors": [message],
                    }))
                }
                Err(other) => return Err(other),
            };
            let total = |key: &str| -> u64 {
                results
                    .iter()
                    .map(|r| r["meta"][key].as_u64().unwrap_or(0))
                    .sum()
            };
            let bookmark = database.bookmark_at(None)?;
            let answer = json!({
                "success": true,
                "type": "import",
                "status": "complete",
                "at_bookmark": bookmark,
                "messages": [format!("Imported {} statements from {filename}", results.len())],
                "errors": [],
                "result": {
                    "final_bookmark": bookmark,
                    "num_queries": results.len(),
                    "meta": {
                        "duration": started.elapsed().as_secs_f64() * 1000.0,
                        "rows_read": total("rows_read"),
                        "rows_written": total("rows_written"),
                        "changes": total("changes"),
                        "changed_db": results.iter().any(|r| r["meta"]["changed_db"] == true),
                        "size_after": results.last().map(|r| r["meta"]["size_after"].clone()).unwrap_or(json!(0)),
                        "served_by_primary": true,
                    },
                },
            });
            imports
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(bookmark, answer.clone());
            Ok(answer)
        }
        "poll" => {
            let at = body.current_bookmark.unwrap_or_default();
            imports
                .finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&at)
                .cloned()
                .ok_or_else(|| bad(format!("No import reached bookmark {at}")))
        }
        other => Err(bad(format!(
            "Unknown import action {other:?}: use init, ingest or poll"
        ))),
    }
}
