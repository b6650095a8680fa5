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
