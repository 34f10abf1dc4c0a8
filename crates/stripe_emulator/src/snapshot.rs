//! The `--state FILE` snapshot: the whole state as JSON, written atomically so a crash never leaves half a file.

use std::path::Path;

use crate::ledger::State;

/// Loads a snapshot; `Ok(None)` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<State>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes the snapshot through a temporary file and a rename; failures are logged, not fatal.
pub fn save(path: &Path, state: &State) {
    let tmp = path.with_extension("tmp");
    let written = serde_json::to_vec(state)
        .map_err(|e| e.to_string())
        .and_then(|bytes| std::fs::write(&tmp, bytes).map_err(|e| e.to_string()))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "stripe emulator could not write its state file");
    }
}
