//! One reconcile, start to end, in named phases: take the workspace lock
//! (rolling back a killed run's journal), apply a group edit to `hpm.yaml`,
//! read the inputs and resolve the plan, stop when nothing changed, clone
//! what dev needs, validate and pin, render `pyproject.toml`, stage it in
//! the transaction, run `uv sync`, then commit and record the sync or roll
//! back.
//!
//! The daemon runs this on a blocking thread, one job per workspace at a
//! time; `hpmctl --no-daemon` runs it in-process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hpm_core::manifest::RegistryLocation;
use hpm_core::pin::PinnedPlan;
use hpm_core::plan::Plan;
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::{Mode, PackageName, Problem};
use hpm_protocol::report::{Phase, Progress, SyncOutcome, SyncReport};
use hpm_protocol::{AddPackage, Change, RemovePackage};

use super::edit::{self, FileEdits, GroupEdit};
use crate::error::{Error, Result};
use crate::fsutil::{hash_of, read_optional, write_atomic};
use crate::inputs::{fingerprint, Inputs, Modes};
use crate::process::{CancelToken, RunOptions};
use crate::state::{LastSync, LocalState};
use crate::transaction::{CommitOutcome, FileHashes, Transaction};
use crate::uv::Uv;
use crate::validate;
use crate::workspace::Workspace;

/// What a reconcile is asked to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Reconcile with the inputs as they are; `run_mode` applies to this
    /// run only (`--mode`, `RUN_MODE`) and is not remembered.
    Sync { run_mode: Option<Mode> },
    /// Set the workspace mode, remembered once the sync succeeds.
    Switch { mode: Mode },
    /// Give packages a mode of their own (`use`, `dev`), or with `None`
    /// drop it (`reset`), remembered once the sync succeeds.
    SetModes {
        packages: Vec<PackageName>,
        mode: Option<Mode>,
    },
    /// Select or deselect a group's option in `hpm.yaml`; the edit is
    /// undone when the sync fails.
    Group(GroupEdit),
    /// Add a package (its registry entry and the manifest line), synced
    /// unless `sync` is false; undone when the sync fails.
    Add { spec: AddPackage, sync: bool },
    /// Take a package out of the manifest (and its entry file), likewise.
    Remove { spec: RemovePackage, sync: bool },
}

/// How a reconcile runs, whatever it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Run uv even when the inputs have not changed.
    pub force: bool,
    /// Clone the packages the request puts into dev whose folder is
    /// missing; without it, such packages fail with [`Error::CloneNeeded`].
    pub clone_missing: bool,
    /// Kill uv when it runs longer than this (else `settings.uv_timeout`).
    pub uv_timeout: Option<Duration>,
}

/// One reconcile request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub intent: Intent,
    pub options: SyncOptions,
}

impl Request {
    /// A plain sync: nothing to change, not forced.
    pub fn sync() -> Request {
        Request {
            intent: Intent::Sync { run_mode: None },
            options: SyncOptions::default(),
        }
    }

    /// The request a protocol change asks for; a bad mode name is the
    /// user's error.
    pub fn from_change(change: &Change) -> Result<Request> {
        let mode = |name: &str, from: &str| {
            Mode::new(name).map_err(|message| {
                Error::invalid(Problem::new(message).hint(format!(
                    "{from}; modes are names such as dev, staging, prod"
                )))
            })
        };
        let mut options = SyncOptions::default();
        let intent = match change {
            Change::Sync {
                mode: run_mode,
                force,
            } => {
                options.force = *force;
                Intent::Sync {
                    run_mode: run_mode
                        .as_deref()
                        .map(|name| {
                            mode(
                                name,
                                "the mode comes from `--mode` or the RUN_MODE variable",
                            )
                        })
                        .transpose()?,
                }
            }
            Change::Switch { mode: to } => Intent::Switch {
                mode: mode(to, "the mode `switch` was given")?,
            },
            Change::Use {
                packages,
                mode: package_mode,
                clone,
            } => {
                options.clone_missing = *clone;
                Intent::SetModes {
                    packages: packages.iter().map(|p| PackageName::key(p)).collect(),
                    mode: package_mode
                        .as_deref()
                        .map(|name| mode(name, "the mode `use` was given"))
                        .transpose()?,
                }
            }
            Change::Group {
                group,
                option,
                select,
            } => Intent::Group(GroupEdit {
                group: group.clone(),
                option: option.clone(),
                select: *select,
            }),
            Change::Add { spec, sync, clone } => {
                options.clone_missing = *clone;
                Intent::Add {
                    spec: spec.clone(),
                    sync: *sync,
                }
            }
            Change::Remove { spec, sync } => Intent::Remove {
                spec: spec.clone(),
                sync: *sync,
            },
        };
        Ok(Request { intent, options })
    }

    /// Whether this is a plain sync (no change, not forced): the daemon may
    /// answer it from its no-op memo.
    pub fn is_plain_sync(&self) -> bool {
        matches!(self.intent, Intent::Sync { run_mode: None }) && !self.options.force
    }

    /// The modes the request sets.
    pub(crate) fn modes(&self) -> Modes {
        match &self.intent {
            Intent::Sync { run_mode } => Modes {
                run_mode: run_mode.clone(),
                ..Modes::default()
            },
            Intent::Switch { mode } => Modes {
                switch_to: Some(mode.clone()),
                ..Modes::default()
            },
            Intent::SetModes { packages, mode } => Modes {
                overrides: packages
                    .iter()
                    .map(|name| (name.clone(), mode.clone()))
                    .collect(),
                ..Modes::default()
            },
            Intent::Group(_) | Intent::Add { .. } | Intent::Remove { .. } => Modes::default(),
        }
    }

    /// Whether the request ends with a sync (`add --no-sync` does not).
    pub fn syncs(&self) -> bool {
        !matches!(
            self.intent,
            Intent::Add { sync: false, .. } | Intent::Remove { sync: false, .. }
        )
    }

    /// The files the request edits before its sync, computed, not written.
    pub(crate) fn edits(&self, workspace: &Workspace) -> Result<Option<FileEdits>> {
        Ok(match &self.intent {
            Intent::Group(edit) => Some(edit::group_edits(workspace, edit)?),
            Intent::Add { spec, .. } => Some(edit::add_edits(workspace, spec)?),
            Intent::Remove { spec, .. } => Some(edit::remove_edits(workspace, spec)?),
            _ => None,
        })
    }

    /// The packages whose mode this request changes.
    pub(crate) fn changed_packages(&self) -> Vec<PackageName> {
        match &self.intent {
            Intent::SetModes { packages, .. } => packages.clone(),
            Intent::Add { spec, .. } => vec![PackageName::key(&spec.package)],
            _ => Vec::new(),
        }
    }

    /// The packages whose missing clones this request may make: those it
    /// changes, and the siblings they take into dev with them (`linked_by`).
    pub(crate) fn clone_candidates(&self, plan: &Plan) -> Vec<PackageName> {
        let changed = self.changed_packages();
        let mut candidates = changed.clone();
        for package in &plan.packages {
            let linked = package
                .linked_by
                .iter()
                .any(|by| changed.contains(&PackageName::key(by)));
            if linked && !candidates.contains(&package.key) {
                candidates.push(package.key.clone());
            }
        }
        candidates
    }
}

/// A reconcile's report and every file and folder its result depended on
/// (the inputs of the fingerprint), which the daemon stamps to answer the
/// next plain sync without reading them.
#[derive(Debug, Clone)]
pub struct Synced {
    pub report: SyncReport,
    pub inputs_read: Vec<PathBuf>,
}

/// Reconciles the workspace with its manifest.
pub fn sync(
    workspace: &Workspace,
    request: &Request,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
) -> Result<Synced> {
    let (transaction, recovery) = Transaction::begin(workspace)?;
    if let Some(recovery) = recovery {
        on_progress(Progress::Recovered(recovery));
        refuse_undone_import(workspace)?;
    }
    let Some(edits) = request.edits(workspace)? else {
        return reconcile(workspace, request, transaction, on_progress, cancel);
    };
    // The edits happen under the workspace lock, journaled first: the
    // transaction puts them back when the sync fails or the run is killed,
    // except in a file the user changed again meanwhile.
    let mut transaction = transaction;
    transaction.journal_edits(edits.journaled(), None)?;
    edits.write()?;
    if !request.syncs() {
        transaction.commit()?;
        return edited_only(workspace, request, edits);
    }
    let mut synced = reconcile(workspace, request, transaction, on_progress, cancel)?;
    synced.report.notes.extend(edits.notes);
    Ok(synced)
}

/// After a recovery: `hpm.yaml` is gone when the command put back was an
/// import that was killed (it wrote `hpm.yaml`), and there is nothing left
/// to sync.
fn refuse_undone_import(workspace: &Workspace) -> Result<()> {
    let manifest = workspace.manifest_path();
    if manifest.exists() {
        return Ok(());
    }
    Err(Error::Refused {
        message: format!(
            "`{}` is gone: an import here was interrupted, and putting it back removed the files it had written",
            manifest.display()
        ),
        hint: Some(format!(
            "run `hpmctl import` in `{}` again",
            workspace.root().display()
        )),
    })
}

/// What a rollback after uv failed did, as the failure says it.
fn rolled_back(recovery: &hpm_protocol::report::Recovery) -> String {
    if recovery.kept_user_edits.is_empty() {
        return "; `pyproject.toml` and `uv.lock` were restored".to_string();
    }
    let kept: Vec<String> = recovery
        .kept_user_edits
        .iter()
        .map(|path| format!("`{}`", path.display()))
        .collect();
    format!(
        "; {} changed during the sync (by uv or by you) and left as it is, hpm's copy saved under `.hpm/backup/`; `uv.lock` was restored",
        kept.join(", ")
    )
}

/// The report of a change that edited files and was asked not to sync.
fn edited_only(workspace: &Workspace, request: &Request, edits: FileEdits) -> Result<Synced> {
    let inputs = Inputs::read(workspace)?;
    let mode = inputs.mode(&request.modes());
    let plan = inputs.current_plan(workspace)?.1;
    let mut notes = edits.notes;
    notes.push("not synced: `hpmctl sync` applies it".to_string());
    Ok(Synced {
        report: SyncReport {
            mode,
            outcome: SyncOutcome::Edited,
            plan,
            reinstalled: Vec::new(),
            kept_user_edits: Vec::new(),
            dirty_clones: Vec::new(),
            warnings: Vec::new(),
            notes,
            uv_ms: None,
        },
        inputs_read: Vec::new(),
    })
}

/// The request resolved against the inputs.
pub(crate) struct Planned {
    pub(crate) inputs: Inputs,
    pub(crate) mode: Mode,
    pub(crate) plan: Plan,
    /// The closure's problems, which validation reports with its own.
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<String>,
    /// The state to remember once the sync succeeds.
    new_state: LocalState,
}

/// The reconcile proper, with the workspace lock held by `transaction`
/// (and any edits it journaled written): commits, or rolls back.
pub(crate) fn reconcile(
    workspace: &Workspace,
    request: &Request,
    transaction: Transaction,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
) -> Result<Synced> {
    let started = std::time::Instant::now();
    let planned = plan_request(workspace, request)?;
    if let Some(synced) = up_to_date(workspace, request, &planned)? {
        transaction.commit()?;
        return Ok(synced);
    }
    let mut on_phase = |phase: Phase| on_progress(Progress::Phase { phase });
    let dirty_clones = prepare_clones(workspace, request, &planned, &mut on_phase)?;
    on_phase(Phase::Validating);
    let start = start_lock(workspace, &planned)?;
    let (pinned, uv) = validate_and_find_uv(
        workspace,
        &planned,
        start.text(planned.inputs.uv_lock.as_deref()),
    )?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "read, planned and validated"
    );
    let rendered = planned.inputs.render_pyproject(workspace, &pinned)?;
    let mut planned = planned;
    planned.warnings.extend(rendered.notes);
    planned.new_state.workspace_members = rendered.owned;
    let new_pyproject = rendered.text;
    let (lock_snapshot, adopted_lock) = lock_snapshot(workspace, &planned, start)?;
    on_phase(Phase::Writing);
    let transaction = stage(
        workspace,
        transaction,
        &planned,
        &new_pyproject,
        lock_snapshot,
    )?;
    let reinstalled = reinstalled(&planned, &pinned);
    let uv_run = UvRun {
        uv: &uv,
        reinstalled: &reinstalled,
        pid_file: transaction.uv_pid_file(),
    };
    let uv_started = std::time::Instant::now();
    let ran = run_uv(workspace, request, &planned, uv_run, on_progress, cancel);
    let uv_ms = uv_started.elapsed().as_millis() as u64;
    let ran = ran.and_then(|()| refuse_internal_from_index(workspace, &planned, &new_pyproject));
    if let Err(error) = ran {
        return Err(rolled_back_after(workspace, transaction, error));
    }
    let outcome = transaction.commit()?;
    let mut synced = record(
        workspace,
        outcome,
        planned,
        pinned,
        reinstalled,
        dirty_clones,
    )?;
    synced.report.notes.extend(adopted_lock);
    synced.report.uv_ms = Some(uv_ms);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "committed"
    );
    Ok(synced)
}

/// Rolls `transaction` back after `error` (uv failed, or installed an
/// internal package from an index) and says so in the error: what the
/// files were restored to, or that the rollback failed too.
fn rolled_back_after(workspace: &Workspace, transaction: Transaction, error: Error) -> Error {
    let recovery = match transaction.rollback() {
        Ok(recovery) => recovery,
        Err(rollback) => {
            return Error::RollbackFailed {
                failed: error.to_string(),
                error: rollback.to_string(),
                journal: workspace.journal_dir(),
            }
        }
    };
    match error {
        Error::UvFailed {
            command,
            status,
            reason,
            ..
        } => Error::UvFailed {
            command,
            status,
            reason,
            after: rolled_back(&recovery),
        },
        Error::Invalid { mut problems } => {
            let restored = rolled_back(&recovery);
            for problem in &mut problems {
                problem.message.push_str(&restored);
                problem
                    .message
                    .push_str(" (the environment may hold it until the next sync)");
            }
            Error::Invalid { problems }
        }
        other => other,
    }
}

/// Reads the inputs and resolves the plan the request asks for.
fn plan_request(workspace: &Workspace, request: &Request) -> Result<Planned> {
    plan_with(workspace, request, Inputs::read(workspace)?)
}

/// `request` resolved against `inputs` (read from the workspace, or, for a
/// dry run, with the change's edits read as if written): the one place a
/// request becomes a plan.
pub(crate) fn plan_with(
    workspace: &Workspace,
    request: &Request,
    mut inputs: Inputs,
) -> Result<Planned> {
    let modes = request.modes();
    let mode = inputs.mode(&modes);
    let overrides = inputs.overrides(&modes);
    let resolved = inputs.resolve(workspace, &mode, &overrides)?;
    inputs.registry = resolved.registry;
    let plan = resolved.plan;
    let mut new_state = inputs.state.clone();
    if let Some(switch_to) = &modes.switch_to {
        new_state.mode = Some(switch_to.clone());
    }
    new_state.overrides = overrides;
    Ok(Planned {
        inputs,
        mode,
        plan,
        problems: resolved.problems,
        warnings: resolved.warnings,
        new_state,
    })
}

/// When the inputs' fingerprint equals the last good sync's (and the run is
/// not forced), the report of a sync that had nothing to do; the request's
/// mode changes are remembered.
fn up_to_date(
    workspace: &Workspace,
    request: &Request,
    planned: &Planned,
) -> Result<Option<Synced>> {
    if request.options.force || !planned.inputs.matches_last_sync(workspace, &planned.plan) {
        return Ok(None);
    }
    if planned.new_state != planned.inputs.state {
        planned.new_state.save(&workspace.state_path())?;
    }
    Ok(Some(Synced {
        report: SyncReport {
            mode: planned.mode.clone(),
            outcome: SyncOutcome::UpToDate,
            plan: planned.plan.clone(),
            reinstalled: Vec::new(),
            kept_user_edits: Vec::new(),
            dirty_clones: Vec::new(),
            warnings: planned.warnings.clone(),
            notes: Vec::new(),
            uv_ms: None,
        },
        inputs_read: inputs_read(workspace, &planned.inputs, &planned.plan),
    }))
}

/// Every file and folder a sync's result depends on: `hpm.yaml`,
/// `pyproject.toml`, `uv.lock`, hpm's state and registry pins, each
/// registry entry read and each registry folder (an entry added to an
/// earlier one wins), each dev clone's `pyproject.toml`, and the
/// environment's site-packages (whose stamp also goes when the environment
/// does).
pub fn inputs_read(workspace: &Workspace, inputs: &Inputs, plan: &Plan) -> Vec<PathBuf> {
    let root = workspace.root();
    let mut paths = vec![
        workspace.manifest_path(),
        workspace.pyproject_path(),
        workspace.uv_lock_path(),
        workspace.state_path(),
        workspace.registry_pins_path(),
    ];
    paths.extend(inputs.registry.files().map(std::path::Path::to_path_buf));
    for location in &inputs.manifest.registry {
        if let RegistryLocation::Folder(path) | RegistryLocation::Path { path } = location {
            paths.push(root.join(path));
            paths.push(root.join(path).join("packages"));
        }
    }
    paths.extend(
        plan.local_paths()
            .map(|path| root.join(path).join(PYPROJECT_FILE)),
    );
    paths.push(workspace.venv_path());
    paths.push(workspace.venv_path().join("lib"));
    paths.extend(workspace.site_packages());
    paths
}

/// Clones the dev packages the request needs (when it may), and says which
/// existing clones it puts into use have uncommitted changes.
fn prepare_clones(
    workspace: &Workspace,
    request: &Request,
    planned: &Planned,
    on_phase: &mut dyn FnMut(Phase),
) -> Result<Vec<String>> {
    let changed = request.clone_candidates(&planned.plan);
    let changed = changed.as_slice();
    let clones = super::clone::missing_clones(
        workspace.root(),
        &planned.plan,
        &planned.inputs.registry,
        changed,
        &planned.inputs.manifest.settings,
    )?;
    if !clones.is_empty() {
        if !request.options.clone_missing {
            return Err(Error::CloneNeeded { clones });
        }
        super::clone::clone_all(workspace, &clones, on_phase)?;
    }
    let dirty = super::clone::dirty_existing_clones(workspace.root(), &planned.plan, changed);
    for path in &dirty {
        on_phase(Phase::UsingDirtyClone { path: path.clone() });
    }
    Ok(dirty)
}

/// Validates and pins the plan, and finds uv meanwhile: finding uv runs it
/// (`uv --version`), which costs as much as listing a few remotes when uv
/// sits behind a shim.
fn validate_and_find_uv(
    workspace: &Workspace,
    planned: &Planned,
    lock: Option<&[u8]>,
) -> Result<(PinnedPlan, Uv)> {
    let (validated, found) = std::thread::scope(|scope| {
        let finding = scope.spawn(|| Uv::for_caller(workspace.caller()));
        let validated = validate::validate_against_lock(
            workspace,
            planned.plan.clone(),
            planned.problems.clone(),
            lock,
        );
        (validated, finding.join())
    });
    let pinned = validated?;
    let uv = found.map_err(|_| Error::internal("looking for uv crashed"))??;
    Ok((pinned, uv))
}

/// The `uv.lock` uv starts from, and what becomes of the one there now.
struct StartLock {
    /// The mode's last good lock, when switching back to a mode synced
    /// before: uv then starts from the versions it locked then.
    snapshot: Option<Vec<u8>>,
    /// The mode being left, when the user re-locked `uv.lock` since the
    /// last sync: their lock becomes that mode's snapshot, so that nothing
    /// of theirs is lost and switching back starts from it.
    adopted_for: Option<Mode>,
}

/// Which lock uv will start from; reads only.
fn start_lock(workspace: &Workspace, planned: &Planned) -> Result<StartLock> {
    let mut start = StartLock {
        snapshot: None,
        adopted_for: None,
    };
    let Some(last) = &planned.inputs.state.last_sync else {
        return Ok(start);
    };
    if last.mode == planned.mode {
        return Ok(start);
    }
    let current = planned.inputs.uv_lock.as_deref();
    let relocked = last.lock.is_some() && current.is_some() && last.lock != hash_of(current);
    if relocked {
        start.adopted_for = Some(last.mode.clone());
    }
    let path = workspace.lock_snapshot_path(&planned.mode);
    start.snapshot = read_optional(&path).map_err(|e| Error::read(&path, e))?;
    Ok(start)
}

impl StartLock {
    /// The lock's text: the snapshot, or `current` (the workspace's).
    fn text<'a>(&'a self, current: Option<&'a [u8]>) -> Option<&'a [u8]> {
        self.snapshot.as_deref().or(current)
    }
}

/// The snapshot to stage as `uv.lock`, if any, after saving a lock the
/// user re-locked as the snapshot of the mode being left; the note that
/// says so.
fn lock_snapshot(
    workspace: &Workspace,
    planned: &Planned,
    start: StartLock,
) -> Result<(Option<Vec<u8>>, Option<String>)> {
    let (Some(mode), Some(current)) = (&start.adopted_for, &planned.inputs.uv_lock) else {
        return Ok((start.snapshot, None));
    };
    let path = workspace.lock_snapshot_path(mode);
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| Error::write(folder, e))?;
    }
    write_atomic(&path, current).map_err(|e| Error::write(&path, e))?;
    tracing::info!(%mode, "uv.lock was re-locked since the last sync; kept as the mode's snapshot");
    Ok((
        start.snapshot,
        Some(format!(
            "`uv.lock` was changed since the last sync, in {mode}: kept as {mode}'s lock, which `hpmctl switch {mode}` starts from"
        )),
    ))
}

/// Journals the files and writes the new ones; from here until a commit
/// records it, no sync may call the environment up to date (a failed or
/// killed uv may have left it half-changed; the next sync repairs it).
fn stage(
    workspace: &Workspace,
    mut transaction: Transaction,
    planned: &Planned,
    pyproject: &str,
    lock_snapshot: Option<Vec<u8>>,
) -> Result<Transaction> {
    transaction.stage(
        &FileHashes {
            pyproject: hash_of(Some(&planned.inputs.pyproject)),
            uv_lock: hash_of(planned.inputs.uv_lock.as_deref()),
        },
        pyproject.as_bytes(),
        lock_snapshot.as_deref(),
    )?;
    if planned.inputs.state.last_sync.is_some() {
        let in_flux = LocalState {
            last_sync: None,
            ..planned.inputs.state.clone()
        };
        in_flux.save(&workspace.state_path())?;
    }
    Ok(transaction)
}

/// Per package, a key that changes when its source does.
fn source_keys(plan: &Plan) -> BTreeMap<PackageName, String> {
    plan.packages
        .iter()
        .map(|package| {
            let key = serde_json::to_string(&package.source).unwrap_or_default();
            (package.key.clone(), key)
        })
        .collect()
}

/// The packages whose source changed since the last sync: uv reinstalls them.
fn reinstalled(planned: &Planned, pinned: &PinnedPlan) -> Vec<String> {
    changed_sources(&planned.inputs.state, pinned)
}

/// The packages of `pinned` whose source differs from the last good sync's
/// (none before a first sync); the sync and its dry run share this.
pub(crate) fn changed_sources(state: &LocalState, pinned: &PinnedPlan) -> Vec<String> {
    let Some(last) = &state.last_sync else {
        return Vec::new();
    };
    let sources = source_keys(pinned);
    pinned
        .packages
        .iter()
        .filter(|p| {
            last.sources
                .get(&p.key)
                .is_some_and(|key| Some(key) != sources.get(&p.key))
        })
        .map(|p| p.name.clone())
        .collect()
}

/// What uv is run with.
struct UvRun<'a> {
    uv: &'a Uv,
    reinstalled: &'a [String],
    pid_file: PathBuf,
}

/// `uv sync` with the manifest's arguments, streaming its lines.
fn run_uv(
    workspace: &Workspace,
    request: &Request,
    planned: &Planned,
    run: UvRun<'_>,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
) -> Result<()> {
    let settings = &planned.inputs.manifest.settings;
    let mut args = vec!["sync".to_string()];
    args.extend(settings.uv_args.iter().cloned());
    for name in run.reinstalled {
        args.push("--reinstall-package".into());
        args.push(name.clone());
    }
    on_progress(Progress::Phase {
        phase: Phase::RunningUv { args: args.clone() },
    });
    let options = RunOptions {
        timeout: request
            .options
            .uv_timeout
            .or(settings.uv_timeout.map(Duration::from_secs)),
        pid_file: Some(run.pid_file),
        ..RunOptions::for_caller(workspace.caller())
    };
    run.uv.run(
        workspace.root(),
        &args,
        &options,
        &mut |line| {
            on_progress(Progress::Uv {
                line: line.to_string(),
            })
        },
        cancel,
    )
}

/// The dependency-confusion guard after uv ran ([`crate::guard`]): a lock
/// that takes an internal package from an index fails the sync, which
/// then rolls back.
fn refuse_internal_from_index(
    workspace: &Workspace,
    planned: &Planned,
    pyproject: &str,
) -> Result<()> {
    let lock_path = workspace.uv_lock_path();
    let Some(lock) = read_optional(&lock_path).map_err(|e| Error::read(&lock_path, e))? else {
        return Ok(());
    };
    let found = crate::guard::internal_from_index(
        workspace,
        &planned.inputs.manifest,
        &planned.mode,
        &planned.plan,
        pyproject,
        &String::from_utf8_lossy(&lock),
    )?;
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid {
        problems: found.iter().map(crate::guard::FromIndex::problem).collect(),
    })
}

/// After the commit: saves the mode's lock snapshot and remembers what was
/// synced. The files and the environment are in the new mode by now, so a
/// failure here says so ([`Error::NotRecorded`]) instead of claiming that
/// nothing changed.
fn record(
    workspace: &Workspace,
    outcome: CommitOutcome,
    planned: Planned,
    pinned: PinnedPlan,
    reinstalled: Vec<String>,
    dirty_clones: Vec<String>,
) -> Result<Synced> {
    let mode = planned.mode.to_string();
    let warnings = planned.warnings.clone();
    let not_recorded = |error: Error| Error::NotRecorded {
        mode: mode.clone(),
        error: error.to_string(),
    };
    let pyproject_path = workspace.pyproject_path();
    let lock_path = workspace.uv_lock_path();
    let after = Inputs {
        pyproject: crate::fsutil::read_file(&pyproject_path)
            .map_err(|e| not_recorded(Error::read(&pyproject_path, e)))?,
        uv_lock: read_optional(&lock_path).map_err(|e| not_recorded(Error::read(&lock_path, e)))?,
        ..planned.inputs
    };
    if let Some(lock) = &after.uv_lock {
        let snapshot = workspace.lock_snapshot_path(&planned.mode);
        write_atomic(&snapshot, lock)
            .map_err(|error| not_recorded(Error::write(&snapshot, error)))?;
    }
    let mut new_state = planned.new_state;
    new_state.managed = pinned.names();
    new_state.last_sync = match (outcome, &after.uv_lock) {
        // The fingerprint of the unpinned plan: the one the next run
        // computes before validating.
        (CommitOutcome::Committed, Some(lock)) => Some(LastSync {
            fingerprint: fingerprint(workspace, &after, &planned.plan),
            mode: planned.mode.clone(),
            sources: source_keys(&pinned),
            lock: hash_of(Some(lock)),
        }),
        // The file is not what was synced: the next sync must look again.
        (CommitOutcome::UserEditKept, _) => None,
        // `uv.lock` went missing (deleted during the sync): a state whose
        // files are missing is never recorded as synced.
        (CommitOutcome::Committed, None) => None,
    };
    new_state
        .save(&workspace.state_path())
        .map_err(not_recorded)?;
    let inputs_read = inputs_read(workspace, &after, &planned.plan);
    Ok(Synced {
        report: SyncReport {
            mode: planned.mode,
            outcome: SyncOutcome::Synced,
            plan: pinned.into_plan(),
            reinstalled,
            kept_user_edits: match outcome {
                CommitOutcome::UserEditKept => vec![pyproject_path],
                CommitOutcome::Committed => Vec::new(),
            },
            dirty_clones,
            warnings,
            notes: Vec::new(),
            uv_ms: None,
        },
        inputs_read,
    })
}
