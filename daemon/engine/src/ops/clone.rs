//! On-demand cloning of dev packages: a package put into a mode whose source
//! is a local folder that does not exist yet is cloned there from its
//! registry entry's `repo` (or, failing that, its git source), with
//! progress. An existing folder is used as it is and never touched,
//! whatever it holds; one with uncommitted changes is reported.

use std::path::Path;

use hpm_core::plan::{Plan, PlannedSource};
use hpm_core::registry::{Registry, SourceSpec};
use hpm_core::url::check_git_url;
use hpm_core::{PackageName, Problem};
use hpm_protocol::report::{Phase, PlannedClone};

use crate::error::{Error, Result};
use crate::git::clone::clone_into;
use crate::git::repo::repo_state;

/// The clones `plan` needs: local sources of `packages` whose folder is
/// missing. A missing folder with no URL to clone from is left to validation,
/// which reports it.
pub fn missing_clones(
    root: &Path,
    plan: &Plan,
    registry: &Registry,
    packages: &[PackageName],
) -> Vec<PlannedClone> {
    plan.packages
        .iter()
        .filter(|package| packages.contains(&package.key))
        .filter_map(|package| {
            let path = package.source.local_path()?;
            if root.join(path).exists() {
                return None;
            }
            let (entry, _) = registry.get(&package.name)?;
            let url = entry.repo.clone().or_else(|| {
                entry.sources.values().find_map(|source| match source {
                    SourceSpec::Git { url, .. } => Some(url.clone()),
                    _ => None,
                })
            })?;
            Some(PlannedClone {
                package: package.name.clone(),
                url,
                path: path.to_string(),
            })
        })
        .collect()
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
    root: &Path,
    clones: &[PlannedClone],
    on_phase: &mut dyn FnMut(Phase),
) -> Result<()> {
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
        });
        clone_into(&clone.url, &target, &mut |received| {
            on_phase(Phase::CloneProgress {
                package: clone.package.clone(),
                percent: received.percent,
                received: received.received,
                total: received.total,
            })
        })
        .map_err(|error| Error::Network {
            problems: vec![Problem::new(format!(
                "cannot clone `{}`: {}",
                clone.url,
                error.message()
            ))
            .for_package(&clone.package)
            .hint("check the registry entry's `repo` and your access to it")],
        })?;
        on_phase(Phase::Cloned {
            package: clone.package.clone(),
            path: clone.path.clone(),
        });
    }
    Ok(())
}
