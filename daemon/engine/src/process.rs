//! The process runner every subprocess shares (uv, git, the container
//! engine): a program with an argument vector (never a shell), with the
//! caller's environment ([`Caller`]), its output streamed line by line
//! (a line ends at `\n` or `\r`, so git's progress arrives as it is drawn),
//! cancellable and time-limited by killing its whole process group, and
//! recorded in a pid file while it runs so that a killed hpm's successor
//! can stop it.
//!
//! Unless a person sits at the terminal ([`Caller::is_interactive`]), the
//! program runs in a session of its own, with no controlling terminal and
//! stdin from `/dev/null`: nothing it starts (ssh asking for a passphrase
//! or to trust a host key, a credential prompt) can wait on a terminal, so
//! a missing credential is an error, never a hang.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::caller::Caller;

/// How many of the last stderr lines a failure keeps: enough for the
/// whole of a long resolver explanation ([`crate::uv`] picks the error
/// out of them).
const TAIL_LINES: usize = 400;
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
    /// Environment variables set for the program, over the caller's.
    pub env: Vec<(String, String)>,
    /// Whose environment the program gets, and whether it may use the
    /// terminal.
    pub caller: Caller,
    /// Keep stdout for [`Finished::stdout`] instead of streaming it.
    pub collect_stdout: bool,
}

impl RunOptions {
    /// Nothing but the caller's environment and terminal.
    pub fn for_caller(caller: &Caller) -> RunOptions {
        RunOptions {
            caller: caller.clone(),
            ..RunOptions::default()
        }
    }
}

/// A program that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The last lines it wrote to stderr.
    pub stderr_tail: Vec<String>,
    /// Its stdout, when [`RunOptions::collect_stdout`] asked for it.
    pub stdout: String,
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
    let mut command = command_for(program, args, dir, options);
    let mut child = command.spawn().map_err(RunError::Spawn)?;
    crash_after_spawn_for_tests(program);
    let pid = Pid::from_raw(child.id() as i32);
    let interactive = options.caller.is_interactive();
    // Its own group (a session leader leads one) dies whole; a program in
    // the terminal's group is killed alone.
    let stop = move || {
        let _ = if interactive {
            kill(pid, Signal::SIGKILL)
        } else {
            killpg(pid, Signal::SIGKILL)
        };
    };
    if let Some(pid_file) = &options.pid_file {
        if let Err(error) = record_pid(pid_file, pid) {
            stop();
            let _ = child.wait();
            return Err(RunError::PidFile(pid_file.clone(), error));
        }
    }
    let lines = lines_of(&mut child);
    let (output, stopped) = follow(lines, options, on_line, cancel, stop);
    let status = child.wait().map_err(RunError::Wait)?;
    if let Some(pid_file) = &options.pid_file {
        let _ = crate::fsutil::remove_durably(pid_file);
    }
    match stopped {
        Some(stopped) => Err(stopped),
        None => Ok(Finished {
            status,
            stderr_tail: output.tail.into(),
            stdout: output.stdout,
        }),
    }
}

/// The command for `program ARGS` in `dir`: the caller's environment and
/// the options' over it; the terminal when a person is at it, else none
/// (and nothing that would prompt); killed with hpm when it has a pid file.
fn command_for(program: &Path, args: &[String], dir: &Path, options: &RunOptions) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    options.caller.apply(&mut command);
    command.envs(options.env.iter().map(|(k, v)| (k, v)));
    if options.caller.is_interactive() {
        // In the terminal's foreground group, so that ssh or git may ask
        // the person there; Ctrl-C reaches it as it reaches hpmctl.
        command.stdin(Stdio::inherit());
    } else {
        command.stdin(Stdio::null());
        // Belt and braces for what does not ask through the terminal:
        // git's own prompts, ssh's askpass program, Git Credential
        // Manager's windows.
        command.envs([
            ("GIT_TERMINAL_PROMPT", "0"),
            ("SSH_ASKPASS_REQUIRE", "never"),
            ("GCM_INTERACTIVE", "never"),
        ]);
        detach_from_terminal(&mut command);
    }
    if options.pid_file.is_some() {
        die_with_this_thread(&mut command);
    }
    command
}

/// Records the running program (pid and start time) in `pid_file`, for
/// [`stop_orphan`].
fn record_pid(pid_file: &Path, pid: Pid) -> std::io::Result<()> {
    let record = format!("{pid} {}\n", start_time(pid.as_raw()).unwrap_or_default());
    crate::fsutil::write_atomic(pid_file, record.as_bytes())
}

/// The program's output lines as they come, `true` for stderr's, each
/// stream read by a thread of its own (joined by [`follow`]).
struct Lines {
    receiver: mpsc::Receiver<(bool, String)>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn lines_of(child: &mut std::process::Child) -> Lines {
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
    let readers = streams
        .into_iter()
        .flatten()
        .map(|(is_stderr, stream)| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for_each_line(stream, &mut |line| sender.send((is_stderr, line)).is_ok());
            })
        })
        .collect();
    Lines { receiver, readers }
}

/// What [`follow`] kept of the output.
#[derive(Default)]
struct Output {
    tail: std::collections::VecDeque<String>,
    stdout: String,
}

/// Passes each line on until both streams end, stopping the program
/// (`stop`) when `cancel` fires or the timeout passes; says why it was
/// stopped, if it was.
fn follow(
    lines: Lines,
    options: &RunOptions,
    on_line: &mut dyn FnMut(&str),
    cancel: &CancelToken,
    stop: impl Fn(),
) -> (Output, Option<RunError>) {
    let started = Instant::now();
    let mut output = Output::default();
    let mut stopped: Option<RunError> = None;
    loop {
        match lines.receiver.recv_timeout(TICK) {
            Ok((false, line)) if options.collect_stdout => {
                output.stdout.push_str(&line);
                output.stdout.push('\n');
            }
            Ok((is_stderr, line)) => {
                on_line(&line);
                if is_stderr {
                    output.tail.push_back(line);
                    if output.tail.len() > TAIL_LINES {
                        output.tail.pop_front();
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
                stop();
                stopped = Some(if timed_out {
                    RunError::TimedOut(started.elapsed())
                } else {
                    RunError::Cancelled
                });
            }
        }
    }
    for reader in lines.readers {
        let _ = reader.join();
    }
    (output, stopped)
}

/// Has the program killed when the thread that started it dies, for a
/// program run with a pid file (uv in a sync): a `kill -9` of hpm between
/// the spawn and the pid file's write (which lets the next run stop it,
/// [`stop_orphan`]) would otherwise leave a uv that writes after the
/// restart has rolled its files back. The thread waits for the program,
/// so it dies only with hpm. Linux only (`PR_SET_PDEATHSIG`); the pid file
/// covers the rest of the run everywhere. Other programs (git) are left
/// to finish: git killed mid-commit would leave its `index.lock` behind,
/// and a release's resume reads what it did.
fn die_with_this_thread(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = nix::unistd::getpid();
        // Audited: the closure runs in the forked child before exec and
        // calls only prctl(2) and getppid(2), async-signal-safe system
        // calls; it allocates nothing and takes no lock.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                // hpm died before the line above: nothing would stop it.
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// The environment variable of the test seam below.
#[cfg(feature = "test-seams")]
pub const CRASH_AFTER_SPAWN: &str = "HPM_CRASH_AFTER_SPAWN";

/// The test seam: the process dies right after starting a program whose
/// file name `HPM_CRASH_AFTER_SPAWN` names, before its pid file is written,
/// as a `kill -9` there would. Compiled only for the tests.
#[cfg(feature = "test-seams")]
fn crash_after_spawn_for_tests(program: &Path) {
    let named = std::env::var_os(CRASH_AFTER_SPAWN);
    if named.is_some_and(|name| program.file_name() == Some(name.as_os_str())) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-seams"))]
fn crash_after_spawn_for_tests(_program: &Path) {}

/// Starts the program in a new session: no controlling terminal (so no
/// prompt can wait on one), and a process group of its own for the kill.
fn detach_from_terminal(command: &mut Command) {
    // Audited: the closure runs in the forked child before exec and calls
    // only setsid(2), which is async-signal-safe; it allocates nothing and
    // takes no lock. std offers no safe way to start a new session.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
}

/// Calls `on_line` with each line of `stream`, a line ending at `\n` or
/// `\r` (empty ones skipped), until the stream ends or `on_line` answers
/// false. Bytes that are not UTF-8 are replaced.
fn for_each_line(mut stream: impl Read, on_line: &mut dyn FnMut(String) -> bool) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        for &byte in &buffer[..read] {
            if byte == b'\n' || byte == b'\r' {
                if !pending.is_empty() {
                    let line = String::from_utf8_lossy(&pending).into_owned();
                    pending.clear();
                    if !on_line(line) {
                        return;
                    }
                }
            } else {
                pending.push(byte);
            }
        }
    }
    if !pending.is_empty() {
        on_line(String::from_utf8_lossy(&pending).into_owned());
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
    fn a_carriage_return_ends_a_line_as_git_draws_progress_and_stdout_can_be_kept() {
        let (program, args) = sh("printf 'kept\\n'; printf 'a  10%%\\ra  50%%\\rdone\\n' >&2");
        let mut lines = Vec::new();
        let finished = run(
            &program,
            &args,
            Path::new("/"),
            &RunOptions {
                collect_stdout: true,
                ..RunOptions::default()
            },
            &mut |line| lines.push(line.to_string()),
            &CancelToken::new(),
        )
        .unwrap();
        assert_eq!(lines, ["a  10%", "a  50%", "done"]);
        assert_eq!(finished.stdout, "kept\n");
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
