//! `pyproject.toml`, as hpm may edit it.
//!
//! [`PyprojectMut`] wraps a `toml_edit` document and knows the only edits hpm
//! makes: the `[project.dependencies]` entries and `[tool.uv.sources]` entries
//! of managed packages. Every other byte, comment and order stays as it was,
//! and an entry that already says what the plan says is not rewritten.
//!
//! Only a [`PinnedPlan`] can be applied: every git reference written is a
//! tag, branch or commit.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use crate::name::{normalize_name, PackageName};
use crate::pin::PinnedPlan;
use crate::plan::{Plan, PlannedPackage, PlannedSource};
use crate::problem::{Invalid, Problem};
use crate::registry::GitRef;
use crate::text::TextLayout;

type Result<T, E = Invalid> = std::result::Result<T, E>;

/// The file name hpm manages.
pub const PYPROJECT_FILE: &str = "pyproject.toml";

/// A parsed `pyproject.toml` that hpm may edit.
#[derive(Debug, Clone)]
pub struct PyprojectMut {
    doc: DocumentMut,
    /// Its byte order mark and line endings, put back when written.
    layout: TextLayout,
}

impl PyprojectMut {
    /// Parses `text`, read from `path` (for messages).
    pub fn parse(text: &str, path: &Path) -> Result<PyprojectMut> {
        let (layout, text) = TextLayout::detect(text);
        let text = text.as_str();
        let doc = DocumentMut::from_str(text).map_err(|error| {
            let mut problem = Problem::new(error.message().trim().to_string())
                .in_file(path)
                .hint("fix the TOML syntax; hpm changed nothing");
            if let Some(span) = error.span() {
                let (line, column) = line_column(text, span.start);
                problem = problem.at(line, column);
            }
            Invalid::from(problem)
        })?;
        Ok(PyprojectMut { doc, layout })
    }

    /// `[project].name`, when there is one.
    pub fn project_name(&self) -> Option<&str> {
        self.doc.get("project")?.get("name")?.as_str()
    }

    /// Rewrites the managed entries to match `plan`. `previously_managed`
    /// (normalized names) are the packages hpm wrote before: those no longer
    /// in the plan are removed from both places.
    pub fn apply(
        &mut self,
        plan: &PinnedPlan,
        previously_managed: &BTreeSet<PackageName>,
        path: &Path,
    ) -> Result<()> {
        let plan = plan.plan();
        let planned: HashMap<&str, &PlannedPackage> = plan
            .packages
            .iter()
            .map(|package| (package.key.as_str(), package))
            .collect();
        let mut managed: HashSet<&str> = planned.keys().copied().collect();
        managed.extend(previously_managed.iter().map(PackageName::as_str));
        let dependencies = self.dependencies_mut(path)?;
        update_dependencies(dependencies, plan, &planned, &managed);
        self.update_sources(plan, &managed, path)
    }

    fn dependencies_mut(&mut self, path: &Path) -> Result<&mut Array> {
        let no_project = || {
            Invalid::from(
                Problem::new("has no `[project]` table")
                    .in_file(path)
                    .hint("add a `[project]` table with `name` and `version`; hpm writes its dependencies there"),
            )
        };
        let project = self.doc.get_mut("project").ok_or_else(no_project)?;
        let project = project.as_table_like_mut().ok_or_else(no_project)?;
        if project.get("dependencies").is_none() {
            project.insert("dependencies", Item::Value(Value::Array(Array::new())));
        }
        project
            .get_mut("dependencies")
            .and_then(Item::as_array_mut)
            .ok_or_else(|| {
                Invalid::from(
                    Problem::new("`project.dependencies` is not an array")
                        .in_file(path)
                        .hint("write it as `dependencies = [\"pkg\", ...]`"),
                )
            })
    }

    fn update_sources(&mut self, plan: &Plan, managed: &HashSet<&str>, path: &Path) -> Result<()> {
        let wanted: HashMap<&str, InlineTable> = plan
            .packages
            .iter()
            .filter_map(|package| {
                uv_source(&package.source).map(|table| (package.key.as_str(), table))
            })
            .collect();
        let Some(sources) = sources_table(&mut self.doc, !wanted.is_empty(), path)? else {
            return Ok(());
        };
        // Existing keys by normalized name: users may spell names their way.
        let existing: HashMap<String, String> = sources
            .iter()
            .map(|(key, _)| (normalize_name(key), key.to_string()))
            .collect();
        for (name, key) in &existing {
            if managed.contains(name.as_str()) && !wanted.contains_key(name.as_str()) {
                sources.remove(key);
            }
        }
        // In plan order, so that new entries are appended as the manifest lists them.
        for package in &plan.packages {
            let Some(desired) = wanted.get(package.key.as_str()) else {
                continue;
            };
            match existing
                .get(package.key.as_str())
                .and_then(|key| sources.get_mut(key))
            {
                Some(item) if source_matches(item, desired) => {}
                Some(Item::Value(value)) => {
                    let decor = value.decor().clone();
                    let mut new_value = Value::InlineTable(desired.clone());
                    *new_value.decor_mut() = decor;
                    *value = new_value;
                }
                Some(item) => *item = Item::Value(Value::InlineTable(desired.clone())),
                None => {
                    sources.insert(
                        &package.name,
                        Item::Value(Value::InlineTable(desired.clone())),
                    );
                }
            }
        }
        Ok(())
    }

    /// `[tool.uv.sources]`'s entry for `name` (any spelling).
    fn source_item(&self, name: &str) -> Option<&Item> {
        let name = normalize_name(name);
        let sources = self
            .doc
            .get("tool")?
            .get("uv")?
            .get("sources")?
            .as_table_like()?;
        sources
            .iter()
            .find(|(key, _)| normalize_name(key) == name)
            .map(|(_, item)| item)
    }

    /// The source entry for `name` as TOML text, for tests and messages.
    pub fn source_of(&self, name: &str) -> Option<String> {
        self.source_item(name)
            .map(|item| item.to_string().trim().to_string())
    }

    /// Whether `name`'s source entry is a local folder (`path = ...`, in
    /// the table or any of its entries when it is a list of sources).
    pub fn has_local_source(&self, name: &str) -> bool {
        let is_local = |table: &dyn TableLike| table.contains_key("path");
        match self.source_item(name) {
            Some(Item::Value(Value::Array(array))) => array
                .iter()
                .any(|value| value.as_inline_table().is_some_and(|t| is_local(t))),
            Some(Item::ArrayOfTables(tables)) => tables.iter().any(|t| is_local(t)),
            Some(item) => item.as_table_like().is_some_and(is_local),
            None => false,
        }
    }
}

impl std::fmt::Display for PyprojectMut {
    /// The file's text, laid out as it was read (byte order mark, line
    /// endings).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.layout.restore(&self.doc.to_string()))
    }
}

/// Updates, removes and appends the managed dependency strings, keeping the
/// array's layout (one per line stays one per line).
fn update_dependencies(
    dependencies: &mut Array,
    plan: &Plan,
    planned: &HashMap<&str, &PlannedPackage>,
    managed: &HashSet<&str>,
) {
    let mut written: HashSet<String> = HashSet::new();
    let mut index = 0;
    while index < dependencies.len() {
        let Some(name) = dependencies
            .get(index)
            .and_then(Value::as_str)
            .and_then(requirement_name)
        else {
            index += 1;
            continue;
        };
        if !managed.contains(name.as_str()) {
            index += 1;
            continue;
        }
        match planned.get(name.as_str()) {
            Some(package) if written.insert(name) => {
                let desired = package.requirement();
                let current = dependencies.get(index).and_then(Value::as_str);
                if current != Some(desired.as_str()) {
                    let decor = dependencies
                        .get(index)
                        .map(|v| v.decor().clone())
                        .unwrap_or_default();
                    let mut value = Value::from(desired);
                    *value.decor_mut() = decor;
                    dependencies.replace_formatted(index, value);
                }
                index += 1;
            }
            // Gone from the plan, or a duplicate of an entry already written.
            _ => remove_keeping_comments(dependencies, index),
        }
    }
    let was_empty = dependencies.is_empty();
    let trailing = dependencies
        .trailing()
        .as_str()
        .unwrap_or_default()
        .to_string();
    // One entry per line stays one entry per line: new entries take the
    // indentation of the last entry (or of the comments in an empty array),
    // and comments after the last entry stay above the new ones.
    let indentation = match dependencies.iter().last() {
        Some(last) => last
            .decor()
            .prefix()
            .and_then(|prefix| prefix.as_str())
            .and_then(|prefix| prefix.rfind('\n').map(|at| prefix[at..].to_string())),
        None if trailing.contains('\n') => Some(comment_indentation(&trailing)),
        None => None,
    };
    let (kept_above, closing) = match trailing.rfind('\n') {
        Some(at) => trailing.split_at(at),
        None => (trailing.as_str(), ""),
    };
    let mut added = 0;
    for package in &plan.packages {
        if written.contains(package.key.as_str()) {
            continue;
        }
        let mut value = Value::from(package.requirement());
        let prefix = match &indentation {
            Some(indentation) if added == 0 => format!("{kept_above}{indentation}"),
            Some(indentation) => indentation.clone(),
            None if dependencies.is_empty() => String::new(),
            None => " ".to_string(),
        };
        value.decor_mut().set_prefix(prefix);
        value.decor_mut().set_suffix("");
        dependencies.push_formatted(value);
        added += 1;
    }
    if added > 0 {
        match indentation {
            Some(_) => {
                dependencies.set_trailing(closing);
                if was_empty {
                    dependencies.set_trailing_comma(true);
                }
            }
            None if was_empty => dependencies.set_trailing(""),
            None => {}
        }
    }
}

/// Removes entry `index` of a dependency array, keeping the comments that
/// are not its own: the comment lines above it (and the previous entry's
/// trailing comment, which toml_edit keeps in this entry's prefix) move to
/// the next entry, or to the array's end; the removed entry's own trailing
/// comment (`"plugin-a",  # the adapter`, kept in the next prefix) goes
/// with it.
fn remove_keeping_comments(dependencies: &mut Array, index: usize) {
    let prefix = dependencies
        .get(index)
        .and_then(|value| value.decor().prefix())
        .and_then(|prefix| prefix.as_str())
        .unwrap_or_default()
        .to_string();
    dependencies.remove(index);
    // What stays of the removed prefix: everything up to its last line
    // break (the indentation after it was the removed entry's).
    let Some(kept_end) = prefix.rfind('\n') else {
        return;
    };
    let kept = &prefix[..kept_end];
    let drop_own_trailing = |text: &str| -> String {
        match text.find('\n') {
            Some(at) => text[at..].to_string(),
            None => text.to_string(),
        }
    };
    match dependencies.get_mut(index) {
        Some(next) => {
            let next_prefix = next
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or_default()
                .to_string();
            let rest = drop_own_trailing(&next_prefix);
            next.decor_mut().set_prefix(format!("{kept}{rest}"));
        }
        None => {
            let trailing = dependencies
                .trailing()
                .as_str()
                .unwrap_or_default()
                .to_string();
            let rest = drop_own_trailing(&trailing);
            dependencies.set_trailing(format!("{kept}{rest}"));
        }
    }
}

/// `\n` plus the indentation of the last comment line in an empty array's
/// inside (four spaces when there is none).
fn comment_indentation(inside: &str) -> String {
    let indentation = inside
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| &line[..line.len() - line.trim_start().len()])
        .unwrap_or("    ");
    format!("\n{indentation}")
}

/// The normalized name a PEP 508 requirement string is for, if it parses.
fn requirement_name(requirement: &str) -> Option<String> {
    parse_requirement(requirement).map(|requirement| requirement.name.to_string())
}

/// A PEP 508 requirement, if it parses. pep508_rs 0.9 panics on a name or
/// extra that ends in `-`, `.` or `_` when more text follows (`a->=1`);
/// such a requirement is invalid, so the name and extras are checked first.
pub(crate) fn parse_requirement(
    requirement: &str,
) -> Option<pep508_rs::Requirement<pep508_rs::VerbatimUrl>> {
    let text = requirement.trim_start();
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let name_end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    pep508_rs::PackageName::from_str(&text[..name_end]).ok()?;
    if let Some(extras) = text[name_end..].trim_start().strip_prefix('[') {
        let extras = extras.split(']').next().unwrap_or_default();
        for extra in extras.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            pep508_rs::ExtraName::from_str(extra).ok()?;
        }
    }
    pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement).ok()
}

/// `[tool.uv.sources]`, created (as a standard table at the end) only when
/// something must be written there.
fn sources_table<'a>(
    doc: &'a mut DocumentMut,
    create: bool,
    path: &Path,
) -> Result<Option<&'a mut dyn TableLike>> {
    let exists = doc
        .get("tool")
        .and_then(|tool| tool.get("uv"))
        .and_then(|uv| uv.get("sources"))
        .is_some();
    if !exists && !create {
        return Ok(None);
    }
    let not_a_table = |what: &str| {
        Invalid::from(
            Problem::new(format!("`{what}` is not a table"))
                .in_file(path)
                .hint("hpm writes package sources into `[tool.uv.sources]`; make it a table"),
        )
    };
    let tool = doc.entry("tool").or_insert_with(implicit_table);
    let tool = tool
        .as_table_like_mut()
        .ok_or_else(|| not_a_table("tool"))?;
    let uv = tool.entry("uv").or_insert(implicit_table());
    let uv = uv
        .as_table_like_mut()
        .ok_or_else(|| not_a_table("tool.uv"))?;
    let sources = uv.entry("sources").or_insert(Item::Table(Table::new()));
    let sources = sources
        .as_table_like_mut()
        .ok_or_else(|| not_a_table("tool.uv.sources"))?;
    Ok(Some(sources))
}

fn implicit_table() -> Item {
    let mut table = Table::new();
    table.set_implicit(true);
    Item::Table(table)
}

/// The `[tool.uv.sources]` value for a planned source; `None` for a plain
/// index requirement, which needs no source entry.
pub fn uv_source(source: &PlannedSource) -> Option<InlineTable> {
    let mut table = InlineTable::new();
    match source {
        PlannedSource::Path { path, editable } => {
            table.insert("path", path.as_str().into());
            table.insert("editable", (*editable).into());
        }
        PlannedSource::Git {
            url,
            reference,
            subdirectory,
        } => {
            table.insert("git", url.as_str().into());
            match reference {
                GitRef::Tag(tag) => {
                    table.insert("tag", tag.as_str().into());
                }
                GitRef::Branch(branch) => {
                    table.insert("branch", branch.as_str().into());
                }
                // A pinned plan holds no `Ref`; were one to slip through, a
                // commit-like name is the only meaning uv could give it.
                GitRef::Rev(rev) | GitRef::Ref(rev) => {
                    table.insert("rev", rev.as_str().into());
                }
                GitRef::Default => {}
            }
            if let Some(subdirectory) = subdirectory {
                table.insert("subdirectory", subdirectory.as_str().into());
            }
        }
        PlannedSource::Index {
            index: Some(index), ..
        } => {
            table.insert("index", index.as_str().into());
        }
        PlannedSource::Index { index: None, .. } => return None,
    }
    table.fmt();
    Some(table)
}

/// Whether an existing source entry already says what `desired` says.
fn source_matches(item: &Item, desired: &InlineTable) -> bool {
    let Some(existing) = item.as_table_like() else {
        return false;
    };
    existing.len() == desired.len()
        && desired.iter().all(|(key, value)| {
            existing
                .get(key)
                .and_then(Item::as_value)
                .is_some_and(|existing| same_scalar(existing, value))
        })
}

fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Boolean(a), Value::Boolean(b)) => a.value() == b.value(),
        _ => false,
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_plan(names: &[&str]) -> PinnedPlan {
        use crate::mode::Mode;
        use crate::name::PackageName;
        use crate::plan::{Plan, PlannedPackage};
        let dev = Mode::new("dev").unwrap();
        PinnedPlan::without_remotes(Plan {
            mode: dev.clone(),
            packages: names
                .iter()
                .map(|name| PlannedPackage {
                    name: name.to_string(),
                    key: PackageName::key(name),
                    group: None,
                    mode: dev.clone(),
                    extras: Vec::new(),
                    source: PlannedSource::Path {
                        path: format!("packages/{name}"),
                        editable: true,
                    },
                    required_by: Vec::new(),
                })
                .collect(),
        })
        .unwrap()
    }

    /// Regression: removing a managed package deleted the comment line
    /// above it, moved its trailing comment onto another dependency, and
    /// lost the comment above `[tool.uv.sources]`.
    #[test]
    fn removing_a_package_keeps_the_comments_that_are_not_its_own() {
        use crate::name::PackageName;
        let text = r#"[project]
name = "core"
dependencies = [
    "requests",  # http
    # the vector store adapter, see ADR-7
    "plugin-a",  # managed by hpm
    "numpy",  # maths
    "plugin-b",  # also managed
]

# hpm writes the plugins' sources here
[tool.uv.sources]
plugin-a = { path = "packages/plugin-a", editable = true }
plugin-b = { path = "packages/plugin-b", editable = true }
"#;
        let mut pyproject = PyprojectMut::parse(text, Path::new("pyproject.toml")).unwrap();
        let managed: BTreeSet<PackageName> = ["plugin-a", "plugin-b"]
            .iter()
            .map(|n| PackageName::key(n))
            .collect();
        pyproject
            .apply(&dev_plan(&[]), &managed, Path::new("pyproject.toml"))
            .unwrap();
        let written = pyproject.to_string();
        assert_eq!(
            written,
            r#"[project]
name = "core"
dependencies = [
    "requests",  # http
    # the vector store adapter, see ADR-7
    "numpy",  # maths
]

# hpm writes the plugins' sources here
[tool.uv.sources]
"#
        );
    }

    /// Regression: a CRLF `pyproject.toml` came back all LF, and a byte
    /// order mark was stripped.
    #[test]
    fn crlf_and_a_byte_order_mark_survive_an_edit() {
        use crate::mode::Mode;
        use crate::name::PackageName;
        use crate::pin::PinnedPlan;
        use crate::plan::{Plan, PlannedPackage};
        let text = "\u{feff}[project]\r\nname = \"core\"\r\ndependencies = [\r\n    \"requests\",\r\n]\r\n";
        let mut pyproject = PyprojectMut::parse(text, Path::new("pyproject.toml")).unwrap();
        assert_eq!(
            pyproject.to_string(),
            text,
            "unchanged when nothing is planned"
        );
        let plan = PinnedPlan::without_remotes(Plan {
            mode: Mode::new("dev").unwrap(),
            packages: vec![PlannedPackage {
                name: "plugin-a".into(),
                key: PackageName::key("plugin-a"),
                group: None,
                mode: Mode::new("dev").unwrap(),
                extras: Vec::new(),
                source: PlannedSource::Path {
                    path: "packages/plugin-a".into(),
                    editable: true,
                },
                required_by: Vec::new(),
            }],
        })
        .unwrap();
        pyproject
            .apply(&plan, &BTreeSet::new(), Path::new("pyproject.toml"))
            .unwrap();
        let written = pyproject.to_string();
        assert!(written.starts_with('\u{feff}'), "{written:?}");
        assert!(
            !written.replace("\r\n", "").contains('\n'),
            "every line ends in CRLF: {written:?}"
        );
        assert!(written.contains("\"plugin-a\",\r\n"), "{written:?}");
    }

    #[test]
    fn a_local_source_is_known_by_its_path_key_not_by_its_text() {
        let text = r#"[project]
name = "core"
[tool.uv.sources]
a = { git = "https://example.org/xpath.git", tag = "v1" }
b = { path = "packages/b", editable = true }
c = [{ path = "packages/c", marker = "sys_platform == 'linux'" }, { index = "x" }]
"#;
        let pyproject = PyprojectMut::parse(text, Path::new("pyproject.toml")).unwrap();
        assert!(!pyproject.has_local_source("a"));
        assert!(pyproject.has_local_source("B"));
        assert!(pyproject.has_local_source("c"));
        assert!(!pyproject.has_local_source("missing"));
    }

    #[test]
    fn a_requirement_pep508_rs_would_panic_on_is_not_a_name() {
        assert_eq!(requirement_name("a->=1.0"), None);
        assert_eq!(requirement_name("a[b-]>=1"), None);
        assert_eq!(
            requirement_name("Plugin_A[fast] >=1").as_deref(),
            Some("plugin-a")
        );
    }
}
