//! A workspace on disk: the folder holding `hpm.yaml` (and, beside it, the
//! `pyproject.toml` hpm manages), and where each of hpm's files lives in it.

use std::path::{Path, PathBuf};

use hpm_core::manifest::{Manifest, MANIFEST_FILE};
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::Mode;

use crate::caller::Caller;
use crate::error::{Error, Result};

/// The lock file uv writes beside `pyproject.toml`.
pub const UV_LOCK_FILE: &str = "uv.lock";
/// hpm's local folder.
pub const STATE_DIR: &str = ".hpm";
/// The workspace's git registry pins, in its `.hpm/` folder.
pub const PINS_FILE: &str = "registry-pins.json";

/// A workspace root and the paths of its files, and whom the job at hand
/// runs for (the environment its git and uv processes get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
    caller: Caller,
}

impl Workspace {
    /// The workspace whose root is `root` (which must hold `hpm.yaml`).
    ///
    /// The root is canonical (links resolved, `..` gone): one folder is one
    /// workspace however it is spelled.
    pub fn at(root: &Path) -> Result<Workspace> {
        let absolute = std::path::absolute(root).map_err(|error| Error::read(root, error))?;
        let root = std::fs::canonicalize(&absolute).map_err(|_| Error::NotAWorkspace {
            start: absolute.clone(),
        })?;
        if !root.join(MANIFEST_FILE).is_file() {
            return Err(Error::NotAWorkspace { start: root });
        }
        Ok(Workspace {
            root,
            caller: Caller::this_process(),
        })
    }

    /// The folder `hpmctl import` makes a workspace of: `hpm.yaml` is not
    /// there yet (or the import refuses); canonical as [`Workspace::at`]'s.
    pub(crate) fn importing(root: &Path) -> Result<Workspace> {
        let absolute = std::path::absolute(root).map_err(|error| Error::read(root, error))?;
        let root = std::fs::canonicalize(&absolute).map_err(|e| Error::read(&absolute, e))?;
        Ok(Workspace {
            root,
            caller: Caller::this_process(),
        })
    }

    /// Walks up from `start` to the first folder holding `hpm.yaml`.
    pub fn locate(start: &Path) -> Result<Workspace> {
        let start = std::path::absolute(start).map_err(|error| Error::read(start, error))?;
        let start = std::fs::canonicalize(&start).unwrap_or(start);
        start
            .ancestors()
            .find(|dir| dir.join(MANIFEST_FILE).is_file())
            .map(|root| Workspace {
                root: root.to_path_buf(),
                caller: Caller::this_process(),
            })
            .ok_or(Error::NotAWorkspace { start })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The same workspace, for a job run for `caller`.
    pub fn for_caller(&self, caller: Caller) -> Workspace {
        Workspace {
            root: self.root.clone(),
            caller,
        }
    }

    /// Whom the job at hand runs for.
    pub fn caller(&self) -> &Caller {
        &self.caller
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

    /// The virtual environment uv syncs: the caller's
    /// `UV_PROJECT_ENVIRONMENT` (the uv hpm runs for it gets the same), or
    /// `.venv`.
    pub fn venv_path(&self) -> PathBuf {
        match self.caller.var("UV_PROJECT_ENVIRONMENT") {
            Some(path) if !path.is_empty() => self.root.join(path),
            _ => self.root.join(".venv"),
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

    /// Creates `.hpm/` with a `.gitignore` that keeps it out of git. hpm
    /// never follows a link it did not make inside `.hpm/`: a `.hpm` (or a
    /// folder of it) that is a symbolic link, not a folder, or another
    /// user's is refused, because a cloned repository could carry one
    /// pointing anywhere.
    pub fn ensure_state_dir(&self) -> Result<()> {
        let dir = self.state_dir();
        check_private_folder(&dir)?;
        create_folder(&dir)?;
        // Another hpm may have made it meanwhile: look at what is there.
        check_private_folder(&dir)?;
        for folder in [self.journal_dir(), self.backup_dir(), dir.join("locks")] {
            check_private_folder(&folder)?;
        }
        let locks = dir.join("locks");
        create_folder(&locks)?;
        check_private_folder(&locks)?;
        let gitignore = dir.join(".gitignore");
        // `create_new` fails on anything already there, a link included:
        // an existing `.gitignore` is the user's.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&gitignore)
        {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(b"# hpm's local state; never commit it\n*\n")
                    .map_err(|error| Error::write(&gitignore, error))?;
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(Error::write(&gitignore, error)),
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

/// Creates `folder` unless something is there already (several hpm
/// processes may open a workspace at once; the caller checks what is).
fn create_folder(folder: &Path) -> Result<()> {
    match std::fs::create_dir(folder) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(Error::write(folder, error)),
    }
}

/// `folder`, when it exists, is a real folder (not a symbolic link) owned
/// by this user; hpm writes its state only into such folders.
pub fn check_private_folder(folder: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = match std::fs::symlink_metadata(folder) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(Error::read(folder, error)),
    };
    let refuse = |what: &str| Error::Refused {
        message: format!(
            "`{}` {what}; hpm keeps its state only in a real folder of yours and changed nothing",
            folder.display()
        ),
        hint: Some(format!(
            "remove `{}` (a repository must never carry hpm's local state); hpm makes a new one",
            folder.display()
        )),
    };
    if metadata.file_type().is_symlink() {
        return Err(refuse("is a symbolic link"));
    }
    if !metadata.is_dir() {
        return Err(refuse("is not a folder"));
    }
    if metadata.uid() != nix::unistd::getuid().as_raw() {
        return Err(refuse(&format!(
            "belongs to uid {}, not to you",
            metadata.uid()
        )));
    }
    Ok(())
}
