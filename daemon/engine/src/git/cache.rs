//! Bare caches of git repositories in the user cache folder, one per URL,
//! shared by every workspace and by both uses: git registries (read at a
//! pinned commit) and managed packages' own `pyproject.toml` at a tag,
//! branch or commit (the dependency closure). A cache is created and
//! fetched under a lock, fetched only when a ref is missing, and works
//! offline once it has what is asked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use hpm_core::Problem;
use nix::fcntl::{Flock, FlockArg};

use super::net::{self, NetFailure};
use crate::caller::Caller;
use crate::error::{Error, Result};

/// The cache folder of the repository at `url`.
fn cache_folder(url: &str) -> PathBuf {
    cache_dir().join(&hpm_core::fingerprint::sha256_hex(url.as_bytes())[..24])
}

/// Holds `<cache folder>.lock` (`flock`) while one process creates or
/// fetches a registry's cache: git refuses a second fetch of the same
/// repository at the same time, and a daemon, its live task and an
/// `hpmctl --no-daemon` may all open it on first use.
pub fn lock_cache(url: &str) -> Result<Flock<std::fs::File>> {
    let folder = cache_folder(url);
    let path = folder.with_extension("lock");
    let parent = cache_dir();
    std::fs::create_dir_all(&parent).map_err(|error| Error::write(&parent, error))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| Error::write(&path, error))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| Error::write(&path, std::io::Error::from(errno)))
}

/// The cache of `url`, opened once per process and kept open: a daemon
/// reads the same packages' `pyproject.toml` on every switch, and opening
/// a repository (its config files, refs, pack indexes) cost more than the
/// read (about 0.1 ms each, 20 ms of a switch at 200 packages). A cache
/// folder removed meanwhile is opened (and created) again.
pub fn kept_open(url: &str) -> Result<Arc<Mutex<git2::Repository>>> {
    type Open = Mutex<HashMap<PathBuf, Arc<Mutex<git2::Repository>>>>;
    static OPEN: LazyLock<Open> = LazyLock::new(Open::default);
    let folder = cache_folder(url);
    let lock = || OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(repository) = lock().get(&folder) {
        if folder.is_dir() {
            return Ok(repository.clone());
        }
    }
    // Opened outside the map's lock: the closure opens several at once.
    let repository = Arc::new(Mutex::new(cached_repository(url)?));
    Ok(lock().entry(folder).or_insert(repository).clone())
}

pub fn cached_repository(url: &str) -> Result<git2::Repository> {
    let folder = cache_folder(url);
    if let Ok(repository) = git2::Repository::open_bare(&folder) {
        return Ok(repository);
    }
    let _lock = lock_cache(url)?;
    if let Ok(repository) = git2::Repository::open_bare(&folder) {
        return Ok(repository);
    }
    std::fs::create_dir_all(&folder).map_err(|error| Error::write(&folder, error))?;
    git2::Repository::init_bare(&folder).map_err(|error| {
        Error::internal(format!(
            "cannot create the registry cache `{}`: {}",
            folder.display(),
            error.message()
        ))
    })
}

/// A fetch of `url` for a look that must write nothing of hpm's (a dry
/// run, `release status`): a bare repository in a temporary folder, which
/// borrows the cache's objects (read-only, through git's alternates) when
/// there is a cache, so only what is new crosses the network. It is gone
/// when the returned folder is dropped.
pub fn fetched_aside(
    caller: &Caller,
    url: &str,
    what: &str,
) -> Result<(tempfile::TempDir, git2::Repository)> {
    let folder = tempfile::Builder::new()
        .prefix("hpm-fetch-")
        .tempdir()
        .map_err(|error| Error::write(std::env::temp_dir(), error))?;
    let repository = git2::Repository::init_bare(folder.path()).map_err(|error| {
        Error::internal(format!(
            "cannot create a temporary repository in `{}`: {}",
            folder.path().display(),
            error.message()
        ))
    })?;
    let objects = cache_folder(url).join("objects");
    if objects.is_dir() {
        let alternates = folder.path().join("objects/info/alternates");
        std::fs::write(&alternates, format!("{}\n", objects.display()))
            .map_err(|error| Error::write(&alternates, error))?;
    }
    fetch(caller, &repository, url, what)?;
    Ok((folder, repository))
}

/// `HPM_CACHE_DIR/registries`, else the user cache folder's (the name is
/// older than the package caches kept beside the registries' now).
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("HPM_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            directories::ProjectDirs::from("", "", "hpm").map(|d| d.cache_dir().to_path_buf())
        })
        .unwrap_or_else(|| std::env::temp_dir().join("hpm-cache"));
    base.join("registries")
}

/// Fetches every branch and tag of `url` (a `what`, for messages:
/// "registry", "package repository") into `repository`, with the caller's
/// git.
pub fn fetch(caller: &Caller, repository: &git2::Repository, url: &str, what: &str) -> Result<()> {
    let refspecs = [
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
    ];
    net::fetch(caller, repository.path(), url, &refspecs)
        .map_err(|failure| fetch_error(url, what, &failure))
}

fn fetch_error(url: &str, what: &str, failure: &NetFailure) -> Error {
    Error::Network {
        problems: vec![
            Problem::new(format!("cannot fetch {what} `{url}`: {failure}")).hint(format!(
                "{}; a repository fetched once works offline from the cache",
                failure.hint()
            )),
        ],
    }
}

/// The commit `reference` names in the cache: a branch, a tag, or a commit.
pub fn resolve(repository: &git2::Repository, reference: &str) -> Option<git2::Oid> {
    [
        format!("refs/remotes/origin/{reference}"),
        format!("refs/tags/{reference}"),
    ]
    .iter()
    .find_map(|name| {
        repository
            .find_reference(name)
            .ok()?
            .peel_to_commit()
            .ok()
            .map(|c| c.id())
    })
    .or_else(|| {
        git2::Oid::from_str(reference)
            .ok()
            .filter(|oid| repository.find_commit(*oid).is_ok())
    })
}
