//! The steps of a release, one implementation for every way of running
//! them. Each kind of step is one type ([`StepType`], a file each here):
//! it observes the real state (is the commit made, the tag on the
//! remote, a release there?), says what applying it would do from there
//! (file diffs, git argument vectors, HTTP calls without their token),
//! and applies exactly those effects. [`Runner`] holds what every step
//! needs and dispatches on the step's kind; the driver in the parent
//! module runs a release, a resume, a dry run and `status` through it.

mod commit;
mod forge_release;
mod push;
mod registry;
mod tag;
mod version;
mod work;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::release::notes::marker;
use hpm_core::release::plan::{PackageRelease, ReleasePlan, Step, StepKind};
use hpm_core::release::version_file::read_version;
use hpm_core::release::versions::ReleaseKind;
use hpm_core::Problem;

use super::forge::{token_variable, Forge, Waiting};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::git::history;
pub use hpm_protocol::release::Effect;

/// One kind of step.
trait StepType {
    /// What the step finds in the repositories and on the forge.
    fn observe(&self, run: &Runner, step: &Step) -> Result<Observed>;
    /// What applying the step does from the state it finds now.
    fn effects(&self, run: &Runner, step: &Step) -> Result<Vec<Effect>>;
    /// Applies the step: exactly `effects`, which [`StepType::effects`]
    /// has just described.
    fn apply(&self, run: &Runner, step: &Step, effects: &[Effect]) -> Result<()>;
    /// `abort`: undoes what the step did, unless it is public; says each
    /// thing undone or kept (nothing: there was nothing to undo).
    fn undo(&self, _run: &Runner, _step: &Step) -> Result<Vec<Undo>> {
        Ok(Vec::new())
    }
}

/// One thing undoing a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    Undone(String),
    /// Left as it is, and why.
    Kept(String),
    /// Public: this step and the package's earlier ones stay.
    Public(String),
}

/// The type of each kind of step.
fn step_type(kind: StepKind) -> &'static dyn StepType {
    match kind {
        StepKind::Preflight => &Preflight,
        StepKind::CommitWork => &work::CommitWork,
        StepKind::SetVersion => &version::SetVersion,
        StepKind::Commit => &commit::Commit,
        StepKind::Tag => &tag::Tag,
        StepKind::Push => &push::Push,
        StepKind::Draft => &forge_release::Draft,
        StepKind::Publish => &forge_release::Publish,
        StepKind::Registry => &registry::Registry,
    }
}

/// The checks before any change, which the driver runs itself
/// (`preflight`): as a step, always to do and doing nothing.
struct Preflight;

impl StepType for Preflight {
    fn observe(&self, _run: &Runner, _step: &Step) -> Result<Observed> {
        Ok(Observed::Todo)
    }

    fn effects(&self, _run: &Runner, _step: &Step) -> Result<Vec<Effect>> {
        Ok(Vec::new())
    }

    fn apply(&self, _run: &Runner, _step: &Step, _effects: &[Effect]) -> Result<()> {
        Ok(())
    }
}

/// What a step finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Done,
    Todo,
    /// A state only a person can sort out (a public tag at another commit).
    Conflict(String),
}

/// The plan and what running it needs (no `Debug`: it holds the token).
pub struct Runner<'a> {
    pub plan: &'a ReleasePlan,
    /// The workspace's root, which the registry diffs are labelled from.
    pub root: PathBuf,
    /// `.hpm/releases/<id>/`.
    pub dir: PathBuf,
    /// Each package's notes (tag message and forge body), by name.
    pub notes: BTreeMap<String, String>,
    /// The message each package's uncommitted work is committed with.
    pub work_messages: BTreeMap<String, String>,
    /// The forge token given by the caller; else the environment's.
    pub token: Option<String>,
    /// Whom the release runs for: git's environment, and whether a person
    /// may answer a signing key's passphrase.
    pub caller: Caller,
    /// Only observing (a dry run, `status`): nothing of hpm's is written
    /// either, so a git registry is fetched aside, not into the cache.
    pub observe_only: bool,
    /// Told when the forge is waited on.
    pub waiting: Waiting<'a>,
}

impl<'a> Runner<'a> {
    /// What `step` finds in the repositories and on the forge.
    pub fn observe(&self, step: &Step) -> Result<Observed> {
        step_type(step.kind).observe(self, step)
    }

    /// What applying `step` does from the state it finds now.
    pub fn effects(&self, step: &Step) -> Result<Vec<Effect>> {
        step_type(step.kind).effects(self, step)
    }

    /// Undoes what `step` did, unless it is public.
    pub fn undo(&self, step: &Step) -> Result<Vec<Undo>> {
        step_type(step.kind).undo(self, step)
    }

    /// Applies `step` and returns what it did (its effects, as
    /// [`Runner::effects`] described them before).
    pub fn apply(&self, step: &Step) -> Result<Vec<Effect>> {
        let kind = step_type(step.kind);
        let effects = kind.effects(self, step)?;
        kind.apply(self, step, &effects)?;
        Ok(effects)
    }

    fn package(&self, step: &Step) -> Result<&PackageRelease> {
        step.package
            .as_deref()
            .and_then(|name| self.plan.package(name))
            .ok_or_else(|| {
                Error::internal(format!(
                    "step `{}` names no package of the plan",
                    step.key()
                ))
            })
    }

    /// The package's commit the tag goes on: the release commit (the one
    /// carrying this release's trailer), else, when the version needed no
    /// commit, the commit of the user's work or the plan's head.
    fn release_commit(&self, p: &PackageRelease) -> Result<Option<git2::Oid>> {
        if let Some(found) = self.trailer_commit(p)? {
            return Ok(Some(found));
        }
        let repo = history::open(Path::new(&p.clone))?;
        let base = self.work_commit(p)?.unwrap_or(oid(&p.head)?);
        let committed = history::file_at(&repo, base, &p.version_file)
            .and_then(|text| read_version(&p.version_file, &text));
        Ok((committed.as_deref() == Some(p.version.as_str())).then_some(base))
    }

    /// The commit carrying this release's trailer, once made.
    fn trailer_commit(&self, p: &PackageRelease) -> Result<Option<git2::Oid>> {
        self.commit_carrying(p, &trailer(&self.plan.id))
    }

    /// The commit since the plan's head on the clone's branch that carries
    /// `trailer`, if any.
    fn commit_carrying(&self, p: &PackageRelease, trailer: &str) -> Result<Option<git2::Oid>> {
        let repo = history::open(Path::new(&p.clone))?;
        let (_, head) = history::head(&repo)?;
        Ok(history::commit_with_trailer(
            &repo,
            head,
            oid(&p.head)?,
            trailer,
        ))
    }

    /// The commit of the package's uncommitted work, once made (it carries
    /// [`work_trailer`]).
    fn work_commit(&self, p: &PackageRelease) -> Result<Option<git2::Oid>> {
        if p.work.is_empty() {
            return Ok(None);
        }
        self.commit_carrying(p, &work_trailer(&self.plan.id))
    }

    /// Runs the git effects, in order.
    fn perform(&self, effects: &[Effect]) -> Result<()> {
        for effect in effects {
            if let Effect::Git { dir, argv } = effect {
                run_git(&self.caller, Path::new(dir), argv)?;
            }
        }
        Ok(())
    }

    /// `file` relative to the workspace root, for a diff's header.
    fn label(&self, file: &str) -> String {
        Path::new(file)
            .strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| file.to_string())
    }

    fn api(&self) -> Result<&str> {
        self.plan
            .api
            .as_deref()
            .ok_or_else(|| Error::internal("the plan has a forge but no API address"))
    }

    /// The forge for `p`'s repository, with the caller's token or the
    /// environment's.
    pub fn forge(&self, p: &PackageRelease) -> Result<Forge<'a>> {
        let variable = token_variable(self.plan.forge);
        let token = self
            .token
            .clone()
            .or_else(|| std::env::var(variable).ok())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Refused {
            message: format!("`{variable}` is not set; the release publishes to the forge"),
            hint: Some(format!("export {variable}=… (a token with write access to releases), or set `release.forge: none`")),
        })?;
        let api = self.api()?;
        super::forge::token_destination(api, &p.remote, self.plan.api_from_environment).map_err(
            |reason| Error::Refused {
                message: format!("`{variable}` is not sent to `{api}`: {reason}"),
                hint: Some(
                    "if that is your forge's API, set `HPM_FORGE_API` to it in your environment (a committed hpm.yaml cannot choose where your token goes); else fix `release.api`"
                        .to_string(),
                ),
            },
        )?;
        Ok(Forge::new(
            self.plan.forge,
            api,
            &p.forge_repo,
            token,
            self.waiting,
        ))
    }

    /// Whether `p`'s release becomes the forge's latest: a prod version
    /// above the current latest's.
    fn makes_latest(&self, p: &PackageRelease) -> Result<bool> {
        if self.plan.kind != ReleaseKind::Prod {
            return Ok(false);
        }
        let latest = self.forge(p)?.latest_tag()?;
        let ours = pep440(&p.version);
        Ok(match latest {
            None => true,
            Some(tag) => {
                let theirs = pep440(tag.strip_prefix(&self.plan.tag_prefix).unwrap_or(&tag));
                match (ours, theirs) {
                    (Some(ours), Some(theirs)) => ours > theirs,
                    (Some(_), None) => true,
                    _ => false,
                }
            }
        })
    }

    fn forge_body(&self, p: &PackageRelease) -> String {
        let notes = self.notes.get(&p.name).cloned().unwrap_or_default();
        format!(
            "{}\n\n{}\n",
            notes.trim_end(),
            marker(&self.plan.id, &p.name)
        )
    }

    fn message_file(&self, name: &str, what: &str) -> PathBuf {
        self.dir.join("messages").join(format!("{name}.{what}.txt"))
    }

    fn write_message(&self, name: &str, what: &str, text: &str) -> Result<()> {
        let path = self.message_file(name, what);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| Error::write(folder, e))?;
        }
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| Error::write(&path, e))
    }
}

/// The trailer every commit of release `id` carries.
pub fn trailer(id: &str) -> String {
    format!("Hpm-Release-Id: {id}")
}

/// The trailer of the commit that carries a package's uncommitted work
/// into release `id` (the work is the user's, so not a release commit).
pub fn work_trailer(id: &str) -> String {
    format!("Hpm-Release-Work: {id}")
}

/// The files a package's release commit carries.
pub fn commit_files(p: &PackageRelease) -> Vec<String> {
    let mut files = vec![p.version_file.clone()];
    if p.relock {
        files.push("uv.lock".into());
    }
    files.extend(p.extra_files.iter().cloned());
    files
}

fn oid(text: &str) -> Result<git2::Oid> {
    git2::Oid::from_str(text)
        .map_err(|e| Error::internal(format!("`{text}` is not a commit id: {e}")))
}

fn pep440(text: &str) -> Option<pep440_rs::Version> {
    text.parse().ok()
}

/// The refs a remote advertises, or a network error naming it.
pub fn remote_refs(caller: &Caller, url: &str) -> Result<BTreeMap<String, git2::Oid>> {
    crate::git::remote::list_remote_oids(caller, url).map_err(|failure| Error::Network {
        problems: vec![Problem::new(format!("cannot list `{url}`: {failure}")).hint(failure.hint())],
    })
}

/// Runs `git ARGV` in `dir` (an argument vector, no shell); a failure
/// carries git's own last lines.
pub fn run_git(caller: &Caller, dir: &Path, argv: &[String]) -> Result<()> {
    crate::git::cli::run(caller, dir, argv, "releases commit, tag and push with it")?.map_err(
        |said| Error::Refused {
            message: format!(
                "`git {}` failed in `{}`:\n{said}",
                argv.join(" "),
                dir.display()
            ),
            hint: Some(
                "fix what git says, then `hpmctl release resume` finishes the release".to_string(),
            ),
        },
    )
}
