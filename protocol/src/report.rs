//! The reports hpm's operations return, as `--json` prints them and the
//! daemon sends them; field names are stable (documented in the README).

use std::fmt;
use std::path::PathBuf;

use hpm_core::plan::{Plan, PlannedSource};
use hpm_core::registry::MovedSource;
use hpm_core::Mode;
use serde::{Deserialize, Serialize};

/// What a reconcile did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncReport {
    pub mode: Mode,
    /// `up_to_date` when nothing had changed and uv did not run.
    pub outcome: SyncOutcome,
    pub plan: Plan,
    /// Packages uv was told to reinstall because their source changed.
    pub reinstalled: Vec<String>,
    /// Files a user edited during the sync; hpm kept their version.
    pub kept_user_edits: Vec<PathBuf>,
    /// Existing clones this request put into use that have uncommitted
    /// changes (used as they are, never touched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirty_clones: Vec<String>,
    /// What the user should know though nothing failed (a tag whose
    /// `pyproject.toml` says another version).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the command chose or wrote for the user (`hpmctl add`'s
    /// proposed tags, the files it wrote).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// How long uv ran, in milliseconds, when this sync ran it: the rest
    /// of the command's time is hpm's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uv_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    UpToDate,
    Synced,
    /// Files were edited as asked and no sync was asked for (`--no-sync`).
    Edited,
}

/// A step of a reconcile worth telling the user about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Progress {
    /// A journal left by a killed run was rolled back.
    Recovered(Recovery),
    /// A phase of hpm's own work.
    Phase { phase: Phase },
    /// One line of uv's output.
    Uv { line: String },
}

/// hpm's own steps in a reconcile; `Display` is the line people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Phase {
    Validating,
    Writing,
    RunningUv {
        args: Vec<String>,
    },
    Cloning {
        package: String,
        url: String,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowed_by: Option<String>,
    },
    CloneProgress {
        package: String,
        percent: usize,
        received: usize,
        total: usize,
    },
    Cloned {
        package: String,
        path: String,
    },
    /// An existing clone put into use has uncommitted changes.
    UsingDirtyClone {
        path: String,
    },
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Validating => f.write_str("validating"),
            Phase::Writing => f.write_str("writing"),
            Phase::RunningUv { args } => write!(f, "running uv {}", args.join(" ")),
            Phase::Cloning {
                package,
                url,
                path,
                allowed_by,
            } => {
                write!(f, "cloning {package} from {url} into {path}")?;
                match allowed_by {
                    Some(allowed_by) => write!(f, " (outside the workspace, allowed by {allowed_by})"),
                    None => Ok(()),
                }
            }
            Phase::CloneProgress {
                package,
                percent,
                received,
                total,
            } => write!(f, "cloning {package}: {percent}% ({received}/{total} objects)"),
            Phase::Cloned { package, path } => write!(f, "cloned {package} into {path}"),
            Phase::UsingDirtyClone { path } => write!(
                f,
                "using the existing clone `{path}` as it is: it has uncommitted changes, which hpm never touches"
            ),
        }
    }
}

/// What was found and done when a leftover journal was rolled back.
/// One group of the manifest, as `hpmctl group list --json` prints it
/// (by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupListing {
    pub options: Vec<String>,
    pub selected: Vec<String>,
    pub multiple: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recovery {
    /// Files put back to their content before the interrupted run.
    pub restored: Vec<PathBuf>,
    /// Files the user edited after the interrupted run; left as they are.
    pub kept_user_edits: Vec<PathBuf>,
    /// Copies saved under `.hpm/backup/` of what was put back: a `uv.lock`
    /// changed after a crash may be the user's as well as the killed uv's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<PathBuf>,
}

/// `hpmctl status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusReport {
    pub workspace: String,
    pub mode: Mode,
    /// Whether the inputs still match the last successful sync.
    pub in_sync: bool,
    /// A sync was interrupted (hpm killed, or uv left running) and its
    /// journal waits to be rolled back by the next command; absent when
    /// none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interrupted>,
    /// How the daemon watches the workspace (`native` or `polling`);
    /// absent when no daemon does (`--no-daemon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watching: Option<WatchMode>,
    pub packages: Vec<PackageStatus>,
    /// The modes the workspace names (`dev`, the current one, and every
    /// mode a registry entry gives a source for; `dev`, `staging`, `prod`
    /// first, then the others by name): what an editor offers to switch to.
    #[serde(default)]
    pub modes: Vec<Mode>,
    /// Clones on disk that the current plan does not use: a registry
    /// entry's local source in another mode, or a folder in `packages_dir`.
    pub unused_clones: Vec<UnusedClone>,
}

/// An interrupted sync's journal, found by `status` or `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interrupted {
    /// The process that was syncing, as its journal records it.
    pub pid: Option<u32>,
    /// What to do next.
    pub hint: String,
}

/// How a workspace is being watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WatchMode {
    Native,
    /// The OS limit was hit; its folders are polled.
    Polling,
}

/// A clone present on disk but not used by the current mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnusedClone {
    /// The package it holds, from the registry or its `pyproject.toml`.
    pub package: Option<String>,
    pub repo: RepoState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageStatus {
    pub name: String,
    pub group: Option<String>,
    pub mode: Mode,
    pub source: PlannedSource,
    pub requirement: String,
    /// The version in the environment, `None` when it is not installed.
    pub installed_version: Option<String>,
    /// Whether what is installed came from the planned source (`None` when
    /// nothing is installed).
    pub installed_matches: Option<bool>,
    /// For a local source: the clone's git state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoState>,
    /// For a package the manifest does not list: the managed packages whose
    /// dependencies brought it in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_by: Vec<String>,
    /// For a package in dev only because dev packages name it with
    /// `{ workspace = true }`: those packages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked_by: Vec<String>,
}

/// A local clone's git state, relative to its upstream branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepoState {
    pub path: String,
    /// The checked-out branch; `None` on a detached HEAD.
    pub branch: Option<String>,
    /// The commit checked out (12 hex digits).
    pub head: Option<String>,
    /// Uncommitted changes, untracked files included.
    pub dirty: bool,
    /// Commits ahead of and behind the upstream; `None` without one.
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// `hpmctl doctor --json`: what hpm needs, each with whether it works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoctorReport {
    /// Every check passed.
    pub ok: bool,
    pub checks: Vec<DoctorCheck>,
}

/// One thing `doctor` looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoctorCheck {
    pub subject: DoctorSubject,
    /// What was looked at: a program's path, the socket, a remote's URL.
    pub name: String,
    pub ok: bool,
    /// A version when it works, else what failed.
    pub detail: String,
    /// What to do when it does not work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// How long the look took.
    pub millis: u64,
}

/// What a [`DoctorCheck`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DoctorSubject {
    Git,
    Uv,
    Daemon,
    Workspace,
    Remote,
}

/// `hpmctl check --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckReport {
    pub workspace: String,
    pub mode: String,
    pub ok: bool,
    pub failures: Vec<CheckFailure>,
    /// What is worth knowing though no check failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why this mode could not be checked here (a local folder it
    /// installs from is missing); its checks did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckFailure {
    pub check: CheckKind,
    pub message: String,
}

/// Which of CI's checks failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// `pyproject.toml` does not say what the plan says.
    Pyproject,
    /// `uv lock --locked` failed.
    Lock,
    /// A package outside a local mode has a local source.
    LocalSource,
    /// `uv.lock` takes an internal package (one the registry or the
    /// core's own files give a source) from a package index, by name.
    IndexSource,
    /// A sync was interrupted and waits to be rolled back.
    Interrupted,
    /// Another mode than the current one would not install: its plan is
    /// refused, or uv cannot lock what hpm would write for it.
    Resolve,
    /// The mode's export folder (`hpmctl export`) is not what an export
    /// writes now, or its lock is not current.
    Export,
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckKind::Pyproject => "pyproject",
            CheckKind::Lock => "lock",
            CheckKind::LocalSource => "local-source",
            CheckKind::IndexSource => "index-source",
            CheckKind::Interrupted => "interrupted",
            CheckKind::Resolve => "resolve",
            CheckKind::Export => "export",
        })
    }
}

/// What `registry update` changed in one git registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryUpdate {
    pub url: String,
    /// The commit the pin moved from; `None` when it did not move.
    pub from: Option<String>,
    pub to: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Per package and mode whose source moved.
    pub moved: Vec<MovedSource>,
}

/// What a change would do, computed without doing it (`--dry-run`): the
/// plan, validated against the disk and the remotes, and the diffs of the
/// files it would write. Nothing is written, cloned or recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DryRunReport {
    pub mode: Mode,
    /// Nothing would change: the sync would be a no-op.
    pub up_to_date: bool,
    pub plan: Plan,
    /// A unified diff per file that would change (`pyproject.toml`, and
    /// `hpm.yaml` for a group edit).
    pub diffs: Vec<FileDiff>,
    /// The dev clones that would be made.
    pub clones: Vec<PlannedClone>,
    /// The packages uv would reinstall (their source changed).
    pub reinstalled: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the change would choose or write (`add`'s proposed tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether uv resolves the result, asked on a scratch copy of the
    /// project (`uv lock` there); `None` when nothing would change.
    pub resolves: Option<bool>,
    /// uv's reason when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uv_reason: Option<String>,
}

/// One file's planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileDiff {
    pub path: PathBuf,
    pub diff: String,
}

/// A clone hpm would make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedClone {
    pub package: String,
    pub url: String,
    /// Relative to the workspace root, as the registry writes it.
    pub path: String,
    /// The branch to check out (the entry's `branch`), else the remote's
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// For a folder outside the workspace: what allowed it (`hpm.yaml`'s
    /// `settings.allow_clones_outside` or `settings.packages_dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_phases_keep_their_json_and_lines() {
        let phase = Progress::Phase {
            phase: Phase::RunningUv {
                args: vec!["sync".into(), "--frozen".into()],
            },
        };
        let json = serde_json::to_string(&phase).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"kind":"phase","phase":{"name":"running_uv","args":["sync","--frozen"]}}"#
        );
        let Progress::Phase { phase } = phase else {
            unreachable!()
        };
        assert_eq!(phase.to_string(), "running uv sync --frozen");
        assert_eq!(
            serde_json::to_string(&CheckKind::LocalSource).unwrap_or_default(),
            r#""local-source""#
        );
    }
}

/// What `hpmctl export MODE` is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportRequest {
    pub mode: Mode,
    /// The folder to write into, relative to the workspace root or
    /// absolute; `MODE/` in the root when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// The exported project depends on the core itself (by its folder).
    #[serde(default)]
    pub with_core: bool,
    /// Replace a `pyproject.toml` there that hpm did not write (the old
    /// one is saved under `.hpm/backup/`).
    #[serde(default)]
    pub force: bool,
    /// Print what would be written; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What the daemon's `releaseApply` is asked for: the release
/// `hpmctl release plan` wrote, applied (or, `dry_run`, described).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseApplyRequest {
    pub id: String,
    #[serde(default)]
    pub dry_run: bool,
    /// Deterministic notes where a slot is empty, rather than refusing.
    #[serde(default)]
    pub notes_auto: bool,
    /// The forge token, when the daemon's environment lacks it. It is used
    /// for the forge's `Authorization` header only: never logged, never
    /// written to the plan or the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for ReleaseApplyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseApplyRequest")
            .field("id", &self.id)
            .field("dry_run", &self.dry_run)
            .field("notes_auto", &self.notes_auto)
            .field("token", &self.token.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// `hpmctl export --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExportReport {
    pub mode: Mode,
    /// The folder written (absolute).
    pub out: PathBuf,
    /// The files that changed (or would, in a dry run); empty when both
    /// were already what the export gives.
    pub changed: Vec<PathBuf>,
    /// Per file that would change, its diff (dry runs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<FileDiff>,
    /// The managed packages and the source each is pinned to.
    pub plan: Plan,
    /// What was rewritten or left out on the way (relative paths made
    /// relative to the export, a dropped `[tool.uv.workspace]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A `pyproject.toml` hpm did not write, saved before it was replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<PathBuf>,
}

/// What `hpmctl image build` is asked for. Every option left out comes
/// from the manifest's `image:` block, then hpm's defaults.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageBuildRequest {
    /// The mode whose lock the image installs.
    pub mode: Mode,
    /// The image's names (`--tag`); `image.tags`, else `<core>:<mode>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Push every tag after the build.
    #[serde(default)]
    pub push: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// The container engine: `docker` (default), `podman`, or a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// A wheelhouse copied into the context and used offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_links: Option<PathBuf>,
    /// The build's network (`none` for a hermetic build, `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// A token for the locked `https://` git sources (the client reads it
    /// from `HPM_GIT_TOKEN` or `--git-token-env VAR`: a daemon's
    /// environment is not its client's). The engine gets it as a BuildKit
    /// secret in its own environment: never logged, never written to the
    /// context, the report or a layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_token: Option<String>,
    /// Say what would be built and run; write nothing, run nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl std::fmt::Debug for ImageBuildRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageBuildRequest")
            .field("mode", &self.mode)
            .field("tags", &self.tags)
            .field("push", &self.push)
            .field("platform", &self.platform)
            .field("base_image", &self.base_image)
            .field("builder_image", &self.builder_image)
            .field("python", &self.python)
            .field("engine", &self.engine)
            .field("find_links", &self.find_links)
            .field("network", &self.network)
            .field("git_token", &self.git_token.as_ref().map(|_| "(redacted)"))
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

/// One tag pushed, with the digest the registry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PushedTag {
    pub tag: String,
    pub digest: String,
}

/// A package the image installs, as its lock gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImagePackage {
    pub name: String,
    pub version: String,
    /// The locked source (a git URL with its commit, an index, a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A package of the registry (a plugin), not a third-party one.
    pub managed: bool,
}

/// `hpmctl image build --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageReport {
    pub mode: Mode,
    /// The image's id (`sha256:…`); absent in a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    pub tags: Vec<String>,
    /// Per pushed tag, the registry's digest (`--push` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<PushedTag>,
    /// The image's size in bytes, as the engine reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub packages: Vec<ImagePackage>,
    /// The build context hpm laid out (under `.hpm/image/`).
    pub context: PathBuf,
    /// The Dockerfile the build used: hpm's, or the workspace's
    /// `Dockerfile.hpm` when one was written and edited there.
    pub dockerfile: PathBuf,
    /// The engine's command lines, in order (build, then each push).
    pub commands: Vec<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}
