//! The edits a change makes to the user's files before its sync: a group's
//! selection in `hpm.yaml` (`group add|remove`), a package added (`add`:
//! a registry entry file and the manifest) or removed (`remove`). Each is
//! computed first ([`FileEdits`], before and after texts, nothing written),
//! then written under the workspace lock, and undone when the sync fails
//! (a file the user changed again meanwhile is left as it is).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hpm_core::manifest::{Manifest, RegistryLocation};
use hpm_core::manifest_edit;
use hpm_core::name::check_package_name;
use hpm_core::registry::{EntryOrigin, GitRef, Registry, RegistryEntry, SourceSpec};
use hpm_core::url::check_git_url;
use hpm_core::version::{proposed_tags, version_specifier};
use hpm_core::{Mode, Problem};
use hpm_protocol::report::FileDiff;
use hpm_protocol::{AddPackage, RemovePackage};

use crate::error::{Error, Result};
use crate::fsutil::{read_text, write_atomic, write_through};
use crate::inputs::load_registry;
use crate::workspace::Workspace;

/// Select or deselect one option of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEdit {
    pub group: String,
    pub option: String,
    pub select: bool,
}

/// One file's change: its text before (`None`: it does not exist) and
/// after (`None`: it is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The files a change edits, what to tell the user, and a registry entry
/// it writes (which a dry run reads as if it were on disk).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEdits {
    pub files: Vec<FileEdit>,
    pub notes: Vec<String>,
    pub entry: Option<(RegistryEntry, EntryOrigin)>,
}

impl FileEdits {
    /// What each file would become, as a unified diff labelled with its
    /// path under `root` (what a dry run shows).
    pub fn diffs(&self, root: &Path) -> Vec<FileDiff> {
        self.files
            .iter()
            .map(|file| {
                let label = file
                    .path
                    .strip_prefix(root)
                    .unwrap_or(&file.path)
                    .display()
                    .to_string();
                let before = file.before.as_deref().unwrap_or_default();
                let after = file.after.as_deref().unwrap_or_default();
                FileDiff {
                    path: file.path.clone(),
                    diff: hpm_core::diff::unified(&label, before, after),
                }
            })
            .collect()
    }

    /// An edit of `hpm.yaml` alone.
    fn of_manifest(path: PathBuf, before: String, after: String) -> FileEdits {
        FileEdits {
            files: vec![FileEdit {
                path,
                before: Some(before),
                after: Some(after),
            }],
            ..FileEdits::default()
        }
    }

    /// The manifest as it will be.
    pub fn manifest(&self, workspace: &Workspace) -> Result<Option<Manifest>> {
        let path = workspace.manifest_path();
        let Some(edit) = self.files.iter().find(|edit| edit.path == path) else {
            return Ok(None);
        };
        let text = edit.after.as_deref().unwrap_or_default();
        Ok(Some(Manifest::parse(text, &path)?))
    }

    /// The registry entry written, as a registry.
    pub fn registry(&self) -> Registry {
        Registry::from_entries(self.entry.clone())
    }

    /// Each file's path, text before and text after, as the transaction
    /// journals them.
    pub fn journaled(&self) -> impl Iterator<Item = (&Path, Option<&str>, Option<&str>)> {
        self.files.iter().map(|edit| {
            (
                edit.path.as_path(),
                edit.before.as_deref(),
                edit.after.as_deref(),
            )
        })
    }

    /// Writes every file (through a symbolic link, to its target). The
    /// caller has journaled them ([`crate::transaction::Transaction::journal_edits`]):
    /// a failure part-way is put back by the transaction, so a `hpm.yaml`
    /// edited for a registry entry that could not be written never stays.
    pub fn write(&self) -> Result<()> {
        for edit in &self.files {
            put(&edit.path, edit.after.as_deref())?;
        }
        Ok(())
    }
}

fn put(path: &Path, text: Option<&str>) -> Result<()> {
    match text {
        Some(text) if path.exists() => {
            write_through(path, text.as_bytes()).map_err(|e| Error::write(path, e))
        }
        Some(text) => {
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|e| Error::write(folder, e))?;
            }
            write_atomic(path, text.as_bytes()).map_err(|e| Error::write(path, e))
        }
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::write(path, e)),
            _ => Ok(()),
        },
    }
}

fn manifest_text(workspace: &Workspace) -> Result<(PathBuf, String)> {
    let path = workspace.manifest_path();
    let text = read_text(&path).map_err(|e| Error::read(&path, e))?;
    Ok((path, text))
}

/// Selecting or deselecting a group's option.
pub fn group_edits(workspace: &Workspace, edit: &GroupEdit) -> Result<FileEdits> {
    let (path, text) = manifest_text(workspace)?;
    let after = manifest_edit::set_selected(&text, &path, &edit.group, &edit.option, edit.select)?;
    Ok(FileEdits::of_manifest(path, text, after))
}

/// Adding a package: its registry entry (unless it has one), checked
/// against its remote, and the manifest line.
pub fn add_edits(workspace: &Workspace, spec: &AddPackage) -> Result<FileEdits> {
    let (manifest_path, text) = manifest_text(workspace)?;
    let manifest = Manifest::parse(&text, &manifest_path)?;
    let name = spec.package.as_str();
    check_package_name(name).map_err(|message| {
        Error::invalid(
            Problem::new(message)
                .hint("package names are letters, digits, `-`, `_` and `.` (PEP 508)"),
        )
    })?;
    let after = manifest_edit::add_package(&text, &manifest_path, name, spec.group.as_deref())?;
    let mut edits = FileEdits::of_manifest(manifest_path, text, after);
    let root = workspace.root();
    let existing = load_registry(workspace, &manifest, &[name], true)?;
    let asks_for_sources = spec.git.is_some()
        || spec.pypi.is_some()
        || spec.prod.is_some()
        || spec.staging.is_some()
        || spec.dev.is_some();
    if let Some((_, origin)) = existing.get(name) {
        if asks_for_sources {
            return Err(Error::invalid(
                Problem::new("has a registry entry already; hpm does not write a second one")
                    .in_file(origin.label())
                    .for_package(name)
                    .hint(format!("run `hpmctl add {name}` without source options to use it, or edit that file")),
            ));
        }
        edits.notes.push(format!(
            "uses the registry entry in `{}`",
            origin.label().display()
        ));
        return Ok(edits);
    }
    if spec.git.is_none() && spec.pypi.is_none() {
        return Err(Error::invalid(
            Problem::new("has no registry entry")
                .for_package(name)
                .hint(format!("give where it comes from: `hpmctl add {name} --git URL` (tags proposed from the remote) or `--pypi VERSION`")),
        ));
    }
    let (entry, notes) = new_entry(workspace, spec)?;
    let folder = registry_folder(root, &manifest, spec)?;
    let path = folder.join(format!("{name}.yaml"));
    edits.notes.extend(notes);
    edits
        .notes
        .push(format!("wrote the registry entry `{}`", path.display()));
    edits.files.push(FileEdit {
        path: path.clone(),
        before: None,
        after: Some(entry.to_yaml()),
    });
    edits.entry = Some((entry, EntryOrigin::File(path)));
    Ok(edits)
}

/// The registry folder an added entry goes into.
fn registry_folder(root: &Path, manifest: &Manifest, spec: &AddPackage) -> Result<PathBuf> {
    if let Some(folder) = &spec.registry {
        return Ok(root.join(folder));
    }
    manifest
        .registry
        .iter()
        .find_map(|location| match location {
            RegistryLocation::Folder(path) | RegistryLocation::Path { path } => {
                Some(root.join(path))
            }
            RegistryLocation::Git { .. } => None,
        })
        .ok_or_else(|| {
            Error::invalid(
                Problem::new("the manifest has no registry folder to write the entry into")
                    .in_file(root.join(hpm_core::manifest::MANIFEST_FILE))
                    .hint("give one with `--registry DIR` (a folder listed first under `registry:` overlays a git registry)"),
            )
        })
}

/// The entry `spec` describes, its refs checked against the remote; the
/// notes say what was proposed.
fn new_entry(workspace: &Workspace, spec: &AddPackage) -> Result<(RegistryEntry, Vec<String>)> {
    let name = &spec.package;
    let mut notes = Vec::new();
    let mut sources = BTreeMap::new();
    if let Some(url) = &spec.git {
        sources.extend(git_sources(workspace, spec, url, &mut notes)?);
    }
    if let Some(version) = &spec.pypi {
        if spec.prod.is_some() {
            return Err(Error::invalid(
                Problem::new("`--prod` and `--pypi` both say where prod comes from")
                    .for_package(name)
                    .hint("give one of them"),
            ));
        }
        version_specifier(version).map_err(|problem| Error::invalid(problem.for_package(name)))?;
        sources.insert(
            mode("prod")?,
            SourceSpec::Pypi {
                version: Some(version.clone()),
                index: None,
            },
        );
    }
    if let Some(path) = &spec.dev {
        sources.insert(
            Mode::dev(),
            SourceSpec::Local {
                path: path.clone(),
                editable: true,
            },
        );
    } else if spec.git.is_some() {
        let packages_dir = workspace
            .load_manifest()
            .map(|m| m.settings.packages_dir)
            .unwrap_or_else(|_| "packages".into());
        notes.push(format!(
            "dev: a clone in `{}/{name}` (`--dev PATH` chooses another folder)",
            packages_dir.trim_end_matches('/')
        ));
    }
    Ok((
        RegistryEntry {
            name: name.clone(),
            repo: spec.git.clone(),
            branch: None,
            sources,
        },
        notes,
    ))
}

fn mode(name: &str) -> Result<Mode> {
    Mode::new(name).map_err(Error::internal)
}

/// The prod and staging git sources of a package added with `--git URL`:
/// the refs given (each checked on the remote), else its highest stable
/// and `.devN` tags, said in `notes`.
fn git_sources(
    workspace: &Workspace,
    spec: &AddPackage,
    url: &str,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<Mode, SourceSpec>> {
    let name = &spec.package;
    check_git_url(url).map_err(|problem| Error::invalid(problem.for_package(name)))?;
    let refs = crate::git::remote::list_remote(workspace.caller(), url).map_err(|failure| {
        Error::Network {
            problems: vec![
                Problem::new(format!("cannot list the refs of `{url}`: {failure}"))
                    .for_package(name)
                    .hint(failure.hint()),
            ],
        }
    })?;
    let (stable, dev) = proposed_tags(&refs.tags);
    let mut sources = BTreeMap::new();
    for (mode_name, given, proposed, kind) in [
        ("prod", &spec.prod, stable, "stable"),
        ("staging", &spec.staging, dev, "`.devN`"),
    ] {
        if mode_name == "prod" && spec.pypi.is_some() {
            continue;
        }
        let reference = match (given, proposed) {
            (Some(reference), proposed) => {
                checked_ref(&refs, url, name, reference, proposed, kind)?
            }
            (None, Some(tag)) => {
                notes.push(format!(
                    "{mode_name}: `{tag}`, the highest {kind} tag of `{url}` (`--{mode_name} REF` chooses another)"
                ));
                GitRef::Tag(tag)
            }
            (None, None) => {
                notes.push(format!(
                    "{mode_name}: none, `{url}` has no {kind} tag (`--{mode_name} REF` gives one)"
                ));
                continue;
            }
        };
        sources.insert(
            mode(mode_name)?,
            SourceSpec::Git {
                url: url.to_string(),
                reference,
                subdirectory: None,
            },
        );
    }
    Ok(sources)
}

/// A ref given for a mode, as the remote has it: a tag, a branch, or a
/// commit id; anything else is refused with the tag hpm would propose.
fn checked_ref(
    refs: &hpm_core::pin::RemoteRefs,
    url: &str,
    name: &str,
    reference: &str,
    proposed: Option<String>,
    kind: &str,
) -> Result<GitRef> {
    if refs.tags.contains(reference) {
        return Ok(GitRef::Tag(reference.to_string()));
    }
    if refs.branches.contains(reference) {
        return Ok(GitRef::Branch(reference.to_string()));
    }
    if reference.len() >= 7 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(GitRef::Rev(reference.to_string()));
    }
    Err(Error::invalid(
        Problem::new(format!("`{reference}` is not a tag or branch of `{url}`"))
            .for_package(name)
            .hint(format!(
                "its highest {kind} tag is {}",
                proposed.map_or("none".to_string(), |t| format!("`{t}`"))
            )),
    ))
}

/// Removing a package from the manifest (and its entry file, when asked).
pub fn remove_edits(workspace: &Workspace, spec: &RemovePackage) -> Result<FileEdits> {
    let (manifest_path, text) = manifest_text(workspace)?;
    let manifest = Manifest::parse(&text, &manifest_path)?;
    let after = manifest_edit::remove_package(&text, &manifest_path, &spec.package)?;
    let mut edits = FileEdits::of_manifest(manifest_path, text, after);
    if !spec.registry_too {
        return Ok(edits);
    }
    let registry = load_registry(workspace, &manifest, &[&spec.package], true)?;
    match registry.get(&spec.package) {
        Some((_, EntryOrigin::File(path))) => {
            let before = read_text(path).map_err(|e| Error::read(path, e))?;
            edits
                .notes
                .push(format!("removed the registry entry `{}`", path.display()));
            edits.files.push(FileEdit {
                path: path.clone(),
                before: Some(before),
                after: None,
            });
        }
        Some((_, origin)) => edits.notes.push(format!(
            "kept the registry entry in `{}`: hpm deletes entry files of registry folders only",
            origin.label().display()
        )),
        None => {}
    }
    Ok(edits)
}
