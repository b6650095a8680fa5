//! A workspace's inputs, read from disk: `hpm.yaml`, the registry entries
//! it names (from inline entries, folders and git registries, earlier
//! winning), `.hpm/state.json`, and the two files hpm manages. Resolving
//! them is the core's work; this module only reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::closure::{Closure, Metas, Step};
use hpm_core::manifest::{Manifest, RegistryLocation};
use hpm_core::metadata::ProjectMeta;
use hpm_core::pin::PinnedPlan;
use hpm_core::plan::{self, Plan, PlannedPackage, PlannedSource};
use hpm_core::pyproject::{render, Rendered, PYPROJECT_FILE};
use hpm_core::registry::GitRef;
use hpm_core::registry::{parse_entry, EntryFiles, EntryOrigin, Registry};
use hpm_core::{Invalid, Mode, PackageName, Problem};

use crate::error::{Error, Result};
use crate::fsutil::read_optional;
use crate::git::fan_out;
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
    /// Read for a dry run: nothing under `.hpm/` is created or written
    /// (git registries' pins stay as they are).
    pub read_only: bool,
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
        Self::read_with(workspace, workspace.load_manifest()?, false)
    }

    /// Reads the inputs with `manifest` (a group edit's, for a dry run) in
    /// place of the file's; `read_only` for a dry run.
    pub fn read_with(workspace: &Workspace, manifest: Manifest, read_only: bool) -> Result<Inputs> {
        let registry = load_registry(
            workspace,
            &manifest,
            &plan::registry_names(&manifest),
            read_only,
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
            read_only,
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

    /// Resolves the plan for `mode` with `overrides`, with its dependency
    /// closure: each planned package's own `pyproject.toml` is read at its
    /// source, and every dependency with a registry entry joins the plan,
    /// transitively. What only validation may refuse (a tag that needs its
    /// own uv workspace, a version an internal requirement does not accept)
    /// comes back as problems beside the plan.
    pub fn resolve(
        &self,
        workspace: &Workspace,
        mode: &Mode,
        overrides: &BTreeMap<PackageName, Mode>,
    ) -> Result<Resolved> {
        let manifest_path = workspace.manifest_path();
        let mut closure = Closure::new(
            &self.manifest,
            &manifest_path,
            mode,
            overrides,
            &self.state.overrides,
        );
        // The resolver decides; this loop reads what it asks for.
        let mut registry = self.registry.clone();
        let mut metas = Metas::new();
        loop {
            match closure.step(&registry, &metas)? {
                Step::Metas(packages) => {
                    let packages: Vec<&PlannedPackage> = packages.iter().collect();
                    metas.extend(package_metas(workspace, &registry, &packages)?);
                }
                Step::Entries(names) => {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    let more = load_registry(workspace, &self.manifest, &names, self.read_only)?;
                    registry = registry.merged_with(more);
                }
                Step::Done(done) => {
                    return Ok(Resolved {
                        plan: done.plan,
                        registry,
                        problems: done.problems,
                        warnings: done.warnings,
                    })
                }
            }
        }
    }

    /// The plan of the workspace as it stands (no request).
    pub fn current_plan(&self, workspace: &Workspace) -> Result<(Mode, Plan)> {
        let modes = Modes::default();
        let mode = self.mode(&modes);
        let resolved = self.resolve(workspace, &mode, &self.overrides(&modes))?;
        Ok((mode, resolved.plan))
    }

    /// The core's `pyproject.toml` as text (hpm edits only UTF-8).
    pub fn pyproject_text(&self, workspace: &Workspace) -> Result<&str> {
        std::str::from_utf8(&self.pyproject).map_err(|_| {
            Error::invalid(Problem::new("is not UTF-8 text").in_file(workspace.pyproject_path()))
        })
    }

    /// The core's `pyproject.toml` rewritten to `plan`, every other byte kept.
    pub fn render_pyproject(&self, workspace: &Workspace, plan: &PinnedPlan) -> Result<Rendered> {
        let text = self.pyproject_text(workspace)?;
        let rendered = render(
            text,
            plan,
            &self.state.managed,
            &self.state.workspace_members,
            &workspace.pyproject_path(),
        )?;
        Ok(rendered)
    }

    /// Whether the inputs still match the last successful sync.
    pub fn matches_last_sync(&self, workspace: &Workspace, plan: &Plan) -> bool {
        self.state
            .last_sync
            .as_ref()
            .is_some_and(|last| last.fingerprint == fingerprint(workspace, self, plan))
    }
}

/// A plan with its dependency closure, and what validation must refuse or
/// the report must warn of.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub plan: Plan,
    /// The registry with the entries the closure needed too.
    pub registry: Registry,
    /// Refused before any write: tags that need their own uv workspace,
    /// internal versions a requirement does not accept.
    pub problems: Vec<Problem>,
    /// Said in the sync report and by `check`: tags whose `pyproject.toml`
    /// says another version.
    pub warnings: Vec<String>,
}

/// The metadata of each of `packages` (of distinct sources), read
/// several at a time: on a cold cache each is a fetch. Remotes that cannot
/// be fetched are reported together.
fn package_metas(
    workspace: &Workspace,
    registry: &Registry,
    packages: &[&PlannedPackage],
) -> Result<Vec<(PlannedSource, Option<ProjectMeta>)>> {
    let read = fan_out::map(
        workspace.caller(),
        packages,
        |package| {
            let repo = registry
                .get(&package.name)
                .and_then(|(entry, _)| entry.repo.as_deref());
            package_meta(workspace, &package.name, &package.source, repo)
        },
        |package| {
            Err(Error::internal(format!(
                "reading the metadata of `{}` crashed",
                package.name
            )))
        },
    );
    let mut metas = Vec::new();
    let mut unreachable = Vec::new();
    for (package, result) in packages.iter().zip(read) {
        match result {
            Ok(meta) => metas.push((package.source.clone(), meta)),
            Err(Error::Network { problems }) => unreachable.extend(problems),
            Err(other) => return Err(other),
        }
    }
    if !unreachable.is_empty() {
        return Err(Error::Network {
            problems: unreachable,
        });
    }
    Ok(metas)
}

/// A package's own `pyproject.toml` at its source: the clone's file for a
/// path source (for a clone not made yet, the file on the default branch
/// of its `repo`, which the clone will check out), the file at the ref from
/// the repository's bare cache for a git source; `None` for an index
/// source, a folder without a readable file, or a ref or file the remote
/// does not have (validation reports those).
///
/// A remote that cannot be fetched stops the resolve, naming the package:
/// the package is internal, and its dependencies unread would let uv take
/// an internal one from an index by name.
fn package_meta(
    workspace: &Workspace,
    name: &str,
    source: &PlannedSource,
    repo: Option<&str>,
) -> Result<Option<ProjectMeta>> {
    let caller = workspace.caller();
    let at_remote = |result: Result<Option<String>>| {
        result.map_err(|error| match error {
            Error::Network { problems } => Error::Network {
                problems: problems
                    .into_iter()
                    .map(|problem| problem.for_package(name))
                    .collect(),
            },
            other => other,
        })
    };
    let text = match source {
        PlannedSource::Path { path, .. } => {
            let folder = workspace.root().join(path);
            match (folder.exists(), repo) {
                (false, Some(url)) => at_remote(crate::git::packages::pyproject_at(
                    caller,
                    url,
                    &GitRef::Default,
                    None,
                ))?,
                _ => crate::fsutil::read_text(&folder.join(PYPROJECT_FILE)).ok(),
            }
        }
        PlannedSource::Git {
            url,
            reference,
            subdirectory,
        } => at_remote(crate::git::packages::pyproject_at(
            caller,
            url,
            reference,
            subdirectory.as_deref(),
        ))?,
        PlannedSource::Index { .. } => None,
    };
    Ok(text.and_then(|text| ProjectMeta::read(&text).ok()))
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

/// Where entries are read from, in the manifest's order, with the entry
/// files each holds.
enum Source {
    Folder {
        folder: PathBuf,
        files: EntryFiles,
    },
    Git {
        registry: PinnedRegistry,
        files: EntryFiles,
    },
}

impl Source {
    /// The registry, for messages.
    fn label(&self) -> PathBuf {
        match self {
            Source::Folder { folder, .. } => folder.clone(),
            Source::Git { registry, .. } => PathBuf::from(registry.url()),
        }
    }
}

/// The registry files in a folder and its `packages/` subfolder.
fn folder_files(folder: &Path) -> EntryFiles {
    let mut paths = Vec::new();
    for (sub, prefix) in [
        (folder.to_path_buf(), ""),
        (folder.join("packages"), "packages/"),
    ] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink())
            {
                paths.push(format!("{prefix}{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    EntryFiles::index(paths)
}

/// The manifest's registries, in its order, each with its entry files
/// (a git registry opened at its pin).
fn registry_sources(
    workspace: &Workspace,
    manifest: &Manifest,
    read_only: bool,
) -> Result<Vec<Source>> {
    let root = workspace.root();
    manifest
        .registry
        .iter()
        .map(|location| {
            Ok(match location {
                RegistryLocation::Folder(path) | RegistryLocation::Path { path } => {
                    // `./hpm-registry` is `<root>/hpm-registry` in every
                    // path hpm shows.
                    let folder =
                        hpm_core::paths::normalize(root, path).unwrap_or_else(|| root.join(path));
                    let files = folder_files(&folder);
                    Source::Folder { folder, files }
                }
                RegistryLocation::Git { git, reference } => {
                    let registry = PinnedRegistry::open_with(
                        workspace,
                        git,
                        reference.as_deref(),
                        !read_only,
                    )?;
                    let files = EntryFiles::index(registry.file_paths());
                    Source::Git { registry, files }
                }
            })
        })
        .collect()
}

/// The first registry's entry file for `name`, where it came from and its
/// text; `None` when no registry has one, or (said in `problems`) when a
/// registry has two files for it.
fn entry_file(
    sources: &[Source],
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<(EntryOrigin, Result<String, Problem>)> {
    for source in sources {
        let lookup = match source {
            Source::Folder { folder, files } => files.get(name).map(|file| {
                file.map(|file| {
                    let path = folder.join(file);
                    let text = crate::fsutil::read_input(&path);
                    (EntryOrigin::File(path), text)
                })
            }),
            Source::Git { registry, files } => files.get(name).map(|file| {
                file.and_then(|file| registry.file_text(file))
                    .map(|(origin, text)| (origin, Ok(text)))
            }),
        };
        match lookup {
            Ok(Some(hit)) => return Some(hit),
            Ok(None) => {}
            Err((first, second)) => {
                problems.push(
                    Problem::new(format!(
                        "two registry files are for this package: `{first}` and `{second}` (pip and uv read both names as one)"
                    ))
                    .in_file(source.label())
                    .for_package(name)
                    .hint("keep one of them"),
                );
                return None;
            }
        }
    }
    None
}

/// Reads the entries for `names` from the manifest's registries. A name
/// with no entry is simply absent; resolving reports it with context. Only
/// the entries named are read, so an unrelated broken file does not stop
/// a sync.
pub fn load_registry(
    workspace: &Workspace,
    manifest: &Manifest,
    names: &[&str],
    read_only: bool,
) -> Result<Registry> {
    let manifest_path = workspace.manifest_path();
    let sources = registry_sources(workspace, manifest, read_only)?;
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
        if let Some((origin, text)) = entry_file(&sources, name, &mut problems) {
            match text.and_then(|text| parse_entry(&text, &origin, name)) {
                Ok(entry) => entries.push((entry, origin)),
                Err(problem) => problems.push(problem),
            }
        }
    }
    Invalid::check(problems)?;
    Ok(Registry::from_entries(entries))
}
