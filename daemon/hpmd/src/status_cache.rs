//! `status` served from the live view's cache while nothing it depends on
//! has changed: the watcher's generation (every change it reported:
//! inputs, registry entries, dev clones' files and git state, jobs) and the
//! stamps of the files it does not watch or may not have reported yet
//! (`hpm.yaml`, `pyproject.toml`, `uv.lock`, hpm's state and pins, the
//! environment's site-packages). A change in a dev clone reaches the cache
//! when the watcher reports it, after its debounce ([`crate::hub::DEBOUNCE`]);
//! `fresh` also compares each dev clone's git stamp, which costs a few file
//! reads per clone, so that a commit made just before is seen. A workspace
//! watched by polling, or not watched yet, is read afresh every time.

use std::path::PathBuf;

use hpm_engine::fsutil::{file_stamp, FileStamp};
use hpm_engine::git::repo::{git_stamp, GitStamp};
use hpm_engine::ops::status::status_with;
use hpm_engine::workspace::Workspace;
use hpm_engine::{Error, Result};
use hpm_protocol::report::{StatusReport, WatchMode};
use serde_json::value::RawValue;

use crate::lock;
use crate::view::{CachedStatus, SharedLiveView, StatusStamps};

/// The status as serialized JSON: the cached report while it holds, else
/// a new one (cached when the watcher reported nothing meanwhile).
pub fn status_cached(
    workspace: &Workspace,
    live: &SharedLiveView,
    fresh: bool,
) -> Result<Box<RawValue>> {
    if let Some(report) = cached_status(workspace, live, fresh) {
        return Ok(report);
    }
    let (generation, repos, watching) = {
        let view = lock(live);
        (view.generation, view.repos.clone(), view.watching)
    };
    let report = status_with(workspace, &repos, watching)?;
    if watching != Some(WatchMode::Native) {
        return to_raw(&report);
    }
    let clones: Vec<PathBuf> = report
        .packages
        .iter()
        .filter_map(|package| package.source.local_path())
        .map(|path| workspace.root().join(path))
        .collect();
    // Taken after the report: a change in between makes the cache miss.
    let stamps = StatusStamps {
        files: file_stamps(workspace),
        clones: git_stamps(&clones),
    };
    let report = to_raw(&report)?;
    let mut view = lock(live);
    // Kept only if the watcher reported nothing while it was computed.
    if view.generation == generation {
        view.status = Some(CachedStatus {
            generation,
            clones,
            stamps,
            report: report.clone(),
        });
    }
    Ok(report)
}

/// The cached report while it holds. Without `fresh` this is a few `stat`
/// calls, cheap enough for an async task.
pub fn cached_status(
    workspace: &Workspace,
    live: &SharedLiveView,
    fresh: bool,
) -> Option<Box<RawValue>> {
    let started = std::time::Instant::now();
    let files = file_stamps(workspace);
    let clones = if fresh {
        let clones = lock(live).status.as_ref()?.clones.clone();
        Some(git_stamps(&clones))
    } else {
        None
    };
    let view = lock(live);
    let cached = view.status.as_ref()?;
    let holds = view.watching == Some(WatchMode::Native)
        && cached.generation == view.generation
        && cached.stamps.files == files
        && clones.is_none_or(|clones| clones == cached.stamps.clones);
    let report = holds.then(|| cached.report.clone());
    tracing::debug!(
        us = started.elapsed().as_micros() as u64,
        fresh,
        hit = report.is_some(),
        "status from the cache"
    );
    report
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

fn git_stamps(clones: &[PathBuf]) -> Vec<Option<GitStamp>> {
    clones.iter().map(|clone| git_stamp(clone)).collect()
}
