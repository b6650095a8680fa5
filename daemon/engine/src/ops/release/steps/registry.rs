//! `Registry`: the registry entries of every released package moved to
//! the new tags (or versions), in one edit per folder registry file, and
//! for a git registry one commit per branch, pushed; a push that lost a
//! race is made again on the winner (fast-forward).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::registry::EntryOrigin;
use hpm_core::release::entry_edit::{move_source, MovedTo};
use hpm_core::release::plan::{RegistryEdit, RegistryTarget, ReleasePlan, Step};
use hpm_core::{Mode, Problem};

use super::{run_git, trailer, Effect, Observed, Runner, StepType, Undo};
use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_through};
use crate::git::history;

/// How many times a registry push that lost a race is tried again.
const REGISTRY_PUSH_ATTEMPTS: usize = 5;

pub struct Registry;

impl StepType for Registry {
    fn observe(&self, run: &Runner, _step: &Step) -> Result<Observed> {
        for edit in &run.plan.registry {
            let (origin, text) = registry_text(run, edit)?;
            if edited(&origin, &text, edit)? != text {
                return Ok(Observed::Todo);
            }
        }
        Ok(Observed::Done)
    }

    fn effects(&self, run: &Runner, _step: &Step) -> Result<Vec<Effect>> {
        let (folder, git) = targets(run.plan);
        let mut effects = Vec::new();
        for (edit, file) in folder {
            let (origin, text) = registry_text(run, edit)?;
            let new = edited(&origin, &text, edit)?;
            if new != text {
                effects.push(Effect::Write {
                    path: file.clone(),
                    diff: hpm_core::diff::unified(&run.label(file), &text, &new),
                });
            }
        }
        for ((url, branch), edits) in git {
            let work = registry_clone(run, &url);
            let dir = work.display().to_string();
            effects.push(Effect::Git {
                dir: run.dir.display().to_string(),
                argv: clone_argv(&url, &branch, &work),
            });
            let mut paths = Vec::new();
            for edit in edits {
                let (origin, text) = registry_text(run, edit)?;
                let new = edited(&origin, &text, edit)?;
                if let RegistryTarget::Git { path, .. } = &edit.target {
                    effects.push(Effect::Write {
                        path: work.join(path).display().to_string(),
                        diff: hpm_core::diff::unified(path, &text, &new),
                    });
                    paths.push(path.clone());
                }
            }
            effects.push(Effect::Git {
                dir: dir.clone(),
                argv: commit_argv(run, paths),
            });
            effects.push(Effect::Git {
                dir,
                argv: push_argv(&branch),
            });
        }
        Ok(effects)
    }

    fn apply(&self, run: &Runner, _step: &Step, _effects: &[Effect]) -> Result<()> {
        let (folder, git) = targets(run.plan);
        for (edit, file) in folder {
            let (origin, text) = registry_text(run, edit)?;
            let new = edited(&origin, &text, edit)?;
            if new != text {
                write_through(Path::new(file), new.as_bytes())
                    .map_err(|e| Error::write(file, e))?;
            }
        }
        for ((url, branch), edits) in git {
            let work = registry_clone(run, &url);
            if !work.exists() {
                std::fs::create_dir_all(&run.dir).map_err(|e| Error::write(&run.dir, e))?;
                run_git(&run.caller, &run.dir, &clone_argv(&url, &branch, &work))?;
            }
            run.write_message("registry", "commit", &registry_message(run.plan))?;
            push_git_registry(run, &work, &branch, &edits)?;
        }
        Ok(())
    }

    /// A folder registry's entries go back to what they were; a git
    /// registry's pushed commit is public.
    fn undo(&self, run: &Runner, _step: &Step) -> Result<Vec<Undo>> {
        let (folder, git) = targets(run.plan);
        let mut undone = Vec::new();
        for (edit, file) in folder {
            if let Some(previous) = put_back(edit, file)? {
                undone.push(Undo::Undone(format!(
                    "{}: registry entry back to {previous}",
                    edit.package
                )));
            }
        }
        for edit in git.values().flatten() {
            undone.push(Undo::Kept(format!(
                "{}: a git registry's pushed commit is public",
                edit.package
            )));
        }
        Ok(undone)
    }
}

/// Moves a folder registry's entry in `file` back to the source it had
/// before the release; answers that source when it did.
fn put_back<'e>(edit: &'e RegistryEdit, file: &str) -> Result<Option<&'e String>> {
    let (Ok(text), Some(previous)) = (read_text(Path::new(file)), &edit.previous) else {
        return Ok(None);
    };
    if !text.contains(&edit.to) {
        return Ok(None);
    }
    let mode = Mode::new(&edit.mode).map_err(|e| Error::internal(e.to_string()))?;
    let origin = EntryOrigin::File(PathBuf::from(file));
    let Ok(back) = move_source(
        &text,
        &origin,
        &edit.package,
        &mode,
        &moved_to(edit, previous),
    ) else {
        return Ok(None);
    };
    if back == text {
        return Ok(None);
    }
    write_through(Path::new(file), back.as_bytes()).map_err(|e| Error::write(file, e))?;
    Ok(Some(previous))
}

/// The source `reference` of `edit`'s kind: a PyPI version, else a tag.
fn moved_to(edit: &RegistryEdit, reference: &str) -> MovedTo {
    match edit.from.starts_with("pypi") {
        true => MovedTo::Version(reference.to_string()),
        false => MovedTo::Tag(reference.to_string()),
    }
}

/// The edits of folder registries (with their file), and those of git
/// registries by URL and branch.
type Targets<'p> = (
    Vec<(&'p RegistryEdit, &'p String)>,
    BTreeMap<(String, String), Vec<&'p RegistryEdit>>,
);

fn targets(plan: &ReleasePlan) -> Targets<'_> {
    let mut folder = Vec::new();
    let mut git: BTreeMap<(String, String), Vec<&RegistryEdit>> = BTreeMap::new();
    for edit in &plan.registry {
        match &edit.target {
            RegistryTarget::Folder { file } => folder.push((edit, file)),
            RegistryTarget::Git { url, branch, .. } => git
                .entry((url.clone(), branch.clone()))
                .or_default()
                .push(edit),
        }
    }
    (folder, git)
}

/// Edits a git registry's files in its clone `work`, commits and pushes,
/// starting again from the remote's branch when the push lost a race.
fn push_git_registry(
    run: &Runner,
    work: &Path,
    branch: &str,
    edits: &[&RegistryEdit],
) -> Result<()> {
    let mut last = None;
    for _ in 0..REGISTRY_PUSH_ATTEMPTS {
        // Start from the remote's branch each time: a push that lost a
        // race is made again on top of the winner, fast-forward.
        run_git(
            &run.caller,
            work,
            &["fetch", "-q", "--", "origin", branch].map(String::from),
        )?;
        run_git(
            &run.caller,
            work,
            &["reset", "-q", "--hard", "FETCH_HEAD"].map(String::from),
        )?;
        let mut paths = Vec::new();
        for edit in edits {
            let RegistryTarget::Git { path, .. } = &edit.target else {
                continue;
            };
            let file = work.join(path);
            let text = read_text(&file).map_err(|e| Error::read(&file, e))?;
            let new = edited(&EntryOrigin::File(file.clone()), &text, edit)?;
            if new != text {
                write_through(&file, new.as_bytes()).map_err(|e| Error::write(&file, e))?;
                paths.push(path.clone());
            }
        }
        if paths.is_empty() {
            return Ok(());
        }
        run_git(&run.caller, work, &commit_argv(run, paths))?;
        match run_git(&run.caller, work, &push_argv(branch)) {
            Ok(()) => return Ok(()),
            Err(error) => last = Some(error),
        }
    }
    last.map_or(Ok(()), Err)
}

fn clone_argv(url: &str, branch: &str, work: &Path) -> Vec<String> {
    vec![
        "clone".into(),
        "-q".into(),
        "--branch".into(),
        branch.to_string(),
        url.to_string(),
        work.display().to_string(),
    ]
}

fn commit_argv(run: &Runner, paths: Vec<String>) -> Vec<String> {
    let mut argv: Vec<String> = ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
    argv.push(run.message_file("registry", "commit").display().to_string());
    argv.push("--".into());
    argv.extend(paths);
    argv
}

fn push_argv(branch: &str) -> Vec<String> {
    vec![
        "push".into(),
        "--porcelain".into(),
        "origin".into(),
        format!("HEAD:refs/heads/{branch}"),
    ]
}

/// Where a git registry is cloned for the release, under its folder.
fn registry_clone(run: &Runner, url: &str) -> PathBuf {
    let short = hpm_core::fingerprint::sha256_hex(url.as_bytes());
    run.dir
        .join("registry")
        .join(short.get(..12).unwrap_or(&short))
}

/// An entry's text now: the folder's file, or the git registry's file
/// at the remote branch's tip (fetched into hpm's cache, or aside when
/// only observing).
fn registry_text(run: &Runner, edit: &RegistryEdit) -> Result<(EntryOrigin, String)> {
    match &edit.target {
        RegistryTarget::Folder { file } => {
            let text = read_text(Path::new(file)).map_err(|e| Error::read(file, e))?;
            Ok((EntryOrigin::File(PathBuf::from(file)), text))
        }
        RegistryTarget::Git { url, path, branch } => {
            let (_aside, repository) = if run.observe_only {
                let (folder, repository) =
                    crate::git::cache::fetched_aside(&run.caller, url, "registry")?;
                (Some(folder), repository)
            } else {
                let repository = crate::git::cache::cached_repository(url)?;
                let _lock = crate::git::cache::lock_cache(url)?;
                crate::git::cache::fetch(&run.caller, &repository, url, "registry")?;
                (None, repository)
            };
            let commit = crate::git::cache::resolve(&repository, branch).ok_or_else(|| {
                Error::internal(format!("registry `{url}` has no branch `{branch}`"))
            })?;
            let text = history::file_at(&repository, commit, path).ok_or_else(|| {
                Error::invalid(
                    Problem::new(format!("`{path}` is no longer in the registry `{url}`"))
                        .for_package(&edit.package),
                )
            })?;
            Ok((
                EntryOrigin::Git {
                    url: url.clone(),
                    commit: commit.to_string(),
                    path: path.clone(),
                },
                text,
            ))
        }
    }
}

/// The entry's text with its source moved to the release.
fn edited(origin: &EntryOrigin, text: &str, edit: &RegistryEdit) -> Result<String> {
    let mode = Mode::new(&edit.mode).map_err(|e| Error::internal(e.to_string()))?;
    if already_moved(origin, text, edit, &mode) {
        return Ok(text.to_string());
    }
    move_source(
        text,
        origin,
        &edit.package,
        &mode,
        &moved_to(edit, &edit.to),
    )
    .map_err(Error::invalid)
}

fn already_moved(origin: &EntryOrigin, text: &str, edit: &RegistryEdit, mode: &Mode) -> bool {
    hpm_core::registry::parse_entry(text, origin, &edit.package)
        .ok()
        .and_then(|entry| entry.sources.get(mode).cloned())
        .is_some_and(|source| match source {
            hpm_core::registry::SourceSpec::Git { reference, .. } => {
                reference.name() == Some(edit.to.as_str())
            }
            hpm_core::registry::SourceSpec::Pypi { version, .. } => {
                version.as_deref() == Some(edit.to.as_str())
            }
            hpm_core::registry::SourceSpec::Local { .. } => false,
        })
}

/// The registry commit's message: every entry moved, with the commit
/// each new tag is at.
fn registry_message(plan: &ReleasePlan) -> String {
    let mut out = format!(
        "chore(release): move the {} entries to release {}\n\n",
        plan.kind.mode(),
        plan.id
    );
    for edit in &plan.registry {
        let commit = plan
            .package(&edit.package)
            .and_then(|p| {
                history::open(Path::new(&p.clone))
                    .ok()
                    .and_then(|repo| history::tag_commit(&repo, &p.tag))
            })
            .map(|c| c.to_string())
            .unwrap_or_default();
        out.push_str(&format!(
            "- {}: {} → {} ({commit})\n",
            edit.package, edit.from, edit.to
        ));
    }
    out.push_str(&format!("\n{}\n", trailer(&plan.id)));
    out
}
