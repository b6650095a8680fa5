//! A workspace kept current without being asked: one task per open
//! workspace listens to the [`WatchHub`], re-reads what changed and tells
//! the world.
//!
//! - A saved input (`hpm.yaml`, a registry entry, a dev clone's
//!   `pyproject.toml`) is re-read and re-validated. Invalid: a
//!   `manifest_invalid` event with file, line and column, and the
//!   environment stays as it was. Valid and the plan's fingerprint differs
//!   from the last good sync: with `settings.auto_sync` (the default), a
//!   reconcile is queued on the workspace's actor. An edit of the core's own
//!   `pyproject.toml` is the user's business: it emits `status_changed`
//!   (`status` shows `in_sync: false`) and re-asserts nothing.
//! - Saves are coalesced: a change after a quiet second syncs at once
//!   (after the hub's debounce); changes that follow within a second of the
//!   previous one wait until the burst settles, then sync once. A burst of
//!   saves thus costs at most two reconciles.
//! - A write hpm made itself is recognised by its content hash and ignored.
//! - A dev clone's git state (branch, head, dirty, ahead, behind) is
//!   refreshed through git2 only for the clone whose files changed, after
//!   any `.git/index.lock` is gone, and each change is a `repo_changed`
//!   event. The states are cached for `status`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hpm_core::manifest::RegistryLocation;
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_engine::fsutil::{is_own_write, read_optional, sha256_hex};
use hpm_engine::git::repo::{git_stamp, repo_state};
use hpm_engine::inputs::Inputs;
use hpm_engine::workspace::Workspace;
use hpm_engine::Error;
use hpm_protocol::report::WatchMode;
use hpm_protocol::{Change, EventBody, RepoField};
use tokio::sync::mpsc;

use crate::events::EventBus;
use crate::handle::{LiveNotice, WorkspaceHandle};
use crate::hub::{Touched, WatchHub};
use crate::lock;

/// A change arriving within this long of the previous one is part of a burst.
const BURST_WINDOW: Duration = Duration::from_secs(1);
/// How long an auto-sync that found the workspace busy waits to try again.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// A burst is over when it has been quiet this long.
const BURST_SETTLE: Duration = Duration::from_millis(500);
/// How long to wait for git to drop `index.lock` before reading anyway.
const INDEX_LOCK_PATIENCE: Duration = Duration::from_secs(2);
/// Folders watched per clone at most; a larger tree is watched up to this.
const MAX_FOLDERS_PER_CLONE: usize = 4096;
/// Folders never worth watching in a clone's work tree.
const SKIPPED_FOLDERS: &[&str] = &[
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "node_modules",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
];

/// A dev clone the workspace uses.
#[derive(Debug, Clone)]
struct CloneWatch {
    package: String,
    /// Absolute work-tree folder.
    root: PathBuf,
    /// As the registry writes it (what `status` shows).
    relative: String,
    /// The repository's git folder and common folder (equal unless the
    /// clone is a linked work tree).
    git_dir: Option<PathBuf>,
    common_dir: Option<PathBuf>,
}

/// What the last successful re-read found.
#[derive(Debug, Clone, Default)]
struct Graph {
    /// Files whose content feeds the plan.
    inputs: BTreeSet<PathBuf>,
    /// Local registry folders: a new entry file may appear in them.
    registry_folders: Vec<PathBuf>,
    clones: Vec<CloneWatch>,
    auto_sync: bool,
}

/// The outcome of re-reading the inputs.
struct Reread {
    graph: Graph,
    /// The plan differs from the last good sync.
    needs_sync: bool,
}

/// Starts the live task of the workspace behind `handle`; `notices` are
/// what its actor and the RPC handlers tell it.
pub fn spawn(
    handle: WorkspaceHandle,
    notices: mpsc::UnboundedReceiver<LiveNotice>,
    hub: Arc<WatchHub>,
    events: Arc<EventBus>,
) {
    tokio::spawn(async move {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut live = Live {
            workspace: handle.workspace.clone(),
            handle,
            hub,
            events,
            sender,
            graph: Graph::default(),
            known: HashMap::new(),
            invalid: false,
            last_input_change: None,
            settle_at: None,
        };
        live.start().await;
        live.run(receiver, notices).await;
        // Closed: whatever `start` or `run` watched is released.
        live.hub.forget(live.workspace.root());
    });
}

struct Live {
    workspace: Workspace,
    handle: WorkspaceHandle,
    hub: Arc<WatchHub>,
    events: Arc<EventBus>,
    /// Given to the hub, which sends this workspace's touched paths.
    sender: mpsc::UnboundedSender<Touched>,
    graph: Graph,
    /// Content hash of each input as last seen (`None`: absent).
    known: HashMap<PathBuf, Option<String>>,
    /// The last re-read failed; the next good one says so.
    invalid: bool,
    last_input_change: Option<Instant>,
    /// When a settling burst gets its reconcile.
    settle_at: Option<tokio::time::Instant>,
}

impl Live {
    async fn start(&mut self) {
        // With the last caller's environment: a re-read may fetch a git
        // registry or a package's metadata.
        let workspace = self.handle.for_request(None);
        match blocking(move || reread(&workspace)).await {
            Some(Ok(reread)) => self.adopt(reread.graph, true).await,
            Some(Err(error)) => {
                self.invalid = true;
                tracing::info!(%error, workspace = %self.workspace.root().display(), "inputs invalid when opened");
                self.rewatch().await;
            }
            None => self.rewatch().await,
        }
        let clones: Vec<usize> = (0..self.graph.clones.len()).collect();
        self.refresh_repos(clones, false).await;
    }

    async fn run(
        &mut self,
        mut touched: mpsc::UnboundedReceiver<Touched>,
        mut notices: mpsc::UnboundedReceiver<LiveNotice>,
    ) {
        let closed = self.handle.closed.clone();
        loop {
            let settle_at = self.settle_at;
            tokio::select! {
                () = closed.cancelled() => break,
                message = touched.recv() => match message {
                    Some(message) => {
                        self.handle.touch();
                        self.on_touched(message).await;
                    }
                    None => break,
                },
                notice = notices.recv() => match notice {
                    Some(LiveNotice::JobEnded { changed }) => {
                        self.handle.touch();
                        if changed {
                            lock(&self.handle.live).changed();
                        }
                        self.after_job().await;
                    }
                    Some(LiveNotice::Retry) => self.input_touched(),
                    Some(LiveNotice::RegistryUpdated) => {
                        self.handle.touch();
                        lock(&self.handle.live).changed();
                        self.inputs_changed().await;
                    }
                    None => break,
                },
                () = sleep_until(settle_at) => {
                    self.settle_at = None;
                    self.inputs_changed().await;
                }
            }
        }
    }

    async fn on_touched(&mut self, touched: Touched) {
        let paths = match touched {
            Touched::Settled(reply) => {
                // Everything the hub sent before the cookie is handled.
                let _ = reply.send(());
                return;
            }
            Touched::Rescan => {
                lock(&self.handle.live).changed();
                tracing::info!(workspace = %self.workspace.root().display(), "watcher asked for a rescan");
                self.known.clear();
                self.input_touched();
                let all = (0..self.graph.clones.len()).collect();
                self.refresh_repos(all, true).await;
                return;
            }
            Touched::Paths(paths) => {
                tracing::debug!(workspace = %self.workspace.root().display(), ?paths, "watched paths touched");
                lock(&self.handle.live).changed();
                paths
            }
        };
        let mut input_changed = false;
        let mut clones = BTreeSet::new();
        let mut new_folders = false;
        let mut core_pyproject_changed = false;
        for path in &paths {
            if self.is_input(path) && self.input_content_changed(path) {
                // The core's own `pyproject.toml` is the user's: an edit of it
                // shows in `status` (`in_sync`) but does not re-assert the plan.
                if path == &self.workspace.pyproject_path() {
                    core_pyproject_changed = true;
                } else {
                    tracing::debug!(path = %path.display(), "an input changed");
                    input_changed = true;
                }
            }
            if let Some((index, new_folder)) = self.clone_of(path) {
                clones.insert(index);
                new_folders |= new_folder;
            }
        }
        if new_folders {
            self.rewatch().await;
        }
        if !clones.is_empty() {
            self.refresh_repos(clones.into_iter().collect(), true).await;
        }
        if input_changed {
            self.input_touched();
        } else if core_pyproject_changed {
            self.events
                .emit(self.workspace.root(), EventBody::StatusChanged);
        }
    }

    /// Applies the burst rule to an input change.
    fn input_touched(&mut self) {
        let now = Instant::now();
        let since_last = self.last_input_change.map(|last| now.duration_since(last));
        self.last_input_change = Some(now);
        let delay = sync_delay(since_last, self.settle_at.is_some());
        self.settle_at = Some(tokio::time::Instant::now() + delay);
    }

    /// Re-reads and re-validates the inputs; queues a reconcile when the
    /// plan changed and auto-sync is on.
    async fn inputs_changed(&mut self) {
        let workspace = self.handle.for_request(None);
        let Some(result) = blocking(move || reread(&workspace)).await else {
            return;
        };
        match result {
            Ok(reread) => {
                if std::mem::take(&mut self.invalid) {
                    self.events
                        .emit(self.workspace.root(), EventBody::ManifestValid);
                }
                let auto_sync = reread.graph.auto_sync;
                self.adopt(reread.graph, false).await;
                self.events
                    .emit(self.workspace.root(), EventBody::StatusChanged);
                if reread.needs_sync && auto_sync {
                    tracing::debug!(workspace = %self.workspace.root().display(), "the plan moved; queueing a reconcile");
                    let handle = self.handle.clone();
                    tokio::spawn(async move {
                        // The job's own events tell every listener how it
                        // went; a busy workspace is tried again later.
                        let result = handle
                            .apply(
                                Change::Sync {
                                    mode: None,
                                    force: false,
                                },
                                None,
                            )
                            .await;
                        if let Err(error) = result {
                            if matches!(*error, Error::Busy { .. }) {
                                tokio::time::sleep(BUSY_RETRY).await;
                                handle.notify_live(LiveNotice::Retry);
                            }
                        }
                    });
                }
            }
            Err(error) => {
                self.invalid = true;
                self.events.emit(
                    self.workspace.root(),
                    EventBody::ManifestInvalid {
                        message: error.to_string(),
                        problems: error.problems().to_vec(),
                    },
                );
            }
        }
    }

    /// A job ended: the set of dev clones may have changed.
    async fn after_job(&mut self) {
        let workspace = self.handle.for_request(None);
        if let Some(Ok(reread)) = blocking(move || reread(&workspace)).await {
            let before: BTreeSet<PathBuf> =
                self.graph.clones.iter().map(|c| c.root.clone()).collect();
            self.adopt(reread.graph, false).await;
            let new: Vec<usize> = (0..self.graph.clones.len())
                .filter(|&i| !before.contains(&self.graph.clones[i].root))
                .collect();
            self.refresh_repos(new, false).await;
        }
    }

    /// Takes a re-read graph: remembers the inputs' hashes it has not seen
    /// (a seen input keeps its hash, so an edit not yet reported by the
    /// watcher is not swallowed) and watches its folders.
    async fn adopt(&mut self, graph: Graph, baseline: bool) {
        for input in &graph.inputs {
            if baseline || !self.known.contains_key(input) {
                self.known.insert(input.clone(), content_hash(input));
            }
        }
        self.graph = graph;
        self.rewatch().await;
    }

    async fn rewatch(&mut self) {
        let root = self.workspace.root().to_path_buf();
        let graph = self.graph.clone();
        let Some((folders, partly)) = blocking(move || folders_to_watch(&root, &graph)).await
        else {
            return;
        };
        let (mode, warning) =
            self.hub
                .set_watches(self.workspace.root(), folders, self.sender.clone());
        let was = lock(&self.handle.live).watching;
        if let Some(message) = warning {
            if was != Some(WatchMode::Polling) {
                tracing::warn!("{message}");
                self.events
                    .emit(self.workspace.root(), EventBody::WatchDegraded { message });
            }
        }
        let mut view = lock(&self.handle.live);
        view.watching = Some(mode);
        view.partly_watched = partly;
        view.changed();
    }

    fn is_input(&self, path: &Path) -> bool {
        let root = self.workspace.root();
        self.graph.inputs.contains(path)
            || path == self.workspace.manifest_path()
            || path == root.join(PYPROJECT_FILE)
            || (self
                .graph
                .registry_folders
                .iter()
                .any(|folder| path.parent() == Some(folder.as_path()))
                && path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml"))
    }

    /// Whether an input's content differs from what was last seen and was
    /// not written by hpm itself; remembers the new content either way.
    fn input_content_changed(&mut self, path: &Path) -> bool {
        let hash = content_hash(path);
        let known = self.known.get(path);
        if known == Some(&hash) {
            return false;
        }
        let own = hash.as_deref().is_some_and(|hash| is_own_write(path, hash));
        self.known.insert(path.to_path_buf(), hash);
        !own
    }

    /// The clone a path belongs to, and whether the path is a folder that
    /// appeared (so the watch set must grow).
    fn clone_of(&self, path: &Path) -> Option<(usize, bool)> {
        self.graph
            .clones
            .iter()
            .enumerate()
            .find_map(|(index, clone)| {
                let in_git = [&clone.git_dir, &clone.common_dir]
                    .into_iter()
                    .flatten()
                    .find(|dir| path.starts_with(dir));
                if let Some(git_dir) = in_git {
                    let relative = path.strip_prefix(git_dir).ok()?;
                    let first = relative.components().next()?.as_os_str();
                    let noise = first == "objects" || first == "logs" || first == "hooks";
                    let lock = path.extension().is_some_and(|ext| ext == "lock");
                    if noise || lock {
                        return None;
                    }
                    return Some((index, first == "refs" && path.is_dir()));
                }
                if path.starts_with(&clone.root) {
                    return Some((index, path.is_dir()));
                }
                None
            })
    }

    /// Re-reads the git state of `clones`, caches it, and (with `announce`)
    /// emits `repo_changed` for each that moved and one `status_changed`.
    async fn refresh_repos(&mut self, clones: Vec<usize>, announce: bool) {
        if clones.is_empty() {
            return;
        }
        let targets: Vec<CloneWatch> = clones
            .iter()
            .filter_map(|&i| self.graph.clones.get(i).cloned())
            .collect();
        let Some(states) = blocking(move || {
            targets
                .into_iter()
                .map(|clone| {
                    wait_for_index_lock(clone.git_dir.as_deref());
                    let stamp = git_stamp(&clone.root);
                    let state = repo_state(&clone.root, &clone.relative);
                    (clone, state.map(|state| (state, stamp)))
                })
                .collect::<Vec<_>>()
        })
        .await
        else {
            return;
        };
        let mut any = false;
        for (clone, state) in states {
            let Some((state, stamp)) = state else {
                continue;
            };
            let previous = lock(&self.handle.live)
                .repos
                .insert(clone.root.clone(), (state.clone(), stamp));
            let before = previous.as_ref().map(|(state, _)| state);
            if before != Some(&state) {
                lock(&self.handle.live).changed();
            }
            let changed = RepoField::changed(before, &state);
            if announce && !changed.is_empty() {
                any = true;
                self.events.emit(
                    self.workspace.root(),
                    EventBody::RepoChanged {
                        package: clone.package.clone(),
                        changed,
                        repo: state,
                    },
                );
            }
        }
        if any {
            self.events
                .emit(self.workspace.root(), EventBody::StatusChanged);
        }
    }
}

/// Reads the inputs, resolves the plan, and gathers what to watch.
fn reread(workspace: &Workspace) -> Result<Reread, Error> {
    let inputs = Inputs::read(workspace)?;
    let (_, plan) = inputs.current_plan(workspace)?;
    let needs_sync = !inputs.matches_last_sync(workspace, &plan);
    let root = workspace.root();
    let mut graph = Graph {
        auto_sync: inputs.manifest.settings.auto_sync,
        ..Graph::default()
    };
    graph.inputs.insert(workspace.manifest_path());
    graph.inputs.insert(workspace.pyproject_path());
    graph
        .inputs
        .extend(inputs.registry.files().map(Path::to_path_buf));
    for location in &inputs.manifest.registry {
        if let RegistryLocation::Folder(path) | RegistryLocation::Path { path } = location {
            let folder = root.join(path);
            graph.registry_folders.push(folder.join("packages"));
            graph.registry_folders.push(folder);
        }
    }
    for package in &plan.packages {
        let Some(path) = package.source.local_path() else {
            continue;
        };
        let clone_root = root.join(path);
        graph.inputs.insert(clone_root.join(PYPROJECT_FILE));
        let repository = git2::Repository::open(&clone_root).ok();
        graph.clones.push(CloneWatch {
            package: package.name.clone(),
            git_dir: repository.as_ref().map(|r| r.path().to_path_buf()),
            common_dir: repository.as_ref().map(|r| r.commondir().to_path_buf()),
            root: clone_root,
            relative: path.to_string(),
        });
    }
    Ok(Reread { graph, needs_sync })
}

/// The folders a workspace watches: its root, its registry folders, and for
/// each dev clone its work-tree folders (ignored ones left out), its git
/// folder and the folders under `refs/`; and whether a clone had more
/// folders than [`MAX_FOLDERS_PER_CLONE`] (watched in part).
fn folders_to_watch(root: &Path, graph: &Graph) -> (BTreeSet<PathBuf>, bool) {
    let mut folders = BTreeSet::new();
    folders.insert(root.to_path_buf());
    for folder in &graph.registry_folders {
        if folder.is_dir() {
            folders.insert(folder.clone());
        }
    }
    let mut partly = false;
    for clone in &graph.clones {
        let repository = git2::Repository::open(&clone.root).ok();
        partly |= !work_tree_folders(&clone.root, repository.as_ref(), &mut folders);
        for dir in [&clone.git_dir, &clone.common_dir].into_iter().flatten() {
            folders.insert(dir.clone());
            let mut refs = BTreeSet::new();
            partly |= !work_tree_folders(&dir.join("refs"), None, &mut refs);
            folders.extend(refs);
        }
    }
    (folders, partly)
}

/// `top` and every folder under it, skipping symlinks, [`SKIPPED_FOLDERS`]
/// and what git ignores, up to [`MAX_FOLDERS_PER_CLONE`]; `false` when it
/// stopped there.
fn work_tree_folders(
    top: &Path,
    repository: Option<&git2::Repository>,
    folders: &mut BTreeSet<PathBuf>,
) -> bool {
    if !top.is_dir() {
        return true;
    }
    let mut stack = vec![top.to_path_buf()];
    let mut count = 0;
    while let Some(dir) = stack.pop() {
        count += 1;
        if count > MAX_FOLDERS_PER_CLONE {
            tracing::warn!(folder = %top.display(), "more than {MAX_FOLDERS_PER_CLONE} folders; the rest is not watched");
            return false;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            folders.insert(dir);
            continue;
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name();
            if !is_dir || SKIPPED_FOLDERS.iter().any(|skipped| name == *skipped) {
                continue;
            }
            let path = entry.path();
            let ignored = repository.is_some_and(|repository| {
                path.strip_prefix(top).is_ok_and(|relative| {
                    let as_folder = format!("{}/", relative.display());
                    repository
                        .is_path_ignored(Path::new(&as_folder))
                        .unwrap_or(false)
                })
            });
            if !ignored {
                stack.push(path);
            }
        }
        folders.insert(dir);
    }
    true
}

/// Git writes `index.lock` while it changes the index; reading before it is
/// gone would see a state about to change.
fn wait_for_index_lock(git_dir: Option<&Path>) {
    let Some(lock) = git_dir.map(|dir| dir.join("index.lock")) else {
        return;
    };
    let started = Instant::now();
    while lock.exists() && started.elapsed() < INDEX_LOCK_PATIENCE {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn content_hash(path: &Path) -> Option<String> {
    read_optional(path).ok().flatten().map(|b| sha256_hex(&b))
}

/// The burst rule: how long after an input change its reconcile waits.
/// A change after a quiet [`BURST_WINDOW`] syncs at once; one that follows
/// the previous change within it, or arrives while a burst settles, waits
/// until the burst has been quiet for [`BURST_SETTLE`].
fn sync_delay(since_last_change: Option<Duration>, settling: bool) -> Duration {
    let in_burst = since_last_change.is_some_and(|since| since < BURST_WINDOW);
    if in_burst || settling {
        BURST_SETTLE
    } else {
        Duration::ZERO
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Runs file-system work on a blocking thread; `None` if it crashed or the
/// daemon is stopping.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| {
            // Cancelled: the daemon is stopping.
            if error.is_panic() {
                tracing::error!(%error, "a watcher task crashed");
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_change_syncs_at_once_and_a_burst_waits_to_settle() {
        assert_eq!(sync_delay(None, false), Duration::ZERO);
        assert_eq!(sync_delay(Some(BURST_WINDOW * 2), false), Duration::ZERO);
        assert_eq!(sync_delay(Some(BURST_WINDOW / 10), false), BURST_SETTLE);
        // A change while a burst settles pushes the settling on.
        assert_eq!(sync_delay(Some(BURST_WINDOW * 2), true), BURST_SETTLE);
    }
}
