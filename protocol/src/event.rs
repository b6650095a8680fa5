//! The daemon's event stream: every state change a client or editor would
//! show, numbered so that a subscriber can tell when it missed some.

use serde::{Deserialize, Serialize};

use crate::release::{Outcome, StepState};
use crate::report::{Phase, RegistryUpdate, RepoState, SyncReport};
use crate::{Change, ErrorKind, Problem};

/// One event of the stream; `seq` rises by one per event, so a gap means
/// events were missed and the client should re-read `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    pub seq: u64,
    /// The workspace root the event is about.
    pub workspace: String,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventBody {
    /// A change was queued behind a running job; `merged` when it joined an
    /// equal change already waiting.
    JobQueued {
        change: Change,
        merged: bool,
    },
    JobStarted {
        job: u64,
        change: Change,
    },
    /// A phase of the job (`phase` set, `line` its text), or one line of
    /// uv's output (`phase` absent).
    Progress {
        job: u64,
        line: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
    },
    JobFinished {
        job: u64,
        report: SyncReport,
    },
    JobFailed {
        job: u64,
        code: i32,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<ErrorKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
    /// The job failed after writing files; they were restored.
    RolledBack {
        job: u64,
    },
    /// A journal left by a killed run was rolled back.
    Recovered {
        restored: Vec<String>,
        kept_user_edits: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        backups: Vec<String>,
    },
    /// Something `status` shows changed (a sync ended, an input was saved,
    /// a clone moved); re-read it.
    StatusChanged,
    /// `hpm.yaml` or a registry entry is wrong; the environment was left as
    /// it was. `problems` name the file, line and column.
    ManifestInvalid {
        message: String,
        problems: Vec<Problem>,
    },
    /// The inputs are valid again after a `manifest_invalid`.
    ManifestValid,
    /// A package's effective mode changed (a switch, `use`, `reset`, `dev`).
    PackageModeChanged {
        package: String,
        from: Option<String>,
        to: String,
    },
    /// A dev clone's git state changed without any command: `changed` lists
    /// which fields moved; `repo` is the new state (as in `status`).
    RepoChanged {
        package: String,
        changed: Vec<RepoField>,
        repo: RepoState,
    },
    /// `registry update` fetched the git registries; `report` lists the
    /// packages added and removed and the refs that moved.
    RegistryUpdated {
        report: Vec<RegistryUpdate>,
    },
    /// A step of a release the daemon applies (`releaseApply`) ended:
    /// `state` is `done` (found done), `applied`, `todo` (a dry run),
    /// `failed` or `conflict`; `detail` says why for the last two.
    ReleaseStep {
        id: String,
        step: String,
        state: StepState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A release the daemon applies waits on the forge: a call failed and
    /// is tried again after a backoff, or a rate limit is waited out;
    /// `message` says which call, why, and for how long.
    ReleaseWaiting {
        id: String,
        message: String,
    },
    /// A release the daemon applies ended: `outcome` is `complete`,
    /// `dry-run`, `preflight-failed`, `partial`, `conflict` or
    /// `unreachable` (a dry run that could not reach a remote or the forge).
    ReleaseFinished {
        id: String,
        outcome: Outcome,
    },
    /// One line of the container engine's output during `imageBuild`.
    ImageProgress {
        line: String,
    },
    /// `imageBuild` ended with an image (its id and tags).
    ImageBuilt {
        image_id: String,
        tags: Vec<String>,
    },
    /// The OS watch limit was hit; the workspace is polled instead.
    WatchDegraded {
        message: String,
    },
}

/// A field of a clone's [`RepoState`] that a `repo_changed` event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepoField {
    Dirty,
    Branch,
    Head,
    Ahead,
    Behind,
}

impl RepoField {
    /// The fields that differ between two states of a clone (none the
    /// first time: a first reading is not a change).
    pub fn changed(before: Option<&RepoState>, after: &RepoState) -> Vec<RepoField> {
        let Some(before) = before else {
            return Vec::new();
        };
        [
            (RepoField::Dirty, before.dirty != after.dirty),
            (RepoField::Branch, before.branch != after.branch),
            (RepoField::Head, before.head != after.head),
            (RepoField::Ahead, before.ahead != after.ahead),
            (RepoField::Behind, before.behind != after.behind),
        ]
        .into_iter()
        .filter_map(|(field, changed)| changed.then_some(field))
        .collect()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepoField::Dirty => "dirty",
            RepoField::Branch => "branch",
            RepoField::Head => "head",
            RepoField::Ahead => "ahead",
            RepoField::Behind => "behind",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(dirty: bool, head: &str) -> RepoState {
        RepoState {
            path: "packages/a".into(),
            branch: Some("main".into()),
            head: Some(head.into()),
            dirty,
            ahead: Some(0),
            behind: Some(0),
        }
    }

    #[test]
    fn changed_fields_name_what_moved_and_nothing_the_first_time() {
        let before = repo(false, "aaa");
        assert_eq!(RepoField::changed(None, &before), []);
        assert_eq!(
            RepoField::changed(Some(&before), &repo(true, "bbb")),
            [RepoField::Dirty, RepoField::Head]
        );
        assert_eq!(RepoField::changed(Some(&before), &before), []);
    }

    #[test]
    fn a_uv_line_has_no_phase_in_its_json() {
        let body = EventBody::Progress {
            job: 1,
            line: "Resolved 3 packages".into(),
            phase: None,
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"event":"progress","job":1,"line":"Resolved 3 packages"}"#
        );
    }
}
