//! What a workspace's live task knows that `status` shows: each dev
//! clone's git state, how the workspace is watched, and the last status
//! report. One owner: the live task writes it, `status` reads it.

use std::sync::{Arc, Mutex};

use hpm_engine::fsutil::FileStamp;
use hpm_engine::ops::status::RepoCache;
use hpm_protocol::report::{StatusReport, WatchMode};

/// Behind a `std` mutex ([`SharedLiveView`]), never held across `.await`.
#[derive(Debug, Default)]
pub struct LiveView {
    /// Each dev clone's last known git state, by absolute folder, with the
    /// stamp of its git files when it was read (a new status re-reads a
    /// clone whose stamp moved before the watcher reported it).
    pub repos: RepoCache,
    /// How the workspace is watched, once its watches are set.
    pub watching: Option<WatchMode>,
    /// A dev clone has more folders than are watched: the watcher cannot
    /// vouch for it, so a fresh status reads every clone.
    pub partly_watched: bool,
    /// Rises with every change the watcher reported or a job made; a
    /// cached status of an older generation is stale.
    pub generation: u64,
    /// The last status report and what it was computed from.
    pub status: Option<CachedStatus>,
}

impl LiveView {
    /// Something `status` shows may have changed.
    pub fn changed(&mut self) {
        self.generation += 1;
        self.status = None;
    }
}

/// A status report, typed and as JSON, with the generation and the stamps
/// of the unwatched files it is valid for.
#[derive(Debug)]
pub struct CachedStatus {
    pub generation: u64,
    pub files: Vec<FileStamp>,
    pub report: StatusReport,
    pub raw: Box<serde_json::value::RawValue>,
}

/// The [`LiveView`] a workspace's handle and live task share.
pub type SharedLiveView = Arc<Mutex<LiveView>>;
