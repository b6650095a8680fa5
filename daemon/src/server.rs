//! `hpmd`'s server: the Unix socket, the JSON-RPC API on it, and the
//! daemon's life (single instance, idle exit, clean shutdown).
//!
//! Transport: jsonrpsee's own HTTP + WebSocket service, built once per
//! accepted connection (`to_service_builder`) and served on the Unix stream,
//! so batches, limits and subscriptions come from the library and
//! `curl --unix-socket` works. Nothing listens on TCP.
//!
//! Safety: the socket's folder is created 0700 and must be owned by this
//! user; the socket is 0600; every connection's peer uid is checked.

use std::fs::{self, DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hpm_protocol::{codes, Change, Event, Hello, HpmApiServer, PROTOCOL_VERSION};
use jsonrpsee::core::{async_trait, SubscriptionResult};
use jsonrpsee::server::{
    serve_with_graceful_shutdown, stop_channel, PendingSubscriptionSink, SubscriptionMessage,
};
use jsonrpsee::types::ErrorObjectOwned;
use nix::fcntl::{Flock, FlockArg};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::actor::{to_rpc_error, Workspaces};
use crate::events::EventBus;
use crate::hub::WatchHub;

/// How long `hpmd` keeps things without use.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Exit after this long with no connection and no job.
    pub daemon_idle: Duration,
    /// Close a workspace (end its actor and live task, release its watches)
    /// after this long with no request, job or watched change.
    pub workspace_idle: Duration,
}

/// The daemon's shared state; the RPC handlers hold an `Arc` of it.
#[derive(Debug)]
pub struct Daemon {
    workspaces: Workspaces,
    events: Arc<EventBus>,
    shutdown: CancellationToken,
    connections: AtomicUsize,
    /// When the last connection closed or job ended. A `std` mutex: held
    /// only to read or replace the instant.
    last_activity: Mutex<Instant>,
}

impl Daemon {
    pub fn new(shutdown: CancellationToken, hub: Arc<WatchHub>) -> Arc<Daemon> {
        let events = Arc::new(EventBus::default());
        Arc::new(Daemon {
            workspaces: Workspaces::new(events.clone(), hub),
            events,
            shutdown,
            connections: AtomicUsize::new(0),
            last_activity: Mutex::new(Instant::now()),
        })
    }

    fn touch(&self) {
        if let Ok(mut last) = self.last_activity.lock() {
            *last = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        if self.connections.load(Ordering::SeqCst) > 0 || self.workspaces.any_busy() {
            self.touch();
            return Duration::ZERO;
        }
        self.last_activity
            .lock()
            .map(|last| last.elapsed())
            .unwrap_or_default()
    }
}

/// The single-instance lock and the bound socket.
#[derive(Debug)]
pub struct Bound {
    pub listener: UnixListener,
    pub socket: PathBuf,
    /// Held for the daemon's life: a second `hpmd` finds it taken and exits.
    _lock: Flock<fs::File>,
}

/// Outcome of trying to become the daemon for a socket.
#[derive(Debug)]
pub enum Startup {
    Bound(Bound),
    /// Another `hpmd` holds the lock for this socket.
    AlreadyRunning,
}

/// Prepares the socket folder, takes the single-instance lock, clears a
/// stale socket left by a killed daemon, and binds.
pub fn bind(socket: &Path) -> Result<Startup> {
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    secure_dir(dir)?;
    let lock_path = dir.join("hpmd.lock");
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open `{}`", lock_path.display()))?;
    let lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(Startup::AlreadyRunning),
        Err((_, errno)) => bail!("cannot lock `{}`: {errno}", lock_path.display()),
    };
    // We hold the lock, so a socket file here belongs to a dead daemon.
    if socket.exists() {
        fs::remove_file(socket)
            .with_context(|| format!("cannot remove the stale socket `{}`", socket.display()))?;
        tracing::info!(socket = %socket.display(), "removed a stale socket");
    }
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on `{}`", socket.display()))?;
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600))?;
    Ok(Startup::Bound(Bound {
        listener,
        socket: socket.to_path_buf(),
        _lock: lock,
    }))
}

/// Creates `dir` 0700, or checks an existing one is ours and closed to others.
fn secure_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let metadata = fs::metadata(dir)?;
    let uid = nix::unistd::getuid().as_raw();
    if metadata.uid() != uid {
        bail!(
            "refusing to use `{}`: it belongs to uid {}, not to you (uid {uid})\n  hint: set HPM_SOCKET to a path in a folder you own",
            dir.display(),
            metadata.uid()
        );
    }
    if metadata.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Serves until `daemon.shutdown` fires or the daemon has been idle for
/// `timeouts.daemon_idle`, closing idle workspaces meanwhile; then cancels the jobs in flight (the engine rolls them
/// back), waits for them, and removes the socket.
pub async fn run(bound: Bound, daemon: Arc<Daemon>, timeouts: Timeouts) -> Result<()> {
    let (stop_handle, server_handle) = stop_channel();
    let methods = Rpc {
        daemon: daemon.clone(),
    }
    .into_rpc();
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_connections(256)
        .build();
    let service_builder = jsonrpsee::server::Server::builder()
        .set_config(config)
        .to_service_builder();
    let uid = nix::unistd::getuid().as_raw();
    let mut idle_check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            accepted = bound.listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                if !peer_is(&stream, uid) {
                    continue;
                }
                let service = service_builder.clone().build(methods.clone(), stop_handle.clone());
                let daemon = daemon.clone();
                let stopped = stop_handle.clone().shutdown();
                daemon.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Err(error) = serve_with_graceful_shutdown(stream, service, stopped).await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    daemon.connections.fetch_sub(1, Ordering::SeqCst);
                    daemon.touch();
                });
            }
            _ = daemon.shutdown.cancelled() => break,
            _ = idle_check.tick() => {
                daemon.workspaces.close_idle(timeouts.workspace_idle);
                if daemon.idle_for() >= timeouts.daemon_idle {
                    tracing::info!(seconds = timeouts.daemon_idle.as_secs(), "idle; exiting");
                    break;
                }
            }
        }
    }
    // Stop taking work, then end what is in flight: cancelled jobs roll back.
    let _ = fs::remove_file(&bound.socket);
    for handle in daemon.workspaces.handles() {
        handle.cancel().await;
    }
    while daemon.workspaces.any_busy() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = server_handle.stop();
    Ok(())
}

/// Whether the connecting process runs as `uid`; others are refused.
fn peer_is(stream: &UnixStream, uid: u32) -> bool {
    match stream.peer_cred() {
        Ok(credentials) if credentials.uid() == uid => true,
        Ok(credentials) => {
            tracing::warn!(
                peer_uid = credentials.uid(),
                "refused a connection from another user"
            );
            false
        }
        Err(error) => {
            tracing::warn!(%error, "refused a connection whose peer could not be identified");
            false
        }
    }
}

/// The JSON-RPC handlers.
#[derive(Debug, Clone)]
struct Rpc {
    daemon: Arc<Daemon>,
}

impl Rpc {
    /// The workspace's actor, opened on first use.
    fn open(&self, workspace: &Path) -> Result<crate::actor::WorkspaceHandle, ErrorObjectOwned> {
        self.daemon
            .workspaces
            .open(workspace)
            .map_err(|e| to_rpc_error(&e))
    }
}

#[async_trait]
impl HpmApiServer for Rpc {
    async fn hello(&self) -> Result<Hello, ErrorObjectOwned> {
        Ok(Hello {
            // Tests stand up "another version" of hpmd with this variable.
            version: std::env::var("HPMD_REPORT_VERSION")
                .unwrap_or_else(|_| PROTOCOL_VERSION.to_string()),
            pid: std::process::id(),
            capabilities: [
                "status",
                "apply",
                "cancel",
                "check",
                "events",
                "registry_update",
                "shutdown",
            ]
            .map(String::from)
            .to_vec(),
            workspaces: self.daemon.workspaces.roots(),
        })
    }

    async fn status(
        &self,
        workspace: PathBuf,
        fresh: Option<bool>,
    ) -> Result<Box<serde_json::value::RawValue>, ErrorObjectOwned> {
        let handle = self.open(&workspace)?;
        let fresh = fresh.unwrap_or(false);
        if !fresh {
            if let Some(report) =
                crate::status::cached_status(&handle.workspace, &handle.live, false)
            {
                return Ok(report);
            }
        }
        blocking(move || crate::status::status_cached(&handle.workspace, &handle.live, fresh)).await
    }

    async fn apply(
        &self,
        workspace: PathBuf,
        change: Change,
    ) -> Result<serde_json::Value, ErrorObjectOwned> {
        let handle = self.open(&workspace)?;
        handle.apply(change).await
    }

    async fn cancel(&self, workspace: PathBuf) -> Result<bool, ErrorObjectOwned> {
        let handle = self.open(&workspace)?;
        Ok(handle.cancel().await)
    }

    async fn check(&self, workspace: PathBuf) -> Result<serde_json::Value, ErrorObjectOwned> {
        let handle = self.open(&workspace)?;
        blocking(move || {
            crate::check::check(&handle.workspace)
                .map(|report| serde_json::to_value(report).unwrap_or_default())
        })
        .await
    }

    async fn registry_update(
        &self,
        workspace: PathBuf,
    ) -> Result<serde_json::Value, ErrorObjectOwned> {
        let handle = self.open(&workspace)?;
        let root = handle.workspace.root().to_path_buf();
        let report = blocking(move || {
            let manifest = handle.workspace.load_manifest()?;
            crate::git_registry::update(&handle.workspace, &manifest)
                .map(|updates| serde_json::to_value(updates).unwrap_or_default())
        })
        .await?;
        self.daemon.events.emit(
            &root,
            hpm_protocol::EventBody::RegistryUpdated {
                report: report.clone(),
            },
        );
        Ok(report)
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
    F: FnOnce() -> crate::Result<T> + Send + 'static,
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
