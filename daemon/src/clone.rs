//! On-demand cloning of dev packages: a package put into a mode whose source
//! is a local folder that does not exist yet is cloned there from its
//! registry entry's `repo` (or, failing that, its git source) through
//! libgit2, with progress lines. An existing folder is used as it is and
//! never touched, whatever it holds; one with uncommitted changes is
//! reported.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Problem, Result};
use crate::plan::{Plan, PlannedSource};
use crate::registry::{Registry, SourceSpec};

/// A clone hpm would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedClone {
    pub package: String,
    pub url: String,
    /// Relative to the workspace root, as the registry writes it.
    pub path: String,
}

/// The clones `plan` needs: local sources of `packages` whose folder is
/// missing. A missing folder with no URL to clone from is left to validation,
/// which reports it.
pub fn missing_clones(
    root: &Path,
    plan: &Plan,
    registry: &Registry,
    packages: &[String],
) -> Vec<PlannedClone> {
    plan.packages
        .iter()
        .filter(|package| {
            packages
                .iter()
                .any(|name| crate::registry::normalize_name(name) == package.key)
        })
        .filter_map(|package| {
            let PlannedSource::Path { path, .. } = &package.source else {
                return None;
            };
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
                path: path.clone(),
            })
        })
        .collect()
}

/// The folders of `packages`' local sources that exist and hold
/// uncommitted changes: hpm uses them as they are and says so.
pub fn dirty_existing_clones(root: &Path, plan: &Plan, packages: &[String]) -> Vec<String> {
    plan.packages
        .iter()
        .filter(|package| {
            packages
                .iter()
                .any(|name| crate::registry::normalize_name(name) == package.key)
        })
        .filter_map(|package| match &package.source {
            PlannedSource::Path { path, .. } => {
                crate::status::repo_state(&root.join(path), path).filter(|repo| repo.dirty)
            }
            _ => None,
        })
        .map(|repo| repo.path)
        .collect()
}

/// Clones each repository into its folder through libgit2, reporting
/// progress lines. The folder must not exist; a clone that fails leaves no
/// folder behind.
pub fn clone_all(
    root: &Path,
    clones: &[PlannedClone],
    on_line: &mut dyn FnMut(&str),
) -> Result<()> {
    for clone in clones {
        crate::plan::check_git_url(&clone.url)
            .map_err(|problem| Error::invalid(problem.for_package(&clone.package)))?;
        let target: PathBuf = root.join(&clone.path);
        if target.exists() {
            continue;
        }
        on_line(&format!(
            "cloning {} from {} into {}",
            clone.package, clone.url, clone.path
        ));
        let mut last_tenth = 0;
        let result = {
            let mut callbacks = git2::RemoteCallbacks::new();
            callbacks.transfer_progress(|stats| {
                let total = stats.total_objects().max(1);
                let tenth = stats.received_objects() * 10 / total;
                if tenth > last_tenth {
                    last_tenth = tenth;
                    on_line(&format!(
                        "cloning {}: {}% ({}/{} objects)",
                        clone.package,
                        tenth * 10,
                        stats.received_objects(),
                        stats.total_objects()
                    ));
                }
                true
            });
            let mut fetch = git2::FetchOptions::new();
            fetch.remote_callbacks(callbacks);
            git2::build::RepoBuilder::new()
                .fetch_options(fetch)
                .clone(&clone.url, &target)
        };
        if let Err(error) = result {
            let _ = std::fs::remove_dir_all(&target);
            return Err(Error::invalid(
                Problem::new(format!("cannot clone `{}`: {}", clone.url, error.message()))
                    .for_package(&clone.package)
                    .hint("check the registry entry's `repo` and your access to it"),
            ));
        }
        on_line(&format!("cloned {} into {}", clone.package, clone.path));
    }
    Ok(())
}
