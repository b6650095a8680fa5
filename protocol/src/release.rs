//! The reports of `hpmctl release` (and of the daemon's `releaseApply`),
//! and of `hpmctl import`, as `--json` prints them: typed here, with their
//! JSON Schemas ([`crate::schema`]), so that editors and scripts read them
//! as they read every other report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hpm_core::release::plan::ReleasePlan;
use hpm_core::Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::report::{FileDiff, SyncReport};

/// What `release plan` wrote.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanReport {
    pub id: String,
    pub dir: PathBuf,
    pub plan: ReleasePlan,
    /// Each step's key (`alpha:tag`, `registry`, …), in order.
    pub steps: Vec<String>,
}

/// What `release notes` wrote or found.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotesReport {
    pub id: String,
    pub folders: Vec<PathBuf>,
    /// Per package: whether its `release-notes.md` is filled (and valid).
    pub filled: BTreeMap<String, bool>,
}

/// One exact thing a release step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Effect {
    /// A file replaced (atomically), shown as a unified diff.
    Write { path: String, diff: String },
    /// `git ARGV` run in `dir`.
    Git { dir: String, argv: Vec<String> },
    /// `uv ARGV` run in `dir`.
    Uv { dir: String, argv: Vec<String> },
    /// A forge call; the token is never part of it.
    Http {
        method: String,
        url: String,
        body: Value,
    },
}

/// A step as a run (or an observation) found or left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepReport {
    /// `alpha:tag`, `registry`, …
    pub step: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// Why, for `failed` and `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    /// Found done (by an earlier run, or by someone else).
    Done,
    /// Done by this run.
    Applied,
    /// Still to do (a dry run, a status, or after a failure).
    Todo,
    Failed,
    Conflict,
}

impl StepState {
    /// The name the JSON report and the daemon's events use.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Applied => "applied",
            StepState::Todo => "todo",
            StepState::Failed => "failed",
            StepState::Conflict => "conflict",
        }
    }
}

impl std::fmt::Display for StepState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended; the client's exit code follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Complete,
    DryRun,
    /// Nothing was changed.
    PreflightFailed,
    /// Some steps are done; `hpmctl release resume <id>` finishes.
    Partial,
    /// A state a person must sort out.
    Conflict,
    /// A dry run could not reach a remote or the forge to observe a step:
    /// nothing was changed, and nothing is to resume.
    Unreachable,
}

impl Outcome {
    /// The name the JSON report and the daemon's events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::DryRun => "dry-run",
            Outcome::PreflightFailed => "preflight-failed",
            Outcome::Partial => "partial",
            Outcome::Conflict => "conflict",
            Outcome::Unreachable => "unreachable",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `release apply`, `resume` and `status` report.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApplyReport {
    pub id: String,
    pub outcome: Outcome,
    pub steps: Vec<StepReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// The command that finishes a partial run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

/// What `release abort` undid and what it left because it is public.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AbortReport {
    pub id: String,
    pub undone: Vec<String>,
    pub kept: Vec<String>,
}

/// What an import found, wrote (or would write), and could not map.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub packages: Vec<ImportedPackage>,
    pub written: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<FileDiff>,
    pub notes: Vec<String>,
    /// The submodules detached into clones (or that would be).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detached: Vec<String>,
    /// The first sync, of the mode the manifest names (none with
    /// `--no-sync` or a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced: Option<SyncReport>,
}

/// A package an import found: a submodule, or a clone in a member folder.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportedPackage {
    pub name: String,
    pub path: String,
    pub url: Option<String>,
    pub submodule: bool,
}
