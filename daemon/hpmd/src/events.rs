//! The daemon's event stream: every state change a client or editor would
//! show, numbered so that a subscriber can tell when it missed some.

use std::path::Path;
use std::sync::Mutex;

use hpm_protocol::{Event, EventBody};
use tokio::sync::broadcast;

/// How many events a slow subscriber may fall behind before it sees a gap.
const BACKLOG: usize = 4096;

/// Fan-out of events to every subscriber.
#[derive(Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    /// The last sequence number given out. A `std` mutex is fine: it is held
    /// only to number and send one event, never across an `.await`, and it
    /// keeps numbers in the order subscribers receive them.
    seq: Mutex<u64>,
}

impl Default for EventBus {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        EventBus {
            sender,
            seq: Mutex::new(0),
        }
    }
}

impl EventBus {
    pub fn emit(&self, workspace: &Path, body: EventBody) {
        let mut seq = match self.seq.lock() {
            Ok(seq) => seq,
            Err(poisoned) => poisoned.into_inner(),
        };
        *seq += 1;
        // No subscriber is not an error: events are for whoever listens.
        let _ = self.sender.send(Event {
            seq: *seq,
            workspace: workspace.display().to_string(),
            body,
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
