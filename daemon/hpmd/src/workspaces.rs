//! Every open workspace, by root: opening one starts its actor and its
//! live task; closing an idle one ends both and releases its watches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpm_engine::workspace::Workspace;
use hpm_engine::Error;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::actor::{self, Actor};
use crate::events::EventBus;
use crate::handle::WorkspaceHandle;
use crate::hub::WatchHub;
use crate::live;
use crate::lock;
use crate::view::SharedLiveView;

/// How long a fresh status waits for the watcher to settle (the live task
/// may be re-reading a registry) before reading every clone itself.
const SETTLE_PATIENCE: Duration = Duration::from_secs(2);

/// Every open workspace's actor, by root.
#[derive(Debug)]
pub struct Workspaces {
    /// A `std` mutex: held only to look up or insert, never across `.await`
    /// and never while a workspace's files are read (the actor rolls back
    /// a killed run's journal on its own task).
    actors: Mutex<HashMap<PathBuf, WorkspaceHandle>>,
    events: Arc<EventBus>,
    next_job: Arc<AtomicU64>,
    /// The file watcher every workspace's live task registers with.
    hub: Arc<WatchHub>,
}

impl Workspaces {
    pub fn new(events: Arc<EventBus>, hub: Arc<WatchHub>) -> Self {
        Workspaces {
            actors: Mutex::new(HashMap::new()),
            events,
            next_job: Arc::new(AtomicU64::new(1)),
            hub,
        }
    }

    /// The actor of the workspace at `root`, started on first use.
    pub fn open(&self, root: &Path) -> Result<WorkspaceHandle, Error> {
        let workspace = Workspace::at(root)?;
        let mut actors = lock(&self.actors);
        if let Some(handle) = actors.get(workspace.root()) {
            handle.touch();
            return Ok(handle.clone());
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let (notices, notices_receiver) = mpsc::unbounded_channel();
        let (recovered, recovered_receiver) = watch::channel(false);
        let handle = WorkspaceHandle {
            workspace: workspace.clone(),
            sender,
            notices: notices.clone(),
            busy: Arc::new(AtomicBool::new(false)),
            build: Arc::default(),
            live: SharedLiveView::default(),
            closed: CancellationToken::new(),
            last_used: Arc::new(Mutex::new(Instant::now())),
            last_caller: Arc::default(),
            recovered: recovered_receiver,
        };
        tokio::spawn(actor::run(Actor {
            workspace: workspace.clone(),
            receiver,
            notices,
            events: self.events.clone(),
            busy: handle.busy.clone(),
            next_job: self.next_job.clone(),
            closed: handle.closed.clone(),
            recovered,
            last_caller: handle.last_caller.clone(),
        }));
        live::spawn(
            handle.clone(),
            notices_receiver,
            self.hub.clone(),
            self.events.clone(),
        );
        actors.insert(workspace.root().to_path_buf(), handle.clone());
        Ok(handle)
    }

    /// Closes the workspaces nothing has used for `idle` (no request, no
    /// job, no watched change) and those whose `hpm.yaml` is gone: their
    /// actors and live tasks end and their watches are released. The next
    /// request reopens a workspace from its files. Answers the closed roots.
    /// Whether the watcher of `handle`'s workspace settled: its live task
    /// has handled every change made before this call (a sync cookie,
    /// [`WatchHub::settle`]). `false` when it cannot say (polled, not watched
    /// yet, a clone watched in part, no cookie folder) or does not answer
    /// within [`SETTLE_PATIENCE`]: the caller then reads every clone.
    pub async fn settled(&self, handle: &WorkspaceHandle) -> bool {
        let root = handle.workspace.root();
        let answer = if lock(&handle.live).partly_watched {
            None
        } else {
            self.hub.settle(root)
        };
        let Some(answer) = answer else {
            tracing::debug!(workspace = %root.display(), "the watcher cannot settle; reading every clone");
            return false;
        };
        match tokio::time::timeout(SETTLE_PATIENCE, answer).await {
            Ok(Ok(())) => true,
            _ => {
                tracing::debug!(workspace = %root.display(), "the watcher did not settle in time; reading every clone");
                false
            }
        }
    }

    pub fn close_idle(&self, idle: Duration) -> Vec<PathBuf> {
        let mut actors = lock(&self.actors);
        let closing: Vec<PathBuf> = actors
            .iter()
            .filter(|(_, handle)| {
                !handle.is_busy()
                    && (handle.idle_for() >= idle || !handle.workspace.manifest_path().is_file())
            })
            .map(|(root, _)| root.clone())
            .collect();
        for root in &closing {
            if let Some(handle) = actors.remove(root) {
                // The live task releases the watches as it ends.
                handle.closed.cancel();
                tracing::info!(workspace = %root.display(), "closed an idle workspace");
            }
        }
        closing
    }

    pub fn roots(&self) -> Vec<String> {
        lock(&self.actors)
            .keys()
            .map(|root| root.display().to_string())
            .collect()
    }

    /// The roots of the workspaces running a job now.
    pub fn busy_roots(&self) -> Vec<String> {
        lock(&self.actors)
            .iter()
            .filter(|(_, handle)| handle.is_busy())
            .map(|(root, _)| root.display().to_string())
            .collect()
    }

    pub fn handles(&self) -> Vec<WorkspaceHandle> {
        lock(&self.actors).values().cloned().collect()
    }

    /// Whether a job or an image build runs in any workspace.
    pub fn any_busy(&self) -> bool {
        lock(&self.actors)
            .values()
            .any(|handle| handle.is_busy() || handle.is_building())
    }
}
