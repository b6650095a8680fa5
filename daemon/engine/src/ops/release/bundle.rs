//! The LLM bundle ("diff files"): per package, under
//! `.hpm/releases/<id>/llm/<package>/`, what a model needs to write the
//! release notes (and a commit message for uncommitted work): the context
//! as JSON, the commits, a diffstat, the patch since the previous tag (and
//! the uncommitted changes), capped per file and in total with a visible
//! marker, lock files and binaries left out; two prompts; and two empty
//! output slots. Outputs echo the inputs hash, so notes written before the
//! code moved are refused as stale; a filled slot is never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::manifest::ReleaseSettings;
use hpm_core::metadata::ProjectMeta;
use hpm_core::release::commits::parse;
use hpm_core::release::notes::{check_commit_message, check_notes, commit_echo, notes_echo};
use hpm_core::release::plan::{PackageRelease, ReleasePlan};
use hpm_core::Problem;
use serde_json::json;

use super::steps;
use crate::error::{Error, Result};
use crate::fsutil::{read_optional, write_atomic};
use crate::git::history;

pub const NOTES_SLOT: &str = "release-notes.md";
pub const COMMIT_SLOT: &str = "commit-message.txt";

/// Files whose diff says nothing a reader needs.
fn is_lock_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".lock") || matches!(name, "package-lock.json" | "pnpm-lock.yaml" | "Cargo.lock")
}

/// The folder of `package`'s bundle.
pub fn folder(release_dir: &Path, package: &str) -> PathBuf {
    release_dir.join("llm").join(package)
}

/// The inputs hash of `p` as its clone is now: the release, the previous
/// tag, the head commit, and the uncommitted changes. What hpm itself does
/// on the way (the version it sets, its release commit) leaves it alone,
/// so notes filled in before a run still hold when a killed run resumes;
/// any other move of the code makes them stale.
pub fn inputs_hash(plan: &ReleasePlan, p: &PackageRelease) -> Result<String> {
    let repo = history::open(Path::new(&p.clone))?;
    let (_, head) = history::head(&repo)?;
    let planned = git2::Oid::from_str(&p.head).map_err(|e| Error::internal(e.to_string()))?;
    let ours = history::commit_with_trailer(&repo, head, planned, &steps::trailer(&plan.id))
        .or_else(|| {
            history::commit_with_trailer(&repo, head, planned, &steps::work_trailer(&plan.id))
        });
    let head = if ours == Some(head) {
        p.head.clone()
    } else {
        head.to_string()
    };
    // The planned work (committed or not yet), then anything else.
    let hpms = steps::commit_files(p);
    let mut uncommitted = p.work.clone();
    let mut others: Vec<String> = history::tracked_changes(&repo)
        .into_iter()
        .filter(|file| !hpms.contains(file) && !p.work.contains(file))
        .collect();
    others.sort();
    uncommitted.extend(others);
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        plan.id,
        p.name,
        p.previous_tag.as_deref().unwrap_or(""),
        head,
        p.version,
        uncommitted.join("\n")
    );
    Ok(hpm_core::fingerprint::sha256_hex(text.as_bytes()))
}

/// Writes every package's bundle; returns the folders.
pub fn write(
    plan: &ReleasePlan,
    release_dir: &Path,
    settings: &ReleaseSettings,
) -> Result<Vec<PathBuf>> {
    plan.packages
        .iter()
        .map(|p| write_package(plan, p, release_dir, settings))
        .collect()
}

/// Writes the bundle of `p`: its context, commits, diff and prompts, and
/// the empty output slots it does not have yet (filled ones are kept).
fn write_package(
    plan: &ReleasePlan,
    p: &PackageRelease,
    release_dir: &Path,
    settings: &ReleaseSettings,
) -> Result<PathBuf> {
    let dir = folder(release_dir, &p.name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    let hash = inputs_hash(plan, p)?;
    let repo = history::open(Path::new(&p.clone))?;
    let (_, head) = history::head(&repo)?;
    let since = p
        .previous_tag
        .as_deref()
        .and_then(|t| history::tag_commit(&repo, t));
    let (patch, stat, files) = patch_of(&repo, since, head, settings)?;
    let dependencies = |commit: Option<git2::Oid>| {
        commit
            .and_then(|c| history::file_at(&repo, c, "pyproject.toml"))
            .and_then(|t| ProjectMeta::read(&t).ok())
            .map(|m| m.dependencies)
            .unwrap_or_default()
    };
    let (before, after) = (dependencies(since), dependencies(Some(head)));
    let mut context = json!({
        "package": p.name,
        "mode": plan.kind.mode(),
        "previous_tag": p.previous_tag,
        "version": p.version,
        "tag": p.tag,
        "why": p.why,
        "commits": p.commits.iter().map(|c| json!({
            "id": c.id,
            "message": c.message,
            "conventional": parse(&c.message),
        })).collect::<Vec<_>>(),
        "files_changed": files,
        "dependency_changes": {
            "added": after.iter().filter(|d| !before.contains(d)).collect::<Vec<_>>(),
            "removed": before.iter().filter(|d| !after.contains(d)).collect::<Vec<_>>(),
        },
        "inputs_hash": hash,
    });
    if p.core {
        context["packages"] = json!(plan
            .packages
            .iter()
            .filter(|q| !q.core)
            .map(|q| json!({ "package": q.name, "version": q.version, "tag": q.tag }))
            .collect::<Vec<_>>());
    }
    let files: Vec<(&str, String)> = vec![
        (
            "context.json",
            serde_json::to_string_pretty(&context).unwrap_or_default() + "\n",
        ),
        ("commits.md", commits_markdown(p)),
        ("diffstat.txt", stat),
        ("diff.patch", patch),
        ("prompt-release-notes.md", notes_prompt(p, &hash)),
        ("prompt-commit-message.md", commit_prompt(p, &hash)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|e| Error::write(&path, e))?;
    }
    for slot in [NOTES_SLOT, COMMIT_SLOT] {
        let path = dir.join(slot);
        let filled = read_optional(&path)
            .map_err(|e| Error::read(&path, e))?
            .is_some_and(|b| !b.is_empty());
        if !filled {
            write_atomic(&path, b"").map_err(|e| Error::write(&path, e))?;
        }
    }
    Ok(dir)
}

/// `commits.md`: a heading per commit (short id, summary), its body below.
fn commits_markdown(p: &PackageRelease) -> String {
    p.commits
        .iter()
        .map(|c| {
            format!(
                "## {} {}\n\n{}\n",
                c.short_id(),
                c.summary(),
                c.message
                    .lines()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .trim()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A package's output slots, checked: `None` where a slot is empty.
#[derive(Debug, Clone, Default)]
pub struct Filled {
    pub notes: Option<String>,
    /// The message for the uncommitted work (its inputs line taken off).
    pub commit_message: Option<String>,
}

/// What `notes --check` and `apply` find in the output slots of each
/// package, or the problems.
pub fn check(plan: &ReleasePlan, release_dir: &Path) -> Result<BTreeMap<String, Filled>> {
    let mut filled: BTreeMap<String, Filled> = BTreeMap::new();
    let mut problems = Vec::new();
    for p in &plan.packages {
        let dir = folder(release_dir, &p.name);
        let hash = inputs_hash(plan, p)?;
        let read = |slot: &str| -> Result<String> {
            let path = dir.join(slot);
            let bytes = read_optional(&path)
                .map_err(|e| Error::read(&path, e))?
                .unwrap_or_default();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let slots = filled.entry(p.name.clone()).or_default();
        let text = read(NOTES_SLOT)?;
        if !text.trim().is_empty() {
            match check_notes(&text, &hash) {
                Ok(checked) => slots.notes = Some(checked),
                Err(why) => problems.push(
                    Problem::new(why)
                        .in_file(dir.join(NOTES_SLOT))
                        .for_package(&p.name),
                ),
            }
        }
        let message = read(COMMIT_SLOT)?;
        if !message.trim().is_empty() {
            match check_commit_message(&message, &hash) {
                Ok(checked) => slots.commit_message = Some(checked),
                Err(why) => problems.push(
                    Problem::new(why)
                        .in_file(dir.join(COMMIT_SLOT))
                        .for_package(&p.name),
                ),
            }
        }
    }
    hpm_core::Invalid::check(problems)?;
    Ok(filled)
}

/// The patch `since..head` and the uncommitted changes, capped; the
/// diffstat; the files changed.
fn patch_of(
    repo: &git2::Repository,
    since: Option<git2::Oid>,
    head: git2::Oid,
    settings: &ReleaseSettings,
) -> Result<(String, String, Vec<String>)> {
    let (committed, uncommitted) = diffs_of(repo, since, head)
        .map_err(|e| Error::internal(format!("diffing: {}", e.message())))?;
    let mut out = String::new();
    let mut stat = String::new();
    let mut files = Vec::new();
    let mut total = 0usize;
    for (title, diff) in [
        ("since the previous tag", &committed),
        (
            "uncommitted (staged and unstaged, files git tracks)",
            &uncommitted,
        ),
    ] {
        if diff.deltas().len() == 0 {
            continue;
        }
        out.push_str(&format!("# {title}\n"));
        for index in 0..diff.deltas().len() {
            let Ok(Some(mut patch)) = git2::Patch::from_diff(diff, index) else {
                continue;
            };
            let delta = patch.delta();
            let path = delta
                .new_file()
                .path()
                .or(delta.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (_, added, removed) = patch.line_stats().unwrap_or((0, 0, 0));
            stat.push_str(&format!("{added:>6} {removed:>6}  {path}\n"));
            files.push(path.clone());
            if is_lock_file(&path) {
                out.push_str(&format!("[{path}: lock file left out]\n"));
                continue;
            }
            if delta.flags().is_binary() || delta.new_file().is_binary() {
                out.push_str(&format!("[{path}: binary file left out]\n"));
                continue;
            }
            let text = patch
                .to_buf()
                .ok()
                .and_then(|b| b.as_str().ok().map(str::to_string))
                .unwrap_or_default();
            let room = settings.llm_max_total_bytes.saturating_sub(total);
            let cap = settings.llm_max_file_bytes.min(room);
            total += push_capped(&mut out, &text, cap, &path);
        }
    }
    Ok((out, stat, files))
}

/// Appends at most `cap` bytes of `text` (the patch of `path`) to `out`,
/// cut at a character boundary and saying how much was left out; answers
/// how many bytes of it went in.
fn push_capped(out: &mut String, text: &str, cap: usize, path: &str) -> usize {
    if text.len() <= cap {
        out.push_str(text);
        return text.len();
    }
    let mut cut = cap;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    out.push_str(&text[..cut]);
    out.push_str(&format!(
        "\n[... truncated: {} of {} bytes of {path} left out ...]\n",
        text.len() - cut,
        text.len()
    ));
    cut
}

/// The diff `since..head`, and head's against the work tree and index
/// (files git tracks only).
fn diffs_of(
    repo: &git2::Repository,
    since: Option<git2::Oid>,
    head: git2::Oid,
) -> std::result::Result<(git2::Diff<'_>, git2::Diff<'_>), git2::Error> {
    let head_tree = repo.find_commit(head)?.tree()?;
    let old_tree = match since {
        Some(since) => Some(repo.find_commit(since)?.tree()?),
        None => None,
    };
    let committed = repo.diff_tree_to_tree(old_tree.as_ref(), Some(&head_tree), None)?;
    let mut options = git2::DiffOptions::new();
    // Files git does not track are never the bundle's (a plan refuses
    // them; one made since is left out).
    options.include_untracked(false);
    let uncommitted = repo.diff_tree_to_workdir_with_index(Some(&head_tree), Some(&mut options))?;
    Ok((committed, uncommitted))
}

fn notes_prompt(p: &PackageRelease, hash: &str) -> String {
    format!(
        "Write the release notes of {name} {version} ({tag}) for its users.\n\n\
         Read `context.json`, `commits.md`, `diffstat.txt` and `diff.patch` in this folder.\n\
         Group the changes as Breaking changes, Features, Fixes and Other changes; say what changed for a user, not how.\n\
         Write Markdown into `{slot}`. Its first line must be exactly:\n\n{echo}\n\n\
         then the notes. Keep them under 100000 characters.\n",
        name = p.name,
        version = p.version,
        tag = p.tag,
        slot = NOTES_SLOT,
        echo = notes_echo(hash)
    )
}

fn commit_prompt(p: &PackageRelease, hash: &str) -> String {
    format!(
        "Write the commit message for the uncommitted changes of {name} (the second part of `diff.patch`):\n\
         the release commits these files first, on their own, with it: {files}.\n\n\
         Use Conventional Commits: a first line `type(scope): description` (types: feat, fix, perf, refactor, docs, test, build, ci, chore),\n\
         a blank line, then a body saying why. Write only the message, no shell commands, into `{slot}`,\n\
         and end it with this line:\n\n{echo}\n",
        name = p.name,
        files = if p.work.is_empty() { "(none: the clone was clean at the plan)".to_string() } else { p.work.join(", ") },
        slot = COMMIT_SLOT,
        echo = commit_echo(hash)
    )
}
