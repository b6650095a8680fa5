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
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hpm_protocol::HpmApiServer;
use jsonrpsee::server::{serve_with_graceful_shutdown, stop_channel};
use nix::fcntl::{Flock, FlockArg};
use tokio::net::{UnixListener, UnixStream};

use crate::connection::Counted;
use crate::daemon::Daemon;
use crate::rpc::Rpc;

/// How long `hpmd` keeps things without use.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Exit after this long with no connection and no job.
    pub daemon_idle: Duration,
    /// Close a workspace (end its actor and live task, release its watches)
    /// after this long with no request, job or watched change.
    pub workspace_idle: Duration,
}

/// The single-instance lock and the bound socket.
#[derive(Debug)]
pub struct Bound {
    pub listener: UnixListener,
    pub socket: PathBuf,
    /// The file watcher's sync cookies ([`crate::hub`]), removed at exit.
    pub cookies: Option<PathBuf>,
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
    // One lock per socket: two daemons on two sockets of one folder are
    // two instances.
    let lock_path = lock_path(socket);
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
    let cookies = cookie_folder(socket);
    Ok(Startup::Bound(Bound {
        listener,
        socket: socket.to_path_buf(),
        cookies,
        _lock: lock,
    }))
}

/// The folder of the watcher's sync cookies, `<socket>.cookies`, made anew
/// (we hold the lock: one left behind is a dead daemon's). `None`, with a
/// warning, when it cannot be made: a fresh status then re-reads every
/// clone.
fn cookie_folder(socket: &Path) -> Option<PathBuf> {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".cookies");
    let folder = socket.with_file_name(name);
    if folder.symlink_metadata().is_ok() {
        if let Err(error) = fs::remove_dir_all(&folder) {
            tracing::warn!(%error, folder = %folder.display(), "cannot remove the old cookie folder");
            return None;
        }
    }
    match DirBuilder::new().mode(0o700).create(&folder) {
        Ok(()) => Some(folder),
        Err(error) => {
            tracing::warn!(%error, folder = %folder.display(), "cannot create the cookie folder; a fresh status re-reads every clone");
            None
        }
    }
}

/// The single-instance lock of the daemon on `socket`: `<socket>.lock`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    socket.with_file_name(name)
}

/// Creates `dir` 0700, or checks an existing one is ours and closed to
/// others. hpm never changes the mode of a folder it did not create (a
/// socket in `/tmp` or `$HOME` must not make them private): a folder open
/// to others is refused with a hint.
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
        bail!(
            "refusing to put the socket in `{}`: other users can enter it (mode {:o}), and hpm does not change the mode of a folder it did not create\n  hint: set HPM_SOCKET to a path in a private folder, e.g. `$XDG_RUNTIME_DIR/hpm/hpmd.sock`, or a new folder hpm creates 0700",
            dir.display(),
            metadata.mode() & 0o7777
        );
    }
    Ok(())
}

/// Serves until `daemon.shutdown` fires or the daemon has been idle for
/// `timeouts.daemon_idle`, closing idle workspaces meanwhile; then cancels the jobs in flight (the engine rolls them
/// back), waits for them, and removes the socket.
pub async fn run(bound: Bound, daemon: Arc<Daemon>, timeouts: Timeouts) -> Result<()> {
    let (stop_handle, server_handle) = stop_channel();
    let methods = Rpc::new(daemon.clone()).into_rpc();
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
                let stream = Counted::new(stream, daemon.clone());
                let stopped = stop_handle.clone().shutdown();
                tokio::spawn(async move {
                    if let Err(error) = serve_with_graceful_shutdown(stream, service, stopped).await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
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
    if let Some(cookies) = &bound.cookies {
        let _ = fs::remove_dir_all(cookies);
    }
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
