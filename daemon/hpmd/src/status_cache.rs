//! `status` served from the live view's cache while nothing it depends on
//! has changed: the watcher's generation (every change it reported:
//! inputs, registry entries, dev clones' files and git state, jobs) and the
//! stamps of the files it does not watch or may not have reported yet
//! (`hpm.yaml`, `pyproject.toml`, `uv.lock`, hpm's state and pins, the
//! environment's site-packages). A change in a dev clone reaches the cache
//! when the watcher reports it, after its debounce ([`crate::hub::DEBOUNCE`]).
//!
//! A `fresh` status (what `hpmctl status` asks for) is right at the moment
//! it is asked: a file saved or a commit made just before is seen whether
//! or not the watcher's debounce has passed. The RPC handler first settles
//! the watcher with a sync cookie ([`crate::hub`]): once it answers, the
//! live task has re-read every clone that changed before the request, and
//! the status is served as any other, from the cache or the live view.
//! Only when the watcher cannot settle (polled, not watched yet, a clone
//! watched in part, no answer in time) does [`status_cached`] with `fresh`
//! read every dev clone's work tree again through git2; the live view's
//! repo states are then left to the watcher, which still announces the
//! change (`repo_changed`) to everyone. A workspace watched by polling, or
//! not watched yet, is read afresh every time.

use hpm_engine::fsutil::{file_stamp, FileStamp};
use hpm_engine::ops::status::{reread_repos, status_with};
use hpm_engine::workspace::Workspace;
use hpm_engine::{Error, Result};
use hpm_protocol::report::{StatusReport, WatchMode};
use serde_json::value::RawValue;

use crate::lock;
use crate::view::{CachedStatus, SharedLiveView};

/// The status as serialized JSON: the cached report while it holds (its
/// clones read again when `fresh`), else a new one, cached when the watcher
/// reported nothing meanwhile.
pub fn status_cached(
    workspace: &Workspace,
    live: &SharedLiveView,
    fresh: bool,
) -> Result<Box<RawValue>> {
    let generation = lock(live).generation;
    let report = match cached_report(workspace, live) {
        Some((_, raw)) if !fresh => return Ok(raw),
        Some((report, raw)) => match reread_repos(workspace.root(), &report) {
            None => return Ok(raw),
            Some(reread) => reread,
        },
        None => {
            let (mut repos, watching) = {
                let view = lock(live);
                (view.repos.clone(), view.watching)
            };
            if fresh {
                // Every clone's work tree read now, none taken on trust.
                repos.clear();
            }
            let report = status_with(workspace, &repos, watching)?;
            if watching != Some(WatchMode::Native) {
                return to_raw(&report);
            }
            report
        }
    };
    // Taken after the report: a change in between makes the cache miss.
    let files = file_stamps(workspace);
    let raw = to_raw(&report)?;
    let mut view = lock(live);
    // Kept only if the watcher reported nothing while it was computed.
    if view.generation == generation {
        view.status = Some(CachedStatus {
            generation,
            files,
            report,
            raw: raw.clone(),
        });
    }
    Ok(raw)
}

/// The cached report as JSON while it holds: a few `stat` calls, cheap
/// enough for an async task.
pub fn cached_status(workspace: &Workspace, live: &SharedLiveView) -> Option<Box<RawValue>> {
    let started = std::time::Instant::now();
    let files = file_stamps(workspace);
    let view = lock(live);
    let raw = holding(&view, &files).map(|cached| cached.raw.clone());
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        hit = raw.is_some(),
        "status from the cache"
    );
    raw
}

/// The cached report, typed and as JSON, while it holds.
fn cached_report(
    workspace: &Workspace,
    live: &SharedLiveView,
) -> Option<(StatusReport, Box<RawValue>)> {
    let files = file_stamps(workspace);
    let view = lock(live);
    holding(&view, &files).map(|cached| (cached.report.clone(), cached.raw.clone()))
}

fn holding<'a>(view: &'a crate::view::LiveView, files: &[FileStamp]) -> Option<&'a CachedStatus> {
    let cached = view.status.as_ref()?;
    let holds = view.watching == Some(WatchMode::Native)
        && cached.generation == view.generation
        && cached.files == files;
    holds.then_some(cached)
}

fn to_raw(report: &StatusReport) -> Result<Box<RawValue>> {
    serde_json::value::to_raw_value(report)
        .map_err(|e| Error::internal(format!("cannot encode the status report: {e}")))
}

fn file_stamps(workspace: &Workspace) -> Vec<FileStamp> {
    let mut files = vec![
        file_stamp(&workspace.manifest_path()),
        file_stamp(&workspace.pyproject_path()),
        file_stamp(&workspace.uv_lock_path()),
        file_stamp(&workspace.state_path()),
        file_stamp(&workspace.registry_pins_path()),
        file_stamp(&workspace.journal_dir()),
    ];
    files.extend(workspace.site_packages().iter().map(|p| file_stamp(p)));
    files
}
