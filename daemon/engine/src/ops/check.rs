//! `hpmctl check`, for CI: the manifest is valid, `pyproject.toml` says what
//! the plan says, the lock is current (`uv lock --locked`), no package that
//! is not in a local mode has a local path source in `pyproject.toml` or
//! `uv.lock`, no internal package comes from an index by name
//! ([`crate::guard`]), and no interrupted sync waits to be rolled back.
//! Changes nothing.

use hpm_core::lockfile;
use hpm_core::pyproject::PyprojectMut;
use hpm_protocol::report::{CheckFailure, CheckKind, CheckReport};

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

    let uv = Uv::find()?;
    let locked = uv.run(
        workspace.root(),
        &["lock".to_string(), "--locked".to_string()],
        &RunOptions::for_caller(workspace.caller()),
        &mut |_| {},
        &CancelToken::new(),
    );
    match locked {
        Ok(()) => {}
        Err(Error::UvFailed { reason, .. }) => failures.push(fail(
            CheckKind::Lock,
            format!("`uv.lock` is not current; run `hpmctl sync` and commit it\n{reason}"),
        )),
        Err(other) => return Err(other),
    }

    let lock_text = inputs
        .uv_lock
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    for package in &pinned.packages {
        if package.source.local_path().is_some() {
            continue;
        }
        if current.has_local_source(&package.name) {
            failures.push(fail(
                CheckKind::LocalSource,
                format!(
                    "`{}` is in {} mode but has a local path source in `pyproject.toml`",
                    package.name, package.mode
                ),
            ));
        }
        if lockfile::has_local_source(&lock_text, package.key.as_str()) {
            failures.push(fail(
                CheckKind::LocalSource,
                format!(
                    "`{}` is in {} mode but `uv.lock` installs it from a local folder",
                    package.name, package.mode
                ),
            ));
        }
    }
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
    Ok(CheckReport {
        workspace: workspace.root().display().to_string(),
        mode: mode.to_string(),
        ok: failures.is_empty(),
        failures,
        warnings: resolved.warnings,
    })
}
