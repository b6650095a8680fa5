//! The checks a plan needs the disk or the network for, run before any
//! file is touched: local folders hold the right project, and every git
//! remote is listed (once per URL, several at a time) so that the core can
//! pin each reference ([`hpm_core::pin`]). A sync lists only the remotes
//! whose references the lock uv starts from does not already answer
//! ([`validate_against_lock`]).

use std::collections::BTreeMap;
use std::path::Path;

use hpm_core::pin::{locked_refs, urls_to_list, PinnedPlan, RemoteRefs, Remotes};
use hpm_core::plan::{Plan, PlannedPackage, PlannedSource};
use hpm_core::pyproject::{PyprojectMut, PYPROJECT_FILE};
use hpm_core::{Invalid, PackageName, Problem};

use crate::error::{Error, Result};
use crate::git::net::NetFailure;
use crate::git::remote::list_remotes;
use crate::workspace::Workspace;

/// Checks every package of `plan` and pins its git references. A remote
/// that cannot be reached is a network error; the other problems are
/// reported together with `earlier` (the closure's).
pub fn validate(workspace: &Workspace, plan: Plan, earlier: Vec<Problem>) -> Result<PinnedPlan> {
    validate_except(workspace, plan, earlier, &[])
}

/// [`validate`], for a sync that starts uv from `lock` (the text of the
/// `uv.lock` it will run with): a reference the lock already pins needs
/// no listing of its remote, since uv installs the locked commit without
/// asking it. The rest are listed as [`validate`] does. `hpmctl check` and
/// the dry run list every remote.
pub fn validate_against_lock(
    workspace: &Workspace,
    plan: Plan,
    earlier: Vec<Problem>,
    lock: Option<&[u8]>,
) -> Result<PinnedPlan> {
    let known = lock
        .map(|lock| locked_refs(&String::from_utf8_lossy(lock)))
        .unwrap_or_default();
    validate_knowing(workspace, plan, earlier, &[], &known)
}

/// [`validate`], leaving out the local checks of `not_yet_cloned` (a dry
/// run's clones, which are not made).
pub fn validate_except(
    workspace: &Workspace,
    plan: Plan,
    earlier: Vec<Problem>,
    not_yet_cloned: &[PackageName],
) -> Result<PinnedPlan> {
    validate_knowing(workspace, plan, earlier, not_yet_cloned, &BTreeMap::new())
}

/// The checks, with `known` answering for the remotes it pins every
/// package of.
fn validate_knowing(
    workspace: &Workspace,
    plan: Plan,
    earlier: Vec<Problem>,
    not_yet_cloned: &[PackageName],
    known: &BTreeMap<String, RemoteRefs>,
) -> Result<PinnedPlan> {
    let root = workspace.root();
    let mut problems = earlier;
    problems.extend(
        plan.packages
            .iter()
            .filter(|package| !not_yet_cloned.contains(&package.key))
            .filter_map(|package| match &package.source {
                PlannedSource::Path { path, .. } => check_local(root, package, path).err(),
                _ => None,
            }),
    );
    let urls = urls_to_list(&plan, known);
    let mut remotes = list_remotes(workspace.caller(), &urls);
    for (url, refs) in known {
        if !urls.contains(url) {
            remotes.insert(url.clone(), Ok(refs.clone()));
        }
    }
    let unreachable = unreachable_remotes(&plan, &remotes);
    if !unreachable.is_empty() {
        return Err(Error::Network {
            problems: unreachable,
        });
    }
    PinnedPlan::pin(plan, &remotes, problems)
        .map_err(|Invalid { problems }| Error::Invalid { problems })
}

/// A problem per package whose remote did not answer.
fn unreachable_remotes(plan: &Plan, remotes: &Remotes) -> Vec<Problem> {
    plan.packages
        .iter()
        .filter_map(|package| {
            let PlannedSource::Git { url, .. } = &package.source else {
                return None;
            };
            let Some(Err(message)) = remotes.get(url) else {
                return None;
            };
            let failure = NetFailure {
                said: message.clone(),
            };
            Some(
                Problem::new(format!("cannot reach git remote `{url}`: {message}"))
                    .for_package(&package.name)
                    .hint(format!("{}; nothing was changed", failure.hint())),
            )
        })
        .collect()
}

/// A local source's folder exists and holds a `pyproject.toml` of that project.
fn check_local(root: &Path, package: &PlannedPackage, path: &str) -> Result<(), Problem> {
    let folder = root.join(path);
    let problem = |message: String| Problem::new(message).for_package(&package.name);
    if !folder.is_dir() {
        return Err(problem(format!("local folder `{path}` does not exist")).hint(format!(
            "clone the package there (`hpmctl dev {}` clones it from the registry's `repo`), or fix `path` in its registry entry",
            package.name
        )));
    }
    let pyproject_path = folder.join(PYPROJECT_FILE);
    let text = crate::fsutil::read_text(&pyproject_path).map_err(|error| {
        problem(format!(
            "`{path}` has no readable `{PYPROJECT_FILE}`: {error}"
        ))
        .hint("point `path` at the package's root folder")
    })?;
    let pyproject = PyprojectMut::parse(&text, &pyproject_path).map_err(|error| {
        error
            .problems
            .first()
            .cloned()
            .unwrap_or_else(|| problem(error.to_string()))
            .for_package(&package.name)
    })?;
    match pyproject.project_name() {
        Some(name) if PackageName::key(name) == package.key => Ok(()),
        Some(name) => Err(problem(format!(
            "`{path}/{PYPROJECT_FILE}` is the project `{name}`, not `{}`",
            package.name
        ))
        .in_file(&pyproject_path)
        .hint("point `path` at this package's clone in the registry entry")),
        None => Err(
            problem(format!("`{path}/{PYPROJECT_FILE}` has no `[project].name`"))
                .in_file(&pyproject_path)
                .hint("is this the package's root folder?"),
        ),
    }
}
