//! D1 SQL and Time Travel: one real SQLite file per D1 database (`files::Files::d1_dir`), a
//! snapshot of it after every call that could change it, and the bookmark history that names
//! those snapshots. Restoring copies a snapshot back over the database file.
//!
//! Layout of `d1/<uuid>/`: `db.sqlite`, `history.json` (bookmarks oldest first, with the time
//! each was taken), `bookmarks/<bookmark>.sqlite` (the database as it was at that bookmark).

mod routes;
mod sql;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::SandboxError;

pub use routes::handle;
pub use sql::{RowShape, SqlInput};

/// Bookmarks older than this are gone, as on Workers Paid (Free keeps 7 days).
const RETENTION_DAYS: i64 = 30;

/// The D1 error code for SQL errors and other query failures.
pub const D1_ERROR: u32 = 7500;

/// One bookmark: its id and when the database reached that state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bookmark {
    pub bookmark: String,
    pub at: DateTime<Utc>,
}

/// The bookmark history of one database.
#[derive(Debug, Default, Serialize, Deserialize)]
struct History {
    /// The sequence number of the next bookmark (the bookmark's first group, so ids sort in
    /// the order they were taken, as Cloudflare's do).
    next_seq: u32,
    bookmarks: Vec<Bookmark>,
}

/// A database's files.
pub struct Database {
    dir: PathBuf,
    /// When the database was created: its first, empty bookmark is dated then.
    created_at: DateTime<Utc>,
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub bookmark: String,
    pub previous_bookmark: String,
}

fn d1_error(message: impl Into<String>) -> SandboxError {
    SandboxError::rejected(400, D1_ERROR, message)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> SandboxError {
    SandboxError::Persist(format!("{what} {}: {e}", path.display()))
}

impl Database {
    /// `created_at` is the D1 record's RFC 3339 creation time (now when unparsable or empty).
    pub fn new(dir: PathBuf, created_at: &str) -> Self {
        let created_at = DateTime::parse_from_rfc3339(created_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        Database { dir, created_at }
    }

    fn db_file(&self) -> PathBuf {
        self.dir.join("db.sqlite")
    }

    fn snapshot(&self, bookmark: &str) -> PathBuf {
        self.dir
            .join("bookmarks")
            .join(format!("{bookmark}.sqlite"))
    }

    fn history_file(&self) -> PathBuf {
        self.dir.join("history.json")
    }

    fn load_history(&self) -> Result<History, SandboxError> {
        let file = self.history_file();
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| SandboxError::Persist(format!("{}: {e}", file.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
            Err(e) => Err(io_error("cannot read", &file, e)),
        }
    }

    fn save_history(&self, history: &History) -> Result<(), SandboxError> {
        let file = self.history_file();
        let tmp = file.with_extension("json.tmp");
        let bytes =
            serde_json::to_vec(history).map_err(|e| SandboxError::Persist(e.to_string()))?;
        std::fs::write(&tmp, bytes).map_err(|e| io_error("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| io_error("cannot replace", &file, e))
    }

    /// Creates the empty database and its first bookmark the first time the database is used.
    fn ensure(&self) -> Result<History, SandboxError> {
        let history = self.load_history()?;
        if !history.bookmarks.is_empty() {
            return Ok(history);
        }
        let bookmarks_dir = self.dir.join("bookmarks");
        std::fs::create_dir_all(&bookmarks_dir)
            .map_err(|e| io_error("cannot create", &bookmarks_dir, e))?;
        let file = self.db_file();
        if !file.exists() {
            std::fs::write(&file, b"").map_err(|e| io_error("cannot create", &file, e))?;
        }
        let mut history = History::default();
        self.take_bookmark(&mut history, self.created_at)?;
        Ok(history)
    }

    /// Snapshots the database file under a new bookmark dated `at`, drops bookmarks past the
    /// retention window, and saves the history.
    fn take_bookmark(
        &self,
        history: &mut History,
        at: DateTime<Utc>,
    ) -> Result<String, SandboxError> {
        history.next_seq += 1;
        let bookmark = format!(
            "{:08x}-{:08x}-{:08x}-{}",
            history.next_seq,
            0,
            at.timestamp().rem_euclid(1 << 32),
            super::state::hex_id()
        );
        let snapshot = self.snapshot(&bookmark);
        std::fs::copy(self.db_file(), &snapshot)
            .map_err(|e| io_error("cannot snapshot to", &snapshot, e))?;
        history.bookmarks.push(Bookmark {
            bookmark: bookmark.clone(),
            at,
        });
        let horizon = Utc::now() - Duration::days(RETENTION_DAYS);
        let keep_from = history
            .bookmarks
            .iter()
            .position(|b| b.at >= horizon)
            .unwrap_or(history.bookmarks.len() - 1);
        for old in history.bookmarks.drain(..keep_from) {
            let _ = std::fs::remove_file(self.snapshot(&old.bookmark));
        }
        self.save_history(history)?;
        Ok(bookmark)
    }

    /// Runs one call; a call that could change the database gets a new bookmark.
    pub fn query(
        &self,
        inputs: &[SqlInput],
        shape: RowShape,
        may_write: bool,
    ) -> Result<Vec<serde_json::Value>, SandboxError> {
        let mut history = self.ensure()?;
        let outcome =
            sql::run_batch(&self.db_file(), inputs, shape, may_write).map_err(|e| match e {
                sql::SqlFailure::Sql(message) => d1_error(message),
                sql::SqlFailure::WriteNotAllowed => SandboxError::Forbidden,
            })?;
        if outcome.changed_db {
            self.take_bookmark(&mut history, Utc::now())?;
        }
        Ok(outcome.results)
    }

    /// The current bookmark (`at` = None), or the newest one at or before `at`.
    pub fn bookmark_at(&self, at: Option<DateTime<Utc>>) -> Result<String, SandboxError> {
        let history = self.ensure()?;
        let found = match at {
            None => history.bookmarks.last(),
            Some(t) => {
                if t < Utc::now() - Duration::days(RETENTION_DAYS) {
                    return Err(d1_error(format!(
                        "Timestamp {} is older than the {RETENTION_DAYS}-day Time Travel window",
                        t.to_rfc3339()
                    )));
                }
                history.bookmarks.iter().rev().find(|b| b.at <= t)
            }
        };
        found.map(|b| b.bookmark.clone()).ok_or_else(|| {
            d1_error(
                "No bookmark exists at or before that timestamp (before the database was created)",
            )
        })
    }

    /// Brings the database back to `bookmark`; the restored state gets a new bookmark and the
    /// state it replaced stays restorable (`previous_bookmark`).
    pub fn restore(&self, bookmark: &str) -> Result<Restored, SandboxError> {
        let mut history = self.ensure()?;
        if !history.bookmarks.iter().any(|b| b.bookmark == bookmark) {
            return Err(d1_error(format!(
                "Bookmark {bookmark} is not valid for this database (unknown, or older than {RETENTION_DAYS} days)"
            )));
        }
        let previous_bookmark = history
            .bookmarks
            .last()
            .map(|b| b.bookmark.clone())
            .unwrap_or_default();
        let snapshot = self.snapshot(bookmark);
        let file = self.db_file();
        let tmp = file.with_extension("sqlite.restoring");
        std::fs::copy(&snapshot, &tmp).map_err(|e| io_error("cannot read", &snapshot, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| io_error("cannot replace", &file, e))?;
        let bookmark = self.take_bookmark(&mut history, Utc::now())?;
        Ok(Restored {
            bookmark,
            previous_bookmark,
        })
    }
}

/// Removes a deleted D1 database's files.
pub fn forget(files: &crate::files::Files, uuid: &str) {
    let _serialised = files.d1_lock.lock().unwrap_or_else(|e| e.into_inner());
    let _ = std::fs::remove_dir_all(files.d1_dir(uuid));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct TempDb(Database, PathBuf);
    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }

    fn temp_db(created_at: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!("d1-tt-{}", uuid::Uuid::new_v4().simple()));
        TempDb(Database::new(dir.clone(), created_at), dir)
    }

    fn run(db: &Database, text: &str) -> Vec<serde_json::Value> {
        db.query(
            &[SqlInput {
                sql: text.into(),
                params: vec![],
            }],
            RowShape::Objects,
            true,
        )
        .unwrap()
    }

    #[test]
    fn writes_take_bookmarks_and_a_restore_brings_the_data_back() {
        let t = temp_db("");
        let db = &t.0;
        let empty = db.bookmark_at(None).unwrap();
        run(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
        let one_row = db.bookmark_at(None).unwrap();
        assert!(one_row > empty, "bookmarks sort in time order");
        run(db, "SELECT * FROM t");
        assert_eq!(db.bookmark_at(None).unwrap(), one_row, "reads take none");
        run(db, "DELETE FROM t");
        let deleted = db.bookmark_at(None).unwrap();

        let restored = db.restore(&one_row).unwrap();
        assert_eq!(restored.previous_bookmark, deleted);
        assert!(restored.bookmark > deleted);
        assert_eq!(
            run(db, "SELECT x FROM t")[0]["results"],
            json!([{ "x": 1 }])
        );
        // Older bookmarks stay usable, and the restore can be undone.
        db.restore(&empty).unwrap();
        assert!(db
            .query(
                &[SqlInput {
                    sql: "SELECT x FROM t".into(),
                    params: vec![]
                }],
                RowShape::Objects,
                false
            )
            .is_err());
        db.restore(&restored.previous_bookmark).unwrap();
        assert_eq!(
            run(db, "SELECT count(*) AS n FROM t")[0]["results"],
            json!([{ "n": 0 }])
        );
        assert!(db.restore("00000099-00000000-00000000-nope").is_err());
    }

    #[test]
    fn timestamps_map_to_the_newest_bookmark_at_or_before_them() {
        let created = (Utc::now() - Duration::hours(1)).to_rfc3339();
        let t = temp_db(&created);
        let db = &t.0;
        let first = db.bookmark_at(None).unwrap();
        let half_hour_ago = Utc::now() - Duration::minutes(30);
        run(db, "CREATE TABLE t (x)");
        assert_eq!(db.bookmark_at(Some(half_hour_ago)).unwrap(), first);
        assert_eq!(
            db.bookmark_at(Some(Utc::now())).unwrap(),
            db.bookmark_at(None).unwrap()
        );
        assert!(db
            .bookmark_at(Some(Utc::now() - Duration::hours(2)))
            .is_err());
        assert!(db
            .bookmark_at(Some(Utc::now() - Duration::days(31)))
            .is_err());
    }

    #[test]
    fn a_failed_call_takes_no_bookmark() {
        let t = temp_db("");
        let db = &t.0;
        run(db, "CREATE TABLE t (x)");
        let before = db.bookmark_at(None).unwrap();
        let err = db
            .query(
                &[SqlInput {
                    sql: "INSERT INTO t VALUES (1); INSERT INTO missing VALUES (2)".into(),
                    params: vec![],
                }],
                RowShape::Objects,
                true,
            )
            .unwrap_err();
        assert_eq!(err.envelope()["errors"][0]["code"], 7500);
        assert_eq!(db.bookmark_at(None).unwrap(), before);
        assert_eq!(
            run(db, "SELECT count(*) AS n FROM t")[0]["results"],
            json!([{ "n": 0 }])
        );
    }
}
