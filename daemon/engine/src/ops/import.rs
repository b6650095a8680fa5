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

use hpm_core::import::{import as compute, FoundPackage, ImportInput, Imported, ModeFile};
use hpm_core::metadata::ProjectMeta;
use hpm_core::pyproject::{PyprojectMut, PYPROJECT_FILE};
use hpm_core::registry::{GitRef, SourceSpec};
use hpm_core::{Mode, Problem};
pub use hpm_protocol::release::{ImportReport, ImportedPackage};
use hpm_protocol::report::Progress;

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::fsutil::read_text;
use crate::git::detach::{git_error, Detach};
use crate::ops::edit::{FileEdit, FileEdits};
use crate::ops::sync::{self, Request};
use crate::transaction::{self, Transaction};
use crate::workspace::Workspace;

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

const REGISTRY_FOLDER: &str = "hpm-registry";

/// Imports the product at `root`, and syncs it (in the mode the new
/// manifest names) unless asked not to: `check` then passes on what it
/// leaves. A failure anywhere, the first sync's included, undoes it all;
/// so does the next hpm command in `root` after a killed import: the
/// detached submodules and every file written are journaled first, in
/// the transaction the first sync commits ([`Transaction::journal_edits`]).
pub fn import(
    caller: &Caller,
    root: &Path,
    request: &ImportRequest,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let workspace = Workspace::importing(root)?.for_caller(caller.clone());
    if request.dry_run {
        if transaction::interrupted(&workspace).is_some() {
            return Err(Error::Refused {
                message: format!(
                    "an earlier hpm command in `{}` was interrupted, and a dry run would read the files it left half-written",
                    workspace.root().display()
                ),
                hint: Some("`hpmctl import` puts back what it left first, then imports; a dry run changes nothing, so it cannot".to_string()),
            });
        }
        return Ok(match plan(&workspace, request)? {
            Planned::DetachOnly { report, .. } => report,
            Planned::Import { mut report, edits } => {
                report.diffs = edits.diffs(workspace.root());
                report
            }
        });
    }
    let made_state_dir = !workspace.state_dir().exists();
    let imported = import_locked(&workspace, request, on_progress);
    // A refused or undone import leaves no folder of hpm's (unless a
    // journal still waits in it: the next run puts that back).
    if imported.is_err() && made_state_dir && !transaction::pending(&workspace) {
        let _ = std::fs::remove_dir_all(workspace.state_dir());
    }
    imported
}

/// The import under the workspace lock, after putting back a killed one.
fn import_locked(
    workspace: &Workspace,
    request: &ImportRequest,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport> {
    let root = workspace.root();
    let (mut transaction, recovery) = Transaction::begin(workspace)?;
    if let Some(recovery) = recovery {
        on_progress(Progress::Recovered(recovery));
    }
    let (mut report, edits) = match plan(workspace, request)? {
        Planned::DetachOnly { report, paths } => {
            let detach = Detach::read(root, &paths)?;
            transaction.journal_edits([], Some(&detach))?;
            detach.apply(root)?;
            transaction.commit()?;
            return Ok(report);
        }
        Planned::Import { report, edits } => (report, edits),
    };
    let detach = match request.detach_submodules {
        true => Some(Detach::read(root, &report.detached)?),
        false => None,
    };
    transaction.journal_edits(edits.journaled(), detach.as_ref())?;
    // A failure from here drops the transaction, which puts back every
    // file written and every submodule detached.
    if let Some(detach) = &detach {
        detach.apply(root)?;
    }
    edits.write()?;
    if request.no_sync {
        transaction.commit()?;
        return Ok(report);
    }
    let cancel = crate::process::CancelToken::new();
    match sync::reconcile(
        workspace,
        &Request::sync(),
        transaction,
        on_progress,
        &cancel,
    ) {
        Ok(synced) => {
            report.synced = Some(synced.report);
            Ok(report)
        }
        Err(error) => Err(undone_after_sync(error)),
    }
}

/// What an import will do, read and computed; nothing written.
enum Planned {
    /// The workspace is imported already: only its submodules are detached.
    DetachOnly {
        report: ImportReport,
        paths: Vec<String>,
    },
    Import {
        report: ImportReport,
        edits: FileEdits,
    },
}

fn plan(workspace: &Workspace, request: &ImportRequest) -> Result<Planned> {
    let root = workspace.root();
    let manifest_path = workspace.manifest_path();
    let core_path = root.join(PYPROJECT_FILE);
    let core_text = read_text(&core_path).map_err(|e| Error::read(&core_path, e))?;
    let packages = find_packages(root, &core_text)?;
    if manifest_path.exists() {
        return plan_detach_only(&manifest_path, &packages, request);
    }
    if packages.is_empty() {
        return Err(Error::Refused {
            message: format!("found no internal package under `{}` (no submodule, no git clone in `[tool.uv.workspace] members`)", root.display()),
            hint: Some("`hpmctl init` starts an empty workspace; `hpmctl add` adds packages".to_string()),
        });
    }
    let mode_files = mode_files(root, request)?;
    let imported = compute(ImportInput {
        core_text: &core_text,
        core_path: &core_path,
        packages: &packages,
        mode_files: &mode_files,
        uv_args: &request.uv_args,
        registry_folder: REGISTRY_FOLDER,
    })?;
    let caller = workspace.caller();
    let mut notes = imported.notes.clone();
    notes.extend(missing_tags(caller, &imported.entries));
    notes.extend(unlockable(caller, root, &mode_files));

    let files = written_files(workspace, &imported, core_text);
    let report = ImportReport {
        packages: packages
            .iter()
            .map(|p| ImportedPackage {
                name: p.name.clone(),
                path: p.path.clone(),
                url: p.url.clone(),
                submodule: p.submodule,
            })
            .collect(),
        written: files.iter().map(|file| file.path.clone()).collect(),
        diffs: Vec::new(),
        notes,
        detached: match request.detach_submodules {
            true => submodule_paths(&packages),
            false => Vec::new(),
        },
        synced: None,
    };
    let edits = FileEdits {
        files,
        ..FileEdits::default()
    };
    Ok(Planned::Import { report, edits })
}

/// The per-mode pyproject files the import reads: `staging/` and `prod/`
/// when present, and those the request names.
fn mode_files(root: &Path, request: &ImportRequest) -> Result<Vec<ModeFile>> {
    let mut wanted: Vec<(Mode, String)> = ["staging", "prod"]
        .iter()
        .filter(|mode| !request.modes.iter().any(|(m, _)| m.as_str() == **mode))
        .filter(|mode| root.join(mode).join(PYPROJECT_FILE).is_file())
        .filter_map(|mode| Some((Mode::new(mode).ok()?, format!("{mode}/{PYPROJECT_FILE}"))))
        .collect();
    wanted.extend(request.modes.iter().cloned());
    wanted
        .into_iter()
        .map(|(mode, path)| {
            let full = root.join(&path);
            let text = read_text(&full).map_err(|e| Error::read(&full, e))?;
            Ok(ModeFile { mode, path, text })
        })
        .collect()
}

/// What the import writes: `hpm.yaml` and a registry entry per package
/// (new files), and the core's `pyproject.toml` when it changes.
fn written_files(workspace: &Workspace, imported: &Imported, core_text: String) -> Vec<FileEdit> {
    let root = workspace.root();
    let new_file = |path: PathBuf, after: String| FileEdit {
        path,
        before: None,
        after: Some(after),
    };
    let mut files = vec![new_file(
        workspace.manifest_path(),
        imported.manifest.clone(),
    )];
    if imported.pyproject != core_text {
        files.push(FileEdit {
            path: root.join(PYPROJECT_FILE),
            before: Some(core_text),
            after: Some(imported.pyproject.clone()),
        });
    }
    for entry in &imported.entries {
        let path = root
            .join(REGISTRY_FOLDER)
            .join(format!("{}.yaml", entry.name));
        files.push(new_file(path, entry.to_yaml()));
    }
    files
}

/// A workspace with `hpm.yaml` already: `--detach-submodules` detaches
/// the submodules left (every one, or none) and hpm's files stay as they
/// are; anything else is refused.
fn plan_detach_only(
    manifest_path: &Path,
    packages: &[FoundPackage],
    request: &ImportRequest,
) -> Result<Planned> {
    let submodules: Vec<&FoundPackage> = packages.iter().filter(|p| p.submodule).collect();
    if request.detach_submodules && !submodules.is_empty() {
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
        return Ok(Planned::DetachOnly { report, paths });
    }
    let hint = match (request.detach_submodules, submodules.is_empty()) {
        (true, true) => "there is no submodule left to detach; edit hpm.yaml, or `hpmctl add` packages",
        (false, false) => "hpm left everything as it is; `hpmctl import --detach-submodules` detaches the submodules now, or edit hpm.yaml / `hpmctl add` packages",
        _ => "hpm left everything as it is; edit hpm.yaml, or `hpmctl add` packages",
    };
    Err(Error::Refused {
        message: format!(
            "`{}` exists: this workspace is imported already",
            manifest_path.display()
        ),
        hint: Some(hint.to_string()),
    })
}

/// The error of a first sync that failed, saying the import was undone
/// and how to go on.
fn undone_after_sync(error: Error) -> Error {
    Error::Refused {
        message: format!(
            "the imported workspace's first sync failed, so the import was undone: {error}"
        ),
        hint: Some(error.hint().map_or_else(
            || "fix the cause, then import again; `hpmctl import --no-sync` writes the files without syncing".to_string(),
            |hint| format!("{hint}; then import again (`--no-sync` writes the files without syncing)"),
        )),
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
    refuse_paths_outside(root)?;
    let mut found = Found {
        root,
        packages: Vec::new(),
    };
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
            found.add(Candidate {
                path: submodule.path().display().to_string(),
                url: submodule.url().ok().flatten().map(str::to_string),
                submodule: gitlink(submodule.path()),
                tracked: submodule.branch().ok().flatten().map(str::to_string),
            });
        }
    }
    let members = PyprojectMut::parse(core_text, &root.join(PYPROJECT_FILE))
        .map_err(Error::from)?
        .workspace_members();
    for pattern in members {
        for path in member_folders(root, &pattern) {
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
            found.add(Candidate {
                path,
                url,
                submodule: false,
                tracked: None,
            });
        }
    }
    Ok(found.packages)
}

/// A folder that may hold an internal package.
struct Candidate {
    path: String,
    url: Option<String>,
    submodule: bool,
    /// The branch `.gitmodules` names; else the one the clone is on.
    tracked: Option<String>,
}

/// The packages found so far in the core at `root`.
struct Found<'a> {
    root: &'a Path,
    packages: Vec<FoundPackage>,
}

impl Found<'_> {
    /// Adds the candidate when its folder holds a named project and was
    /// not found already.
    fn add(&mut self, candidate: Candidate) {
        if self.packages.iter().any(|p| p.path == candidate.path) {
            return;
        }
        let folder = self.root.join(&candidate.path);
        let Some(name) = read_text(&folder.join(PYPROJECT_FILE))
            .ok()
            .and_then(|text| ProjectMeta::read(&text).ok())
            .and_then(|meta| meta.name)
        else {
            return;
        };
        let branch = candidate.tracked.or_else(|| clone_branch(&folder));
        self.packages.push(FoundPackage {
            name,
            path: candidate.path,
            url: candidate.url,
            submodule: candidate.submodule,
            branch,
        });
    }
}

/// The folders a `[tool.uv.workspace] members` glob matches, sorted
/// (member globs are folders: the pattern's literal parent is walked).
fn member_folders(root: &Path, pattern: &str) -> Vec<String> {
    let Ok(pattern) = glob::Pattern::new(pattern.trim_end_matches('/')) else {
        return Vec::new();
    };
    let base = pattern
        .as_str()
        .split(['*', '?', '['])
        .next()
        .unwrap_or_default();
    let base = base.rsplit_once('/').map_or("", |(parent, _)| parent);
    let Ok(entries) = std::fs::read_dir(root.join(base)) else {
        return Vec::new();
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
    folders
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
    let Ok(uv) = crate::uv::Uv::for_caller(caller) else {
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
