//! One actor per open workspace: it owns the workspace's reconcile queue and
//! runs one job at a time on a blocking thread. Others talk to it through
//! [`WorkspaceHandle`] messages.
//!
//! Queue rules: a change equal to one already queued (not yet running)
//! merges with it, and every caller gets the same answer; `cancel` kills the
//! running job's uv (the engine rolls back) and drops the queued ones. A job
//! runs to its end whether or not the client that asked is still connected.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpm_protocol::{codes, Change, EventBody};
use jsonrpsee::types::ErrorObjectOwned;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::engine::{self, Inputs, Progress, SyncRequest};
use crate::error::Error;
use crate::events::EventBus;
use crate::hub::WatchHub;
use crate::live::{self, SharedLiveView};
use crate::lock;
use crate::manifest::Mode;
use crate::uv::CancelToken;
use crate::workspace::Workspace;

/// The answer to an `apply`: the sync report, or the error as JSON-RPC sends it.
pub type JobResult = Result<serde_json::Value, ErrorObjectOwned>;

#[derive(Debug)]
enum Message {
    Apply {
        change: Change,
        reply: oneshot::Sender<JobResult>,
    },
    Cancel {
        reply: oneshot::Sender<bool>,
    },
}

/// A cheap handle to a workspace's actor.
#[derive(Debug, Clone)]
pub struct WorkspaceHandle {
    pub workspace: Workspace,
    sender: mpsc::UnboundedSender<Message>,
    /// Whether a job is running, for idle detection and shutdown.
    busy: Arc<AtomicBool>,
    /// The dev clones' git states and how the workspace is watched, kept
    /// current by the live task.
    pub live: SharedLiveView,
    /// Cancelled when the workspace is closed: its actor and live task end.
    pub closed: CancellationToken,
    /// When a request, a job or a watched change last concerned it.
    last_used: Arc<Mutex<Instant>>,
}

impl WorkspaceHandle {
    /// Queues `change` and waits for its job to end.
    pub async fn apply(&self, change: Change) -> JobResult {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Message::Apply { change, reply })
            .map_err(|_| internal("the workspace's actor has stopped"))?;
        answer
            .await
            .map_err(|_| internal("the workspace's actor dropped the job"))?
    }

    /// Cancels the running job and the queued ones; whether one was running.
    pub async fn cancel(&self) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.sender.send(Message::Cancel { reply }).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Marks the workspace as in use now (it is not idle).
    pub fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        if self.is_busy() {
            return Duration::ZERO;
        }
        lock(&self.last_used).elapsed()
    }
}

/// Every open workspace's actor, by root.
#[derive(Debug)]
pub struct Workspaces {
    /// A `std` mutex: held only to look up or insert, never across `.await`.
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

    /// The actor of the workspace at `root`, started on first use (which
    /// rolls back a journal left by a killed run).
    pub fn open(&self, root: &Path) -> Result<WorkspaceHandle, Error> {
        let workspace = Workspace::at(root)?;
        let mut actors = lock(&self.actors);
        if let Some(handle) = actors.get(workspace.root()) {
            handle.touch();
            return Ok(handle.clone());
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let handle = WorkspaceHandle {
            workspace: workspace.clone(),
            sender,
            busy: Arc::new(AtomicBool::new(false)),
            live: SharedLiveView::default(),
            closed: CancellationToken::new(),
            last_used: Arc::new(Mutex::new(Instant::now())),
        };
        recover(&workspace, &self.events);
        tokio::spawn(run(
            workspace.clone(),
            receiver,
            self.events.clone(),
            handle.busy.clone(),
            self.next_job.clone(),
            handle.closed.clone(),
        ));
        live::spawn(handle.clone(), self.hub.clone(), self.events.clone());
        actors.insert(workspace.root().to_path_buf(), handle.clone());
        Ok(handle)
    }

    /// Closes the workspaces nothing has used for `idle` (no request, no
    /// job, no watched change) and those whose `hpm.yaml` is gone: their
    /// actors and live tasks end and their watches are released. The next
    /// request reopens a workspace from its files. Answers the closed roots.
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

    pub fn handles(&self) -> Vec<WorkspaceHandle> {
        lock(&self.actors).values().cloned().collect()
    }

    pub fn any_busy(&self) -> bool {
        lock(&self.actors).values().any(WorkspaceHandle::is_busy)
    }
}

/// Rolls back a journal a killed run left, before anything else looks at the files.
fn recover(workspace: &Workspace, events: &EventBus) {
    match crate::transaction::Transaction::begin(workspace) {
        Ok((_, Some(recovery))) => events.emit(workspace.root(), recovered_event(&recovery)),
        Ok((_, None)) => {}
        // Busy (a --no-daemon run holds it) or unreadable: the next job reports it.
        Err(error) => {
            tracing::warn!(%error, workspace = %workspace.root().display(), "could not check for an interrupted sync")
        }
    }
}

/// The event saying a killed run's journal was rolled back.
fn recovered_event(recovery: &crate::transaction::Recovery) -> EventBody {
    let display =
        |paths: &[std::path::PathBuf]| paths.iter().map(|p| p.display().to_string()).collect();
    EventBody::Recovered {
        restored: display(&recovery.restored),
        kept_user_edits: display(&recovery.kept_user_edits),
    }
}

struct Queued {
    change: Change,
    replies: Vec<oneshot::Sender<JobResult>>,
}

struct Running {
    job: u64,
    cancel: CancelToken,
    replies: Vec<oneshot::Sender<JobResult>>,
    handle: tokio::task::JoinHandle<Result<engine::SyncReport, Error>>,
}

async fn run(
    workspace: Workspace,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    events: Arc<EventBus>,
    busy: Arc<AtomicBool>,
    next_job: Arc<AtomicU64>,
    closed: CancellationToken,
) {
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut running: Option<Running> = None;
    // What the last no-op sync saw; the jobs take it in turn.
    let memo: Arc<Mutex<Option<engine::NoopMemo>>> = Arc::default();
    let mut modes = {
        let workspace = workspace.clone();
        tokio::task::spawn_blocking(move || package_modes(&workspace))
            .await
            .unwrap_or_default()
    };
    loop {
        if running.is_none() {
            if let Some(next) = queue.pop_front() {
                running = start(
                    &workspace,
                    next,
                    &events,
                    next_job.fetch_add(1, Ordering::SeqCst),
                    &memo,
                );
            }
        }
        busy.store(running.is_some(), Ordering::SeqCst);
        let idle = running.is_none() && queue.is_empty();
        let finished = async {
            match running.as_mut() {
                Some(job) => Some((&mut job.handle).await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = receiver.recv() => match message {
                Some(Message::Apply { change, reply }) => {
                    let merged = match queue.iter_mut().find(|queued| queued.change == change) {
                        Some(queued) => {
                            queued.replies.push(reply);
                            true
                        }
                        None => {
                            queue.push_back(Queued { change: change.clone(), replies: vec![reply] });
                            false
                        }
                    };
                    if running.is_some() {
                        events.emit(workspace.root(), EventBody::JobQueued { change, merged });
                    }
                }
                Some(Message::Cancel { reply }) => {
                    for queued in queue.drain(..) {
                        answer(queued.replies, Err(to_rpc_error(&Error::Cancelled)));
                    }
                    if let Some(job) = &running {
                        job.cancel.cancel();
                    }
                    let _ = reply.send(running.is_some());
                }
                None => break,
            },
            // Closed only when idle: nothing runs or waits.
            () = closed.cancelled(), if idle => break,
            Some(result) = finished => {
                if let Some(job) = running.take() {
                    let result = result.unwrap_or_else(|join_error| Err(Error::Internal {
                        message: format!("the sync job crashed: {join_error}"),
                    }));
                    if let Ok(report) = &result {
                        announce_mode_changes(&workspace, &mut modes, &report.plan, &events);
                    }
                    finish(&workspace, job.job, job.replies, result, &events);
                }
            }
        }
    }
}

fn start(
    workspace: &Workspace,
    queued: Queued,
    events: &Arc<EventBus>,
    job: u64,
    memo: &Arc<Mutex<Option<engine::NoopMemo>>>,
) -> Option<Running> {
    let request = match sync_request(&queued.change) {
        Ok(request) => request,
        Err(error) => {
            answer(queued.replies, Err(error));
            return None;
        }
    };
    events.emit(
        workspace.root(),
        EventBody::JobStarted {
            job,
            change: queued.change.clone(),
        },
    );
    let cancel = CancelToken::new();
    let handle = {
        let workspace = workspace.clone();
        let events = events.clone();
        let cancel = cancel.clone();
        let memo = memo.clone();
        tokio::task::spawn_blocking(move || {
            let root = workspace.root().to_path_buf();
            let mut on_progress = |progress: Progress| match progress {
                Progress::Phase { phase } => {
                    events.emit(&root, EventBody::Progress { job, line: phase })
                }
                Progress::Uv { line } => events.emit(&root, EventBody::Progress { job, line }),
                Progress::Recovered(recovery) => events.emit(&root, recovered_event(&recovery)),
            };
            let mut noop = crate::lock(&memo).take();
            let result =
                engine::sync_memo(&workspace, &request, &mut on_progress, &cancel, &mut noop);
            *crate::lock(&memo) = noop;
            result
        })
    };
    Some(Running {
        job,
        cancel,
        replies: queued.replies,
        handle,
    })
}

fn finish(
    workspace: &Workspace,
    job: u64,
    replies: Vec<oneshot::Sender<JobResult>>,
    result: Result<engine::SyncReport, Error>,
    events: &EventBus,
) {
    let root = workspace.root();
    match result {
        Ok(report) => {
            let report = serde_json::to_value(&report).unwrap_or_default();
            events.emit(
                root,
                EventBody::JobFinished {
                    job,
                    report: report.clone(),
                },
            );
            events.emit(root, EventBody::StatusChanged);
            answer(replies, Ok(report));
        }
        Err(error) => {
            let rpc_error = to_rpc_error(&error);
            events.emit(
                root,
                EventBody::JobFailed {
                    job,
                    code: error.code(),
                    message: error.to_string(),
                },
            );
            match &error {
                Error::UvFailed { .. } | Error::Cancelled => {
                    events.emit(root, EventBody::RolledBack { job })
                }
                Error::Invalid { problems } => events.emit(
                    root,
                    EventBody::ManifestInvalid {
                        message: error.to_string(),
                        problems: serde_json::to_value(problems).unwrap_or_default(),
                    },
                ),
                _ => {}
            }
            answer(replies, Err(rpc_error));
        }
    }
}

/// Each package's mode in the plan the workspace is synced to, by name
/// (empty when the inputs cannot be read).
fn package_modes(workspace: &Workspace) -> BTreeMap<String, Mode> {
    let Ok(inputs) = Inputs::read(workspace) else {
        return BTreeMap::new();
    };
    let request = SyncRequest::default();
    let mode = inputs.mode(&request);
    match inputs.resolve(workspace, &mode, &inputs.overrides(&request)) {
        Ok(plan) => plan
            .packages
            .into_iter()
            .map(|package| (package.name, package.mode))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

/// Emits `package_mode_changed` for each package whose mode the job changed.
fn announce_mode_changes(
    workspace: &Workspace,
    modes: &mut BTreeMap<String, Mode>,
    plan: &crate::plan::Plan,
    events: &EventBus,
) {
    for package in &plan.packages {
        let before = modes.insert(package.name.clone(), package.mode.clone());
        if before.as_ref() != Some(&package.mode) {
            events.emit(
                workspace.root(),
                EventBody::PackageModeChanged {
                    package: package.name.clone(),
                    from: before.map(|mode| mode.to_string()),
                    to: package.mode.to_string(),
                },
            );
        }
    }
}

fn answer(replies: Vec<oneshot::Sender<JobResult>>, result: JobResult) {
    for reply in replies {
        // A caller that went away does not stop the others from hearing.
        let _ = reply.send(result.clone());
    }
}

/// The engine request a protocol change asks for.
pub fn sync_request(change: &Change) -> Result<SyncRequest, ErrorObjectOwned> {
    let mode = |name: &str| {
        Mode::new(name)
            .map_err(|message| ErrorObjectOwned::owned(codes::INVALID_INPUT, message, None::<()>))
    };
    Ok(match change {
        Change::Sync {
            mode: run_mode,
            force,
        } => SyncRequest {
            run_mode: run_mode.as_deref().map(mode).transpose()?,
            force: *force,
            ..SyncRequest::default()
        },
        Change::Switch { mode: switch_to } => SyncRequest {
            switch_to: Some(mode(switch_to)?),
            ..SyncRequest::default()
        },
        Change::Use {
            packages,
            mode: package_mode,
            clone,
        } => {
            let package_mode = package_mode.as_deref().map(mode).transpose()?;
            SyncRequest {
                overrides: packages
                    .iter()
                    .map(|p| (p.clone(), package_mode.clone()))
                    .collect(),
                clone_missing: *clone,
                ..SyncRequest::default()
            }
        }
        Change::Group {
            group,
            option,
            select,
        } => SyncRequest {
            group_edit: Some(engine::GroupEdit {
                group: group.clone(),
                option: option.clone(),
                select: *select,
            }),
            ..SyncRequest::default()
        },
    })
}

/// An engine error as a JSON-RPC error object: hpm's code, the message, and
/// the problems (or planned clones) as `data`.
pub fn to_rpc_error(error: &Error) -> ErrorObjectOwned {
    let data = match error {
        Error::CloneNeeded { clones } => serde_json::json!({ "clones": clones }),
        _ => serde_json::json!({ "problems": error.problems() }),
    };
    ErrorObjectOwned::owned(error.code(), error.to_string(), Some(data))
}

fn internal(message: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(codes::INTERNAL, message.to_string(), None::<()>)
}
