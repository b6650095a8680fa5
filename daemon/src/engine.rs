//! One reconcile, start to end: read the inputs, resolve the plan, return at
//! once when nothing changed, validate, write `pyproject.toml` inside a
//! transaction, run `uv sync`, then commit or roll back.
//!
//! The daemon runs this on a blocking thread, one job per workspace at a
//! time; `hpmctl --no-daemon` runs it in-process.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsutil::{hash_of, read_optional, write_atomic};
use crate::manifest::{Manifest, Mode};
use crate::plan::{self, Plan, PlannedSource, ResolveInput};
use crate::pyproject::PyprojectMut;
use crate::registry::{normalize_name, Registry};
use crate::state::{LastSync, LocalState};
use crate::transaction::{CommitOutcome, FileHashes, Recovery, Transaction};
use crate::uv::{CancelToken, RunOptions, Uv};
use crate::validate;
use crate::workspace::Workspace;

/// What a reconcile is asked to do besides syncing.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    /// The mode for this run only (`--mode`, `RUN_MODE`); not remembered.
    pub run_mode: Option<Mode>,
    /// A new workspace mode to remember once the sync succeeds (`switch`).
    pub switch_to: Option<Mode>,
    /// Per-package mode changes to remember once the sync succeeds; `None`
    /// drops a package's override (`reset`).
    pub overrides: BTreeMap<String, Option<Mode>>,
    /// Run uv even when the inputs have not changed.
    pub force: bool,
    /// Kill uv when it runs longer than this.
    pub uv_timeout: Option<std::time::Duration>,
    /// A group selection to write into `hpm.yaml` before syncing; reverted
    /// when the sync fails.
    pub group_edit: Option<GroupEdit>,
    /// Clone the packages this request puts into dev whose folder is
    /// missing; without it, such packages fail with `Error::CloneNeeded`.
    pub clone_missing: bool,
}

impl SyncRequest {
    /// A plain `sync`: nothing to remember, no other mode, not forced.
    pub fn is_plain(&self) -> bool {
        self.run_mode.is_none()
            && self.switch_to.is_none()
            && self.overrides.is_empty()
            && !self.force
            && self.group_edit.is_none()
    }
}

/// Select or deselect one option of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEdit {
    pub group: String,
    pub option: String,
    pub select: bool,
}

/// A step of a reconcile worth telling the user about.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Progress {
    /// A journal left by a killed run was rolled back.
    Recovered(Recovery),
    /// A phase started (`validating`, `writing`, `running uv`, ...).
    Phase { phase: String },
    /// One line of uv's output.
    Uv { line: String },
}

/// What a reconcile did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub mode: Mode,
    /// `up_to_date` when nothing had changed and uv did not run.
    pub outcome: SyncOutcome,
    pub plan: Plan,
    /// Packages uv was told to reinstall because their source changed.
    pub reinstalled: Vec<String>,
    /// Files a user edited during the sync; hpm kept their version.
    pub kept_user_edits: Vec<PathBuf>,
    /// Existing clones this request put into use that have uncommitted
    /// changes (used as they are, never touched).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dirty_clones: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    UpToDate,
    Synced,
}

/// The inputs of a reconcile, read from disk.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub manifest: Manifest,
    pub registry: Registry,
    pub state: LocalState,
    pub pyproject: Vec<u8>,
    pub uv_lock: Option<Vec<u8>>,
}

impl Inputs {
    /// Reads the manifest, the registry entries it needs, the local state
    /// and the two files hpm manages.
    pub fn read(workspace: &Workspace) -> Result<Inputs> {
        let manifest = workspace.load_manifest()?;
        let registry = Registry::load(
            workspace.root(),
            &manifest,
            &plan::registry_names(&manifest),
        )?;
        let state = LocalState::load(&workspace.state_path())?;
        let pyproject_path = workspace.pyproject_path();
        let pyproject =
            std::fs::read(&pyproject_path).map_err(|error| Error::read(&pyproject_path, error))?;
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
    /// else the manifest's.
    pub fn mode(&self, request: &SyncRequest) -> Mode {
        request
            .run_mode
            .clone()
            .or_else(|| request.switch_to.clone())
            .or_else(|| self.state.mode.clone())
            .unwrap_or_else(|| self.manifest.mode.clone())
    }

    /// The per-package modes with the request's changes applied.
    pub fn overrides(&self, request: &SyncRequest) -> BTreeMap<String, Mode> {
        let mut overrides = self.state.overrides.clone();
        for (name, mode) in &request.overrides {
            match mode {
                Some(mode) => overrides.insert(normalize_name(name), mode.clone()),
                None => overrides.remove(&normalize_name(name)),
            };
        }
        overrides
    }

    /// Resolves the plan for `mode` with `overrides` (pure).
    pub fn resolve(
        &self,
        workspace: &Workspace,
        mode: &Mode,
        overrides: &BTreeMap<String, Mode>,
    ) -> Result<Plan> {
        plan::resolve(ResolveInput {
            manifest: &self.manifest,
            manifest_path: &workspace.manifest_path(),
            registry: &self.registry,
            mode,
            overrides,
        })
    }
}

/// Reconciles the workspace with its manifest.
pub fn sync(
    workspace: &Workspace,
    request: &SyncRequest,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
) -> Result<SyncReport> {
    sync_memo(workspace, request, on_progress, cancel, &mut None)
}

/// [`sync`], answering a plain sync from `memo` while it holds, and
/// leaving in `memo` what a plain sync that found nothing to do saw (the
/// daemon keeps one per workspace).
pub fn sync_memo(
    workspace: &Workspace,
    request: &SyncRequest,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
    memo: &mut Option<NoopMemo>,
) -> Result<SyncReport> {
    if request.is_plain() {
        if let Some(report) = memo.as_ref().and_then(NoopMemo::report_if_holds) {
            tracing::debug!(workspace = %workspace.root().display(), "nothing changed since the last no-op sync");
            return Ok(report);
        }
    }
    *memo = None;
    let (transaction, recovery) = Transaction::begin(workspace)?;
    if let Some(recovery) = recovery {
        on_progress(Progress::Recovered(recovery));
    }
    let Some(edit) = &request.group_edit else {
        return reconcile(workspace, request, transaction, on_progress, cancel, memo);
    };
    // The manifest edit happens under the workspace lock, and is undone when
    // the sync fails, unless the user changed the file again meanwhile.
    let manifest_path = workspace.manifest_path();
    let original =
        std::fs::read_to_string(&manifest_path).map_err(|e| Error::read(&manifest_path, e))?;
    let edited = crate::manifest_edit::set_selected(
        &original,
        &manifest_path,
        &edit.group,
        &edit.option,
        edit.select,
    )?;
    write_atomic(&manifest_path, edited.as_bytes()).map_err(|e| Error::write(&manifest_path, e))?;
    let result = reconcile(workspace, request, transaction, on_progress, cancel, memo);
    if result.is_err() && std::fs::read_to_string(&manifest_path).is_ok_and(|now| now == edited) {
        write_atomic(&manifest_path, original.as_bytes())
            .map_err(|e| Error::write(&manifest_path, e))?;
    }
    result
}

/// The reconcile proper, with the workspace lock held by `transaction`.
fn reconcile(
    workspace: &Workspace,
    request: &SyncRequest,
    mut transaction: Transaction,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
    memo: &mut Option<NoopMemo>,
) -> Result<SyncReport> {
    let started = std::time::Instant::now();
    let inputs = Inputs::read(workspace)?;
    let mode = inputs.mode(request);
    let overrides = inputs.overrides(request);
    let mut plan = inputs.resolve(workspace, &mode, &overrides)?;

    let mut new_state = inputs.state.clone();
    if let Some(switch_to) = &request.switch_to {
        new_state.mode = Some(switch_to.clone());
    }
    new_state.overrides = overrides;
    let fingerprint = fingerprint(workspace, &inputs, &plan);
    let up_to_date = inputs
        .state
        .last_sync
        .as_ref()
        .is_some_and(|last| last.fingerprint == fingerprint);
    if up_to_date && !request.force {
        if new_state != inputs.state {
            new_state.save(&workspace.state_path())?;
        }
        let report = SyncReport {
            mode,
            outcome: SyncOutcome::UpToDate,
            plan,
            reinstalled: Vec::new(),
            kept_user_edits: Vec::new(),
            dirty_clones: Vec::new(),
        };
        if request.is_plain() {
            *memo = NoopMemo::record(workspace, &inputs, &report);
        }
        return Ok(report);
    }

    let changed: Vec<String> = request.overrides.keys().cloned().collect();
    let clones = crate::clone::missing_clones(workspace.root(), &plan, &inputs.registry, &changed);
    if !clones.is_empty() {
        if !request.clone_missing {
            return Err(Error::CloneNeeded { clones });
        }
        crate::clone::clone_all(workspace.root(), &clones, &mut |line| {
            on_progress(Progress::Phase {
                phase: line.to_string(),
            })
        })?;
    }
    let dirty_clones = crate::clone::dirty_existing_clones(workspace.root(), &plan, &changed);
    for path in &dirty_clones {
        on_progress(Progress::Phase {
            phase: format!("using the existing clone `{path}` as it is: it has uncommitted changes, which hpm never touches"),
        });
    }

    on_progress(Progress::Phase {
        phase: "validating".into(),
    });
    // Finding uv runs it (`uv --version`), which costs as much as listing a
    // few remotes when uv sits behind a shim: do both at once.
    let (validated, found) = std::thread::scope(|scope| {
        let finding = scope.spawn(Uv::find);
        let validated = validate::validate(workspace.root(), &mut plan);
        (validated, finding.join())
    });
    validated?;
    let uv = found.map_err(|_| Error::Internal {
        message: "looking for uv crashed".to_string(),
    })??;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "read, planned and validated"
    );
    let pyproject_path = workspace.pyproject_path();
    let pyproject_text = String::from_utf8(inputs.pyproject.clone()).map_err(|_| {
        Error::invalid(crate::Problem::new("is not UTF-8 text").in_file(&pyproject_path))
    })?;
    let mut pyproject = PyprojectMut::parse(&pyproject_text, &pyproject_path)?;
    pyproject.apply(&plan, &inputs.state.managed, &pyproject_path)?;
    let new_pyproject = pyproject.to_string();

    let last_mode = inputs.state.last_sync.as_ref().map(|last| &last.mode);
    let snapshot_path = workspace.lock_snapshot_path(&mode);
    let lock_snapshot = match last_mode {
        Some(last) if *last != mode => {
            read_optional(&snapshot_path).map_err(|e| Error::read(&snapshot_path, e))?
        }
        _ => None,
    };

    on_progress(Progress::Phase {
        phase: "writing".into(),
    });
    transaction.stage(
        &FileHashes {
            pyproject: hash_of(Some(&inputs.pyproject)),
            uv_lock: hash_of(inputs.uv_lock.as_deref()),
        },
        new_pyproject.as_bytes(),
        lock_snapshot.as_deref(),
    )?;

    // From here uv changes the environment: until a commit records what it
    // was synced from, no sync may call it up to date (a failed or killed
    // uv may have left it half-changed; the next sync repairs it).
    if inputs.state.last_sync.is_some() {
        let in_flux = LocalState {
            last_sync: None,
            ..inputs.state.clone()
        };
        in_flux.save(&workspace.state_path())?;
    }

    let sources = source_keys(&plan);
    let reinstalled: Vec<String> = match &inputs.state.last_sync {
        Some(last) => plan
            .packages
            .iter()
            .filter(|p| {
                last.sources
                    .get(&normalize_name(&p.name))
                    .is_some_and(|key| *key != sources[&normalize_name(&p.name)])
            })
            .map(|p| p.name.clone())
            .collect(),
        None => Vec::new(),
    };
    let mut args = vec!["sync".to_string()];
    args.extend(inputs.manifest.settings.uv_args.iter().cloned());
    for name in &reinstalled {
        args.push("--reinstall-package".into());
        args.push(name.clone());
    }
    on_progress(Progress::Phase {
        phase: format!("running uv {}", args.join(" ")),
    });
    let run = uv.run(
        workspace.root(),
        &args,
        &RunOptions {
            timeout: request.uv_timeout.or(inputs
                .manifest
                .settings
                .uv_timeout
                .map(std::time::Duration::from_secs)),
            pid_file: Some(transaction.uv_pid_file()),
        },
        &mut |line| {
            on_progress(Progress::Uv {
                line: line.to_string(),
            })
        },
        cancel,
    );
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "uv finished"
    );
    if let Err(error) = run {
        transaction.rollback()?;
        return Err(error);
    }
    let outcome = transaction.commit()?;

    // The transaction is over: what follows is hpm's own bookkeeping.
    let after = Inputs {
        pyproject: std::fs::read(&pyproject_path).map_err(|e| Error::read(&pyproject_path, e))?,
        uv_lock: read_optional(&workspace.uv_lock_path())
            .map_err(|e| Error::read(workspace.uv_lock_path(), e))?,
        ..inputs
    };
    if let Some(lock) = &after.uv_lock {
        write_atomic(&snapshot_path, lock).map_err(|error| Error::write(&snapshot_path, error))?;
    }
    new_state.managed = plan.names();
    new_state.last_sync = match outcome {
        CommitOutcome::Committed => Some(LastSync {
            fingerprint: fingerprint_unpinned(workspace, &after, &mode, &new_state.overrides),
            mode: mode.clone(),
            sources,
        }),
        // The file is not what was synced: the next sync must look again.
        CommitOutcome::UserEditKept => None,
    };
    new_state.save(&workspace.state_path())?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "committed"
    );
    Ok(SyncReport {
        mode,
        outcome: SyncOutcome::Synced,
        plan,
        reinstalled,
        kept_user_edits: match outcome {
            CommitOutcome::UserEditKept => vec![pyproject_path],
            CommitOutcome::Committed => Vec::new(),
        },
        dirty_clones,
    })
}

/// The fingerprint of the inputs after a sync, from the unpinned plan (the
/// one the next run computes before validating).
fn fingerprint_unpinned(
    workspace: &Workspace,
    inputs: &Inputs,
    mode: &Mode,
    overrides: &BTreeMap<String, Mode>,
) -> String {
    match inputs.resolve(workspace, mode, overrides) {
        Ok(plan) => fingerprint(workspace, inputs, &plan),
        Err(_) => String::new(),
    }
}

/// What a plain sync that found nothing to do read, by file stamp (size,
/// modification time, inode): while every stamp is unchanged, the next plain
/// sync has nothing to do either and needs not read a single input. The
/// files are every input of [`fingerprint`]: `hpm.yaml`, `pyproject.toml`,
/// `uv.lock`, hpm's state and registry pins, each registry entry read and
/// each registry folder (an entry added to an earlier one wins), each dev
/// clone's `pyproject.toml`, and the environment's site-packages (whose
/// stamp also goes when the environment does).
///
/// A file changed in the same clock tick as it was stamped could keep its
/// stamp; like git's "racily clean" index entries, a memo is therefore only
/// kept when every file is older than [`NoopMemo::RACY`] at recording time,
/// so the no-op after a sync that wrote files reads them once more.
#[derive(Debug, Clone)]
pub struct NoopMemo {
    paths: Vec<PathBuf>,
    stamps: Vec<FileStamp>,
    report: SyncReport,
}

/// Size, modification time and inode of a file or folder, if it exists.
pub type FileStamp = Option<(u64, std::time::SystemTime, u64)>;

/// The [`FileStamp`] of `path`.
pub fn file_stamp(path: &std::path::Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?, metadata.ino()))
}

impl NoopMemo {
    /// How old every file must be for its stamp to be trusted.
    pub const RACY: std::time::Duration = std::time::Duration::from_millis(50);

    fn record(workspace: &Workspace, inputs: &Inputs, report: &SyncReport) -> Option<NoopMemo> {
        let recorded_at = std::time::SystemTime::now();
        let root = workspace.root();
        let mut paths = vec![
            workspace.manifest_path(),
            workspace.pyproject_path(),
            workspace.uv_lock_path(),
            workspace.state_path(),
            workspace.state_dir().join(crate::git_registry::PINS_FILE),
        ];
        paths.extend(inputs.registry.files().map(std::path::Path::to_path_buf));
        for location in &inputs.manifest.registry {
            if let crate::manifest::RegistryLocation::Folder(path)
            | crate::manifest::RegistryLocation::Path { path } = location
            {
                paths.push(root.join(path));
                paths.push(root.join(path).join("packages"));
            }
        }
        for package in &report.plan.packages {
            if let PlannedSource::Path { path, .. } = &package.source {
                paths.push(root.join(path).join(crate::pyproject::PYPROJECT_FILE));
            }
        }
        paths.push(workspace.venv_path());
        paths.push(workspace.venv_path().join("lib"));
        if let Ok(libs) = std::fs::read_dir(workspace.venv_path().join("lib")) {
            paths.extend(
                libs.flatten()
                    .map(|python| python.path().join("site-packages")),
            );
        }
        let stamps: Vec<FileStamp> = paths.iter().map(|path| file_stamp(path)).collect();
        let racy = stamps.iter().flatten().any(|(_, modified, _)| {
            recorded_at
                .duration_since(*modified)
                .map_or(true, |age| age < Self::RACY)
        });
        (!racy).then(|| NoopMemo {
            paths,
            stamps,
            report: report.clone(),
        })
    }

    /// The recorded report, if no file has changed since.
    fn report_if_holds(&self) -> Option<SyncReport> {
        let holds = self
            .paths
            .iter()
            .zip(&self.stamps)
            .all(|(path, stamp)| file_stamp(path) == *stamp);
        holds.then(|| self.report.clone())
    }
}

/// A hash of everything a sync's result depends on: the plan, both managed
/// files, each dev clone's `pyproject.toml`, uv's arguments, hpm's version,
/// and whether the environment exists.
pub fn fingerprint(workspace: &Workspace, inputs: &Inputs, plan: &Plan) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    hasher.update(serde_json::to_vec(plan).unwrap_or_default());
    hasher.update(serde_json::to_vec(&inputs.manifest.settings.uv_args).unwrap_or_default());
    hasher.update(crate::fsutil::sha256_hex(&inputs.pyproject));
    hasher.update(hash_of(inputs.uv_lock.as_deref()).unwrap_or_default());
    for package in &plan.packages {
        if let PlannedSource::Path { path, .. } = &package.source {
            let clone_pyproject = workspace
                .root()
                .join(path)
                .join(crate::pyproject::PYPROJECT_FILE);
            let bytes = std::fs::read(clone_pyproject).ok();
            hasher.update(hash_of(bytes.as_deref()).unwrap_or_default());
        }
    }
    hasher.update([u8::from(workspace.venv_path().is_dir())]);
    hex::encode(hasher.finalize())
}

/// Per package, a key that changes when its source does.
fn source_keys(plan: &Plan) -> BTreeMap<String, String> {
    plan.packages
        .iter()
        .map(|package| {
            let key = serde_json::to_string(&package.source).unwrap_or_default();
            (normalize_name(&package.name), key)
        })
        .collect()
}
