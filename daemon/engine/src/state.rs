//! Local state in `.hpm/state.json`: the active mode, per-package overrides,
//! which packages (and workspace members) hpm wrote into `pyproject.toml`,
//! and the last good sync.
//! This is the user's machine's state and is never committed (hpm writes
//! `.hpm/.gitignore`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use hpm_core::pyproject::OwnedMembers;
use hpm_core::{Mode, PackageName, Problem};

use crate::error::{Error, Result};
use crate::fsutil;

/// The state file's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalState {
    /// The mode set by `switch`; the manifest's `mode` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Per-package modes, by normalized name.
    #[serde(default)]
    pub overrides: BTreeMap<PackageName, Mode>,
    /// Normalized names of the packages hpm last wrote into `pyproject.toml`,
    /// so that a package removed from the manifest is removed from the file.
    #[serde(default)]
    pub managed: BTreeSet<PackageName>,
    /// The `[tool.uv.workspace]` members hpm added for dev packages, so
    /// that leaving dev takes out exactly those.
    #[serde(default, skip_serializing_if = "OwnedMembers::is_empty")]
    pub workspace_members: OwnedMembers,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<LastSync>,
}

/// What the last successful sync was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSync {
    /// Fingerprint of every input; equal inputs mean there is nothing to do.
    pub fingerprint: String,
    /// The workspace mode it synced (whose lock snapshot `uv.lock` is).
    pub mode: Mode,
    /// Per package, a key of its source, to know which to reinstall.
    pub sources: BTreeMap<PackageName, String>,
    /// The hash of `uv.lock` as the sync left it: a different lock later is
    /// the user's, and a mode's snapshot is not put over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
}

impl LocalState {
    /// Reads the state, the default when the file does not exist.
    pub fn load(path: &Path) -> Result<LocalState> {
        let Some(bytes) = fsutil::read_optional(path).map_err(|e| Error::read(path, e))? else {
            return Ok(LocalState::default());
        };
        serde_json::from_slice(&bytes).map_err(|error| {
            Error::invalid(
                Problem::new(format!("hpm's local state is damaged: {error}"))
                    .in_file(path)
                    .at(error.line(), error.column())
                    .hint("delete the file; hpm rebuilds it on the next sync (per-package modes are lost)"),
            )
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| Error::internal(format!("cannot encode local state: {error}")))?;
        bytes.push(b'\n');
        fsutil::write_atomic(path, &bytes).map_err(|error| Error::write(path, error))
    }
}
