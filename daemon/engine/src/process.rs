//! The process runner every subprocess backend shares (uv today, a
//! container engine next): a program with an argument vector (never a
//! shell), in its own process group, its output streamed line by line,
//! cancellable and time-limited by killing the whole group, and recorded
//! in a pid file while it runs so that a killed hpm's successor can stop it.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How many of the last stderr lines a failure keeps.
const TAIL_LINES: usize = 40;
/// How often the runner looks at the cancel token and the clock.
const TICK: Duration = Duration::from_millis(25);

/// A request to stop a running job, shared between the job and whoever may
/// cancel it (a client, a signal, the daemon's shutdown).
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

/// How to run one program.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Kill the process group when it runs longer than this.
    pub timeout: Option<Duration>,
    /// Where to record the process (pid and start time) while it runs, so
    /// that if hpm is killed the next run can stop what it left behind
    /// (see [`stop_orphan`]).
    pub pid_file: Option<PathBuf>,
    /// Environment variables set for the program.
    pub env: Vec<(String, String)>,
}

/// A program that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The last lines it wrote to stderr.
    pub stderr_tail: Vec<String>,
}

/// Why a run did not finish on its own.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// The pid file could not be written (the program was killed).
    PidFile(PathBuf, std::io::Error),
    /// Waiting for the program failed.
    Wait(std::io::Error),
    /// The cancel token fired; the group was killed.
    Cancelled,
    /// The timeout passed; the group was killed.
    TimedOut(Duration),
}

/// Runs `program ARGS` in `dir`, passing each output line (stdout and
/// stderr, as they come) to `on_line`.
pub fn run(
    program: &Path,
    args: &[String],
    dir: &Path,
    options: &RunOptions,
    on_line: &mut dyn FnMut(&str),
    cancel: &CancelToken,
) -> Result<Finished, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(RunError::Spawn)?;
    let group = Pid::from_raw(child.id() as i32);
    if let Some(pid_file) = &options.pid_file {
        let pid = child.id() as i32;
        let record = format!("{pid} {}\n", start_time(pid).unwrap_or_default());
        if let Err(error) = crate::fsutil::write_atomic(pid_file, record.as_bytes()) {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait();
            return Err(RunError::PidFile(pid_file.clone(), error));
        }
    }
    let (sender, receiver) = mpsc::channel::<(bool, String)>();
    let streams = [
        child
            .stdout
            .take()
            .map(|s| (false, Box::new(s) as Box<dyn Read + Send>)),
        child
            .stderr
            .take()
            .map(|s| (true, Box::new(s) as Box<dyn Read + Send>)),
    ];
    let readers: Vec<_> = streams
        .into_iter()
        .flatten()
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
    let mut stopped: Option<RunError> = None;
    loop {
        match receiver.recv_timeout(TICK) {
            Ok((is_stderr, line)) => {
                on_line(&line);
                if is_stderr {
                    tail.push(line);
                    if tail.len() > TAIL_LINES {
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
                // The whole group: the program's own children die with it.
                let _ = killpg(group, Signal::SIGKILL);
                stopped = Some(if timed_out {
                    RunError::TimedOut(started.elapsed())
                } else {
                    RunError::Cancelled
                });
            }
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(RunError::Wait)?;
    if let Some(pid_file) = &options.pid_file {
        let _ = crate::fsutil::remove_durably(pid_file);
    }
    match stopped {
        Some(stopped) => Err(stopped),
        None => Ok(Finished {
            status,
            stderr_tail: tail,
        }),
    }
}

/// Stops a program that a killed hpm left running, as recorded in
/// `pid_file` by [`run`]: its whole process group is killed, and this
/// waits (up to a few seconds) until it is gone, so that it cannot write
/// after the caller restores files. The process is known by its pid and
/// its start time, so a reused pid is left alone (where `/proc` is
/// missing, nothing is stopped). Answers whether one was stopped.
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
    tracing::warn!(pid, "stopped the process an interrupted sync left running");
    true
}

/// Whether the process recorded in `pid_file` still runs (same pid, same
/// start time).
pub fn recorded_process_runs(pid_file: &Path) -> bool {
    let Ok(record) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let mut fields = record.split_whitespace();
    match (fields.next().map(str::parse::<i32>), fields.next()) {
        (Some(Ok(pid)), Some(started)) if pid > 1 => start_time(pid).as_deref() == Some(started),
        _ => false,
    }
}

/// When process `pid` started (clock ticks since boot, from `/proc`).
fn start_time(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces; field 22 is the start.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (PathBuf, Vec<String>) {
        (
            PathBuf::from("/bin/sh"),
            vec!["-c".to_string(), script.to_string()],
        )
    }

    #[test]
    fn lines_stream_and_stderr_is_kept_for_the_failure() {
        let (program, args) = sh("echo out; echo err >&2; exit 3");
        let mut lines = Vec::new();
        let finished = run(
            &program,
            &args,
            Path::new("/"),
            &RunOptions::default(),
            &mut |line| lines.push(line.to_string()),
            &CancelToken::new(),
        )
        .unwrap();
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(finished.stderr_tail, ["err"]);
        lines.sort();
        assert_eq!(lines, ["err", "out"]);
    }

    #[test]
    fn a_timeout_kills_the_whole_group_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("group");
        // The shell is the group's leader; its child sleeps on in the group.
        let (program, args) = sh(&format!(
            "echo $$ > {}; sleep 30 & wait",
            pid_file.display()
        ));
        let result = run(
            &program,
            &args,
            dir.path(),
            &RunOptions {
                timeout: Some(Duration::from_millis(200)),
                ..RunOptions::default()
            },
            &mut |_| {},
            &CancelToken::new(),
        );
        assert!(matches!(result, Err(RunError::TimedOut(_))), "{result:?}");
        let leader: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Positive barrier: the group (the sleeping child included) is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while killpg(Pid::from_raw(leader), None).is_ok() {
            assert!(Instant::now() < deadline, "the group outlived the kill");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
