//! The workspace as it is: the plan, what the environment has installed, and
//! whether the last sync still matches the inputs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::engine::{file_stamp, fingerprint, FileStamp, Inputs, SyncRequest};
use crate::error::Result;
use crate::hub::WatchMode;
use crate::live::SharedLiveView;
use crate::manifest::Mode;
use std::str::FromStr;

use crate::plan::{GitReference, PlannedSource};
use crate::registry::normalize_name;
use crate::workspace::Workspace;

/// `hpmctl status --json`; field names are stable (documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub workspace: String,
    pub mode: Mode,
    /// Whether the inputs still match the last successful sync.
    pub in_sync: bool,
    /// How the daemon watches the workspace (`native` or `polling`);
    /// absent when no daemon does (`--no-daemon`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watching: Option<WatchMode>,
    pub packages: Vec<PackageStatus>,
    /// Clones on disk that the current plan does not use: a registry
    /// entry's local source in another mode, or a folder in `packages_dir`.
    pub unused_clones: Vec<UnusedClone>,
}

/// A clone present on disk but not used by the current mode.
#[derive(Debug, Clone, Serialize)]
pub struct UnusedClone {
    /// The package it holds, from the registry or its `pyproject.toml`.
    pub package: Option<String>,
    pub repo: RepoState,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageStatus {
    pub name: String,
    pub group: Option<String>,
    pub mode: Mode,
    pub source: PlannedSource,
    pub requirement: String,
    /// The version in the environment, `None` when it is not installed.
    pub installed_version: Option<String>,
    /// Whether what is installed came from the planned source (`None` when
    /// nothing is installed).
    pub installed_matches: Option<bool>,
    /// For a local source: the clone's git state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoState>,
}

/// A local clone's git state, relative to its upstream branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoState {
    pub path: String,
    /// The checked-out branch; `None` on a detached HEAD.
    pub branch: Option<String>,
    /// The commit checked out (12 hex digits).
    pub head: Option<String>,
    /// Uncommitted changes, untracked files included.
    pub dirty: bool,
    /// Commits ahead of and behind the upstream; `None` without one.
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// A cheap fingerprint of a clone's git state files (size and mtime of
/// `HEAD`, `index`, `packed-refs`, `FETCH_HEAD`, the checked-out branch's ref
/// and its `origin` counterpart): a cached [`RepoState`] with an equal stamp
/// still holds for branch, head and ahead/behind, and for dirtiness as far as
/// the index knows (work-tree edits reach the cache through the watcher).
/// `None` when the clone has no plain `.git` folder.
pub type GitStamp = Vec<Option<(u64, std::time::SystemTime)>>;

pub fn git_stamp(folder: &Path) -> Option<GitStamp> {
    let git = folder.join(".git");
    if !git.is_dir() {
        return None;
    }
    let head = std::fs::read_to_string(git.join("HEAD")).unwrap_or_default();
    let branch_ref = head.strip_prefix("ref: ").map(str::trim);
    let mut files = vec![
        git.join("HEAD"),
        git.join("index"),
        git.join("packed-refs"),
        git.join("FETCH_HEAD"),
    ];
    if let Some(reference) = branch_ref {
        files.push(git.join(reference));
        if let Some(branch) = reference.strip_prefix("refs/heads/") {
            files.push(git.join("refs/remotes/origin").join(branch));
        }
    }
    Some(
        files
            .iter()
            .map(|file| {
                let metadata = std::fs::metadata(file).ok()?;
                Some((metadata.len(), metadata.modified().ok()?))
            })
            .collect(),
    )
}

/// One installed distribution: its version and, per PEP 610, where it came from.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub version: String,
    pub direct_url: Option<serde_json::Value>,
}

/// The status as serialized JSON, served from the live view's cache while nothing it
/// depends on has changed: the watcher's generation (every change it
/// reported: inputs, registry entries, dev clones' files and git state,
/// jobs) and the stamps of the files it does not watch or may not have
/// reported yet (`hpm.yaml`, `pyproject.toml`, `uv.lock`, hpm's state, the
/// environment's site-packages). A change in a dev clone reaches the cache
/// when the watcher reports it, after its debounce ([`crate::hub::DEBOUNCE`]);
/// `fresh` also compares each dev clone's [`GitStamp`], which costs a few
/// file reads per clone, so that a commit made just before is seen. A
/// workspace watched by polling, or not watched yet, is read afresh every
/// time.
pub fn status_cached(
    workspace: &Workspace,
    live: &SharedLiveView,
    fresh: bool,
) -> Result<Box<RawValue>> {
    if let Some(report) = cached_status(workspace, live, fresh) {
        return Ok(report);
    }
    let generation = {
        let view = crate::lock(live);
        if view.watching != Some(WatchMode::Native) {
            drop(view);
            return to_raw(&status_with(workspace, Some(live))?);
        }
        view.generation
    };
    let report = status_with(workspace, Some(live))?;
    let clones: Vec<PathBuf> = report
        .packages
        .iter()
        .filter_map(|package| match &package.source {
            PlannedSource::Path { path, .. } => Some(workspace.root().join(path)),
            _ => None,
        })
        .collect();
    // Taken after the report: a change in between makes the cache miss.
    let stamps = StatusStamps {
        files: file_stamps(workspace),
        clones: git_stamps(&clones),
    };
    let report = to_raw(&report)?;
    let mut view = crate::lock(live);
    // Kept only if the watcher reported nothing while it was computed.
    if view.generation == generation {
        view.status = Some(crate::live::CachedStatus {
            generation,
            clones,
            stamps,
            report: report.clone(),
        });
    }
    Ok(report)
}

/// The cached report while it holds (see [`status_cached`]). Without
/// `fresh` this is a few `stat` calls, cheap enough for an async task.
pub fn cached_status(
    workspace: &Workspace,
    live: &SharedLiveView,
    fresh: bool,
) -> Option<Box<RawValue>> {
    let started = std::time::Instant::now();
    let files = file_stamps(workspace);
    let clones = if fresh {
        let clones = crate::lock(live).status.as_ref()?.clones.clone();
        Some(git_stamps(&clones))
    } else {
        None
    };
    let view = crate::lock(live);
    let cached = view.status.as_ref()?;
    let holds = view.watching == Some(WatchMode::Native)
        && cached.generation == view.generation
        && cached.stamps.files == files
        && clones.is_none_or(|clones| clones == cached.stamps.clones);
    let report = holds.then(|| cached.report.clone());
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        fresh,
        hit = report.is_some(),
        "status from the cache"
    );
    report
}

fn to_raw(report: &StatusReport) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(report).map_err(|e| crate::error::Error::Internal {
        message: format!("cannot encode the status report: {e}"),
    })
}

/// What a cached status is checked against: see [`status_cached`].
#[derive(Debug, PartialEq, Eq)]
pub struct StatusStamps {
    files: Vec<FileStamp>,
    clones: Vec<Option<GitStamp>>,
}

fn file_stamps(workspace: &Workspace) -> Vec<FileStamp> {
    let mut files = vec![
        file_stamp(&workspace.manifest_path()),
        file_stamp(&workspace.pyproject_path()),
        file_stamp(&workspace.uv_lock_path()),
        file_stamp(&workspace.state_path()),
        file_stamp(&workspace.state_dir().join(crate::git_registry::PINS_FILE)),
    ];
    if let Ok(libs) = std::fs::read_dir(workspace.venv_path().join("lib")) {
        for python in libs.flatten() {
            files.push(file_stamp(&python.path().join("site-packages")));
        }
    }
    files
}

fn git_stamps(clones: &[PathBuf]) -> Vec<Option<GitStamp>> {
    clones.iter().map(|clone| git_stamp(clone)).collect()
}

/// Reads the workspace's status without changing anything.
pub fn status(workspace: &Workspace) -> Result<StatusReport> {
    status_with(workspace, None)
}

/// The status, taking each dev clone's git state from the daemon's live
/// view (which its watcher keeps current) where it has one.
pub fn status_with(workspace: &Workspace, live: Option<&SharedLiveView>) -> Result<StatusReport> {
    let (cached, watching) = match live {
        Some(live) => {
            let view = crate::lock(live);
            (view.repos.clone(), view.watching)
        }
        None => (HashMap::new(), None),
    };
    let started = std::time::Instant::now();
    let inputs = Inputs::read(workspace)?;
    let request = SyncRequest::default();
    let mode = inputs.mode(&request);
    let plan = inputs.resolve(workspace, &mode, &inputs.overrides(&request))?;
    let in_sync = inputs
        .state
        .last_sync
        .as_ref()
        .is_some_and(|last| last.fingerprint == fingerprint(workspace, &inputs, &plan));
    let installed = installed_distributions(&workspace.venv_path());
    let repos = repo_states(workspace.root(), &plan.packages, &cached);
    let packages: Vec<PackageStatus> = plan
        .packages
        .iter()
        .zip(repos)
        .map(|(package, repo)| {
            let dist = installed.get(&package.key);
            PackageStatus {
                name: package.name.clone(),
                group: package.group.clone(),
                mode: package.mode.clone(),
                source: package.source.clone(),
                requirement: package.requirement(),
                installed_version: dist.map(|d| d.version.clone()),
                installed_matches: dist
                    .map(|d| installed_matches(workspace.root(), &package.source, d)),
                repo,
            }
        })
        .collect();
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        packages = packages.len(),
        "status"
    );
    Ok(StatusReport {
        workspace: workspace.root().display().to_string(),
        mode,
        in_sync,
        watching,
        unused_clones: unused_clones(workspace.root(), &inputs, &plan),
        packages,
    })
}

/// Clones on disk the plan does not use as a source.
fn unused_clones(root: &Path, inputs: &Inputs, plan: &crate::plan::Plan) -> Vec<UnusedClone> {
    let used: std::collections::HashSet<std::path::PathBuf> = plan
        .packages
        .iter()
        .filter_map(|package| match &package.source {
            PlannedSource::Path { path, .. } => Some(root.join(path)),
            _ => None,
        })
        .collect();
    // Folder → (as written, package), registry entries first.
    let mut candidates: BTreeMap<std::path::PathBuf, (String, Option<String>)> = BTreeMap::new();
    for entry in inputs.registry.entries() {
        for source in entry.sources.values() {
            if let crate::registry::SourceSpec::Local { path, .. } = source {
                candidates
                    .entry(root.join(path))
                    .or_insert_with(|| (path.clone(), Some(entry.name.clone())));
            }
        }
    }
    let packages_dir = &inputs.manifest.settings.packages_dir;
    if let Ok(folders) = std::fs::read_dir(root.join(packages_dir)) {
        for folder in folders.flatten() {
            let relative = format!("{packages_dir}/{}", folder.file_name().to_string_lossy());
            candidates.entry(folder.path()).or_insert((relative, None));
        }
    }
    candidates
        .into_iter()
        .filter(|(folder, _)| !used.contains(folder))
        .filter_map(|(folder, (relative, package))| {
            let repo = repo_state(&folder, &relative)?;
            let package = package.or_else(|| project_name(&folder));
            Some(UnusedClone { package, repo })
        })
        .collect()
}

/// `[project].name` of the `pyproject.toml` in `folder`.
fn project_name(folder: &Path) -> Option<String> {
    let path = folder.join(crate::pyproject::PYPROJECT_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    crate::pyproject::PyprojectMut::parse(&text, &path)
        .ok()?
        .project_name()
        .map(str::to_string)
}

/// Normalized name → every distribution in a virtual environment, read from
/// the `*.dist-info` folders in its site-packages.
pub fn installed_distributions(venv: &Path) -> BTreeMap<String, Installed> {
    let mut installed = BTreeMap::new();
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else {
        return installed;
    };
    for python in libs.flatten() {
        let Ok(entries) = std::fs::read_dir(python.path().join("site-packages")) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(stem) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(".dist-info"))
            else {
                continue;
            };
            if let Some((name, version)) = stem.rsplit_once('-') {
                let direct_url = std::fs::read(entry.path().join("direct_url.json"))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok());
                installed.insert(
                    normalize_name(name),
                    Installed {
                        version: version.to_string(),
                        direct_url,
                    },
                );
            }
        }
    }
    installed
}

/// Whether an installed distribution came from `source` (PEP 610).
fn installed_matches(root: &Path, source: &PlannedSource, installed: &Installed) -> bool {
    let direct = installed.direct_url.as_ref();
    let url = direct.and_then(|d| d["url"].as_str()).unwrap_or_default();
    match source {
        PlannedSource::Path { path, editable } => {
            let planned =
                std::fs::canonicalize(root.join(path)).unwrap_or_else(|_| root.join(path));
            let installed_path = url.strip_prefix("file://").map(Path::new);
            let same_folder = installed_path
                .is_some_and(|p| std::fs::canonicalize(p).is_ok_and(|p| p == planned));
            let installed_editable = direct
                .and_then(|d| d["dir_info"]["editable"].as_bool())
                .unwrap_or(false);
            same_folder && installed_editable == *editable
        }
        PlannedSource::Git {
            url: planned,
            reference,
            ..
        } => {
            let requested = direct.and_then(|d| d["vcs_info"]["requested_revision"].as_str());
            let wanted = match reference {
                GitReference::Tag(r)
                | GitReference::Branch(r)
                | GitReference::Rev(r)
                | GitReference::Ref(r) => Some(r.as_str()),
                GitReference::Default => None,
            };
            url.trim_start_matches("git+") == planned && requested == wanted
        }
        PlannedSource::Index { version, .. } => {
            let from_index = direct.is_none();
            let satisfies = match version {
                Some(specifiers) => match (
                    pep440_rs::VersionSpecifiers::from_str(specifiers),
                    pep440_rs::Version::from_str(&installed.version),
                ) {
                    (Ok(specifiers), Ok(version)) => specifiers.contains(&version),
                    _ => false,
                },
                None => true,
            };
            from_index && satisfies
        }
    }
}

/// Each package's clone state (`None` for non-local sources), computed on
/// as many threads as there are cores: each clone costs a work-tree scan.
fn repo_states(
    root: &Path,
    packages: &[crate::plan::PlannedPackage],
    cached: &HashMap<std::path::PathBuf, (RepoState, Option<GitStamp>)>,
) -> Vec<Option<RepoState>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = packages.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = packages
            .chunks(chunk)
            .map(|chunk| {
                let handle = scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|package| match &package.source {
                            PlannedSource::Path { path, .. } => {
                                let folder = root.join(path);
                                match cached.get(&folder) {
                                    Some((state, Some(stamp)))
                                        if git_stamp(&folder).as_ref() == Some(stamp) =>
                                    {
                                        Some(RepoState {
                                            path: path.clone(),
                                            ..state.clone()
                                        })
                                    }
                                    _ => repo_state(&folder, path),
                                }
                            }
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                });
                (chunk.len(), handle)
            })
            .collect();
        // A chunk that crashed reports no repo state, keeping the order.
        handles
            .into_iter()
            .flat_map(|(len, handle)| handle.join().unwrap_or_else(|_| vec![None; len]))
            .collect()
    })
}

/// The git state of the clone at `folder`, `None` when it is not a repository.
pub fn repo_state(folder: &Path, path: &str) -> Option<RepoState> {
    let repo = git2::Repository::open(folder).ok()?;
    let head = repo.head().ok();
    let branch = head
        .as_ref()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_string));
    let head_id = head.as_ref().and_then(|h| h.target());
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let dirty = repo
        .statuses(Some(&mut options))
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let (ahead, behind) = branch
        .as_deref()
        .and_then(|name| repo.find_branch(name, git2::BranchType::Local).ok())
        .and_then(|local| local.upstream().ok())
        .and_then(|upstream| upstream.get().target())
        .zip(head_id)
        .and_then(|(upstream, local)| repo.graph_ahead_behind(local, upstream).ok())
        .map_or((None, None), |(ahead, behind)| (Some(ahead), Some(behind)));
    Some(RepoState {
        path: path.to_string(),
        branch,
        head: head_id.map(|id| id.to_string()[..12].to_string()),
        dirty,
        ahead,
        behind,
    })
}
