//! The engine's error type.
//!
//! Every variant says what failed, on which file or package; what to do
//! next is data ([`Error::hint`]), and so are the problems behind an invalid
//! input ([`Error::problems`]). [`Error::kind`] says what sort of failure it
//! is, which decides the exit code. Only the daemon's RPC layer turns these
//! into JSON-RPC error objects.

use std::path::PathBuf;

use hpm_core::{Invalid, Problem};
use hpm_protocol::report::PlannedClone;
use hpm_protocol::ErrorKind;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no `hpm.yaml` found in `{}` or any parent folder", start.display())]
    NotAWorkspace { start: PathBuf },

    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The inputs are wrong: a parse error, an unknown package, a missing tag…
    #[error("{}", Invalid { problems: problems.clone() })]
    Invalid { problems: Vec<Problem> },

    /// A git remote or registry could not be reached; nothing was changed.
    #[error("{}", Invalid { problems: problems.clone() })]
    Network { problems: Vec<Problem> },

    #[error("another hpm is reconciling this workspace (pid {pid}); wait for it to finish")]
    Busy { pid: String },

    #[error("`{}` was changed by someone else while hpm was working; hpm left your version in place", path.display())]
    Conflict { path: PathBuf },

    /// An interrupted sync's journal cannot be read: hpm will not guess
    /// which bytes are the user's.
    #[error("the journal `{}` of an interrupted sync is damaged ({reason}); hpm did not touch your files", journal.display())]
    DamagedJournal {
        journal: PathBuf,
        folder: PathBuf,
        reason: String,
    },

    #[error("uv was not found{detail}")]
    UvMissing { detail: String },

    #[error("uv {found} is too old; hpm needs uv {required} or newer")]
    UvTooOld { found: String, required: String },

    #[error("`uv {command}` failed ({status}){after}\n{reason}")]
    UvFailed {
        command: String,
        status: String,
        reason: String,
        /// What became of the files, as `; ...` (a sync says what its
        /// rollback did).
        after: String,
    },

    #[error("the sync was cancelled; `pyproject.toml` and `uv.lock` were restored")]
    Cancelled,

    /// The container engine (`docker`, `podman`) failed or is missing.
    #[error("`{command}` failed ({status})\n{reason}")]
    EngineFailed {
        command: String,
        status: String,
        reason: String,
        hint: Option<String>,
    },

    #[error("the image build was cancelled; the engine's processes were stopped and no image was tagged")]
    BuildCancelled,

    /// The sync failed, and so did putting the files back: they may hold
    /// the new entries; the journal keeps the originals.
    #[error("{failed}\nand restoring `pyproject.toml` and `uv.lock` failed too: {error}; they may still hold the new entries, and the journal in `{}` keeps the originals", journal.display())]
    RollbackFailed {
        /// What failed first, in full (uv's own error included).
        failed: String,
        error: String,
        journal: PathBuf,
    },

    /// The sync succeeded, but recording it did not.
    #[error("the sync to {mode} mode succeeded (`pyproject.toml`, `uv.lock` and the environment are in {mode} mode), but hpm could not record it: {error}")]
    NotRecorded { mode: String, error: String },

    #[error("{}", render_clones(clones))]
    CloneNeeded { clones: Vec<PlannedClone> },

    /// A user's request that cannot be done as asked (`init` over an
    /// existing manifest, …).
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },

    #[error("{message}")]
    Internal { message: String },
}

fn render_clones(clones: &[PlannedClone]) -> String {
    let mut out = String::from("these dev packages are not cloned yet:");
    for clone in clones {
        out.push_str(&format!(
            "\n  {} from {} into {}",
            clone.package, clone.url, clone.path
        ));
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

    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// What sort of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotAWorkspace { .. }
            | Error::Invalid { .. }
            | Error::CloneNeeded { .. }
            | Error::Refused { .. } => ErrorKind::User,
            Error::Read { .. }
            | Error::Write { .. }
            | Error::RollbackFailed { .. }
            | Error::NotRecorded { .. } => ErrorKind::Io,
            Error::DamagedJournal { .. } => ErrorKind::Damaged,
            Error::Network { .. } => ErrorKind::Network,
            Error::Busy { .. } | Error::Conflict { .. } => ErrorKind::Conflict,
            Error::UvMissing { .. } | Error::UvTooOld { .. } | Error::UvFailed { .. } => {
                ErrorKind::Backend
            }
            Error::EngineFailed { .. } => ErrorKind::Backend,
            Error::Cancelled | Error::BuildCancelled => ErrorKind::Cancelled,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// What to do next, when the error itself says it; the hints of an
    /// invalid input are on its [`Error::problems`].
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::NotAWorkspace { .. } => "run `hpmctl init` in your project's root, or pass `--workspace DIR`".to_string(),
            Error::Write { source, .. } => write_hint(source).to_string(),
            Error::RollbackFailed { .. } => "free some disk space (or fix the permissions), then run any hpm command: it finishes the rollback first".to_string(),
            Error::NotRecorded { .. } => "fix the cause (disk space, permissions of `.hpm/`); the next `hpmctl sync` runs uv again and records it".to_string(),
            Error::Busy { .. } => "run the command again when it has finished".to_string(),
            Error::Conflict { .. } => "run the sync again to apply the plan on top of your edit".to_string(),
            Error::DamagedJournal { folder, .. } => format!(
                "compare `pyproject.toml` and `uv.lock` with the copies in `{}`, keep what you want, then delete that folder",
                folder.display()
            ),
            Error::UvMissing { .. } => "install it with `python3 -m pip install uv` (or see https://docs.astral.sh/uv/), or point `HPM_UV` at the binary".to_string(),
            Error::UvTooOld { .. } => "upgrade it with `python3 -m pip install -U uv` or `uv self update`".to_string(),
            Error::CloneNeeded { .. } => "run again with `--yes` to clone them".to_string(),
            Error::Refused { hint, .. } | Error::EngineFailed { hint, .. } => return hint.clone(),
            Error::Read { .. }
            | Error::Invalid { .. }
            | Error::Network { .. }
            | Error::UvFailed { .. }
            | Error::Cancelled
            | Error::BuildCancelled
            | Error::Internal { .. } => return None,
        })
    }

    /// hpm's error code for it ([`hpm_protocol::codes`]), the same over
    /// JSON-RPC and in `hpmctl --json`.
    pub fn code(&self) -> i32 {
        use hpm_protocol::codes;
        match self {
            Error::NotAWorkspace { .. } => codes::NOT_A_WORKSPACE,
            Error::Read { .. } | Error::Write { .. } => codes::IO,
            Error::Invalid { .. } | Error::Refused { .. } => codes::INVALID_INPUT,
            Error::Network { .. } => codes::NETWORK,
            Error::Busy { .. } => codes::BUSY,
            Error::Conflict { .. } => codes::CONFLICT,
            Error::DamagedJournal { .. } | Error::RollbackFailed { .. } => codes::INTERRUPTED,
            Error::NotRecorded { .. } => codes::IO,
            Error::UvMissing { .. } | Error::UvTooOld { .. } => codes::BACKEND_UNAVAILABLE,
            Error::UvFailed { .. } | Error::EngineFailed { .. } => codes::BACKEND_FAILED,
            Error::Cancelled | Error::BuildCancelled => codes::CANCELLED,
            Error::CloneNeeded { .. } => codes::CLONE_NEEDED,
            Error::Internal { .. } => codes::INTERNAL,
        }
    }

    /// What travels beside the message (a JSON-RPC error's `data`,
    /// `hpmctl --json`'s `error`): its kind, hint and problems, uv's own
    /// reason apart (a client that streamed uv's lines shows the message
    /// without them), and the clones it needs.
    pub fn data(&self) -> serde_json::Value {
        let mut data = serde_json::json!({
            "kind": self.kind(),
            "problems": self.problems(),
        });
        if let Some(hint) = self.hint() {
            data["hint"] = hint.into();
        }
        if let Error::UvFailed { reason, .. } = self {
            data["uv_reason"] = reason.clone().into();
        }
        if let Error::CloneNeeded { clones } = self {
            data["clones"] = serde_json::to_value(clones).unwrap_or_default();
        }
        data
    }

    /// The problems behind an invalid input or an unreachable remote,
    /// empty for other errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems } | Error::Network { problems } => problems,
            _ => &[],
        }
    }
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Error {
        Error::Invalid {
            problems: invalid.problems,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to do about a write that failed, by what the system said.
fn write_hint(error: &std::io::Error) -> &'static str {
    use nix::errno::Errno;
    let errno = error.raw_os_error().map(Errno::from_raw);
    match errno {
        Some(Errno::EISDIR) => "a folder is where the file should be: move it away, then run the command again",
        Some(Errno::ENOTDIR) => "a file is where a folder of the path should be: move it away, then run the command again",
        Some(Errno::ENAMETOOLONG) => "the name is too long for this file system: use a shorter one",
        Some(Errno::EACCES | Errno::EPERM | Errno::EROFS) => "check the permissions of the file and its folder, and that the file system is writable",
        Some(Errno::ENOSPC | Errno::EDQUOT | Errno::EFBIG) => "free some disk space (or raise the quota or file size limit), then run the command again",
        _ => "check the file's permissions and the free disk space",
    }
}
