//! The workspace as it is: the plan, what the environment has installed, and
//! whether the last sync still matches the inputs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::engine::{fingerprint, Inputs, SyncRequest};
use crate::error::Result;
use crate::manifest::Mode;
use crate::plan::PlannedSource;
use crate::registry::normalize_name;
use crate::workspace::Workspace;

/// `hpmctl status --json`; field names are stable (documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub workspace: String,
    pub mode: Mode,
    /// Whether the inputs still match the last successful sync.
    pub in_sync: bool,
    pub packages: Vec<PackageStatus>,
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
}

/// Reads the workspace's status without changing anything.
pub fn status(workspace: &Workspace) -> Result<StatusReport> {
    let inputs = Inputs::read(workspace)?;
    let request = SyncRequest::default();
    let mode = inputs.mode(&request);
    let plan = inputs.resolve(workspace, &mode, &inputs.overrides(&request))?;
    let in_sync = inputs
        .state
        .last_sync
        .as_ref()
        .is_some_and(|last| last.fingerprint == fingerprint(workspace, &inputs, &plan));
    let installed = installed_versions(&workspace.venv_path());
    let packages = plan
        .packages
        .iter()
        .map(|package| PackageStatus {
            name: package.name.clone(),
            group: package.group.clone(),
            mode: package.mode.clone(),
            source: package.source.clone(),
            requirement: package.requirement(),
            installed_version: installed.get(&normalize_name(&package.name)).cloned(),
        })
        .collect();
    Ok(StatusReport {
        workspace: workspace.root().display().to_string(),
        mode,
        in_sync,
        packages,
    })
}

/// Normalized name → version of every distribution in a virtual environment,
/// read from the `*.dist-info` folder names in its site-packages.
pub fn installed_versions(venv: &Path) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else {
        return versions;
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
                versions.insert(normalize_name(name), version.to_string());
            }
        }
    }
    versions
}
