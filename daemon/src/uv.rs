//! The uv backend: finding uv, checking its version, and running it with its
//! output streamed line by line and the whole process group killable.
//!
//! No command line goes through a shell: arguments are passed as a list.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};

/// The oldest uv whose `[tool.uv.sources]` and flags hpm relies on.
pub const MIN_UV_VERSION: &str = "0.5.0";
/// How many of uv's last stderr lines explain a failure.
const REASON_LINES: usize = 40;

/// A request to stop a running job, shared between the job and whoever may
/// cancel it (a client, the daemon's shutdown).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Stops a uv that a killed hpm left running, as recorded in `pid_file`
/// by [`Uv::run`]: its whole process group is killed, and this waits (up to
/// a few seconds) until it is gone, so that it cannot write `uv.lock` or
/// the environment after the caller restores them. The process is known by
/// its pid and its start time, so a reused pid is left alone (where
/// `/proc` is missing, nothing is stopped). Answers whether one was stopped.
pub fn stop_orphan(pid_file: &Path) -> bool {
    let Ok(record) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let mut fields = record.split_whitespace();
    let (Some(Ok(pid)), Some(started)) = (fields.next().map(str::parse::<i32>), fields.next())
    else {
        return false;
    };
    if pid <= 1 || start_time(pid).as_deref() != Some(started) {
        return false;
    }
    let group = Pid::from_raw(pid);
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while killpg(group, None).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    tracing::warn!(pid, "stopped the uv an interrupted sync left running");
    true
}

/// When process `pid` started (clock ticks since boot, from `/proc`).
fn start_time(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces; field 22 is the start.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19).map(str::to_string)
}

/// The binary of the `uv` Python package, if `python3` has it.
fn uv_from_python_package() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys, uv; sys.stdout.write(uv.find_uv_bin())"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?);
    (output.status.success() && path.is_file()).then_some(path)
}

/// A uv binary that is there and new enough.
#[derive(Debug, Clone)]
pub struct Uv {
    pub path: PathBuf,
    pub version: String,
}

/// How to run one uv command.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Kill uv when it runs longer than this.
    pub timeout: Option<Duration>,
    /// Where to record uv's process group and program while it runs, so
    /// that if hpm is killed the next run can stop the uv it left behind
    /// (see [`stop_orphan`]).
    pub pid_file: Option<PathBuf>,
}

impl Uv {
    /// `HPM_UV`, else `uv` on `PATH`, else the uv that `python3 -m pip
    /// install uv` put beside a Python whose scripts are not on `PATH`;
    /// checks the version.
    pub fn find() -> Result<Uv> {
        let path = match std::env::var_os("HPM_UV") {
            Some(path) => PathBuf::from(path),
            None => which::which("uv")
                .ok()
                .or_else(uv_from_python_package)
                .ok_or_else(|| Error::UvMissing {
                    detail: " on PATH".to_string(),
                })?,
        };
        let output = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| Error::UvMissing {
                detail: format!(" at `{}` ({error})", path.display()),
            })?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "uv 0.5.11 (c4d0caaee 2024-12-19)"
        let version = text
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let parsed = pep440_rs::Version::from_str(&version).map_err(|_| Error::UvMissing {
            detail: format!(
                ": `{} --version` printed `{}`, not a uv version",
                path.display(),
                text.trim()
            ),
        })?;
        let minimum =
            pep440_rs::Version::from_str(MIN_UV_VERSION).map_err(|e| Error::Internal {
                message: e.to_string(),
            })?;
        if parsed < minimum {
            return Err(Error::UvTooOld {
                found: version,
                required: MIN_UV_VERSION.to_string(),
            });
        }
        Ok(Uv { path, version })
    }

    /// Runs `uv ARGS` in `dir`, passing each output line to `on_line`. Fails
    /// with uv's last lines of stderr when uv exits non-zero.
    pub fn run(
        &self,
        dir: &Path,
        args: &[String],
        options: &RunOptions,
        on_line: &mut dyn FnMut(&str),
        cancel: &CancelToken,
    ) -> Result<()> {
        let command_text = args.join(" ");
        let mut child = Command::new(&self.path)
            .args(args)
            .current_dir(dir)
            .env("UV_NO_PROGRESS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|error| Error::UvMissing {
                detail: format!(" at `{}` ({error})", self.path.display()),
            })?;
        let group = Pid::from_raw(child.id() as i32);
        if let Some(pid_file) = &options.pid_file {
            let pid = child.id() as i32;
            let record = format!("{pid} {}\n", start_time(pid).unwrap_or_default());
            if let Err(error) = crate::fsutil::write_atomic(pid_file, record.as_bytes()) {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait();
                return Err(Error::write(pid_file, error));
            }
        }
        let (sender, receiver) = mpsc::channel::<(bool, String)>();
        let readers: Vec<_> = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .enumerate()
        .filter_map(|(index, stream)| stream.map(|s| (index == 1, s)))
        .map(|(is_stderr, stream)| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
                    if sender.send((is_stderr, line)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
        drop(sender);

        let started = Instant::now();
        let mut tail: Vec<String> = Vec::new();
        let mut stopped: Option<Error> = None;
        loop {
            match receiver.recv_timeout(Duration::from_millis(25)) {
                Ok((is_stderr, line)) => {
                    on_line(&line);
                    if is_stderr {
                        tail.push(line);
                        if tail.len() > REASON_LINES {
                            tail.remove(0);
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if stopped.is_none() {
                let timed_out = options
                    .timeout
                    .is_some_and(|limit| started.elapsed() > limit);
                if cancel.is_cancelled() || timed_out {
                    // The whole group: uv's own children (builds) die with it.
                    let _ = killpg(group, Signal::SIGKILL);
                    stopped = Some(if timed_out {
                        Error::UvFailed {
                            command: command_text.clone(),
                            status: format!("killed after {}s", started.elapsed().as_secs()),
                            reason: "uv did not finish in time".to_string(),
                        }
                    } else {
                        Error::Cancelled
                    });
                }
            }
        }
        for reader in readers {
            let _ = reader.join();
        }
        let status = child.wait().map_err(|error| Error::Internal {
            message: format!("waiting for uv failed: {error}"),
        })?;
        if let Some(error) = stopped {
            return Err(error);
        }
        if status.success() {
            Ok(())
        } else {
            Err(Error::UvFailed {
                command: command_text,
                status: status.to_string(),
                reason: tail.join("\n"),
            })
        }
    }
}
