//! `hpmctl init`: a starting `hpm.yaml` and an empty registry folder beside
//! an existing `pyproject.toml`; never overwrites.

use std::path::{Path, PathBuf};

use hpm_core::manifest::MANIFEST_FILE;
use hpm_core::pyproject::PYPROJECT_FILE;

use crate::error::{Error, Result};

/// The manifest `hpmctl init` writes.
pub const INITIAL_MANIFEST: &str = "\
version: 1
mode: dev                 # the workspace's default mode
registry: ./hpm-registry  # a folder of <package>.yaml files
packages: []              # the packages hpm manages, e.g. [bench-utils]
settings:
  packages_dir: packages  # where dev clones live
";

/// The registry folder `init` creates.
pub const REGISTRY_FOLDER: &str = "hpm-registry";

/// Writes `hpm.yaml` and `hpm-registry/` in `root`; answers the manifest's path.
pub fn init(root: &Path) -> Result<PathBuf> {
    let manifest = root.join(MANIFEST_FILE);
    if manifest.exists() {
        return Err(Error::Refused {
            message: format!(
                "`{}` already exists; hpm left it as it is",
                manifest.display()
            ),
            hint: Some("edit it, or run `hpmctl sync` to use it".to_string()),
        });
    }
    if !root.join(PYPROJECT_FILE).is_file() {
        return Err(Error::Refused {
            message: format!("`{}` has no pyproject.toml", root.display()),
            hint: Some(
                "run `hpmctl init` in your core project's root (or `uv init` first)".to_string(),
            ),
        });
    }
    let registry = root.join(REGISTRY_FOLDER);
    std::fs::create_dir_all(&registry).map_err(|error| Error::write(&registry, error))?;
    crate::fsutil::create_atomic(&manifest, INITIAL_MANIFEST.as_bytes())
        .map_err(|error| Error::write(&manifest, error))?;
    Ok(manifest)
}
