//! [`WorkspaceHandle`]: how the RPC handlers and the live task talk to a
//! workspace's actor, and what they share with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hpm_engine::caller::Caller;
use hpm_engine::process::CancelToken;
use hpm_engine::workspace::Workspace;
use hpm_protocol::report::SyncReport;
use hpm_protocol::{Change, ClientEnv};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::lock;
use crate::view::SharedLiveView;

/// The answer to an `apply`: the sync report, or the engine's error (shared
/// by every caller whose change merged into the job).
pub type JobResult = Result<SyncReport, Arc<hpm_engine::Error>>;

/// What the actor is asked.
// One message per request, moved once into the actor's queue: the size of
// the `Apply` variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Message {
    Apply {
        change: Change,
        /// Whom the job runs for; `None` (an auto-sync, a client that sent
        /// no environment): the last caller of the workspace.
        caller: Option<Caller>,
        reply: oneshot::Sender<JobResult>,
    },
    Cancel {
        reply: oneshot::Sender<bool>,
    },
}

/// What the live task hears from the actor and the RPC handlers, in order
/// and without loss (unlike the event bus, which a slow reader may lag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveNotice {
    /// A job ended; `changed` when it may have changed what `status` shows
    /// (a sync that ran uv, or a failure).
    JobEnded { changed: bool },
    /// New registry pins: the plan may have moved.
    RegistryUpdated,
    /// An auto-sync found the workspace busy (a `--no-daemon` run held
    /// it): look again.
    Retry,
}

/// A cheap handle to a workspace's actor.
#[derive(Debug, Clone)]
pub struct WorkspaceHandle {
    pub workspace: Workspace,
    pub(crate) sender: mpsc::UnboundedSender<Message>,
    /// To the live task.
    pub(crate) notices: mpsc::UnboundedSender<LiveNotice>,
    /// Whether a job is running, for idle detection and shutdown.
    pub(crate) busy: Arc<AtomicBool>,
    /// The running image build's cancel token (builds run beside the
    /// actor's queue: they read the workspace, never write its files).
    pub(crate) build: Arc<Mutex<Option<CancelToken>>>,
    /// The dev clones' git states, how the workspace is watched and the
    /// cached status, kept current by the live task.
    pub live: SharedLiveView,
    /// Cancelled when the workspace is closed: its actor and live task end.
    pub closed: CancellationToken,
    /// When a request, a job or a watched change last concerned it.
    pub(crate) last_used: Arc<Mutex<Instant>>,
    /// The environment the last client that sent one asked with: what an
    /// auto-sync, or a request that brings none, runs with. In memory only.
    pub(crate) last_caller: Arc<Mutex<Caller>>,
    /// Turns true once the actor has rolled back a journal a killed run
    /// left: nothing reads the files before (see [`WorkspaceHandle::ready`]).
    pub(crate) recovered: watch::Receiver<bool>,
}

impl WorkspaceHandle {
    /// The workspace for a request that came with `env` (remembered as the
    /// workspace's last caller), or without one (the last caller's).
    pub fn for_request(&self, env: Option<&ClientEnv>) -> Workspace {
        self.workspace.for_caller(self.caller_for(env))
    }

    fn caller_for(&self, env: Option<&ClientEnv>) -> Caller {
        match env {
            Some(env) => {
                let caller = Caller::sent(env);
                *lock(&self.last_caller) = caller.clone();
                caller
            }
            None => lock(&self.last_caller).clone(),
        }
    }

    /// Queues `change` for the client that sent `env` (see
    /// [`Message::Apply`]) and waits for its job to end.
    pub async fn apply(&self, change: Change, env: Option<&ClientEnv>) -> JobResult {
        let caller = env.map(|env| self.caller_for(Some(env)));
        let (reply, answer) = oneshot::channel();
        let stopped = || {
            Arc::new(hpm_engine::Error::internal(
                "the workspace's actor has stopped",
            ))
        };
        self.sender
            .send(Message::Apply {
                change,
                caller,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Cancels the running job and the queued ones, and a running image
    /// build; whether one was running.
    pub async fn cancel(&self) -> bool {
        let building = lock(&self.build)
            .as_ref()
            .map(CancelToken::cancel)
            .is_some();
        let (reply, answer) = oneshot::channel();
        if self.sender.send(Message::Cancel { reply }).is_err() {
            return building;
        }
        answer.await.unwrap_or(false) || building
    }

    /// The cancel token of a new image build, or `None` while one runs.
    pub fn start_build(&self) -> Option<CancelToken> {
        let mut build = lock(&self.build);
        if build.is_some() {
            return None;
        }
        let token = CancelToken::new();
        *build = Some(token.clone());
        Some(token)
    }

    /// Whether an image build runs.
    pub fn is_building(&self) -> bool {
        lock(&self.build).is_some()
    }

    /// The image build ended.
    pub fn end_build(&self) {
        *lock(&self.build) = None;
        self.touch();
    }

    /// Waits until the workspace's files are past any interrupted sync
    /// (its actor rolls a killed run's journal back first).
    pub async fn ready(&self) {
        let mut recovered = self.recovered.clone();
        // A closed channel means the actor is gone; the request then fails
        // on its own.
        let _ = recovered.wait_for(|done| *done).await;
    }

    /// Tells the live task (a closed one has nothing to hear).
    pub fn notify_live(&self, notice: LiveNotice) {
        let _ = self.notices.send(notice);
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Marks the workspace as in use now (it is not idle).
    pub fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    pub(crate) fn idle_for(&self) -> Duration {
        if self.is_busy() || self.is_building() {
            return Duration::ZERO;
        }
        lock(&self.last_used).elapsed()
    }
}
