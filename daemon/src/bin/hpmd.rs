//! `hpmd`: hpm's per-user daemon. Usually started by `hpmctl` on demand;
//! `hpmd --socket PATH` runs it by hand. Logs go to `hpmd.log` in the user
//! state folder (`HPM_LOG` sets the level, e.g. `HPM_LOG=debug`).
//! `HPMD_MAX_WATCHES` caps the inotify watches it uses; workspaces beyond
//! the cap are polled.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hpm::server::{self, Daemon, Startup};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Exit after this many seconds without a client or a job (`--idle-timeout`).
const DEFAULT_IDLE_SECONDS: u64 = 1800;
/// Close a workspace after this many seconds without a request, a job or a
/// watched change (`--workspace-idle`).
const DEFAULT_WORKSPACE_IDLE_SECONDS: u64 = 1800;
/// Syncs of different workspaces and status reads run on these threads.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hpmd: error: {error:#}");
            tracing::error!("{error:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut socket = hpm_protocol::socket_path();
    let mut idle = seconds_from_env("HPM_IDLE_TIMEOUT", DEFAULT_IDLE_SECONDS);
    let mut workspace_idle = seconds_from_env("HPM_WORKSPACE_IDLE", DEFAULT_WORKSPACE_IDLE_SECONDS);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--socket" => socket = PathBuf::from(args.next().context("--socket needs a path")?),
            "--idle-timeout" => {
                idle = Duration::from_secs(
                    args.next()
                        .context("--idle-timeout needs seconds")?
                        .parse()?,
                );
            }
            "--workspace-idle" => {
                workspace_idle = Duration::from_secs(
                    args.next()
                        .context("--workspace-idle needs seconds")?
                        .parse()?,
                );
            }
            "--version" => {
                println!("hpmd {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            other => anyhow::bail!(
                "unknown argument `{other}`\nusage: hpmd [--socket PATH] [--idle-timeout SECONDS] [--workspace-idle SECONDS]"
            ),
        }
    }
    init_logging()?;
    // Few threads: hpmd's work is one sync per workspace plus short reads.
    // Every blocking thread costs a malloc arena, so their number is capped.
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
        let max_watches = std::env::var("HPMD_MAX_WATCHES")
            .ok()
            .and_then(|s| s.parse().ok());
        let daemon = Daemon::new(shutdown.clone(), hpm::hub::WatchHub::new(max_watches));
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
            daemon_idle: idle,
            workspace_idle,
        };
        server::run(bound, daemon, timeouts).await?;
        tracing::info!("hpmd stopped");
        Ok(())
    })
}

fn seconds_from_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HPM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .init();
    Ok(())
}
