//! The checks a plan needs the disk or the network for: local folders hold
//! the right project, git refs exist on their remote. Run before any file is
//! touched. Remote refs are listed once per URL, several URLs at a time, and
//! a `ref:` is pinned to the tag, branch or commit the remote says it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Problem, Result};
use crate::plan::{GitReference, Plan, PlannedPackage, PlannedSource};
use crate::pyproject::{PyprojectMut, PYPROJECT_FILE};
use crate::registry::normalize_name;

/// How many remotes are asked at once.
const PARALLEL_REMOTES: usize = 32;

/// What a remote advertises.
#[derive(Debug, Clone, Default)]
pub struct RemoteRefs {
    pub tags: BTreeSet<String>,
    pub branches: BTreeSet<String>,
    pub has_head: bool,
}

/// Checks every package of `plan` and pins its git refs; all problems are
/// reported together.
pub fn validate(root: &Path, plan: &mut Plan) -> Result<()> {
    let mut problems: Vec<Problem> = plan
        .packages
        .iter()
        .filter_map(|package| match &package.source {
            PlannedSource::Path { path, .. } => check_local(root, package, path).err(),
            _ => None,
        })
        .collect();
    let urls: BTreeSet<String> = plan
        .packages
        .iter()
        .filter_map(|package| match &package.source {
            PlannedSource::Git { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect();
    let remotes = list_remotes(&urls);
    for package in &mut plan.packages {
        let PlannedSource::Git { url, reference, .. } = &mut package.source else {
            continue;
        };
        let refs = match &remotes[url.as_str()] {
            Ok(refs) => refs,
            Err(message) => {
                problems.push(
                    Problem::new(format!("cannot reach git remote `{url}`: {message}"))
                        .for_package(&package.name)
                        .hint("check the URL in the registry and your network or credentials"),
                );
                continue;
            }
        };
        match pin_reference(reference, refs) {
            Ok(pinned) => *reference = pinned,
            Err(message) => problems.push(
                Problem::new(format!("{message} in `{url}`"))
                    .for_package(&package.name)
                    .hint(available_hint(refs)),
            ),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid { problems })
    }
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
    let text = std::fs::read_to_string(&pyproject_path).map_err(|error| {
        problem(format!(
            "`{path}` has no readable `{PYPROJECT_FILE}`: {error}"
        ))
        .hint("point `path` at the package's root folder")
    })?;
    let pyproject = PyprojectMut::parse(&text, &pyproject_path).map_err(|error| {
        error
            .problems()
            .first()
            .cloned()
            .unwrap_or_else(|| problem(error.to_string()))
            .for_package(&package.name)
    })?;
    match pyproject.project_name() {
        Some(name) if normalize_name(name) == normalize_name(&package.name) => Ok(()),
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

/// Turns the registry's reference into the one uv gets, checking it exists.
pub fn pin_reference(reference: &GitReference, refs: &RemoteRefs) -> Result<GitReference, String> {
    match reference {
        GitReference::Tag(tag) if refs.tags.contains(tag) => Ok(reference.clone()),
        GitReference::Tag(tag) => Err(format!("tag `{tag}` does not exist")),
        GitReference::Branch(branch) if refs.branches.contains(branch) => Ok(reference.clone()),
        GitReference::Branch(branch) => Err(format!("branch `{branch}` does not exist")),
        GitReference::Rev(rev) if is_commit_like(rev) => Ok(reference.clone()),
        GitReference::Rev(rev) => Err(format!("`{rev}` is not a commit hash")),
        GitReference::Ref(name) if refs.tags.contains(name) => Ok(GitReference::Tag(name.clone())),
        GitReference::Ref(name) if refs.branches.contains(name) => {
            Ok(GitReference::Branch(name.clone()))
        }
        GitReference::Ref(name) if is_commit_like(name) => Ok(GitReference::Rev(name.clone())),
        GitReference::Ref(name) => Err(format!("ref `{name}` is neither a tag nor a branch")),
        GitReference::Default if refs.has_head => Ok(GitReference::Default),
        GitReference::Default => Err("the remote has no default branch".to_string()),
    }
}

fn is_commit_like(rev: &str) -> bool {
    (7..=40).contains(&rev.len()) && rev.chars().all(|c| c.is_ascii_hexdigit())
}

fn available_hint(refs: &RemoteRefs) -> String {
    let tags: Vec<&str> = refs.tags.iter().rev().take(8).map(String::as_str).collect();
    if tags.is_empty() {
        "the remote has no tags; push the tag, or fix the ref in the registry entry".to_string()
    } else {
        format!(
            "push the tag, or fix the ref in the registry entry (tags there: {})",
            tags.join(", ")
        )
    }
}

/// Lists the refs of each URL, several at a time.
fn list_remotes(urls: &BTreeSet<String>) -> BTreeMap<&str, Result<RemoteRefs, String>> {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut results = BTreeMap::new();
    for chunk in urls.chunks(PARALLEL_REMOTES) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|url| (*url, scope.spawn(move || list_remote(url))))
                .collect();
            for (url, handle) in handles {
                let result = handle
                    .join()
                    .unwrap_or_else(|_| Err("listing the remote crashed".to_string()));
                results.insert(url, result);
            }
        });
    }
    results
}

/// `git ls-remote` through libgit2 (no shell, no `git` binary involved).
pub fn list_remote(url: &str) -> Result<RemoteRefs, String> {
    let mut remote = git2::Remote::create_detached(url).map_err(|e| e.message().to_string())?;
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(|url, username, allowed| {
        if allowed.contains(git2::CredentialType::SSH_KEY) {
            git2::Cred::ssh_key_from_agent(username.unwrap_or("git"))
        } else {
            let config = git2::Config::open_default()?;
            git2::Cred::credential_helper(&config, url, username)
        }
    });
    let connection = remote
        .connect_auth(git2::Direction::Fetch, Some(callbacks), None)
        .map_err(|e| e.message().to_string())?;
    let mut refs = RemoteRefs::default();
    for head in connection.list().map_err(|e| e.message().to_string())? {
        let name = head.name();
        if name == "HEAD" {
            refs.has_head = true;
        } else if let Some(tag) = name.strip_prefix("refs/tags/") {
            refs.tags.insert(tag.trim_end_matches("^{}").to_string());
        } else if let Some(branch) = name.strip_prefix("refs/heads/") {
            refs.branches.insert(branch.to_string());
        }
    }
    Ok(refs)
}
