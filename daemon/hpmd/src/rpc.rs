//! The JSON-RPC handlers (`hpm_*`): each opens the workspace and asks its
//! actor, or runs an engine operation on a blocking thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hpm_engine::caller::Caller;
use hpm_engine::ops;
use hpm_engine::ops::release::ReleaseProgress;
use hpm_protocol::release::ApplyReport;
use hpm_protocol::report::{
    CheckReport, DoctorReport, ExportReport, ExportRequest, GroupListing, ImageBuildRequest,
    ImageReport, RegistryUpdate, ReleaseApplyRequest, SyncReport,
};
use hpm_protocol::{
    codes, Change, ClientEnv, Event, EventBody, Hello, HpmApiServer, PROTOCOL_VERSION,
};
use jsonrpsee::core::{async_trait, SubscriptionResult};
use jsonrpsee::server::{PendingSubscriptionSink, SubscriptionMessage};
use jsonrpsee::types::ErrorObjectOwned;

use crate::daemon::Daemon;
use crate::errors::to_rpc_error;
use crate::handle::{LiveNotice, WorkspaceHandle};
use crate::status_cache;

/// The JSON-RPC handlers.
#[derive(Debug, Clone)]
pub struct Rpc {
    daemon: Arc<Daemon>,
}

impl Rpc {
    pub fn new(daemon: Arc<Daemon>) -> Rpc {
        Rpc { daemon }
    }

    /// The workspace's actor, opened on first use, once it has rolled
    /// back any journal a killed run left.
    /// A relative `workspace` is refused: it would resolve against the
    /// daemon's working folder, not the caller's (hpmctl and the editors
    /// always send absolute paths).
    async fn open(&self, workspace: &Path) -> Result<WorkspaceHandle, ErrorObjectOwned> {
        if !workspace.is_absolute() {
            return Err(to_rpc_error(&hpm_engine::Error::Refused {
                message: format!(
                    "the workspace path `{}` is relative; the daemon resolves nothing against its own folder",
                    workspace.display()
                ),
                hint: Some("send the workspace's absolute path".to_string()),
            }));
        }
        let handle = self
            .daemon
            .workspaces
            .open(workspace)
            .map_err(|e| to_rpc_error(&e))?;
        handle.ready().await;
        Ok(handle)
    }
}

/// The version `hello` says: the protocol's; with the test seams, what
/// `HPMD_REPORT_VERSION` says (the tests stand up "another version").
fn reported_version() -> String {
    #[cfg(feature = "test-seams")]
    if let Ok(version) = std::env::var("HPMD_REPORT_VERSION") {
        return version;
    }
    PROTOCOL_VERSION.to_string()
}

#[async_trait]
impl HpmApiServer for Rpc {
    async fn hello(&self) -> Result<Hello, ErrorObjectOwned> {
        Ok(Hello {
            version: reported_version(),
            pid: std::process::id(),
            capabilities: [
                "status",
                "apply",
                "cancel",
                "check",
                "export",
                "events",
                "group_list",
                "registry_update",
                "image_build",
                "release_apply",
                "doctor",
                "client_env",
                "shutdown",
            ]
            .map(String::from)
            .to_vec(),
            workspaces: self.daemon.workspaces.roots(),
            busy: self.daemon.workspaces.busy_roots(),
        })
    }

    async fn status(
        &self,
        workspace: PathBuf,
        fresh: Option<bool>,
    ) -> Result<Box<serde_json::value::RawValue>, ErrorObjectOwned> {
        let handle = self.open(&workspace).await?;
        // As the last client that asked sees it (where its uv put the
        // environment, `UV_PROJECT_ENVIRONMENT`), as an auto-sync does.
        let workspace = handle.for_request(None);
        let mut fresh = fresh.unwrap_or(false);
        if fresh && self.daemon.workspaces.settled(&handle).await {
            // Every change made before this request is in the live view.
            tracing::debug!(workspace = %workspace.root().display(), "a fresh status: the watcher settled");
            fresh = false;
        }
        if !fresh {
            if let Some(report) = status_cache::cached_status(&workspace, &handle.live) {
                return Ok(report);
            }
        }
        blocking(move || status_cache::status_cached(&workspace, &handle.live, fresh)).await
    }

    async fn apply(
        &self,
        workspace: PathBuf,
        change: Change,
        env: Option<ClientEnv>,
    ) -> Result<SyncReport, ErrorObjectOwned> {
        let handle = self.open(&workspace).await?;
        handle
            .apply(change, env.as_ref())
            .await
            .map_err(|error| to_rpc_error(&error))
    }

    async fn cancel(&self, workspace: PathBuf) -> Result<bool, ErrorObjectOwned> {
        let handle = self.open(&workspace).await?;
        Ok(handle.cancel().await)
    }

    async fn check(
        &self,
        workspace: PathBuf,
        env: Option<ClientEnv>,
    ) -> Result<CheckReport, ErrorObjectOwned> {
        let workspace = self.open(&workspace).await?.for_request(env.as_ref());
        blocking(move || ops::check::check(&workspace)).await
    }

    async fn check_modes(
        &self,
        workspace: PathBuf,
        modes: Vec<hpm_core::Mode>,
        env: Option<ClientEnv>,
    ) -> Result<Vec<CheckReport>, ErrorObjectOwned> {
        let workspace = self.open(&workspace).await?.for_request(env.as_ref());
        blocking(move || ops::check::check_modes(&workspace, &modes)).await
    }

    async fn check_staged(
        &self,
        workspace: PathBuf,
        env: Option<ClientEnv>,
    ) -> Result<CheckReport, ErrorObjectOwned> {
        let workspace = self.open(&workspace).await?.for_request(env.as_ref());
        blocking(move || ops::check::check_staged(&workspace)).await
    }

    async fn export(
        &self,
        workspace: PathBuf,
        request: ExportRequest,
        env: Option<ClientEnv>,
    ) -> Result<ExportReport, ErrorObjectOwned> {
        let workspace = self.open(&workspace).await?.for_request(env.as_ref());
        blocking(move || ops::export::export(&workspace, &request)).await
    }

    async fn group_list(
        &self,
        workspace: PathBuf,
    ) -> Result<BTreeMap<String, GroupListing>, ErrorObjectOwned> {
        let workspace = self.open(&workspace).await?.for_request(None);
        blocking(move || ops::group::list(&workspace)).await
    }

    async fn registry_update(
        &self,
        workspace: PathBuf,
        env: Option<ClientEnv>,
    ) -> Result<Vec<RegistryUpdate>, ErrorObjectOwned> {
        let handle = self.open(&workspace).await?;
        let report = {
            let workspace = handle.for_request(env.as_ref());
            blocking(move || ops::registry_update::registry_update(&workspace)).await?
        };
        handle.notify_live(LiveNotice::RegistryUpdated);
        self.daemon.events.emit(
            handle.workspace.root(),
            EventBody::RegistryUpdated {
                report: report.clone(),
            },
        );
        Ok(report)
    }

    async fn image_build(
        &self,
        workspace: PathBuf,
        request: ImageBuildRequest,
        env: Option<ClientEnv>,
    ) -> Result<ImageReport, ErrorObjectOwned> {
        let handle = self.open(&workspace).await?;
        let workspace = handle.for_request(env.as_ref());
        let Some(cancel) = handle.start_build() else {
            return Err(to_rpc_error(&hpm_engine::Error::Busy {
                pid: format!("{} (an image build)", std::process::id()),
            }));
        };
        let events = self.daemon.events.clone();
        let ending = handle.clone();
        let built = blocking(move || {
            let root = workspace.root().to_path_buf();
            let report = ops::image::build(
                &workspace,
                &request,
                &mut |line| {
                    events.emit(
                        &root,
                        EventBody::ImageProgress {
                            line: line.to_string(),
                        },
                    );
                },
                &cancel,
            )?;
            if let Some(image_id) = &report.image_id {
                events.emit(
                    &root,
                    EventBody::ImageBuilt {
                        image_id: image_id.clone(),
                        tags: report.tags.clone(),
                    },
                );
            }
            Ok(report)
        })
        .await;
        ending.end_build();
        built
    }

    async fn release_apply(
        &self,
        workspace: PathBuf,
        request: ReleaseApplyRequest,
        env: Option<ClientEnv>,
    ) -> Result<ApplyReport, ErrorObjectOwned> {
        let handle = self.open(&workspace).await?;
        let workspace = handle.for_request(env.as_ref());
        let events = self.daemon.events.clone();
        blocking(move || {
            let root = workspace.root().to_path_buf();
            let options = ops::release::ApplyOptions {
                dry_run: request.dry_run,
                notes_auto: request.notes_auto,
                token: request.token,
            };
            let id = request.id;
            let report = ops::release::apply(&workspace, &id, options, &mut |progress| {
                let body = match progress {
                    ReleaseProgress::Step(step) => EventBody::ReleaseStep {
                        id: id.clone(),
                        step: step.step.clone(),
                        state: step.state,
                        detail: step.detail.clone(),
                    },
                    ReleaseProgress::Waiting(message) => EventBody::ReleaseWaiting {
                        id: id.clone(),
                        message: message.to_string(),
                    },
                };
                events.emit(&root, body);
            })?;
            events.emit(
                &root,
                EventBody::ReleaseFinished {
                    id: id.clone(),
                    outcome: report.outcome,
                },
            );
            handle.notify_live(LiveNotice::JobEnded { changed: true });
            Ok(report)
        })
        .await
    }

    async fn doctor(
        &self,
        workspace: Option<PathBuf>,
        env: Option<ClientEnv>,
    ) -> Result<DoctorReport, ErrorObjectOwned> {
        let workspace = match workspace {
            Some(root) => Some(self.open(&root).await?.for_request(env.as_ref())),
            None => None,
        };
        let caller = match (&workspace, &env) {
            (Some(workspace), _) => workspace.caller().clone(),
            (None, Some(env)) => Caller::sent(env),
            (None, None) => Caller::this_process(),
        };
        blocking(move || Ok(ops::doctor::doctor(&caller, workspace.as_ref()))).await
    }

    async fn shutdown(&self) -> Result<(), ErrorObjectOwned> {
        tracing::info!("shutdown requested");
        self.daemon.shutdown.cancel();
        Ok(())
    }

    async fn subscribe_events(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut events = self.daemon.events.subscribe();
        let sink = pending.accept().await?;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => {
                        if sink.send(message(&event)?).await.is_err() {
                            break;
                        }
                    }
                    // The subscriber sees the gap in `seq` and re-reads status.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = sink.closed() => break,
            }
        }
        Ok(())
    }
}

fn message(event: &Event) -> Result<SubscriptionMessage, serde_json::Error> {
    serde_json::value::to_raw_value(event).map(SubscriptionMessage::from)
}

/// Runs engine work on a blocking thread and maps its error.
async fn blocking<F, T>(work: F) -> Result<T, ErrorObjectOwned>
where
    F: FnOnce() -> hpm_engine::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| to_rpc_error(&e)),
        Err(error) => Err(ErrorObjectOwned::owned(
            codes::INTERNAL,
            format!("the request crashed: {error}"),
            None::<()>,
        )),
    }
}
