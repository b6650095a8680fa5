//! `hpmctl export MODE`: writes `MODE/pyproject.toml` (the core's project
//! with every managed package pinned to MODE's source, see
//! [`hpm_core::export`]) and `MODE/uv.lock`, locked by uv there, so that
//! `uv sync --project MODE --frozen` installs on a machine without hpm
//! what `hpmctl switch MODE` installs. The core's own files are never
//! touched. Nothing changed since the last export leaves both files byte
//! for byte; a `pyproject.toml` there that hpm did not write is replaced
//! only when asked (`force`), and saved first. A lock that fails puts the
//! folder back as it was.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use hpm_core::diff::unified;
use hpm_core::export::{export as export_text, refuse_local_packages, ExportOptions, HEADER};
use hpm_core::pyproject::PYPROJECT_FILE;
use hpm_core::Problem;
use hpm_protocol::report::{ExportReport, ExportRequest, FileDiff};

use crate::error::{Error, Result};
use crate::fsutil::{read_optional, write_atomic};
use crate::inputs::Inputs;
use crate::process::{CancelToken, RunOptions};
use crate::uv::Uv;
use crate::validate;
use crate::workspace::Workspace;

const LOCK_FILE: &str = "uv.lock";

/// Exports the mode `request` names into its folder.
pub fn export(workspace: &Workspace, request: &ExportRequest) -> Result<ExportReport> {
    crate::transaction::refuse_interrupted(workspace)?;
    let inputs = Inputs::read(workspace)?;
    let out = out_folder(workspace.root(), request)?;
    let (plan, exported) = rendered(workspace, request, &inputs, &out)?;
    let target = Target::read(&out)?;
    target.refuse_what_hpm_did_not_write(request.force)?;
    let mut report = ExportReport {
        mode: request.mode.clone(),
        out,
        changed: Vec::new(),
        diffs: Vec::new(),
        plan,
        notes: exported.notes,
        saved: None,
    };
    let changes = target.pyproject.as_deref() != Some(exported.text.as_bytes());
    if request.dry_run {
        if changes {
            let old = String::from_utf8_lossy(target.pyproject.as_deref().unwrap_or_default());
            let label = display(&target.pyproject_path, workspace.root());
            report.diffs.push(FileDiff {
                path: target.pyproject_path.clone(),
                diff: unified(&label, &old, &exported.text),
            });
            report.changed.push(target.pyproject_path);
            report.changed.push(target.lock_path);
        }
        return Ok(report);
    }
    write_and_lock(
        workspace,
        request,
        &inputs,
        &target,
        &exported.text,
        &mut report,
    )?;
    Ok(report)
}

/// The plan of the mode, checked on its remotes, and the folder's
/// `pyproject.toml` rendered from it.
fn rendered(
    workspace: &Workspace,
    request: &ExportRequest,
    inputs: &Inputs,
    out: &Path,
) -> Result<(hpm_core::plan::Plan, hpm_core::export::Exported)> {
    let resolved = inputs.resolve(workspace, &request.mode, &BTreeMap::new())?;
    let to_core = to_core(workspace.root(), out);
    let text = inputs.pyproject_text(workspace)?;
    let options = ExportOptions {
        mode: request.mode.as_str(),
        to_core: &to_core,
        with_core: request.with_core,
        previously_managed: &inputs.state.managed,
        owned: &inputs.state.workspace_members,
    };
    // Before anything is asked of the remotes.
    refuse_local_packages(&resolved.plan, request.mode.as_str())?;
    let pinned = validate::validate(workspace, resolved.plan, resolved.problems)?;
    if request.with_core && inputs.render_pyproject(workspace, &pinned)?.text != text {
        // uv reads the core's own sources when it installs the core: they
        // must say what the export says.
        return Err(Error::invalid(
            Problem::new(format!(
                "is not synced in {} mode, and with the core included uv reads its sources too",
                request.mode
            ))
            .in_file(workspace.pyproject_path())
            .hint(format!(
                "run `hpmctl switch {}` first, or export without `--with-core`",
                request.mode
            )),
        ));
    }
    let exported = export_text(text, &pinned, &options, &workspace.pyproject_path())?;
    Ok((pinned.into_plan(), exported))
}

/// The export folder's two files, as they are now.
struct Target {
    pyproject_path: PathBuf,
    lock_path: PathBuf,
    pyproject: Option<Vec<u8>>,
    lock: Option<Vec<u8>>,
}

impl Target {
    fn read(out: &Path) -> Result<Target> {
        let pyproject_path = out.join(PYPROJECT_FILE);
        let lock_path = out.join(LOCK_FILE);
        Ok(Target {
            pyproject: read(&pyproject_path)?,
            lock: read(&lock_path)?,
            pyproject_path,
            lock_path,
        })
    }

    /// Whether the folder's `pyproject.toml` is absent or one `export`
    /// wrote (it starts with hpm's header).
    fn is_hpms(&self) -> bool {
        self.pyproject
            .as_deref()
            .is_none_or(|bytes| bytes.starts_with(HEADER.as_bytes()))
    }

    fn refuse_what_hpm_did_not_write(&self, force: bool) -> Result<()> {
        if self.is_hpms() || force {
            return Ok(());
        }
        Err(Error::invalid(
            Problem::new("was not written by `hpmctl export`; hpm does not replace it")
                .in_file(&self.pyproject_path)
                .hint("move it away, export to another folder with `--out DIR`, or pass `--force` (the old file is saved under `.hpm/backup/`)"),
        ))
    }
}

/// Writes the folder's `pyproject.toml` (a file hpm did not write saved
/// under `.hpm/backup/` first), seeds `uv.lock` from the mode's last lock,
/// and locks; a failed lock puts both files back.
fn write_and_lock(
    workspace: &Workspace,
    request: &ExportRequest,
    inputs: &Inputs,
    target: &Target,
    text: &str,
    report: &mut ExportReport,
) -> Result<()> {
    let out = &report.out;
    std::fs::create_dir_all(out).map_err(|e| Error::write(out, e))?;
    if !target.is_hpms() {
        let backup = crate::transaction::backup_path(workspace, &target.pyproject_path);
        let folder = workspace.backup_dir();
        std::fs::create_dir_all(&folder).map_err(|e| Error::write(&folder, e))?;
        let bytes = target.pyproject.as_deref().unwrap_or_default();
        write_atomic(&backup, bytes).map_err(|e| Error::write(&backup, e))?;
        report.saved = Some(backup);
    }
    let (pyproject_path, lock_path) = (&target.pyproject_path, &target.lock_path);
    if target.pyproject.as_deref() != Some(text.as_bytes()) {
        write_atomic(pyproject_path, text.as_bytes())
            .map_err(|e| Error::write(pyproject_path, e))?;
        report.changed.push(pyproject_path.clone());
    }
    if target.lock.is_none() {
        // Start from the versions the mode last locked in the workspace.
        if let Some(seed) = mode_lock(workspace, inputs, request)? {
            write_atomic(lock_path, &seed).map_err(|e| Error::write(lock_path, e))?;
        }
    }
    let locked = Uv::for_caller(workspace.caller()).and_then(|uv| {
        uv.run(
            out,
            &["lock".to_string()],
            &RunOptions::for_caller(workspace.caller()),
            &mut |_| {},
            &CancelToken::new(),
        )
    });
    if let Err(error) = locked {
        put_back(pyproject_path, target.pyproject.as_deref())?;
        put_back(lock_path, target.lock.as_deref())?;
        return Err(error);
    }
    if read(lock_path)? != target.lock {
        report.changed.push(lock_path.clone());
    }
    Ok(())
}

/// The export's folder: the request's (relative to the root) or `MODE/`.
fn out_folder(root: &Path, request: &ExportRequest) -> Result<PathBuf> {
    let out = match &request.out {
        Some(out) if out.is_absolute() => out.clone(),
        Some(out) => root.join(out),
        None => root.join(request.mode.as_str()),
    };
    let out = normalize(&out);
    if out == root || is_the_core(root, &out) {
        return Err(Error::invalid(
            Problem::new(format!(
                "the export folder `{}` reaches the core's own files (through a link)",
                out.display()
            ))
            .hint("export into a folder of its own, such as `prod/` (the default); the core's pyproject.toml and uv.lock are never an export's"),
        ));
    }
    Ok(out)
}

/// Whether `out` reaches the core's own folder or files however it is
/// spelled: a link to the root, or a `pyproject.toml` / `uv.lock` there
/// that is the core's very file (a link, a hard link).
fn is_the_core(root: &Path, out: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    same(out, root)
        || same(&out.join(PYPROJECT_FILE), &root.join(PYPROJECT_FILE))
        || same(&out.join(LOCK_FILE), &root.join(LOCK_FILE))
}

/// `..` per level when `out` is inside the root, else the root's path.
fn to_core(root: &Path, out: &Path) -> String {
    match out.strip_prefix(root) {
        Ok(inside) => {
            let depth = inside.components().count();
            vec![".."; depth].join("/")
        }
        Err(_) => root.display().to_string(),
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// The mode's last good lock: the workspace's own when it is synced in
/// that mode, else its snapshot.
fn mode_lock(
    workspace: &Workspace,
    inputs: &Inputs,
    request: &ExportRequest,
) -> Result<Option<Vec<u8>>> {
    let current = inputs
        .state
        .last_sync
        .as_ref()
        .is_some_and(|last| last.mode == request.mode);
    if current {
        return Ok(inputs.uv_lock.clone());
    }
    read(&workspace.lock_snapshot_path(&request.mode))
}

fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    read_optional(path).map_err(|e| Error::read(path, e))
}

/// `bytes` back at `path`, or no file when there was none.
fn put_back(path: &Path, bytes: Option<&[u8]>) -> Result<()> {
    match bytes {
        Some(bytes) => write_atomic(path, bytes).map_err(|e| Error::write(path, e)),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::write(path, e)),
            _ => Ok(()),
        },
    }
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
