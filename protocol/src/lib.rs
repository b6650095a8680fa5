//! What hpm's daemon and its clients agree on: typed reports ([`report`],
//! [`release`]) and events ([`event`]), the changes a client asks for ([`Change`]),
//! error codes and kinds ([`codes`], [`ErrorKind`]), and, with the `rpc`
//! feature, the JSON-RPC API (one jsonrpsee trait, served by `hpmd`, called
//! by `hpmctl` and editors) and where the socket lives ([`rpc`]).
//!
//! Architecture invariant: every type here is plain serde data, shared by
//! the engine (which produces reports), the daemon, the client and the
//! tests; JSON exists only at the edges. No IO beyond reading the
//! environment for the socket path.

pub mod env;
pub mod event;
pub mod release;
pub mod report;
#[cfg(feature = "rpc")]
pub mod rpc;
pub mod schema;

use serde::{Deserialize, Serialize};

pub use env::ClientEnv;
pub use event::{Event, EventBody, RepoField};
pub use hpm_core::Problem;
#[cfg(feature = "rpc")]
pub use rpc::{socket_path, HpmApiClient, HpmApiServer};

/// The version both sides must share; a client meeting another replaces it.
pub const PROTOCOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `hpmctl --version` and `hpmd --version` print: the version and the
/// git commit the binaries were built from (`protocol/build.rs`).
pub const BUILD_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("HPM_GIT_COMMIT"), ")");

/// hpm's own JSON-RPC error codes (the standard ones, -32700 to -32603, come
/// from jsonrpsee). Each error object carries a `data` payload: `{"kind",
/// "hint", "problems": [{"file", "line", "column", "package", "message",
/// "hint"}]}`.
pub mod codes {
    /// No `hpm.yaml` in the folder or its parents.
    pub const NOT_A_WORKSPACE: i32 = 1001;
    /// The manifest, a registry entry or `pyproject.toml` is wrong.
    pub const INVALID_INPUT: i32 = 1002;
    /// A file could not be read or written.
    pub const IO: i32 = 1003;
    /// Another reconcile holds the workspace lock.
    pub const BUSY: i32 = 1004;
    /// A file changed under hpm's feet; the user's version was kept.
    pub const CONFLICT: i32 = 1005;
    /// uv is missing or too old.
    pub const BACKEND_UNAVAILABLE: i32 = 1006;
    /// uv ran and failed; files were restored.
    pub const BACKEND_FAILED: i32 = 1007;
    /// The job was cancelled; files were restored.
    pub const CANCELLED: i32 = 1008;
    /// A dev package's folder is missing; call again with `clone: true`.
    pub const CLONE_NEEDED: i32 = 1009;
    /// A git remote or registry could not be reached; nothing was changed.
    pub const NETWORK: i32 = 1010;
    /// An interrupted sync left a journal hpm cannot read; a person must look.
    pub const INTERRUPTED: i32 = 1011;
    /// A bug in hpm.
    pub const INTERNAL: i32 = 1099;
}

/// What kind of failure an error is: it decides the exit code (internal:
/// 2, the rest: 1) and how a client words it; `--json` prints it as
/// `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The user's inputs or files: fix them and run again.
    User,
    /// A remote could not be reached: check the network and run again.
    Network,
    /// Someone else changed a file or holds the workspace: wait or retry.
    Conflict,
    /// uv (or the container engine) is missing, too old, or failed.
    Backend,
    /// A file could not be read or written (disk space, permissions, a
    /// folder in the way), including while putting files back or recording
    /// a sync: the machine's, not the inputs'.
    Io,
    /// hpm's own record of an interrupted run (its journal) cannot be
    /// trusted: a person compares the files and its copies.
    Damaged,
    /// The user cancelled.
    Cancelled,
    /// A bug in hpm.
    Internal,
}

/// The daemon's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Hello {
    pub version: String,
    pub pid: u32,
    /// What this daemon can do (`sync`, `events`, `cancel`, …).
    pub capabilities: Vec<String>,
    /// Workspaces it has open.
    pub workspaces: Vec<String>,
    /// Workspaces with a job running now: a client of another version
    /// waits for them before it replaces the daemon.
    #[serde(default)]
    pub busy: Vec<String>,
}

/// A change to the environment: each is one reconcile of one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Reconcile; `mode` applies to this run only.
    Sync {
        #[serde(default)]
        mode: Option<String>,
        #[serde(default)]
        force: bool,
    },
    /// Set the workspace mode and reconcile.
    Switch { mode: String },
    /// Set (or with `mode: null`, drop) per-package modes and reconcile.
    Use {
        packages: Vec<String>,
        mode: Option<String>,
        /// Clone a dev package whose folder is missing from the registry's repo.
        #[serde(default)]
        clone: bool,
    },
    /// Select (or deselect) a group's option in `hpm.yaml` and reconcile.
    Group {
        group: String,
        option: String,
        select: bool,
    },
    /// Write a registry entry for a package (unless it has one) and add it
    /// to `hpm.yaml` (or to a group's options), then reconcile unless
    /// `sync` is false. Refs are checked against the remote first; a mode
    /// without one gets the remote's highest tag of its kind, said in the
    /// report's notes.
    Add {
        #[serde(flatten)]
        spec: AddPackage,
        #[serde(default = "yes")]
        sync: bool,
        /// Clone the package when its dev folder is missing.
        #[serde(default)]
        clone: bool,
    },
    /// Take a package out of `hpm.yaml` (its registry entry file too with
    /// `registry_too`), then reconcile unless `sync` is false.
    Remove {
        #[serde(flatten)]
        spec: RemovePackage,
        #[serde(default = "yes")]
        sync: bool,
    },
}

/// The package an `add` writes: its name and, each optional, where it
/// comes from in each mode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddPackage {
    pub package: String,
    /// Its git repository (also the clone URL for dev).
    #[serde(default)]
    pub git: Option<String>,
    /// The prod ref (default: the remote's highest stable tag).
    #[serde(default)]
    pub prod: Option<String>,
    /// The staging ref (default: the remote's highest `.devN` tag).
    #[serde(default)]
    pub staging: Option<String>,
    /// The dev folder (default: `packages_dir/NAME`).
    #[serde(default)]
    pub dev: Option<String>,
    /// Prod from PyPI at this version instead of a git ref.
    #[serde(default)]
    pub pypi: Option<String>,
    /// Add it as an option of this group instead of to `packages:`.
    #[serde(default)]
    pub group: Option<String>,
    /// The registry folder to write the entry into (default: the
    /// manifest's first folder registry).
    #[serde(default)]
    pub registry: Option<String>,
}

/// The package a `remove` takes out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemovePackage {
    pub package: String,
    /// Delete its registry entry file too.
    #[serde(default)]
    pub registry_too: bool,
}

fn yes() -> bool {
    true
}
