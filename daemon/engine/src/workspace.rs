//! A workspace on disk: the folder holding `hpm.yaml` (and, beside it, the
//! `pyproject.toml` hpm manages), and where each of hpm's files lives in it.

use std::path::{Path, PathBuf};

use hpm_core::manifest::{Manifest, MANIFEST_FILE};
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::Mode;

use crate::error::{Error, Result};

/// The lock file uv writes beside `pyproject.toml`.
pub const UV_LOCK_FILE: &str = "uv.lock";
/// hpm's local folder.
pub const STATE_DIR: &str = ".hpm";
/// The workspace's git registry pins, in its `.hpm/` folder.
pub const PINS_FILE: &str = "registry-pins.json";

/// A workspace root and the paths of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace whose root is `root` (which must hold `hpm.yaml`).
    pub fn at(root: &Path) -> Result<Workspace> {
        let root = std::path::absolute(root).map_err(|error| Error::read(root, error))?;
        if !root.join(MANIFEST_FILE).is_file() {
            return Err(Error::NotAWorkspace { start: root });
        }
        Ok(Workspace { root })
    }

    /// Walks up from `start` to the first folder holding `hpm.yaml`.
    pub fn locate(start: &Path) -> Result<Workspace> {
        let start = std::path::absolute(start).map_err(|error| Error::read(start, error))?;
        start
            .ancestors()
            .find(|dir| dir.join(MANIFEST_FILE).is_file())
            .map(|root| Workspace {
                root: root.to_path_buf(),
            })
            .ok_or(Error::NotAWorkspace { start })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(MANIFEST_FILE)
    }

    pub fn pyproject_path(&self) -> PathBuf {
        self.root.join(PYPROJECT_FILE)
    }

    pub fn uv_lock_path(&self) -> PathBuf {
        self.root.join(UV_LOCK_FILE)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    pub fn state_path(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }

    /// The file whose `flock` serialises reconciles of this workspace.
    pub fn lock_file_path(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.state_dir().join("journal")
    }

    /// Where user edits hpm refused to overwrite are saved alongside.
    pub fn backup_dir(&self) -> PathBuf {
        self.state_dir().join("backup")
    }

    /// The last good `uv.lock` of `mode`.
    pub fn lock_snapshot_path(&self, mode: &Mode) -> PathBuf {
        self.state_dir()
            .join("locks")
            .join(format!("{mode}.uv.lock"))
    }

    /// The virtual environment uv syncs (`UV_PROJECT_ENVIRONMENT` or `.venv`).
    pub fn venv_path(&self) -> PathBuf {
        match std::env::var_os("UV_PROJECT_ENVIRONMENT") {
            Some(path) => self.root.join(path),
            None => self.root.join(".venv"),
        }
    }

    /// Where the workspace pins its git registries.
    pub fn registry_pins_path(&self) -> PathBuf {
        self.state_dir().join(PINS_FILE)
    }

    /// Each `lib/python*/site-packages` folder of the environment.
    pub fn site_packages(&self) -> Vec<PathBuf> {
        let Ok(libs) = std::fs::read_dir(self.venv_path().join("lib")) else {
            return Vec::new();
        };
        let mut folders: Vec<PathBuf> = libs
            .flatten()
            .map(|python| python.path().join("site-packages"))
            .collect();
        folders.sort();
        folders
    }

    /// Creates `.hpm/` with a `.gitignore` that keeps it out of git.
    pub fn ensure_state_dir(&self) -> Result<()> {
        let dir = self.state_dir();
        std::fs::create_dir_all(dir.join("locks")).map_err(|error| Error::write(&dir, error))?;
        let gitignore = dir.join(".gitignore");
        if !gitignore.exists() {
            std::fs::write(&gitignore, "# hpm's local state; never commit it\n*\n")
                .map_err(|error| Error::write(&gitignore, error))?;
        }
        Ok(())
    }

    /// Reads and parses `hpm.yaml`.
    pub fn load_manifest(&self) -> Result<Manifest> {
        let path = self.manifest_path();
        let text = crate::fsutil::read_input(&path).map_err(Error::invalid)?;
        Ok(Manifest::parse(&text, &path)?)
    }
}
