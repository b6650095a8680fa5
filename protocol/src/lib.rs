//! What hpm's daemon and its clients agree on: error codes and the shapes of
//! the reports they exchange. No IO lives here.

/// hpm's own JSON-RPC error codes (the server-error range of JSON-RPC 2.0 is
/// left to the transport). Each error object carries a `data` payload with
/// the problems found (`file`, `line`, `column`, `package`, `message`, `hint`).
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
    /// A bug in hpm.
    pub const INTERNAL: i32 = 1099;
}
