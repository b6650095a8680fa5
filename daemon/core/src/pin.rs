//! Pinning: a [`Plan`] checked against what each git remote advertises
//! becomes a [`PinnedPlan`], whose every reference is a tag, branch or
//! commit that exists. Only a pinned plan is written to `pyproject.toml`,
//! so a registry's unresolved `ref:` can never reach it.
//!
//! The engine lists the remotes; this module decides.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::{Plan, PlannedSource};
use crate::problem::{Invalid, Problem};
use crate::registry::GitRef;

/// What a remote advertises.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteRefs {
    pub tags: BTreeSet<String>,
    pub branches: BTreeSet<String>,
    pub has_head: bool,
}

/// Each git URL of a plan and what listing it gave: its refs, or why it
/// could not be reached.
pub type Remotes = BTreeMap<String, Result<RemoteRefs, String>>;

/// What a `uv.lock` says of each git URL it locks packages from: the tags
/// and branches they are locked at (`?tag=`, `?branch=`; neither is the
/// default branch). uv installs a locked git package at its locked commit
/// without asking the remote, so a reference answered here needs no
/// listing to be pinned: listing it would not change what is installed.
pub fn locked_refs(lock: &str) -> BTreeMap<String, RemoteRefs> {
    let mut known: BTreeMap<String, RemoteRefs> = BTreeMap::new();
    for package in crate::lockfile::packages(lock) {
        let Some(url) = package.git_url() else {
            continue;
        };
        let refs = known.entry(url.to_string()).or_default();
        let mut named = false;
        for (key, value) in package.git_query() {
            match key {
                "tag" => refs.tags.insert(value.to_string()),
                "branch" => refs.branches.insert(value.to_string()),
                "rev" => true,
                _ => continue,
            };
            named = true;
        }
        refs.has_head |= !named;
    }
    known
}

/// The git URLs of `plan` that must be listed: those with a package whose
/// reference `known` (a lock's [`locked_refs`]) does not pin.
pub fn urls_to_list(plan: &Plan, known: &BTreeMap<String, RemoteRefs>) -> BTreeSet<String> {
    plan.packages
        .iter()
        .filter_map(|package| match &package.source {
            PlannedSource::Git { url, reference, .. } => {
                let answered = known
                    .get(url.as_str())
                    .is_some_and(|refs| pin_reference(reference, refs).is_ok());
                (!answered).then(|| url.clone())
            }
            _ => None,
        })
        .collect()
}

/// A plan whose git references all exist and are tags, branches or commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedPlan(Plan);

impl PinnedPlan {
    /// Pins every git reference of `plan` against `remotes`. `earlier` are
    /// problems found before (local folders); all are reported together.
    pub fn pin(
        mut plan: Plan,
        remotes: &Remotes,
        mut earlier: Vec<Problem>,
    ) -> Result<PinnedPlan, Invalid> {
        for package in &mut plan.packages {
            let PlannedSource::Git { url, reference, .. } = &mut package.source else {
                continue;
            };
            let refs = match remotes.get(url.as_str()) {
                Some(Ok(refs)) => refs,
                Some(Err(message)) => {
                    earlier.push(
                        Problem::new(format!("cannot reach git remote `{url}`: {message}"))
                            .for_package(&package.name)
                            .hint("check the URL in the registry and your network or credentials"),
                    );
                    continue;
                }
                None => {
                    earlier.push(
                        Problem::new(format!("git remote `{url}` was not listed"))
                            .for_package(&package.name),
                    );
                    continue;
                }
            };
            match pin_reference(reference, refs) {
                Ok(pinned) => *reference = pinned,
                Err(message) => earlier.push(
                    Problem::new(format!("{message} in `{url}`"))
                        .for_package(&package.name)
                        .hint(available_hint(refs)),
                ),
            }
        }
        Invalid::check(earlier)?;
        Ok(PinnedPlan(plan))
    }

    /// A plan whose git references are all explicit (`tag`, `branch`,
    /// `rev`, or the default branch), pinned as written without asking
    /// the remotes whether they exist; a `ref:` is refused. For the
    /// transform's tests and benchmarks, which have no remotes.
    pub fn without_remotes(plan: Plan) -> Result<PinnedPlan, Invalid> {
        let problems: Vec<Problem> = plan
            .packages
            .iter()
            .filter(|package| {
                matches!(
                    &package.source,
                    PlannedSource::Git {
                        reference: GitRef::Ref(_),
                        ..
                    }
                )
            })
            .map(|package| {
                Problem::new("a `ref:` can only be pinned by asking its remote")
                    .for_package(&package.name)
            })
            .collect();
        Invalid::check(problems)?;
        Ok(PinnedPlan(plan))
    }

    pub fn plan(&self) -> &Plan {
        &self.0
    }

    pub fn into_plan(self) -> Plan {
        self.0
    }
}

impl std::ops::Deref for PinnedPlan {
    type Target = Plan;
    fn deref(&self) -> &Plan {
        &self.0
    }
}

/// Turns the registry's reference into the one uv gets, checking it exists.
pub fn pin_reference(reference: &GitRef, refs: &RemoteRefs) -> Result<GitRef, String> {
    match reference {
        GitRef::Tag(tag) if refs.tags.contains(tag) => Ok(reference.clone()),
        GitRef::Tag(tag) => Err(format!("tag `{tag}` does not exist")),
        GitRef::Branch(branch) if refs.branches.contains(branch) => Ok(reference.clone()),
        GitRef::Branch(branch) => Err(format!("branch `{branch}` does not exist")),
        GitRef::Rev(rev) if is_commit_like(rev) => Ok(reference.clone()),
        GitRef::Rev(rev) => Err(format!("`{rev}` is not a commit hash")),
        GitRef::Ref(name) if refs.tags.contains(name) => Ok(GitRef::Tag(name.clone())),
        GitRef::Ref(name) if refs.branches.contains(name) => Ok(GitRef::Branch(name.clone())),
        GitRef::Ref(name) if is_commit_like(name) => Ok(GitRef::Rev(name.clone())),
        GitRef::Ref(name) => Err(format!("ref `{name}` is neither a tag nor a branch")),
        GitRef::Default if refs.has_head => Ok(GitRef::Default),
        GitRef::Default => Err("the remote has no default branch".to_string()),
    }
}

fn is_commit_like(rev: &str) -> bool {
    (7..=40).contains(&rev.len()) && rev.chars().all(|c| c.is_ascii_hexdigit())
}

fn available_hint(refs: &RemoteRefs) -> String {
    let tags: Vec<&str> = refs.tags.iter().rev().take(8).map(String::as_str).collect();
    if tags.is_empty() {
        "the remote has no tags; push the tag, or fix the ref in the registry entry".to_string()
    } else {
        format!(
            "push the tag, or fix the ref in the registry entry (tags there: {})",
            tags.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::name::PackageName;
    use crate::plan::PlannedPackage;

    fn refs() -> RemoteRefs {
        RemoteRefs {
            tags: ["v1.0.0".to_string(), "v1.1.0.dev0".to_string()].into(),
            branches: ["main".to_string()].into(),
            has_head: true,
        }
    }

    #[test]
    fn a_ref_becomes_the_tag_branch_or_commit_the_remote_says_it_is() {
        let refs = refs();
        let pin = |r: GitRef| pin_reference(&r, &refs);
        assert_eq!(
            pin(GitRef::Ref("v1.0.0".into())),
            Ok(GitRef::Tag("v1.0.0".into()))
        );
        assert_eq!(
            pin(GitRef::Ref("main".into())),
            Ok(GitRef::Branch("main".into()))
        );
        assert_eq!(
            pin(GitRef::Ref("0123abcd".into())),
            Ok(GitRef::Rev("0123abcd".into()))
        );
        assert!(pin(GitRef::Ref("nope".into())).is_err());
        assert!(pin(GitRef::Tag("v9".into())).is_err());
        assert!(pin(GitRef::Rev("xyz".into())).is_err());
        assert_eq!(pin(GitRef::Default), Ok(GitRef::Default));
    }

    fn plan(reference: GitRef) -> Plan {
        Plan {
            mode: Mode::new("prod").unwrap(),
            packages: vec![PlannedPackage {
                name: "a".into(),
                key: PackageName::key("a"),
                group: None,
                mode: Mode::new("prod").unwrap(),
                extras: Vec::new(),
                source: PlannedSource::Git {
                    url: "file:///a.git".into(),
                    reference,
                    subdirectory: None,
                },
                required_by: Vec::new(),
                linked_by: Vec::new(),
            }],
        }
    }

    #[test]
    fn pinning_reports_a_missing_tag_with_the_tags_there_and_earlier_problems() {
        let remotes: Remotes = [("file:///a.git".to_string(), Ok(refs()))].into();
        let error = PinnedPlan::pin(
            plan(GitRef::Tag("v2".into())),
            &remotes,
            vec![Problem::new("earlier")],
        )
        .unwrap_err();
        assert_eq!(error.problems.len(), 2);
        assert_eq!(
            error.problems[1].to_string(),
            "package `a`: tag `v2` does not exist in `file:///a.git`"
        );
        assert!(error.problems[1]
            .hint
            .as_deref()
            .is_some_and(|hint| hint.contains("v1.1.0.dev0, v1.0.0")));
        let pinned =
            PinnedPlan::pin(plan(GitRef::Ref("v1.0.0".into())), &remotes, Vec::new()).unwrap();
        assert_eq!(
            pinned.packages[0].source,
            PlannedSource::Git {
                url: "file:///a.git".into(),
                reference: GitRef::Tag("v1.0.0".into()),
                subdirectory: None
            }
        );
    }

    #[test]
    fn an_unreachable_remote_is_a_problem_naming_it() {
        let remotes: Remotes = [("file:///a.git".to_string(), Err("gone".to_string()))].into();
        let error =
            PinnedPlan::pin(plan(GitRef::Tag("v1".into())), &remotes, Vec::new()).unwrap_err();
        assert!(error
            .to_string()
            .contains("cannot reach git remote `file:///a.git`: gone"));
    }

    #[test]
    fn without_remotes_refuses_a_ref_it_cannot_name() {
        assert!(PinnedPlan::without_remotes(plan(GitRef::Ref("v1".into()))).is_err());
        assert!(PinnedPlan::without_remotes(plan(GitRef::Tag("v1".into()))).is_ok());
    }

    #[test]
    fn a_lock_answers_for_the_references_it_pins_and_only_those() {
        let lock = r#"version = 1

[[package]]
name = "a"
version = "1.0.0"
source = { git = "file:///a.git?subdirectory=pkg&tag=v1.0.0#0123abcd" }

[[package]]
name = "b"
version = "2.0.0"
source = { git = "file:///b.git?branch=main#4567ef01" }

[[package]]
name = "c"
version = "3.0.0"
source = { registry = "https://pypi.org/simple" }
"#;
        let known = locked_refs(lock);
        assert_eq!(
            known.keys().collect::<Vec<_>>(),
            ["file:///a.git", "file:///b.git"]
        );
        assert!(known["file:///a.git"].tags.contains("v1.0.0"));
        assert!(known["file:///b.git"].branches.contains("main"));
        assert!(!known["file:///a.git"].has_head);

        let to_list = |reference: GitRef| urls_to_list(&plan(reference), &known);
        assert!(to_list(GitRef::Tag("v1.0.0".into())).is_empty());
        assert!(to_list(GitRef::Ref("v1.0.0".into())).is_empty());
        assert_eq!(
            to_list(GitRef::Tag("v1.1.0".into())),
            ["file:///a.git".to_string()].into()
        );
        assert_eq!(
            to_list(GitRef::Default),
            ["file:///a.git".to_string()].into()
        );
        assert_eq!(
            urls_to_list(&plan(GitRef::Tag("v1.0.0".into())), &BTreeMap::new()),
            ["file:///a.git".to_string()].into()
        );
    }
}
