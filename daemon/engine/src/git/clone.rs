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
/// at each tenth of the objects. A clone that fails leaves no folder behind.
pub fn clone_into(
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
