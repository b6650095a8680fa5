//! Where hpm may write in a workspace: a path a registry names is kept
//! inside the workspace unless the user's own `hpm.yaml` allows a folder
//! outside it (a shared registry must not point users' clones anywhere).

use std::path::{Component, Path, PathBuf};

/// `path` (relative to the workspace root, or absolute) with `.` and `..`
/// resolved lexically; `None` when it climbs above the filesystem root.
pub fn normalize(root: &Path, path: &str) -> Option<PathBuf> {
    let joined = root.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Whether `path` stays inside the workspace at `root`.
pub fn is_inside(root: &Path, path: &str) -> bool {
    normalize(root, path).is_some_and(|path| path.starts_with(root) && path != root)
}

/// The entry of `allowed` (folders relative to the root, from
/// `hpm.yaml`) that holds `path`, if any.
pub fn allowed_by<'a>(root: &Path, path: &str, allowed: &'a [String]) -> Option<&'a str> {
    let path = normalize(root, path)?;
    allowed
        .iter()
        .find(|folder| {
            normalize(root, folder)
                .is_some_and(|folder| path.starts_with(&folder) && path != folder)
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbing_out_is_outside_and_an_allowed_folder_holds_its_subfolders() {
        let root = Path::new("/w/core");
        assert!(is_inside(root, "packages/a"));
        assert!(is_inside(root, "./packages/../packages/a"));
        assert!(!is_inside(root, "../../../x"));
        assert!(!is_inside(root, "/etc/x"));
        assert!(!is_inside(root, "."));
        let allowed = ["../my-libs".to_string()];
        assert_eq!(
            allowed_by(root, "../my-libs/lib-a", &allowed),
            Some("../my-libs")
        );
        assert_eq!(allowed_by(root, "../my-libs-other/x", &allowed), None);
        assert_eq!(allowed_by(root, "../my-libs", &allowed), None);
    }
}
