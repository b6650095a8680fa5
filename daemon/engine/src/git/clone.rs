//! Cloning a repository into a folder with the user's git ([`super::net`]),
//! with progress.

use std::path::Path;

use super::net::{self, NetFailure, Progress};
use crate::caller::Caller;
use crate::process::CancelToken;

/// Clones `url` into `target` (which must not exist), checking out `branch`
/// (else the remote's default), calling `on_progress`
/// at each tenth of the objects. The clone is made in a temporary folder
/// beside the target and renamed into place when complete: a clone that
/// fails or is interrupted (Ctrl-C, a kill) leaves no half-made repository
/// at `target` for the next `dev` to take as the user's.
pub fn clone_into(
    caller: &Caller,
    url: &str,
    branch: Option<&str>,
    target: &Path,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<(), NetFailure> {
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
        std::fs::create_dir_all(parent).map_err(|error| NetFailure {
            said: format!("cannot create `{}`: {error}", parent.display()),
        })?;
    }
    let mut last_tenth = 0;
    let mut on_git_progress = |progress: Progress| {
        let tenth = progress.percent / 10;
        if tenth > last_tenth {
            last_tenth = tenth;
            on_progress(progress);
        }
    };
    let cloned = net::clone(
        caller,
        url,
        branch,
        &partial,
        &mut on_git_progress,
        &CancelToken::new(),
    );
    let placed = cloned.and_then(|()| {
        std::fs::rename(&partial, target).map_err(|error| NetFailure {
            said: format!("cannot move the clone into `{}`: {error}", target.display()),
        })
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    placed
}
