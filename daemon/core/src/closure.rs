//! The dependency closure of a plan, as a resolver that asks for what it
//! needs and is handed the answers (sans IO): each planned package's own
//! `pyproject.toml` ([`Step::Metas`]) and the registry entries of the
//! names those require ([`Step::Entries`]). Every dependency with a
//! registry entry joins the plan, with the extras asked for and who asked;
//! so does every registry package a dev package names with `{ workspace =
//! true }` (it goes into dev with it). It ends at the fixed point, with the
//! closure's checks: what validation must refuse, and what the report
//! warns of.
//!
//! The engine runs the loop: it reads what a step asks for (from clones,
//! caches and remotes) and calls [`Closure::step`] again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::manifest::{DevLink, Manifest};
use crate::metadata::{tag_matches_version, Dependency, ProjectMeta};
use crate::plan::{self, Plan, PlannedPackage, PlannedSource, Required, ResolveInput};
use crate::registry::{GitRef, Registry};
use crate::{Invalid, Mode, PackageName, Problem};

/// What the resolver needs before it goes on, or its answer.
#[derive(Debug)]
pub enum Step {
    /// The own `pyproject.toml` of each of these packages (each of another
    /// source), read at that source: `None` when it has none.
    Metas(Vec<PlannedPackage>),
    /// The registry entries of these names, merged into the registry (a
    /// name with none stays outside the plan, and is not asked again).
    Entries(Vec<String>),
    Done(Resolution),
}

/// The plan with its closure, and what validation must refuse or the
/// report must warn of.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub plan: Plan,
    /// Tags that need their own uv workspace, internal versions a
    /// requirement does not accept.
    pub problems: Vec<Problem>,
    /// Tags whose `pyproject.toml` says another version; packages that go
    /// into dev with a dev package that names them.
    pub warnings: Vec<String>,
}

/// Each package's own `pyproject.toml`, by its source (linking may move a
/// package to dev, where its file is another).
pub type Metas = HashMap<PlannedSource, Option<ProjectMeta>>;

/// The resolver's state between steps.
#[derive(Debug)]
pub struct Closure<'a> {
    manifest: &'a Manifest,
    manifest_path: &'a Path,
    mode: &'a Mode,
    overrides: &'a BTreeMap<PackageName, Mode>,
    /// The overrides this request sets, not stored by an earlier one.
    requested: BTreeSet<PackageName>,
    required: BTreeMap<PackageName, Required>,
    /// Packages dev packages name with `{ workspace = true }`, and by whom.
    linked: BTreeMap<PackageName, Vec<String>>,
    /// Names asked of the registry already, found or not.
    asked: BTreeSet<String>,
}

impl<'a> Closure<'a> {
    /// The closure of `manifest`'s packages in `mode` with `overrides`;
    /// `stored` are the overrides earlier commands left.
    pub fn new(
        manifest: &'a Manifest,
        manifest_path: &'a Path,
        mode: &'a Mode,
        overrides: &'a BTreeMap<PackageName, Mode>,
        stored: &BTreeMap<PackageName, Mode>,
    ) -> Closure<'a> {
        let requested = overrides
            .iter()
            .filter(|(name, mode)| stored.get(*name) != Some(*mode))
            .map(|(name, _)| name.clone())
            .collect();
        Closure {
            manifest,
            manifest_path,
            mode,
            overrides,
            requested,
            required: BTreeMap::new(),
            linked: BTreeMap::new(),
            asked: BTreeSet::new(),
        }
    }

    /// The next step from what is known: `registry` and the `metas` read
    /// so far. Terminates: each round that does not end adds a registry
    /// package, an extra, a requirer or a link, of which there are
    /// finitely many.
    pub fn step(&mut self, registry: &Registry, metas: &Metas) -> Result<Step, Invalid> {
        loop {
            let plan = plan::resolve(ResolveInput {
                requested: &self.requested,
                manifest: self.manifest,
                manifest_path: self.manifest_path,
                registry,
                mode: self.mode,
                overrides: self.overrides,
                required: &self.required,
                linked: &self.linked,
            })?;
            let unread = unread(&plan, metas);
            if !unread.is_empty() {
                return Ok(Step::Metas(unread));
            }
            let by_key: BTreeMap<PackageName, Option<ProjectMeta>> = plan
                .packages
                .iter()
                .map(|p| (p.key.clone(), metas.get(&p.source).cloned().flatten()))
                .collect();
            let (wanted, siblings) = wanted(&plan, &by_key, self.manifest.settings.dev_link);
            let missing: BTreeSet<String> = wanted
                .iter()
                .map(|(d, _)| d.name.clone())
                .chain(siblings.iter().map(|(name, _)| name.clone()))
                .filter(|name| !registry.contains(name) && !self.asked.contains(name))
                .collect();
            if !missing.is_empty() {
                self.asked.extend(missing.iter().cloned());
                return Ok(Step::Entries(missing.into_iter().collect()));
            }
            if !self.grow(&plan, registry, &wanted, &siblings) {
                return Ok(Step::Done(self.finish(plan, &by_key, &wanted, registry)));
            }
        }
    }

    /// Adds to the closure what this round found: links of dev packages'
    /// siblings, required packages with their extras and requirers.
    /// Whether anything was new.
    fn grow(
        &mut self,
        plan: &Plan,
        registry: &Registry,
        wanted: &[(Dependency, String)],
        siblings: &[(String, String)],
    ) -> bool {
        let mut grew = false;
        for (sibling, by) in siblings {
            if registry.get(sibling).is_none() {
                continue;
            }
            let slot = self.linked.entry(PackageName::key(sibling)).or_default();
            if !slot.contains(by) {
                slot.push(by.clone());
                grew = true;
            }
        }
        for (dependency, by) in wanted {
            let Some((entry, _)) = registry.get(&dependency.name) else {
                continue;
            };
            // A package the manifest lists itself is not "required".
            if plan
                .get(&dependency.name)
                .is_some_and(|p| p.required_by.is_empty())
            {
                continue;
            }
            let slot = self
                .required
                .entry(dependency.key.clone())
                .or_insert_with(|| {
                    grew = true;
                    Required {
                        name: entry.name.clone(),
                        ..Required::default()
                    }
                });
            if !slot.required_by.contains(by) {
                slot.required_by.push(by.clone());
                grew = true;
            }
            for extra in &dependency.extras {
                if !slot.extras.contains(extra) {
                    slot.extras.push(extra.clone());
                    grew = true;
                }
            }
        }
        grew
    }

    /// The fixed point: the closure's checks, and dev packages' siblings
    /// linked into dev.
    fn finish(
        &self,
        mut plan: Plan,
        metas: &BTreeMap<PackageName, Option<ProjectMeta>>,
        wanted: &[(Dependency, String)],
        registry: &Registry,
    ) -> Resolution {
        let (mut problems, mut warnings) = closure_checks(&plan, metas, wanted);
        let named = named_siblings(&plan, metas, registry);
        problems.extend(plan::link_members(
            &mut plan,
            &named,
            self.manifest.settings.dev_link,
            self.manifest_path,
        ));
        for package in plan.packages.iter().filter(|p| !p.linked_by.is_empty()) {
            warnings.push(format!(
                "`{}` goes into dev with {}: its `pyproject.toml` names it with `{{ workspace = true }}`, which uv installs only as a workspace member",
                package.name,
                package
                    .linked_by
                    .iter()
                    .map(|by| format!("`{by}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Resolution {
            plan,
            problems,
            warnings,
        }
    }
}

/// The planned packages whose source's `pyproject.toml` is not read yet,
/// one per source.
fn unread(plan: &Plan, metas: &Metas) -> Vec<PlannedPackage> {
    let mut unread: Vec<PlannedPackage> = Vec::new();
    for package in &plan.packages {
        if !metas.contains_key(&package.source)
            && !unread.iter().any(|other| other.source == package.source)
        {
            unread.push(package.clone());
        }
    }
    unread
}

/// Each requirement or sibling name, with the package that names it.
type Named<T> = Vec<(T, String)>;

/// What the planned packages require (with who requires it), and the
/// siblings dev packages name with `{ workspace = true }` (unless
/// `dev_link: path`).
fn wanted(
    plan: &Plan,
    metas: &BTreeMap<PackageName, Option<ProjectMeta>>,
    dev_link: DevLink,
) -> (Named<Dependency>, Named<String>) {
    let mut wanted = Vec::new();
    let mut siblings = Vec::new();
    for package in &plan.packages {
        let Some(Some(meta)) = metas.get(&package.key) else {
            continue;
        };
        for dependency in meta.requirements(&package.extras) {
            wanted.push((dependency, package.name.clone()));
        }
        if package.source.local_path().is_some() && dev_link != DevLink::Path {
            for sibling in &meta.workspace_sources {
                siblings.push((sibling.clone(), package.name.clone()));
            }
        }
    }
    (wanted, siblings)
}

/// Per dev package, the planned registry siblings its own `pyproject.toml`
/// names with `{ workspace = true }` (under `dev_link: path` too, so that
/// [`plan::link_members`] can refuse them).
fn named_siblings(
    plan: &Plan,
    metas: &BTreeMap<PackageName, Option<ProjectMeta>>,
    registry: &Registry,
) -> BTreeMap<PackageName, Vec<PackageName>> {
    plan.packages
        .iter()
        .filter(|package| package.source.local_path().is_some())
        .filter_map(|package| {
            let meta = metas.get(&package.key)?.as_ref()?;
            let siblings: Vec<PackageName> = meta
                .workspace_sources
                .iter()
                .filter(|name| registry.contains(name) && plan.get(name).is_some())
                .map(|name| PackageName::key(name))
                .collect();
            (!siblings.is_empty()).then(|| (package.key.clone(), siblings))
        })
        .collect()
}

/// The closure's checks on the planned git sources: a `pyproject.toml` with
/// `{ workspace = true }` sources cannot be installed outside its own uv
/// workspace (uv fails after hpm wrote the files); a requirement on an
/// internal package whose planned ref has a version it does not accept is
/// refused (uv ignores version ranges of git sources); a tag whose
/// `pyproject.toml` says another version is a warning.
fn closure_checks(
    plan: &Plan,
    metas: &BTreeMap<PackageName, Option<ProjectMeta>>,
    wanted: &[(Dependency, String)],
) -> (Vec<Problem>, Vec<String>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for package in &plan.packages {
        let PlannedSource::Git { url, reference, .. } = &package.source else {
            continue;
        };
        let Some(Some(meta)) = metas.get(&package.key) else {
            continue;
        };
        let at = reference.name().unwrap_or("the default branch");
        if !meta.workspace_sources.is_empty() {
            problems.push(
                Problem::new(format!(
                    "its `pyproject.toml` at `{at}` of `{url}` names {} with `{{ workspace = true }}` in `[tool.uv.sources]`, which only its own uv workspace can install",
                    meta.workspace_sources
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .for_package(&package.name)
                .hint(format!(
                    "release a tag without those entries and point the registry at it, or put the package in dev (`hpmctl dev {}`)",
                    package.name
                )),
            );
        }
        if let (Some(version), GitRef::Tag(tag) | GitRef::Ref(tag)) = (&meta.version, reference) {
            if tag_matches_version(tag, version) == Some(false) {
                warnings.push(format!(
                    "package `{}`: tag `{tag}` has version `{version}` in its `pyproject.toml`",
                    package.name
                ));
            }
        }
        for (dependency, by) in wanted.iter().filter(|(d, _)| d.key == package.key) {
            let (Some(specifiers), Some(version)) = (&dependency.specifiers, &meta.version) else {
                continue;
            };
            if !crate::version::satisfies(version, specifiers) {
                problems.push(
                    Problem::new(format!(
                        "`{by}` requires `{}{specifiers}`, but the planned `{at}` of `{url}` is version `{version}`",
                        package.name
                    ))
                    .for_package(&package.name)
                    .hint("point the registry at a ref whose version satisfies it, or relax the requirement"),
                );
            }
        }
    }
    (problems, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{EntryOrigin, RegistryEntry};

    fn registry(text: &str) -> Registry {
        let entries: Vec<RegistryEntry> = serde_yaml_ng::from_str(text).unwrap();
        Registry::from_entries(
            entries
                .into_iter()
                .map(|e| (e, EntryOrigin::File("reg.yaml".into()))),
        )
    }

    fn meta(text: &str) -> Option<ProjectMeta> {
        Some(ProjectMeta::read(text).unwrap())
    }

    /// Runs the resolver, answering each step from `pyprojects` (by
    /// package name) and `more` (entries found when asked); answers the
    /// steps it asked and the resolution.
    fn run(
        manifest: &str,
        known: &str,
        more: &str,
        pyprojects: &[(&str, &str)],
    ) -> (Vec<String>, Resolution) {
        let manifest = Manifest::parse(manifest, Path::new("hpm.yaml")).unwrap();
        let mode = Mode::new("prod").unwrap();
        let overrides = BTreeMap::new();
        let mut closure = Closure::new(
            &manifest,
            Path::new("hpm.yaml"),
            &mode,
            &overrides,
            &BTreeMap::new(),
        );
        let mut registry = registry(known);
        let extra = registry_of_more(more);
        let mut metas = Metas::new();
        let mut asked = Vec::new();
        loop {
            match closure.step(&registry, &metas).unwrap() {
                Step::Metas(packages) => {
                    for package in packages {
                        asked.push(format!("meta {}", package.name));
                        let text = pyprojects.iter().find(|(n, _)| *n == package.name);
                        metas.insert(package.source, text.and_then(|(_, t)| meta(t)));
                    }
                }
                Step::Entries(names) => {
                    asked.push(format!("entries {}", names.join(",")));
                    let found: Vec<(RegistryEntry, EntryOrigin)> = extra
                        .iter()
                        .filter(|(e, _)| names.contains(&e.name))
                        .cloned()
                        .collect();
                    registry = registry.merged_with(Registry::from_entries(found));
                }
                Step::Done(resolution) => return (asked, resolution),
            }
        }
    }

    fn registry_of_more(text: &str) -> Vec<(RegistryEntry, EntryOrigin)> {
        let entries: Vec<RegistryEntry> = serde_yaml_ng::from_str(text).unwrap_or_default();
        entries
            .into_iter()
            .map(|e| (e, EntryOrigin::File("more.yaml".into())))
            .collect()
    }

    const MANIFEST: &str = "version: 1\nmode: prod\npackages: [app]\n";
    const KNOWN: &str = r#"
- name: app
  sources:
    prod: { type: git, url: "file:///r/app.git", tag: v1.0.0 }
"#;
    const LIB: &str = r#"
- name: lib
  sources:
    prod: { type: git, url: "file:///r/lib.git", tag: v2.0.0 }
"#;

    #[test]
    fn a_requirement_with_an_entry_joins_the_plan_with_its_extras_and_requirer() {
        let app = "[project]\nname = \"app\"\nversion = \"1.0.0\"\ndependencies = [\"lib[fast]>=2\", \"requests\"]\n";
        let lib = "[project]\nname = \"lib\"\nversion = \"2.0.0\"\n";
        let (asked, done) = run(MANIFEST, KNOWN, LIB, &[("app", app), ("lib", lib)]);
        assert_eq!(
            asked,
            ["meta app", "entries lib,requests", "meta lib"],
            "each thing asked once"
        );
        let lib = done.plan.get("lib").expect("lib joined the plan");
        assert_eq!(lib.required_by, ["app"]);
        assert_eq!(lib.extras, ["fast"]);
        assert!(
            done.plan.get("requests").is_none(),
            "no entry: not internal"
        );
        assert!(done.problems.is_empty(), "{:?}", done.problems);
    }

    #[test]
    fn a_required_version_the_planned_tag_does_not_have_is_a_problem() {
        let app = "[project]\nname = \"app\"\nversion = \"1.0.0\"\ndependencies = [\"lib>=3\"]\n";
        let lib = "[project]\nname = \"lib\"\nversion = \"2.0.0\"\n";
        let (_, done) = run(MANIFEST, KNOWN, LIB, &[("app", app), ("lib", lib)]);
        assert_eq!(done.problems.len(), 1, "{:?}", done.problems);
        assert!(
            done.problems[0].message.contains("`app` requires `lib>=3`"),
            "{}",
            done.problems[0]
        );
    }

    #[test]
    fn a_tag_whose_version_differs_is_a_warning() {
        let app = "[project]\nname = \"app\"\nversion = \"0.9.0\"\n";
        let (_, done) = run(MANIFEST, KNOWN, "", &[("app", app)]);
        assert_eq!(
            done.warnings,
            ["package `app`: tag `v1.0.0` has version `0.9.0` in its `pyproject.toml`"]
        );
    }
}
