//! The [`Backend`] served by `hpmd` over its socket: each call one RPC,
//! with this terminal's environment ([`client_env`]); a sync's and a
//! build's progress arrive as the daemon's events.

use std::collections::BTreeMap;

use hpm_engine::workspace::Workspace;
use hpm_protocol::report::{
    CheckReport, ExportReport, ExportRequest, GroupListing, ImageBuildRequest, ImageReport,
    RegistryUpdate, StatusReport, SyncReport,
};
use hpm_protocol::{Change, HpmApiClient};
use jsonrpsee::ws_client::WsClient;

use super::{client_env, Backend, Stops};
use crate::failure::Failure;
use crate::render;

/// A connection to the daemon.
pub struct Daemon(pub WsClient);

#[async_trait::async_trait]
impl Backend for Daemon {
    async fn status(&self, workspace: &Workspace) -> Result<StatusReport, Failure> {
        let raw = bounded(
            "status",
            self.0.status(workspace.root().to_path_buf(), Some(true)),
        )
        .await??;
        serde_json::from_str(raw.get())
            .map_err(|e| Failure::internal(format!("hpmd sent a status hpmctl cannot read: {e}")))
    }

    async fn check(&self, workspace: &Workspace) -> Result<CheckReport, Failure> {
        let root = workspace.root().to_path_buf();
        Ok(bounded("check", self.0.check(root, client_env())).await??)
    }

    async fn check_staged(&self, workspace: &Workspace) -> Result<CheckReport, Failure> {
        let root = workspace.root().to_path_buf();
        Ok(bounded("check", self.0.check_staged(root, client_env())).await??)
    }

    async fn check_modes(
        &self,
        workspace: &Workspace,
        modes: Vec<hpm_core::Mode>,
    ) -> Result<Vec<CheckReport>, Failure> {
        let root = workspace.root().to_path_buf();
        Ok(bounded("check", self.0.check_modes(root, modes, client_env())).await??)
    }

    async fn export(
        &self,
        workspace: &Workspace,
        request: ExportRequest,
    ) -> Result<ExportReport, Failure> {
        let root = workspace.root().to_path_buf();
        Ok(self.0.export(root, request, client_env()).await?)
    }

    async fn group_list(
        &self,
        workspace: &Workspace,
    ) -> Result<BTreeMap<String, GroupListing>, Failure> {
        let root = workspace.root().to_path_buf();
        Ok(bounded("group list", self.0.group_list(root)).await??)
    }

    async fn registry_update(&self, workspace: &Workspace) -> Result<Vec<RegistryUpdate>, Failure> {
        let root = workspace.root().to_path_buf();
        Ok(self.0.registry_update(root, client_env()).await?)
    }

    async fn image_build(
        &self,
        workspace: &Workspace,
        request: ImageBuildRequest,
        json: bool,
    ) -> Result<ImageReport, Failure> {
        let mut stops = Stops::watch()?;
        let printer = self.progress_of(workspace, json).await?;
        let build = self
            .0
            .image_build(workspace.root().to_path_buf(), request, client_env());
        tokio::pin!(build, printer);
        let mut printing = true;
        loop {
            tokio::select! {
                result = &mut build => return Ok(result?),
                () = &mut printer, if printing => printing = false,
                _ = stops.next() => {
                    eprintln!("hpm: stopping the image build");
                    self.0.cancel(workspace.root().to_path_buf()).await?;
                }
            }
        }
    }

    async fn cancel(&self, workspace: &Workspace) -> Result<bool, Failure> {
        Ok(self.0.cancel(workspace.root().to_path_buf()).await?)
    }

    async fn apply(
        &self,
        workspace: &Workspace,
        change: Change,
        json: bool,
    ) -> Result<SyncReport, Failure> {
        let mut stops = Stops::watch()?;
        let printer = self.progress_of(workspace, json).await?;
        let apply = self
            .0
            .apply(workspace.root().to_path_buf(), change, client_env());
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
                stop = stops.next() => return Err(left_to_the_daemon(stop)),
            }
        }
    }
}

impl Daemon {
    /// Prints the daemon's progress events for `workspace` to stderr,
    /// until the event stream ends; subscribed before the job is asked for,
    /// so that none of its events is missed.
    async fn progress_of(
        &self,
        workspace: &Workspace,
        json: bool,
    ) -> Result<impl std::future::Future<Output = ()>, Failure> {
        let root = workspace.root().display().to_string();
        let mut subscription = self.0.subscribe_events().await?;
        Ok(async move {
            while let Some(Ok(event)) = subscription.next().await {
                if event.workspace == root {
                    render::event_progress(&event, json);
                }
            }
        })
    }
}

/// hpmctl stopped waiting (`signal`); the daemon's job goes on.
fn left_to_the_daemon(signal: &str) -> Failure {
    let mut failure = Failure::user(
        hpm_protocol::codes::CANCELLED,
        format!("{signal}: hpmctl stopped waiting; the job goes on in hpmd"),
        Some(
            "`hpmctl cancel` stops it (files are restored); `hpmctl status` shows how it ended"
                .to_string(),
        ),
    );
    failure.kind = hpm_protocol::ErrorKind::Cancelled;
    failure
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
