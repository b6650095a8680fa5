//! `hpmctl check`, for CI: the manifest is valid, `pyproject.toml` says what
//! the plan says, the lock is current (`uv lock --locked`), no package that
//! is not in a local mode has a local path source in `pyproject.toml` or
//! `uv.lock`, no internal package comes from an index by name
//! ([`crate::guard`]), and no interrupted sync waits to be rolled back.
//! Another mode is checked without switching ([`check_modes`]): its plan
//! validates, and either its export folder (`hpmctl export`) is what an
//! export writes now with a current lock, or what hpm would write for it
//! resolves with uv on a scratch copy. Changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use hpm_core::export::HEADER;
use hpm_core::pin::PinnedPlan;
use hpm_core::plan::PlannedSource;
use hpm_core::pyproject::{PyprojectMut, PYPROJECT_FILE};
use hpm_core::{lockfile, Mode};
use hpm_protocol::report::{CheckFailure, CheckKind, CheckReport, ExportRequest};

use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::process::{CancelToken, RunOptions};
use crate::uv::Uv;
use crate::validate;
use crate::workspace::Workspace;

/// Runs every check; an invalid manifest is an error, the rest are failures.
pub fn check(workspace: &Workspace) -> Result<CheckReport> {
    let inputs = Inputs::read(workspace)?;
    let modes = crate::inputs::Modes::default();
    let mode = inputs.mode(&modes);
    let resolved = inputs.resolve(workspace, &mode, &inputs.overrides(&modes))?;
    let pinned = validate::validate(workspace, resolved.plan, resolved.problems)?;
    let mut failures = Vec::new();
    let fail = |check: CheckKind, message: String| CheckFailure { check, message };

    if let Some(interrupted) = crate::transaction::interrupted(workspace) {
        failures.push(fail(
            CheckKind::Interrupted,
            format!(
                "a sync was interrupted and `pyproject.toml` and `uv.lock` may be half-switched; {}",
                interrupted.hint
            ),
        ));
    }

    let text = inputs.pyproject_text(workspace)?;
    let current = PyprojectMut::parse(text, &workspace.pyproject_path())?;
    let rendered = inputs.render_pyproject(workspace, &pinned)?;
    if rendered.text != text {
        failures.push(fail(
            CheckKind::Pyproject,
            "`pyproject.toml` does not match the plan; run `hpmctl sync` and commit the result"
                .to_string(),
        ));
    }

    failures.extend(lock_not_current(workspace)?);
    let lock_text = inputs
        .uv_lock
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    failures.extend(local_sources_outside_dev(&pinned, &current, &lock_text));
    let from_index = crate::guard::internal_from_index(
        workspace,
        &inputs.manifest,
        &mode,
        &pinned,
        text,
        &lock_text,
    )?;
    for found in from_index {
        failures.push(fail(CheckKind::IndexSource, found.problem().message));
    }
    Ok(report(workspace, &mode, failures, resolved.warnings))
}

/// A failure when `uv lock --locked` says `uv.lock` is not current.
fn lock_not_current(workspace: &Workspace) -> Result<Option<CheckFailure>> {
    let uv = Uv::for_caller(workspace.caller())?;
    let locked = uv.run(
        workspace.root(),
        &["lock".to_string(), "--locked".to_string()],
        &RunOptions::for_caller(workspace.caller()),
        &mut |_| {},
        &CancelToken::new(),
    );
    match locked {
        Ok(()) => Ok(None),
        Err(Error::UvFailed { reason, .. }) => Ok(Some(CheckFailure {
            check: CheckKind::Lock,
            message: format!("`uv.lock` is not current; run `hpmctl sync` and commit it\n{reason}"),
        })),
        Err(other) => Err(other),
    }
}

/// A failure for each package not in dev that `pyproject.toml` or
/// `uv.lock` still takes from a local folder.
fn local_sources_outside_dev(
    pinned: &PinnedPlan,
    current: &PyprojectMut,
    lock_text: &str,
) -> Vec<CheckFailure> {
    let mut failures = Vec::new();
    for package in &pinned.packages {
        if package.source.local_path().is_some() {
            continue;
        }
        if current.has_local_source(&package.name) {
            failures.push(CheckFailure {
                check: CheckKind::LocalSource,
                message: format!(
                    "`{}` is in {} mode but has a local path source in `pyproject.toml`",
                    package.name, package.mode
                ),
            });
        }
        if lockfile::has_local_source(lock_text, package.key.as_str()) {
            failures.push(CheckFailure {
                check: CheckKind::LocalSource,
                message: format!(
                    "`{}` is in {} mode but `uv.lock` installs it from a local folder",
                    package.name, package.mode
                ),
            });
        }
    }
    failures
}

/// A mode's report: ok when nothing failed.
fn report(
    workspace: &Workspace,
    mode: &Mode,
    failures: Vec<CheckFailure>,
    warnings: Vec<String>,
) -> CheckReport {
    CheckReport {
        workspace: workspace.root().display().to_string(),
        mode: mode.to_string(),
        ok: failures.is_empty(),
        failures,
        warnings,
        not_checked: None,
    }
}

/// What a pre-commit hook checks: the `pyproject.toml` staged for commit
/// (git's index) is what hpm writes for the mode `hpm.yaml` names — the
/// mode the team commits — whatever mode this clone is switched to, so a
/// dev-mode file (local paths) never reaches a commit. The working tree is
/// not read.
pub fn check_staged(workspace: &Workspace) -> Result<CheckReport> {
    let inputs = Inputs::read(workspace)?;
    let mode = inputs.manifest.mode.clone();
    let path = workspace.pyproject_path();
    let staged = staged_text(workspace.root(), PYPROJECT_FILE)?;
    let resolved = inputs.resolve(workspace, &mode, &BTreeMap::new())?;
    let pinned = validate::validate(workspace, resolved.plan, resolved.problems)?;
    let rendered = hpm_core::pyproject::render(
        &staged,
        &pinned,
        &inputs.state.managed,
        &inputs.state.workspace_members,
        &path,
    )?;
    let mut failures = Vec::new();
    if rendered.text != staged {
        let current = inputs.mode(&crate::inputs::Modes::default());
        failures.push(CheckFailure {
            check: CheckKind::Pyproject,
            message: format!(
                "the `pyproject.toml` staged for commit is not what hpm writes for {mode} mode, the mode `hpm.yaml` names (this clone is in {current} mode); run `hpmctl switch {mode}`, stage `pyproject.toml` and `uv.lock`, and commit (then `hpmctl switch {current}` to go on)"
            ),
        });
    }
    Ok(report(workspace, &mode, failures, resolved.warnings))
}

/// `relative`'s text as staged in the git index of the repository that
/// holds `root`.
fn staged_text(root: &std::path::Path, relative: &str) -> Result<String> {
    let not_in_git = |detail: String| {
        Error::invalid(
            hpm_core::Problem::new(format!(
                "`--staged` reads what is staged for commit, and {detail}"
            ))
            .hint("run it in the core's git clone, as a pre-commit hook does"),
        )
    };
    let repository = git2::Repository::discover(root)
        .map_err(|_| not_in_git(format!("`{}` is not in a git repository", root.display())))?;
    let workdir = repository
        .workdir()
        .and_then(|workdir| workdir.canonicalize().ok())
        .ok_or_else(|| not_in_git("the repository has no work tree".to_string()))?;
    let file = root
        .canonicalize()
        .map_err(|error| Error::read(root, error))?
        .join(relative);
    let in_repo = file
        .strip_prefix(&workdir)
        .map_err(|_| not_in_git(format!("`{}` is outside the work tree", file.display())))?;
    let index = repository.index().map_err(|error| {
        Error::internal(format!("cannot read git's index: {}", error.message()))
    })?;
    let entry = index.get_path(in_repo, 0).ok_or_else(|| {
        not_in_git(format!(
            "`{}` is not staged (not in git's index)",
            in_repo.display()
        ))
    })?;
    let blob = repository.find_blob(entry.id).map_err(|error| {
        Error::internal(format!(
            "cannot read the staged `{relative}`: {}",
            error.message()
        ))
    })?;
    Ok(String::from_utf8_lossy(blob.content()).into_owned())
}

/// [`check`] for each of `modes` (none: every mode the workspace names),
/// the current mode as it is, the others without switching.
pub fn check_modes(workspace: &Workspace, modes: &[Mode]) -> Result<Vec<CheckReport>> {
    let inputs = Inputs::read(workspace)?;
    let current = inputs.mode(&crate::inputs::Modes::default());
    let modes = if modes.is_empty() {
        every_mode(&inputs, &current)
    } else {
        modes.to_vec()
    };
    modes
        .iter()
        .map(|mode| match mode == &current {
            true => check(workspace),
            false => check_other_mode(workspace, &inputs, mode),
        })
        .collect()
}

/// The current mode first, then every other mode a registry entry gives
/// a source for.
fn every_mode(inputs: &Inputs, current: &Mode) -> Vec<Mode> {
    let named: BTreeSet<&Mode> = inputs
        .registry
        .entries()
        .flat_map(|entry| entry.sources.keys())
        .filter(|mode| *mode != current)
        .collect();
    std::iter::once(current.clone())
        .chain(named.into_iter().cloned())
        .collect()
}

/// A mode the workspace is not in: does it install?
fn check_other_mode(workspace: &Workspace, inputs: &Inputs, mode: &Mode) -> Result<CheckReport> {
    let mut report = report(workspace, mode, Vec::new(), Vec::new());
    let refused = |report: &mut CheckReport, error: Error| -> Result<()> {
        match error {
            Error::Invalid { problems } | Error::Network { problems } => {
                for problem in problems {
                    report.failures.push(CheckFailure {
                        check: CheckKind::Resolve,
                        message: problem.to_string(),
                    });
                }
                report.ok = report.failures.is_empty();
                Ok(())
            }
            other => Err(other),
        }
    };
    let resolved = match inputs.resolve(workspace, mode, &BTreeMap::new()) {
        Ok(resolved) => resolved,
        Err(error) => {
            refused(&mut report, error)?;
            return Ok(report);
        }
    };
    report.warnings = resolved.warnings.clone();
    if let Some(missing) = missing_folder(workspace, &resolved.plan) {
        report.ok = true;
        report.not_checked = Some(missing);
        return Ok(report);
    }
    let pinned = match validate::validate(workspace, resolved.plan, resolved.problems) {
        Ok(pinned) => pinned,
        Err(error) => {
            refused(&mut report, error)?;
            return Ok(report);
        }
    };
    let folder = workspace.root().join(mode.as_str());
    let exported = std::fs::read(folder.join(PYPROJECT_FILE))
        .is_ok_and(|bytes| bytes.starts_with(HEADER.as_bytes()));
    if exported {
        report.failures.extend(export_failures(workspace, mode)?);
    } else {
        let text = inputs.pyproject_text(workspace)?;
        if let Some(reason) =
            super::dry_run::resolves_on_a_scratch_copy(workspace, inputs, &pinned, text)?
        {
            report.failures.push(CheckFailure {
                check: CheckKind::Resolve,
                message: format!(
                    "what `hpmctl switch {mode}` would write does not resolve: uv says\n{reason}"
                ),
            });
        }
    }
    report.ok = report.failures.is_empty();
    Ok(report)
}

/// The first local folder the plan installs from that is not here.
fn missing_folder(workspace: &Workspace, plan: &hpm_core::plan::Plan) -> Option<String> {
    plan.packages.iter().find_map(|package| {
        let PlannedSource::Path { path, .. } = &package.source else {
            return None;
        };
        (!workspace.root().join(path).exists()).then(|| {
            format!(
                "`{}` installs from `{path}`, which is not here (`hpmctl dev {}` clones it)",
                package.name, package.name
            )
        })
    })
}

/// The export folder of `mode` against what `hpmctl export` writes now,
/// and its lock against uv.
fn export_failures(workspace: &Workspace, mode: &Mode) -> Result<Vec<CheckFailure>> {
    let mut failures = Vec::new();
    let request = ExportRequest {
        mode: mode.clone(),
        out: None,
        with_core: false,
        force: false,
        dry_run: true,
    };
    let folder = workspace.root().join(mode.as_str());
    let report = super::export::export(workspace, &request)?;
    if !report.changed.is_empty() {
        failures.push(CheckFailure {
            check: CheckKind::Export,
            message: format!(
                "`{mode}/pyproject.toml` is not what `hpmctl export {mode}` writes now; run it and commit the result"
            ),
        });
        return Ok(failures);
    }
    let uv = Uv::for_caller(workspace.caller())?;
    let locked = uv.run(
        &folder,
        &["lock".to_string(), "--locked".to_string()],
        &RunOptions::for_caller(workspace.caller()),
        &mut |_| {},
        &CancelToken::new(),
    );
    match locked {
        Ok(()) => {}
        Err(Error::UvFailed { reason, .. }) => failures.push(CheckFailure {
            check: CheckKind::Export,
            message: format!(
                "`{mode}/uv.lock` is not current; run `hpmctl export {mode}` and commit it\n{reason}"
            ),
        }),
        Err(other) => return Err(other),
    }
    Ok(failures)
}
