//! Registries kept in git: `registry: { git: URL, ref: main }`.
//!
//! Each repository is fetched into the user cache folder (one bare
//! repository per URL, shared by every workspace), and each workspace pins
//! the commit it resolved in `.hpm/registry-pins.json`. Entries are read
//! from the pinned commit's tree, so a workspace works offline from the
//! cache and never moves on its own: only `hpmctl registry update` fetches
//! and moves the pin, reporting what changed.

use std::collections::BTreeMap;
use std::path::Path;

use hpm_core::manifest::{Manifest, RegistryLocation};
use hpm_core::registry::{compare, EntryOrigin, RegistryEntry};
use hpm_core::url::check_git_url;
use hpm_core::{PackageName, Problem};
use hpm_protocol::report::RegistryUpdate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{read_optional, write_atomic};
use crate::workspace::Workspace;

use super::cache::{cached_repository, fetch, lock_cache, resolve};

/// The branch read when `ref` is not given.
pub const DEFAULT_REF: &str = "main";

/// What a workspace resolved for one git registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub reference: String,
    pub commit: String,
}

/// A git registry at its pinned commit, ready to read entries from.
pub struct PinnedRegistry {
    url: String,
    commit: git2::Oid,
    repository: git2::Repository,
}

impl std::fmt::Debug for PinnedRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedRegistry")
            .field("url", &self.url)
            .field("commit", &self.commit)
            .finish_non_exhaustive()
    }
}

impl PinnedRegistry {
    /// Opens the registry at `url` for the workspace at `root`: from the pin
    /// when the cache has its commit (no network), else resolving `reference`
    /// in the cache, else fetching first; the pin is written when it moves.
    pub fn open(
        workspace: &Workspace,
        url: &str,
        reference: Option<&str>,
    ) -> Result<PinnedRegistry> {
        Self::open_with(workspace, url, reference, true)
    }

    /// [`PinnedRegistry::open`]; with `write_pin` false (a dry run), the
    /// workspace's `.hpm/` is neither created nor written.
    pub fn open_with(
        workspace: &Workspace,
        url: &str,
        reference: Option<&str>,
        write_pin: bool,
    ) -> Result<PinnedRegistry> {
        let reference = reference.unwrap_or(DEFAULT_REF);
        let manifest_path = workspace.manifest_path();
        check_git_url(url).map_err(|problem| Error::invalid(problem.in_file(&manifest_path)))?;
        let repository = cached_repository(url)?;
        if write_pin {
            workspace.ensure_state_dir()?;
        }
        let pins_path = workspace.registry_pins_path();
        let pins = load_pins(&pins_path)?;
        if let Some(pin) = pins.get(url).filter(|pin| pin.reference == reference) {
            if let Ok(commit) = git2::Oid::from_str(&pin.commit) {
                if repository.find_commit(commit).is_ok() {
                    return Ok(PinnedRegistry {
                        url: url.to_string(),
                        commit,
                        repository,
                    });
                }
            }
        }
        let commit = match resolve(&repository, reference) {
            Some(commit) => commit,
            None => {
                // Another process may be fetching the same cache: wait for
                // it, then look again before fetching.
                let _lock = lock_cache(url)?;
                if let Some(commit) = resolve(&repository, reference) {
                    let pins = write_pin.then_some(pins);
                    return finish_open(url, reference, commit, repository, &pins_path, pins);
                }
                fetch(workspace.caller(), &repository, url, "registry")?;
                resolve(&repository, reference).ok_or_else(|| {
                    Error::invalid(
                        Problem::new(format!(
                            "registry `{url}` has no branch, tag or commit `{reference}`"
                        ))
                        .in_file(&manifest_path)
                        .hint("fix `ref:` under `registry:` in hpm.yaml"),
                    )
                })?
            }
        };
        let pins = write_pin.then_some(pins);
        finish_open(url, reference, commit, repository, &pins_path, pins)
    }

    /// The registry's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The files at the top of the pinned tree and in its `packages/`
    /// folder, as paths relative to the root.
    pub fn file_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        let Ok(tree) = self
            .repository
            .find_commit(self.commit)
            .and_then(|commit| commit.tree())
        else {
            return paths;
        };
        let _ = tree.walk(git2::TreeWalkMode::PreOrder, |folder, item| {
            let in_place = folder.is_empty() || folder == "packages/";
            if in_place && item.kind() == Some(git2::ObjectType::Blob) {
                if let Ok(name) = item.name() {
                    paths.push(format!("{folder}{name}"));
                }
            }
            git2::TreeWalkResult::Ok
        });
        paths
    }

    /// The text of the file at `path` in the pinned tree, and where it is.
    pub fn file_text(&self, path: &str) -> Option<(EntryOrigin, String)> {
        let tree = self.repository.find_commit(self.commit).ok()?.tree().ok()?;
        let entry = tree.get_path(Path::new(path)).ok()?;
        let blob = entry
            .to_object(&self.repository)
            .ok()?
            .peel_to_blob()
            .ok()?;
        let text = String::from_utf8(blob.content().to_vec()).ok()?;
        let origin = EntryOrigin::Git {
            url: self.url.clone(),
            commit: self.commit.to_string(),
            path: path.to_string(),
        };
        Some((origin, text))
    }

    /// Every entry at the pinned commit, by normalized name.
    fn all_entries(&self) -> BTreeMap<PackageName, RegistryEntry> {
        let mut entries = BTreeMap::new();
        let Ok(tree) = self
            .repository
            .find_commit(self.commit)
            .and_then(|commit| commit.tree())
        else {
            return entries;
        };
        let _ = tree.walk(git2::TreeWalkMode::PreOrder, |folder, item| {
            let in_place = folder.is_empty() || folder == "packages/";
            let is_yaml = item
                .name()
                .is_ok_and(|n| n.ends_with(".yaml") || n.ends_with(".yml"));
            if in_place && is_yaml {
                let parsed = item
                    .to_object(&self.repository)
                    .ok()
                    .and_then(|object| object.peel_to_blob().ok())
                    .and_then(|blob| {
                        serde_yaml_ng::from_slice::<RegistryEntry>(blob.content()).ok()
                    });
                if let Some(entry) = parsed {
                    entries.insert(PackageName::key(&entry.name), entry);
                }
            }
            git2::TreeWalkResult::Ok
        });
        entries
    }
}

/// Fetches every git registry of the workspace's manifest, moves the pins to
/// what each `ref` names now, and reports the differences.
pub fn update(workspace: &Workspace, manifest: &Manifest) -> Result<Vec<RegistryUpdate>> {
    let pins_path = workspace.registry_pins_path();
    let mut updates = Vec::new();
    for location in &manifest.registry {
        let RegistryLocation::Git {
            git: url,
            reference,
        } = location
        else {
            continue;
        };
        let reference = reference.as_deref().unwrap_or(DEFAULT_REF);
        let before = PinnedRegistry::open(workspace, url, Some(reference))?;
        {
            let _lock = lock_cache(url)?;
            fetch(workspace.caller(), &before.repository, url, "registry")?;
        }
        let after_commit = resolve(&before.repository, reference).ok_or_else(|| {
            Error::invalid(
                Problem::new(format!(
                    "registry `{url}` has no branch, tag or commit `{reference}` any more"
                ))
                .in_file(workspace.manifest_path())
                .hint("fix `ref:` under `registry:` in hpm.yaml"),
            )
        })?;
        let after = PinnedRegistry {
            url: url.clone(),
            commit: after_commit,
            repository: cached_repository(url)?,
        };
        updates.push(compare_pins(&before, &after));
        let mut pins = load_pins(&pins_path)?;
        pins.insert(
            url.clone(),
            Pin {
                reference: reference.to_string(),
                commit: after_commit.to_string(),
            },
        );
        save_pins(&pins_path, &pins)?;
    }
    Ok(updates)
}

fn compare_pins(before: &PinnedRegistry, after: &PinnedRegistry) -> RegistryUpdate {
    let diff = compare(&before.all_entries(), &after.all_entries());
    RegistryUpdate {
        url: after.url.clone(),
        from: Some(before.commit.to_string()).filter(|_| before.commit != after.commit),
        to: after.commit.to_string(),
        added: diff.added,
        removed: diff.removed,
        moved: diff.moved,
    }
}

/// Pins `commit` for `url` in the workspace's pins (`None`: a dry run,
/// which writes nothing).
fn finish_open(
    url: &str,
    reference: &str,
    commit: git2::Oid,
    repository: git2::Repository,
    pins_path: &Path,
    pins: Option<BTreeMap<String, Pin>>,
) -> Result<PinnedRegistry> {
    if let Some(mut pins) = pins {
        pins.insert(
            url.to_string(),
            Pin {
                reference: reference.to_string(),
                commit: commit.to_string(),
            },
        );
        save_pins(pins_path, &pins)?;
    }
    Ok(PinnedRegistry {
        url: url.to_string(),
        commit,
        repository,
    })
}

fn load_pins(path: &Path) -> Result<BTreeMap<String, Pin>> {
    match read_optional(path).map_err(|error| Error::read(path, error))? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
            Error::invalid(
                Problem::new(format!("the registry pins are damaged: {error}"))
                    .in_file(path)
                    .hint("delete the file; hpm pins each registry again on the next read"),
            )
        }),
        None => Ok(BTreeMap::new()),
    }
}

fn save_pins(path: &Path, pins: &BTreeMap<String, Pin>) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(pins)
        .map_err(|error| Error::internal(format!("cannot encode the registry pins: {error}")))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(|error| Error::write(path, error))
}
