//! Small file-system helpers every writer in hpm shares: content hashes,
//! atomic replacement of a file (temp file, fsync, rename, fsync folder,
//! permissions kept), and the record of what hpm itself wrote, so that the
//! daemon's watcher can tell its own writes from the user's.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hpm_core::Problem;

pub use hpm_core::fingerprint::{hash_of, sha256_hex};

/// Reads a regular file. Anything else (a FIFO, a device, a folder) is
/// refused before it is opened, and the file is opened non-blocking: one
/// odd file at `uv.lock` must not pin a daemon thread forever.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device or a folder); hpm reads only regular files",
        ));
    }
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// [`read_file`] as text (UTF-8, else an `InvalidData` error).
pub fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads a regular file, `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match read_file(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The largest hand-written input hpm reads (`hpm.yaml`, a registry entry).
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Reads a hand-written input as text: a file larger than
/// [`MAX_INPUT_BYTES`] or not UTF-8 is refused with a problem naming it.
pub fn read_input(path: &Path) -> Result<String, Problem> {
    let problem = |message: String| Problem::new(message).in_file(path);
    let size = fs::metadata(path)
        .map_err(|error| problem(format!("cannot read: {error}")))?
        .len();
    if size > MAX_INPUT_BYTES {
        return Err(problem(format!(
            "is {size} bytes; hpm reads at most {MAX_INPUT_BYTES} bytes from a manifest or registry entry"
        ))
        .hint("point hpm at the small hand-written file meant here"));
    }
    let bytes = read_file(path).map_err(|error| problem(format!("cannot read: {error}")))?;
    String::from_utf8(bytes).map_err(|_| problem("is not UTF-8 text".to_string()))
}

/// The name hpm's temporary files start with: an atomic write's new
/// content, renamed over the file when complete. One a killed run left
/// behind is hpm's, never the user's work.
pub const TEMP_PREFIX: &str = ".hpm-tmp-";

/// Whether `path` (any form) names one of hpm's temporary files.
pub fn is_own_temp(path: &str) -> bool {
    Path::new(path)
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with(TEMP_PREFIX))
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees either the
/// old or the new content, never a mix. A read-only file is refused rather
/// than replaced behind the user's back.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = match fs::metadata(path) {
        Ok(metadata) if metadata.permissions().readonly() => {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the file is read-only",
            ));
        }
        Ok(metadata) => Some(metadata.permissions()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(error),
    };
    let mut temp = temp_in(dir)?;
    temp.write_all(bytes)?;
    if let Some(permissions) = permissions {
        temp.as_file().set_permissions(permissions)?;
    }
    temp.as_file().sync_all()?;
    record_own_write(path, bytes);
    temp.persist(path).map_err(|error| error.error)?;
    sync_dir(dir)
}

/// A temporary file in `dir` that becomes a file of the user's: made with
/// the permissions the user's umask gives a new file (as git, uv and an
/// editor make one, 0644 with the usual 022), not tempfile's private 0600.
fn temp_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// Creates `path` with `bytes` as [`write_atomic`] writes, but never over
/// anything already there: an existing file (or link, or folder) is an
/// `AlreadyExists` error and stays as it is.
pub fn create_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = temp_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    record_own_write(path, bytes);
    temp.persist_noclobber(path).map_err(|error| error.error)?;
    sync_dir(dir)
}

/// Replaces a user's file as [`write_atomic`] does, but through a symbolic
/// link: a `pyproject.toml` or `hpm.yaml` that is a link stays a link, and
/// its target is replaced atomically (the temporary file beside the
/// target). hpm's own files under `.hpm/` use [`write_atomic`], which
/// never writes through a link.
pub fn write_through(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return write_atomic(path, bytes);
    }
    let target = link_target(path)?;
    record_own_write(path, bytes);
    write_atomic(&target, bytes)
}

/// Where a (possibly chained, possibly dangling) symbolic link points.
fn link_target(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let next = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if next.is_relative() => parent.join(next),
                    _ => next,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "too many levels of symbolic links",
    ))
}

/// How many recent writes are remembered; a watcher sees a write within
/// a debounce period, long before this many more happen.
const OWN_WRITES_KEPT: usize = 512;

/// The (path, content hash) of this process's recent writes. A `std` mutex:
/// held only to push or search, never across `.await`.
static OWN_WRITES: Mutex<VecDeque<(PathBuf, String)>> = Mutex::new(VecDeque::new());

fn record_own_write(path: &Path, bytes: &[u8]) {
    let mut writes = match OWN_WRITES.lock() {
        Ok(writes) => writes,
        Err(poisoned) => poisoned.into_inner(),
    };
    if writes.len() == OWN_WRITES_KEPT {
        writes.pop_front();
    }
    writes.push_back((path.to_path_buf(), sha256_hex(bytes)));
}

/// Whether this process wrote `path` with content hashing to `hash`
/// recently.
pub fn is_own_write(path: &Path, hash: &str) -> bool {
    let writes = match OWN_WRITES.lock() {
        Ok(writes) => writes,
        Err(poisoned) => poisoned.into_inner(),
    };
    writes.iter().any(|(p, h)| p == path && h == hash)
}

/// Removes a file if it exists and makes the removal durable.
pub fn remove_durably(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

/// fsyncs a folder so that renames and removals in it survive a power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Size, modification time and inode of a file or folder, if it exists: a
/// file whose stamp is unchanged is taken as unchanged (see the racily-clean
/// rule where stamps are trusted).
pub type FileStamp = Option<(u64, std::time::SystemTime, u64)>;

/// The [`FileStamp`] of `path`.
pub fn file_stamp(path: &Path) -> FileStamp {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?, metadata.ino()))
}
