//! The [`Backend`] served by the engine in this process (`--no-daemon`):
//! each call the engine's operation on a blocking thread, for this
//! terminal ([`crate::commands::Context::caller`]).

use std::collections::BTreeMap;

use hpm_engine::ops;
use hpm_engine::ops::sync::Request;
use hpm_engine::process::CancelToken;
use hpm_engine::workspace::Workspace;
use hpm_protocol::report::{
    CheckReport, ExportReport, ExportRequest, GroupListing, ImageBuildRequest, ImageReport,
    Progress, RegistryUpdate, StatusReport, SyncReport,
};
use hpm_protocol::Change;

use super::{Backend, Stops};
use crate::failure::Failure;
use crate::render;

/// The engine, in this process.
pub struct Local;

#[async_trait::async_trait]
impl Backend for Local {
    async fn status(&self, workspace: &Workspace) -> Result<StatusReport, Failure> {
        blocking(workspace, ops::status::status).await
    }

    async fn check(&self, workspace: &Workspace) -> Result<CheckReport, Failure> {
        blocking(workspace, ops::check::check).await
    }

    async fn check_staged(&self, workspace: &Workspace) -> Result<CheckReport, Failure> {
        blocking(workspace, ops::check::check_staged).await
    }

    async fn check_modes(
        &self,
        workspace: &Workspace,
        modes: Vec<hpm_core::Mode>,
    ) -> Result<Vec<CheckReport>, Failure> {
        blocking(workspace, move |workspace| {
            ops::check::check_modes(workspace, &modes)
        })
        .await
    }

    async fn export(
        &self,
        workspace: &Workspace,
        request: ExportRequest,
    ) -> Result<ExportReport, Failure> {
        blocking(workspace, move |workspace| {
            ops::export::export(workspace, &request)
        })
        .await
    }

    async fn group_list(
        &self,
        workspace: &Workspace,
    ) -> Result<BTreeMap<String, GroupListing>, Failure> {
        blocking(workspace, ops::group::list).await
    }

    async fn registry_update(&self, workspace: &Workspace) -> Result<Vec<RegistryUpdate>, Failure> {
        blocking(workspace, ops::registry_update::registry_update).await
    }

    async fn image_build(
        &self,
        workspace: &Workspace,
        request: ImageBuildRequest,
        json: bool,
    ) -> Result<ImageReport, Failure> {
        let mut stops = Stops::watch()?;
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
        Ok(finished.map_err(|e| Failure::internal(format!("the build crashed: {e}")))??)
    }

    async fn cancel(&self, _workspace: &Workspace) -> Result<bool, Failure> {
        Err(Failure::user(
            hpm_protocol::codes::INVALID_INPUT,
            "`cancel` needs the daemon",
            Some("an in-process sync is cancelled with Ctrl-C".to_string()),
        ))
    }

    async fn apply(
        &self,
        workspace: &Workspace,
        change: Change,
        json: bool,
    ) -> Result<SyncReport, Failure> {
        let mut stops = Stops::watch()?;
        let request = Request::from_change(&change)?;
        let cancel = CancelToken::new();
        let job = {
            let workspace = workspace.clone();
            let cancel = cancel.clone();
            tokio::task::spawn_blocking(move || {
                let mut on_progress = |progress: Progress| render::progress(&progress, json);
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
