//! On-demand cloning of dev packages: a package put into a mode whose source
//! is a local folder that does not exist yet is cloned there from its
//! registry entry's `repo` (or, failing that, its git source), with
//! progress. An existing folder is used as it is and never touched,
//! whatever it holds; one with uncommitted changes is reported.

use std::path::{Path, PathBuf};

use hpm_core::manifest::Settings;
use hpm_core::paths;
use hpm_core::plan::{Plan, PlannedSource};
use hpm_core::registry::{Registry, SourceSpec};
use hpm_core::url::check_git_url;
use hpm_core::{Invalid, PackageName, Problem};
use hpm_protocol::report::{Phase, PlannedClone};

use crate::error::{Error, Result};
use crate::git::clone::clone_into;
use crate::git::repo::repo_state;
use crate::workspace::Workspace;

/// The clones `plan` needs: local sources of `packages` whose folder is
/// missing. A missing folder with no URL to clone from is left to validation,
/// which reports it. A folder outside the workspace is cloned only when
/// the user's own `hpm.yaml` allows it: its `settings.packages_dir`, or a
/// folder in `settings.allow_clones_outside` for a path a registry names.
pub fn missing_clones(
    root: &Path,
    plan: &Plan,
    registry: &Registry,
    packages: &[PackageName],
    settings: &Settings,
) -> Result<Vec<PlannedClone>> {
    let mut problems = Vec::new();
    let mut clones = Vec::new();
    for package in plan.packages.iter().filter(|p| packages.contains(&p.key)) {
        let Some(path) = package.source.local_path() else {
            continue;
        };
        if root.join(path).exists() {
            continue;
        }
        let Some((entry, origin)) = registry.get(&package.name) else {
            continue;
        };
        let url = entry.repo.clone().or_else(|| {
            entry.sources.values().find_map(|source| match source {
                SourceSpec::Git { url, .. } => Some(url.clone()),
                _ => None,
            })
        });
        let Some(url) = url else {
            continue;
        };
        let from_registry = matches!(
            entry.sources.get(&package.mode),
            Some(SourceSpec::Local { .. })
        );
        let allowed_by = if paths::is_inside(root, path) {
            None
        } else if !from_registry {
            Some("`hpm.yaml` (settings.packages_dir)".to_string())
        } else if let Some(folder) = paths::allowed_by(root, path, &settings.allow_clones_outside) {
            Some(format!(
                "`hpm.yaml` (settings.allow_clones_outside: {folder})"
            ))
        } else {
            problems.push(
                Problem::new(format!(
                    "its dev path `{path}` is outside the workspace; hpm clones there only when your `hpm.yaml` allows it"
                ))
                .in_file(origin.label())
                .for_package(&package.name)
                .hint(format!(
                    "add the folder to `settings.allow_clones_outside` in hpm.yaml (e.g. `allow_clones_outside: [\"{}\"]`), or clone it there yourself",
                    std::path::Path::new(path).parent().map_or(path.to_string(), |p| p.display().to_string())
                )),
            );
            continue;
        };
        clones.push(PlannedClone {
            package: package.name.clone(),
            url,
            path: path.to_string(),
            branch: entry.branch.clone(),
            allowed_by,
        });
    }
    Invalid::check(problems)?;
    Ok(clones)
}

/// The folders of `packages`' local sources that exist and hold
/// uncommitted changes: hpm uses them as they are and says so.
pub fn dirty_existing_clones(root: &Path, plan: &Plan, packages: &[PackageName]) -> Vec<String> {
    plan.packages
        .iter()
        .filter(|package| packages.contains(&package.key))
        .filter_map(|package| match &package.source {
            PlannedSource::Path { path, .. } => {
                repo_state(&root.join(path), path).filter(|repo| repo.dirty)
            }
            _ => None,
        })
        .map(|repo| repo.path)
        .collect()
}

/// Clones each repository into its folder, reporting progress. A folder
/// that exists by now is left alone; a clone that fails leaves no folder.
pub fn clone_all(
    workspace: &Workspace,
    clones: &[PlannedClone],
    on_phase: &mut dyn FnMut(Phase),
) -> Result<()> {
    let root = workspace.root();
    for clone in clones {
        check_git_url(&clone.url)
            .map_err(|problem| Error::invalid(problem.for_package(&clone.package)))?;
        let target = root.join(&clone.path);
        if target.exists() {
            continue;
        }
        on_phase(Phase::Cloning {
            package: clone.package.clone(),
            url: clone.url.clone(),
            path: clone.path.clone(),
            allowed_by: clone.allowed_by.clone(),
        });
        clone_into(
            workspace.caller(),
            &clone.url,
            clone.branch.as_deref(),
            &target,
            &mut |received| {
                on_phase(Phase::CloneProgress {
                    package: clone.package.clone(),
                    percent: received.percent,
                    received: received.received,
                    total: received.total,
                })
            },
        )
        .map_err(|failure| Error::Network {
            problems: vec![
                Problem::new(format!("cannot clone `{}`: {failure}", clone.url))
                    .for_package(&clone.package)
                    .hint(failure.hint()),
            ],
        })?;
        crate::git::exclude::exclude_clones(root, &[PathBuf::from(&clone.path)])?;
        on_phase(Phase::Cloned {
            package: clone.package.clone(),
            path: clone.path.clone(),
        });
    }
    Ok(())
}
