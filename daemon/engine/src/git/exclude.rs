//! Package clones kept out of the core's git. A folder hpm clones a
//! package into (`hpmctl dev`), or leaves as a clone of its own (`import
//! --detach-submodules`), is a repository inside the core's work tree: the
//! core's `git status` would list it (`?? packages/`) and `git add -A`
//! would embed it. hpm adds one line per such folder (`/packages/x/`) to the
//! core's `info/exclude` — git's ignore file that belongs to this clone of
//! the core and is never committed — so the user's `.gitignore` stays
//! theirs and nothing of hpm's shows up for them to commit; each
//! teammate's hpm writes its own when it clones.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// Above hpm's lines in `info/exclude`, once.
const HEADING: &str =
    "# package clones of hpm's (hpmctl dev, import --detach-submodules): repositories of their own";

/// The core's `info/exclude` and the lines it would gain for `folders`
/// (under `root`); `None` when the core is not in a git work tree, or
/// nothing is missing.
pub fn planned(root: &Path, folders: &[PathBuf]) -> Result<Option<(PathBuf, String)>> {
    let Ok(core) = git2::Repository::discover(root) else {
        return Ok(None);
    };
    let Some(workdir) = core.workdir() else {
        return Ok(None);
    };
    let workdir = workdir
        .canonicalize()
        .map_err(|error| Error::read(workdir, error))?;
    let file = core.commondir().join("info").join("exclude");
    let before = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(Error::read(&file, error)),
    };
    let mut after = before.clone();
    for folder in folders {
        let folder = root.join(folder);
        let folder = folder.canonicalize().unwrap_or(folder);
        let Ok(relative) = folder.strip_prefix(&workdir) else {
            continue;
        };
        let parts: Vec<String> = relative
            .components()
            .map(|part| escape(&part.as_os_str().to_string_lossy()))
            .collect();
        if parts.is_empty() {
            continue;
        }
        let line = format!("/{}/", parts.join("/"));
        if after.lines().any(|existing| existing == line) {
            continue;
        }
        if !after.is_empty() && !after.ends_with('\n') {
            after.push('\n');
        }
        if !after.lines().any(|existing| existing == HEADING) {
            after.push_str(HEADING);
            after.push('\n');
        }
        after.push_str(&line);
        after.push('\n');
    }
    Ok((after != before).then_some((file, after)))
}

/// Adds the lines [`planned`] finds missing.
pub fn exclude_clones(root: &Path, folders: &[PathBuf]) -> Result<()> {
    let Some((file, text)) = planned(root, folders)? else {
        return Ok(());
    };
    if let Some(info) = file.parent() {
        std::fs::create_dir_all(info).map_err(|error| Error::write(info, error))?;
    }
    write_atomic(&file, text.as_bytes()).map_err(|error| Error::write(&file, error))
}

/// A path part as a gitignore pattern matching only itself.
fn escape(part: &str) -> String {
    let mut escaped = String::new();
    for (i, c) in part.chars().enumerate() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') || (i == 0 && matches!(c, '#' | '!')) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_added_once_under_one_heading_and_kept_literal() {
        let core = tempfile::tempdir().unwrap();
        git2::Repository::init(core.path()).unwrap();
        let exclude = core.path().join(".git/info/exclude");
        std::fs::create_dir_all(exclude.parent().unwrap()).unwrap();
        std::fs::write(&exclude, "# the user's\n*.log").unwrap();
        for name in ["packages/a", "packages/[b]"] {
            std::fs::create_dir_all(core.path().join(name)).unwrap();
        }
        let folders = [PathBuf::from("packages/a"), PathBuf::from("packages/[b]")];
        exclude_clones(core.path(), &folders).unwrap();
        exclude_clones(core.path(), &folders).unwrap();
        assert_eq!(
            std::fs::read_to_string(&exclude).unwrap(),
            format!("# the user's\n*.log\n{HEADING}\n/packages/a/\n/packages/\\[b\\]/\n")
        );
    }

    #[test]
    fn a_core_outside_git_is_left_alone() {
        let folder = tempfile::tempdir().unwrap();
        assert!(planned(folder.path(), &[PathBuf::from("packages/a")])
            .unwrap()
            .is_none());
    }
}
