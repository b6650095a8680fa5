//! The `hpmd` executable's entry point: arguments, logging, the runtime,
//! signals. Its `main` is the whole of the binary (`hpmctl`'s package ships
//! it), so that one package carries both executables (the wheel).
//! Logs go to `hpmd.log` in the user state folder (`HPM_LOG` sets the level,
//! e.g. `HPM_LOG=debug`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::hub::WatchHub;
use crate::server::{self, Startup};
use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Exit after this many seconds without a client or a job (`--idle-timeout`).
const DEFAULT_IDLE_SECONDS: u64 = 1800;
/// Close a workspace after this many seconds without a request, a job or a
/// watched change (`--workspace-idle`).
const DEFAULT_WORKSPACE_IDLE_SECONDS: u64 = 1800;
/// Syncs of different workspaces and status reads run on these threads.
const MAX_BLOCKING_THREADS: usize = 8;

/// The `hpmd` executable: parse the arguments, serve until idle or signalled.
pub fn main() -> ExitCode {
    limit_malloc_arenas();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hpmd: error: {error:#}");
            tracing::error!("{error:#}");
            ExitCode::from(1)
        }
    }
}

/// hpm's per-user daemon: keeps each open workspace's graph in memory, runs
/// its reconciles through a queue and serves JSON-RPC on a Unix socket.
/// `hpmctl` starts it on demand.
#[derive(Debug, Parser)]
#[command(name = "hpmd", version = hpm_protocol::BUILD_VERSION)]
struct Args {
    /// The socket to serve (default: `HPM_SOCKET`, else `hpmd.sock` in the
    /// user runtime folder).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Exit after this many seconds without a client or a job.
    #[arg(long, value_name = "SECONDS", env = "HPM_IDLE_TIMEOUT", default_value_t = DEFAULT_IDLE_SECONDS)]
    idle_timeout: u64,
    /// Close a workspace after this many seconds without a request, a job
    /// or a watched change.
    #[arg(long, value_name = "SECONDS", env = "HPM_WORKSPACE_IDLE", default_value_t = DEFAULT_WORKSPACE_IDLE_SECONDS)]
    workspace_idle: u64,
    /// Cap on the inotify watches; workspaces beyond it are polled.
    #[arg(long, value_name = "COUNT", env = "HPMD_MAX_WATCHES")]
    max_watches: Option<usize>,
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let socket = args.socket.unwrap_or_else(hpm_protocol::socket_path);
    init_logging()?;
    // Few threads: hpmd's work is one sync per workspace plus short reads,
    // and every blocking thread keeps a stack of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let bound = match server::bind(&socket)? {
            Startup::Bound(bound) => bound,
            Startup::AlreadyRunning => {
                tracing::info!(socket = %socket.display(), "another hpmd serves this socket; exiting");
                return Ok(());
            }
        };
        tracing::info!(socket = %socket.display(), pid = std::process::id(), "hpmd listening");
        let shutdown = CancellationToken::new();
        let daemon = Daemon::new(shutdown.clone(), WatchHub::new(args.max_watches, bound.cookies.clone()));
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM: finishing or rolling back the job in flight"),
                _ = interrupt.recv() => tracing::info!("SIGINT: finishing or rolling back the job in flight"),
            }
            shutdown.cancel();
        });
        let timeouts = server::Timeouts {
            daemon_idle: Duration::from_secs(args.idle_timeout),
            workspace_idle: Duration::from_secs(args.workspace_idle),
        };
        server::run(bound, daemon, timeouts).await?;
        tracing::info!("hpmd stopped");
        Ok(())
    })
}

/// glibc gives each thread that allocates an arena of its own (up to eight
/// per core) and keeps in it what that thread frees. Syncs hop between
/// blocking threads, so the daemon ended up holding several arenas' worth of
/// freed memory: at 200 packages, 44 MB after 20 mode switches against 25 MB
/// with two arenas (see BENCHMARKS.md). `MALLOC_ARENA_MAX`, when set, wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    const ARENAS: libc::c_int = 2;
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only sets an allocator tunable; it runs first
        // thing in `main`, before any other thread exists.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Logs to `hpmd.log` in the user state (or cache) folder.
fn init_logging() -> anyhow::Result<()> {
    let dirs = directories::ProjectDirs::from("", "", "hpm");
    let dir = dirs
        .as_ref()
        .map(|d| d.state_dir().unwrap_or(d.cache_dir()).to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("hpm"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("hpmd.log"))?;
    tracing_subscriber::fmt()
        .with_env_filter(hpm_engine::logging::filter("info"))
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .init();
    Ok(())
}
