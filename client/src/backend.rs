//! Where a command's work happens: the daemon (started on demand), or the
//! engine in this process (`--no-daemon`, for CI). Each command makes one
//! call here; both ways answer the same typed reports.

use std::path::Path;

use hpm_engine::ops;
use hpm_engine::ops::sync::Request;
use hpm_engine::process::CancelToken;
use hpm_engine::workspace::Workspace;
use hpm_protocol::report::{
    CheckReport, ExportReport, ExportRequest, ImageBuildRequest, ImageReport, Progress,
    RegistryUpdate, StatusReport, SyncReport,
};
use hpm_protocol::{Change, ClientEnv, HpmApiClient};
use jsonrpsee::ws_client::WsClient;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::failure::Failure;
use crate::render;

/// This process's variables that travel with a request to the daemon
/// (`hpm_protocol::env`), so that its git and uv run with this terminal's
/// agent, config and credentials.
pub fn client_env() -> Option<ClientEnv> {
    Some(ClientEnv::from_vars(std::env::vars_os().filter_map(
        |(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)),
    )))
}

/// The daemon, or this process.
pub enum Backend {
    Daemon(WsClient),
    InProcess,
}

impl Backend {
    /// `--no-daemon` runs in-process; otherwise the daemon at `socket`,
    /// started when none answers.
    pub async fn new(no_daemon: bool, socket: &Path) -> anyhow::Result<Backend> {
        if no_daemon {
            return Ok(Backend::InProcess);
        }
        Ok(Backend::Daemon(
            crate::connect::connect_or_start(socket).await?.0,
        ))
    }

    pub async fn status(&self, workspace: &Workspace) -> Result<StatusReport, Failure> {
        match self {
            Backend::Daemon(client) => {
                let raw = bounded(
                    "status",
                    client.status(workspace.root().to_path_buf(), Some(true)),
                )
                .await??;
                serde_json::from_str(raw.get()).map_err(|e| {
                    Failure::internal(format!("hpmd sent a status hpmctl cannot read: {e}"))
                })
            }
            Backend::InProcess => blocking(workspace, ops::status::status).await,
        }
    }

    pub async fn check(&self, workspace: &Workspace) -> Result<CheckReport, Failure> {
        match self {
            Backend::Daemon(client) => Ok(bounded(
                "check",
                client.check(workspace.root().to_path_buf(), client_env()),
            )
            .await??),
            Backend::InProcess => blocking(workspace, ops::check::check).await,
        }
    }

    pub async fn check_staged(&self, workspace: &Workspace) -> Result<CheckReport, Failure> {
        match self {
            Backend::Daemon(client) => Ok(bounded(
                "check",
                client.check_staged(workspace.root().to_path_buf(), client_env()),
            )
            .await??),
            Backend::InProcess => blocking(workspace, ops::check::check_staged).await,
        }
    }

    pub async fn check_modes(
        &self,
        workspace: &Workspace,
        modes: Vec<hpm_core::Mode>,
    ) -> Result<Vec<CheckReport>, Failure> {
        match self {
            Backend::Daemon(client) => Ok(bounded(
                "check",
                client.check_modes(workspace.root().to_path_buf(), modes, client_env()),
            )
            .await??),
            Backend::InProcess => {
                blocking(workspace, move |workspace| {
                    ops::check::check_modes(workspace, &modes)
                })
                .await
            }
        }
    }

    pub async fn export(
        &self,
        workspace: &Workspace,
        request: ExportRequest,
    ) -> Result<ExportReport, Failure> {
        match self {
            Backend::Daemon(client) => Ok(client
                .export(workspace.root().to_path_buf(), request, client_env())
                .await?),
            Backend::InProcess => {
                blocking(workspace, move |workspace| {
                    ops::export::export(workspace, &request)
                })
                .await
            }
        }
    }

    pub async fn registry_update(
        &self,
        workspace: &Workspace,
    ) -> Result<Vec<RegistryUpdate>, Failure> {
        match self {
            Backend::Daemon(client) => Ok(client
                .registry_update(workspace.root().to_path_buf(), client_env())
                .await?),
            Backend::InProcess => blocking(workspace, ops::registry_update::registry_update).await,
        }
    }

    /// Builds a mode's image, the engine's lines streamed to stderr.
    /// Ctrl-C or SIGTERM stops the build (the engine's process group is
    /// killed, in the daemon through `cancel`) and waits for its end.
    pub async fn image_build(
        &self,
        workspace: &Workspace,
        request: ImageBuildRequest,
        json: bool,
    ) -> Result<ImageReport, Failure> {
        let mut stops = Stops::watch()?;
        match self {
            Backend::InProcess => {
                let cancel = CancelToken::new();
                let job = {
                    let workspace = workspace.clone();
                    let cancel = cancel.clone();
                    tokio::task::spawn_blocking(move || {
                        ops::image::build(
                            &workspace,
                            &request,
                            &mut |line| render::engine_line(line, json),
                            &cancel,
                        )
                    })
                };
                tokio::pin!(job);
                let finished = loop {
                    tokio::select! {
                        finished = &mut job => break finished,
                        _ = stops.next() => stopping_build(&cancel),
                    }
                };
                Ok(
                    finished
                        .map_err(|e| Failure::internal(format!("the build crashed: {e}")))??,
                )
            }
            Backend::Daemon(client) => {
                let root = workspace.root().display().to_string();
                let mut subscription = client.subscribe_events().await?;
                let printer = async {
                    while let Some(Ok(event)) = subscription.next().await {
                        if event.workspace == root {
                            render::event_progress(&event, json);
                        }
                    }
                };
                let build =
                    client.image_build(workspace.root().to_path_buf(), request, client_env());
                tokio::pin!(build, printer);
                let mut printing = true;
                loop {
                    tokio::select! {
                        result = &mut build => return Ok(result?),
                        () = &mut printer, if printing => printing = false,
                        _ = stops.next() => {
                            eprintln!("hpm: stopping the image build");
                            client.cancel(workspace.root().to_path_buf()).await?;
                        }
                    }
                }
            }
        }
    }

    /// Cancels the daemon's running job; whether one was running.
    pub async fn cancel(&self, workspace: &Workspace) -> Result<bool, Failure> {
        match self {
            Backend::Daemon(client) => Ok(client.cancel(workspace.root().to_path_buf()).await?),
            Backend::InProcess => Err(Failure::user(
                hpm_protocol::codes::INVALID_INPUT,
                "`cancel` needs the daemon",
                Some("an in-process sync is cancelled with Ctrl-C".to_string()),
            )),
        }
    }

    /// Runs one change, streaming its progress to stderr. Ctrl-C or SIGTERM
    /// cancels an in-process sync (uv's process group is killed and both
    /// files restored before hpmctl exits); during a daemon job it leaves
    /// the job to the daemon and says how to cancel it.
    pub async fn apply(
        &self,
        workspace: &Workspace,
        change: Change,
        json: bool,
    ) -> Result<SyncReport, Failure> {
        let mut stops = Stops::watch()?;
        match self {
            Backend::InProcess => {
                let request = Request::from_change(&change)?;
                let cancel = CancelToken::new();
                let job = {
                    let workspace = workspace.clone();
                    let cancel = cancel.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut on_progress =
                            |progress: Progress| render::progress(&progress, json);
                        ops::sync::sync(&workspace, &request, &mut on_progress, &cancel)
                    })
                };
                tokio::pin!(job);
                let finished = loop {
                    tokio::select! {
                        finished = &mut job => break finished,
                        _ = stops.next() => cancelling(&cancel),
                    }
                };
                let synced =
                    finished.map_err(|e| Failure::internal(format!("the sync crashed: {e}")))??;
                Ok(synced.report)
            }
            Backend::Daemon(client) => {
                let root = workspace.root().display().to_string();
                let mut subscription = client.subscribe_events().await?;
                let printer = async {
                    while let Some(Ok(event)) = subscription.next().await {
                        if event.workspace == root {
                            render::event_progress(&event, json);
                        }
                    }
                };
                let left = |signal: &str| {
                    let mut failure = Failure::user(
                        hpm_protocol::codes::CANCELLED,
                        format!("{signal}: hpmctl stopped waiting; the job goes on in hpmd"),
                        Some("`hpmctl cancel` stops it (files are restored); `hpmctl status` shows how it ended".to_string()),
                    );
                    failure.kind = hpm_protocol::ErrorKind::Cancelled;
                    failure
                };
                let apply = client.apply(workspace.root().to_path_buf(), change, client_env());
                tokio::pin!(apply, printer);
                let mut printing = true;
                loop {
                    tokio::select! {
                        result = &mut apply => return match result {
                            Err(jsonrpsee::core::ClientError::RestartNeeded(_)) => Err(daemon_gone()),
                            result => Ok(result?),
                        },
                        // The events ended; the answer still comes (or the
                        // connection's end does).
                        () = &mut printer, if printing => printing = false,
                        stop = stops.next() => return Err(left(stop)),
                    }
                }
            }
        }
    }
}

/// The daemon went away while it ran the sync (killed, or it crashed).
fn daemon_gone() -> Failure {
    Failure {
        hint: Some(
            "the next hpmctl command (or hpmd when it starts again) rolls `pyproject.toml` and \
             `uv.lock` back from the journal; `hpmctl status` says whether that is still to do"
                .to_string(),
        ),
        ..Failure::internal(
            "hpmd stopped during the sync (killed or crashed); the files may be half-switched",
        )
    }
}

/// How long a read (`status`, `check`) may take before hpmctl gives up on
/// the daemon; a sync is bounded by the client's request timeout instead
/// (`settings.uv_timeout` bounds uv itself).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// `call`, or a failure saying the daemon did not answer in time.
async fn bounded<T>(what: &str, call: impl std::future::Future<Output = T>) -> Result<T, Failure> {
    tokio::time::timeout(READ_TIMEOUT, call).await.map_err(|_| Failure {
        hint: Some("a file in the workspace may block reads (a stale network mount); see hpmd.log, or use `--no-daemon`".to_string()),
        ..Failure::internal(format!(
            "hpmd did not answer `{what}` within {} s",
            READ_TIMEOUT.as_secs()
        ))
    })
}

/// Ctrl-C and SIGTERM, watched while one command runs.
struct Stops {
    interrupt: Signal,
    terminate: Signal,
}

impl Stops {
    fn watch() -> Result<Stops, Failure> {
        Ok(Stops {
            interrupt: signal(SignalKind::interrupt())
                .map_err(|e| Failure::internal(format!("cannot watch for Ctrl-C: {e}")))?,
            terminate: signal(SignalKind::terminate())
                .map_err(|e| Failure::internal(format!("cannot watch for SIGTERM: {e}")))?,
        })
    }

    /// The next stop asked for: `interrupted` (Ctrl-C) or `terminated`.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "terminated",
        }
    }
}

fn cancelling(cancel: &CancelToken) {
    if !cancel.is_cancelled() {
        eprintln!("hpm: cancelling: stopping uv and restoring `pyproject.toml` and `uv.lock`");
        cancel.cancel();
    }
}

fn stopping_build(cancel: &CancelToken) {
    if !cancel.is_cancelled() {
        eprintln!("hpm: stopping the image build (the engine's processes are killed)");
        cancel.cancel();
    }
}

/// Runs an in-process operation on a blocking thread.
async fn blocking<T: Send + 'static>(
    workspace: &Workspace,
    operation: impl FnOnce(&Workspace) -> hpm_engine::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let workspace = workspace.clone();
    tokio::task::spawn_blocking(move || operation(&workspace))
        .await
        .map_err(|e| Failure::internal(format!("the operation crashed: {e}")))?
        .map_err(Failure::from)
}
