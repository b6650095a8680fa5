//! Cloning a repository into a folder through libgit2, with progress.

use std::path::Path;

/// Progress of one clone: each tenth of the objects received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub percent: usize,
    pub received: usize,
    pub total: usize,
}

/// Clones `url` into `target` (which must not exist), calling `on_progress`
/// at each tenth of the objects. The clone is made in a temporary folder
/// beside the target and renamed into place when complete: a clone that
/// fails or is interrupted (Ctrl-C, a kill) leaves no half-made repository
/// at `target` for the next `dev` to take as the user's.
pub fn clone_into(
    url: &str,
    target: &Path,
    on_progress: &mut dyn FnMut(Received),
) -> Result<(), git2::Error> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = target.with_file_name(format!(".hpm-clone-{name}"));
    // A partial clone of an interrupted run: hpm's own, by its name.
    if partial.exists() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            git2::Error::from_str(&format!("cannot create `{}`: {error}", parent.display()))
        })?;
    }
    let cloned = clone_at(url, &partial, on_progress);
    let placed = cloned.and_then(|()| {
        std::fs::rename(&partial, target).map_err(|error| {
            git2::Error::from_str(&format!(
                "cannot move the clone into `{}`: {error}",
                target.display()
            ))
        })
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    placed
}

fn clone_at(
    url: &str,
    target: &Path,
    on_progress: &mut dyn FnMut(Received),
) -> Result<(), git2::Error> {
    let mut last_tenth = 0;
    let result = {
        let mut callbacks = super::remote::callbacks();
        callbacks.transfer_progress(|stats| {
            let total = stats.total_objects().max(1);
            let tenth = stats.received_objects() * 10 / total;
            if tenth > last_tenth {
                last_tenth = tenth;
                on_progress(Received {
                    percent: tenth * 10,
                    received: stats.received_objects(),
                    total: stats.total_objects(),
                });
            }
            true
        });
        let mut fetch = git2::FetchOptions::new();
        fetch.remote_callbacks(callbacks);
        git2::build::RepoBuilder::new()
            .fetch_options(fetch)
            .clone(url, target)
    };
    if result.is_err() {
        let _ = std::fs::remove_dir_all(target);
    }
    result.map(drop)
}
