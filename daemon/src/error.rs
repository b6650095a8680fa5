//! The engine's error type.
//!
//! Every variant says what failed, on which file or package, and what to do
//! next (`hint`). The protocol crate turns these into JSON-RPC error objects
//! through [`Error::code`] and [`Error::problems`], and `hpmctl` prints them
//! with a `hint:` line.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// One thing wrong with the workspace's inputs, found while resolving or
/// validating. Several are reported together so the user fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file the problem is in, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// 1-based line and column in `file`, when the parser knows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The managed package the problem is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            file: None,
            line: None,
            column: None,
            package: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub fn for_package(mut self, package: impl Into<String>) -> Self {
        self.package = Some(package.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "`{}`", file.display())?;
            if let (Some(line), Some(column)) = (self.line, self.column) {
                write!(f, ":{line}:{column}")?;
            }
            write!(f, ": ")?;
        }
        if let Some(package) = &self.package {
            write!(f, "package `{package}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no `hpm.yaml` found in `{}` or any parent folder\n  hint: run `hpmctl init` in your project's root, or pass `--workspace DIR`", start.display())]
    NotAWorkspace { start: PathBuf },

    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write `{}`: {source}\n  hint: check the file's permissions and the free disk space; nothing was changed", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The inputs are wrong: a parse error, an unknown package, a missing tag…
    #[error("{}", render_problems(problems))]
    Invalid { problems: Vec<Problem> },

    #[error("another hpm is reconciling this workspace (pid {pid}); wait for it to finish")]
    Busy { pid: String },

    #[error("`{}` was changed by someone else while hpm was working; hpm left your version in place\n  hint: run the sync again to apply the plan on top of your edit", path.display())]
    Conflict { path: PathBuf },

    #[error("uv was not found{detail}\n  hint: install it with `python3 -m pip install uv` (or see https://docs.astral.sh/uv/), or point `HPM_UV` at the binary")]
    UvMissing { detail: String },

    #[error("uv {found} is too old; hpm needs uv {required} or newer\n  hint: upgrade it with `python3 -m pip install -U uv` or `uv self update`")]
    UvTooOld { found: String, required: String },

    #[error(
        "`uv {command}` failed ({status}); `pyproject.toml` and `uv.lock` were restored\n{reason}"
    )]
    UvFailed {
        command: String,
        status: String,
        reason: String,
    },

    #[error("the sync was cancelled; `pyproject.toml` and `uv.lock` were restored")]
    Cancelled,

    #[error("{}", render_clones(clones))]
    CloneNeeded {
        clones: Vec<crate::clone::PlannedClone>,
    },

    #[error("{message}")]
    Internal { message: String },
}

fn render_clones(clones: &[crate::clone::PlannedClone]) -> String {
    let mut out = String::from("these dev packages are not cloned yet:");
    for clone in clones {
        out.push_str(&format!(
            "\n  {} from {} into {}",
            clone.package, clone.url, clone.path
        ));
    }
    out.push_str("\n  hint: run again with `--yes` to clone them");
    out
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, problem) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&problem.to_string());
    }
    out
}

impl Error {
    pub fn invalid(problem: Problem) -> Self {
        Error::Invalid {
            problems: vec![problem],
        }
    }

    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read {
            path: path.into(),
            source,
        }
    }

    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }

    /// The stable JSON-RPC error code of this error (see `hpm_protocol::codes`).
    pub fn code(&self) -> i32 {
        use hpm_protocol::codes;
        match self {
            Error::NotAWorkspace { .. } => codes::NOT_A_WORKSPACE,
            Error::Read { .. } | Error::Write { .. } => codes::IO,
            Error::Invalid { .. } => codes::INVALID_INPUT,
            Error::Busy { .. } => codes::BUSY,
            Error::Conflict { .. } => codes::CONFLICT,
            Error::UvMissing { .. } | Error::UvTooOld { .. } => codes::BACKEND_UNAVAILABLE,
            Error::UvFailed { .. } => codes::BACKEND_FAILED,
            Error::Cancelled => codes::CANCELLED,
            Error::CloneNeeded { .. } => codes::CLONE_NEEDED,
            Error::Internal { .. } => codes::INTERNAL,
        }
    }

    /// The problems behind an [`Error::Invalid`], empty for other errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems } => problems,
            _ => &[],
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
