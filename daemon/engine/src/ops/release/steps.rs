//! The steps of a release, one implementation for every way of running
//! them: each step says what it would do from the state it observes
//! ([`Runner::effects`]: file diffs, git argument vectors, HTTP calls
//! without their token), observes the real state ([`Runner::observe`]: is
//! the commit made, the tag on the remote, a release there?), and applies
//! ([`Runner::apply`] performs exactly the effects it describes). A dry
//! run prints the effects; a run and a resume apply what is not done yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::manifest::ForgeKind;
use hpm_core::registry::EntryOrigin;
use hpm_core::release::entry_edit::{move_source, MovedTo};
use hpm_core::release::notes::marker;
use hpm_core::release::plan::{
    PackageRelease, RegistryEdit, RegistryTarget, ReleasePlan, Step, StepKind,
};
use hpm_core::release::version_file::{read_version, set_version};
use hpm_core::release::versions::ReleaseKind;
use hpm_core::{Mode, Problem};
use serde_json::json;

use super::forge::{token_variable, Forge, Waiting};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_through};
use crate::git::history;
use crate::process::{CancelToken, RunOptions};
pub use hpm_protocol::release::Effect;

/// How many times a registry push that lost a race is tried again.
const REGISTRY_PUSH_ATTEMPTS: usize = 5;

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
        let repo = history::open(Path::new(&p.clone))?;
        let (_, head) = history::head(&repo)?;
        let base = oid(&p.head)?;
        if let Some(found) =
            history::commit_with_trailer(&repo, head, base, &trailer(&self.plan.id))
        {
            return Ok(Some(found));
        }
        let base = self.work_commit(p)?.unwrap_or(base);
        let committed = history::file_at(&repo, base, &p.version_file)
            .and_then(|text| read_version(&p.version_file, &text));
        Ok((committed.as_deref() == Some(p.version.as_str())).then_some(base))
    }

    /// The commit of the package's uncommitted work, once made (it carries
    /// [`work_trailer`]).
    fn work_commit(&self, p: &PackageRelease) -> Result<Option<git2::Oid>> {
        if p.work.is_empty() {
            return Ok(None);
        }
        let repo = history::open(Path::new(&p.clone))?;
        let (_, head) = history::head(&repo)?;
        Ok(history::commit_with_trailer(
            &repo,
            head,
            oid(&p.head)?,
            &work_trailer(&self.plan.id),
        ))
    }

    /// What `step` finds in the repositories and on the forge.
    pub fn observe(&self, step: &Step) -> Result<Observed> {
        match step.kind {
            StepKind::Preflight => Ok(Observed::Todo),
            StepKind::CommitWork => {
                let p = self.package(step)?;
                Ok(match self.work_commit(p)? {
                    Some(_) => Observed::Done,
                    None => Observed::Todo,
                })
            }
            StepKind::SetVersion => {
                let p = self.package(step)?;
                if self.release_commit(p)?.is_some() {
                    return Ok(Observed::Done);
                }
                let path = Path::new(&p.clone).join(&p.version_file);
                let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
                Ok(match read_version(&p.version_file, &text) {
                    Some(v) if v == p.version => Observed::Done,
                    Some(v) if v == p.current_version => Observed::Todo,
                    other => Observed::Conflict(format!(
                        "`{}` holds version {} now, neither the plan's {} nor {}",
                        path.display(),
                        other.unwrap_or_else(|| "(none)".into()),
                        p.current_version,
                        p.version
                    )),
                })
            }
            StepKind::Commit => {
                let p = self.package(step)?;
                Ok(match self.release_commit(p)? {
                    Some(_) => Observed::Done,
                    None => Observed::Todo,
                })
            }
            StepKind::Tag => {
                let p = self.package(step)?;
                let repo = history::open(Path::new(&p.clone))?;
                let target = self.release_commit(p)?;
                match (history::tag_commit(&repo, &p.tag), target) {
                    (Some(at), Some(target)) if at == target => Ok(Observed::Done),
                    (Some(at), _) => Ok(Observed::Conflict(format!(
                        "the tag `{}` exists in `{}` at {at}, not at the release commit; hpm never moves a tag",
                        p.tag, p.clone
                    ))),
                    (None, _) => Ok(Observed::Todo),
                }
            }
            StepKind::Push => {
                let p = self.package(step)?;
                let refs = remote_refs(&self.caller, &p.remote)?;
                let repo = history::open(Path::new(&p.clone))?;
                let peeled = refs
                    .get(&format!("refs/tags/{}^{{}}", p.tag))
                    .or_else(|| refs.get(&format!("refs/tags/{}", p.tag)));
                let Some(peeled) = peeled else {
                    return Ok(Observed::Todo);
                };
                match self.release_commit(p)? {
                    Some(target) if *peeled == target => {
                        let branch = refs.get(&format!("refs/heads/{}", p.branch));
                        Ok(match branch {
                            Some(tip) if history::contains(&repo, *tip, target) => Observed::Done,
                            _ => Observed::Todo,
                        })
                    }
                    _ => Ok(Observed::Conflict(format!(
                        "the tag `{}` is on `{}` at {peeled}, which is not this release's commit; hpm never moves or deletes a public tag",
                        p.tag, p.remote
                    ))),
                }
            }
            StepKind::Draft | StepKind::Publish => {
                let p = self.package(step)?;
                let forge = self.forge(p)?;
                let releases = forge.list()?;
                let mark = marker(&self.plan.id, &p.name);
                match releases.iter().find(|r| r.body.as_deref().is_some_and(|b| b.contains(&mark))) {
                    Some(found) if step.kind == StepKind::Draft || !found.draft => Ok(Observed::Done),
                    Some(_) => Ok(Observed::Todo),
                    None => match releases.iter().find(|r| r.tag_name == p.tag) {
                        Some(other) => Ok(Observed::Conflict(format!(
                            "a release for `{}` exists on the forge (id {}) that this release did not make",
                            p.tag, other.id
                        ))),
                        None => Ok(Observed::Todo),
                    },
                }
            }
            StepKind::Registry => {
                for edit in &self.plan.registry {
                    let (origin, text) = self.registry_text(edit)?;
                    if edited(&origin, &text, edit)? != text {
                        return Ok(Observed::Todo);
                    }
                }
                Ok(Observed::Done)
            }
        }
    }

    /// What applying `step` does from the state it finds now.
    pub fn effects(&self, step: &Step) -> Result<Vec<Effect>> {
        let id = &self.plan.id;
        Ok(match step.kind {
            StepKind::Preflight => Vec::new(),
            StepKind::CommitWork => {
                let p = self.package(step)?;
                let mut add: Vec<String> = ["add", "--all", "--"].map(String::from).to_vec();
                add.extend(p.work.iter().cloned());
                let mut commit: Vec<String> =
                    ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
                commit.push(self.message_file(&p.name, "work").display().to_string());
                commit.push("--".into());
                commit.extend(p.work.iter().cloned());
                vec![
                    Effect::Git {
                        dir: p.clone.clone(),
                        argv: add,
                    },
                    Effect::Git {
                        dir: p.clone.clone(),
                        argv: commit,
                    },
                ]
            }
            StepKind::SetVersion => {
                let p = self.package(step)?;
                let path = Path::new(&p.clone).join(&p.version_file);
                let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
                let new = set_version(&p.version_file, &text, &p.version).map_err(|e| {
                    Error::invalid(Problem::new(e).in_file(&path).for_package(&p.name))
                })?;
                let mut effects = vec![Effect::Write {
                    path: path.display().to_string(),
                    diff: hpm_core::diff::unified(&p.version_file, &text, &new),
                }];
                if p.relock {
                    effects.push(Effect::Uv {
                        dir: p.clone.clone(),
                        argv: vec!["lock".into()],
                    });
                }
                effects
            }
            StepKind::Commit => {
                let p = self.package(step)?;
                let mut argv: Vec<String> =
                    ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
                argv.push(self.message_file(&p.name, "commit").display().to_string());
                argv.push("--".into());
                argv.extend(commit_files(p));
                vec![Effect::Git {
                    dir: p.clone.clone(),
                    argv,
                }]
            }
            StepKind::Tag => {
                let p = self.package(step)?;
                // The name after `--`: never read as an option, whatever
                // `release.tag_prefix` made of it.
                let argv = vec![
                    "tag".to_string(),
                    "-a".into(),
                    "--cleanup=verbatim".into(),
                    "-F".into(),
                    self.message_file(&p.name, "tag").display().to_string(),
                    "--".into(),
                    p.tag.clone(),
                    "HEAD".into(),
                ];
                vec![Effect::Git {
                    dir: p.clone.clone(),
                    argv,
                }]
            }
            StepKind::Push => {
                let p = self.package(step)?;
                let argv = vec![
                    "push".to_string(),
                    "--atomic".into(),
                    "--porcelain".into(),
                    "origin".into(),
                    format!("refs/heads/{0}:refs/heads/{0}", p.branch),
                    format!("refs/tags/{0}:refs/tags/{0}", p.tag),
                ];
                vec![Effect::Git {
                    dir: p.clone.clone(),
                    argv,
                }]
            }
            StepKind::Draft => {
                let p = self.package(step)?;
                let api = self.api()?;
                vec![Effect::Http {
                    method: "POST".into(),
                    url: Forge::releases_url(self.plan.forge, api, &p.forge_repo),
                    body: json!({
                        "tag_name": p.tag,
                        "name": format!("{} {}", p.name, p.version),
                        "body": self.forge_body(p),
                        "draft": true,
                        "prerelease": self.plan.kind == ReleaseKind::Staging,
                    }),
                }]
            }
            StepKind::Publish => {
                let p = self.package(step)?;
                let api = self.api()?;
                let mut body = json!({ "draft": false });
                if self.plan.forge == ForgeKind::Github {
                    body["make_latest"] = json!(if self.makes_latest(p)? {
                        "true"
                    } else {
                        "false"
                    });
                }
                vec![Effect::Http {
                    method: "PATCH".into(),
                    url: format!(
                        "{}/{{id of the draft}}",
                        Forge::releases_url(self.plan.forge, api, &p.forge_repo)
                    ),
                    body,
                }]
            }
            StepKind::Registry => {
                let mut effects = Vec::new();
                let mut git_targets: BTreeMap<(String, String), Vec<&RegistryEdit>> =
                    BTreeMap::new();
                for edit in &self.plan.registry {
                    match &edit.target {
                        RegistryTarget::Folder { file } => {
                            let (origin, text) = self.registry_text(edit)?;
                            let new = edited(&origin, &text, edit)?;
                            if new != text {
                                effects.push(Effect::Write {
                                    path: file.clone(),
                                    diff: hpm_core::diff::unified(&self.label(file), &text, &new),
                                });
                            }
                        }
                        RegistryTarget::Git { url, branch, .. } => {
                            git_targets
                                .entry((url.clone(), branch.clone()))
                                .or_default()
                                .push(edit);
                        }
                    }
                }
                for ((url, branch), edits) in git_targets {
                    let work = self.registry_clone(&url);
                    let dir = work.display().to_string();
                    effects.push(Effect::Git {
                        dir: self.dir.display().to_string(),
                        argv: vec![
                            "clone".into(),
                            "-q".into(),
                            "--branch".into(),
                            branch.clone(),
                            url.clone(),
                            dir.clone(),
                        ],
                    });
                    let mut paths = Vec::new();
                    for edit in edits {
                        let (origin, text) = self.registry_text(edit)?;
                        let new = edited(&origin, &text, edit)?;
                        if let RegistryTarget::Git { path, .. } = &edit.target {
                            effects.push(Effect::Write {
                                path: work.join(path).display().to_string(),
                                diff: hpm_core::diff::unified(path, &text, &new),
                            });
                            paths.push(path.clone());
                        }
                    }
                    let mut argv: Vec<String> =
                        ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
                    argv.push(
                        self.message_file("registry", "commit")
                            .display()
                            .to_string(),
                    );
                    argv.push("--".into());
                    argv.extend(paths);
                    effects.push(Effect::Git {
                        dir: dir.clone(),
                        argv,
                    });
                    effects.push(Effect::Git {
                        dir,
                        argv: vec![
                            "push".into(),
                            "--porcelain".into(),
                            "origin".into(),
                            format!("HEAD:refs/heads/{branch}"),
                        ],
                    });
                }
                let _ = id;
                effects
            }
        })
    }

    /// Applies `step` and returns what it did (its effects, as
    /// [`Runner::effects`] described them before).
    pub fn apply(&self, step: &Step) -> Result<Vec<Effect>> {
        let effects = self.effects(step)?;
        match step.kind {
            StepKind::Preflight => {}
            StepKind::CommitWork => {
                let p = self.package(step)?;
                let message = self.work_messages.get(&p.name).ok_or_else(|| {
                    Error::internal(format!("no commit message for `{}`'s work", p.name))
                })?;
                let text = format!(
                    "{}\n\n{}\n",
                    message.trim_end(),
                    work_trailer(&self.plan.id)
                );
                self.write_message(&p.name, "work", &text)?;
                self.perform(&effects)?;
            }
            StepKind::SetVersion => {
                let p = self.package(step)?;
                let path = Path::new(&p.clone).join(&p.version_file);
                let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
                let new = set_version(&p.version_file, &text, &p.version)
                    .map_err(|e| Error::invalid(Problem::new(e).in_file(&path)))?;
                write_through(&path, new.as_bytes()).map_err(|e| Error::write(&path, e))?;
                if p.relock {
                    let uv = crate::uv::Uv::find()?;
                    uv.run(
                        Path::new(&p.clone),
                        &["lock".to_string()],
                        &RunOptions::for_caller(&self.caller),
                        &mut |_| {},
                        &CancelToken::new(),
                    )?;
                }
            }
            StepKind::Commit => {
                let p = self.package(step)?;
                self.write_message(&p.name, "commit", &commit_message(self.plan, p))?;
                self.perform(&effects)?;
            }
            StepKind::Tag => {
                let p = self.package(step)?;
                let notes = self.notes.get(&p.name).cloned().unwrap_or_default();
                self.write_message(&p.name, "tag", &notes)?;
                self.perform(&effects)?;
            }
            StepKind::Push => self.perform(&effects)?,
            StepKind::Draft => {
                let p = self.package(step)?;
                let forge = self.forge(p)?;
                for effect in &effects {
                    if let Effect::Http { body, .. } = effect {
                        let mark = marker(&self.plan.id, &p.name);
                        if forge.create(body, &mark)?.is_none() && forge.find(&mark)?.is_none() {
                            return Err(Error::Refused {
                                message: format!("the forge already has a release for `{}` that this release did not make", p.tag),
                                hint: Some("look at it on the forge; hpm never replaces a release it did not make".to_string()),
                            });
                        }
                    }
                }
            }
            StepKind::Publish => {
                let p = self.package(step)?;
                let forge = self.forge(p)?;
                let Some(draft) = forge.find(&marker(&self.plan.id, &p.name))? else {
                    return Err(Error::internal(format!(
                        "the draft release of `{}` is not on the forge",
                        p.tag
                    )));
                };
                for effect in &effects {
                    if let Effect::Http { body, .. } = effect {
                        forge.update(draft.id, body)?;
                    }
                }
            }
            StepKind::Registry => self.apply_registry()?,
        }
        Ok(effects)
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

    fn apply_registry(&self) -> Result<()> {
        let mut git_targets: BTreeMap<(String, String), Vec<&RegistryEdit>> = BTreeMap::new();
        for edit in &self.plan.registry {
            match &edit.target {
                RegistryTarget::Folder { file } => {
                    let (origin, text) = self.registry_text(edit)?;
                    let new = edited(&origin, &text, edit)?;
                    if new != text {
                        write_through(Path::new(file), new.as_bytes())
                            .map_err(|e| Error::write(file, e))?;
                    }
                }
                RegistryTarget::Git { url, branch, .. } => {
                    git_targets
                        .entry((url.clone(), branch.clone()))
                        .or_default()
                        .push(edit);
                }
            }
        }
        for ((url, branch), edits) in git_targets {
            let work = self.registry_clone(&url);
            if !work.exists() {
                std::fs::create_dir_all(&self.dir).map_err(|e| Error::write(&self.dir, e))?;
                run_git(
                    &self.caller,
                    &self.dir,
                    &[
                        "clone".into(),
                        "-q".into(),
                        "--branch".into(),
                        branch.clone(),
                        url.clone(),
                        work.display().to_string(),
                    ],
                )?;
            }
            self.write_message("registry", "commit", &registry_message(self.plan))?;
            let mut last = None;
            for _ in 0..REGISTRY_PUSH_ATTEMPTS {
                // Start from the remote's branch each time: a push that lost
                // a race is made again on top of the winner, fast-forward.
                run_git(
                    &self.caller,
                    &work,
                    &[
                        "fetch".into(),
                        "-q".into(),
                        "--".into(),
                        "origin".into(),
                        branch.clone(),
                    ],
                )?;
                run_git(
                    &self.caller,
                    &work,
                    &[
                        "reset".into(),
                        "-q".into(),
                        "--hard".into(),
                        "FETCH_HEAD".into(),
                    ],
                )?;
                let mut paths = Vec::new();
                for edit in &edits {
                    let RegistryTarget::Git { path, .. } = &edit.target else {
                        continue;
                    };
                    let file = work.join(path);
                    let text = read_text(&file).map_err(|e| Error::read(&file, e))?;
                    let origin = EntryOrigin::File(file.clone());
                    let new = edited(&origin, &text, edit)?;
                    if new != text {
                        write_through(&file, new.as_bytes()).map_err(|e| Error::write(&file, e))?;
                        paths.push(path.clone());
                    }
                }
                if paths.is_empty() {
                    return Ok(());
                }
                let mut argv: Vec<String> =
                    ["commit", "-q", "--only", "-F"].map(String::from).to_vec();
                argv.push(
                    self.message_file("registry", "commit")
                        .display()
                        .to_string(),
                );
                argv.push("--".into());
                argv.extend(paths);
                run_git(&self.caller, &work, &argv)?;
                match run_git(
                    &self.caller,
                    &work,
                    &[
                        "push".into(),
                        "--porcelain".into(),
                        "origin".into(),
                        format!("HEAD:refs/heads/{branch}"),
                    ],
                ) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(error) => last = Some(error),
                }
            }
            if let Some(error) = last {
                return Err(error);
            }
        }
        Ok(())
    }

    /// An entry's text now: the folder's file, or the git registry's file
    /// at the remote branch's tip (fetched into hpm's cache, or aside when
    /// only observing).
    fn registry_text(&self, edit: &RegistryEdit) -> Result<(EntryOrigin, String)> {
        match &edit.target {
            RegistryTarget::Folder { file } => {
                let text = read_text(Path::new(file)).map_err(|e| Error::read(file, e))?;
                Ok((EntryOrigin::File(PathBuf::from(file)), text))
            }
            RegistryTarget::Git { url, path, branch } => {
                let (_aside, repository) = if self.observe_only {
                    let (folder, repository) =
                        crate::git::cache::fetched_aside(&self.caller, url, "registry")?;
                    (Some(folder), repository)
                } else {
                    let repository = crate::git::cache::cached_repository(url)?;
                    let _lock = crate::git::cache::lock_cache(url)?;
                    crate::git::cache::fetch(&self.caller, &repository, url, "registry")?;
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

    /// `file` relative to the workspace root, for a diff's header.
    fn label(&self, file: &str) -> String {
        Path::new(file)
            .strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| file.to_string())
    }

    fn registry_clone(&self, url: &str) -> PathBuf {
        let short = hpm_core::fingerprint::sha256_hex(url.as_bytes());
        self.dir
            .join("registry")
            .join(short.get(..12).unwrap_or(&short))
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

/// The entry's text with its source moved to the release.
fn edited(origin: &EntryOrigin, text: &str, edit: &RegistryEdit) -> Result<String> {
    let mode = Mode::new(&edit.mode).map_err(|e| Error::internal(e.to_string()))?;
    let to = if edit.from.starts_with("pypi") {
        MovedTo::Version(edit.to.clone())
    } else {
        MovedTo::Tag(edit.to.clone())
    };
    if already_moved(origin, text, edit, &mode) {
        return Ok(text.to_string());
    }
    move_source(text, origin, &edit.package, &mode, &to).map_err(Error::invalid)
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

/// The trailer every commit of release `id` carries.
pub fn trailer(id: &str) -> String {
    format!("Hpm-Release-Id: {id}")
}

/// The trailer of the commit that carries a package's uncommitted work
/// into release `id` (the work is the user's, so not a release commit).
pub fn work_trailer(id: &str) -> String {
    format!("Hpm-Release-Work: {id}")
}

fn commit_message(plan: &ReleasePlan, p: &PackageRelease) -> String {
    format!(
        "chore(release): {} {}\n\n{}\n\n{}\n",
        p.name,
        p.version,
        p.why,
        trailer(&plan.id)
    )
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
