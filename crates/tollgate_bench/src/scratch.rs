//! The run's temporary directory (the server's working directory and SQLite file), removed on drop.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn create() -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("tollgate-bench-{:016x}", rand::random::<u64>()));
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("tollgate-bench: cannot remove {}: {e}", self.path.display());
        }
    }
}
