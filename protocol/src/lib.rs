//! What hpm's daemon and its clients agree on: the JSON-RPC API (one
//! jsonrpsee trait, served by `hpmd`, called by `hpmctl` and editors), the
//! event stream, error codes, and where the socket lives. No IO here beyond
//! reading the environment for the socket path.
//!
//! Reports (`status`, `sync`) travel as JSON objects whose fields are
//! documented in the README; the engine owns their Rust types.

use std::path::PathBuf;

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};

/// The version both sides must share; a client meeting another replaces it.
pub const PROTOCOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// hpm's own JSON-RPC error codes (the standard ones, -32700 to -32603, come
/// from jsonrpsee). Each error object carries a `data` payload: `{"problems":
/// [{"file", "line", "column", "package", "message", "hint"}]}`.
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
    /// A bug in hpm.
    pub const INTERNAL: i32 = 1099;
}

/// The daemon's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: String,
    pub pid: u32,
    /// What this daemon can do (`sync`, `events`, `cancel`, …).
    pub capabilities: Vec<String>,
    /// Workspaces it has open.
    pub workspaces: Vec<String>,
}

/// A change to the environment: each is one reconcile of one workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

/// One event of the stream; `seq` rises by one per event, so a gap means
/// events were missed and the client should re-read `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// The workspace root the event is about.
    pub workspace: String,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventBody {
    /// A change was queued behind a running job; `merged` when it joined an
    /// equal change already waiting.
    JobQueued {
        change: Change,
        merged: bool,
    },
    JobStarted {
        job: u64,
        change: Change,
    },
    /// A phase of the job, or one line of uv's output.
    Progress {
        job: u64,
        line: String,
    },
    JobFinished {
        job: u64,
        report: serde_json::Value,
    },
    JobFailed {
        job: u64,
        code: i32,
        message: String,
    },
    /// The job failed after writing files; they were restored.
    RolledBack {
        job: u64,
    },
    /// A journal left by a killed run was rolled back.
    Recovered {
        restored: Vec<String>,
        kept_user_edits: Vec<String>,
    },
    /// Something `status` shows changed (a sync ended, an input was saved,
    /// a clone moved); re-read it.
    StatusChanged,
    /// `hpm.yaml` or a registry entry is wrong; the environment was left as
    /// it was. `problems` name the file, line and column.
    ManifestInvalid {
        message: String,
        problems: serde_json::Value,
    },
    /// The inputs are valid again after a `manifest_invalid`.
    ManifestValid,
    /// A package's effective mode changed (a switch, `use`, `reset`, `dev`).
    PackageModeChanged {
        package: String,
        from: Option<String>,
        to: String,
    },
    /// A dev clone's git state changed without any command: `changed` lists
    /// which of `dirty`, `branch`, `head`, `ahead`, `behind` moved; `repo`
    /// is the new state (as in `status`).
    RepoChanged {
        package: String,
        changed: Vec<String>,
        repo: serde_json::Value,
    },
    /// `registry update` fetched a git registry; `report` lists the packages
    /// added and removed and the refs that moved.
    RegistryUpdated {
        report: serde_json::Value,
    },
    /// The OS watch limit was hit; the workspace is polled instead.
    WatchDegraded {
        message: String,
    },
}

/// The API. Every method that takes `workspace` takes the root folder
/// holding `hpm.yaml` (absolute).
#[rpc(server, client, namespace = "hpm")]
pub trait HpmApi {
    /// Version and capability handshake.
    #[method(name = "hello")]
    async fn hello(&self) -> Result<Hello, ErrorObjectOwned>;

    /// The workspace's status (see the README for the fields). The daemon
    /// answers from its live view, which learns of a change in a dev clone
    /// when its watcher reports it (after a debounce of about 100 ms, with a
    /// `repo_changed` event); `fresh: true` also checks each dev clone's git
    /// files, so that a read right after a `git commit` sees it (`hpmctl
    /// status` asks for this). The report travels as it was serialized
    /// when computed, so a cached one costs no re-encoding.
    #[method(name = "status")]
    async fn status(
        &self,
        workspace: PathBuf,
        fresh: Option<bool>,
    ) -> Result<Box<serde_json::value::RawValue>, ErrorObjectOwned>;

    /// Queues a change and answers with the sync report when it is done. An
    /// equal change already queued is merged with this one.
    #[method(name = "apply")]
    async fn apply(
        &self,
        workspace: PathBuf,
        change: Change,
    ) -> Result<serde_json::Value, ErrorObjectOwned>;

    /// Cancels the workspace's running job (uv is killed, files restored)
    /// and drops the queued ones. Answers whether a job was running.
    #[method(name = "cancel")]
    async fn cancel(&self, workspace: PathBuf) -> Result<bool, ErrorObjectOwned>;

    /// CI's checks: manifest valid, pyproject matches the plan, lock current,
    /// no local path source outside dev.
    #[method(name = "check")]
    async fn check(&self, workspace: PathBuf) -> Result<serde_json::Value, ErrorObjectOwned>;

    /// Fetches the workspace's git registries, moves their pins to what each
    /// `ref` names now, and answers what changed (`[{url, from, to, added,
    /// removed, moved}]`). With auto-sync on, a changed plan then resyncs.
    #[method(name = "registryUpdate")]
    async fn registry_update(
        &self,
        workspace: PathBuf,
    ) -> Result<serde_json::Value, ErrorObjectOwned>;

    /// Stops the daemon after the job in flight finishes or rolls back.
    #[method(name = "shutdown")]
    async fn shutdown(&self) -> Result<(), ErrorObjectOwned>;

    /// Every event of every workspace (clients filter by `workspace`).
    #[subscription(name = "subscribeEvents" => "event", unsubscribe = "unsubscribeEvents", item = Event)]
    async fn subscribe_events(&self) -> SubscriptionResult;
}

/// The socket path: `HPM_SOCKET`, else `hpm/hpmd.sock` in the user runtime
/// dir (`$XDG_RUNTIME_DIR`), else in a per-user folder under the temp dir.
pub fn socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os("HPM_SOCKET") {
        return PathBuf::from(path);
    }
    let base = directories::BaseDirs::new()
        .and_then(|dirs| dirs.runtime_dir().map(|dir| dir.join("hpm")))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hpm-{}", user_id_string())));
    base.join("hpmd.sock")
}

fn user_id_string() -> String {
    std::env::var("USER").unwrap_or_else(|_| "user".to_string())
}
