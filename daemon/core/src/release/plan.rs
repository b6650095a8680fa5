//! A release plan: what `hpmctl release plan` decided, written to
//! `.hpm/releases/<id>/plan.json` and executed by `apply` and `resume`,
//! and the steps it breaks into (the same list for a dry run, a run and a
//! resume).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::commits::Commit;
use super::versions::ReleaseKind;
use crate::manifest::ForgeKind;

/// The whole release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleasePlan {
    pub id: String,
    pub kind: ReleaseKind,
    pub tag_prefix: String,
    pub forge: ForgeKind,
    /// The forge's API base URL (`release.api`, `HPM_FORGE_API`).
    pub api: Option<String>,
    /// Whether the user's environment chose the API (`HPM_FORGE_API`)
    /// rather than the committed `hpm.yaml`: only then may the token go to
    /// a host other than the packages' own forge.
    #[serde(default)]
    pub api_from_environment: bool,
    /// In release order: dependency layers, then the core.
    pub packages: Vec<PackageRelease>,
    /// Each registry entry's mode source moved to its new tag.
    pub registry: Vec<RegistryEdit>,
    pub warnings: Vec<String>,
}

/// One package's release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageRelease {
    /// As the registry writes it (the core: its project name).
    pub name: String,
    /// The product's core, released last.
    pub core: bool,
    /// The dev clone it is released from (absolute).
    pub clone: String,
    /// The clone's `origin`, where the branch and tag are pushed.
    pub remote: String,
    /// `owner/repo` on the forge, from the remote's last two path segments.
    pub forge_repo: String,
    pub branch: String,
    /// The commit the plan was made at; a clone that moved since is refused.
    pub head: String,
    pub previous_tag: Option<String>,
    /// The version the version file holds at the plan.
    pub current_version: String,
    pub version: String,
    pub tag: String,
    /// Why this version (the bump level and its commit).
    pub why: String,
    pub commits: Vec<Commit>,
    pub layer: usize,
    /// Packages of this release it depends on.
    pub depends_on: Vec<String>,
    /// The file holding the version, relative to the clone.
    pub version_file: String,
    /// Whether the clone has a `uv.lock` to lock again.
    pub relock: bool,
    /// Other files (relative to the clone) the release commit carries: a
    /// registry folder inside the core's repository.
    pub extra_files: Vec<String>,
    /// The clone's uncommitted files at the plan (staged, unstaged, new;
    /// relative), which the release commits first, on their own, with the
    /// bundle's `commit-message.txt` (or, with `--notes auto`, a message
    /// of hpm's): only these paths, never `git add -A`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work: Vec<String>,
}

/// Where a registry entry is edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RegistryTarget {
    /// A file of a registry folder (absolute path).
    Folder { file: String },
    /// A file of a git registry, pushed to `branch`.
    Git {
        url: String,
        path: String,
        branch: String,
    },
}

/// One entry's source moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegistryEdit {
    pub package: String,
    pub target: RegistryTarget,
    pub mode: String,
    /// The source as it was, in a line.
    pub from: String,
    /// The tag (or PyPI version) it pointed at, which `abort` puts back.
    pub previous: Option<String>,
    /// The new tag (or PyPI version).
    pub to: String,
}

impl ReleasePlan {
    /// The plan's hash, which its journal and LLM outputs name.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    pub fn package(&self, name: &str) -> Option<&PackageRelease> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The steps, in order: every preflight first (so a failure changes
    /// nothing), then each package's, the registry commit, the core's.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = self
            .packages
            .iter()
            .map(|p| Step::of(StepKind::Preflight, &p.name))
            .collect();
        let per_package = |p: &PackageRelease| {
            let mut kinds = Vec::new();
            if !p.work.is_empty() {
                kinds.push(StepKind::CommitWork);
            }
            kinds.extend([
                StepKind::SetVersion,
                StepKind::Commit,
                StepKind::Tag,
                StepKind::Push,
            ]);
            if self.forge != ForgeKind::None {
                kinds.extend([StepKind::Draft, StepKind::Publish]);
            }
            kinds
                .into_iter()
                .map(|k| Step::of(k, &p.name))
                .collect::<Vec<_>>()
        };
        for package in self.packages.iter().filter(|p| !p.core) {
            steps.extend(per_package(package));
        }
        if !self.registry.is_empty() {
            steps.push(Step {
                kind: StepKind::Registry,
                package: None,
            });
        }
        for package in self.packages.iter().filter(|p| p.core) {
            steps.extend(per_package(package));
        }
        steps
    }
}

/// What one step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    Preflight,
    /// The user's uncommitted work the plan found, committed first.
    CommitWork,
    SetVersion,
    Commit,
    Tag,
    Push,
    Draft,
    Publish,
    Registry,
}

/// A step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    pub kind: StepKind,
    pub package: Option<String>,
}

impl Step {
    fn of(kind: StepKind, package: &str) -> Step {
        Step {
            kind,
            package: Some(package.to_string()),
        }
    }

    /// `package:kind`, or `registry`: how the journal, progress and
    /// `HPM_RELEASE_CRASH_AFTER` name it.
    pub fn key(&self) -> String {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        match &self.package {
            Some(package) => format!("{package}:{kind}"),
            None => kind,
        }
    }
}
