//! `hpmd`, hpm's per-user daemon.
//!
//! [`cli`] is the executable's `main`.
//! [`server`] binds the socket and serves [`rpc`], the JSON-RPC handlers,
//! over the [`daemon`]'s shared state, each client's stream [`connection`]
//! counted while it lives (the daemon is not idle then); [`errors`] is the only place engine
//! errors become JSON-RPC codes. [`workspaces`]
//! opens a workspace on first use: its [`actor`] runs the reconcile queue
//! (one job at a time, with the daemon's [`noop`] memo), its [`live`] task
//! follows the [`hub`]'s file events and keeps the [`view`] that
//! [`status_cache`] answers `status` from. [`events`] numbers every event
//! and fans it out to subscribers; [`handle`] is how the pieces talk.
//!
//! Architecture invariant: one owner per piece of state. The actor owns
//! the queue and the memo; the live task owns the view (clones' git
//! states, the watch mode, the cached status); the hub owns the watches.
//! The live task hears of jobs from its actor over a channel of its own,
//! never from the lossy event bus.

pub mod actor;
pub mod cli;
pub mod connection;
pub mod daemon;
pub mod errors;
pub mod events;
pub mod handle;
pub mod hub;
pub mod live;
pub mod noop;
pub mod rpc;
pub mod server;
pub mod status_cache;
pub mod view;
pub mod workspaces;

/// Locks a `std` mutex that is held only for short reads and writes, never
/// across `.await`. A panic while it was held leaves nothing half-written,
/// so a poisoned lock is taken as it is.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
