//! `hpmctl group list`: each group of the manifest with its options and
//! selection. (Selecting and deselecting is a sync: [`super::sync::Intent::Group`].)

use std::collections::BTreeMap;

use hpm_protocol::report::GroupListing;

use crate::error::Result;
use crate::workspace::Workspace;

/// The manifest's groups, by name.
pub fn list(workspace: &Workspace) -> Result<BTreeMap<String, GroupListing>> {
    let manifest = workspace.load_manifest()?;
    Ok(manifest
        .groups
        .into_iter()
        .map(|(name, group)| {
            let listing = GroupListing {
                options: group.options,
                selected: group.selected,
                multiple: group.multiple,
            };
            (name, listing)
        })
        .collect())
}
