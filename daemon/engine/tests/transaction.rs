//! The transaction on real files: the checks that an end-to-end run cannot
//! time precisely (an edit between planning and writing, a second holder of
//! the lock, a journal whose files were edited after a crash).

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use hpm_engine::fsutil::{hash_of, sha256_hex};
use hpm_engine::transaction::{FileHashes, Transaction};
use hpm_engine::workspace::Workspace;
use hpm_engine::Error;

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hpm.yaml"), "version: 1\nmode: dev\n").unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"x\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("uv.lock"), "version = 1\n").unwrap();
    let workspace = Workspace::at(dir.path()).unwrap();
    (dir, workspace)
}

fn hashes(workspace: &Workspace) -> FileHashes {
    FileHashes {
        pyproject: hash_of(std::fs::read(workspace.pyproject_path()).ok().as_deref()),
        uv_lock: hash_of(std::fs::read(workspace.uv_lock_path()).ok().as_deref()),
    }
}

#[test]
fn an_edit_between_planning_and_writing_is_a_conflict_and_nothing_is_written() {
    let (_dir, workspace) = workspace();
    let planned_from = hashes(&workspace);
    std::fs::write(
        workspace.pyproject_path(),
        "[project]\nname = \"x\"  # user edit\n",
    )
    .unwrap();
    let (mut transaction, _) = Transaction::begin(&workspace).unwrap();
    let error = transaction.stage(&planned_from, b"new", None).unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error}");
    assert_eq!(
        std::fs::read_to_string(workspace.pyproject_path()).unwrap(),
        "[project]\nname = \"x\"  # user edit\n"
    );
    assert!(!workspace.journal_dir().exists());
}

#[test]
fn a_second_transaction_is_refused_while_one_holds_the_lock() {
    let (_dir, workspace) = workspace();
    let (_first, _) = Transaction::begin(&workspace).unwrap();
    let error = Transaction::begin(&workspace).unwrap_err();
    assert!(matches!(error, Error::Busy { .. }), "{error}");
    assert!(
        error.to_string().contains(&std::process::id().to_string()),
        "{error}"
    );
}

#[test]
fn rollback_restores_both_files_and_removes_a_lock_that_did_not_exist() {
    let (_dir, workspace) = workspace();
    std::fs::remove_file(workspace.uv_lock_path()).unwrap();
    let before = std::fs::read(workspace.pyproject_path()).unwrap();
    let (mut transaction, _) = Transaction::begin(&workspace).unwrap();
    transaction
        .stage(&hashes(&workspace), b"[project]\nname = \"new\"\n", None)
        .unwrap();
    std::fs::write(workspace.uv_lock_path(), "written by uv").unwrap();
    transaction.rollback().unwrap();
    assert_eq!(std::fs::read(workspace.pyproject_path()).unwrap(), before);
    assert!(!workspace.uv_lock_path().exists());
}

#[test]
fn recovery_keeps_a_file_the_user_edited_after_a_crash_and_backs_up_the_original() {
    let (_dir, workspace) = workspace();
    let original = std::fs::read(workspace.pyproject_path()).unwrap();
    let (mut transaction, _) = Transaction::begin(&workspace).unwrap();
    transaction
        .stage(&hashes(&workspace), b"[project]\nname = \"new\"\n", None)
        .unwrap();
    // Simulate a kill: nothing runs after this point, the journal stays. A
    // killed process's flock dies with it; in-process, the leaked lock is
    // escaped by unlinking the lock file so `begin` locks a new one.
    std::mem::forget(transaction);
    std::fs::remove_file(workspace.lock_file_path()).unwrap();
    std::fs::write(workspace.pyproject_path(), "# the user's own edit\n").unwrap();
    let (_transaction, recovery) = Transaction::begin(&workspace).unwrap();
    let recovery = recovery.unwrap();
    assert_eq!(recovery.kept_user_edits, vec![workspace.pyproject_path()]);
    assert_eq!(
        std::fs::read_to_string(workspace.pyproject_path()).unwrap(),
        "# the user's own edit\n"
    );
    let backups: Vec<_> = std::fs::read_dir(workspace.backup_dir())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        sha256_hex(&std::fs::read(backups[0].path()).unwrap()),
        sha256_hex(&original)
    );
}
