//! One actor per open workspace: it owns the workspace's reconcile queue and
//! its no-op memo, and runs one job at a time on a blocking thread. Others
//! talk to it through [`crate::handle::WorkspaceHandle`] messages.
//!
//! Queue rules: a change equal to one already queued (not yet running)
//! merges with it, and every caller gets the same answer; `cancel` kills the
//! running job's uv (the engine rolls back) and drops the queued ones. A job
//! runs to its end whether or not the client that asked is still connected.
//! Before its first job the actor rolls back a journal a killed run left.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hpm_core::plan::Plan;
use hpm_core::Mode;
use hpm_engine::caller::Caller;
use hpm_engine::inputs::Inputs;
use hpm_engine::ops::sync::{self, Request};
use hpm_engine::process::CancelToken;
use hpm_engine::transaction::Transaction;
use hpm_engine::workspace::Workspace;
use hpm_engine::Error;
use hpm_protocol::report::{Progress, Recovery, SyncOutcome};
use hpm_protocol::{Change, EventBody};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::events::EventBus;
use crate::handle::{JobResult, LiveNotice, Message};
use crate::lock;
use crate::noop::NoopMemo;

/// What an actor task needs; it owns these for its life.
pub struct Actor {
    pub workspace: Workspace,
    pub receiver: mpsc::UnboundedReceiver<Message>,
    pub notices: mpsc::UnboundedSender<LiveNotice>,
    pub events: Arc<EventBus>,
    pub busy: Arc<AtomicBool>,
    pub next_job: Arc<AtomicU64>,
    pub closed: CancellationToken,
    /// Set once a killed run's journal is rolled back.
    pub recovered: watch::Sender<bool>,
    /// The workspace's last caller (shared with its handle), for a job
    /// whose request brought none.
    pub last_caller: Arc<Mutex<Caller>>,
}

struct Queued {
    change: Change,
    /// Whom it runs for; the latest of the requests merged into it.
    caller: Option<Caller>,
    replies: Vec<oneshot::Sender<JobResult>>,
}

struct Running {
    job: u64,
    cancel: CancelToken,
    replies: Vec<oneshot::Sender<JobResult>>,
    handle: tokio::task::JoinHandle<Result<sync::Synced, Error>>,
}

/// Rolls back the journal a killed run left, before anything reads the
/// workspace's files, and says so; then lets requests in.
async fn recover_on_open(actor: &Actor) {
    let recovered = {
        let workspace = actor.workspace.clone();
        tokio::task::spawn_blocking(move || recover(&workspace)).await
    };
    if let Ok(Some(recovery)) = recovered {
        actor
            .events
            .emit(actor.workspace.root(), recovered_event(&recovery));
        let _ = actor.notices.send(LiveNotice::JobEnded { changed: true });
    }
    let _ = actor.recovered.send(true);
}

/// Queues `change`, or merges it into an equal change already queued (the
/// later caller's environment wins); answers whether it merged.
fn enqueue(
    queue: &mut VecDeque<Queued>,
    change: Change,
    caller: Option<Caller>,
    reply: oneshot::Sender<JobResult>,
) -> bool {
    match queue.iter_mut().find(|queued| queued.change == change) {
        Some(queued) => {
            queued.replies.push(reply);
            if caller.is_some() {
                queued.caller = caller;
            }
            true
        }
        None => {
            queue.push_back(Queued {
                change,
                caller,
                replies: vec![reply],
            });
            false
        }
    }
}

/// Runs the actor until its workspace is closed (when idle) or every
/// handle is gone.
pub async fn run(mut actor: Actor) {
    recover_on_open(&actor).await;
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut running: Option<Running> = None;
    // What the last no-op sync saw; the jobs take it in turn.
    let memo: Arc<Mutex<Option<NoopMemo>>> = Arc::default();
    let mut modes = {
        let workspace = actor.workspace.clone();
        tokio::task::spawn_blocking(move || package_modes(&workspace))
            .await
            .unwrap_or_default()
    };
    loop {
        if running.is_none() {
            if let Some(next) = queue.pop_front() {
                let job = actor.next_job.fetch_add(1, Ordering::SeqCst);
                running = start(&actor, next, job, &memo);
            }
        }
        actor.busy.store(running.is_some(), Ordering::SeqCst);
        let idle = running.is_none() && queue.is_empty();
        let finished = async {
            match running.as_mut() {
                Some(job) => Some((&mut job.handle).await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = actor.receiver.recv() => match message {
                Some(Message::Apply { change, caller, reply }) => {
                    let merged = enqueue(&mut queue, change.clone(), caller, reply);
                    if running.is_some() {
                        actor.events.emit(actor.workspace.root(), EventBody::JobQueued { change, merged });
                    }
                }
                Some(Message::Cancel { reply }) => {
                    let cancelled = Arc::new(Error::Cancelled);
                    for queued in queue.drain(..) {
                        answer(queued.replies, Err(cancelled.clone()));
                    }
                    if let Some(job) = &running {
                        job.cancel.cancel();
                    }
                    let _ = reply.send(running.is_some());
                }
                None => break,
            },
            // Closed only when idle: nothing runs or waits.
            () = actor.closed.cancelled(), if idle => break,
            Some(result) = finished => {
                if let Some(job) = running.take() {
                    let result = result.unwrap_or_else(|join_error| {
                        Err(Error::internal(format!("the sync job crashed: {join_error}")))
                    });
                    if let Ok(synced) = &result {
                        announce_mode_changes(&actor, &mut modes, &synced.report.plan);
                    }
                    finish(&actor, job.job, job.replies, result);
                }
            }
        }
    }
}

/// Rolls back a journal a killed run left, before any job looks at the
/// files; a busy workspace (a `--no-daemon` run holds it) or an unreadable
/// journal is left to the next job, which reports it.
fn recover(workspace: &Workspace) -> Option<Recovery> {
    match Transaction::begin(workspace) {
        Ok((_, recovery)) => recovery,
        Err(error) => {
            tracing::warn!(%error, workspace = %workspace.root().display(), "could not check for an interrupted sync");
            None
        }
    }
}

/// The event saying a killed run's journal was rolled back.
pub fn recovered_event(recovery: &Recovery) -> EventBody {
    let display =
        |paths: &[std::path::PathBuf]| paths.iter().map(|p| p.display().to_string()).collect();
    EventBody::Recovered {
        restored: display(&recovery.restored),
        kept_user_edits: display(&recovery.kept_user_edits),
        backups: display(&recovery.backups),
    }
}

fn start(
    actor: &Actor,
    queued: Queued,
    job: u64,
    memo: &Arc<Mutex<Option<NoopMemo>>>,
) -> Option<Running> {
    let request = match Request::from_change(&queued.change) {
        Ok(request) => request,
        Err(error) => {
            answer(queued.replies, Err(Arc::new(error)));
            return None;
        }
    };
    actor.events.emit(
        actor.workspace.root(),
        EventBody::JobStarted {
            job,
            change: queued.change.clone(),
        },
    );
    let cancel = CancelToken::new();
    let caller = queued
        .caller
        .unwrap_or_else(|| lock(&actor.last_caller).clone());
    let handle = {
        let workspace = actor.workspace.for_caller(caller);
        let events = actor.events.clone();
        let cancel = cancel.clone();
        let memo = memo.clone();
        tokio::task::spawn_blocking(move || {
            let root = workspace.root().to_path_buf();
            let plain = request.is_plain_sync();
            if plain {
                if let Some(report) = lock(&memo).as_ref().and_then(NoopMemo::report_if_holds) {
                    tracing::debug!(workspace = %root.display(), "nothing changed since the last no-op sync");
                    return Ok(sync::Synced {
                        report,
                        inputs_read: Vec::new(),
                    });
                }
            }
            *lock(&memo) = None;
            let mut on_progress = |progress: Progress| match progress {
                Progress::Phase { phase } => events.emit(
                    &root,
                    EventBody::Progress {
                        job,
                        line: phase.to_string(),
                        phase: Some(phase),
                    },
                ),
                Progress::Uv { line } => events.emit(
                    &root,
                    EventBody::Progress {
                        job,
                        line,
                        phase: None,
                    },
                ),
                Progress::Recovered(recovery) => events.emit(&root, recovered_event(&recovery)),
            };
            let result = sync::sync(&workspace, &request, &mut on_progress, &cancel);
            if let Ok(synced) = &result {
                if plain && synced.report.outcome == SyncOutcome::UpToDate {
                    *lock(&memo) = NoopMemo::record(synced.inputs_read.clone(), &synced.report);
                }
            }
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
    actor: &Actor,
    job: u64,
    replies: Vec<oneshot::Sender<JobResult>>,
    result: Result<sync::Synced, Error>,
) {
    let root = actor.workspace.root();
    let events = &actor.events;
    match result {
        Ok(synced) => {
            let changed = synced.report.outcome != SyncOutcome::UpToDate;
            let _ = actor.notices.send(LiveNotice::JobEnded { changed });
            events.emit(
                root,
                EventBody::JobFinished {
                    job,
                    report: synced.report.clone(),
                },
            );
            events.emit(root, EventBody::StatusChanged);
            answer(replies, Ok(synced.report));
        }
        Err(error) => {
            let _ = actor.notices.send(LiveNotice::JobEnded { changed: true });
            events.emit(
                root,
                EventBody::JobFailed {
                    job,
                    code: error.code(),
                    message: error.to_string(),
                    kind: Some(error.kind()),
                    hint: error.hint(),
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
                        problems: problems.clone(),
                    },
                ),
                _ => {}
            }
            answer(replies, Err(Arc::new(error)));
        }
    }
}

/// Each package's mode in the plan the workspace is synced to, by name
/// (empty when the inputs cannot be read).
fn package_modes(workspace: &Workspace) -> BTreeMap<String, Mode> {
    let Ok(inputs) = Inputs::read(workspace) else {
        return BTreeMap::new();
    };
    match inputs.current_plan(workspace) {
        Ok((_, plan)) => plan
            .packages
            .into_iter()
            .map(|package| (package.name, package.mode))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

/// Emits `package_mode_changed` for each package whose mode the job changed.
fn announce_mode_changes(actor: &Actor, modes: &mut BTreeMap<String, Mode>, plan: &Plan) {
    for package in &plan.packages {
        let before = modes.insert(package.name.clone(), package.mode.clone());
        if before.as_ref() != Some(&package.mode) {
            actor.events.emit(
                actor.workspace.root(),
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
