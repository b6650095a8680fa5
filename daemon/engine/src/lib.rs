//! hpm's engine: the IO shell around the pure core (`hpm-core`).
//!
//! [`workspace`] knows where a workspace's files are and [`inputs`] reads
//! them; [`git`] is everything asked of git (remote listing, clone, repo
//! state, the registry cache); [`process`] runs subprocesses (streamed,
//! in their own process group, cancellable) and [`uv`] is the uv backend on
//! top of it; [`validate`] checks a plan against the disk and the remotes;
//! [`transaction`] writes files so that a failure or a kill never leaves
//! them half-changed; [`ops`] are the operations the daemon and
//! `hpmctl --no-daemon` call, each returning a typed report.
//!
//! Architecture invariant: no async runtime, RPC or file watcher: callers
//! run these functions on a thread of their own.

pub mod caller;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod guard;
pub mod inputs;
pub mod logging;
pub mod ops;
pub mod process;
pub mod state;
pub mod transaction;
pub mod uv;
pub mod validate;
pub mod workspace;

pub use error::{Error, Result};
