//! The `git` program for what changes a repository on the user's behalf
//! (a release's commits, tags and pushes, so that their signing, hooks
//! and credential helpers apply; `clone --mirror` of a path for an image):
//! an argument vector through the shared process runner, with the
//! caller's environment, never a shell. What only talks to a remote is
//! [`super::net`].

use std::path::Path;

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::process::{self, CancelToken, RunOptions};

/// How many of git's last lines a failure keeps.
const SAID: usize = 12;

/// Runs `git ARGV` in `dir`. The outer error: git is missing (`needed_for`
/// says what hpm wanted it for) or could not run; the inner one: git ran
/// and failed, with its last lines, for the caller's message.
pub fn run(
    caller: &Caller,
    dir: &Path,
    argv: &[String],
    needed_for: &str,
) -> Result<std::result::Result<(), String>> {
    let git = which::which("git").map_err(|_| Error::Refused {
        message: format!("`git` was not found on PATH; {needed_for}"),
        hint: Some("install git".to_string()),
    })?;
    let mut lines = Vec::new();
    let finished = process::run(
        &git,
        argv,
        dir,
        &RunOptions {
            caller: caller.clone(),
            ..RunOptions::default()
        },
        &mut |line| lines.push(line.to_string()),
        &CancelToken::new(),
    )
    .map_err(|e| Error::internal(format!("running git in `{}`: {e:?}", dir.display())))?;
    if finished.status.success() {
        return Ok(Ok(()));
    }
    let start = lines.len().saturating_sub(SAID);
    Ok(Err(lines[start..].join("\n")))
}
