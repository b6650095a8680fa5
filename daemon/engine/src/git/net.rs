//! Everything that talks to a remote runs the user's own `git` program, as
//! uv does for git sources and cargo with `net.git-fetch-with-cli`: ssh
//! keys and `~/.ssh/config` aliases, the agent, credential helpers,
//! `insteadOf`, `GIT_CONFIG_*`, proxies and CA settings then behave
//! exactly as for the user's `git clone`. Listing refs, cloning a dev
//! package and fetching a bare cache are the three calls.
//!
//! Each runs with the caller's environment ([`Caller`]), an argument
//! vector with `--` before the URL, git's own protocol allowlist
//! (`GIT_ALLOW_PROTOCOL`: no `ext::`, no `fd::`), and, unless a person is
//! at the terminal, without one ([`crate::process`]): a missing
//! credential fails with what git said and a [`NetFailure::hint`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::caller::Caller;
use crate::process::{self, CancelToken, RunError, RunOptions};

/// The transports git may use for hpm, whatever a URL is rewritten to.
const ALLOWED_PROTOCOLS: &str = "https:http:ssh:git:file";
/// How long listing one remote's refs may take (an ssh host that never
/// answers would otherwise hold a sync for the system's TCP timeout).
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// How many of git's last lines a failure keeps.
const SAID: usize = 8;

/// git ran and failed, or could not run: what it said, for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetFailure {
    /// git's last lines (or why it could not run).
    pub said: String,
}

impl std::fmt::Display for NetFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.said)
    }
}

impl NetFailure {
    /// What git said, control characters (a remote's terminal escapes)
    /// shown as `\u{..}` escapes.
    fn new(said: impl Into<String>) -> NetFailure {
        let said: String = said.into();
        let said = said
            .chars()
            .map(|c| match c {
                '\n' | '\t' => c.to_string(),
                c if c.is_control() => c.escape_unicode().to_string(),
                c => c.to_string(),
            })
            .collect();
        NetFailure { said }
    }

    /// What to do next, from what git said: the usual ways a remote
    /// refuses a daemon that has no terminal.
    pub fn hint(&self) -> String {
        let said = self.said.to_ascii_lowercase();
        if said.contains("permission denied (publickey")
            || said.contains("read_passphrase")
            || said.contains("can't open /dev/tty")
        {
            "ssh found no key it could use without a prompt: load the key into your agent (`ssh-add ~/.ssh/KEY`; hpm uses the agent of the terminal that asks), or run the command with `hpmctl --no-daemon` in a terminal to type the key's passphrase".to_string()
        } else if said.contains("host key verification failed") {
            "ssh does not know this host's key, and hpm cannot answer ssh's question: connect once with `ssh HOST` (or add the key to `~/.ssh/known_hosts`)".to_string()
        } else if said.contains("could not read username")
            || said.contains("could not read password")
            || said.contains("authentication failed")
            || said.contains("terminal prompts disabled")
        {
            "git has no credential for this remote and hpm cannot prompt: store one (`git credential approve`, or a `credential.helper` such as `store`, `cache` or your keychain), or give a token in CI through a credential helper or `GIT_CONFIG_*` (README: Private repositories)".to_string()
        } else if said.contains("could not resolve hostname")
            || said.contains("could not resolve host")
            || said.contains("name or service not known")
        {
            "the host name does not resolve: check the URL, or the `Host` alias in `~/.ssh/config` (hpm runs ssh with your config)".to_string()
        } else if said.contains("not found on path") {
            "install git (hpm runs your `git` for every remote)".to_string()
        } else {
            "check the URL and that `git ls-remote URL` works in your terminal".to_string()
        }
    }
}

/// The `git` program on `PATH`.
pub fn git_program() -> Result<PathBuf, NetFailure> {
    which::which("git").map_err(|_| NetFailure::new("`git` was not found on PATH"))
}

/// `git ls-remote URL`: every ref the remote advertises with its object id
/// (`refs/tags/v1` and, for an annotated tag, `refs/tags/v1^{}` with the
/// commit it peels to), and `HEAD`.
pub fn ls_remote(caller: &Caller, url: &str) -> Result<Vec<(String, String)>, NetFailure> {
    ls_remote_within(caller, url, LIST_TIMEOUT)
}

/// [`ls_remote`], given up after `timeout`.
pub fn ls_remote_within(
    caller: &Caller,
    url: &str,
    timeout: Duration,
) -> Result<Vec<(String, String)>, NetFailure> {
    let options = RunOptions {
        timeout: Some(timeout),
        collect_stdout: true,
        ..options_for(caller)
    };
    let stdout = run(
        Path::new("/"),
        &["ls-remote", "--", url],
        &options,
        &mut |_| {},
        &CancelToken::new(),
    )?;
    Ok(stdout
        .lines()
        .filter_map(|line| {
            let (oid, name) = line.split_once('\t')?;
            Some((oid.to_string(), name.to_string()))
        })
        .collect())
}

/// `git --version` as the caller's jobs run it.
pub fn version(caller: &Caller) -> Result<String, NetFailure> {
    let options = RunOptions {
        collect_stdout: true,
        ..options_for(caller)
    };
    let stdout = run(
        Path::new("/"),
        &["--version"],
        &options,
        &mut |_| {},
        &CancelToken::new(),
    )?;
    Ok(stdout.trim().to_string())
}

/// `git clone URL TARGET` with progress: `on_progress` hears each percent
/// of the objects received that git draws.
pub fn clone(
    caller: &Caller,
    url: &str,
    branch: Option<&str>,
    target: &Path,
    on_progress: &mut dyn FnMut(Progress),
    cancel: &CancelToken,
) -> Result<(), NetFailure> {
    let target = target.to_string_lossy();
    let dir = Path::new("/");
    let options = options_for(caller);
    let mut on_line = |line: &str| {
        if let Some(progress) = Progress::parse(line) {
            on_progress(progress);
        }
    };
    let branch = branch.map(|branch| format!("--branch={branch}"));
    let mut args = vec!["clone", "--progress"];
    args.extend(branch.as_deref());
    args.extend(["--", url, target.as_ref()]);
    run(dir, &args, &options, &mut on_line, cancel).map(drop)
}

/// `git fetch URL REFSPECS` into the repository at `repository`.
pub fn fetch(
    caller: &Caller,
    repository: &Path,
    url: &str,
    refspecs: &[&str],
) -> Result<(), NetFailure> {
    let mut args = vec!["fetch", "--quiet", "--no-write-fetch-head", "--", url];
    args.extend_from_slice(refspecs);
    run(
        repository,
        &args,
        &options_for(caller),
        &mut |_| {},
        &CancelToken::new(),
    )
    .map(drop)
}

/// git's "Receiving objects:  40% (4/10)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub percent: usize,
    pub received: usize,
    pub total: usize,
}

impl Progress {
    fn parse(line: &str) -> Option<Progress> {
        let rest = line.trim().strip_prefix("Receiving objects:")?.trim();
        let (percent, rest) = rest.split_once('%')?;
        let counts = rest.trim().strip_prefix('(')?.split(')').next()?;
        let (received, total) = counts.split_once('/')?;
        Some(Progress {
            percent: percent.trim().parse().ok()?,
            received: received.trim().parse().ok()?,
            total: total.trim().parse().ok()?,
        })
    }
}

/// A progress line git draws over and over, or git's boilerplate after a
/// refused connection (not worth a failure's room).
fn is_progress(line: &str) -> bool {
    if line == "Please make sure you have the correct access rights"
        || line == "and the repository exists."
    {
        return true;
    }
    let line = line.trim_start_matches("remote: ");
    [
        "Receiving objects",
        "Resolving deltas",
        "Counting objects",
        "Compressing objects",
        "Enumerating objects",
        "Total ",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}

fn options_for(caller: &Caller) -> RunOptions {
    RunOptions {
        env: vec![("GIT_ALLOW_PROTOCOL".into(), ALLOWED_PROTOCOLS.into())],
        caller: caller.clone(),
        ..RunOptions::default()
    }
}

/// Runs `git ARGS` in `dir`; its stdout when [`RunOptions::collect_stdout`].
fn run(
    dir: &Path,
    args: &[&str],
    options: &RunOptions,
    on_line: &mut dyn FnMut(&str),
    cancel: &CancelToken,
) -> Result<String, NetFailure> {
    let git = git_program()?;
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    match process::run(&git, &args, dir, options, on_line, cancel) {
        Ok(finished) if finished.status.success() => Ok(finished.stdout),
        Ok(finished) => {
            let tail = &finished.stderr_tail;
            let said = tail[tail.len().saturating_sub(SAID)..]
                .iter()
                .filter(|line| !is_progress(line))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            Err(NetFailure::new(if said.is_empty() {
                format!("git exited with {}", finished.status)
            } else {
                said
            }))
        }
        Err(RunError::TimedOut(after)) => Err(NetFailure::new(format!(
            "git did not answer within {}s",
            after.as_secs()
        ))),
        Err(RunError::Cancelled) => Err(NetFailure::new("cancelled")),
        Err(error) => Err(NetFailure::new(format!("could not run git: {error:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_from_the_line_git_draws() {
        assert_eq!(
            Progress::parse("Receiving objects:  40% (4/10)"),
            Some(Progress {
                percent: 40,
                received: 4,
                total: 10
            })
        );
        assert_eq!(
            Progress::parse("Receiving objects: 100% (10/10), 1.2 KiB | 1.00 MiB/s, done."),
            Some(Progress {
                percent: 100,
                received: 10,
                total: 10
            })
        );
        assert_eq!(Progress::parse("Resolving deltas: 100% (1/1)"), None);
    }

    #[test]
    fn hints_follow_what_git_said() {
        let hint = |said: &str| NetFailure::new(said).hint();
        assert!(hint("git@h: Permission denied (publickey).").contains("ssh-add"));
        assert!(hint("Host key verification failed.").contains("known_hosts"));
        assert!(
            hint("fatal: could not read Username for 'https://h': terminal prompts disabled")
                .contains("credential")
        );
        assert!(
            hint("ssh: Could not resolve hostname gh-work: Name or service not known")
                .contains("~/.ssh/config")
        );
    }
}
