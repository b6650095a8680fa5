//! Detaching submodules (`hpmctl import --detach-submodules`): each
//! submodule becomes an independent clone in place. Its git folder moves
//! out of the core's `.git/modules/` into the clone (a rename on one
//! filesystem, so every object, ref, stash and the index move as they
//! are), the core's index, `.gitmodules` and config forget it (nothing is
//! committed), and the core's `info/exclude` gains the clone
//! ([`super::exclude`]).
//!
//! A [`Detach`] is read first and changes nothing; it holds everything
//! needed to put each submodule back, and is serialisable so that the
//! import journals it before the first move ([`crate::transaction`]):
//! [`Detach::undo`] puts back whatever part was done, by a live run that
//! failed or by the next run after a killed one.

use std::path::{Path, PathBuf};

use hpm_core::Problem;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_atomic};

/// Every submodule to detach, and the core's files as they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detach {
    /// Each submodule's clone, relative to the core.
    paths: Vec<String>,
    moves: Vec<GitFolderMove>,
    /// The core's index, `.gitmodules`, config and `info/exclude` as they
    /// were (`None`: absent).
    core_files: Vec<SavedFile>,
}

/// A submodule's git folder, to move from the core's `.git/modules/` into
/// its clone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GitFolderMove {
    /// `<clone>/.git`: the `gitdir:` file now, the git folder after.
    dot_git: PathBuf,
    /// The git folder's place under the core's `.git/modules/`.
    module_dir: PathBuf,
    /// The `gitdir:` file's bytes.
    #[serde(with = "base64_bytes")]
    link: Vec<u8>,
    /// Its `core.worktree`, which the move drops.
    worktree: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedFile {
    path: PathBuf,
    #[serde(with = "base64_bytes::optional")]
    bytes: Option<Vec<u8>>,
}

impl Detach {
    /// What detaching the submodules at `paths` (relative to the core at
    /// `root`) will change; reads only.
    pub fn read(root: &Path, paths: &[String]) -> Result<Detach> {
        Detach::try_read(root, paths).map_err(|error| failed(error, Ok(Vec::new())))
    }

    fn try_read(root: &Path, paths: &[String]) -> Result<Detach> {
        let core = git2::Repository::open(root).map_err(|e| git_error(root, e))?;
        let core_files = [
            core.path().join("index"),
            root.join(".gitmodules"),
            core.path().join("config"),
            core.commondir().join("info/exclude"),
        ]
        .into_iter()
        .map(|path| {
            let bytes = crate::fsutil::read_optional(&path).map_err(|e| Error::read(&path, e))?;
            Ok(SavedFile { path, bytes })
        })
        .collect::<Result<Vec<_>>>()?;
        let mut moves = Vec::new();
        for path in paths {
            if let Some(planned) = planned_move(&root.join(path))? {
                moves.push(planned);
            }
        }
        Ok(Detach {
            paths: paths.to_vec(),
            moves,
            core_files,
        })
    }

    /// Detaches every submodule, or none: a failure puts back what was
    /// done and says so.
    pub fn apply(&self, root: &Path) -> Result<()> {
        let done = self.try_apply(root);
        let Err(error) = done else {
            return Ok(());
        };
        Err(failed(error, self.undo()))
    }

    fn try_apply(&self, root: &Path) -> Result<()> {
        for planned in &self.moves {
            planned.apply()?;
        }
        let core = git2::Repository::open(root).map_err(|e| git_error(root, e))?;
        for path in &self.paths {
            forget_submodule(&core, root, path)?;
        }
        let clones: Vec<PathBuf> = self.paths.iter().map(PathBuf::from).collect();
        super::exclude::exclude_clones(root, &clones)
    }

    /// Puts each git folder and the core's files back as they were,
    /// whichever part of [`Detach::apply`] was done (none, some, all);
    /// answers the files and folders put back.
    pub fn undo(&self) -> Result<Vec<PathBuf>> {
        let mut restored = Vec::new();
        for planned in self.moves.iter().rev() {
            if planned.undo()? {
                restored.push(planned.module_dir.clone());
            }
        }
        for saved in &self.core_files {
            let now = crate::fsutil::read_optional(&saved.path)
                .map_err(|e| Error::read(&saved.path, e))?;
            if now == saved.bytes {
                continue;
            }
            match &saved.bytes {
                Some(bytes) => {
                    write_atomic(&saved.path, bytes).map_err(|e| Error::write(&saved.path, e))?
                }
                None => {
                    std::fs::remove_file(&saved.path).map_err(|e| Error::write(&saved.path, e))?
                }
            }
            restored.push(saved.path.clone());
        }
        Ok(restored)
    }
}

/// Detaching failed with `error`; `undone`: how putting back went.
fn failed(error: Error, undone: Result<Vec<PathBuf>>) -> Error {
    Error::Refused {
        message: format!("detaching the submodules failed: {error}"),
        hint: Some(match undone {
            Ok(_) => "every submodule is as it was and nothing was written; fix the cause and import again".to_string(),
            Err(undo) => format!("putting the submodules back failed too ({undo}); see `git status` in the core and each clone"),
        }),
    }
}

/// The move of the git folder of the clone at `clone_dir`; `None` when
/// the clone holds its git folder already.
fn planned_move(clone_dir: &Path) -> Result<Option<GitFolderMove>> {
    let dot_git = clone_dir.join(".git");
    if !dot_git.is_file() {
        return Ok(None);
    }
    let module = git2::Repository::open(clone_dir).map_err(|e| git_error(clone_dir, e))?;
    let module_dir = module.path().to_path_buf();
    let worktree = module
        .config()
        .ok()
        .and_then(|config| config.get_string("core.worktree").ok());
    let link = std::fs::read(&dot_git).map_err(|e| Error::read(&dot_git, e))?;
    Ok(Some(GitFolderMove {
        dot_git,
        module_dir,
        link,
        worktree,
    }))
}

impl GitFolderMove {
    fn apply(&self) -> Result<()> {
        std::fs::remove_file(&self.dot_git).map_err(|e| Error::write(&self.dot_git, e))?;
        std::fs::rename(&self.module_dir, &self.dot_git)
            .map_err(|e| Error::write(&self.dot_git, e))?;
        // Its work tree was named relative to the old place; a git folder
        // inside the clone needs none.
        let config_path = self.dot_git.join("config");
        let mut config =
            git2::Config::open(&config_path).map_err(|e| git_error(&config_path, e))?;
        let _ = config.remove("core.worktree");
        Ok(())
    }

    /// Puts the git folder back under the core's `.git/modules/` and the
    /// `gitdir:` file in the clone, from wherever a run stopped; answers
    /// whether anything had moved.
    fn undo(&self) -> Result<bool> {
        let moved = self.dot_git.is_dir() && !self.module_dir.exists();
        if moved {
            std::fs::rename(&self.dot_git, &self.module_dir)
                .map_err(|e| Error::write(&self.module_dir, e))?;
        }
        // Stopped between removing the `gitdir:` file and the move, or
        // just moved back.
        let relinked = !self.dot_git.exists();
        if relinked {
            write_atomic(&self.dot_git, &self.link).map_err(|e| Error::write(&self.dot_git, e))?;
        }
        if let Some(worktree) = &self.worktree {
            let config_path = self.module_dir.join("config");
            git2::Config::open(&config_path)
                .and_then(|mut config| config.set_str("core.worktree", worktree))
                .map_err(|e| git_error(&config_path, e))?;
        }
        Ok(moved || relinked)
    }
}

/// The core forgets the submodule at `path`: its index entry,
/// `.gitmodules`, and its own config; nothing is committed.
fn forget_submodule(core: &git2::Repository, root: &Path, path: &str) -> Result<()> {
    let mut index = core.index().map_err(|e| git_error(root, e))?;
    index
        .remove_path(Path::new(path))
        .map_err(|e| git_error(root, e))?;
    let gitmodules = root.join(".gitmodules");
    let name = core
        .submodules()
        .unwrap_or_default()
        .into_iter()
        .find(|s| s.path() == Path::new(path))
        .and_then(|s| s.name().ok().map(str::to_string))
        .unwrap_or_else(|| path.to_string());
    if gitmodules.is_file() {
        remove_section(&gitmodules, &name)?;
        let left = read_text(&gitmodules).map_err(|e| Error::read(&gitmodules, e))?;
        if left.trim().is_empty() {
            std::fs::remove_file(&gitmodules).map_err(|e| Error::write(&gitmodules, e))?;
            let _ = index.remove_path(Path::new(".gitmodules"));
        } else {
            index
                .add_path(Path::new(".gitmodules"))
                .map_err(|e| git_error(root, e))?;
        }
    }
    index.write().map_err(|e| git_error(root, e))?;
    let config_path = core.path().join("config");
    remove_section(&config_path, &name)
}

/// Removes `[submodule "NAME"]` and its keys from a git config file, in
/// one atomic replace: git2 edits a scratch copy (it writes key by key,
/// each through a `.lock` file of its own), and the result replaces the
/// file whole. A run killed part-way leaves the file as it was, never half
/// edited nor a `config.lock` that would make the next run's edits fail.
fn remove_section(path: &Path, name: &str) -> Result<()> {
    let mut lock = path.as_os_str().to_os_string();
    lock.push(".lock");
    let lock = PathBuf::from(lock);
    if lock.exists() {
        return Err(Error::Refused {
            message: format!(
                "`{}` exists: a git process is changing `{}`, or one was killed while it did",
                lock.display(),
                path.display()
            ),
            hint: Some(format!(
                "when no git runs in the core, remove `{}` and run the import again",
                lock.display()
            )),
        });
    }
    let text = read_text(path).map_err(|e| Error::read(path, e))?;
    let scratch = tempfile::Builder::new()
        .prefix("hpm-git-config-")
        .tempdir()
        .map_err(|e| Error::write(path, e))?;
    let copy = scratch.path().join("config");
    std::fs::write(&copy, &text).map_err(|e| Error::write(&copy, e))?;
    let mut config = git2::Config::open(&copy).map_err(|e| git_error(path, e))?;
    let prefix = format!("submodule.{name}.");
    // Each key once: a key given twice is one multivar, removed whole.
    let keys: std::collections::BTreeSet<String> = {
        let mut entries = config.entries(None).map_err(|e| git_error(path, e))?;
        let mut keys = std::collections::BTreeSet::new();
        while let Some(Ok(entry)) = entries.next() {
            if let Ok(key) = entry.name() {
                if key.starts_with(&prefix) {
                    keys.insert(key.to_string());
                }
            }
        }
        keys
    };
    for key in keys {
        config
            .remove_multivar(&key, ".*")
            .map_err(|e| git_error(path, e))?;
    }
    drop(config);
    // git2 leaves the empty section header behind; drop it.
    let edited = read_text(&copy).map_err(|e| Error::read(&copy, e))?;
    let header = format!("[submodule \"{name}\"]");
    let cleaned: String = edited
        .split_inclusive('\n')
        .filter(|line| line.trim() != header)
        .collect();
    write_atomic(path, cleaned.as_bytes()).map_err(|e| Error::write(path, e))
}

pub(crate) fn git_error(path: &Path, error: git2::Error) -> Error {
    Error::invalid(
        Problem::new(format!("git: {}", error.message()))
            .in_file(path)
            .hint("nothing more was changed; see `git status` in the core and the clone"),
    )
}

/// Bytes in a JSON journal, as base64 (the core's index is binary).
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }

    pub mod optional {
        use super::*;

        pub fn serialize<S: Serializer>(
            bytes: &Option<Vec<u8>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(bytes) => super::serialize(bytes, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Vec<u8>>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "[core]\n\tbare = false\n[submodule \"model-a\"]\n\turl = ../model-a.git\n\tactive = true\n[submodule \"model-b\"]\n\turl = ../model-b.git\n";

    #[test]
    fn a_submodule_section_goes_whole_and_the_rest_stays() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, CONFIG).unwrap();
        remove_section(&config, "model-a").unwrap();
        let left = std::fs::read_to_string(&config).unwrap();
        assert_eq!(
            left,
            "[core]\n\tbare = false\n[submodule \"model-b\"]\n\turl = ../model-b.git\n"
        );
        assert!(!dir.path().join("config.lock").exists());
    }

    /// Regression: the keys were removed one by one through git's lock
    /// file, each failure ignored: a `config.lock` left by a killed run
    /// made the next import leave the section and say nothing.
    #[test]
    fn a_config_lock_stops_the_edit_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, CONFIG).unwrap();
        std::fs::write(dir.path().join("config.lock"), "").unwrap();
        let error = remove_section(&config, "model-a").unwrap_err().to_string();
        assert!(error.contains("config.lock"), "{error}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
    }
}
