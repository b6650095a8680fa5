//! The daemon's one file watcher, shared by every open workspace.
//!
//! A single inotify instance (notify) watches folders, never recursively: each workspace names the folders it
//! cares about (its root, registry folders, each dev clone's work-tree
//! folders and git folders), so watches grow with folders, not with files,
//! and a folder two workspaces share is watched once. Watching folders rather
//! than files is what lets editors that save by writing a temp file and
//! renaming it (vim, VS Code, JetBrains) be seen.
//!
//! Events are routed by path to the workspaces that watch the event's
//! folder and debounced per workspace ([`native`], which also settles the
//! watcher for a fresh `status` with a sync cookie). When the OS watch limit is hit (or `max_watches`, the
//! daemon's own cap, is reached), the workspace that asked is moved to a
//! polling watcher instead of going blind, and the caller gets a warning
//! naming the inotify sysctl that lifts the limit.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hpm_protocol::report::WatchMode;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, Debouncer, NoCache};
use tokio::sync::{mpsc, oneshot};

use crate::lock;

mod native;
use native::Batches;

/// How long a path must be quiet before its events are delivered.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// How often the fallback watcher looks at its folders.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What the hub tells a workspace.
#[derive(Debug)]
pub enum Touched {
    /// These paths changed (files or folders, in watched folders).
    Paths(Vec<PathBuf>),
    /// Events may have been lost (queue overflow, watcher error): re-read
    /// everything.
    Rescan,
    /// A sync cookie arrived: every change made before it was sent before
    /// this. Answer once those are handled.
    Settled(oneshot::Sender<()>),
}

/// Watches folders for every workspace and routes their events.
pub struct WatchHub {
    /// A `std` mutex: held only while adding or removing watches, never
    /// across `.await`.
    inner: Mutex<HubInner>,
    /// Folder → roots of the workspaces watching it; read by the debouncer
    /// threads to route events, so kept apart from `inner`.
    routes: Arc<Mutex<Routes>>,
    /// The native watcher's held events and sync cookies.
    batches: Arc<Batches>,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub").finish_non_exhaustive()
    }
}

#[derive(Default)]
pub(crate) struct Routes {
    owners: HashMap<PathBuf, BTreeSet<PathBuf>>,
    senders: HashMap<PathBuf, mpsc::UnboundedSender<Touched>>,
}

struct HubInner {
    native: Option<RecommendedWatcher>,
    /// Created on the first fallback.
    poll: Option<Debouncer<PollWatcher, NoCache>>,
    /// Per workspace root: its folders and how they are watched.
    workspaces: HashMap<PathBuf, Registration>,
    /// Folder → how many workspaces watch it natively / by polling.
    native_count: HashMap<PathBuf, usize>,
    poll_count: HashMap<PathBuf, usize>,
    /// The daemon's own cap on native watches (`HPMD_MAX_WATCHES`).
    max_watches: Option<usize>,
    /// The routing table, for the polling watcher started later.
    routes: Arc<Mutex<Routes>>,
}

struct Registration {
    folders: BTreeSet<PathBuf>,
    mode: WatchMode,
}

impl WatchHub {
    /// A hub with at most `max_watches` native watches (`None`: the OS
    /// limit), settling with cookies made in `cookies` (a private folder of
    /// the daemon's; `None`: a fresh status re-reads every clone).
    pub fn new(max_watches: Option<usize>, cookies: Option<PathBuf>) -> Arc<WatchHub> {
        let routes = Arc::new(Mutex::new(Routes::default()));
        let batches = Batches::start(routes.clone(), cookies);
        let handler = batches.clone();
        let native = RecommendedWatcher::new(
            move |event| handler.on_event(event),
            notify::Config::default(),
        );
        let native = match native {
            Ok(mut native) => {
                if let Some(folder) = batches.cookie_folder() {
                    if let Err(error) = native.watch(folder, RecursiveMode::NonRecursive) {
                        tracing::warn!(%error, folder = %folder.display(), "cannot watch the cookie folder; a fresh status re-reads every clone");
                    }
                }
                Some(native)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot start the file watcher; workspaces will be polled");
                None
            }
        };
        Arc::new(WatchHub {
            inner: Mutex::new(HubInner {
                native,
                poll: None,
                workspaces: HashMap::new(),
                native_count: HashMap::new(),
                poll_count: HashMap::new(),
                max_watches,
                routes: routes.clone(),
            }),
            routes,
            batches,
        })
    }

    /// Settles the watcher for the workspace at `root`: the answer comes
    /// once its live task has handled every change made before this call
    /// ([`native`]). `None` when it cannot: the workspace is not watched
    /// natively, or there is no cookie folder.
    pub fn settle(&self, root: &Path) -> Option<oneshot::Receiver<()>> {
        {
            let inner = lock(&self.inner);
            let native = inner.native.is_some()
                && inner
                    .workspaces
                    .get(root)
                    .is_some_and(|registration| registration.mode == WatchMode::Native);
            if !native {
                return None;
            }
        }
        self.batches.cookie(root)
    }

    /// Makes `folders` the set watched for the workspace at `root`, whose
    /// events go to `sender`. Answers how it is watched and, when it had to
    /// fall back to polling, a warning saying why and how to fix it.
    pub fn set_watches(
        &self,
        root: &Path,
        folders: BTreeSet<PathBuf>,
        sender: mpsc::UnboundedSender<Touched>,
    ) -> (WatchMode, Option<String>) {
        let mut inner = lock(&self.inner);
        let old = inner
            .workspaces
            .remove(root)
            .unwrap_or_else(|| Registration {
                folders: BTreeSet::new(),
                mode: WatchMode::Native,
            });
        {
            let mut routes = lock(&self.routes);
            routes.senders.insert(root.to_path_buf(), sender);
            for folder in old.folders.difference(&folders) {
                if let Some(owners) = routes.owners.get_mut(folder) {
                    owners.remove(root);
                    if owners.is_empty() {
                        routes.owners.remove(folder);
                    }
                }
            }
            for folder in &folders {
                routes
                    .owners
                    .entry(folder.clone())
                    .or_default()
                    .insert(root.to_path_buf());
            }
        }
        let removed: Vec<PathBuf> = old.folders.difference(&folders).cloned().collect();
        let added: Vec<PathBuf> = folders.difference(&old.folders).cloned().collect();
        let mut warning = None;
        let mode = match old.mode {
            WatchMode::Polling => {
                inner.unwatch_polled(&removed);
                inner.watch_polled(&added);
                WatchMode::Polling
            }
            WatchMode::Native => {
                inner.unwatch_native(&removed);
                match inner.watch_native(&added) {
                    Ok(()) => WatchMode::Native,
                    Err(reason) => {
                        // Move the whole workspace to polling: half a
                        // watched workspace would miss changes silently.
                        let kept: Vec<PathBuf> =
                            old.folders.intersection(&folders).cloned().collect();
                        inner.unwatch_native(&kept);
                        inner.watch_polled(&folders.iter().cloned().collect::<Vec<_>>());
                        warning = Some(format!(
                            "{reason}; `{}` is polled every {} ms instead\nhint: raise the limit with `sudo sysctl fs.inotify.max_user_watches=524288` (and make it permanent in /etc/sysctl.d/)",
                            root.display(),
                            POLL_INTERVAL.as_millis()
                        ));
                        WatchMode::Polling
                    }
                }
            }
        };
        inner
            .workspaces
            .insert(root.to_path_buf(), Registration { folders, mode });
        (mode, warning)
    }

    /// Releases every watch of the workspace at `root` (it was closed).
    pub fn forget(&self, root: &Path) {
        let mut inner = lock(&self.inner);
        let Some(old) = inner.workspaces.remove(root) else {
            return;
        };
        {
            let mut routes = lock(&self.routes);
            routes.senders.remove(root);
            for folder in &old.folders {
                if let Some(owners) = routes.owners.get_mut(folder) {
                    owners.remove(root);
                    if owners.is_empty() {
                        routes.owners.remove(folder);
                    }
                }
            }
        }
        let folders: Vec<PathBuf> = old.folders.into_iter().collect();
        match old.mode {
            WatchMode::Native => inner.unwatch_native(&folders),
            WatchMode::Polling => inner.unwatch_polled(&folders),
        }
    }

    /// How many native (inotify) watches the hub holds.
    pub fn native_watches(&self) -> usize {
        lock(&self.inner).native_count.len()
    }
}

impl HubInner {
    /// Adds native watches; on the first that the limit refuses, undoes the
    /// ones this call added and says why.
    fn watch_native(&mut self, folders: &[PathBuf]) -> Result<(), String> {
        let mut added = Vec::new();
        for folder in folders {
            if let Some(count) = self.native_count.get_mut(folder) {
                *count += 1;
                added.push(folder.clone());
                continue;
            }
            let result = if self
                .max_watches
                .is_some_and(|max| self.native_count.len() >= max)
            {
                Err(format!(
                    "the daemon's watch limit ({} folders, HPMD_MAX_WATCHES) is reached",
                    self.max_watches.unwrap_or_default()
                ))
            } else {
                match self.native.as_mut() {
                    Some(native) => match native.watch(folder, RecursiveMode::NonRecursive) {
                        Ok(()) => Ok(()),
                        Err(error) if is_limit(&error) => {
                            Err("the OS limit on inotify watches is reached".to_string())
                        }
                        // A folder that vanished meanwhile: the next re-read
                        // notices; nothing to watch.
                        Err(error) => {
                            tracing::debug!(%error, folder = %folder.display(), "not watched");
                            continue;
                        }
                    },
                    None => Err("the file watcher could not start".to_string()),
                }
            };
            match result {
                Ok(()) => {
                    self.native_count.insert(folder.clone(), 1);
                    added.push(folder.clone());
                }
                Err(reason) => {
                    self.unwatch_native(&added);
                    return Err(reason);
                }
            }
        }
        Ok(())
    }

    fn unwatch_native(&mut self, folders: &[PathBuf]) {
        for folder in folders {
            let Some(count) = self.native_count.get_mut(folder) else {
                continue;
            };
            *count -= 1;
            if *count == 0 {
                self.native_count.remove(folder);
                if let Some(native) = self.native.as_mut() {
                    let _ = native.unwatch(folder);
                }
            }
        }
    }

    fn watch_polled(&mut self, folders: &[PathBuf]) {
        if self.poll.is_none() {
            // Contents compared too: the poller keeps mtimes in whole
            // seconds, so a save in the second it last looked (an editor's
            // second save, a checkout then an edit) would go unseen.
            let config = notify::Config::default()
                .with_poll_interval(POLL_INTERVAL)
                .with_compare_contents(true);
            self.poll = new_debouncer_opt::<_, PollWatcher, NoCache>(
                DEBOUNCE,
                None,
                router(self.routes.clone()),
                NoCache,
                config,
            )
            .map_err(|error| tracing::error!(%error, "cannot start the polling watcher"))
            .ok();
        }
        for folder in folders {
            let count = self.poll_count.entry(folder.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                if let Some(poll) = self.poll.as_mut() {
                    let _ = poll.watch(folder, RecursiveMode::NonRecursive);
                }
            }
        }
    }

    fn unwatch_polled(&mut self, folders: &[PathBuf]) {
        for folder in folders {
            let Some(count) = self.poll_count.get_mut(folder) else {
                continue;
            };
            *count -= 1;
            if *count == 0 {
                self.poll_count.remove(folder);
                if let Some(poll) = self.poll.as_mut() {
                    let _ = poll.unwatch(folder);
                }
            }
        }
    }
}

/// Adds each of `paths` to the workspaces it belongs to. A non-recursive
/// watch reports a folder's entries and the folder itself: the first
/// watched ancestor owns the path.
fn route(routes: &Routes, paths: &[PathBuf], by_workspace: &mut HashMap<PathBuf, Vec<PathBuf>>) {
    for path in paths {
        let owners = path
            .ancestors()
            .find_map(|folder| routes.owners.get(folder));
        for root in owners.into_iter().flatten() {
            by_workspace
                .entry(root.clone())
                .or_default()
                .push(path.clone());
        }
    }
}

/// Sends each of the polling watcher's debounced events to the workspaces
/// watching its folder.
fn router(routes: Arc<Mutex<Routes>>) -> impl FnMut(DebounceEventResult) + Send + 'static {
    move |result: DebounceEventResult| {
        let routes = lock(&routes);
        match result {
            Ok(events) => {
                let mut by_workspace = HashMap::new();
                let mut rescan = false;
                for event in &events {
                    if event.need_rescan() {
                        rescan = true;
                    }
                    if changes_content(&event.kind) {
                        route(&routes, &event.paths, &mut by_workspace);
                    }
                }
                if rescan {
                    for sender in routes.senders.values() {
                        let _ = sender.send(Touched::Rescan);
                    }
                }
                for (root, paths) in by_workspace {
                    if let Some(sender) = routes.senders.get(&root) {
                        let _ = sender.send(Touched::Paths(paths));
                    }
                }
            }
            Err(errors) => {
                for error in &errors {
                    tracing::warn!(%error, "file watcher error; re-reading every workspace");
                }
                for sender in routes.senders.values() {
                    let _ = sender.send(Touched::Rescan);
                }
            }
        }
    }
}

/// Whether an event can mean changed content. inotify also reports every
/// open of a file in a watched folder (notify always asks for `IN_OPEN`):
/// routing those would make each read, the daemon's own included, look
/// like a change, and re-reading would loop.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn is_limit(error: &notify::Error) -> bool {
    match &error.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(nix::libc::ENOSPC),
        _ => false,
    }
}
