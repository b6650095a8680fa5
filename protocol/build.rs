//! Records the git commit this build comes from as `HPM_GIT_COMMIT`, for
//! `hpmctl --version` and `hpmd --version`: `HPM_BUILD_COMMIT` when set (a
//! packager building from a tarball), else the `BUILD_COMMIT` file an sdist
//! carries at the workspace's root (`contrib/python/build-wheel` writes it),
//! else `git rev-parse`, else `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HPM_BUILD_COMMIT");
    let sdist_commit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BUILD_COMMIT");
    let commit = match std::env::var("HPM_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_string(),
        _ => match std::fs::read_to_string(&sdist_commit) {
            Ok(commit) if !commit.trim().is_empty() => {
                println!("cargo:rerun-if-changed={}", sdist_commit.display());
                commit.trim().to_string()
            }
            _ => {
                watch_head();
                git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string())
            }
        },
    };
    println!("cargo:rustc-env=HPM_GIT_COMMIT={commit}");
}

/// Reruns this script when HEAD moves: a checkout (HEAD), a commit (the
/// branch's loose ref, under `refs/heads`, which cargo scans as a folder),
/// a `git pack-refs` (`packed-refs`). Only paths that exist are named: cargo
/// reruns a script on every build while a path it names is missing.
fn watch_head() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return;
    };
    let common = git(&["rev-parse", "--git-common-dir"])
        .map(|dir| Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap_or_else(|| git_dir.clone());
    for path in [
        git_dir.join("HEAD"),
        common.join("refs/heads"),
        common.join("packed-refs"),
    ] {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}
