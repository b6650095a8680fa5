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
//! committed), and the core's `info/exclude` gains the clone (so the core's
//! `git status` does not list it, [`crate::git::exclude`]); no commit,
//! branch, stash or uncommitted change is lost.

use std::path::{Path, PathBuf};

use hpm_core::import::{import as compute, FoundPackage, ImportInput, ModeFile};
use hpm_core::manifest::MANIFEST_FILE;
use hpm_core::metadata::ProjectMeta;
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::registry::{GitRef, SourceSpec};
use hpm_core::{Mode, Problem};
use hpm_protocol::report::{FileDiff, Progress, SyncReport};

use crate::caller::Caller;
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
    /// Write the files only: no first sync.
    pub no_sync: bool,
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
    /// The first sync, of the mode the manifest names (none with `no_sync`
    /// or a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced: Option<SyncReport>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportedPackage {
    pub name: String,
    pub path: String,
    pub url: Option<String>,
    pub submodule: bool,
}

const REGISTRY_FOLDER: &str = "hpm-registry";

/// Imports the product at `root`, and syncs it (in the mode the new
/// manifest names) unless asked not to: `check` then passes on what it
/// leaves. A failure anywhere, the first sync's included, undoes it all.
pub fn import(
    caller: &Caller,
    root: &Path,
    request: &ImportRequest,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let manifest_path = root.join(MANIFEST_FILE);
    let core_path = root.join(PYPROJECT_FILE);
    let core_text = read_text(&core_path).map_err(|e| Error::read(&core_path, e))?;
    let packages = find_packages(root, &core_text)?;
    if manifest_path.exists() {
        let submodules: Vec<&FoundPackage> = packages.iter().filter(|p| p.submodule).collect();
        if request.detach_submodules && !submodules.is_empty() {
            return detach_only(root, &submodules, request.dry_run);
        }
        let hint = match (request.detach_submodules, submodules.is_empty()) {
            (true, true) => "there is no submodule left to detach; edit hpm.yaml, or `hpmctl add` packages",
            (false, false) => "hpm left everything as it is; `hpmctl import --detach-submodules` detaches the submodules now, or edit hpm.yaml / `hpmctl add` packages",
            _ => "hpm left everything as it is; edit hpm.yaml, or `hpmctl add` packages",
        };
        return Err(Error::Refused {
            message: format!(
                "`{}` exists: this workspace is imported already",
                manifest_path.display()
            ),
            hint: Some(hint.to_string()),
        });
    }
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
    notes.extend(missing_tags(caller, &imported.entries));
    notes.extend(unlockable(caller, root, &mode_files));

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
        synced: None,
    };
    if request.dry_run {
        report.diffs = diffs(root, &files);
        if request.detach_submodules {
            report.detached = submodule_paths(&packages);
        }
        return Ok(report);
    }
    let detached = if request.detach_submodules {
        report.detached = submodule_paths(&packages);
        let paths: Vec<&str> = report.detached.iter().map(String::as_str).collect();
        Some(Detached::all(root, &paths)?)
    } else {
        None
    };
    let written = match write_files(root, &files) {
        Ok(written) => written,
        Err(error) => return Err(undo_detach(detached, error)),
    };
    if request.no_sync {
        return Ok(report);
    }
    match first_sync(caller, root, on_progress) {
        Ok(synced) => {
            report.synced = Some(synced);
            Ok(report)
        }
        Err(error) => {
            let error = undone_after_sync(error, written.undo());
            Err(undo_detach(detached, error))
        }
    }
}

/// What the files would become, as unified diffs (a dry run's).
fn diffs(root: &Path, files: &[(PathBuf, Option<String>, String)]) -> Vec<FileDiff> {
    files
        .iter()
        .map(|(path, before, after)| {
            let label = path
                .strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string();
            FileDiff {
                path: path.clone(),
                diff: hpm_core::diff::unified(&label, before.as_deref().unwrap_or_default(), after),
            }
        })
        .collect()
}

/// The error of a first sync that failed, saying the import was undone
/// (`undone`: how putting hpm's files back went) and how to go on.
fn undone_after_sync(error: Error, undone: Result<()>) -> Error {
    Error::Refused {
        message: format!(
            "the imported workspace's first sync failed, so the import was undone{}: {error}",
            match undone {
                Ok(()) => String::new(),
                Err(undo) => format!(" (but {undo})"),
            }
        ),
        hint: Some(error.hint().map_or_else(
            || "fix the cause, then import again; `hpmctl import --no-sync` writes the files without syncing".to_string(),
            |hint| format!("{hint}; then import again (`--no-sync` writes the files without syncing)"),
        )),
    }
}

/// The first sync of a workspace import has just written.
fn first_sync(
    caller: &Caller,
    root: &Path,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport> {
    let workspace = crate::workspace::Workspace::at(root)?.for_caller(caller.clone());
    let request = crate::ops::sync::Request::sync();
    let cancel = crate::process::CancelToken::new();
    crate::ops::sync::sync(&workspace, &request, on_progress, &cancel).map(|synced| synced.report)
}

/// `error`, after putting the detached submodules back (or saying that
/// this failed too).
fn undo_detach(detached: Option<Detached>, error: Error) -> Error {
    match detached.map_or(Ok(()), Detached::undo) {
        Ok(()) => error,
        Err(undo) => Error::Refused {
            message: format!("{error}; putting the submodules back failed too: {undo}"),
            hint: Some("see `git status` in the core and each clone".to_string()),
        },
    }
}

/// The paths of the submodules among `packages`.
fn submodule_paths(packages: &[FoundPackage]) -> Vec<String> {
    packages
        .iter()
        .filter(|p| p.submodule)
        .map(|p| p.path.clone())
        .collect()
}

/// `--detach-submodules` on a workspace imported already: only the
/// submodules change (every one, or none); hpm's files stay as they are.
fn detach_only(root: &Path, submodules: &[&FoundPackage], dry_run: bool) -> Result<ImportReport> {
    let paths: Vec<String> = submodules.iter().map(|p| p.path.clone()).collect();
    let report = ImportReport {
        packages: submodules
            .iter()
            .map(|p| ImportedPackage {
                name: p.name.clone(),
                path: p.path.clone(),
                url: p.url.clone(),
                submodule: true,
            })
            .collect(),
        written: Vec::new(),
        diffs: Vec::new(),
        notes: vec![
            "hpm.yaml, the registry and pyproject.toml are imported already and stay as they are"
                .to_string(),
        ],
        detached: paths.clone(),
        synced: None,
    };
    if !dry_run {
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        Detached::all(root, &paths)?;
    }
    Ok(report)
}

/// Writes the import's files, or none: a failure takes back the ones
/// written before it (a new file removed, a rewritten one restored).
fn write_files<'a>(
    root: &Path,
    files: &'a [(PathBuf, Option<String>, String)],
) -> Result<WrittenFiles<'a>> {
    let registry = root.join(REGISTRY_FOLDER);
    let state = root.join(crate::workspace::STATE_DIR);
    let mut written = WrittenFiles {
        files: Vec::new(),
        made: [registry.clone(), state]
            .into_iter()
            .filter(|folder| !folder.exists())
            .collect(),
    };
    let result = std::fs::create_dir_all(&registry)
        .map_err(|e| Error::write(&registry, e))
        .and_then(|()| {
            files.iter().try_for_each(|file| {
                let (path, before, after) = file;
                match before {
                    Some(_) => write_through(path, after.as_bytes()),
                    None => write_atomic(path, after.as_bytes()),
                }
                .map_err(|e| Error::write(path, e))?;
                written.files.push(file);
                Ok(())
            })
        });
    match result {
        Ok(()) => Ok(written),
        Err(error) => {
            let _ = written.undo();
            Err(error)
        }
    }
}

/// The files an import wrote, and the folders it made (the registry, and
/// hpm's state folder which its first sync makes).
struct WrittenFiles<'a> {
    files: Vec<&'a (PathBuf, Option<String>, String)>,
    made: Vec<PathBuf>,
}

impl WrittenFiles<'_> {
    /// A new file removed, a rewritten one restored, a made folder removed.
    fn undo(self) -> Result<()> {
        let mut first_error = None;
        for (path, before, _) in self.files.into_iter().rev() {
            let undone = match before {
                Some(text) => write_through(path, text.as_bytes()),
                None => std::fs::remove_file(path),
            };
            if let Err(e) = undone {
                first_error.get_or_insert(Error::write(path, e));
            }
        }
        for folder in self.made {
            if let Err(e) = std::fs::remove_dir_all(&folder) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    first_error.get_or_insert(Error::write(&folder, e));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The branch a clone is on, or, when its head is detached (as a
/// submodule's is), the local branch whose tip is that commit.
fn clone_branch(folder: &Path) -> Option<String> {
    let repository = git2::Repository::open(folder).ok()?;
    let head = repository.head().ok()?;
    if head.is_branch() {
        return head.shorthand().ok().map(str::to_string);
    }
    let commit = head.target()?;
    let branches = repository.branches(Some(git2::BranchType::Local)).ok()?;
    let mut on_it: Vec<String> = branches
        .flatten()
        .filter(|(branch, _)| branch.get().target() == Some(commit))
        .filter_map(|(branch, _)| branch.name().ok().flatten().map(str::to_string))
        .collect();
    on_it.sort();
    // Two branches at that commit: neither is the clear choice.
    (on_it.len() == 1).then(|| on_it.remove(0))
}

/// Refuses a `.gitmodules` entry whose path leaves the workspace (absolute,
/// or through `..`): hpm imports and detaches only folders inside it, and
/// libgit2 leaves such an entry out rather than saying so.
fn refuse_paths_outside(root: &Path) -> Result<()> {
    let file = root.join(".gitmodules");
    if !file.is_file() {
        return Ok(());
    }
    let config = git2::Config::open(&file).map_err(|e| git_error(&file, e))?;
    let mut entries = config
        .entries(Some(r"^submodule\..*\.path$"))
        .map_err(|e| git_error(&file, e))?;
    while let Some(entry) = entries.next() {
        let entry = entry.map_err(|e| git_error(&file, e))?;
        let path = entry.value().unwrap_or_default();
        let inside = Path::new(path).components().all(|part| {
            matches!(
                part,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if !inside {
            let name = entry.name().unwrap_or_default();
            let name = name
                .strip_prefix("submodule.")
                .and_then(|rest| rest.strip_suffix(".path"))
                .unwrap_or(name);
            return Err(Error::invalid(
                Problem::new(format!(
                    "the submodule `{}` has the path `{}`, outside the workspace",
                    name.escape_debug(),
                    path.escape_debug()
                ))
                .in_file(&file)
                .hint("hpm imports and detaches only folders inside the workspace: fix or remove that entry, then import again; nothing was changed"),
            ));
        }
    }
    Ok(())
}

/// The internal packages: submodules, then git clones in member folders.
fn find_packages(root: &Path, core_text: &str) -> Result<Vec<FoundPackage>> {
    let mut found: Vec<FoundPackage> = Vec::new();
    // `tracked`: the branch `.gitmodules` names; else the one the clone is on.
    let add = |path: String,
               url: Option<String>,
               submodule: bool,
               tracked: Option<String>,
               found: &mut Vec<FoundPackage>| {
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
        let branch = tracked.or_else(|| clone_branch(&root.join(&path)));
        found.push(FoundPackage {
            name,
            path,
            url,
            submodule,
            branch,
        });
    };
    refuse_paths_outside(root)?;
    if let Ok(repo) = git2::Repository::open(root) {
        // A submodule is a gitlink in the core's index: one detached
        // already (its config section may stay) is a clone of its own.
        let index = repo.index().ok();
        let gitlink = |path: &Path| {
            index
                .as_ref()
                .and_then(|index| index.get_path(path, 0))
                .is_some_and(|entry| entry.mode == 0o160000)
        };
        for submodule in repo.submodules().unwrap_or_default() {
            let url = submodule.url().ok().flatten().map(str::to_string);
            let is_submodule = gitlink(submodule.path());
            let tracked = submodule.branch().ok().flatten().map(str::to_string);
            add(
                submodule.path().display().to_string(),
                url,
                is_submodule,
                tracked,
                &mut found,
            );
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
            add(path, url, false, None, &mut found);
        }
    }
    Ok(found)
}

/// A note per tag a registry entry pins that its remote does not have.
fn missing_tags(caller: &Caller, entries: &[hpm_core::registry::RegistryEntry]) -> Vec<String> {
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
            match crate::git::remote::list_remote(caller, url) {
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
fn unlockable(caller: &Caller, root: &Path, files: &[ModeFile]) -> Vec<String> {
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
                &crate::process::RunOptions::for_caller(caller),
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

/// What detaching changed, kept so that a later failure puts every
/// submodule back as it was: all of them are detached, or none.
struct Detached {
    /// The core's index, `.gitmodules` and config as they were (`None`:
    /// absent).
    core_files: Vec<(PathBuf, Option<Vec<u8>>)>,
    moved: Vec<MovedGitFolder>,
}

/// A submodule's git folder moved from the core's `.git/modules/` into
/// its clone.
struct MovedGitFolder {
    /// `<clone>/.git`, a folder now.
    dot_git: PathBuf,
    /// Where it was, under the core's `.git/modules/`.
    module_dir: PathBuf,
    /// The `gitdir:` file that stood at `dot_git`.
    link: Vec<u8>,
    /// Its `core.worktree`, which the move drops.
    worktree: Option<String>,
}

impl Detached {
    /// Detaches every submodule at `paths`, or none: a failure on any of
    /// them puts back the ones before it and says which one failed.
    fn all(root: &Path, paths: &[&str]) -> Result<Detached> {
        let core = git2::Repository::open(root).map_err(|e| git_error(root, e))?;
        let mut detached = Detached {
            core_files: [
                core.path().join("index"),
                root.join(".gitmodules"),
                core.path().join("config"),
                core.commondir().join("info/exclude"),
            ]
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).ok();
                (path, bytes)
            })
            .collect(),
            moved: Vec::new(),
        };
        let done = paths.iter().try_for_each(|path| {
            if let Some(moved) = move_git_folder(&root.join(path))? {
                detached.moved.push(moved);
            }
            Ok::<_, Error>(())
        });
        let done = done.and_then(|()| {
            paths
                .iter()
                .try_for_each(|path| forget_submodule(&core, root, path))
        });
        let clones: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        let done = done.and_then(|()| crate::git::exclude::exclude_clones(root, &clones));
        match done {
            Ok(()) => Ok(detached),
            Err(error) => {
                let undone = detached.undo();
                Err(Error::Refused {
                    message: format!("detaching the submodules failed: {error}"),
                    hint: Some(match undone {
                        Ok(()) => "every submodule is as it was and nothing was written; fix the cause and import again".to_string(),
                        Err(undo) => format!("putting the submodules back failed too ({undo}); see `git status` in the core and each clone"),
                    }),
                })
            }
        }
    }

    /// Puts the git folders and the core's files back as they were.
    fn undo(self) -> Result<()> {
        for moved in self.moved.into_iter().rev() {
            std::fs::rename(&moved.dot_git, &moved.module_dir)
                .map_err(|e| Error::write(&moved.module_dir, e))?;
            write_atomic(&moved.dot_git, &moved.link)
                .map_err(|e| Error::write(&moved.dot_git, e))?;
            if let Some(worktree) = &moved.worktree {
                let config_path = moved.module_dir.join("config");
                git2::Config::open(&config_path)
                    .and_then(|mut config| config.set_str("core.worktree", worktree))
                    .map_err(|e| git_error(&config_path, e))?;
            }
        }
        for (path, bytes) in self.core_files {
            match bytes {
                Some(bytes) => write_atomic(&path, &bytes).map_err(|e| Error::write(&path, e))?,
                None if path.exists() => {
                    std::fs::remove_file(&path).map_err(|e| Error::write(&path, e))?
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// Moves a submodule's git folder into its clone (a rename on one
/// filesystem, so every object, ref, stash and the index move as they
/// are). `None` when the clone holds its git folder already.
fn move_git_folder(clone_dir: &Path) -> Result<Option<MovedGitFolder>> {
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
    drop(module);
    let link = std::fs::read(&dot_git).map_err(|e| Error::read(&dot_git, e))?;
    std::fs::remove_file(&dot_git).map_err(|e| Error::write(&dot_git, e))?;
    if let Err(error) = std::fs::rename(&module_dir, &dot_git) {
        let _ = write_atomic(&dot_git, &link);
        return Err(Error::write(&dot_git, error));
    }
    let moved = MovedGitFolder {
        dot_git,
        module_dir,
        link,
        worktree,
    };
    // Its work tree was named relative to the old place; a git folder
    // inside the clone needs none.
    let config_path = moved.dot_git.join("config");
    let mut config = git2::Config::open(&config_path).map_err(|e| git_error(&config_path, e))?;
    let _ = config.remove("core.worktree");
    Ok(Some(moved))
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
