//! hpm's engine and daemon.
//!
//! The pure core turns inputs into a plan and a new `pyproject.toml`:
//! [`manifest`] and [`registry`] parse, [`plan`] resolves, [`pyproject`]
//! transforms. The shell around it does the IO: [`workspace`] finds and reads
//! files, [`validate`] asks the disk and git remotes, [`transaction`] writes
//! files so that a failure or a kill never leaves them half-changed, [`uv`]
//! runs the backend, and [`engine`] ties a reconcile together.

pub mod actor;
pub mod check;
pub mod clone;
pub mod engine;
pub mod error;
pub mod events;
pub mod fsutil;
pub mod git_registry;
pub mod hub;
pub mod live;
pub mod manifest;
pub mod manifest_edit;
pub mod plan;
pub mod pyproject;
pub mod registry;
pub mod server;
pub mod state;
pub mod status;
pub mod transaction;
pub mod uv;
pub mod validate;
pub mod workspace;

pub use error::{Error, Problem, Result};

/// Locks a `std` mutex that is held only for short reads and writes, never
/// across `.await`. A panic while it was held leaves nothing half-written,
/// so a poisoned lock is taken as it is.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
