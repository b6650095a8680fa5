//! [`Daemon`]: what the server and every RPC handler share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::events::EventBus;
use crate::hub::WatchHub;
use crate::workspaces::Workspaces;

/// The daemon's shared state; the RPC handlers hold an `Arc` of it.
#[derive(Debug)]
pub struct Daemon {
    pub(crate) workspaces: Workspaces,
    pub(crate) events: Arc<EventBus>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) connections: AtomicUsize,
    /// When the last connection closed or job ended. A `std` mutex: held
    /// only to read or replace the instant.
    last_activity: Mutex<Instant>,
}

impl Daemon {
    pub fn new(shutdown: CancellationToken, hub: Arc<WatchHub>) -> Arc<Daemon> {
        let events = Arc::new(EventBus::default());
        Arc::new(Daemon {
            workspaces: Workspaces::new(events.clone(), hub),
            events,
            shutdown,
            connections: AtomicUsize::new(0),
            last_activity: Mutex::new(Instant::now()),
        })
    }

    pub(crate) fn touch(&self) {
        if let Ok(mut last) = self.last_activity.lock() {
            *last = Instant::now();
        }
    }

    pub(crate) fn idle_for(&self) -> Duration {
        if self.connections.load(Ordering::SeqCst) > 0 || self.workspaces.any_busy() {
            self.touch();
            return Duration::ZERO;
        }
        self.last_activity
            .lock()
            .map(|last| last.elapsed())
            .unwrap_or_default()
    }
}
