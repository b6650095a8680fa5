//! `hpmctl import`: moves a product in the seeds' layout to hpm. It finds
//! the internal packages (git submodules from `.gitmodules`, and git clones
//! in the folders `[tool.uv.workspace] members` names), reads the hand-kept
//! mode files (`staging/` and `prod/pyproject.toml`, or `--mode
//! NAME=PATH`), checks every tag they pin on its remote, and writes
//! `hpm.yaml`, a registry entry per package and the core's
//! `pyproject.toml` without the wiring hpm now owns ([`hpm_core::import`]).
//! Every clone stays where it is as the package's dev clone.
//! `detach_submodules` makes each submodule an independent clone in place:
//! its git folder moves out of the core's `.git/modules/` into the clone,
//! the core's index and `.gitmodules` lose the submodule (nothing is
//! committed); no commit, branch, stash or uncommitted change is lost.

use std::path::{Path, PathBuf};

use hpm_core::import::{import as compute, FoundPackage, ImportInput, ModeFile};
use hpm_core::manifest::MANIFEST_FILE;
use hpm_core::metadata::ProjectMeta;
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::registry::{GitRef, SourceSpec};
use hpm_core::{Mode, Problem};
use hpm_protocol::report::FileDiff;

use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_atomic, write_through};

/// What `hpmctl import` is asked for.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `NAME=PATH` mode files besides `staging/` and `prod/`.
    pub modes: Vec<(Mode, String)>,
    pub uv_args: Vec<String>,
    pub detach_submodules: bool,
    pub dry_run: bool,
}

/// What an import found, wrote (or would write), and could not map.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub packages: Vec<ImportedPackage>,
    pub written: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<FileDiff>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detached: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportedPackage {
    pub name: String,
    pub path: String,
    pub url: Option<String>,
    pub submodule: bool,
}

const REGISTRY_FOLDER: &str = "hpm-registry";

pub fn import(root: &Path, request: &ImportRequest) -> Result<ImportReport> {
    let manifest_path = root.join(MANIFEST_FILE);
    if manifest_path.exists() {
        return Err(Error::Refused {
            message: format!(
                "`{}` exists: this workspace is imported already",
                manifest_path.display()
            ),
            hint: Some(
                "hpm left everything as it is; edit hpm.yaml, or `hpmctl add` packages".to_string(),
            ),
        });
    }
    let core_path = root.join(PYPROJECT_FILE);
    let core_text = read_text(&core_path).map_err(|e| Error::read(&core_path, e))?;
    let packages = find_packages(root, &core_text)?;
    if packages.is_empty() {
        return Err(Error::Refused {
            message: format!("found no internal package under `{}` (no submodule, no git clone in `[tool.uv.workspace] members`)", root.display()),
            hint: Some("`hpmctl init` starts an empty workspace; `hpmctl add` adds packages".to_string()),
        });
    }
    let mut mode_files = Vec::new();
    let mut wanted: Vec<(Mode, String)> = ["staging", "prod"]
        .iter()
        .filter(|mode| !request.modes.iter().any(|(m, _)| m.as_str() == **mode))
        .filter(|mode| root.join(mode).join(PYPROJECT_FILE).is_file())
        .filter_map(|mode| Some((Mode::new(mode).ok()?, format!("{mode}/{PYPROJECT_FILE}"))))
        .collect();
    wanted.extend(request.modes.iter().cloned());
    for (mode, path) in wanted {
        let full = root.join(&path);
        let text = read_text(&full).map_err(|e| Error::read(&full, e))?;
        mode_files.push(ModeFile { mode, path, text });
    }
    let imported = compute(ImportInput {
        core_text: &core_text,
        core_path: &core_path,
        packages: &packages,
        mode_files: &mode_files,
        uv_args: &request.uv_args,
        registry_folder: REGISTRY_FOLDER,
    })?;
    let mut notes = imported.notes.clone();
    notes.extend(missing_tags(&imported.entries));
    notes.extend(unlockable(root, &mode_files));

    let mut files: Vec<(PathBuf, Option<String>, String)> =
        vec![(manifest_path, None, imported.manifest.clone())];
    if imported.pyproject != core_text {
        files.push((
            core_path.clone(),
            Some(core_text.clone()),
            imported.pyproject.clone(),
        ));
    }
    for entry in &imported.entries {
        let path = root
            .join(REGISTRY_FOLDER)
            .join(format!("{}.yaml", entry.name));
        files.push((path, None, entry.to_yaml()));
    }
    let mut report = ImportReport {
        packages: packages
            .iter()
            .map(|p| ImportedPackage {
                name: p.name.clone(),
                path: p.path.clone(),
                url: p.url.clone(),
                submodule: p.submodule,
            })
            .collect(),
        written: files.iter().map(|(path, _, _)| path.clone()).collect(),
        diffs: Vec::new(),
        notes,
        detached: Vec::new(),
    };
    if request.dry_run {
        for (path, before, after) in &files {
            let label = path
                .strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string();
            report.diffs.push(FileDiff {
                path: path.clone(),
                diff: hpm_core::diff::unified(&label, before.as_deref().unwrap_or_default(), after),
            });
        }
        return Ok(report);
    }
    if request.detach_submodules {
        for package in packages.iter().filter(|p| p.submodule) {
            detach(root, &package.path)?;
            report.detached.push(package.path.clone());
        }
    }
    std::fs::create_dir_all(root.join(REGISTRY_FOLDER))
        .map_err(|e| Error::write(root.join(REGISTRY_FOLDER), e))?;
    for (path, before, after) in &files {
        let written = match before {
            Some(_) => write_through(path, after.as_bytes()),
            None => write_atomic(path, after.as_bytes()),
        };
        written.map_err(|e| Error::write(path, e))?;
    }
    Ok(report)
}

/// The internal packages: submodules, then git clones in member folders.
fn find_packages(root: &Path, core_text: &str) -> Result<Vec<FoundPackage>> {
    let mut found: Vec<FoundPackage> = Vec::new();
    let add =
        |path: String, url: Option<String>, submodule: bool, found: &mut Vec<FoundPackage>| {
            if found.iter().any(|p| p.path == path) {
                return;
            }
            let pyproject = root.join(&path).join(PYPROJECT_FILE);
            let Some(name) = read_text(&pyproject)
                .ok()
                .and_then(|text| ProjectMeta::read(&text).ok())
                .and_then(|meta| meta.name)
            else {
                return;
            };
            found.push(FoundPackage {
                name,
                path,
                url,
                submodule,
            });
        };
    if let Ok(repo) = git2::Repository::open(root) {
        for submodule in repo.submodules().unwrap_or_default() {
            let path = submodule.path().display().to_string();
            let url = submodule.url().ok().flatten().map(str::to_string);
            add(path, url, true, &mut found);
        }
    }
    let doc: toml_edit::DocumentMut = core_text.parse().map_err(|e: toml_edit::TomlError| {
        Error::invalid(
            Problem::new(e.message().trim().to_string()).in_file(root.join(PYPROJECT_FILE)),
        )
    })?;
    let members = doc
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("workspace"))
        .and_then(|w| w.get("members"))
        .and_then(toml_edit::Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for pattern in members {
        let Ok(pattern) = glob::Pattern::new(pattern.trim_end_matches('/')) else {
            continue;
        };
        // Member globs are folders: walk the pattern's literal parent.
        let base = pattern
            .as_str()
            .split(['*', '?', '['])
            .next()
            .unwrap_or_default();
        let base = base.rsplit_once('/').map_or("", |(parent, _)| parent);
        let Ok(entries) = std::fs::read_dir(root.join(base)) else {
            continue;
        };
        let mut folders: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if base.is_empty() {
                    name
                } else {
                    format!("{base}/{name}")
                }
            })
            .filter(|path| pattern.matches(path))
            .collect();
        folders.sort();
        for path in folders {
            let Ok(repo) = git2::Repository::open(root.join(&path)) else {
                continue;
            };
            if repo.workdir().and_then(|w| w.canonicalize().ok())
                != root.join(&path).canonicalize().ok()
            {
                continue;
            }
            let url = repo
                .find_remote("origin")
                .ok()
                .and_then(|remote| remote.url().ok().map(str::to_string));
            add(path, url, false, &mut found);
        }
    }
    Ok(found)
}

/// A note per tag a registry entry pins that its remote does not have.
fn missing_tags(entries: &[hpm_core::registry::RegistryEntry]) -> Vec<String> {
    let mut notes = Vec::new();
    for entry in entries {
        for (mode, spec) in &entry.sources {
            let SourceSpec::Git {
                url,
                reference: GitRef::Tag(tag),
                ..
            } = spec
            else {
                continue;
            };
            match crate::git::remote::list_remote(url) {
                Ok(refs) if refs.tags.contains(tag) => {}
                Ok(_) => notes.push(format!(
                    "`{}` in {mode}: the tag `{tag}` does not exist on `{url}`",
                    entry.name
                )),
                Err(reason) => notes.push(format!(
                    "`{}` in {mode}: cannot list `{url}` to check the tag `{tag}`: {reason}",
                    entry.name
                )),
            }
        }
    }
    notes
}

/// A note per mode file uv cannot lock (asked with `uv lock --dry-run` in
/// its folder, which writes nothing).
fn unlockable(root: &Path, files: &[ModeFile]) -> Vec<String> {
    let Ok(uv) = crate::uv::Uv::find() else {
        return vec![
            "uv was not found, so the mode files were not tried with `uv lock`".to_string(),
        ];
    };
    files
        .iter()
        .filter_map(|file| {
            let folder = root.join(&file.path);
            let folder = folder.parent()?;
            let locked = uv.run(
                folder,
                &["lock".to_string(), "--dry-run".to_string()],
                &crate::process::RunOptions::default(),
                &mut |_| {},
                &crate::process::CancelToken::new(),
            );
            match locked {
                Ok(()) => None,
                Err(Error::UvFailed { reason, .. }) => Some(format!(
                    "`{}` does not lock: {}",
                    file.path,
                    reason.lines().last().unwrap_or_default().trim()
                )),
                Err(other) => Some(format!("`{}`: cannot try `uv lock`: {other}", file.path)),
            }
        })
        .collect()
}

/// Makes the submodule at `path` an independent clone in place.
fn detach(root: &Path, path: &str) -> Result<()> {
    let core = git2::Repository::open(root).map_err(|e| git_error(root, e))?;
    let clone_dir = root.join(path);
    let module = git2::Repository::open(&clone_dir).map_err(|e| git_error(&clone_dir, e))?;
    let git_dir = module.path().to_path_buf();
    let dot_git = clone_dir.join(".git");
    if dot_git.is_file() {
        // Its git folder into the clone: rename (one filesystem), so every
        // object, ref, stash and the index move as they are.
        std::fs::remove_file(&dot_git).map_err(|e| Error::write(&dot_git, e))?;
        std::fs::rename(&git_dir, &dot_git).map_err(|e| Error::write(&dot_git, e))?;
        // Its work tree was named relative to the old place; a git folder
        // inside the clone needs none.
        let config_path = dot_git.join("config");
        let mut config =
            git2::Config::open(&config_path).map_err(|e| git_error(&config_path, e))?;
        let _ = config.remove("core.worktree");
    }
    // The core forgets the submodule: its index entry, `.gitmodules`, and
    // its own config; nothing is committed.
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
    remove_section(&config_path, &name)?;
    Ok(())
}

/// Removes `[submodule "NAME"]` and its keys from a git config file.
fn remove_section(path: &Path, name: &str) -> Result<()> {
    let mut config = git2::Config::open(path).map_err(|e| git_error(path, e))?;
    let prefix = format!("submodule.{name}.");
    let keys: Vec<String> = {
        let entries = config.entries(None).map_err(|e| git_error(path, e))?;
        let mut keys = Vec::new();
        let mut entries = entries;
        while let Some(Ok(entry)) = entries.next() {
            if let Ok(key) = entry.name() {
                if key.starts_with(&prefix) {
                    keys.push(key.to_string());
                }
            }
        }
        keys
    };
    for key in keys {
        let _ = config.remove(&key);
    }
    // git2 leaves the empty section header behind; drop it.
    let text = read_text(path).map_err(|e| Error::read(path, e))?;
    let header = format!("[submodule \"{name}\"]");
    let cleaned: String = text
        .split_inclusive('\n')
        .filter(|line| line.trim() != header)
        .collect();
    write_atomic(path, cleaned.as_bytes()).map_err(|e| Error::write(path, e))
}

fn git_error(path: &Path, error: git2::Error) -> Error {
    Error::invalid(
        Problem::new(format!("git: {}", error.message()))
            .in_file(path)
            .hint("nothing more was changed; see `git status` in the core and the clone"),
    )
}
