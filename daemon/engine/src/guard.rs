//! The guard against dependency confusion. A package is *internal* when
//! the registry has an entry for it or the core's own `pyproject.toml`
//! gives it a source of its own (path, git, URL, workspace); an internal
//! package is installed only from the source hpm chose for its mode. A
//! `uv.lock` that takes one from a package index by name (where anyone
//! may publish that name) is refused — by a sync, which rolls back, and by
//! `check` — unless its entry's source for the mode is `type: pypi`, the
//! explicit way to take it from an index.

use hpm_core::lockfile;
use hpm_core::manifest::Manifest;
use hpm_core::plan::{Plan, PlannedSource};
use hpm_core::pyproject::PyprojectMut;
use hpm_core::registry::SourceSpec;
use hpm_core::{Mode, PackageName, Problem};

use crate::error::Result;
use crate::inputs::load_registry;
use crate::workspace::Workspace;

/// What a lock says of one internal package it took from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromIndex {
    pub name: String,
    pub version: String,
    pub index: String,
    /// Why it is internal: the file that gives it a source.
    pub internal_by: String,
}

impl FromIndex {
    /// The problem a sync or `check` reports.
    pub fn problem(&self) -> Problem {
        Problem::new(format!(
            "`uv.lock` takes `{}` {} from the index `{}`, but it is an internal package ({}): a namesake on an index is not your code",
            self.name, self.version, self.index, self.internal_by
        ))
        .for_package(&self.name)
        .hint(format!(
            "give `{}` a source for this mode in its registry entry (or `type: pypi` to take it from an index on purpose), then `hpmctl sync`",
            self.name
        ))
    }
}

/// The internal packages `lock` takes from an index without a `type: pypi`
/// source for `mode`.
pub fn internal_from_index(
    workspace: &Workspace,
    manifest: &Manifest,
    mode: &Mode,
    plan: &Plan,
    pyproject: &str,
    lock: &str,
) -> Result<Vec<FromIndex>> {
    let from_index: Vec<lockfile::LockedPackage> = lockfile::packages(lock)
        .into_iter()
        .filter(|package| package.index().is_some())
        .collect();
    if from_index.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = from_index.iter().map(|p| p.name.as_str()).collect();
    let registry = load_registry(workspace, manifest, &names, true)?;
    let core_sourced: Vec<PackageName> =
        PyprojectMut::parse(pyproject, &workspace.pyproject_path())
            .map(|core| {
                core.sourced_names()
                    .iter()
                    .map(|n| PackageName::key(n))
                    .collect()
            })
            .unwrap_or_default();
    let mut found = Vec::new();
    for package in &from_index {
        let key = PackageName::key(&package.name);
        let planned = plan.get(&package.name);
        let internal_by = if let Some((entry, origin)) = registry.get(&package.name) {
            let package_mode = planned.map_or(mode, |p| &p.mode);
            let from_pypi = matches!(
                planned.map(|p| &p.source),
                Some(PlannedSource::Index { .. })
            ) || matches!(
                entry.sources.get(package_mode),
                Some(SourceSpec::Pypi { .. })
            );
            if from_pypi {
                continue;
            }
            format!("registry entry `{}`", origin.label().display())
        } else if core_sourced.contains(&key) {
            format!(
                "`[tool.uv.sources]` of `{}` gives it a source",
                workspace.pyproject_path().display()
            )
        } else {
            continue;
        };
        found.push(FromIndex {
            name: package.name.clone(),
            version: package.version.clone(),
            index: package.index().unwrap_or_default().to_string(),
            internal_by,
        });
    }
    Ok(found)
}
