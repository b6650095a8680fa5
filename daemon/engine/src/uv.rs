//! The uv backend: finding uv, checking its version, and running it through
//! the shared [`crate::process`] runner (streamed lines, process group,
//! cancel, timeout).
//!
//! No command line goes through a shell: arguments are passed as a list.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::process::{self, CancelToken, RunError, RunOptions};

/// The oldest uv whose `[tool.uv.sources]` and flags hpm relies on.
pub const MIN_UV_VERSION: &str = "0.5.0";

/// Whether `path` is a script (it starts with `#!`), as the shims of pyenv,
/// asdf and other version managers are: each call starts a shell first.
pub fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut start))
        .is_ok_and(|()| &start == b"#!")
}

/// The binary of the `uv` Python package, if `python3` has it.
pub fn uv_from_python_package() -> Option<PathBuf> {
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

impl Uv {
    /// [`Uv::for_caller`] for this process.
    pub fn find() -> Result<Uv> {
        Uv::for_caller(&Caller::this_process())
    }

    /// The caller's `HPM_UV` (a client's travels with its request), else
    /// this process's (unlike the credentials a client sends, a uv the
    /// daemon was started with stays its uv for a client that names none),
    /// else `uv` on `PATH`, else the uv that `python3 -m pip install uv`
    /// put beside a Python whose scripts are not on `PATH`; checks the
    /// version.
    pub fn for_caller(caller: &Caller) -> Result<Uv> {
        let named = caller
            .var("HPM_UV")
            .or_else(|| std::env::var("HPM_UV").ok())
            .filter(|path| !path.is_empty());
        let path = match named {
            Some(path) => PathBuf::from(path),
            None => which::which("uv")
                .ok()
                .or_else(uv_from_python_package)
                .ok_or_else(|| Error::UvMissing {
                    detail: " on PATH".to_string(),
                })?,
        };
        Uv::find_at(&path)
    }

    /// The uv at `path`, its version checked.
    pub fn find_at(path: &Path) -> Result<Uv> {
        let path = path.to_path_buf();
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
        let minimum = pep440_rs::Version::from_str(MIN_UV_VERSION)
            .map_err(|e| Error::internal(e.to_string()))?;
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
        let command = args.join(" ");
        let mut options = options.clone();
        options.env.push(("UV_NO_PROGRESS".into(), "1".into()));
        match process::run(&self.path, args, dir, &options, on_line, cancel) {
            Ok(finished) if finished.status.success() => Ok(()),
            Ok(finished) => Err(Error::UvFailed {
                command,
                status: finished.status.to_string(),
                reason: reason(&finished.stderr_tail),
                after: String::new(),
            }),
            Err(RunError::Spawn(error)) => Err(Error::UvMissing {
                detail: format!(" at `{}` ({error})", self.path.display()),
            }),
            Err(RunError::PidFile(path, error)) => Err(Error::write(path, error)),
            Err(RunError::Wait(error)) => {
                Err(Error::internal(format!("waiting for uv failed: {error}")))
            }
            Err(RunError::Cancelled) => Err(Error::Cancelled),
            Err(RunError::TimedOut(after)) => Err(Error::UvFailed {
                command,
                status: format!("killed after {}s", after.as_secs()),
                reason: "uv did not finish in time".to_string(),
                after: String::new(),
            }),
        }
    }
}

/// Why uv failed, from the end of its stderr: from uv's first error line
/// (`error:`, or `×` of a resolver explanation) to the end, whole, so that
/// an explanation is never cut mid-sentence; at most [`REASON_LINES`]
/// lines, the last ones, when no error line is there.
fn reason(stderr_tail: &[String]) -> String {
    let start = stderr_tail.iter().position(|line| {
        let line = line.trim_start();
        line.starts_with("error:") || line.starts_with('×')
    });
    let from = start.unwrap_or_else(|| stderr_tail.len().saturating_sub(REASON_LINES));
    stderr_tail[from..].join("\n")
}

/// The lines of uv's stderr a failure without an error line keeps.
const REASON_LINES: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a dry run cut uv's resolver explanation off mid-sentence
    /// (only the last 40 lines were kept).
    #[test]
    fn the_reason_is_uvs_whole_error_and_never_starts_mid_sentence() {
        let mut lines: Vec<String> = (0..30).map(|i| format!("   Updating repo-{i}")).collect();
        lines.push("  × No solution found when resolving dependencies:".to_string());
        lines.push("  ╰─▶ Because plugin-a depends on plugin-b>=2 and".to_string());
        lines.extend((0..50).map(|i| format!("      clause {i} and")));
        lines.push("      your project requires plugin-b<2, we can conclude".to_string());
        let said = reason(&lines);
        assert!(said.starts_with("  × No solution found"), "{said}");
        assert!(said.ends_with("we can conclude"), "{said}");
        assert_eq!(said.lines().count(), 53);
        // Without an error line: the last lines.
        let noise: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        assert_eq!(reason(&noise).lines().count(), REASON_LINES);
    }
}
