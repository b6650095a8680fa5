//! `hpmctl release plan`: reads each package's dev clone (cloned on demand
//! as `dev` does), its tags and the commits since the previous one, its
//! dependencies among the release's packages, and the registry entries the
//! release moves, and decides versions, tags, layers and edits. It writes
//! nothing in a package repository; the plan goes to
//! `.hpm/releases/<id>/plan.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hpm_core::manifest::ForgeKind;
use hpm_core::metadata::ProjectMeta;
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::registry::{EntryOrigin, RegistryEntry, SourceSpec};
use hpm_core::release::entry_edit::{move_source, MovedTo};
use hpm_core::release::plan::{PackageRelease, RegistryEdit, RegistryTarget, ReleasePlan};
use hpm_core::release::versions::{next_version, read_tags, tag_name, Bump, ReleaseKind, Tagged};
use hpm_core::release::{commits, forge_repo, layers::layers, version_file};
use hpm_core::{Mode, PackageName, Problem};
use hpm_protocol::report::PlannedClone;

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::fsutil::read_text;
use crate::git::history;
use crate::inputs::Inputs;
use crate::workspace::Workspace;

/// What `hpmctl release plan` is asked for.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub packages: Vec<String>,
    pub mode: Mode,
    pub bump: Bump,
    pub with_core: bool,
    pub with_dependents: bool,
    /// A prod release may differ from its last staging tag in more than
    /// the version files.
    pub allow_changes: bool,
}

/// One package's clone, read.
struct Read {
    name: String,
    clone: PathBuf,
    meta: ProjectMeta,
    entry: Option<(RegistryEntry, EntryOrigin)>,
}

pub fn plan(workspace: &Workspace, request: &PlanRequest, id: &str) -> Result<ReleasePlan> {
    let kind = ReleaseKind::of_mode(request.mode.as_str()).ok_or_else(|| Error::Refused {
        message: format!("`{}` is not a release mode", request.mode),
        hint: Some(
            "releases are `--mode staging` (X.Y.Z.devN tags) or `--mode prod` (X.Y.Z)".to_string(),
        ),
    })?;
    let inputs = Inputs::read(workspace)?;
    let settings = &inputs.manifest.release;
    let mut warnings = Vec::new();
    let read = read_packages(workspace, &inputs, request, &mut warnings)?;
    let graph = dependency_graph(&read);
    let ordered = layers(&graph).map_err(|cycle| {
        Error::invalid(
            Problem::new(format!(
                "the packages depend on each other in a cycle: {}",
                cycle.join(" → ")
            ))
            .hint("release them in separate runs, or break the cycle in their dependencies"),
        )
    })?;
    let mut planned = Planned::default();
    for (layer, names) in ordered.iter().enumerate() {
        for name in names {
            let Some(r) = read.get(&PackageName::key(name)) else {
                continue;
            };
            let depends_on: Vec<String> = graph
                .get(name)
                .map(|d| d.iter().cloned().collect())
                .unwrap_or_default();
            let place = Place {
                layer,
                depends_on,
                core: false,
            };
            let release = release_of(workspace.caller(), r, kind, request, settings, place);
            planned.package(&inputs, request, r, release, &mut warnings);
        }
    }
    if request.with_core {
        planned.core(workspace, kind, request, settings, ordered.len())?;
    }
    hpm_core::Invalid::check(planned.problems)?;
    if planned.packages.is_empty() {
        return Err(Error::Refused {
            message: "nothing to release: no package has commits since its last tag".to_string(),
            hint: Some("commit the changes to release first, or name other packages".to_string()),
        });
    }
    let (api, api_from_environment) = forge_api(workspace, settings)?;
    Ok(ReleasePlan {
        id: id.to_string(),
        kind,
        tag_prefix: settings.tag_prefix.clone(),
        forge: settings.forge,
        api,
        api_from_environment,
        packages: planned.packages,
        registry: planned.registry,
        warnings,
    })
}

/// The packages named (and with `--with-dependents`, those that depend on
/// them), each read from its dev clone; every problem found together.
fn read_packages(
    workspace: &Workspace,
    inputs: &Inputs,
    request: &PlanRequest,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<PackageName, Read>> {
    let mut problems = Vec::new();
    let mut read: BTreeMap<PackageName, Read> = BTreeMap::new();
    for name in &request.packages {
        match read_package(workspace, inputs, name) {
            Ok(r) => {
                read.insert(PackageName::key(&r.name), r);
            }
            Err(Error::Invalid { problems: found }) => problems.extend(found),
            Err(other) => return Err(other),
        }
    }
    hpm_core::Invalid::check(problems)?;
    if request.with_dependents {
        add_dependents(workspace, inputs, &mut read, warnings)?;
    }
    Ok(read)
}

/// Dependencies among the release's packages, for the layers.
fn dependency_graph(read: &BTreeMap<PackageName, Read>) -> BTreeMap<String, BTreeSet<String>> {
    let keys: BTreeSet<PackageName> = read.keys().cloned().collect();
    read.values()
        .map(|r| {
            let deps = r
                .meta
                .requirements(&[])
                .into_iter()
                .filter(|d| keys.contains(&d.key) && d.key != PackageName::key(&r.name))
                .filter_map(|d| read.get(&d.key).map(|dep| dep.name.clone()))
                .collect();
            (r.name.clone(), deps)
        })
        .collect()
}

/// What the plan gathers, package by package.
#[derive(Default)]
struct Planned {
    packages: Vec<PackageRelease>,
    registry: Vec<RegistryEdit>,
    problems: Vec<Problem>,
}

impl Planned {
    /// A package's release (and its registry entry's edit), or why it is
    /// left out.
    fn package(
        &mut self,
        inputs: &Inputs,
        request: &PlanRequest,
        r: &Read,
        release: Result<Option<PackageRelease>, Problem>,
        warnings: &mut Vec<String>,
    ) {
        match release {
            Ok(Some(release)) => {
                if let Some((entry, origin)) = &r.entry {
                    match registry_edit(&inputs.manifest, entry, origin, &request.mode, &release) {
                        Ok(edit) => self.registry.push(edit),
                        Err(problem) => self.problems.push(problem),
                    }
                }
                self.packages.push(release);
            }
            Ok(None) => warnings.push(format!(
                "{}: no commits since its last tag; left out of the release",
                r.name
            )),
            Err(problem) => self.problems.push(problem),
        }
    }

    /// The core, last (`--with-core`): its commit also carries the folder
    /// registry's edited entries.
    fn core(
        &mut self,
        workspace: &Workspace,
        kind: ReleaseKind,
        request: &PlanRequest,
        settings: &hpm_core::manifest::ReleaseSettings,
        layer: usize,
    ) -> Result<()> {
        let root = workspace.root();
        let core = core_read(root)?;
        let extra: Vec<String> = self
            .registry
            .iter()
            .filter_map(|edit| match &edit.target {
                RegistryTarget::Folder { file } => Path::new(file)
                    .strip_prefix(root)
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned()),
                RegistryTarget::Git { .. } => None,
            })
            .collect();
        let place = Place {
            layer,
            depends_on: self.packages.iter().map(|p| p.name.clone()).collect(),
            core: true,
        };
        match release_of(workspace.caller(), &core, kind, request, settings, place) {
            Ok(Some(mut release)) => {
                release.extra_files = extra;
                self.packages.push(release);
            }
            Ok(None) => self.problems.push(
                Problem::new(
                    "the core has no commits since its last tag and no package is released",
                )
                .hint("leave out `--with-core`"),
            ),
            Err(problem) => self.problems.push(problem),
        }
        Ok(())
    }
}

/// The forge's API address: the caller's `HPM_FORGE_API` (said so: only
/// the user's own setting may send the token elsewhere than the remote's
/// host), else `release.api`, else GitHub's.
fn forge_api(
    workspace: &Workspace,
    settings: &hpm_core::manifest::ReleaseSettings,
) -> Result<(Option<String>, bool)> {
    let from_environment = workspace
        .caller()
        .var("HPM_FORGE_API")
        .filter(|v| !v.is_empty());
    let api_from_environment = from_environment.is_some();
    let api = from_environment
        .or_else(|| settings.api.clone())
        .or_else(|| {
            (settings.forge == ForgeKind::Github).then(|| super::forge::GITHUB_API.to_string())
        });
    if settings.forge != ForgeKind::None && api.is_none() {
        return Err(Error::Refused {
            message: "`release.forge: gitea` needs the forge's address".to_string(),
            hint: Some("set `release.api` in hpm.yaml (e.g. `https://gitea.example.com`) or `HPM_FORGE_API`".to_string()),
        });
    }
    Ok((api, api_from_environment))
}

/// A registry package's dev clone (cloned when missing) and its metadata.
fn read_package(workspace: &Workspace, inputs: &Inputs, name: &str) -> Result<Read> {
    let root = workspace.root();
    let Some((entry, origin)) = inputs.registry.get(name) else {
        return Err(Error::invalid(
            Problem::new("has no registry entry; only registry packages are released")
                .for_package(name)
                .hint("check the name (`hpmctl status` lists the packages)"),
        ));
    };
    let dev = Mode::new("dev").map_err(|e| Error::internal(e.to_string()))?;
    let path = match entry.sources.get(&dev) {
        Some(SourceSpec::Local { path, .. }) => path.clone(),
        _ => format!("{}/{}", inputs.manifest.settings.packages_dir, entry.name),
    };
    let clone = hpm_core::paths::normalize(root, &path).unwrap_or_else(|| root.join(&path));
    if !clone.exists() {
        let Some(url) = entry.repo.clone() else {
            return Err(Error::invalid(
                Problem::new(format!(
                    "its dev clone `{path}` is missing and the entry has no `repo:` to clone"
                ))
                .in_file(origin.label())
                .for_package(&entry.name),
            ));
        };
        if !hpm_core::paths::is_inside(root, &path) {
            return Err(Error::invalid(
                Problem::new(format!(
                    "its dev clone `{path}` is missing and outside the workspace"
                ))
                .for_package(&entry.name)
                .hint(format!("clone it there yourself: `git clone {url} {path}`")),
            ));
        }
        crate::ops::clone::clone_all(
            workspace,
            &[PlannedClone {
                package: entry.name.clone(),
                url,
                path: path.clone(),
                branch: entry.branch.clone(),
                allowed_by: None,
            }],
            &mut |_| {},
        )?;
    }
    let pyproject = clone.join(PYPROJECT_FILE);
    let text = read_text(&pyproject).map_err(|e| Error::read(&pyproject, e))?;
    let meta = ProjectMeta::read(&text).map_err(|e| {
        Error::invalid(Problem::new(e).in_file(&pyproject).for_package(&entry.name))
    })?;
    Ok(Read {
        name: entry.name.clone(),
        clone,
        meta,
        entry: Some((entry.clone(), origin.clone())),
    })
}

/// `--with-dependents`: the manifest's registry packages that depend on a
/// released one, until none is added.
fn add_dependents(
    workspace: &Workspace,
    inputs: &Inputs,
    read: &mut BTreeMap<PackageName, Read>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let names: Vec<String> = hpm_core::plan::registry_names(&inputs.manifest)
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut candidates: Vec<Read> = Vec::new();
    for name in names
        .iter()
        .filter(|n| !read.contains_key(&PackageName::key(n)))
    {
        match read_package(workspace, inputs, name) {
            Ok(r) => candidates.push(r),
            Err(error) => {
                warnings.push(format!("{name}: not read for --with-dependents ({error})"))
            }
        }
    }
    loop {
        let released: BTreeSet<PackageName> = read.keys().cloned().collect();
        let Some(at) = candidates.iter().position(|c| {
            c.meta
                .requirements(&[])
                .iter()
                .any(|d| released.contains(&d.key))
        }) else {
            return Ok(());
        };
        let dependent = candidates.remove(at);
        read.insert(PackageName::key(&dependent.name), dependent);
    }
}

/// The workspace root as the core's repository.
fn core_read(root: &Path) -> Result<Read> {
    let pyproject = root.join(PYPROJECT_FILE);
    let text = read_text(&pyproject).map_err(|e| Error::read(&pyproject, e))?;
    let meta = ProjectMeta::read(&text)
        .map_err(|e| Error::invalid(Problem::new(e).in_file(&pyproject)))?;
    Ok(Read {
        name: meta.name.clone().unwrap_or_else(|| "core".to_string()),
        clone: root.to_path_buf(),
        meta,
        entry: None,
    })
}

/// Where a release stands in the plan.
struct Place {
    /// Its dependency layer.
    layer: usize,
    /// The released packages it depends on.
    depends_on: Vec<String>,
    /// The core, released last.
    core: bool,
}

/// One package's release, `None` when it has nothing to release.
fn release_of(
    caller: &Caller,
    r: &Read,
    kind: ReleaseKind,
    request: &PlanRequest,
    settings: &hpm_core::manifest::ReleaseSettings,
    place: Place,
) -> Result<Option<PackageRelease>, Problem> {
    let Place {
        layer,
        depends_on,
        core,
    } = place;
    let problem = |message: String| Problem::new(message).for_package(&r.name);
    let repo = history::open(&r.clone).map_err(|e| problem(e.to_string()))?;
    let (branch, head) = history::head(&repo).map_err(|e| problem(e.to_string()))?;
    let branch = releasable_branch(r, branch, settings)?;
    let remote = history::origin_url(&repo).ok_or_else(|| {
        problem(format!(
            "`{}` has no `origin` remote to push the release to",
            r.clone.display()
        ))
        .hint("add it: `git remote add origin URL`")
    })?;
    let (file, current_version) = version_of(r)?;
    let tags = known_tags(caller, &repo, &remote, r, &settings.tag_prefix)?;
    let previous = tags
        .iter()
        .max_by(|a, b| a.version.cmp(&b.version))
        .cloned();
    let since = previous
        .as_ref()
        .map(|tag| tagged_commit(&repo, r, &tag.tag))
        .transpose()?;
    let commits = history::commits_since(&repo, head, since).map_err(|e| problem(e.to_string()))?;
    let work = match core {
        true => Vec::new(),
        false => uncommitted_work(&repo, r)?,
    };
    let explicit = matches!(request.bump, Bump::Exact(_));
    let promoting =
        kind == ReleaseKind::Prod && previous.as_ref().is_some_and(|p| p.version.is_dev());
    if commits.is_empty() && work.is_empty() && !explicit && !promoting && !core {
        return Ok(None);
    }
    let level = commits::level(&commits);
    let next = next_version(&tags, kind, &request.bump, level).map_err(|e| problem(e.0))?;
    if let (true, false, Some(previous), Some(since)) =
        (promoting, request.allow_changes, &previous, since)
    {
        let changed =
            history::changed_paths(&repo, since, head).map_err(|e| problem(e.to_string()))?;
        refuse_changes_beyond_versions(r, &previous.tag, &changed, settings, &file)?;
    }
    Ok(Some(PackageRelease {
        name: r.name.clone(),
        core,
        clone: r.clone.display().to_string(),
        forge_repo: forge_repo(&remote).unwrap_or_default(),
        remote,
        branch,
        head: head.to_string(),
        previous_tag: previous.map(|p| p.tag),
        current_version,
        version: next.version.to_string(),
        tag: tag_name(&settings.tag_prefix, &next.version),
        why: next.why,
        commits,
        layer,
        depends_on,
        version_file: file,
        relock: !core && r.clone.join("uv.lock").is_file(),
        extra_files: Vec::new(),
        work,
    }))
}

/// The commit `tag` names in the clone of `r`.
fn tagged_commit(repo: &git2::Repository, r: &Read, tag: &str) -> Result<git2::Oid, Problem> {
    history::tag_commit(repo, tag).ok_or_else(|| {
        Problem::new(format!(
            "the tag `{tag}` is on the remote but not in `{}`",
            r.clone.display()
        ))
        .for_package(&r.name)
        .hint("fetch it: `git fetch --tags origin`")
    })
}

/// A package's uncommitted work on files git tracks, sorted: released
/// too, committed first. A file git does not track is never committed,
/// pushed or shown by a release: it stops the plan. (Not asked of the
/// core: its files are hpm's to write, its pyproject for the mode, and its
/// tree must be clean but for them.)
fn uncommitted_work(repo: &git2::Repository, r: &Read) -> Result<Vec<String>, Problem> {
    refuse_untracked(repo, r)?;
    let mut work = history::tracked_changes(repo);
    work.sort();
    Ok(work)
}

/// The branch the clone is on, when releases may be made from it.
fn releasable_branch(
    r: &Read,
    branch: Option<String>,
    settings: &hpm_core::manifest::ReleaseSettings,
) -> Result<String, Problem> {
    let Some(branch) = branch else {
        return Err(
            Problem::new(format!("`{}` is on a detached HEAD", r.clone.display()))
                .for_package(&r.name)
                .hint("check out the branch to release from"),
        );
    };
    if !settings.branches.contains(&branch) {
        return Err(Problem::new(format!(
            "`{}` is on branch `{branch}`, which releases are not made from (allowed: {})",
            r.clone.display(),
            settings.branches.join(", ")
        ))
        .for_package(&r.name)
        .hint("check out an allowed branch, or add it to `release.branches` in hpm.yaml"));
    }
    Ok(branch)
}

/// The package's version file and the version it holds now.
fn version_of(r: &Read) -> Result<(String, String), Problem> {
    let problem = |message: String| Problem::new(message).for_package(&r.name);
    let pyproject = r.clone.join(PYPROJECT_FILE);
    let pyproject_text = read_text(&pyproject).map_err(|e| problem(e.to_string()))?;
    let file = version_file::version_file(&pyproject_text)
        .map_err(|e| problem(format!("`{}` {e}", pyproject.display())).hint("give `[project]` a static `version`, or point `[tool.hatch.version] path` at a file with `__version__`"))?;
    let path = r.clone.join(&file);
    let file_text = read_text(&path).map_err(|e| problem(format!("`{}`: {e}", path.display())))?;
    let current_version = version_file::read_version(&file, &file_text).ok_or_else(|| {
        problem(format!(
            "`{}` holds no version hpm can read",
            path.display()
        ))
    })?;
    Ok((file, current_version))
}

/// The release tags the clone and its remote know (the remote's too: a
/// tag someone pushed is taken into account).
fn known_tags(
    caller: &Caller,
    repo: &git2::Repository,
    remote: &str,
    r: &Read,
    prefix: &str,
) -> Result<Vec<Tagged>, Problem> {
    let mut names: BTreeSet<String> = history::tags(repo)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let refs = crate::git::remote::list_remote_oids(caller, remote).map_err(|failure| {
        Problem::new(format!("cannot list `{remote}`: {failure}"))
            .for_package(&r.name)
            .hint(failure.hint())
    })?;
    names.extend(
        refs.keys()
            .filter_map(|r| r.strip_prefix("refs/tags/"))
            .map(|t| t.trim_end_matches("^{}").to_string()),
    );
    Ok(read_tags(names.iter().map(String::as_str), prefix))
}

/// A file git does not track stops the plan: a release commits only what
/// git tracks and what hpm changes.
fn refuse_untracked(repo: &git2::Repository, r: &Read) -> Result<(), Problem> {
    let untracked = history::untracked(repo);
    if untracked.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = untracked
        .iter()
        .take(10)
        .map(|path| format!("`{}`", path.escape_debug()))
        .collect();
    let more = untracked.len().saturating_sub(shown.len());
    Err(Problem::new(format!(
        "has files git does not track in `{}`: {}{}",
        r.clone.display(),
        shown.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    ))
    .for_package(&r.name)
    .hint("a release commits only what git tracks and what hpm changes: commit them (`git add`), ignore them (`.gitignore`), or remove them, then plan again"))
}

/// A prod release promoting a staged tag may differ from it in its
/// version files only (`--allow-changes` lifts this).
fn refuse_changes_beyond_versions(
    r: &Read,
    staged: &str,
    changed: &[String],
    settings: &hpm_core::manifest::ReleaseSettings,
    version_file: &str,
) -> Result<(), Problem> {
    let extra: Vec<&str> = changed
        .iter()
        .filter(|p| !settings.version_files.contains(p) && p.as_str() != version_file)
        .map(String::as_str)
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    Err(Problem::new(format!(
        "differs from its staged tag `{staged}` in more than the version files: {}",
        extra.join(", ")
    ))
    .for_package(&r.name)
    .hint("stage those changes first (`--mode staging`), or pass `--allow-changes` to release them to prod untested"))
}

/// The registry edit a package's release makes, checked now against the
/// entry's text so a plan never holds an edit that cannot be made.
fn registry_edit(
    manifest: &hpm_core::manifest::Manifest,
    entry: &RegistryEntry,
    origin: &EntryOrigin,
    mode: &Mode,
    release: &PackageRelease,
) -> Result<RegistryEdit, Problem> {
    let to = match entry.sources.get(mode) {
        Some(SourceSpec::Pypi { .. }) => MovedTo::Version(release.version.clone()),
        _ => MovedTo::Tag(release.tag.clone()),
    };
    let target = match origin {
        EntryOrigin::File(path) => RegistryTarget::Folder {
            file: path.display().to_string(),
        },
        EntryOrigin::Git { url, path, .. } => {
            let branch = manifest
                .registry
                .iter()
                .find_map(|location| match location {
                    hpm_core::manifest::RegistryLocation::Git { git, reference } if git == url => {
                        Some(
                            reference
                                .clone()
                                .unwrap_or_else(|| crate::git::registry::DEFAULT_REF.to_string()),
                        )
                    }
                    _ => None,
                })
                .unwrap_or_else(|| crate::git::registry::DEFAULT_REF.to_string());
            RegistryTarget::Git {
                url: url.clone(),
                path: path.clone(),
                branch,
            }
        }
        EntryOrigin::Manifest(path) => {
            return Err(Problem::new(
                "its entry is inline in `registry_entries:`, which a release does not edit",
            )
            .in_file(path)
            .for_package(&entry.name)
            .hint("move the entry to a registry folder or repository"))
        }
    };
    if let RegistryTarget::Folder { file } = &target {
        let text =
            read_text(Path::new(file)).map_err(|e| Problem::new(e.to_string()).in_file(file))?;
        move_source(&text, origin, &entry.name, mode, &to)?;
    }
    let from = entry
        .sources
        .get(mode)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let previous = match entry.sources.get(mode) {
        Some(SourceSpec::Git { reference, .. }) => reference.name().map(str::to_string),
        Some(SourceSpec::Pypi { version, .. }) => version.clone(),
        _ => None,
    };
    let to_text = match &to {
        MovedTo::Tag(tag) | MovedTo::Version(tag) => tag.clone(),
    };
    Ok(RegistryEdit {
        package: entry.name.clone(),
        target,
        mode: mode.to_string(),
        from,
        previous,
        to: to_text,
    })
}
