//! On-demand cloning of dev packages: a package put into a mode whose source
//! is a local folder that does not exist yet is cloned there from its
//! registry entry's `repo` (or, failing that, its git source). An existing
//! folder is never touched, whatever it holds.

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
        let result = git2::build::RepoBuilder::new().clone(&clone.url, &target);
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
