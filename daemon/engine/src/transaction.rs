//! The transaction around a reconcile's file writes.
//!
//! Order of events (each step durable before the next):
//! 1. take the workspace lock (`flock` on `.hpm/lock`; the kernel drops it
//!    when a process dies, so a killed hpm never leaves a stale lock);
//! 2. roll back a journal left by a killed run;
//! 3. check `pyproject.toml` and `uv.lock` still hash to what the plan read;
//! 4. write the journal: original bytes, then `journal.json` (its presence is
//!    the commit point of the journal);
//! 5. replace the files atomically; uv runs, its process recorded in the
//!    journal folder;
//! 6. commit (drop the journal) or roll back (restore the originals).
//!
//! Rolling back a killed run's journal first stops the uv it left running
//! (its process group), so that uv cannot write after the restore.
//!
//! Architecture invariant: whatever step a process is killed at, the next
//! `begin` leaves both files byte-identical to the old or the new state, and
//! a user's edit made meanwhile is never overwritten (it is kept, and the
//! bytes hpm would have restored are saved under `.hpm/backup/`).
//!
//! A command that edits other files before its sync (`add`, `remove`, a
//! group edit: `hpm.yaml`, a registry entry) journals them first
//! ([`Transaction::journal_edits`], `.hpm/edits.json`, durable before the
//! first write). The commit forgets them; a rollback, a drop before the
//! commit, and the next `begin` after a kill put back each file that still
//! holds hpm's edit, so a killed `add` never leaves `hpm.yaml` edited for
//! the next sync to finish.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use hpm_core::Problem;
use hpm_protocol::report::{Interrupted, Recovery};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{self, hash_of, read_optional, write_atomic};
use crate::git::detach::Detach;
use crate::workspace::Workspace;

const JOURNAL_FILE: &str = "journal.json";
/// The edits of other files a command made before its sync, in `.hpm/`.
const EDITS_FILE: &str = "edits.json";
const PYPROJECT_ORIGINAL: &str = "pyproject.toml.orig";
const LOCK_ORIGINAL: &str = "uv.lock.orig";
/// uv's process while it runs (see [`crate::process::stop_orphan`]).
const UV_PID: &str = "uv.pid";

/// Hashes of the files as the plan read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    pub pyproject: Option<String>,
    pub uv_lock: Option<String>,
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// The user edited `pyproject.toml` while uv ran; their edit was kept.
    UserEditKept,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    pid: u32,
    pyproject: Option<String>,
    pyproject_new: Option<String>,
    uv_lock: Option<String>,
}

/// The files a command edits besides `pyproject.toml` and `uv.lock`.
#[derive(Debug, Serialize, Deserialize)]
struct EditsJournal {
    pid: u32,
    files: Vec<JournaledEdit>,
    /// Folders the new files need that did not exist, deepest first
    /// (removed again when empty).
    #[serde(default)]
    made: Vec<PathBuf>,
    /// Submodules an import detaches ([`Detach`]).
    #[serde(default)]
    detach: Option<Detach>,
}

/// A file's text before the edit (`None`: it did not exist) and the hash
/// of what the edit writes (`None`: the edit removes it).
#[derive(Debug, Serialize, Deserialize)]
struct JournaledEdit {
    path: PathBuf,
    before: Option<String>,
    after: Option<String>,
}

/// A workspace's files under hpm's control for one reconcile.
#[derive(Debug)]
pub struct Transaction {
    workspace: Workspace,
    /// Held for the transaction's life; dropping it releases the lock.
    _lock: Flock<File>,
    /// The journal being acted on, `None` before staging and after the end.
    journal: Option<Journal>,
    /// Whether edits of other files are journaled and not yet ended.
    edits: bool,
}

impl Transaction {
    /// Takes the workspace lock and rolls back any journal left by a killed run.
    pub fn begin(workspace: &Workspace) -> Result<(Transaction, Option<Recovery>)> {
        workspace.ensure_state_dir()?;
        let lock_path = workspace.lock_file_path();
        let file = open_lock_file(&lock_path)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let pid = fs::read_to_string(&lock_path).unwrap_or_default();
                return Err(Error::Busy {
                    pid: pid.trim().to_string(),
                });
            }
            Err((_, errno)) => return Err(Error::write(&lock_path, errno.into())),
        };
        lock.set_len(0)
            .map_err(|error| Error::write(&lock_path, error))?;
        write!(&mut *lock, "{}", std::process::id())
            .map_err(|error| Error::write(&lock_path, error))?;
        let mut transaction = Transaction {
            workspace: workspace.clone(),
            _lock: lock,
            journal: None,
            edits: false,
        };
        let recovery = transaction.recover()?;
        // A killed command's edits, journaled before its sync began.
        let undone = transaction.undo_edits()?;
        if undone.is_some() {
            tracing::warn!("put back the edits of a command that was interrupted");
        }
        let recovery = match (recovery, undone) {
            (Some(mut recovery), Some(undone)) => {
                absorb(&mut recovery, undone);
                Some(recovery)
            }
            (recovery, undone) => recovery.or(undone),
        };
        Ok((transaction, recovery))
    }

    /// Journals the edits a command is about to write besides
    /// `pyproject.toml` and `uv.lock`: each file's path, its text now
    /// (`None`: absent) and what it will hold (`None`: removed). Durable
    /// before it returns; the caller writes the files after.
    ///
    /// `detach`: submodules an import detaches before it writes; a
    /// rollback puts them back too.
    pub fn journal_edits<'a>(
        &mut self,
        files: impl IntoIterator<Item = (&'a Path, Option<&'a str>, Option<&'a str>)>,
        detach: Option<&Detach>,
    ) -> Result<()> {
        let files: Vec<JournaledEdit> = files
            .into_iter()
            .map(|(path, before, after)| JournaledEdit {
                path: path.to_path_buf(),
                before: before.map(str::to_string),
                after: hash_of(after.map(str::as_bytes)),
            })
            .collect();
        let journal = EditsJournal {
            pid: std::process::id(),
            made: self.missing_folders(&files),
            files,
            detach: detach.cloned(),
        };
        let encoded = serde_json::to_vec(&journal).map_err(|error| {
            Error::internal(format!("cannot encode the edits' journal: {error}"))
        })?;
        let path = self.edits_path();
        write_atomic(&path, &encoded).map_err(|error| Error::write(&path, error))?;
        self.edits = true;
        Ok(())
    }

    /// Forgets the journaled edits: they stay as written (the command
    /// finished), or the caller has put them back itself.
    pub fn end_edits(&mut self) -> Result<()> {
        if !self.edits {
            return Ok(());
        }
        let path = self.edits_path();
        fsutil::remove_durably(&path).map_err(|error| Error::write(&path, error))?;
        self.edits = false;
        Ok(())
    }

    /// The folders, under the workspace root, that new files in `files`
    /// need and that do not exist yet; deepest first.
    fn missing_folders(&self, files: &[JournaledEdit]) -> Vec<PathBuf> {
        let root = self.workspace.root();
        let mut made: Vec<PathBuf> = files
            .iter()
            .filter(|edit| edit.before.is_none())
            .flat_map(|edit| {
                edit.path
                    .ancestors()
                    .skip(1)
                    .take_while(|folder| folder.starts_with(root) && *folder != root)
                    .filter(|folder| !folder.exists())
            })
            .map(Path::to_path_buf)
            .collect();
        made.sort_by_key(|folder| std::cmp::Reverse(folder.components().count()));
        made.dedup();
        made
    }

    fn edits_path(&self) -> PathBuf {
        self.workspace.state_dir().join(EDITS_FILE)
    }

    /// Puts back each file of the edits' journal on disk (this run's, or
    /// a killed run's) that still holds hpm's edit (one the user changed
    /// since is kept), then forgets the journal; `None` without one.
    fn undo_edits(&mut self) -> Result<Option<Recovery>> {
        let path = self.edits_path();
        let Some(bytes) = read_optional(&path).map_err(|e| Error::read(&path, e))? else {
            return Ok(None);
        };
        let journal: EditsJournal =
            serde_json::from_slice(&bytes).map_err(|error| Error::DamagedJournal {
                journal: path.clone(),
                folder: self.workspace.state_dir(),
                reason: error.to_string(),
            })?;
        let mut recovery = Recovery::default();
        for edit in journal.files.iter().rev() {
            // What cannot be read as a file (a folder in its place) is not
            // what hpm wrote: it stays.
            let Ok(now) = read_optional(&edit.path) else {
                recovery.kept_user_edits.push(edit.path.clone());
                continue;
            };
            let now = hash_of(now.as_deref());
            if now == edit.after {
                restore_file(&edit.path, edit.before.as_deref().map(str::as_bytes))?;
                recovery.restored.push(edit.path.clone());
            } else if now != hash_of(edit.before.as_deref().map(str::as_bytes)) {
                recovery.kept_user_edits.push(edit.path.clone());
            }
        }
        if let Some(detach) = &journal.detach {
            recovery.restored.extend(detach.undo()?);
        }
        for folder in &journal.made {
            // Only while empty: anything in it now is not hpm's.
            let _ = fs::remove_dir(folder);
        }
        fsutil::remove_durably(&path).map_err(|error| Error::write(&path, error))?;
        self.edits = false;
        Ok(Some(recovery))
    }

    /// Checks the files are as the plan read them, journals them, and writes
    /// the new `pyproject.toml` (and `uv.lock`, when a snapshot is restored).
    pub fn stage(
        &mut self,
        expected: &FileHashes,
        pyproject: &[u8],
        uv_lock: Option<&[u8]>,
    ) -> Result<()> {
        let pyproject_path = self.workspace.pyproject_path();
        let lock_path = self.workspace.uv_lock_path();
        let current_pyproject =
            read_optional(&pyproject_path).map_err(|e| Error::read(&pyproject_path, e))?;
        let current_lock = read_optional(&lock_path).map_err(|e| Error::read(&lock_path, e))?;
        if hash_of(current_pyproject.as_deref()) != expected.pyproject {
            return Err(Error::Conflict {
                path: pyproject_path,
            });
        }
        if hash_of(current_lock.as_deref()) != expected.uv_lock {
            return Err(Error::Conflict { path: lock_path });
        }
        let journal = Journal {
            pid: std::process::id(),
            pyproject: expected.pyproject.clone(),
            pyproject_new: Some(fsutil::sha256_hex(pyproject)),
            uv_lock: expected.uv_lock.clone(),
        };
        self.write_journal(
            &journal,
            current_pyproject.as_deref(),
            current_lock.as_deref(),
        )?;
        self.journal = Some(journal);
        fsutil::write_through(&pyproject_path, pyproject)
            .map_err(|error| Error::write(&pyproject_path, error))?;
        if let Some(uv_lock) = uv_lock {
            fsutil::write_through(&lock_path, uv_lock)
                .map_err(|error| Error::write(&lock_path, error))?;
        }
        Ok(())
    }

    /// Where the uv of this transaction records its process.
    pub fn uv_pid_file(&self) -> PathBuf {
        self.workspace.journal_dir().join(UV_PID)
    }

    /// Keeps the new files (and the journaled edits) and drops the journal.
    pub fn commit(mut self) -> Result<CommitOutcome> {
        self.end_edits()?;
        let Some(journal) = self.journal.take() else {
            return Ok(CommitOutcome::Committed);
        };
        let pyproject_path = self.workspace.pyproject_path();
        let current =
            read_optional(&pyproject_path).map_err(|e| Error::read(&pyproject_path, e))?;
        let outcome = if hash_of(current.as_deref()) == journal.pyproject_new {
            CommitOutcome::Committed
        } else {
            CommitOutcome::UserEditKept
        };
        self.drop_journal()?;
        Ok(outcome)
    }

    /// Restores both files to their state before [`Transaction::stage`],
    /// and puts back the journaled edits.
    pub fn rollback(mut self) -> Result<Recovery> {
        let mut recovery = match self.journal.take() {
            Some(journal) => self.restore(&journal, false)?,
            None => Recovery::default(),
        };
        if self.edits {
            if let Some(undone) = self.undo_edits()? {
                absorb(&mut recovery, undone);
            }
        }
        Ok(recovery)
    }

    fn recover(&mut self) -> Result<Option<Recovery>> {
        let dir = self.workspace.journal_dir();
        let journal_path = dir.join(JOURNAL_FILE);
        let Some(bytes) =
            read_optional(&journal_path).map_err(|e| Error::read(&journal_path, e))?
        else {
            // A journal without journal.json was never complete: no file was touched yet.
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(|error| Error::write(&dir, error))?;
            }
            return Ok(None);
        };
        let journal: Journal =
            serde_json::from_slice(&bytes).map_err(|error| Error::DamagedJournal {
                journal: journal_path.clone(),
                folder: dir.clone(),
                reason: error.to_string(),
            })?;
        tracing::warn!(
            pid = journal.pid,
            "rolling back a sync that was interrupted"
        );
        // A uv the killed run left behind would write over what is restored.
        crate::process::stop_orphan(&dir.join(UV_PID));
        self.restore(&journal, true).map(Some)
    }

    /// Puts both files back as the journal recorded them. Every copy is
    /// checked against the hash the journal recorded before anything is
    /// written: a copy that does not match stops the rollback, touching
    /// nothing. `after_crash`: the files may have been changed since by
    /// the user as well as by the killed run's uv, so a changed `uv.lock`
    /// is saved under `.hpm/backup/` before the original is put back.
    fn restore(&mut self, journal: &Journal, after_crash: bool) -> Result<Recovery> {
        let dir = self.workspace.journal_dir();
        let original = self.verified_copy(&dir.join(PYPROJECT_ORIGINAL), &journal.pyproject)?;
        let original_lock = self.verified_copy(&dir.join(LOCK_ORIGINAL), &journal.uv_lock)?;
        let mut recovery = Recovery::default();
        let pyproject_path = self.workspace.pyproject_path();
        let current =
            read_optional(&pyproject_path).map_err(|e| Error::read(&pyproject_path, e))?;
        let current_hash = hash_of(current.as_deref());
        if current_hash == journal.pyproject {
            // Never written, or already restored.
        } else if current_hash == journal.pyproject_new {
            restore_file(&pyproject_path, original.as_deref())?;
            recovery.restored.push(pyproject_path);
        } else {
            self.save_backup(&pyproject_path, original.as_deref())?;
            recovery.kept_user_edits.push(pyproject_path);
        }
        let lock_path = self.workspace.uv_lock_path();
        let current_lock = read_optional(&lock_path).map_err(|e| Error::read(&lock_path, e))?;
        if hash_of(current_lock.as_deref()) != journal.uv_lock {
            if after_crash {
                if let Some(backup) = self.save_backup(&lock_path, current_lock.as_deref())? {
                    recovery.backups.push(backup);
                }
            }
            restore_file(&lock_path, original_lock.as_deref())?;
            recovery.restored.push(lock_path);
        }
        self.drop_journal()?;
        Ok(recovery)
    }

    /// The journal's copy at `path`, checked against the hash recorded for
    /// it (`None`: the file did not exist, and there must be no copy).
    fn verified_copy(&self, path: &Path, recorded: &Option<String>) -> Result<Option<Vec<u8>>> {
        let copy = read_optional(path).map_err(|e| Error::read(path, e))?;
        if hash_of(copy.as_deref()) == *recorded {
            return Ok(copy);
        }
        let reason = match (&copy, recorded) {
            (None, Some(_)) => format!("its copy `{}` is missing", path.display()),
            (Some(_), None) => format!(
                "`{}` is there although the file did not exist",
                path.display()
            ),
            _ => format!(
                "its copy `{}` does not match the hash it recorded",
                path.display()
            ),
        };
        Err(Error::DamagedJournal {
            journal: self.workspace.journal_dir().join(JOURNAL_FILE),
            folder: self.workspace.journal_dir(),
            reason,
        })
    }

    fn write_journal(
        &self,
        journal: &Journal,
        pyproject: Option<&[u8]>,
        uv_lock: Option<&[u8]>,
    ) -> Result<()> {
        let dir = self.workspace.journal_dir();
        fs::create_dir_all(&dir).map_err(|error| Error::write(&dir, error))?;
        for (name, bytes) in [(PYPROJECT_ORIGINAL, pyproject), (LOCK_ORIGINAL, uv_lock)] {
            let path = dir.join(name);
            match bytes {
                Some(bytes) => {
                    write_atomic(&path, bytes).map_err(|error| Error::write(&path, error))?
                }
                None => {
                    fsutil::remove_durably(&path).map_err(|error| Error::write(&path, error))?
                }
            }
        }
        let encoded = serde_json::to_vec(journal)
            .map_err(|error| Error::internal(format!("cannot encode the journal: {error}")))?;
        let path = dir.join(JOURNAL_FILE);
        write_atomic(&path, &encoded).map_err(|error| Error::write(&path, error))
    }

    fn drop_journal(&self) -> Result<()> {
        let dir = self.workspace.journal_dir();
        let journal_path = dir.join(JOURNAL_FILE);
        // Removing journal.json first is the commit point; the rest is cleanup.
        fsutil::remove_durably(&journal_path)
            .map_err(|error| Error::write(&journal_path, error))?;
        fs::remove_dir_all(&dir).map_err(|error| Error::write(&dir, error))
    }

    /// Saves `bytes` (a file hpm did not put back) as
    /// `.hpm/backup/<name>.<seconds>`; answers where.
    fn save_backup(&self, path: &Path, bytes: Option<&[u8]>) -> Result<Option<PathBuf>> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let backup = backup_path(&self.workspace, path);
        let dir = self.workspace.backup_dir();
        fs::create_dir_all(&dir).map_err(|error| Error::write(&dir, error))?;
        write_atomic(&backup, bytes).map_err(|error| Error::write(&backup, error))?;
        tracing::warn!(file = %path.display(), backup = %backup.display(), "kept a copy hpm did not put back");
        Ok(Some(backup))
    }
}

/// `.hpm/backup/<name>.<seconds>` for `path`, not taken yet.
pub fn backup_path(workspace: &Workspace, path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dir = workspace.backup_dir();
    let mut backup = dir.join(format!("{name}.{stamp}"));
    let mut n = 1;
    while backup.exists() {
        backup = dir.join(format!("{name}.{stamp}.{n}"));
        n += 1;
    }
    backup
}

/// The journal of an interrupted sync, if one waits to be rolled back (a
/// read only: nothing is locked or changed); `None` while the process that
/// wrote it is still syncing. `status` and `check` report it.
pub fn interrupted(workspace: &Workspace) -> Option<Interrupted> {
    let dir = workspace.journal_dir();
    let Some(bytes) = read_optional(&dir.join(JOURNAL_FILE)).ok().flatten() else {
        return interrupted_edits(workspace);
    };
    let pid = serde_json::from_slice::<Journal>(&bytes)
        .ok()
        .map(|journal| journal.pid);
    if pid.is_some_and(pid_is_alive) {
        return None;
    }
    let uv_left_running = crate::process::recorded_process_runs(&dir.join(UV_PID));
    let hint = if uv_left_running {
        "an interrupted sync left uv running; run `hpmctl sync` to stop it, restore `pyproject.toml` and `uv.lock`, and sync again, before you commit them"
    } else {
        "run `hpmctl sync` to restore `pyproject.toml` and `uv.lock` and sync again, before you commit them"
    };
    Some(Interrupted {
        pid,
        hint: hint.to_string(),
    })
}

/// A command killed after it edited `hpm.yaml` or a registry entry and
/// before its sync committed.
fn interrupted_edits(workspace: &Workspace) -> Option<Interrupted> {
    let bytes = read_optional(&workspace.state_dir().join(EDITS_FILE))
        .ok()
        .flatten()?;
    let pid = serde_json::from_slice::<EditsJournal>(&bytes)
        .ok()
        .map(|journal| journal.pid);
    if pid.is_some_and(pid_is_alive) {
        return None;
    }
    Some(Interrupted {
        pid,
        hint: "an interrupted command left `hpm.yaml` or a registry entry edited; run `hpmctl sync` to put them back before you commit them".to_string(),
    })
}

/// Whether a journal waits in the workspace, whoever wrote it (this
/// process included).
pub fn pending(workspace: &Workspace) -> bool {
    workspace.journal_dir().join(JOURNAL_FILE).exists()
        || workspace.state_dir().join(EDITS_FILE).exists()
}

/// Refuses to read the core's files as the truth while an interrupted
/// sync may have left them half-switched (`export`, `image`).
pub fn refuse_interrupted(workspace: &Workspace) -> Result<()> {
    match interrupted(workspace) {
        Some(interrupted) => Err(Error::invalid(
            Problem::new("a sync was interrupted and `pyproject.toml` may be half-switched")
                .in_file(workspace.pyproject_path())
                .hint(interrupted.hint),
        )),
        None => Ok(()),
    }
}

/// Whether process `pid` exists (signal 0).
fn pid_is_alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|pid| {
        pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
    })
}

impl Drop for Transaction {
    /// A transaction dropped while staged or with edits journaled (an
    /// early return, a panic) rolls back.
    fn drop(&mut self) {
        if let Some(journal) = self.journal.take() {
            if let Err(error) = self.restore(&journal, false) {
                tracing::error!(%error, "rolling back on drop failed; the next hpm run will retry");
            }
        }
        if self.edits {
            if let Err(error) = self.undo_edits() {
                tracing::error!(%error, "putting back the edits on drop failed; the next hpm run will retry");
            }
        }
    }
}

/// Opens (creating) the workspace's lock file, never through a link: a
/// repository may carry `.hpm/lock` pointing at a user's file, which
/// writing the holder's pid would truncate. A link, or a file that is not
/// a plain file of its own (a hard link has more than one name), is refused.
fn open_lock_file(path: &Path) -> Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let refused = |what: &str| {
        Error::Refused {
        message: format!(
            "`{}` {what}; hpm never writes through a link it did not make inside `.hpm/`, and changed nothing",
            path.display()
        ),
        hint: Some(format!("remove `{}`; hpm makes a new one", path.display())),
    }
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(code) if code == nix::errno::Errno::ELOOP as i32 => refused("is a symbolic link"),
            _ => Error::write(path, error),
        })?;
    let metadata = file.metadata().map_err(|error| Error::read(path, error))?;
    if !metadata.is_file() || metadata.nlink() != 1 {
        return Err(refused(
            "is not hpm's own lock file (a hard link or not a plain file)",
        ));
    }
    Ok(file)
}

/// `other`'s files added to `recovery`'s.
fn absorb(recovery: &mut Recovery, other: Recovery) {
    recovery.restored.extend(other.restored);
    recovery.kept_user_edits.extend(other.kept_user_edits);
    recovery.backups.extend(other.backups);
}

/// Puts `original` back at `path`, or removes `path` when it did not exist.
fn restore_file(path: &Path, original: Option<&[u8]>) -> Result<()> {
    match original {
        Some(bytes) => {
            fsutil::write_through(path, bytes).map_err(|error| Error::write(path, error))
        }
        None => fsutil::remove_durably(path).map_err(|error| Error::write(path, error)),
    }
}
