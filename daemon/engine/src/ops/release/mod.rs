//! `hpmctl release`: a multi-repo release in dependency order. `plan`
//! decides versions, tags, layers and registry edits and writes
//! `.hpm/releases/<id>/plan.json`; `notes` writes the LLM bundle and
//! checks what was filled in; `apply` runs the steps (every preflight
//! first, then per package: version, commit, tag, atomic push, forge draft
//! and publish; one registry commit; the core last), journaling each;
//! `apply` again (`resume`) finishes a run that died, trusting what it
//! observes; `status` observes; `abort` undoes what is not public yet.
//! A dry run prints each step's effects and changes nothing anywhere.

pub mod bundle;
mod driver;
pub mod forge;
pub mod journal;
pub mod planning;
pub mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::release::notes::{auto_notes, core_notes, Released};
use hpm_core::release::plan::{PackageRelease, ReleasePlan};
use hpm_core::Problem;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_atomic};
use crate::git::history;
use crate::workspace::Workspace;
use driver::{Driver, Pass};
pub use hpm_protocol::release::{
    AbortReport, ApplyReport, Effect, NotesReport, Outcome, PlanReport, StepReport, StepState,
};
use journal::{Entry, Journal};
pub use planning::PlanRequest;
use steps::{remote_refs, Runner};

/// The test seam that kills the process right after a step is journaled
/// done (`package:step`, or `registry`), as a crash there would.
pub const CRASH_AFTER: &str = "HPM_RELEASE_CRASH_AFTER";

/// How `apply` runs.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    pub dry_run: bool,
    /// Deterministic notes where a slot is empty, rather than waiting.
    pub notes_auto: bool,
    /// The forge token, when not from the environment (`GITHUB_TOKEN` /
    /// `GITEA_TOKEN`): a daemon's environment is not its client's.
    pub token: Option<String>,
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("dry_run", &self.dry_run)
            .field("notes_auto", &self.notes_auto)
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// `.hpm/releases/`.
pub fn releases_dir(workspace: &Workspace) -> PathBuf {
    workspace.state_dir().join("releases")
}

/// Plans a release and writes it.
pub fn plan(workspace: &Workspace, request: &PlanRequest) -> Result<PlanReport> {
    let id = new_id(workspace, request.mode.as_str());
    let plan = planning::plan(workspace, request, &id)?;
    workspace.ensure_state_dir()?;
    let dir = releases_dir(workspace).join(&id);
    std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    let text =
        serde_json::to_string_pretty(&plan).map_err(|e| Error::internal(e.to_string()))? + "\n";
    let path = dir.join("plan.json");
    write_atomic(&path, text.as_bytes()).map_err(|e| Error::write(&path, e))?;
    Ok(PlanReport {
        id,
        dir,
        steps: plan.steps().iter().map(|s| s.key()).collect(),
        plan,
    })
}

/// A plan written by `plan`, and its folder.
pub fn load(workspace: &Workspace, id: &str) -> Result<(ReleasePlan, PathBuf)> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(Error::Refused {
            message: format!("`{id}` is not a release id"),
            hint: Some(
                "`hpmctl release plan` prints the id; the folders of `.hpm/releases/` are the ids"
                    .to_string(),
            ),
        });
    }
    let dir = releases_dir(workspace).join(id);
    let path = dir.join("plan.json");
    let text = read_text(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Refused {
            message: format!(
                "there is no release `{id}` in `{}`",
                releases_dir(workspace).display()
            ),
            hint: Some(
                "`hpmctl release plan PKG… --mode M` makes one; its id is printed".to_string(),
            ),
        },
        _ => Error::read(&path, e),
    })?;
    let plan: ReleasePlan = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            Problem::new(format!("is not a release plan: {e}"))
                .in_file(&path)
                .hint("plan the release again"),
        )
    })?;
    Ok((plan, dir))
}

/// Writes the LLM bundle (`check`: only checks what was filled in).
pub fn notes(workspace: &Workspace, id: &str, check: bool) -> Result<NotesReport> {
    let (plan, dir) = load(workspace, id)?;
    let manifest = workspace.load_manifest()?;
    let folders = if check {
        plan.packages
            .iter()
            .map(|p| bundle::folder(&dir, &p.name))
            .collect()
    } else {
        bundle::write(&plan, &dir, &manifest.release)?
    };
    let checked = bundle::check(&plan, &dir)?;
    Ok(NotesReport {
        id: id.to_string(),
        folders,
        filled: checked
            .into_iter()
            .map(|(name, slots)| (name, slots.notes.is_some()))
            .collect(),
    })
}

/// The texts a run writes: each package's notes, and the commit message
/// of each package's uncommitted work.
struct Texts {
    notes: BTreeMap<String, String>,
    work: BTreeMap<String, String>,
}

/// Each package's notes: the bundle's, where it was filled in, else the
/// deterministic ones (with `notes_auto`, or when no bundle was written);
/// and the message of its uncommitted work: the bundle's, else (with
/// `notes_auto` only: the work is the user's) one of hpm's.
fn resolve_notes(plan: &ReleasePlan, dir: &Path, notes_auto: bool) -> Result<Texts> {
    let bundle_written = dir.join("llm").is_dir();
    let checked = if bundle_written {
        bundle::check(plan, dir)?
    } else {
        BTreeMap::new()
    };
    let mut problems = Vec::new();
    let mut notes = BTreeMap::new();
    let mut work = BTreeMap::new();
    for p in &plan.packages {
        let slots = checked.get(&p.name);
        if !p.work.is_empty() {
            match slots.and_then(|slots| slots.commit_message.clone()) {
                Some(message) => {
                    work.insert(p.name.clone(), message);
                }
                None if notes_auto => {
                    work.insert(p.name.clone(), auto_work_message(p));
                }
                None => problems.push(
                    Problem::new(format!(
                        "`{}` has uncommitted work the release commits first ({}), and no message for it",
                        p.clone,
                        p.work.join(", ")
                    ))
                    .in_file(bundle::folder(dir, &p.name).join(bundle::COMMIT_SLOT))
                    .for_package(&p.name)
                    .hint("`hpmctl release notes ID` and fill commit-message.txt (see the prompt beside it), pass `--notes auto` for a message of hpm's, or commit the work yourself and plan again"),
                ),
            }
        }
        let own = match slots.map(|slots| slots.notes.clone()) {
            Some(Some(filled)) => filled,
            Some(None) if !notes_auto => {
                problems.push(
                    Problem::new(format!("`{}` is empty", bundle::NOTES_SLOT))
                        .in_file(bundle::folder(dir, &p.name).join(bundle::NOTES_SLOT))
                        .for_package(&p.name)
                        .hint("fill it (see the prompt beside it), or pass `--notes auto` for notes from the commits"),
                );
                continue;
            }
            _ => auto_notes(&p.name, &p.version, p.previous_tag.as_deref(), &p.commits),
        };
        notes.insert(p.name.clone(), own);
    }
    hpm_core::Invalid::check(problems)?;
    Ok(Texts { notes, work })
}

/// The message of a package's uncommitted work when none was written.
fn auto_work_message(p: &PackageRelease) -> String {
    format!(
        "chore({}): the work released in {}\n\nCommitted by `hpmctl release` (`--notes auto`): {}",
        p.name,
        p.version,
        p.work.join(", ")
    )
}

/// The core's notes: its own and every package's, with their commits.
fn with_core_notes(plan: &ReleasePlan, notes: &mut BTreeMap<String, String>) {
    let Some(core) = plan.packages.iter().find(|p| p.core) else {
        return;
    };
    let commits: Vec<(String, String)> = plan
        .packages
        .iter()
        .filter(|p| !p.core)
        .map(|p| {
            let commit = history::open(Path::new(&p.clone))
                .ok()
                .and_then(|repo| history::tag_commit(&repo, &p.tag))
                .map(|c| c.to_string())
                .unwrap_or_else(|| "(not tagged yet)".to_string());
            (p.name.clone(), commit)
        })
        .collect();
    let released: Vec<Released<'_>> = plan
        .packages
        .iter()
        .filter(|p| !p.core)
        .zip(&commits)
        .map(|(p, (_, commit))| Released {
            name: &p.name,
            version: &p.version,
            tag: &p.tag,
            commit,
            notes: notes.get(&p.name).map(String::as_str).unwrap_or(""),
        })
        .collect();
    let own = notes.get(&core.name).cloned().unwrap_or_default();
    let gathered = core_notes(&own, &released);
    notes.insert(core.name.clone(), gathered);
}

/// What a running release tells as it goes.
#[derive(Debug)]
pub enum ReleaseProgress<'a> {
    /// A step ended.
    Step(&'a StepReport),
    /// The forge is waited on (a retry's backoff, a rate limit): why, and
    /// for how long.
    Waiting(&'a str),
}

/// A wait of `status` or `abort`, which tell no one as they go: logged.
fn log_wait(message: &str) {
    tracing::warn!("{message}");
}

/// Runs (or, dry, describes) the release's steps. `on_progress` sees each
/// as it ends, and each wait on the forge as it begins.
pub fn apply(
    workspace: &Workspace,
    id: &str,
    options: ApplyOptions,
    on_progress: &mut dyn FnMut(ReleaseProgress<'_>),
) -> Result<ApplyReport> {
    // The forge's waits are told from deep inside a step, between two
    // step reports: never at the same time as one.
    let on_progress = std::cell::RefCell::new(on_progress);
    let waiting = |message: &str| (on_progress.borrow_mut())(ReleaseProgress::Waiting(message));
    let (plan, dir) = load(workspace, id)?;
    let texts = match resolve_notes(&plan, &dir, options.notes_auto) {
        Ok(texts) => texts,
        Err(Error::Invalid { problems }) => return Ok(refused(id, problems, false)),
        Err(other) => return Err(other),
    };
    // One run of a release at a time; the kernel lets go of a killed one.
    let _running = match options.dry_run {
        true => None,
        false => Some(lock_release(&dir, id)?),
    };
    let mut runner = Runner {
        plan: &plan,
        root: workspace.root().to_path_buf(),
        dir: dir.clone(),
        notes: texts.notes,
        work_messages: texts.work,
        token: options.token.clone(),
        caller: workspace.caller().clone(),
        observe_only: options.dry_run,
        waiting: &waiting,
    };
    let journal = match options.dry_run {
        true => None,
        false => Some(Journal::open(&dir, &plan.hash())?),
    };
    // Every preflight before any change.
    let mut problems = Vec::new();
    for p in &plan.packages {
        problems.extend(preflight(&runner, p)?);
    }
    if !problems.is_empty() {
        let begun = match &journal {
            Some(journal) => journal.begun()?,
            None => false,
        };
        return Ok(refused(id, problems, begun));
    }
    let pass = match options.dry_run {
        true => Pass::DryRun,
        false => Pass::Run,
    };
    Driver::new(&mut runner, pass, journal)
        .drive(&mut |step| (on_progress.borrow_mut())(ReleaseProgress::Step(step)))
}

/// A run refused before its first step for `problems`: nothing was
/// changed, unless an earlier run took the release part of the way
/// (`begun`; some of it may be public by now): then it is partly done,
/// never "nothing was changed".
fn refused(id: &str, problems: Vec<Problem>, begun: bool) -> ApplyReport {
    ApplyReport {
        id: id.to_string(),
        outcome: match begun {
            true => Outcome::Partial,
            false => Outcome::PreflightFailed,
        },
        steps: Vec::new(),
        problems,
        resume: begun.then(|| format!("hpmctl release resume {id}")),
    }
}

/// Holds `.hpm/releases/<id>/lock` (`flock`) for the run; a second run of
/// the same release is refused while the first holds it.
fn lock_release(dir: &Path, id: &str) -> Result<Flock<std::fs::File>> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::write(&path, e))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| Error::Refused {
        message: format!("release {id} is being applied by another run"),
        hint: Some(format!(
            "wait for it to end, then `hpmctl release status {id}`"
        )),
    })
}

/// What must hold before a package's first change: the clone where the
/// plan saw it, clean but for hpm's files, on its branch, not behind its
/// upstream, the tag free (or already this release's), the token there.
/// A package whose release commit exists is past its preflight.
fn preflight(runner: &Runner<'_>, p: &PackageRelease) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    let problem = |message: String| Problem::new(message).for_package(&p.name);
    let clone = Path::new(&p.clone);
    let repo = match history::open(clone) {
        Ok(repo) => repo,
        Err(error) => return Ok(vec![problem(error.to_string())]),
    };
    let (branch, head) = history::head(&repo)?;
    if branch.as_deref() != Some(p.branch.as_str()) {
        problems.push(
            problem(format!(
                "`{}` is not on `{}` as it was when planned",
                p.clone, p.branch
            ))
            .hint(format!("`git checkout {}` in it", p.branch)),
        );
    }
    let started = steps::trailer(&runner.plan.id);
    let base = git2::Oid::from_str(&p.head).map_err(|e| Error::internal(e.to_string()))?;
    let worked = steps::work_trailer(&runner.plan.id);
    if history::commit_with_trailer(&repo, head, base, &started).is_some()
        || history::commit_with_trailer(&repo, head, base, &worked).is_some()
    {
        return Ok(problems);
    }
    if head.to_string() != p.head {
        problems.push(
            problem(format!(
                "`{}` moved since the plan (planned at {}, now at {head})",
                p.clone,
                &p.head[..12.min(p.head.len())]
            ))
            .hint("make a new plan: `hpmctl release plan …`"),
        );
    }
    problems.extend(work_tree_problems(&repo, p));
    problems.extend(remote_problems(runner, &repo, head, p));
    if let Some(at) = history::tag_commit(&repo, &p.tag).filter(|at| *at != head) {
        problems.push(
            problem(format!(
                "the tag `{}` exists in `{}` at {at}",
                p.tag, p.clone
            ))
            .hint(format!(
                "delete the local tag if it is a mistake: `git tag -d {}`",
                p.tag
            )),
        );
    }
    if runner.plan.forge != hpm_core::manifest::ForgeKind::None {
        if let Err(error) = runner.forge(p) {
            problems.push(problem(error.to_string()).hint(error.hint().unwrap_or_default()));
        }
    }
    Ok(problems)
}

/// The clone's work tree holds only what the plan saw: no file git does
/// not track, no change to a tracked file but the planned work and hpm's.
fn work_tree_problems(repo: &git2::Repository, p: &PackageRelease) -> Vec<Problem> {
    let mut problems = Vec::new();
    let untracked = history::untracked(repo);
    if !untracked.is_empty() {
        let shown: Vec<String> = untracked
            .iter()
            .map(|f| f.escape_debug().to_string())
            .collect();
        problems.push(
            Problem::new(format!(
                "`{}` has files git does not track: {}",
                p.clone,
                shown.join(", ")
            ))
            .for_package(&p.name)
            .hint("a release commits and shows only what git tracks and what hpm changes: commit them (`git add`), ignore them (`.gitignore`), or remove them"),
        );
    }
    let ours = steps::commit_files(p);
    let foreign: Vec<String> = history::tracked_changes(repo)
        .into_iter()
        .filter(|f| !ours.contains(f) && !p.work.contains(f))
        .collect();
    if !foreign.is_empty() {
        problems.push(
            Problem::new(format!(
                "`{}` has uncommitted changes the plan did not see: {}",
                p.clone,
                foreign.join(", ")
            ))
            .for_package(&p.name)
            .hint("commit or stash them, or plan again to release them too; a release commits only the files it planned and the ones it changes"),
        );
    }
    problems
}

/// The remote answers, the clone is not behind its branch there, and the
/// tag is not on it elsewhere (hpm never moves a public tag).
fn remote_problems(
    runner: &Runner<'_>,
    repo: &git2::Repository,
    head: git2::Oid,
    p: &PackageRelease,
) -> Vec<Problem> {
    let refs = match remote_refs(&runner.caller, &p.remote) {
        Ok(refs) => refs,
        Err(error) => {
            return error
                .problems()
                .iter()
                .map(|pr| pr.clone().for_package(&p.name))
                .collect()
        }
    };
    let mut problems = Vec::new();
    if let Some(tip) = refs.get(&format!("refs/heads/{}", p.branch)) {
        if !history::contains(repo, head, *tip) {
            problems.push(
                Problem::new(format!(
                    "`{}` is behind `origin/{}` (the remote has {tip})",
                    p.clone, p.branch
                ))
                .for_package(&p.name)
                .hint("pull first, then plan again"),
            );
        }
    }
    let tag = refs
        .get(&format!("refs/tags/{}^{{}}", p.tag))
        .or_else(|| refs.get(&format!("refs/tags/{}", p.tag)));
    if let Some(at) = tag.filter(|at| **at != head) {
        problems.push(
            Problem::new(format!(
                "the tag `{}` is already on `{}` at {at}",
                p.tag, p.remote
            ))
            .for_package(&p.name)
            .hint("hpm never moves a public tag; plan again for the next version"),
        );
    }
    problems
}

/// Observes every step.
pub fn status(workspace: &Workspace, id: &str) -> Result<ApplyReport> {
    let (plan, dir) = load(workspace, id)?;
    let texts = resolve_notes(&plan, &dir, true)?;
    let mut runner = Runner {
        plan: &plan,
        root: workspace.root().to_path_buf(),
        dir,
        notes: texts.notes,
        work_messages: texts.work,
        token: None,
        caller: workspace.caller().clone(),
        observe_only: true,
        waiting: &log_wait,
    };
    Driver::new(&mut runner, Pass::Status, None).drive(&mut |_| {})
}

/// Undoes what is not public yet: local release commits and tags, the
/// version files hpm wrote, forge drafts, a folder registry's edits.
/// Pushed tags and branches, published releases and a pushed registry
/// commit stay, and are said.
pub fn abort(workspace: &Workspace, id: &str) -> Result<AbortReport> {
    let (plan, dir) = load(workspace, id)?;
    let notes = plan
        .packages
        .iter()
        .map(|p| (p.name.clone(), String::new()))
        .collect();
    let runner = Runner {
        plan: &plan,
        root: workspace.root().to_path_buf(),
        dir: dir.clone(),
        notes,
        work_messages: BTreeMap::new(),
        token: None,
        caller: workspace.caller().clone(),
        observe_only: false,
        waiting: &log_wait,
    };
    let report = driver::undo(&runner)?;
    if let Ok(journal) = Journal::open(&dir, &plan.hash()) {
        journal.append(&Entry::Aborted)?;
    }
    Ok(report)
}

/// `<mode>-YYYYMMDD-HHMMSS` (UTC), with `-2`, `-3`… when taken.
fn new_id(workspace: &Workspace, mode: &str) -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let base = format!(
        "{mode}-{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    let releases = releases_dir(workspace);
    let mut id = base.clone();
    let mut n = 2;
    while releases.join(&id).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_become_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_789), (2026, 12, 2));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
