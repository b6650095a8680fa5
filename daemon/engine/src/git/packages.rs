//! A managed package's own `pyproject.toml` at a git ref, read from the
//! bare cache of its repository (shared with the registries, [`super::cache`]):
//! the ref is looked up in the cache, fetched only when it is missing, and
//! read offline from then on.

use std::path::Path;

use hpm_core::registry::GitRef;

use super::cache::{fetch, kept_open, lock_cache, resolve};
use crate::caller::Caller;
use crate::error::{Error, Result};

/// The text of `subdirectory/pyproject.toml` at `reference` of `url`;
/// `None` when the ref or the file is not there (validation then reports a
/// missing ref), `Err` when the repository could not be fetched (with the
/// caller's git) or read.
pub fn pyproject_at(
    caller: &Caller,
    url: &str,
    reference: &GitRef,
    subdirectory: Option<&str>,
) -> Result<Option<String>> {
    let kept = kept_open(url)?;
    let repository = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let names: Vec<&str> = match reference {
        GitRef::Tag(name) | GitRef::Branch(name) | GitRef::Rev(name) | GitRef::Ref(name) => {
            vec![name]
        }
        GitRef::Default => vec!["main", "master"],
    };
    let find =
        |repository: &git2::Repository| names.iter().find_map(|name| resolve(repository, name));
    let commit = match find(&repository) {
        Some(commit) => commit,
        None => {
            let _lock = lock_cache(url)?;
            match find(&repository) {
                Some(commit) => commit,
                None => {
                    fetch(caller, &repository, url, "package repository")?;
                    match find(&repository) {
                        Some(commit) => commit,
                        None => return Ok(None),
                    }
                }
            }
        }
    };
    let unreadable = |error: git2::Error| {
        Error::internal(format!(
            "cannot read `{url}` in the cache `{}`: {}",
            repository.path().display(),
            error.message()
        ))
    };
    let tree = repository
        .find_commit(commit)
        .and_then(|commit| commit.tree())
        .map_err(unreadable)?;
    let path = match subdirectory {
        Some(folder) => Path::new(folder).join("pyproject.toml"),
        None => Path::new("pyproject.toml").to_path_buf(),
    };
    let Ok(entry) = tree.get_path(&path) else {
        return Ok(None);
    };
    let blob = entry
        .to_object(&repository)
        .and_then(|object| object.peel_to_blob())
        .map_err(unreadable)?;
    Ok(String::from_utf8(blob.content().to_vec()).ok())
}
