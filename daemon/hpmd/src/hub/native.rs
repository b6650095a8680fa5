//! The native (inotify) watcher's events, debounced here, and the sync
//! cookies that settle them.
//!
//! notify hands each event to [`Batches::on_event`] in the order the kernel
//! queued it on the hub's one inotify instance. The event is routed at once
//! to the workspaces watching its folder and held per workspace until that
//! workspace has been quiet for [`DEBOUNCE`] (at most [`MAX_DELAY`] after
//! its first held event), then sent as one [`Touched::Paths`].
//!
//! A sync cookie answers "has the watcher seen everything that happened
//! before now?" without reading any work tree (watchman's idea):
//! [`Batches::cookie`] creates a file in the daemon's private cookie folder,
//! which the same inotify instance watches. Its event is queued after every
//! event of a change made before it, so when it arrives the workspace's
//! held paths are sent at once, followed by [`Touched::Settled`]; the live
//! task handles its channel in order, so by the time it answers the settle
//! it has re-read everything that changed before the cookie.
//!
//! Every send to a workspace happens under the batches' lock: a flush and
//! a cookie cannot overtake each other.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use notify::event::CreateKind;
use notify::{Event, EventKind};
use tokio::sync::oneshot;

use super::{changes_content, route, Routes, Touched, DEBOUNCE};
use crate::lock;

/// The longest a workspace's change waits while its files keep changing
/// (a checkout, a build writing into a clone).
pub const MAX_DELAY: Duration = Duration::from_secs(1);

/// The held events of every natively watched workspace, and the settles
/// waiting for their cookie.
pub(super) struct Batches {
    /// A `std` mutex: taken by notify's thread and the flusher thread,
    /// never by async code across an `.await`.
    state: Mutex<State>,
    /// Wakes the flusher when the first event of a batch is held.
    held_one: Condvar,
    /// Folder → workspaces watching it, and each workspace's channel.
    routes: Arc<Mutex<Routes>>,
    /// The daemon's cookie folder (beside its socket), watched natively.
    cookies: Option<PathBuf>,
}

#[derive(Default)]
struct State {
    held: HashMap<PathBuf, Held>,
    /// Cookie number → the workspace that asked and its reply.
    waiting: HashMap<u64, (PathBuf, oneshot::Sender<()>)>,
    next_cookie: u64,
}

/// A workspace's paths waiting for quiet.
struct Held {
    paths: BTreeSet<PathBuf>,
    first: Instant,
    last: Instant,
}

impl Held {
    fn due_at(&self) -> Instant {
        (self.last + DEBOUNCE).min(self.first + MAX_DELAY)
    }
}

impl Batches {
    /// The batches of a hub routing by `routes`, with the flusher thread
    /// that sends each batch once it is due (it lives as long as the
    /// daemon).
    pub fn start(routes: Arc<Mutex<Routes>>, cookies: Option<PathBuf>) -> Arc<Batches> {
        let batches = Arc::new(Batches {
            state: Mutex::new(State::default()),
            held_one: Condvar::new(),
            routes,
            cookies,
        });
        let flusher = batches.clone();
        let started = std::thread::Builder::new()
            .name("hpmd-debounce".into())
            .spawn(move || flusher.flush_forever());
        if let Err(error) = started {
            tracing::error!(%error, "cannot start the watcher's debounce thread");
        }
        batches
    }

    /// The cookie folder, to be watched with the workspaces' folders.
    pub fn cookie_folder(&self) -> Option<&Path> {
        self.cookies.as_deref()
    }

    /// Creates a cookie for the workspace at `root`; the receiver answers
    /// once the workspace's live task has handled every change made before
    /// it. `None` when there is no cookie folder or the file cannot be
    /// made.
    pub fn cookie(&self, root: &Path) -> Option<oneshot::Receiver<()>> {
        let folder = self.cookies.as_ref()?;
        let (reply, answer) = oneshot::channel();
        let number = {
            let mut state = lock(&self.state);
            state.next_cookie += 1;
            let number = state.next_cookie;
            state.waiting.insert(number, (root.to_path_buf(), reply));
            number
        };
        let path = folder.join(number.to_string());
        if let Err(error) = std::fs::File::create(&path) {
            tracing::warn!(%error, cookie = %path.display(), "cannot create a sync cookie");
            lock(&self.state).waiting.remove(&number);
            return None;
        }
        // Its creation is what the watcher waits for; the file is not needed.
        let _ = std::fs::remove_file(&path);
        Some(answer)
    }

    /// One event from notify, in the kernel's order.
    pub fn on_event(&self, result: notify::Result<Event>) {
        let event = match result {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, "file watcher error; re-reading every workspace");
                return self.rescan_all();
            }
        };
        if event.need_rescan() {
            self.rescan_all();
        }
        if let Some(number) = self.cookie_number(&event) {
            return self.settle(number);
        }
        if !changes_content(&event.kind) || self.in_cookie_folder(&event) {
            return;
        }
        let mut by_workspace = HashMap::new();
        route(&lock(&self.routes), &event.paths, &mut by_workspace);
        if by_workspace.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut state = lock(&self.state);
        for (root, paths) in by_workspace {
            let held = state.held.entry(root).or_insert_with(|| Held {
                paths: BTreeSet::new(),
                first: now,
                last: now,
            });
            held.paths.extend(paths);
            held.last = now;
        }
        self.held_one.notify_one();
    }

    /// The number of the cookie whose creation `event` reports.
    fn cookie_number(&self, event: &Event) -> Option<u64> {
        if !matches!(
            event.kind,
            EventKind::Create(CreateKind::File | CreateKind::Any)
        ) {
            return None;
        }
        let folder = self.cookies.as_deref()?;
        let path = event.paths.first()?;
        if path.parent() != Some(folder) {
            return None;
        }
        path.file_name()?.to_str()?.parse().ok()
    }

    fn in_cookie_folder(&self, event: &Event) -> bool {
        self.cookies
            .as_deref()
            .is_some_and(|folder| event.paths.iter().any(|path| path.starts_with(folder)))
    }

    /// The cookie arrived: the workspace's held paths go now, then the
    /// reply through the same channel.
    fn settle(&self, number: u64) {
        let mut state = lock(&self.state);
        let Some((root, reply)) = state.waiting.remove(&number) else {
            return;
        };
        let held = state.held.remove(&root);
        let routes = lock(&self.routes);
        let Some(sender) = routes.senders.get(&root) else {
            return;
        };
        if let Some(held) = held {
            let _ = sender.send(Touched::Paths(held.paths.into_iter().collect()));
        }
        let _ = sender.send(Touched::Settled(reply));
    }

    fn rescan_all(&self) {
        let mut state = lock(&self.state);
        state.held.clear();
        // A cookie's event may be among those lost: its status reads
        // every clone instead of waiting.
        state.waiting.clear();
        let routes = lock(&self.routes);
        for sender in routes.senders.values() {
            let _ = sender.send(Touched::Rescan);
        }
    }

    /// Sends each batch once it is due; sleeps while nothing is held.
    fn flush_forever(&self) {
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            let next = state.held.values().map(Held::due_at).min();
            state = match next {
                None => wait(&self.held_one, state, None),
                Some(due) if due > now => wait(&self.held_one, state, Some(due - now)),
                Some(_) => {
                    self.send_due(&mut state, now);
                    state
                }
            };
        }
    }

    fn send_due(&self, state: &mut State, now: Instant) {
        let due: Vec<PathBuf> = state
            .held
            .iter()
            .filter(|(_, held)| held.due_at() <= now)
            .map(|(root, _)| root.clone())
            .collect();
        let routes = lock(&self.routes);
        for root in due {
            let Some(held) = state.held.remove(&root) else {
                continue;
            };
            if let Some(sender) = routes.senders.get(&root) {
                let _ = sender.send(Touched::Paths(held.paths.into_iter().collect()));
            }
        }
    }
}

/// Waits on `condvar` (for at most `timeout`), taking a poisoned lock as it
/// is, as [`lock`] does.
fn wait<'a>(
    condvar: &Condvar,
    guard: MutexGuard<'a, State>,
    timeout: Option<Duration>,
) -> MutexGuard<'a, State> {
    match timeout {
        None => condvar.wait(guard).unwrap_or_else(|e| e.into_inner()),
        Some(timeout) => match condvar.wait_timeout(guard, timeout) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        },
    }
}
