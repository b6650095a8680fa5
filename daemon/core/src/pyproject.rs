//! `pyproject.toml`, as hpm may edit it.
//!
//! [`PyprojectMut`] wraps a `toml_edit` document and knows the only edits hpm
//! makes: the `[project.dependencies]` entries and `[tool.uv.sources]` entries
//! of managed packages, and the `[tool.uv.workspace]` members it adds for
//! dev packages that must be workspace members ([`OwnedMembers`] says which
//! are hpm's, so that leaving dev takes out exactly those). Every other
//! byte, comment and order stays as it was, and an entry that already says
//! what the plan says is not rewritten.
//!
//! Only a [`PinnedPlan`] can be applied: every git reference written is a
//! tag, branch or commit.
//!
//! It is also the one reader of the file (`model`: where each thing lives)
//! and holds hpm's other edits of it as verbs (`verbs`: set a `[project]`
//! string, set or remove a source, take out workspace members…): no other
//! module walks a `pyproject.toml`'s TOML.

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

mod model;
mod verbs;

pub use model::SourceEntry;

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

    /// Parses `text` where there is no file to name; `Err` says why it is
    /// not TOML.
    pub fn read(text: &str) -> Result<PyprojectMut, String> {
        let (layout, text) = TextLayout::detect(text);
        let doc =
            DocumentMut::from_str(&text).map_err(|error| error.message().trim().to_string())?;
        Ok(PyprojectMut { doc, layout })
    }

    /// `[project].name`, when there is one.
    pub fn project_name(&self) -> Option<&str> {
        self.doc.get("project")?.get("name")?.as_str()
    }

    /// Rewrites the managed entries to match `plan`. `previously_managed`
    /// (normalized names) are the packages hpm wrote before: those no longer
    /// in the plan are removed from both places, except a source that an
    /// optional dependency or a dependency group still uses. Answers what
    /// the user should hear of: parts of their entries that could not be
    /// kept, sources kept for their other uses.
    pub fn apply(
        &mut self,
        plan: &PinnedPlan,
        previously_managed: &BTreeSet<PackageName>,
        path: &Path,
    ) -> Result<Vec<String>> {
        self.apply_with_members(plan, previously_managed, &OwnedMembers::default(), path)
            .map(|(notes, _)| notes)
    }

    /// [`PyprojectMut::apply`], with the workspace members hpm added before
    /// (`owned`); answers the notes and the members hpm owns now.
    pub fn apply_with_members(
        &mut self,
        plan: &PinnedPlan,
        previously_managed: &BTreeSet<PackageName>,
        owned: &OwnedMembers,
        path: &Path,
    ) -> Result<(Vec<String>, OwnedMembers)> {
        let plan = plan.plan();
        let planned: HashMap<&str, &PlannedPackage> = plan
            .packages
            .iter()
            .map(|package| (package.key.as_str(), package))
            .collect();
        let mut managed: HashSet<&str> = planned.keys().copied().collect();
        managed.extend(previously_managed.iter().map(PackageName::as_str));
        let dependencies = self.dependencies_mut(path)?;
        let mut notes = update_dependencies(dependencies, plan, &planned, &managed);
        let still_used = self.used_outside_dependencies();
        notes.extend(self.update_sources(plan, &managed, &still_used, path)?);
        let owned = self.update_members(plan, owned, path)?;
        Ok((notes, owned))
    }

    /// `[tool.uv.workspace] members`: adds the plan's member folders that
    /// the user's own globs do not cover, takes out the ones hpm added
    /// before that are no longer members, and removes the table (or the
    /// `members` key) when hpm made it and nothing of it is left.
    fn update_members(
        &mut self,
        plan: &Plan,
        before: &OwnedMembers,
        path: &Path,
    ) -> Result<OwnedMembers> {
        let wanted = member_folders(plan);
        let exists = self
            .doc
            .get("tool")
            .and_then(|t| t.get("uv"))
            .and_then(|u| u.get("workspace"))
            .is_some();
        if wanted.is_empty() && (before.is_empty() || !exists) {
            return Ok(OwnedMembers::default());
        }
        let not_a_table = |what: &str| {
            Invalid::from(
                Problem::new(format!("`{what}` is not a table"))
                    .in_file(path)
                    .hint("hpm lists dev packages in `[tool.uv.workspace]`; make it a table"),
            )
        };
        let mut owned = OwnedMembers {
            members: Vec::new(),
            table: before.table && exists,
            key: before.key && exists,
        };
        let uv = uv_table_mut(&mut self.doc, &not_a_table)?;
        if !exists {
            uv.insert("workspace", Item::Table(Table::new()));
            owned.table = true;
        }
        let workspace = uv
            .get_mut("workspace")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| not_a_table("tool.uv.workspace"))?;
        let excludes: Vec<String> = strings(workspace.get("exclude"));
        if workspace.get("members").is_none() {
            workspace.insert("members", Item::Value(Value::Array(Array::new())));
            owned.key = !owned.table;
        }
        let members = workspace
            .get_mut("members")
            .and_then(Item::as_array_mut)
            .ok_or_else(|| {
                Invalid::from(
                    Problem::new("`tool.uv.workspace.members` is not an array")
                        .in_file(path)
                        .hint("write it as `members = [\"packages/*\"]`"),
                )
            })?;
        owned.members = reconcile_members(members, &wanted, &before.members, &excludes);
        if members.is_empty() && (owned.key || owned.table) {
            workspace.remove("members");
            owned.key = false;
        }
        if owned.table && workspace.is_empty() {
            uv.remove("workspace");
            owned.table = false;
        }
        Ok(owned)
    }

    /// Normalized name → where it is still required besides
    /// `[project.dependencies]`: `[project.optional-dependencies]` extras,
    /// `[dependency-groups]` and uv's `dev-dependencies`.
    fn used_outside_dependencies(&self) -> HashMap<String, Vec<String>> {
        let mut used: HashMap<String, Vec<String>> = HashMap::new();
        let mut note = |array: &Array, place: String| {
            for requirement in array.iter().filter_map(Value::as_str) {
                if let Some(name) = requirement_name(requirement) {
                    let places = used.entry(name).or_default();
                    if !places.contains(&place) {
                        places.push(place.clone());
                    }
                }
            }
        };
        let tables = [
            (
                self.doc
                    .get("project")
                    .and_then(|p| p.get("optional-dependencies")),
                "[project.optional-dependencies]",
            ),
            (self.doc.get("dependency-groups"), "[dependency-groups]"),
        ];
        for (table, heading) in tables {
            let Some(table) = table.and_then(Item::as_table_like) else {
                continue;
            };
            for (key, item) in table.iter() {
                if let Some(array) = item.as_array() {
                    note(array, format!("{heading} `{key}`"));
                }
            }
        }
        let dev_dependencies = self
            .doc
            .get("tool")
            .and_then(|t| t.get("uv"))
            .and_then(|u| u.get("dev-dependencies"))
            .and_then(Item::as_array);
        if let Some(array) = dev_dependencies {
            note(array, "`[tool.uv] dev-dependencies`".to_string());
        }
        used
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

    fn update_sources(
        &mut self,
        plan: &Plan,
        managed: &HashSet<&str>,
        still_used: &HashMap<String, Vec<String>>,
        path: &Path,
    ) -> Result<Vec<String>> {
        let wanted: HashMap<&str, InlineTable> = plan
            .packages
            .iter()
            .filter_map(|package| {
                uv_source(&package.source).map(|table| (package.key.as_str(), table))
            })
            .collect();
        let Some(sources) = sources_table(&mut self.doc, !wanted.is_empty(), path)? else {
            return Ok(Vec::new());
        };
        let mut notes = Vec::new();
        // Existing keys by normalized name: users may spell names their way.
        let existing: HashMap<String, String> = sources
            .iter()
            .map(|(key, _)| (normalize_name(key), key.to_string()))
            .collect();
        let mut orphaned = remove_sources(sources, managed, &wanted, still_used, &mut notes);
        // In plan order, so that new entries are appended as the manifest lists them.
        for package in &plan.packages {
            if let Some(desired) = wanted.get(package.key.as_str()) {
                let key = existing.get(package.key.as_str());
                set_source(sources, key, &package.name, desired, &mut orphaned);
            }
        }
        if !orphaned.is_empty() {
            notes.push(format!(
                "the comment above the sources hpm removed has no entry left to stand above; it was: {}",
                orphaned.trim()
            ));
        }
        Ok(notes)
    }

    /// `[tool.uv.sources]`'s entry for `name` (any spelling).
    fn source_entry(&self, name: &str) -> Option<SourceEntry<'_>> {
        let name = normalize_name(name);
        self.sources()
            .into_iter()
            .find(|entry| normalize_name(entry.key()) == name)
    }

    /// The names `[tool.uv.sources]` gives a source of their own (a path,
    /// git, a URL, the workspace): the core's internal packages. An entry
    /// that only names an index (`{ index = "pytorch" }`) is not one.
    pub fn sourced_names(&self) -> Vec<String> {
        self.sources()
            .iter()
            .filter(|entry| entry.names_own_source())
            .map(|entry| entry.key().to_string())
            .collect()
    }

    /// The source entry for `name` as TOML text, for tests and messages.
    pub fn source_of(&self, name: &str) -> Option<String> {
        self.source_entry(name).map(|entry| entry.to_string())
    }

    /// Whether `name`'s source entry is a local folder (`path = ...`, in
    /// the table or any of its entries when it is a list of sources).
    pub fn has_local_source(&self, name: &str) -> bool {
        self.source_entry(name)
            .is_some_and(|entry| entry.is_local())
    }
}

/// The `[tool.uv.workspace]` members hpm added, and whether it made the
/// table or its `members` key: exactly what leaving dev takes out again.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnedMembers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// hpm made `[tool.uv.workspace]` itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub table: bool,
    /// hpm added `members` to the user's table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub key: bool,
}

impl OwnedMembers {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && !self.table && !self.key
    }
}

/// A new `pyproject.toml` text, what the user should hear of it, and the
/// workspace members hpm owns in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub notes: Vec<String>,
    pub owned: OwnedMembers,
}

/// `text` (the file at `path`) with the managed entries rewritten to
/// `plan` ([`PyprojectMut::apply_with_members`]), every other byte kept.
pub fn render(
    text: &str,
    plan: &PinnedPlan,
    previously_managed: &BTreeSet<PackageName>,
    owned: &OwnedMembers,
    path: &Path,
) -> Result<Rendered> {
    let mut pyproject = PyprojectMut::parse(text, path)?;
    let (notes, owned) = pyproject.apply_with_members(plan, previously_managed, owned, path)?;
    Ok(Rendered {
        text: pyproject.to_string(),
        notes,
        owned,
    })
}

/// The strings of an array item (none when it is not one).
fn strings(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|array| {
            array
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl std::fmt::Display for PyprojectMut {
    /// The file's text, laid out as it was read (byte order mark, line
    /// endings).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.layout.restore(&self.doc.to_string()))
    }
}

/// Updates, removes and appends the managed dependency strings, keeping the
/// array's layout (one per line stays one per line). A user's entry keeps
/// its extras and environment marker; entries for one package under
/// different markers each stay. What cannot combine with hpm's entry (a
/// version or URL: the mode's source decides those) is dropped and noted.
fn update_dependencies(
    dependencies: &mut Array,
    plan: &Plan,
    planned: &HashMap<&str, &PlannedPackage>,
    managed: &HashSet<&str>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let named = update_existing(dependencies, planned, managed, &mut notes);
    append_missing(dependencies, plan, &named);
    notes
}

/// Rewrites each managed entry of `dependencies` to the plan's (dropping
/// those of packages no longer planned, and duplicates); answers the names
/// that have an entry now.
fn update_existing(
    dependencies: &mut Array,
    planned: &HashMap<&str, &PlannedPackage>,
    managed: &HashSet<&str>,
    notes: &mut Vec<String>,
) -> HashSet<String> {
    // (name, marker) pairs written, and the names with any entry.
    let mut written: HashSet<(String, Option<String>)> = HashSet::new();
    let mut named: HashSet<String> = HashSet::new();
    let mut index = 0;
    while index < dependencies.len() {
        let Some(current) = dependencies.get(index).and_then(Value::as_str) else {
            index += 1;
            continue;
        };
        let current = current.to_string();
        let Some(requirement) = parse_requirement(&current) else {
            index += 1;
            continue;
        };
        let name = requirement.name.to_string();
        if !managed.contains(name.as_str()) {
            index += 1;
            continue;
        }
        let Some(package) = planned.get(name.as_str()) else {
            remove_keeping_comments(dependencies, index);
            continue;
        };
        let combined = Combined::of(package, &current, &requirement);
        if !written.insert((name.clone(), combined.marker.clone())) {
            // A duplicate of an entry already written.
            remove_keeping_comments(dependencies, index);
            continue;
        }
        named.insert(name);
        if combined.text != current {
            notes.extend(combined.note(&current));
            let decor = dependencies
                .get(index)
                .map(|v| v.decor().clone())
                .unwrap_or_default();
            let mut value = Value::from(combined.text);
            *value.decor_mut() = decor;
            dependencies.replace_formatted(index, value);
        }
        index += 1;
    }
    named
}

/// Appends an entry for each planned package not `named` yet, one entry
/// per line when the array is laid out so.
fn append_missing(dependencies: &mut Array, plan: &Plan, named: &HashSet<String>) {
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
        if named.contains(package.key.as_str()) {
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

/// hpm's entry for a package combined with the user's: the user's extras
/// join the plan's, the user's marker stays as written.
struct Combined {
    text: String,
    marker: Option<String>,
    /// What the user wrote that hpm's entry replaces (a version or URL).
    dropped: Option<String>,
    package: String,
    mode: String,
}

impl Combined {
    fn of(
        package: &PlannedPackage,
        current: &str,
        requirement: &pep508_rs::Requirement<pep508_rs::VerbatimUrl>,
    ) -> Combined {
        let mut extras = package.extras.clone();
        for extra in &requirement.extras {
            let extra = extra.to_string();
            if !extras.iter().any(|e| normalize_name(e) == extra) {
                extras.push(extra);
            }
        }
        // The name as the user wrote it (`model-qwen2-5-vl` for the
        // package `model-qwen2_5-vl`): one name to uv, theirs to read.
        let mut text = match written_name(current) {
            written if normalize_name(written) == package.key.as_str() => written.to_string(),
            _ => package.name.clone(),
        };
        if !extras.is_empty() {
            text.push_str(&format!("[{}]", extras.join(",")));
        }
        let hpm_version = match &package.source {
            PlannedSource::Index {
                version: Some(version),
                ..
            } => Some(version.as_str()),
            _ => None,
        };
        if let Some(version) = hpm_version {
            text.push_str(version);
        }
        let is_url = matches!(
            requirement.version_or_url,
            Some(pep508_rs::VersionOrUrl::Url(_))
        );
        let marker = marker_text(current, requirement, is_url);
        if let Some(marker) = &marker {
            text.push_str("; ");
            text.push_str(marker);
        }
        let dropped = match &requirement.version_or_url {
            Some(pep508_rs::VersionOrUrl::Url(url)) => Some(format!("the URL `{url}`")),
            Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers)) => {
                let same = hpm_version.is_some_and(|version| {
                    pep440_rs::VersionSpecifiers::from_str(version)
                        .is_ok_and(|hpm| hpm.to_string() == specifiers.to_string())
                });
                (!same).then(|| format!("the version `{specifiers}`"))
            }
            None => None,
        };
        Combined {
            text,
            marker,
            dropped,
            package: package.name.clone(),
            mode: package.mode.to_string(),
        }
    }

    /// The note for replacing `current`, when something of it was dropped.
    fn note(&self, current: &str) -> Option<String> {
        let dropped = self.dropped.as_ref()?;
        Some(format!(
            "`{current}` in `[project.dependencies]` is now `{}`: {dropped} was dropped, \
             as {}'s {} source decides which build is installed",
            self.text, self.package, self.mode
        ))
    }
}

/// The requirement's environment marker as the user wrote it (`None`
/// without one). After a URL, PEP 508 asks for a space before the `;`.
fn marker_text(
    text: &str,
    requirement: &pep508_rs::Requirement<pep508_rs::VerbatimUrl>,
    is_url: bool,
) -> Option<String> {
    requirement.marker.contents()?;
    let at = if is_url {
        text.find(" ;")
            .or_else(|| text.find("\t;"))
            .map(|at| at + 1)
    } else {
        text.find(';')
    };
    match at {
        Some(at) => Some(text[at + 1..].trim().to_string()),
        None => requirement.marker.try_to_string(),
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
/// The written name a requirement starts with (`model_qwen2.5-vl` of
/// `model_qwen2.5-vl>=0.1`).
pub(crate) fn written_name(requirement: &str) -> &str {
    requirement
        .trim_start()
        .split(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
        .next()
        .unwrap_or_default()
}

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
/// The comment lines in the prefix of `key` in `table` ("" when none).
fn comments_above(table: &dyn TableLike, key: &str) -> String {
    let prefix = table
        .key(key)
        .and_then(|key| key.leaf_decor().prefix())
        .and_then(|prefix| prefix.as_str())
        .unwrap_or_default();
    if prefix.contains('#') {
        prefix.to_string()
    } else {
        String::new()
    }
}

/// Puts `comments` (taken from a removed entry) above `key`, before its own.
fn give_comments(table: &mut dyn TableLike, key: &str, comments: &mut String) {
    if comments.is_empty() {
        return;
    }
    let Some(mut key) = table.key_mut(key) else {
        return;
    };
    let own = key
        .leaf_decor()
        .prefix()
        .and_then(|prefix| prefix.as_str())
        .unwrap_or_default()
        .to_string();
    let decor = key.leaf_decor_mut();
    decor.set_prefix(format!("{}{own}", std::mem::take(comments)));
}

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

/// The folders of the plan's packages that are workspace members (dev
/// packages linked as members).
fn member_folders(plan: &Plan) -> Vec<&str> {
    plan.packages
        .iter()
        .filter_map(|package| match &package.source {
            PlannedSource::Path {
                path, member: true, ..
            } => Some(path.as_str()),
            _ => None,
        })
        .collect()
}

/// `[tool.uv]`, made (implicit, as `[tool]`) when absent.
fn uv_table_mut<'d>(
    doc: &'d mut DocumentMut,
    not_a_table: &dyn Fn(&str) -> Invalid,
) -> Result<&'d mut dyn TableLike> {
    let tool = doc.entry("tool").or_insert_with(implicit_table);
    let tool = tool
        .as_table_like_mut()
        .ok_or_else(|| not_a_table("tool"))?;
    let uv = tool.entry("uv").or_insert(implicit_table());
    uv.as_table_like_mut().ok_or_else(|| not_a_table("tool.uv"))
}

/// `members` made to list the `wanted` folders: hpm's earlier entries
/// (`before`) stay while they are wanted and no glob of the user's (less
/// `excludes`) covers them; each wanted folder no glob covers is added.
/// Answers the folders hpm owns in it now.
fn reconcile_members(
    members: &mut Array,
    wanted: &[&str],
    before: &[String],
    excludes: &[String],
) -> Vec<String> {
    let hpms = |value: &str| before.iter().any(|m| m == value);
    let users: Vec<String> = members
        .iter()
        .filter_map(Value::as_str)
        .filter(|value| !hpms(value))
        .map(str::to_string)
        .collect();
    let covered = |folder: &str| {
        let matches = |pattern: &String| {
            glob::Pattern::new(pattern.trim_end_matches('/'))
                .is_ok_and(|p| p.matches(folder.trim_end_matches('/')))
        };
        users.iter().any(matches) && !excludes.iter().any(matches)
    };
    members.retain(|value| {
        let value = value.as_str().unwrap_or_default();
        !hpms(value) || (wanted.contains(&value) && !covered(value))
    });
    let mut owned = Vec::new();
    for &folder in wanted {
        if covered(folder) {
            continue;
        }
        owned.push(folder.to_string());
        if !members.iter().any(|v| v.as_str() == Some(folder)) {
            push_member(members, folder);
        }
    }
    owned
}

/// Removes the managed sources the plan no longer wants (one that an
/// extra or a group still requires is kept, and said); answers the
/// comments above the removed entries that found no entry to move to.
/// In the file's order, so that the comments above a removed entry (the
/// user's, such as "# managed by hpm below") move to the entry that
/// follows it, or to the first one appended.
fn remove_sources(
    sources: &mut dyn TableLike,
    managed: &HashSet<&str>,
    wanted: &HashMap<&str, InlineTable>,
    still_used: &HashMap<String, Vec<String>>,
    notes: &mut Vec<String>,
) -> String {
    let order: Vec<String> = sources.iter().map(|(key, _)| key.to_string()).collect();
    let mut orphaned = String::new();
    for key in &order {
        let name = normalize_name(key);
        let removed = managed.contains(name.as_str())
            && !wanted.contains_key(name.as_str())
            && match still_used.get(&name) {
                Some(places) => {
                    notes.push(format!(
                        "kept `{key}` in `[tool.uv.sources]`: {} still require it; it is yours now \
                         (remove it there, then its source, when it is no longer needed)",
                        places.join(", ")
                    ));
                    false
                }
                None => true,
            };
        if removed {
            orphaned.push_str(&comments_above(sources, key));
            sources.remove(key);
        } else {
            give_comments(sources, key, &mut orphaned);
        }
    }
    orphaned
}

/// Makes the source of `name` (its entry at `key`, when it has one)
/// `desired`, keeping the entry's decor; a new entry takes the `orphaned`
/// comments.
fn set_source(
    sources: &mut dyn TableLike,
    key: Option<&String>,
    name: &str,
    desired: &InlineTable,
    orphaned: &mut String,
) {
    match key.and_then(|key| sources.get_mut(key)) {
        Some(item) if source_matches(item, desired) => {}
        Some(Item::Value(value)) => {
            let decor = value.decor().clone();
            let mut new_value = Value::InlineTable(desired.clone());
            *new_value.decor_mut() = decor;
            *value = new_value;
        }
        Some(item) => *item = Item::Value(Value::InlineTable(desired.clone())),
        None => {
            sources.insert(name, Item::Value(Value::InlineTable(desired.clone())));
            give_comments(sources, name, orphaned);
        }
    }
}

/// Appends `folder` to `members` in the array's own layout: on a line of
/// its own when the items are, else after a space.
fn push_member(members: &mut Array, folder: &str) {
    let indentation = members
        .iter()
        .last()
        .and_then(|last| last.decor().prefix())
        .and_then(|prefix| prefix.as_str())
        .and_then(|prefix| prefix.rfind('\n').map(|at| prefix[at..].to_string()));
    let mut value = Value::from(folder);
    let prefix = match indentation {
        Some(indentation) => indentation,
        None if members.is_empty() => String::new(),
        None => " ".to_string(),
    };
    value.decor_mut().set_prefix(prefix);
    value.decor_mut().set_suffix("");
    members.push_formatted(value);
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
        PlannedSource::Path { member: true, .. } => {
            table.insert("workspace", true.into());
        }
        PlannedSource::Path { path, editable, .. } => {
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

    /// A plan of `names` in `mode`, each from `source(name)`.
    fn plan_of(mode: &str, names: &[&str], source: impl Fn(&str) -> PlannedSource) -> PinnedPlan {
        use crate::mode::Mode;
        use crate::name::PackageName;
        use crate::plan::{Plan, PlannedPackage};
        let mode = Mode::new(mode).unwrap();
        PinnedPlan::without_remotes(Plan {
            mode: mode.clone(),
            packages: names
                .iter()
                .map(|name| PlannedPackage {
                    name: name.to_string(),
                    key: PackageName::key(name),
                    group: None,
                    mode: mode.clone(),
                    extras: Vec::new(),
                    source: source(name),
                    required_by: Vec::new(),
                    linked_by: Vec::new(),
                })
                .collect(),
        })
        .unwrap()
    }

    fn path_source(name: &str, member: bool) -> PlannedSource {
        PlannedSource::Path {
            path: format!("packages/{name}"),
            editable: true,
            member,
        }
    }

    fn dev_plan(names: &[&str]) -> PinnedPlan {
        plan_of("dev", names, |name| path_source(name, false))
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

    /// Regression: a comment right under `[tool.uv.sources]` (above the
    /// first managed entry) went with that entry when a switch replaced
    /// it. It now stands above the entry that follows, or the first one
    /// written; with no entry left, the note quotes it.
    #[test]
    fn a_comment_above_a_removed_source_stays_in_place() {
        use crate::name::PackageName;
        let text = r#"[project]
name = "core"
dependencies = ["plugin-a", "plugin-b", "requests"]

[tool.uv.sources]
# sources below are managed by hpm
plugin-a = { path = "packages/plugin-a", editable = true }
# b, the adapter
plugin-b = { path = "packages/plugin-b", editable = true }
"#;
        let managed: BTreeSet<PackageName> = ["plugin-a", "plugin-b", "plugin-c"]
            .iter()
            .map(|n| PackageName::key(n))
            .collect();
        let git = |name: &str| PlannedSource::Git {
            url: format!("https://example.com/{name}.git"),
            reference: crate::registry::GitRef::Tag("v1".to_string()),
            subdirectory: None,
        };
        let applied = |text: &str, plan: &PinnedPlan| {
            let mut pyproject = PyprojectMut::parse(text, Path::new("pyproject.toml")).unwrap();
            let notes = pyproject
                .apply(plan, &managed, Path::new("pyproject.toml"))
                .unwrap();
            (pyproject.to_string(), notes)
        };
        // plugin-a leaves: its comment stands above the entry that follows.
        let (written, _) = applied(text, &plan_of("prod", &["plugin-b"], git));
        assert!(
            written.ends_with(
                "[tool.uv.sources]\n# sources below are managed by hpm\n# b, the adapter\nplugin-b = { git = \"https://example.com/plugin-b.git\", tag = \"v1\" }\n"
            ),
            "{written}"
        );
        // Nothing follows: above the first entry written.
        let (written, _) = applied(text, &plan_of("prod", &["plugin-c"], git));
        assert!(
            written.ends_with(
                "[tool.uv.sources]\n# sources below are managed by hpm\n# b, the adapter\nplugin-c = { git = \"https://example.com/plugin-c.git\", tag = \"v1\" }\n"
            ),
            "{written}"
        );
        // No entry left: said, not silently dropped.
        let (_, notes) = applied(text, &dev_plan(&[]));
        assert!(
            notes
                .iter()
                .any(|note| note.contains("# sources below are managed by hpm")),
            "{notes:?}"
        );
    }

    /// Regression: a CRLF `pyproject.toml` came back all LF, and a byte
    /// order mark was stripped.
    #[test]
    fn crlf_and_a_byte_order_mark_survive_an_edit() {
        let text = "\u{feff}[project]\r\nname = \"core\"\r\ndependencies = [\r\n    \"requests\",\r\n]\r\n";
        let mut pyproject = PyprojectMut::parse(text, Path::new("pyproject.toml")).unwrap();
        assert_eq!(
            pyproject.to_string(),
            text,
            "unchanged when nothing is planned"
        );
        let plan = dev_plan(&["plugin-a"]);
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

    fn prod_plan(names: &[&str]) -> PinnedPlan {
        plan_of("prod", names, |_| PlannedSource::Index {
            index: None,
            version: Some("==1.2.0".into()),
        })
    }

    /// Regression: markers, extras and conditional duplicates of a managed
    /// dependency vanished silently; and the user's spelling of its name
    /// (`Plugin_B`) was replaced by the package's.
    #[test]
    fn a_managed_entry_keeps_its_extras_and_markers_and_says_what_it_dropped() {
        let text = r#"[project]
name = "core"
dependencies = [
    "plugin-a; python_version < '3.12'",
    "plugin-a>=2; python_version >= '3.12'",
    "Plugin_B[extra1]>=1.0",
    "plugin-c==1.2.0",
]
"#;
        let managed = BTreeSet::new();
        let rendered = render(
            text,
            &prod_plan(&["plugin-a", "plugin-b", "plugin-c"]),
            &managed,
            &OwnedMembers::default(),
            Path::new("pyproject.toml"),
        )
        .unwrap();
        assert_eq!(
            rendered.text,
            r#"[project]
name = "core"
dependencies = [
    "plugin-a==1.2.0; python_version < '3.12'",
    "plugin-a==1.2.0; python_version >= '3.12'",
    "Plugin_B[extra1]==1.2.0",
    "plugin-c==1.2.0",
]
"#
        );
        assert_eq!(rendered.notes.len(), 2, "{:#?}", rendered.notes);
        assert!(
            rendered.notes[0].contains("`plugin-a>=2; python_version >= '3.12'`")
                && rendered.notes[0].contains("the version `>=2` was dropped"),
            "{:#?}",
            rendered.notes
        );
        assert!(
            rendered.notes[1].contains("`Plugin_B[extra1]>=1.0`")
                && rendered.notes[1].contains("the version `>=1.0`"),
            "{:#?}",
            rendered.notes
        );
        let again = render(
            &rendered.text,
            &prod_plan(&["plugin-a", "plugin-b", "plugin-c"]),
            &managed,
            &OwnedMembers::default(),
            Path::new("pyproject.toml"),
        )
        .unwrap();
        assert_eq!(again.text, rendered.text, "a second render changes nothing");
        assert!(again.notes.is_empty(), "{:#?}", again.notes);
    }

    /// Regression: removing a package deleted the source its dependency
    /// group still used.
    #[test]
    fn a_source_a_dependency_group_still_uses_is_kept_and_said() {
        use crate::name::PackageName;
        let text = r#"[project]
name = "core"
dependencies = ["plugin-a", "plugin-b"]

[project.optional-dependencies]
bench = ["plugin-b"]

[dependency-groups]
test = ["plugin-a>=1", "pytest"]

[tool.uv.sources]
plugin-a = { path = "packages/plugin-a", editable = true }
plugin-b = { path = "packages/plugin-b", editable = true }
"#;
        let managed: BTreeSet<PackageName> = ["plugin-a", "plugin-b"]
            .iter()
            .map(|n| PackageName::key(n))
            .collect();
        let rendered = render(
            text,
            &dev_plan(&[]),
            &managed,
            &OwnedMembers::default(),
            Path::new("pyproject.toml"),
        )
        .unwrap();
        assert_eq!(
            rendered.text,
            r#"[project]
name = "core"
dependencies = []

[project.optional-dependencies]
bench = ["plugin-b"]

[dependency-groups]
test = ["plugin-a>=1", "pytest"]

[tool.uv.sources]
plugin-a = { path = "packages/plugin-a", editable = true }
plugin-b = { path = "packages/plugin-b", editable = true }
"#
        );
        let notes = rendered.notes.join("\n");
        assert!(
            notes.contains("kept `plugin-a`") && notes.contains("[dependency-groups] `test`"),
            "{notes}"
        );
        assert!(
            notes.contains("kept `plugin-b`")
                && notes.contains("[project.optional-dependencies] `bench`"),
            "{notes}"
        );
    }

    fn prod_git_plan(names: &[&str]) -> PinnedPlan {
        plan_of("prod", names, |name| PlannedSource::Git {
            url: format!("https://example.org/{name}.git"),
            reference: GitRef::Tag("v1.0.0".into()),
            subdirectory: None,
        })
    }

    fn member_plan(names: &[&str]) -> PinnedPlan {
        plan_of("dev", names, |name| path_source(name, true))
    }

    /// Leaving dev restores `[tool.uv.workspace]` to the user's bytes, with
    /// the table absent, the user's own members around hpm's, or a glob of
    /// the user's that already covers the clone.
    #[test]
    fn workspace_members_hpm_adds_come_out_again_byte_for_byte() {
        use crate::name::PackageName;
        let base = "[project]\nname = \"core\"\ndependencies = [\n    \"requests\",\n]\n";
        let cases = [
            ("absent", base.to_string(), true),
            (
                "user's multi-line list",
                format!("{base}\n[tool.uv.workspace]\nmembers = [\n    \"tools/*\",  # the user's\n]\n"),
                true,
            ),
            (
                "user's one-line list",
                format!("{base}\n[tool.uv.workspace]\nmembers = [\"tools/*\"]\nexclude = [\"tools/old\"]\n"),
                true,
            ),
            (
                "user's table without members",
                format!("{base}\n[tool.uv.workspace]\nexclude = [\"x\"]\n"),
                true,
            ),
            (
                "user's glob covers the clones",
                format!("{base}\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\n"),
                false,
            ),
        ];
        let path = Path::new("pyproject.toml");
        for (case, original, hpm_adds) in cases {
            let managed: BTreeSet<PackageName> =
                ["a", "b"].iter().map(|n| PackageName::key(n)).collect();
            let none = BTreeSet::new();
            let dev = render(
                &original,
                &member_plan(&["a", "b"]),
                &none,
                &OwnedMembers::default(),
                path,
            )
            .unwrap();
            assert!(
                dev.text.contains("a = { workspace = true }"),
                "{case}:\n{}",
                dev.text
            );
            let doc: DocumentMut = dev.text.parse().unwrap();
            let members: Vec<&str> = doc["tool"]["uv"]["workspace"]["members"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if hpm_adds {
                assert!(
                    members.ends_with(&["packages/a", "packages/b"]),
                    "{case}: {members:?}\n{}",
                    dev.text
                );
                assert_eq!(dev.owned.members, ["packages/a", "packages/b"], "{case}");
            } else {
                assert_eq!(members, ["packages/*"], "{case}");
                assert!(dev.owned.members.is_empty(), "{case}");
            }
            // A second render with what hpm owns changes nothing.
            let again = render(
                &dev.text,
                &member_plan(&["a", "b"]),
                &managed,
                &dev.owned,
                path,
            )
            .unwrap();
            assert_eq!(again.text, dev.text, "{case}");
            // Leaving dev gives the user's bytes back, plus hpm's entries.
            let left = render(
                &dev.text,
                &prod_git_plan(&["a", "b"]),
                &managed,
                &dev.owned,
                path,
            )
            .unwrap();
            let expected = render(
                &original,
                &prod_git_plan(&["a", "b"]),
                &none,
                &OwnedMembers::default(),
                path,
            )
            .unwrap();
            assert_eq!(left.text, expected.text, "{case}");
            assert!(
                left.text.contains(original.trim_start_matches(base)),
                "{case}:\n{}",
                left.text
            );
            assert!(left.owned.is_empty(), "{case}: {:?}", left.owned);
        }
    }
}
