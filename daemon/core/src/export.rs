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

use toml_edit::{InlineTable, Item, Value};

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
    let core_name = pyproject.project_name().map(str::to_string);
    let doc = pyproject.doc_mut();
    if let Some(uv) = doc
        .get_mut("tool")
        .and_then(|t| t.get_mut("uv"))
        .and_then(Item::as_table_like_mut)
    {
        if uv.remove("workspace").is_some() {
            notes.push(
                "left out `[tool.uv.workspace]`: its members are folders of the core, not of the export"
                    .to_string(),
            );
        }
        refuse_local_sources(uv, path)?;
        notes.extend(rebase_paths(uv, options.to_core));
    }
    doc.remove("build-system");
    if let Some(project) = doc.get_mut("project").and_then(Item::as_table_like_mut) {
        for key in ["scripts", "gui-scripts", "entry-points"] {
            if project.remove(key).is_some() {
                notes.push(format!(
                    "left out `[project.{key}]`: the export is not a package that installs them"
                ));
            }
        }
        if options.with_core {
            include_core(project, core_name.as_deref(), options, path)?;
        }
    }
    if options.with_core {
        let Some(core) = &core_name else {
            return Err(Invalid::from(
                Problem::new("has no `[project].name`").in_file(path),
            ));
        };
        let sources = doc
            .entry("tool")
            .or_insert_with(implicit_table)
            .as_table_like_mut()
            .and_then(|t| {
                t.entry("uv")
                    .or_insert_with(implicit_table)
                    .as_table_like_mut()
            })
            .and_then(|uv| {
                uv.entry("sources")
                    .or_insert(Item::Table(toml_edit::Table::new()))
                    .as_table_like_mut()
            })
            .ok_or_else(|| {
                Invalid::from(Problem::new("`[tool.uv.sources]` is not a table").in_file(path))
            })?;
        let mut table = InlineTable::new();
        table.insert("path", options.to_core.into());
        table.insert("editable", false.into());
        table.fmt();
        sources.insert(core, Item::Value(Value::InlineTable(table)));
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

fn implicit_table() -> Item {
    let mut table = toml_edit::Table::new();
    table.set_implicit(true);
    Item::Table(table)
}

/// The core as a dependency of the export, which takes `<core>-<mode>` as
/// its own name (a project cannot depend on itself).
fn include_core(
    project: &mut dyn toml_edit::TableLike,
    core: Option<&str>,
    options: &ExportOptions<'_>,
    path: &Path,
) -> Result<(), Invalid> {
    let Some(core) = core else {
        return Err(Invalid::from(
            Problem::new("has no `[project].name`").in_file(path),
        ));
    };
    project.insert(
        "name",
        Item::Value(Value::from(format!("{core}-{}", options.mode))),
    );
    if let Some(dependencies) = project.get_mut("dependencies").and_then(Item::as_array_mut) {
        dependencies.push(core);
    }
    Ok(())
}

/// A source of the core's own (not hpm's) that is a local folder cannot be
/// exported.
fn refuse_local_sources(uv: &dyn toml_edit::TableLike, path: &Path) -> Result<(), Invalid> {
    let Some(sources) = uv.get("sources").and_then(Item::as_table_like) else {
        return Ok(());
    };
    let problems: Vec<Problem> = sources
        .iter()
        .filter(|(_, item)| {
            let local = |t: &dyn toml_edit::TableLike| t.contains_key("path");
            match item {
                Item::Value(Value::Array(array)) => array
                    .iter()
                    .any(|v| v.as_inline_table().is_some_and(|t| local(t))),
                item => item.as_table_like().is_some_and(local),
            }
        })
        .map(|(name, _)| {
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
fn rebase_paths(uv: &mut dyn toml_edit::TableLike, to_core: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut rebase = |value: &mut Value, place: &str| {
        let Some(text) = value.as_str() else {
            return;
        };
        if text.contains("://") || Path::new(text).is_absolute() {
            return;
        }
        let rebased = format!(
            "{}/{}",
            to_core.trim_end_matches('/'),
            text.trim_start_matches("./")
        );
        notes.push(format!("{place}: `{text}` is `{rebased}` from the export"));
        let decor = value.decor().clone();
        *value = Value::from(rebased);
        *value.decor_mut() = decor;
    };
    if let Some(links) = uv.get_mut("find-links").and_then(Item::as_array_mut) {
        for value in links.iter_mut() {
            rebase(value, "`[tool.uv] find-links`");
        }
    }
    if let Some(indexes) = uv.get_mut("index") {
        let mut each = |table: &mut dyn toml_edit::TableLike| {
            if let Some(value) = table.get_mut("url").and_then(Item::as_value_mut) {
                rebase(value, "`[[tool.uv.index]] url`");
            }
        };
        match indexes {
            Item::ArrayOfTables(tables) => tables.iter_mut().for_each(|t| each(t)),
            Item::Value(Value::Array(array)) => array
                .iter_mut()
                .filter_map(Value::as_inline_table_mut)
                .for_each(|t| each(t)),
            _ => {}
        }
    }
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
