//! `--dry-run`: what a change would do, computed without doing it. The
//! request is resolved and validated as a sync would (the closure, the
//! refs on their remotes, the clones it needs), and the files it would
//! write are rendered and diffed. Nothing is written: no file of the
//! user's, nothing under `.hpm/` (git registries' pins stay), no clone.
//! Reading may fill hpm's own caches in the user cache folder, as any read
//! does.

use hpm_core::diff::unified;
use hpm_core::manifest::Manifest;
use hpm_core::manifest_edit;
use hpm_core::pyproject::PyprojectMut;
use hpm_core::Problem;
use hpm_protocol::report::{DryRunReport, FileDiff};

use super::clone::missing_clones;
use super::sync::{source_keys, Intent, Request};
use crate::error::{Error, Result};
use crate::fsutil::read_text;
use crate::inputs::Inputs;
use crate::validate::validate_except;
use crate::workspace::Workspace;

/// The change `request` would make.
pub fn dry_run(workspace: &Workspace, request: &Request) -> Result<DryRunReport> {
    let manifest_path = workspace.manifest_path();
    let mut diffs = Vec::new();
    let manifest = match &request.intent {
        Intent::Group(edit) => {
            let text = read_text(&manifest_path).map_err(|e| Error::read(&manifest_path, e))?;
            let edited = manifest_edit::set_selected(
                &text,
                &manifest_path,
                &edit.group,
                &edit.option,
                edit.select,
            )?;
            diffs.push(FileDiff {
                path: manifest_path.clone(),
                diff: unified("hpm.yaml", &text, &edited),
            });
            Manifest::parse(&edited, &manifest_path)?
        }
        _ => workspace.load_manifest()?,
    };
    let mut inputs = Inputs::read_with(workspace, manifest, true)?;
    let modes = request.modes();
    let mode = inputs.mode(&modes);
    let overrides = inputs.overrides(&modes);
    let resolved = inputs.resolve(workspace, &mode, &overrides)?;
    inputs.registry = resolved.registry;
    let plan = resolved.plan;
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
        request.changed_packages(),
        &inputs.manifest.settings,
    )?;
    let cloned: Vec<_> = clones
        .iter()
        .map(|clone| hpm_core::PackageName::key(&clone.package))
        .collect();
    let pinned = validate_except(workspace.root(), plan.clone(), resolved.problems, &cloned)?;
    let pyproject_path = workspace.pyproject_path();
    let text = String::from_utf8(inputs.pyproject.clone())
        .map_err(|_| Error::invalid(Problem::new("is not UTF-8 text").in_file(&pyproject_path)))?;
    let mut pyproject = PyprojectMut::parse(&text, &pyproject_path)?;
    pyproject.apply(&pinned, &inputs.state.managed, &pyproject_path)?;
    let new_text = pyproject.to_string();
    if new_text != text {
        diffs.push(FileDiff {
            path: pyproject_path,
            diff: unified("pyproject.toml", &text, &new_text),
        });
    }
    let reinstalled = match &inputs.state.last_sync {
        Some(last) => {
            let sources = source_keys(&pinned);
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
        None => Vec::new(),
    };
    Ok(DryRunReport {
        mode,
        up_to_date,
        plan: pinned.into_plan(),
        diffs,
        clones,
        reinstalled,
        warnings: resolved.warnings,
    })
}
