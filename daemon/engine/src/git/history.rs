//! What a release reads of a package's clone through libgit2: its branch
//! and head, `origin`, tags, the commits since a tag, the files two commits
//! differ in, a file at a commit, and what is uncommitted.

use std::path::Path;

use hpm_core::release::commits::Commit;

use crate::error::{Error, Result};

/// Opens the repository whose work tree is `folder`.
pub fn open(folder: &Path) -> Result<git2::Repository> {
    git2::Repository::open(folder).map_err(|e| Error::Refused {
        message: format!("`{}` is not a git clone: {}", folder.display(), e.message()),
        hint: Some(
            "a release is made from the package's dev clone; `hpmctl dev PKG` makes one"
                .to_string(),
        ),
    })
}

fn git_error(folder: &Path, what: &str, error: git2::Error) -> Error {
    Error::internal(format!(
        "git in `{}`: {what}: {}",
        folder.display(),
        error.message()
    ))
}

/// The checked-out branch (`None` when detached) and the head commit.
pub fn head(repo: &git2::Repository) -> Result<(Option<String>, git2::Oid)> {
    let folder = repo.workdir().unwrap_or(repo.path()).to_path_buf();
    let head = repo
        .head()
        .map_err(|e| git_error(&folder, "reading HEAD", e))?;
    let branch = if head.is_branch() {
        head.shorthand().ok().map(str::to_string)
    } else {
        None
    };
    let commit = head
        .peel_to_commit()
        .map_err(|e| git_error(&folder, "reading HEAD's commit", e))?;
    Ok((branch, commit.id()))
}

/// `origin`'s URL.
pub fn origin_url(repo: &git2::Repository) -> Option<String> {
    repo.find_remote("origin")
        .ok()?
        .url()
        .ok()
        .map(str::to_string)
}

/// Every local tag with the commit it peels to.
pub fn tags(repo: &git2::Repository) -> Vec<(String, git2::Oid)> {
    let Ok(names) = repo.tag_names(None) else {
        return Vec::new();
    };
    names
        .iter()
        .flatten()
        .flatten()
        .filter_map(|name| {
            let commit = repo
                .revparse_single(&format!("refs/tags/{name}"))
                .ok()?
                .peel_to_commit()
                .ok()?;
            Some((name.to_string(), commit.id()))
        })
        .collect()
}

/// The local tag `name`'s object (the tag object for an annotated tag).
pub fn tag_object(repo: &git2::Repository, name: &str) -> Option<git2::Oid> {
    repo.refname_to_id(&format!("refs/tags/{name}")).ok()
}

/// The commit `name` peels to.
pub fn tag_commit(repo: &git2::Repository, name: &str) -> Option<git2::Oid> {
    Some(
        repo.revparse_single(&format!("refs/tags/{name}"))
            .ok()?
            .peel_to_commit()
            .ok()?
            .id(),
    )
}

/// The commits reachable from `head` and not from `since`, newest first.
pub fn commits_since(
    repo: &git2::Repository,
    head: git2::Oid,
    since: Option<git2::Oid>,
) -> Result<Vec<Commit>> {
    let folder = repo.workdir().unwrap_or(repo.path()).to_path_buf();
    let mut walk = repo
        .revwalk()
        .map_err(|e| git_error(&folder, "walking history", e))?;
    walk.push(head)
        .map_err(|e| git_error(&folder, "walking history", e))?;
    if let Some(since) = since {
        walk.hide(since)
            .map_err(|e| git_error(&folder, "walking history", e))?;
    }
    let mut commits = Vec::new();
    for oid in walk {
        let oid = oid.map_err(|e| git_error(&folder, "walking history", e))?;
        let commit = repo
            .find_commit(oid)
            .map_err(|e| git_error(&folder, "reading a commit", e))?;
        commits.push(Commit {
            id: oid.to_string(),
            message: commit.message().unwrap_or("").to_string(),
        });
    }
    Ok(commits)
}

/// The paths whose content differs between two commits.
pub fn changed_paths(
    repo: &git2::Repository,
    from: git2::Oid,
    to: git2::Oid,
) -> Result<Vec<String>> {
    let folder = repo.workdir().unwrap_or(repo.path()).to_path_buf();
    let tree = |oid| repo.find_commit(oid).and_then(|c| c.tree());
    let (old, new) = (
        tree(from).map_err(|e| git_error(&folder, "reading a tree", e))?,
        tree(to).map_err(|e| git_error(&folder, "reading a tree", e))?,
    );
    let diff = repo
        .diff_tree_to_tree(Some(&old), Some(&new), None)
        .map_err(|e| git_error(&folder, "comparing trees", e))?;
    Ok(diff
        .deltas()
        .filter_map(|d| d.new_file().path().or(d.old_file().path()))
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

/// A file's text at a commit.
pub fn file_at(repo: &git2::Repository, commit: git2::Oid, path: &str) -> Option<String> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// What stands in for the files when the work tree's status cannot be
/// read: a release then stops on it rather than seeing a clean tree.
const UNREADABLE: &str = "(the status could not be read)";

/// Every file that is not as committed (ignored ones left out), with its
/// status; `None` when the status cannot be read.
fn changed_files(repo: &git2::Repository) -> Option<Vec<(String, git2::Status)>> {
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut options)).ok()?;
    Some(
        statuses
            .iter()
            .filter(|s| s.status() != git2::Status::CURRENT)
            .filter_map(|s| Some((s.path().ok()?.to_string(), s.status())))
            // A temporary file a killed hpm left is not the user's work.
            .filter(|(path, status)| {
                !(status.contains(git2::Status::WT_NEW) && crate::fsutil::is_own_temp(path))
            })
            .collect(),
    )
}

/// The changed files among `changed_files` that `keep` accepts, or the
/// unreadable marker.
fn changed_where(repo: &git2::Repository, keep: impl Fn(git2::Status) -> bool) -> Vec<String> {
    match changed_files(repo) {
        Some(files) => files
            .into_iter()
            .filter(|(_, status)| keep(*status))
            .map(|(path, _)| path)
            .collect(),
        None => vec![UNREADABLE.to_string()],
    }
}

/// The work tree's changed and untracked files (ignored ones left out).
pub fn uncommitted(repo: &git2::Repository) -> Vec<String> {
    changed_where(repo, |_| true)
}

/// The changes to files git tracks (staged or not): what a release may
/// commit of the user's work.
pub fn tracked_changes(repo: &git2::Repository) -> Vec<String> {
    changed_where(repo, |status| !status.contains(git2::Status::WT_NEW))
}

/// The files git does not track and does not ignore (`.env.local`): never
/// a release's to commit, push or show.
pub fn untracked(repo: &git2::Repository) -> Vec<String> {
    let mut files = changed_where(repo, |status| status.contains(git2::Status::WT_NEW));
    files.sort();
    files
}

/// Whether `ancestor` is `descendant` or one of its ancestors.
pub fn contains(repo: &git2::Repository, descendant: git2::Oid, ancestor: git2::Oid) -> bool {
    descendant == ancestor
        || repo
            .graph_descendant_of(descendant, ancestor)
            .unwrap_or(false)
}

/// The newest commit from `head` down to (not past) `base` whose message
/// carries `trailer`.
pub fn commit_with_trailer(
    repo: &git2::Repository,
    head: git2::Oid,
    base: git2::Oid,
    trailer: &str,
) -> Option<git2::Oid> {
    let mut walk = repo.revwalk().ok()?;
    walk.push(head).ok()?;
    walk.hide(base).ok()?;
    walk.flatten().find(|oid| {
        repo.find_commit(*oid)
            .ok()
            .and_then(|c| {
                c.message()
                    .ok()
                    .map(|m| m.lines().any(|l| l.trim() == trailer))
            })
            .unwrap_or(false)
    })
}
