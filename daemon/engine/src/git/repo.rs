//! A clone's git state (branch, head, dirty, ahead/behind of its
//! upstream), and a cheap stamp of its git files that tells when a cached
//! state may have moved.

use std::path::Path;

use hpm_protocol::report::RepoState;

/// A cheap fingerprint of a clone's git state files (size and mtime of
/// `HEAD`, `index`, `packed-refs`, `FETCH_HEAD`, the checked-out branch's ref
/// and its `origin` counterpart): a cached [`RepoState`] with an equal stamp
/// still holds for branch, head and ahead/behind, and for dirtiness as far as
/// the index knows (work-tree edits reach the cache through the watcher).
/// `None` when the clone has no plain `.git` folder.
pub type GitStamp = Vec<Option<(u64, std::time::SystemTime)>>;

pub fn git_stamp(folder: &Path) -> Option<GitStamp> {
    let git = folder.join(".git");
    if !git.is_dir() {
        return None;
    }
    let head = std::fs::read_to_string(git.join("HEAD")).unwrap_or_default();
    let branch_ref = head.strip_prefix("ref: ").map(str::trim);
    let mut files = vec![
        git.join("HEAD"),
        git.join("index"),
        git.join("packed-refs"),
        git.join("FETCH_HEAD"),
    ];
    if let Some(reference) = branch_ref {
        files.push(git.join(reference));
        if let Some(branch) = reference.strip_prefix("refs/heads/") {
            files.push(git.join("refs/remotes/origin").join(branch));
        }
    }
    Some(
        files
            .iter()
            .map(|file| {
                let metadata = std::fs::metadata(file).ok()?;
                Some((metadata.len(), metadata.modified().ok()?))
            })
            .collect(),
    )
}

/// The git state of the clone at `folder`, `None` when it is not a repository.
pub fn repo_state(folder: &Path, path: &str) -> Option<RepoState> {
    let repo = git2::Repository::open(folder).ok()?;
    let head = repo.head().ok();
    let branch = head
        .as_ref()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_string));
    let head_id = head.as_ref().and_then(|h| h.target());
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .include_ignored(false)
        .exclude_submodules(true);
    let dirty = repo
        .statuses(Some(&mut options))
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let (ahead, behind) = branch
        .as_deref()
        .and_then(|name| repo.find_branch(name, git2::BranchType::Local).ok())
        .and_then(|local| local.upstream().ok())
        .and_then(|upstream| upstream.get().target())
        .zip(head_id)
        .and_then(|(upstream, local)| repo.graph_ahead_behind(local, upstream).ok())
        .map_or((None, None), |(ahead, behind)| (Some(ahead), Some(behind)));
    Some(RepoState {
        path: path.to_string(),
        branch,
        head: head_id.map(|id| id.to_string()[..12].to_string()),
        dirty,
        ahead,
        behind,
    })
}
