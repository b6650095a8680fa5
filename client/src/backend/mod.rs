//! Where a command's work happens: the daemon (started on demand,
//! `daemon.rs`), or the engine in this process (`--no-daemon`, for CI;
//! `local.rs`). One [`Backend`] trait, served by both: a command makes its
//! call on the trait and cannot tell which one answers, so `--no-daemon`
//! parity is the compiler's to keep. Both answer the same typed reports.

mod daemon;
mod local;

use std::collections::BTreeMap;
use std::path::Path;

use hpm_engine::workspace::Workspace;
use hpm_protocol::report::{
    CheckReport, ExportReport, ExportRequest, GroupListing, ImageBuildRequest, ImageReport,
    RegistryUpdate, StatusReport, SyncReport,
};
use hpm_protocol::{Change, ClientEnv};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::failure::Failure;

/// This process's variables that travel with a request to the daemon
/// (`hpm_protocol::env`), so that its git and uv run with this terminal's
/// agent, config and credentials.
pub fn client_env() -> Option<ClientEnv> {
    Some(ClientEnv::from_vars(std::env::vars_os().filter_map(
        |(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)),
    )))
}

/// What a command may ask of hpm, wherever it runs.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The workspace's status, fresh.
    async fn status(&self, workspace: &Workspace) -> Result<StatusReport, Failure>;

    /// CI's checks of the current mode.
    async fn check(&self, workspace: &Workspace) -> Result<CheckReport, Failure>;

    /// The `pyproject.toml` staged for commit against `hpm.yaml`'s mode.
    async fn check_staged(&self, workspace: &Workspace) -> Result<CheckReport, Failure>;

    /// `modes` checked without switching (every mode when empty).
    async fn check_modes(
        &self,
        workspace: &Workspace,
        modes: Vec<hpm_core::Mode>,
    ) -> Result<Vec<CheckReport>, Failure>;

    async fn export(
        &self,
        workspace: &Workspace,
        request: ExportRequest,
    ) -> Result<ExportReport, Failure>;

    /// The manifest's groups by name.
    async fn group_list(
        &self,
        workspace: &Workspace,
    ) -> Result<BTreeMap<String, GroupListing>, Failure>;

    async fn registry_update(&self, workspace: &Workspace) -> Result<Vec<RegistryUpdate>, Failure>;

    /// Builds a mode's image, the engine's lines streamed to stderr.
    /// Ctrl-C or SIGTERM stops the build (the engine's process group is
    /// killed) and waits for its end.
    async fn image_build(
        &self,
        workspace: &Workspace,
        request: ImageBuildRequest,
        json: bool,
    ) -> Result<ImageReport, Failure>;

    /// Cancels the daemon's running job; whether one was running.
    async fn cancel(&self, workspace: &Workspace) -> Result<bool, Failure>;

    /// Runs one change, streaming its progress to stderr. Ctrl-C or SIGTERM
    /// cancels an in-process sync (uv's process group is killed and both
    /// files restored before hpmctl exits); during a daemon job it leaves
    /// the job to the daemon and says how to cancel it.
    async fn apply(
        &self,
        workspace: &Workspace,
        change: Change,
        json: bool,
    ) -> Result<SyncReport, Failure>;
}

/// `--no-daemon` runs in-process; otherwise the daemon at `socket`,
/// started when none answers.
pub async fn backend(no_daemon: bool, socket: &Path) -> anyhow::Result<Box<dyn Backend>> {
    if no_daemon {
        return Ok(Box::new(local::Local));
    }
    let (client, _) = crate::connect::connect_or_start(socket).await?;
    Ok(Box::new(daemon::Daemon(client)))
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
