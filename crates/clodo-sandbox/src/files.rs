//! Where the sandbox keeps data that does not belong in `state.json`: D1 SQLite files with their
//! Time Travel snapshots, and Pages asset blobs. Under the state directory when there is one (so
//! they persist with the rest of the state), else under a temporary directory removed on drop.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The sandbox's file area and the lock that serialises D1 file access.
pub struct Files {
    root: PathBuf,
    temporary: bool,
    /// Held while a D1 database file, its snapshots or its history are read or replaced, so a
    /// restore never races a query (Cloudflare cancels in-flight queries; we queue them).
    pub d1_lock: Mutex<()>,
    /// The Pages upload tokens issued so far (see `pages::assets`).
    pub pages_grants: crate::pages::UploadGrants,
}

impl Files {
    pub fn new(state_dir: Option<&Path>) -> Self {
        let (root, temporary) = match state_dir {
            Some(dir) => (dir.to_path_buf(), false),
            None => (
                std::env::temp_dir().join(format!("clodo-sandbox-{}", super::state::hex_id())),
                true,
            ),
        };
        Files {
            root,
            temporary,
            d1_lock: Mutex::new(()),
            pages_grants: Default::default(),
        }
    }

    /// `ROOT/d1/<uuid>`: the database file, its snapshots and its bookmark history.
    pub fn d1_dir(&self, uuid: &str) -> PathBuf {
        self.root.join("d1").join(uuid)
    }

    /// `ROOT/pages/assets`: uploaded Pages assets, `<account>/<hash>` plus `<hash>.type`.
    pub fn pages_assets_dir(&self) -> PathBuf {
        self.root.join("pages").join("assets")
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
