//! `hpmctl export MODE`: the core's `pyproject.toml` as a project of its
//! own in another folder (`prod/` by default), with every managed package
//! pinned to MODE's source, for a Dockerfile or CI that installs with
//! `uv sync --frozen` and no hpm.
//!
//! The export keeps the core's `[project]` name, version, requires-python,
//! dependencies and extras, its `[dependency-groups]` and `[tool.uv]`
//! settings (indexes, conflicts, sources of its own); it drops what only
//! building the core needs (`[build-system]`, scripts and entry points), so
//! uv treats it as a virtual project. With the core included, the export
//! is named `<core>-<mode>` and depends on the core by its folder. Paths
//! relative to the core (a flat index, `find-links`) are rewritten to stay
//! pointing where they did; a local path source is refused, since the file
//! must work elsewhere.

use std::collections::BTreeSet;
use std::path::Path;

use crate::pin::PinnedPlan;
use crate::plan::Plan;
use crate::problem::{Invalid, Problem};
use crate::pyproject::{OwnedMembers, PyprojectMut};
use crate::PackageName;

/// The first line of every exported `pyproject.toml`: how hpm knows a file
/// it may replace.
pub const HEADER: &str = "# Written by `hpmctl export";

/// What the export of one mode needs besides the core's file and the plan.
#[derive(Debug, Clone)]
pub struct ExportOptions<'a> {
    pub mode: &'a str,
    /// The core's folder as seen from the export's (`..` for `prod/`).
    pub to_core: &'a str,
    pub with_core: bool,
    /// What hpm wrote into the core's file before (its state).
    pub previously_managed: &'a BTreeSet<PackageName>,
    pub owned: &'a OwnedMembers,
}

/// The exported file's text and what was rewritten or left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub text: String,
    pub notes: Vec<String>,
}

/// The export of the core's `text` (read from `path`) for `plan`.
pub fn export(
    text: &str,
    plan: &PinnedPlan,
    options: &ExportOptions<'_>,
    path: &Path,
) -> Result<Exported, Invalid> {
    refuse_local_packages(plan.plan(), options.mode)?;
    let mut pyproject = PyprojectMut::parse(text, path)?;
    let (mut notes, _) =
        pyproject.apply_with_members(plan, options.previously_managed, options.owned, path)?;
    if pyproject.remove_uv_key("workspace") {
        notes.push(
            "left out `[tool.uv.workspace]`: its members are folders of the core, not of the export"
                .to_string(),
        );
    }
    refuse_local_sources(&pyproject, path)?;
    notes.extend(rebase_paths(&mut pyproject, options.to_core));
    pyproject.remove_table("build-system");
    for key in ["scripts", "gui-scripts", "entry-points"] {
        if pyproject.remove_project_key(key) {
            notes.push(format!(
                "left out `[project.{key}]`: the export is not a package that installs them"
            ));
        }
    }
    if options.with_core {
        include_core(&mut pyproject, options, path)?;
    }
    let body = pyproject.to_string();
    let newline = if body.contains("\r\n") { "\r\n" } else { "\n" };
    let text = format!(
        "{HEADER} {}` from the core's pyproject.toml; change that file and run it again.{newline}{}",
        options.mode,
        body.trim_start_matches('\u{feff}')
    );
    Ok(Exported { text, notes })
}

/// A managed package whose source in `mode` is a local folder cannot be
/// exported: the file must work on a machine without the folder.
pub fn refuse_local_packages(plan: &Plan, mode: &str) -> Result<(), Invalid> {
    let problems = plan
        .packages
        .iter()
        .filter_map(|package| {
            let folder = package.source.local_path()?;
            Some(
                Problem::new(format!(
                    "resolves to the local folder `{folder}` in mode `{mode}`; an exported file must work on a machine without it"
                ))
                .for_package(&package.name)
                .hint(format!(
                    "export a mode whose sources are git refs or an index (such as `prod`), or give `{}` a `{mode}:` source of that kind in its registry entry",
                    package.name
                )),
            )
        })
        .collect();
    Invalid::check(problems)
}

/// The core as a dependency of the export, by its folder, which takes
/// `<core>-<mode>` as its own name (a project cannot depend on itself).
fn include_core(
    pyproject: &mut PyprojectMut,
    options: &ExportOptions<'_>,
    path: &Path,
) -> Result<(), Invalid> {
    let no_name = || Invalid::from(Problem::new("has no `[project].name`").in_file(path));
    let core = pyproject.project_name().ok_or_else(no_name)?.to_string();
    pyproject
        .set_project_text("name", &format!("{core}-{}", options.mode))
        .map_err(|_| no_name())?;
    pyproject.push_dependency(&core, path)?;
    pyproject.set_path_source(&core, options.to_core, false, path)
}

/// A source of the core's own (not hpm's) that is a local folder cannot be
/// exported.
fn refuse_local_sources(pyproject: &PyprojectMut, path: &Path) -> Result<(), Invalid> {
    let problems: Vec<Problem> = pyproject
        .sources()
        .iter()
        .filter(|entry| entry.is_local())
        .map(|entry| {
            let name = entry.key();
            Problem::new(format!(
                "`[tool.uv.sources]` gives `{name}` a local folder, which an exported file cannot carry"
            ))
            .in_file(path)
            .hint(format!(
                "give `{name}` a registry entry so hpm pins it per mode, or a git or index source"
            ))
        })
        .collect();
    Invalid::check(problems)
}

/// Relative folders of `[[tool.uv.index]]` URLs and `find-links`, rebased
/// onto `to_core` so they point where they did; answers a note per change.
fn rebase_paths(pyproject: &mut PyprojectMut, to_core: &str) -> Vec<String> {
    let mut notes = Vec::new();
    pyproject.rewrite_uv_locations(|text, place| {
        if text.contains("://") || Path::new(text).is_absolute() {
            return None;
        }
        let rebased = format!(
            "{}/{}",
            to_core.trim_end_matches('/'),
            text.trim_start_matches("./")
        );
        notes.push(format!("{place}: `{text}` is `{rebased}` from the export"));
        Some(rebased)
    });
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::plan::{PlannedPackage, PlannedSource};
    use crate::registry::GitRef;

    fn plan(source: PlannedSource) -> PinnedPlan {
        PinnedPlan::without_remotes(Plan {
            mode: Mode::new("prod").unwrap(),
            packages: vec![PlannedPackage {
                name: "plugin-a".into(),
                key: PackageName::key("plugin-a"),
                group: None,
                mode: Mode::new("prod").unwrap(),
                extras: Vec::new(),
                source,
                required_by: Vec::new(),
                linked_by: Vec::new(),
            }],
        })
        .unwrap()
    }

    const CORE: &str = r#"[project]
name = "core-app"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["requests", "plugin-a"]

[project.optional-dependencies]
gpu = ["torch"]

[project.scripts]
core = "core_app:main"

[dependency-groups]
test = ["pytest"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.uv]
find-links = ["./wheelhouse"]

[[tool.uv.index]]
name = "local"
url = "./indexes/simple"

[tool.uv.sources]
plugin-a = { path = "packages/plugin-a", editable = true }
"#;

    fn options<'a>(
        managed: &'a BTreeSet<PackageName>,
        owned: &'a OwnedMembers,
    ) -> ExportOptions<'a> {
        ExportOptions {
            mode: "prod",
            to_core: "..",
            with_core: false,
            previously_managed: managed,
            owned,
        }
    }

    #[test]
    fn the_export_pins_the_mode_keeps_the_core_and_leaves_out_the_build() {
        let managed: BTreeSet<PackageName> = [PackageName::key("plugin-a")].into();
        let owned = OwnedMembers::default();
        let git = plan(PlannedSource::Git {
            url: "https://example.org/plugin-a.git".into(),
            reference: GitRef::Tag("v1.0.0".into()),
            subdirectory: None,
        });
        let exported = export(
            CORE,
            &git,
            &options(&managed, &owned),
            Path::new("pyproject.toml"),
        )
        .unwrap();
        let text = &exported.text;
        assert!(
            text.starts_with("# Written by `hpmctl export prod`"),
            "{text}"
        );
        assert!(
            !text.contains("[build-system]") && !text.contains("[project.scripts]"),
            "{text}"
        );
        for kept in [
            "name = \"core-app\"",
            "requires-python = \">=3.10\"",
            "gpu = [\"torch\"]",
            "test = [\"pytest\"]",
            "plugin-a = { git = \"https://example.org/plugin-a.git\", tag = \"v1.0.0\" }",
            "find-links = [\"../wheelhouse\"]",
            "url = \"../indexes/simple\"",
        ] {
            assert!(text.contains(kept), "{kept}:\n{text}");
        }
        assert_eq!(exported.notes.len(), 3, "{:#?}", exported.notes);
    }

    #[test]
    fn a_local_source_is_refused_naming_the_package() {
        let managed = BTreeSet::new();
        let owned = OwnedMembers::default();
        let dev = plan(PlannedSource::Path {
            path: "packages/plugin-a".into(),
            editable: true,
            member: false,
        });
        let error = export(
            CORE,
            &dev,
            &options(&managed, &owned),
            Path::new("pyproject.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("plugin-a") && error.contains("local folder"),
            "{error}"
        );
    }

    #[test]
    fn with_the_core_the_export_depends_on_it_by_its_folder() {
        let managed: BTreeSet<PackageName> = [PackageName::key("plugin-a")].into();
        let owned = OwnedMembers::default();
        let index = plan(PlannedSource::Index {
            version: Some("==1.0".into()),
            index: None,
        });
        let mut options = options(&managed, &owned);
        options.with_core = true;
        let text = export(CORE, &index, &options, Path::new("pyproject.toml"))
            .unwrap()
            .text;
        assert!(text.contains("name = \"core-app-prod\""), "{text}");
        assert!(text.contains("\"plugin-a==1.0\", \"core-app\"]"), "{text}");
        assert!(
            text.contains("core-app = { path = \"..\", editable = false }"),
            "{text}"
        );
    }
}
