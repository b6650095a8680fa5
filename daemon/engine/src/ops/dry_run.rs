//! `--dry-run`: what a change would do, computed without doing it. The
//! request is resolved and validated as a sync would (the closure, the
//! refs on their remotes, the clones it needs), and the files it would
//! write are rendered and diffed, and uv is asked whether the result
//! resolves, on a scratch copy. Nothing is written: no file of the
//! user's, nothing under `.hpm/` (git registries' pins stay), no clone.
//! Reading may fill hpm's own caches in the user cache folder, as any read
//! does.

use hpm_core::diff::unified;
use hpm_core::pin::PinnedPlan;
use hpm_core::plan::PlannedSource;
use hpm_core::pyproject::{render, PYPROJECT_FILE};
use hpm_protocol::report::{DryRunReport, FileDiff};

use super::clone::missing_clones;
use super::edit::FileEdits;
use super::sync::{changed_sources, plan_with, Intent, Planned, Request};
use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::process::{CancelToken, RunOptions};
use crate::uv::Uv;
use crate::validate::validate_except;
use crate::workspace::Workspace;

/// The change `request` would make.
pub fn dry_run(workspace: &Workspace, request: &Request) -> Result<DryRunReport> {
    let edits = request.edits(workspace)?.unwrap_or_default();
    let mut diffs = edits.diffs(workspace.root());
    let inputs = inputs_after(workspace, &edits)?;
    let Planned {
        inputs,
        mode,
        plan,
        problems,
        warnings,
        ..
    } = plan_with(workspace, request, inputs)?;
    let up_to_date = !request.options.force
        && matches!(
            request.intent,
            Intent::Sync { .. } | Intent::SetModes { .. } | Intent::Switch { .. }
        )
        && inputs.matches_last_sync(workspace, &plan);
    let clones = missing_clones(
        workspace.root(),
        &plan,
        &inputs.registry,
        &request.clone_candidates(&plan),
        &inputs.manifest.settings,
    )?;
    let cloned: Vec<_> = clones
        .iter()
        .map(|clone| hpm_core::PackageName::key(&clone.package))
        .collect();
    let pinned = validate_except(workspace, plan.clone(), problems, &cloned)?;
    let text = inputs.pyproject_text(workspace)?;
    let rendered = inputs.render_pyproject(workspace, &pinned)?;
    if rendered.text != text {
        diffs.push(FileDiff {
            path: workspace.pyproject_path(),
            diff: unified("pyproject.toml", text, &rendered.text),
        });
    }
    let mut warnings = warnings;
    warnings.extend(rendered.notes);
    let reinstalled = changed_sources(&inputs.state, &pinned);
    // Not asked when nothing changes, or when clones not made would be needed.
    let ask_uv = !up_to_date && clones.is_empty();
    let (resolves, uv_reason) = match ask_uv {
        false => (None, None),
        true => match resolves_on_a_scratch_copy(workspace, &inputs, &pinned, text)? {
            None => (Some(true), None),
            Some(reason) => (Some(false), Some(reason)),
        },
    };
    Ok(DryRunReport {
        mode,
        up_to_date,
        plan: pinned.into_plan(),
        diffs,
        clones,
        reinstalled,
        warnings,
        notes: edits.notes,
        resolves,
        uv_reason,
    })
}

/// The inputs as they would read once `edits` were written.
fn inputs_after(workspace: &Workspace, edits: &FileEdits) -> Result<Inputs> {
    let manifest = match edits.manifest(workspace)? {
        Some(manifest) => manifest,
        None => workspace.load_manifest()?,
    };
    let mut inputs = Inputs::read_with(workspace, manifest, true)?;
    inputs.registry = edits.registry().merged_with(inputs.registry);
    Ok(inputs)
}

/// Asks uv whether the planned `pyproject.toml` resolves, without touching
/// the user's files: a scratch folder in the temp dir gets the planned
/// file (path sources made absolute), a copy of `uv.lock`, and links to
/// every other entry of the workspace root (so `packages/…` or a flat
/// index `./wheelhouse` resolve as they would), and `uv lock` runs there.
/// `None` when it resolves, else uv's reason. (A hand-written `../` path in
/// the core's `pyproject.toml` does not resolve from the scratch folder.)
pub(crate) fn resolves_on_a_scratch_copy(
    workspace: &Workspace,
    inputs: &Inputs,
    pinned: &PinnedPlan,
    original: &str,
) -> Result<Option<String>> {
    let root = workspace.root();
    let scratch = tempfile::Builder::new()
        .prefix("hpm-dry-run-")
        .tempdir()
        .map_err(|e| Error::write(std::env::temp_dir(), e))?;
    let skipped = [PYPROJECT_FILE, "uv.lock", ".venv", ".hpm", ".git"];
    let entries = std::fs::read_dir(root).map_err(|e| Error::read(root, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if skipped.iter().any(|skip| name == *skip) {
            continue;
        }
        let link = scratch.path().join(&name);
        std::os::unix::fs::symlink(entry.path(), &link).map_err(|e| Error::write(&link, e))?;
    }
    let mut absolute = pinned.plan().clone();
    for package in &mut absolute.packages {
        // A workspace member stays relative: the scratch folder links the
        // folder it lives in.
        if let PlannedSource::Path {
            path,
            member: false,
            ..
        } = &mut package.source
        {
            *path = root.join(&*path).display().to_string();
        }
    }
    let absolute = PinnedPlan::without_remotes(absolute)?;
    let path = scratch.path().join(PYPROJECT_FILE);
    let rendered = render(
        original,
        &absolute,
        &inputs.state.managed,
        &inputs.state.workspace_members,
        &path,
    )?;
    std::fs::write(&path, rendered.text).map_err(|e| Error::write(&path, e))?;
    if let Some(lock) = &inputs.uv_lock {
        let copy = scratch.path().join("uv.lock");
        std::fs::write(&copy, lock).map_err(|e| Error::write(&copy, e))?;
    }
    let uv = Uv::for_caller(workspace.caller())?;
    match uv.run(
        scratch.path(),
        &["lock".to_string()],
        &RunOptions::for_caller(workspace.caller()),
        &mut |_| {},
        &CancelToken::new(),
    ) {
        Ok(()) => Ok(None),
        Err(Error::UvFailed { reason, .. }) => Ok(Some(reason)),
        Err(other) => Err(other),
    }
}
