//! The workspace as it is: the plan, what the environment has installed,
//! each dev clone's git state, and whether the last sync still matches the
//! inputs (or an interrupted one waits to be rolled back). Changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use hpm_core::plan::{Plan, PlannedPackage, PlannedSource};
use hpm_core::pyproject::{PyprojectMut, PYPROJECT_FILE};
use hpm_core::registry::SourceSpec;
use hpm_core::version::satisfies;
use hpm_core::PackageName;
use hpm_protocol::report::{PackageStatus, RepoState, StatusReport, UnusedClone, WatchMode};

use crate::error::Result;
use crate::git::repo::{git_stamp, repo_state, GitStamp};
use crate::inputs::Inputs;
use crate::workspace::Workspace;

/// Each dev clone's git state as someone (the daemon's watcher) last read
/// it, by absolute folder, with the stamp of its git files then: a state
/// whose stamp still holds is used without re-reading the clone.
pub type RepoCache = HashMap<PathBuf, (RepoState, Option<GitStamp>)>;

/// One installed distribution: its version and, per PEP 610, where it came from.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub version: String,
    pub direct_url: Option<serde_json::Value>,
}

/// Reads the workspace's status without changing anything.
pub fn status(workspace: &Workspace) -> Result<StatusReport> {
    status_with(workspace, &RepoCache::new(), None)
}

/// The status, taking each dev clone's git state from `cached` where its
/// stamp holds; `watching` is how a daemon watches the workspace.
pub fn status_with(
    workspace: &Workspace,
    cached: &RepoCache,
    watching: Option<WatchMode>,
) -> Result<StatusReport> {
    let started = std::time::Instant::now();
    let inputs = Inputs::read(workspace)?;
    let (mode, plan) = inputs.current_plan(workspace)?;
    let in_sync = inputs.matches_last_sync(workspace, &plan);
    let installed = installed_distributions(&workspace.venv_path());
    let repos = repo_states(workspace.root(), &plan.packages, cached);
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
                required_by: package.required_by.clone(),
                linked_by: package.linked_by.clone(),
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
        modes: inputs.registry.modes(&mode),
        mode,
        in_sync,
        interrupted: crate::transaction::interrupted(workspace),
        watching,
        unused_clones: unused_clones(workspace.root(), &inputs, &plan),
        packages,
    })
}

/// Clones on disk the plan does not use as a source.
fn unused_clones(root: &Path, inputs: &Inputs, plan: &Plan) -> Vec<UnusedClone> {
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
            if let SourceSpec::Local { path, .. } = source {
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
    let path = folder.join(PYPROJECT_FILE);
    let text = crate::fsutil::read_text(&path).ok()?;
    PyprojectMut::parse(&text, &path)
        .ok()?
        .project_name()
        .map(str::to_string)
}

/// Normalized name → every distribution in a virtual environment, read from
/// the `*.dist-info` folders in its site-packages.
pub fn installed_distributions(venv: &Path) -> BTreeMap<PackageName, Installed> {
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
                let direct_url = crate::fsutil::read_file(&entry.path().join("direct_url.json"))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok());
                installed.insert(
                    PackageName::key(name),
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

/// Whether an installed distribution came from `source` (PEP 610): the
/// folders are compared as the file system resolves them.
fn installed_matches(root: &Path, source: &PlannedSource, installed: &Installed) -> bool {
    let resolve = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let planned_folder = source.local_path().map(|path| resolve(&root.join(path)));
    // PEP 610 URLs are percent-encoded (`my%20libs`): read them as URLs.
    let installed_folder = installed
        .direct_url
        .as_ref()
        .and_then(|d| d["url"].as_str())
        .and_then(|url| url::Url::parse(url).ok())
        .and_then(|url| url.to_file_path().ok())
        .map(|path| resolve(&path));
    came_from(
        source,
        installed,
        planned_folder.as_deref(),
        installed_folder.as_deref(),
    )
}

/// [`installed_matches`] once the folders are resolved: a path source
/// matches an editable-as-planned install of the same folder; a git source
/// the same URL at the requested revision; an index source an install
/// from an index whose version satisfies the specifier.
fn came_from(
    source: &PlannedSource,
    installed: &Installed,
    planned_folder: Option<&Path>,
    installed_folder: Option<&Path>,
) -> bool {
    let direct = installed.direct_url.as_ref();
    let url = direct.and_then(|d| d["url"].as_str()).unwrap_or_default();
    match source {
        PlannedSource::Path { editable, .. } => {
            let installed_editable = direct
                .and_then(|d| d["dir_info"]["editable"].as_bool())
                .unwrap_or(false);
            planned_folder.is_some()
                && planned_folder == installed_folder
                && installed_editable == *editable
        }
        PlannedSource::Git {
            url: planned,
            reference,
            ..
        } => {
            let requested = direct.and_then(|d| d["vcs_info"]["requested_revision"].as_str());
            url.trim_start_matches("git+") == planned && requested == reference.name()
        }
        PlannedSource::Index { version, .. } => {
            let from_index = direct.is_none();
            let satisfies = version
                .as_deref()
                .is_none_or(|specifiers| satisfies(&installed.version, specifiers));
            from_index && satisfies
        }
    }
}

/// Each package's clone state (`None` for non-local sources); a clone whose
/// git stamp matches the cached one keeps its cached state.
fn repo_states(
    root: &Path,
    packages: &[PlannedPackage],
    cached: &RepoCache,
) -> Vec<Option<RepoState>> {
    on_every_core(packages, |package| match &package.source {
        PlannedSource::Path { path, .. } => {
            let folder = root.join(path);
            match cached.get(&folder) {
                Some((state, Some(stamp))) if git_stamp(&folder).as_ref() == Some(stamp) => {
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
}

/// The report with every clone's state read again from its work tree, or
/// `None` when nothing changed: what a `fresh` status adds to a cached one,
/// so that a file saved a moment ago is seen before the watcher reports it.
pub fn reread_repos(root: &Path, report: &StatusReport) -> Option<StatusReport> {
    let states = on_every_core(&report.packages, |package| {
        let path = package.source.local_path()?;
        repo_state(&root.join(path), path)
    });
    let changed = report
        .packages
        .iter()
        .zip(&states)
        .any(|(package, state)| package.repo != *state);
    changed.then(|| {
        let mut report = report.clone();
        for (package, state) in report.packages.iter_mut().zip(states) {
            package.repo = state;
        }
        report
    })
}

/// `each` applied to every item on as many threads as there are cores (a
/// clone costs a work-tree scan), in order; a chunk whose thread crashed
/// gives `None` for its items.
fn on_every_core<T: Sync, R: Send>(
    items: &[T],
    each: impl Fn(&T) -> Option<R> + Sync,
) -> Vec<Option<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(1);
    let each = &each;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|chunk| {
                let handle = scope.spawn(move || chunk.iter().map(each).collect::<Vec<_>>());
                (chunk.len(), handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, handle)| {
                handle
                    .join()
                    .unwrap_or_else(|_| std::iter::repeat_with(|| None).take(len).collect())
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpm_core::registry::GitRef;

    fn installed(version: &str, direct_url: Option<serde_json::Value>) -> Installed {
        Installed {
            version: version.into(),
            direct_url,
        }
    }

    #[test]
    fn a_path_source_matches_an_editable_install_of_the_same_folder() {
        let source = PlannedSource::Path {
            path: "packages/a".into(),
            editable: true,
            member: false,
        };
        let editable = installed(
            "1.0",
            Some(
                serde_json::json!({"url": "file:///w/packages/a", "dir_info": {"editable": true}}),
            ),
        );
        let here = Some(Path::new("/w/packages/a"));
        assert!(came_from(&source, &editable, here, here));
        assert!(!came_from(
            &source,
            &editable,
            here,
            Some(Path::new("/elsewhere"))
        ));
        let copied = installed(
            "1.0",
            Some(serde_json::json!({"url": "file:///w/packages/a", "dir_info": {}})),
        );
        assert!(!came_from(&source, &copied, here, here));
        assert!(!came_from(&source, &installed("1.0", None), here, None));
    }

    /// Regression: every package under a path with spaces or non-ASCII
    /// characters showed "(stale)": the percent-encoded URL was compared raw.
    #[test]
    fn a_percent_encoded_install_url_is_read_as_the_folder_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("my libs").join("plugin-ä");
        std::fs::create_dir_all(&folder).unwrap();
        let url = url::Url::from_file_path(&folder).unwrap().to_string();
        assert!(url.contains("my%20libs"), "{url}");
        let source = PlannedSource::Path {
            path: "my libs/plugin-ä".into(),
            editable: true,
            member: false,
        };
        let editable = installed(
            "1.0",
            Some(serde_json::json!({"url": url, "dir_info": {"editable": true}})),
        );
        assert!(installed_matches(dir.path(), &source, &editable));
    }

    #[test]
    fn a_git_source_matches_the_same_url_at_the_requested_revision() {
        let source = PlannedSource::Git {
            url: "file:///r/a.git".into(),
            reference: GitRef::Tag("v1.0.0".into()),
            subdirectory: None,
        };
        let at = |rev: &str| {
            installed(
                "1.0.0",
                Some(
                    serde_json::json!({"url": "git+file:///r/a.git", "vcs_info": {"vcs": "git", "requested_revision": rev}}),
                ),
            )
        };
        assert!(came_from(&source, &at("v1.0.0"), None, None));
        assert!(!came_from(&source, &at("v1.1.0.dev0"), None, None));
    }

    #[test]
    fn an_index_source_matches_an_index_install_within_its_specifier() {
        let source = PlannedSource::Index {
            version: Some("==1.0.0".into()),
            index: None,
        };
        assert!(came_from(&source, &installed("1.0.0", None), None, None));
        assert!(!came_from(&source, &installed("1.1.0", None), None, None));
        let from_git = installed("1.0.0", Some(serde_json::json!({"url": "git+file:///r"})));
        assert!(!came_from(&source, &from_git, None, None));
    }
}
