//! `hpmctl registry update`: fetch each git registry of the manifest, move
//! the workspace's pins to what each `ref` names now, and report what
//! changed.

use hpm_protocol::report::RegistryUpdate;

use crate::error::Result;
use crate::workspace::Workspace;

/// Fetches the workspace's git registries and moves their pins.
pub fn registry_update(workspace: &Workspace) -> Result<Vec<RegistryUpdate>> {
    let manifest = workspace.load_manifest()?;
    crate::git::registry::update(workspace, &manifest)
}
