//! The lock-protected store of the state, its loading and atomic persistence.

use super::*;

/// Shared, lock-protected state plus where to persist it.
pub struct Store {
    state: RwLock<State>,
    state_file: Option<PathBuf>,
    /// D1 SQLite files and Pages assets, kept beside the state file (see `files`).
    pub files: crate::files::Files,
}

impl Store {
    pub fn new(state: State, state_dir: Option<PathBuf>) -> Self {
        Store {
            state: RwLock::new(state),
            files: crate::files::Files::new(state_dir.as_deref()),
            state_file: state_dir.map(|dir| dir.join("state.json")),
        }
    }

    /// Loads `DIR/state.json` when it exists (it wins over the seed), else the seed, else empty.
    pub fn load(
        seed: Option<&std::path::Path>,
        state_dir: Option<&std::path::Path>,
    ) -> Result<State, SandboxError> {
        let persisted = state_dir
            .map(|d| d.join("state.json"))
            .filter(|p| p.exists());
        let source = persisted.as_deref().or(seed);
        let mut state = match source {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    SandboxError::Startup(format!("cannot read {}: {e}", path.display()))
                })?;
                serde_json::from_str::<State>(&text).map_err(|e| {
                    SandboxError::Startup(format!("cannot parse {}: {e}", path.display()))
                })?
            }
            None => State::default(),
        };
        state.normalize()?;
        Ok(state)
    }

    pub async fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().await
    }

    /// Runs one mutation under the write lock and persists the result before releasing it, so
    /// the file on disk never lags behind an answer already sent. `change` must validate before
    /// it mutates: an `Err` leaves the state as it was.
    pub async fn mutate<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, SandboxError>,
    ) -> Result<T, SandboxError> {
        let mut guard = self.state.write().await;
        let out = change(&mut guard)?;
        if let Some(file) = &self.state_file {
            write_atomically(file, &guard)?;
        }
        Ok(out)
    }
}

/// Writes the state to a temporary file next to `file`, then renames it over `file`.
pub fn write_atomically(file: &std::path::Path, state: &State) -> Result<(), SandboxError> {
    let persist = |e: std::io::Error| SandboxError::Persist(format!("{}: {e}", file.display()));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(persist)?;
    }
    let json = serde_json::to_vec(state).map_err(|e| SandboxError::Persist(e.to_string()))?;
    let tmp = file.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(persist)?;
    std::fs::rename(&tmp, file).map_err(persist)?;
    Ok(())
}
