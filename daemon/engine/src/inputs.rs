//! A workspace's inputs, read from disk: `hpm.yaml`, the registry entries
//! it names (from inline entries, folders and git registries, earlier
//! winning), `.hpm/state.json`, and the two files hpm manages. Resolving
//! them is the core's work; this module only reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::manifest::{Manifest, RegistryLocation};
use hpm_core::plan::{self, Plan, ResolveInput};
use hpm_core::registry::{entry_file_candidates, parse_entry, EntryOrigin, Registry};
use hpm_core::{Invalid, Mode, PackageName};

use crate::error::{Error, Result};
use crate::fsutil::read_optional;
use crate::git::registry::PinnedRegistry;
use crate::state::LocalState;
use crate::workspace::Workspace;

/// The inputs of a reconcile, read from disk.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub manifest: Manifest,
    pub registry: Registry,
    pub state: LocalState,
    pub pyproject: Vec<u8>,
    pub uv_lock: Option<Vec<u8>>,
}

/// Which mode is in force and which per-package modes change, as a request
/// asks for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modes {
    /// The mode for this run only (`--mode`, `RUN_MODE`); not remembered.
    pub run_mode: Option<Mode>,
    /// A new workspace mode, remembered once the sync succeeds (`switch`).
    pub switch_to: Option<Mode>,
    /// Per-package mode changes; `None` drops a package's own mode.
    pub overrides: BTreeMap<PackageName, Option<Mode>>,
}

impl Inputs {
    /// Reads the manifest, the registry entries it needs, the local state
    /// and the two files hpm manages.
    pub fn read(workspace: &Workspace) -> Result<Inputs> {
        let manifest = workspace.load_manifest()?;
        let registry = load_registry(
            workspace.root(),
            &manifest,
            &plan::registry_names(&manifest),
        )?;
        let state = LocalState::load(&workspace.state_path())?;
        let pyproject_path = workspace.pyproject_path();
        let pyproject = crate::fsutil::read_file(&pyproject_path)
            .map_err(|error| Error::read(&pyproject_path, error))?;
        let lock_path = workspace.uv_lock_path();
        let uv_lock = read_optional(&lock_path).map_err(|error| Error::read(&lock_path, error))?;
        Ok(Inputs {
            manifest,
            registry,
            state,
            pyproject,
            uv_lock,
        })
    }

    /// The workspace mode in force: this run's, else the switched-to one,
    /// else the remembered one, else the manifest's.
    pub fn mode(&self, modes: &Modes) -> Mode {
        modes
            .run_mode
            .clone()
            .or_else(|| modes.switch_to.clone())
            .or_else(|| self.state.mode.clone())
            .unwrap_or_else(|| self.manifest.mode.clone())
    }

    /// The per-package modes with the request's changes applied.
    pub fn overrides(&self, modes: &Modes) -> BTreeMap<PackageName, Mode> {
        let mut overrides = self.state.overrides.clone();
        for (name, mode) in &modes.overrides {
            match mode {
                Some(mode) => overrides.insert(name.clone(), mode.clone()),
                None => overrides.remove(name),
            };
        }
        overrides
    }

    /// Resolves the plan for `mode` with `overrides` (pure).
    pub fn resolve(
        &self,
        workspace: &Workspace,
        mode: &Mode,
        overrides: &BTreeMap<PackageName, Mode>,
    ) -> Result<Plan, Invalid> {
        plan::resolve(ResolveInput {
            manifest: &self.manifest,
            manifest_path: &workspace.manifest_path(),
            registry: &self.registry,
            mode,
            overrides,
        })
    }

    /// The plan of the workspace as it stands (no request).
    pub fn current_plan(&self, workspace: &Workspace) -> Result<(Mode, Plan), Invalid> {
        let modes = Modes::default();
        let mode = self.mode(&modes);
        let plan = self.resolve(workspace, &mode, &self.overrides(&modes))?;
        Ok((mode, plan))
    }

    /// Whether the inputs still match the last successful sync.
    pub fn matches_last_sync(&self, workspace: &Workspace, plan: &Plan) -> bool {
        self.state
            .last_sync
            .as_ref()
            .is_some_and(|last| last.fingerprint == fingerprint(workspace, self, plan))
    }
}

/// The fingerprint of everything a sync's result depends on (see
/// [`hpm_core::fingerprint::SyncInputs`]), reading each dev clone's
/// `pyproject.toml` and whether the environment exists.
pub fn fingerprint(workspace: &Workspace, inputs: &Inputs, plan: &Plan) -> String {
    let clone_pyprojects: Vec<Option<Vec<u8>>> = plan
        .local_paths()
        .map(|path| {
            crate::fsutil::read_file(
                &workspace
                    .root()
                    .join(path)
                    .join(hpm_core::pyproject::PYPROJECT_FILE),
            )
            .ok()
        })
        .collect();
    hpm_core::fingerprint::fingerprint(&hpm_core::fingerprint::SyncInputs {
        hpm_version: env!("CARGO_PKG_VERSION"),
        plan,
        uv_args: &inputs.manifest.settings.uv_args,
        pyproject: &inputs.pyproject,
        uv_lock: inputs.uv_lock.as_deref(),
        clone_pyprojects: &clone_pyprojects,
        venv_exists: workspace.venv_path().is_dir(),
    })
}

/// Where entries are read from, in the manifest's order.
enum Source {
    Folder(PathBuf),
    Git(PinnedRegistry),
}

/// Reads the entries for `names` from the manifest's registries. A name
/// with no entry is simply absent; resolving reports it with context. Only
/// the entries named are read, so an unrelated broken file does not stop
/// a sync.
pub fn load_registry(root: &Path, manifest: &Manifest, names: &[&str]) -> Result<Registry> {
    let manifest_path = root.join(hpm_core::manifest::MANIFEST_FILE);
    let mut sources = Vec::new();
    for location in &manifest.registry {
        sources.push(match location {
            RegistryLocation::Folder(path) | RegistryLocation::Path { path } => {
                Source::Folder(root.join(path))
            }
            RegistryLocation::Git { git, reference } => {
                Source::Git(PinnedRegistry::open(root, git, reference.as_deref())?)
            }
        });
    }
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !seen.insert(PackageName::key(name)) {
            continue;
        }
        if let Some(entry) = manifest
            .registry_entries
            .iter()
            .find(|entry| PackageName::key(&entry.name) == PackageName::key(name))
        {
            entries.push((entry.clone(), EntryOrigin::Manifest(manifest_path.clone())));
            continue;
        }
        if !hpm_core::name::is_safe_file_stem(name) {
            continue;
        }
        let found = sources.iter().find_map(|source| match source {
            Source::Folder(folder) => find_entry_file(folder, name).map(|file| {
                let text = crate::fsutil::read_input(&file);
                (EntryOrigin::File(file), text)
            }),
            Source::Git(registry) => registry
                .entry_text(name)
                .map(|(origin, text)| (origin, Ok(text))),
        });
        if let Some((origin, text)) = found {
            match text.and_then(|text| parse_entry(&text, &origin, name)) {
                Ok(entry) => entries.push((entry, origin)),
                Err(problem) => problems.push(problem),
            }
        }
    }
    Invalid::check(problems)?;
    Ok(Registry::from_entries(entries))
}

fn find_entry_file(folder: &Path, name: &str) -> Option<PathBuf> {
    entry_file_candidates(name)
        .into_iter()
        .map(|candidate| folder.join(candidate))
        .find(|candidate| candidate.is_file())
}
