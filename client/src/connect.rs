//! Reaching `hpmd`: connect to its socket, start it when none answers, and
//! replace one of another version.
//!
//! Two clients starting the daemon at once is safe: `hpmd` takes an exclusive
//! lock beside its socket before binding, so the second one exits and both
//! clients connect to the first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hpm_protocol::{Hello, HpmApiClient, PROTOCOL_VERSION};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use tokio::net::UnixStream;

/// How long a client waits for a daemon it started to answer.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// The longest hpmctl waits for one answer: a sync runs as long as uv
/// needs (`settings.uv_timeout` bounds that), up to six hours; reads have
/// a shorter bound of their own (`backend::READ_TIMEOUT`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Connects to the daemon at `socket`, without starting one.
pub async fn connect(socket: &Path) -> std::io::Result<WsClient> {
    let stream = UnixStream::connect(socket).await?;
    WsClientBuilder::default()
        .request_timeout(REQUEST_TIMEOUT)
        .max_concurrent_requests(1024)
        .build_with_stream("ws://localhost", stream)
        .await
        .map_err(std::io::Error::other)
}

/// Connects, starting the daemon when none answers and replacing one whose
/// version differs from this client's.
pub async fn connect_or_start(socket: &Path) -> Result<(WsClient, Hello)> {
    let client = match connect(socket).await {
        Ok(client) => client,
        Err(_) => start_and_connect(socket).await?,
    };
    let mut hello = client.hello().await?;
    if hello.version == PROTOCOL_VERSION {
        return Ok((client, hello));
    }
    // Never replace a daemon with a job in flight: its user's switch would
    // be cancelled. Wait for it, saying so.
    if !hello.busy.is_empty() {
        eprintln!(
            "hpm: hpmd {} (pid {}) is running a job in {}; waiting for it to end before replacing it with {PROTOCOL_VERSION}",
            hello.version,
            hello.pid,
            hello.busy.join(", ")
        );
        while !hello.busy.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            hello = client.hello().await?;
        }
    }
    eprintln!(
        "hpm: replacing hpmd {} (pid {}) with {PROTOCOL_VERSION}",
        hello.version, hello.pid
    );
    let _ = client.shutdown().await;
    drop(client);
    wait_until_gone(socket).await?;
    // The old daemon holds its lock until it has exited; a new one started
    // before that would find the lock taken and leave.
    wait_for_exit(hello.pid).await?;
    let client = start_and_connect(socket).await?;
    let hello = client.hello().await?;
    Ok((client, hello))
}

async fn start_and_connect(socket: &Path) -> Result<WsClient> {
    let mut started_daemon = spawn_daemon(socket)?;
    let started = Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match connect(socket).await {
            Ok(client) => return Ok(client),
            Err(error) => {
                // An hpmd that failed at once says why; one that exited
                // cleanly found another serving this socket, so wait on.
                if let Some(reason) = started_daemon.failed() {
                    let hint = if reason.contains("\n  hint: ") {
                        ""
                    } else {
                        "\n  hint: fix what it says (or set `HPM_SOCKET` to another path), or use `--no-daemon`"
                    };
                    bail!(
                        "hpmd could not start on `{}`: {reason}{hint}",
                        socket.display()
                    )
                }
                if started.elapsed() > READY_WITHIN {
                    bail!(
                        "hpmd did not answer on `{}` within {}s: {error}\n  hint: see hpmd.log in your state folder, or use `--no-daemon`",
                        socket.display(),
                        READY_WITHIN.as_secs()
                    )
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        }
    }
}

/// Waits until nothing answers on `socket` (the old daemon has exited).
pub async fn wait_until_gone(socket: &Path) -> Result<()> {
    let started = Instant::now();
    while UnixStream::connect(socket).await.is_ok() {
        if started.elapsed() > READY_WITHIN {
            bail!("hpmd on `{}` did not stop", socket.display());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until process `pid` has exited.
async fn wait_for_exit(pid: u32) -> Result<()> {
    let started = Instant::now();
    let Ok(pid) = i32::try_from(pid) else {
        return Ok(());
    };
    while is_running(pid) {
        if started.elapsed() > READY_WITHIN {
            bail!(
                "hpmd (pid {pid}) did not exit within {}s",
                READY_WITHIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Whether process `pid` exists and has not exited (a zombie, exited but
/// not yet reaped by its parent, holds no lock).
fn is_running(pid: i32) -> bool {
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().next());
    state != Some("Z")
}

/// An `hpmd` this client started, and what it wrote to its stderr (an
/// unlinked file, never a pipe: a daemon that outlives the client must not
/// write into a closed one; none when no temporary file could be made).
struct StartedDaemon {
    child: std::process::Child,
    stderr: Option<std::fs::File>,
}

impl StartedDaemon {
    /// What it said, when it has already exited with a failure.
    fn failed(&mut self) -> Option<String> {
        use std::io::{Read, Seek};
        let status = self.child.try_wait().ok()??;
        if status.success() {
            return None;
        }
        let mut said = String::new();
        if let Some(stderr) = &mut self.stderr {
            let _ = stderr.rewind();
            let _ = stderr.read_to_string(&mut said);
        }
        let said = said.trim();
        let said = said.strip_prefix("hpmd: error: ").unwrap_or(said);
        Some(if said.is_empty() {
            format!("it exited ({status})")
        } else {
            said.to_string()
        })
    }
}

/// Starts `hpmd` in the background, in its own process group so that the
/// terminal's signals do not reach it.
fn spawn_daemon(socket: &Path) -> Result<StartedDaemon> {
    use std::os::unix::process::CommandExt;
    let hpmd = hpmd_path();
    let stderr = tempfile::tempfile().ok();
    let child = Command::new(&hpmd)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            stderr
                .as_ref()
                .and_then(|file| file.try_clone().ok())
                .map_or_else(Stdio::null, Stdio::from),
        )
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start `{}`\n  hint: install hpmd beside hpmctl, or use `--no-daemon`",
                hpmd.display()
            )
        })?;
    Ok(StartedDaemon { child, stderr })
}

/// `HPMD`, else `hpmd` beside this `hpmctl`, else `hpmd` on PATH.
fn hpmd_path() -> PathBuf {
    if let Some(path) = std::env::var_os("HPMD") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hpmd")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("hpmd"))
}
