//! Resolve: manifest + registry + mode + per-package overrides → [`Plan`].
//!
//! A plan says where each managed package comes from; its git references
//! may still be the registry's `ref:`, which only the remote can name.
//! Pinning (the `pin` module, which builds on this one) turns a plan into a
//! `PinnedPlan`, the only kind `pyproject.toml` is written from.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::manifest::{DevLink, Group, Manifest};
use crate::mode::Mode;
use crate::name::{check_package_name, PackageName};
use crate::problem::{Invalid, Problem};
use crate::registry::{GitRef, Registry, SourceSpec};
use crate::url::{check_git_url, clean_relative, url_for_uv};
use crate::version::version_specifier;

/// What the environment should be: one entry per managed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    /// The workspace mode the plan was made for.
    pub mode: Mode,
    pub packages: Vec<PlannedPackage>,
}

/// One managed package: its requirement and its uv source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlannedPackage {
    /// The name as the manifest writes it.
    pub name: String,
    /// The normalized name (PEP 503), computed once: every lookup uses it.
    #[serde(skip)]
    pub key: PackageName,
    /// The group that selected it, for group options.
    pub group: Option<String>,
    /// The mode this package is in (the workspace's, or its override).
    pub mode: Mode,
    pub extras: Vec<String>,
    pub source: PlannedSource,
    /// For a package the manifest does not list, the managed packages
    /// whose dependencies brought it in (the dependency closure).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_by: Vec<String>,
    /// For a package put in dev only because dev packages name it with
    /// `{ workspace = true }` (uv installs those only as workspace
    /// members), those packages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked_by: Vec<String>,
}

/// A registry package that managed packages depend on without the
/// manifest listing it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Required {
    /// Its name as its registry entry writes it.
    pub name: String,
    /// The managed packages that depend on it.
    pub required_by: Vec<String>,
    /// The extras they ask for.
    pub extras: Vec<String>,
}

/// Where uv gets a package from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PlannedSource {
    /// `{ path = "...", editable = ... }`, path relative to the workspace
    /// root; a `member` of the core's uv workspace is written
    /// `{ workspace = true }` and listed in `[tool.uv.workspace]` instead.
    Path {
        path: String,
        editable: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        member: bool,
    },
    /// `{ git = "...", tag|branch|rev = "...", subdirectory = "..." }`.
    Git {
        url: String,
        reference: GitRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdirectory: Option<String>,
    },
    /// A plain requirement with a version, optionally `{ index = "..." }`.
    Index {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<String>,
    },
}

impl PlannedSource {
    /// The local folder, relative to the workspace root, for a path source.
    pub fn local_path(&self) -> Option<&str> {
        match self {
            PlannedSource::Path { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl PlannedPackage {
    /// The `[project.dependencies]` entry, e.g. `model-interface[fast]==1.0`.
    pub fn requirement(&self) -> String {
        let mut requirement = self.name.clone();
        if !self.extras.is_empty() {
            let _ = write!(requirement, "[{}]", self.extras.join(","));
        }
        if let PlannedSource::Index {
            version: Some(version),
            ..
        } = &self.source
        {
            requirement.push_str(version);
        }
        requirement
    }
}

impl Plan {
    /// The names of the packages the plan manages, normalized.
    pub fn names(&self) -> BTreeSet<PackageName> {
        self.packages.iter().map(|p| p.key.clone()).collect()
    }

    pub fn get(&self, name: &str) -> Option<&PlannedPackage> {
        let key = PackageName::key(name);
        self.packages.iter().find(|p| p.key == key)
    }

    /// The local folders (relative to the root) of the packages in a path
    /// source, in plan order.
    pub fn local_paths(&self) -> impl Iterator<Item = &str> {
        self.packages.iter().filter_map(|p| p.source.local_path())
    }
}

/// A package the manifest asks for, before its source is known.
#[derive(Debug, Clone)]
struct WantedPackage {
    name: String,
    extras: Vec<String>,
    group: Option<String>,
    required_by: Vec<String>,
}

/// The names whose registry entries resolving needs: every listed package and
/// every group option (options are checked even when not selected).
pub fn registry_names(manifest: &Manifest) -> Vec<&str> {
    let mut names: Vec<&str> = manifest.packages.iter().map(|p| p.name()).collect();
    for group in manifest.groups.values() {
        names.extend(group.options.iter().map(String::as_str));
    }
    names
}

/// Everything [`resolve`] reads.
#[derive(Debug, Clone, Copy)]
pub struct ResolveInput<'a> {
    pub manifest: &'a Manifest,
    /// The manifest's path, for messages.
    pub manifest_path: &'a Path,
    pub registry: &'a Registry,
    /// The workspace mode in force.
    pub mode: &'a Mode,
    /// Per-package modes, by normalized name.
    pub overrides: &'a BTreeMap<PackageName, Mode>,
    /// Those of `overrides` this very request sets (`hpmctl dev`, `use`);
    /// the others were stored by earlier commands.
    pub requested: &'a BTreeSet<PackageName>,
    /// Registry packages the managed ones depend on (the engine reads the
    /// closure and hands it in; empty for the listed packages alone).
    pub required: &'a BTreeMap<PackageName, Required>,
    /// Packages that dev packages name with `{ workspace = true }`, with
    /// the names of those dev packages: they go into dev with them.
    pub linked: &'a BTreeMap<PackageName, Vec<String>>,
}

/// Resolves every managed package's source for its mode. All problems are
/// collected and returned together.
pub fn resolve(input: ResolveInput<'_>) -> Result<Plan, Invalid> {
    let mut problems = Vec::new();
    let mut wanted = wanted_packages(input.manifest, input.manifest_path, &mut problems);
    for (key, required) in input.required {
        if !wanted.iter().any(|w| PackageName::key(&w.name) == *key) {
            wanted.push(WantedPackage {
                name: required.name.clone(),
                extras: required.extras.clone(),
                group: None,
                required_by: required.required_by.clone(),
            });
        }
    }
    for (key, by) in input.linked {
        let known = wanted.iter().any(|w| PackageName::key(&w.name) == *key);
        if let (false, Some((entry, _))) = (known, input.registry.get(key.as_str())) {
            wanted.push(WantedPackage {
                name: entry.name.clone(),
                extras: Vec::new(),
                group: None,
                required_by: by.clone(),
            });
        }
    }
    for name in input.overrides.keys() {
        if wanted.iter().any(|w| PackageName::key(&w.name) == *name) {
            continue;
        }
        let problem = if input.requested.contains(name) {
            let add = match input.registry.get(name.as_str()) {
                Some((entry, _)) => format!(
                    "its registry entry is there: `hpmctl add {}` lists it, then this command works",
                    entry.name
                ),
                None => format!(
                    "add it first: `hpmctl add {name}` when the registry has its entry, else `hpmctl add {name} --git URL`"
                ),
            };
            Problem::new(format!(
                "is not in `{}` (nor required by a package there), so hpm does not manage it",
                input.manifest_path.display()
            ))
            .hint(add)
        } else {
            Problem::new("has a mode override but is not in the manifest")
                .hint(format!("run `hpmctl reset {name}` to drop the override"))
        };
        problems.push(problem.for_package(name.as_str()));
    }
    let mut packages = Vec::new();
    for wanted in wanted {
        let key = PackageName::key(&wanted.name);
        let mut mode = input.overrides.get(&key).unwrap_or(input.mode).clone();
        let mut linked_by = Vec::new();
        if let (Some(by), false) = (input.linked.get(&key), mode.is_dev()) {
            mode = Mode::dev();
            linked_by = by.clone();
        }
        match source_for(&wanted, &mode, input) {
            Ok(source) => packages.push(PlannedPackage {
                key,
                name: wanted.name,
                group: wanted.group,
                mode,
                extras: wanted.extras,
                source,
                required_by: wanted.required_by,
                linked_by,
            }),
            Err(problem) => problems.push(problem),
        }
    }
    Invalid::check(problems)?;
    Ok(Plan {
        mode: input.mode.clone(),
        packages,
    })
}

/// Marks the dev packages that become members of the core's uv workspace
/// (`settings.dev_link`): with `auto`, each dev package whose own
/// `pyproject.toml` names planned siblings with `{ workspace = true }`
/// (`named`: package → those siblings), and the siblings; with
/// `workspace`, every dev package; with `path`, none, and a package that
/// needs a workspace is a problem. A member must live inside the core's
/// folder.
pub fn link_members(
    plan: &mut Plan,
    named: &BTreeMap<PackageName, Vec<PackageName>>,
    dev_link: DevLink,
    manifest_path: &Path,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut members: BTreeSet<PackageName> = BTreeSet::new();
    match dev_link {
        DevLink::Path => {
            for (package, siblings) in named.iter().filter(|(_, s)| !s.is_empty()) {
                let names: Vec<String> = siblings.iter().map(|s| format!("`{s}`")).collect();
                problems.push(
                    Problem::new(format!(
                        "its `pyproject.toml` names {} with `{{ workspace = true }}`, which uv installs only as members of a workspace, but `settings.dev_link` is `path`",
                        names.join(", ")
                    ))
                    .in_file(manifest_path)
                    .for_package(package.as_str())
                    .hint("set `settings.dev_link: auto` (or remove the setting), or drop those entries from the package's `pyproject.toml`"),
                );
            }
        }
        DevLink::Auto => {
            for (package, siblings) in named.iter().filter(|(_, s)| !s.is_empty()) {
                members.insert(package.clone());
                members.extend(siblings.iter().cloned());
            }
        }
        DevLink::Workspace => {
            members.extend(
                plan.packages
                    .iter()
                    .filter(|p| p.source.local_path().is_some())
                    .map(|p| p.key.clone()),
            );
        }
    }
    for package in &mut plan.packages {
        if !members.contains(&package.key) {
            continue;
        }
        let PlannedSource::Path { path, member, .. } = &mut package.source else {
            // A sibling that is not in dev: resolving put it there, or
            // its own problem says why not.
            continue;
        };
        let outside =
            Path::new(path.as_str()).is_absolute() || path.split('/').next() == Some("..");
        if outside {
            problems.push(
                Problem::new(format!(
                    "its dev clone `{path}` is outside the core's folder, so it cannot be a member of the core's uv workspace, which dev needs here"
                ))
                .in_file(manifest_path)
                .for_package(&package.name)
                .hint("clone it inside the core (its registry `dev:` path or `settings.packages_dir`), or use a release of it whose `pyproject.toml` has no `{ workspace = true }` sources"),
            );
            continue;
        }
        *member = true;
    }
    problems
}

/// The listed packages plus the selected group options, after checking names
/// and group rules.
fn wanted_packages(
    manifest: &Manifest,
    manifest_path: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<WantedPackage> {
    let mut wanted = Wanted {
        packages: Vec::new(),
        seen: BTreeMap::new(),
        manifest_path,
    };
    for package in &manifest.packages {
        wanted.add(
            WantedPackage {
                name: package.name().to_string(),
                extras: package.extras().to_vec(),
                group: None,
                required_by: Vec::new(),
            },
            problems,
        );
    }
    for (group_name, group) in &manifest.groups {
        for selected in selected_options(group_name, group, manifest_path, problems) {
            wanted.add(
                WantedPackage {
                    name: selected.clone(),
                    extras: Vec::new(),
                    group: Some(group_name.clone()),
                    required_by: Vec::new(),
                },
                problems,
            );
        }
    }
    wanted.packages
}

/// The packages wanted so far, each name once.
struct Wanted<'a> {
    packages: Vec<WantedPackage>,
    /// Normalized name → the group that listed it (`None`: `packages`).
    seen: BTreeMap<PackageName, Option<String>>,
    manifest_path: &'a Path,
}

impl Wanted<'_> {
    /// Adds `package` when its name and extras are valid and it is not
    /// listed already; says why not otherwise.
    fn add(&mut self, package: WantedPackage, problems: &mut Vec<Problem>) {
        let manifest_path = self.manifest_path;
        if let Err(message) = check_package_name(&package.name) {
            problems.push(
                Problem::new(message)
                    .in_file(manifest_path)
                    .hint("package names are letters, digits, `-`, `_` and `.` (PEP 508)"),
            );
            return;
        }
        for extra in &package.extras {
            if pep508_rs::ExtraName::from_str(extra).is_err() {
                problems.push(
                    Problem::new(format!("`{extra}` is not a valid extra name"))
                        .in_file(manifest_path)
                        .for_package(&package.name),
                );
            }
        }
        let key = PackageName::key(&package.name);
        if let Some(first) = self.seen.insert(key, package.group.clone()) {
            let place = |group: &Option<String>| match group {
                Some(group) => format!("group `{group}`"),
                None => "`packages`".to_string(),
            };
            problems.push(
                Problem::new(format!(
                    "is listed twice (in {} and in {})",
                    place(&first),
                    place(&package.group)
                ))
                .in_file(manifest_path)
                .for_package(&package.name)
                .hint("keep one of the two"),
            );
            return;
        }
        self.packages.push(package);
    }
}

/// The options `group` selects that are among its options, after checking
/// its rules (options listed, one selected unless `multiple`).
fn selected_options<'a>(
    group_name: &str,
    group: &'a Group,
    manifest_path: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<&'a String> {
    if group.options.is_empty() {
        problems.push(
            Problem::new(format!("group `{group_name}` has no options"))
                .in_file(manifest_path)
                .hint("list the packages it chooses from under `options:`"),
        );
    }
    if !group.multiple && group.selected.len() > 1 {
        problems.push(
            Problem::new(format!(
                "group `{group_name}` selects {} options but allows one",
                group.selected.len()
            ))
            .in_file(manifest_path)
            .hint("select one option, or set `multiple: true` on the group"),
        );
    }
    let mut known = Vec::new();
    for selected in &group.selected {
        let is_option = group
            .options
            .iter()
            .any(|option| PackageName::key(option) == PackageName::key(selected));
        if is_option {
            known.push(selected);
        } else {
            problems.push(
                Problem::new(format!(
                    "group `{group_name}` selects `{selected}`, which is not one of its options ({})",
                    group.options.join(", ")
                ))
                .in_file(manifest_path)
                .hint("select one of the options, or add it to `options:`"),
            );
        }
    }
    known
}

fn source_for(
    wanted: &WantedPackage,
    mode: &Mode,
    input: ResolveInput<'_>,
) -> Result<PlannedSource, Problem> {
    let Some((entry, origin)) = input.registry.get(&wanted.name) else {
        return Err(Problem::new("has no registry entry")
            .in_file(input.manifest_path)
            .for_package(&wanted.name)
            .hint(format!(
                "add `{}.yaml` to a registry folder, or an entry under `registry_entries:` in `hpm.yaml`",
                wanted.name
            )));
    };
    let spec = match entry.sources.get(mode) {
        Some(spec) => spec.clone(),
        // In dev, a package with a repo but no dev source lives in packages_dir.
        None if mode.is_dev() && entry.repo.is_some() => SourceSpec::Local {
            path: format!(
                "{}/{}",
                input.manifest.settings.packages_dir.trim_end_matches('/'),
                wanted.name
            ),
            editable: true,
        },
        None => {
            let known: Vec<&str> = entry.sources.keys().map(Mode::as_str).collect();
            return Err(Problem::new(format!(
                "has no source for mode `{mode}` (it has: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
            .in_file(origin.label())
            .for_package(&wanted.name)
            .hint(format!(
                "add a `{mode}:` source to the entry, or put the package in another mode with `hpmctl use {} MODE`",
                wanted.name
            )));
        }
    };
    planned_source(spec)
        .map_err(|problem| problem.in_file(origin.label()).for_package(&wanted.name))
}

fn planned_source(spec: SourceSpec) -> Result<PlannedSource, Problem> {
    match spec {
        SourceSpec::Local { path, editable } => {
            let path = clean_relative(&path);
            if path.is_empty() {
                return Err(Problem::new("local source has an empty `path`"));
            }
            Ok(PlannedSource::Path {
                path,
                editable,
                member: false,
            })
        }
        SourceSpec::Git {
            url,
            reference,
            subdirectory,
        } => {
            check_git_url(&url)?;
            // What uv accepts and reaches the same repository
            // (`git@host:org/x.git` → `ssh://git@host/org/x.git`), and the
            // repository's root however it is spelled (`.`, `./`): every
            // check then sees one form.
            let url = url_for_uv(&url);
            let subdirectory = subdirectory
                .map(|folder| clean_relative(&folder))
                .filter(|folder| !folder.is_empty() && folder != ".");
            if let Some(subdirectory) = &subdirectory {
                if Path::new(subdirectory).is_absolute()
                    || subdirectory.split('/').any(|c| c == "..")
                {
                    return Err(Problem::new(format!(
                        "`subdirectory: {subdirectory}` leaves the repository"
                    ))
                    .hint("use a path inside the repository"));
                }
            }
            Ok(PlannedSource::Git {
                url,
                reference,
                subdirectory,
            })
        }
        SourceSpec::Pypi { version, index } => {
            let version = match version {
                None => None,
                Some(version) => Some(version_specifier(&version)?),
            };
            Ok(PlannedSource::Index { version, index })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{EntryOrigin, RegistryEntry};

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text, Path::new("hpm.yaml")).unwrap()
    }

    fn registry(text: &str) -> Registry {
        let entries: Vec<RegistryEntry> = serde_yaml_ng::from_str(text).unwrap();
        Registry::from_entries(
            entries
                .into_iter()
                .map(|e| (e, EntryOrigin::File("reg.yaml".into()))),
        )
    }

    const REGISTRY: &str = r#"
- name: core-plugin
  repo: file:///r/core-plugin.git
  sources:
    prod: { type: git, url: "file:///r/core-plugin.git", ref: v1.0.0 }
- name: qdrant
  sources:
    dev: { type: local, path: ./packages/qdrant }
    prod: { type: pypi, version: "1.0.0" }
- name: chroma
  sources:
    prod: { type: git, url: "https://example.org/chroma.git", tag: v2 }
"#;

    fn plan(manifest_text: &str, mode: &str, overrides: &[(&str, &str)]) -> Result<Plan, Invalid> {
        let manifest = manifest(manifest_text);
        let registry = registry(REGISTRY);
        let overrides = overrides
            .iter()
            .map(|(name, mode)| (PackageName::key(name), Mode::new(mode).unwrap()))
            .collect();
        resolve(ResolveInput {
            requested: &BTreeSet::new(),
            manifest: &manifest,
            manifest_path: Path::new("hpm.yaml"),
            registry: &registry,
            mode: &Mode::new(mode).unwrap(),
            overrides: &overrides,
            required: &BTreeMap::new(),
            linked: &BTreeMap::new(),
        })
    }

    const MANIFEST: &str = r#"
version: 1
mode: prod
packages:
  - name: core-plugin
    extras: [fast]
groups:
  vector-db:
    options: [qdrant, chroma]
    selected: qdrant
"#;

    #[test]
    fn resolves_sources_per_mode_and_group_selection() {
        let plan = plan(MANIFEST, "prod", &[]).unwrap();
        assert_eq!(plan.packages.len(), 2);
        let core = plan.get("core-plugin").unwrap();
        assert_eq!(core.requirement(), "core-plugin[fast]");
        assert_eq!(
            core.source,
            PlannedSource::Git {
                url: "file:///r/core-plugin.git".into(),
                reference: GitRef::Ref("v1.0.0".into()),
                subdirectory: None
            }
        );
        let qdrant = plan.get("qdrant").unwrap();
        assert_eq!(qdrant.group.as_deref(), Some("vector-db"));
        assert_eq!(qdrant.requirement(), "qdrant==1.0.0");
    }

    #[test]
    fn overrides_win_over_the_workspace_mode() {
        let plan = plan(MANIFEST, "prod", &[("qdrant", "dev")]).unwrap();
        let qdrant = plan.get("qdrant").unwrap();
        assert_eq!(qdrant.mode.as_str(), "dev");
        assert_eq!(
            qdrant.source,
            PlannedSource::Path {
                path: "packages/qdrant".into(),
                editable: true,
                member: false,
            }
        );
        assert_eq!(plan.get("core-plugin").unwrap().mode.as_str(), "prod");
    }

    #[test]
    fn dev_defaults_to_packages_dir_when_the_entry_has_a_repo() {
        let plan = plan(MANIFEST, "dev", &[("qdrant", "prod")]).unwrap();
        assert_eq!(
            plan.get("core-plugin").unwrap().source,
            PlannedSource::Path {
                path: "packages/core-plugin".into(),
                editable: true,
                member: false,
            }
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
version: 1
mode: staging
packages: [core-plugin, missing-one]
groups:
  vector-db:
    options: [qdrant, chroma]
    selected: [qdrant, chroma]
"#;
        let error = plan(text, "staging", &[]).unwrap_err();
        let messages: Vec<String> = error.problems.iter().map(|p| p.to_string()).collect();
        let all = messages.join("\n");
        assert!(all.contains("selects 2 options but allows one"), "{all}");
        assert!(
            all.contains("package `missing-one`: has no registry entry"),
            "{all}"
        );
        assert!(
            all.contains("package `core-plugin`: has no source for mode `staging` (it has: prod)"),
            "{all}"
        );
    }

    #[test]
    fn unknown_selected_option_is_refused() {
        let text =
            "version: 1\nmode: prod\ngroups:\n  g:\n    options: [qdrant]\n    selected: nope\n";
        let error = plan(text, "prod", &[]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("selects `nope`, which is not one of its options"),
            "{error}"
        );
    }

    #[test]
    fn hostile_package_names_are_refused() {
        let text = "version: 1\nmode: prod\npackages: [\"../../etc\", \"a;rm -rf ~\"]\n";
        let error = plan(text, "prod", &[]).unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
        assert!(error.to_string().contains("is not a valid package name"));
    }

    #[test]
    fn stale_overrides_are_reported() {
        let error = plan(MANIFEST, "prod", &[("gone", "dev")]).unwrap_err();
        let hint = error.problems[0].hint.as_deref().unwrap_or_default();
        assert!(hint.contains("hpmctl reset gone"), "{hint}");
    }

    fn dev_package(name: &str, path: &str) -> PlannedPackage {
        PlannedPackage {
            name: name.into(),
            key: PackageName::key(name),
            group: None,
            mode: Mode::dev(),
            extras: Vec::new(),
            source: PlannedSource::Path {
                path: path.into(),
                editable: true,
                member: false,
            },
            required_by: Vec::new(),
            linked_by: Vec::new(),
        }
    }

    fn members_of(plan: &Plan) -> Vec<&str> {
        plan.packages
            .iter()
            .filter(|p| matches!(p.source, PlannedSource::Path { member: true, .. }))
            .map(|p| p.name.as_str())
            .collect()
    }

    #[test]
    fn dev_link_decides_which_dev_packages_become_workspace_members() {
        let plan = Plan {
            mode: Mode::dev(),
            packages: vec![
                dev_package("model-qwen2-5-vl", "packages/model-qwen2-5-vl"),
                dev_package("model-interface", "packages/model-interface"),
                dev_package("bench-utils", "packages/bench-utils"),
            ],
        };
        let named: BTreeMap<PackageName, Vec<PackageName>> = [(
            PackageName::key("model-qwen2-5-vl"),
            vec![PackageName::key("model-interface")],
        )]
        .into();
        let manifest = Path::new("hpm.yaml");

        let mut auto = plan.clone();
        assert!(link_members(&mut auto, &named, DevLink::Auto, manifest).is_empty());
        assert_eq!(members_of(&auto), ["model-qwen2-5-vl", "model-interface"]);

        let mut workspace = plan.clone();
        assert!(link_members(
            &mut workspace,
            &BTreeMap::new(),
            DevLink::Workspace,
            manifest
        )
        .is_empty());
        assert_eq!(members_of(&workspace).len(), 3);

        let mut path = plan.clone();
        let problems = link_members(&mut path, &named, DevLink::Path, manifest);
        assert!(members_of(&path).is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].to_string().contains("`model-interface`"),
            "{}",
            problems[0]
        );

        let mut outside = plan.clone();
        outside.packages[1] = dev_package("model-interface", "../libs/model-interface");
        let problems = link_members(&mut outside, &named, DevLink::Auto, manifest);
        assert_eq!(members_of(&outside), ["model-qwen2-5-vl"]);
        assert!(
            problems.len() == 1
                && problems[0]
                    .to_string()
                    .contains("outside the core's folder"),
            "{problems:?}"
        );
    }
}
