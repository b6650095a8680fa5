//! What hpm reads of a `pyproject.toml`, in one place: where `[project]`'s
//! name, version, dependencies, extras and scripts live, `[tool.uv.sources]`
//! entries and their kinds, `[tool.uv.workspace] members`, and
//! `[tool.hatch.version] path`. Every reader of the file (the closure's
//! metadata, the release's version file, import, export, the image) asks
//! here instead of walking the TOML itself.

use std::collections::BTreeMap;

use toml_edit::{Item, TableLike, Value};

use super::{strings, PyprojectMut};

impl PyprojectMut {
    /// Whether the file has a `[project]` table.
    pub fn has_project(&self) -> bool {
        self.doc.get("project").is_some()
    }

    /// A string of `[project]` (`name`, `version`, `requires-python`…).
    pub fn project_text(&self, key: &str) -> Option<&str> {
        self.doc.get("project")?.get(key)?.as_str()
    }

    /// A list of strings of `[project]` (`dependencies`, `dynamic`…); empty
    /// when absent or not a list.
    pub fn project_strings(&self, key: &str) -> Vec<String> {
        strings(self.doc.get("project").and_then(|project| project.get(key)))
    }

    /// Whether `[project] dynamic` lists `key`.
    pub fn is_dynamic(&self, key: &str) -> bool {
        self.project_strings("dynamic").iter().any(|k| k == key)
    }

    /// `[project.optional-dependencies]`, by extra.
    pub fn optional_dependencies(&self) -> BTreeMap<String, Vec<String>> {
        self.doc
            .get("project")
            .and_then(|project| project.get("optional-dependencies"))
            .and_then(Item::as_table_like)
            .map(|extras| {
                extras
                    .iter()
                    .map(|(extra, list)| (extra.to_string(), strings(Some(list))))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The names `[project.scripts]` gives, in the file's order.
    pub fn script_names(&self) -> Vec<&str> {
        self.doc
            .get("project")
            .and_then(|project| project.get("scripts"))
            .and_then(Item::as_table_like)
            .map(|scripts| scripts.iter().map(|(name, _)| name).collect())
            .unwrap_or_default()
    }

    /// `[tool.hatch.version] path`: where a dynamic version is kept.
    pub fn hatch_version_path(&self) -> Option<&str> {
        self.doc
            .get("tool")?
            .get("hatch")?
            .get("version")?
            .get("path")?
            .as_str()
    }

    /// `[tool.uv.sources]`'s entries, in the file's order.
    pub fn sources(&self) -> Vec<SourceEntry<'_>> {
        self.doc
            .get("tool")
            .and_then(|tool| tool.get("uv"))
            .and_then(|uv| uv.get("sources"))
            .and_then(Item::as_table_like)
            .map(|sources| {
                sources
                    .iter()
                    .map(|(key, item)| SourceEntry { key, item })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `[tool.uv.workspace] members`, as written (globs included).
    pub fn workspace_members(&self) -> Vec<String> {
        strings(
            self.doc
                .get("tool")
                .and_then(|tool| tool.get("uv"))
                .and_then(|uv| uv.get("workspace"))
                .and_then(|workspace| workspace.get("members")),
        )
    }
}

/// One entry of `[tool.uv.sources]`: a table (`{ git = "…", tag = "…" }`)
/// or a list of them (one per marker).
#[derive(Debug, Clone, Copy)]
pub struct SourceEntry<'a> {
    key: &'a str,
    item: &'a Item,
}

impl<'a> SourceEntry<'a> {
    /// The package name, as the file spells it.
    pub fn key(&self) -> &'a str {
        self.key
    }

    /// Whether the entry is one table (not a list of them).
    pub fn is_table(&self) -> bool {
        self.item.as_table_like().is_some()
    }

    /// A string field of a one-table entry (`git`, `tag`, `path`…).
    pub fn text(&self, field: &str) -> Option<&'a str> {
        self.item.as_table_like()?.get(field)?.as_value()?.as_str()
    }

    /// `{ workspace = true }`.
    pub fn is_workspace(&self) -> bool {
        self.item
            .as_table_like()
            .and_then(|table| table.get("workspace"))
            .and_then(Item::as_value)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// A local folder (`path = …`), in the table or any table of a list.
    pub fn is_local(&self) -> bool {
        self.any_table(|table| table.contains_key("path"))
    }

    /// A source of its own (a path, git, a URL, the workspace), not only
    /// an index to look the name up in (`{ index = "pytorch" }`).
    pub fn names_own_source(&self) -> bool {
        self.any_table(|table| {
            ["path", "git", "url", "workspace"]
                .iter()
                .any(|key| table.contains_key(key))
        })
    }

    fn any_table(&self, test: impl Fn(&dyn TableLike) -> bool) -> bool {
        match self.item {
            Item::Value(Value::Array(array)) => array
                .iter()
                .any(|value| value.as_inline_table().is_some_and(|t| test(t))),
            Item::ArrayOfTables(tables) => tables.iter().any(|t| test(t)),
            item => item.as_table_like().is_some_and(test),
        }
    }
}

impl std::fmt::Display for SourceEntry<'_> {
    /// The entry's value as TOML text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.item.to_string().trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"[project]
name = "core"
version = "0.3.0"
dynamic = ["readme"]
dependencies = ["plugin-a", "requests>=2"]

[project.optional-dependencies]
gpu = ["torch"]

[project.scripts]
serve = "core.cli:main"
admin = "core.cli:admin"

[tool.uv.sources]
plugin-a = { workspace = true }
plugin_b = { path = "../plugin-b", editable = true }
torch = [{ index = "cpu", marker = "sys_platform == 'darwin'" }, { path = "wheels/torch" }]
helper = { git = "https://example.org/helper.git", tag = "v1" }
numpy = { index = "pytorch" }

[tool.uv.workspace]
members = ["packages/*", "plugin-a"]

[tool.hatch.version]
path = "src/core/__about__.py"
"#;

    #[test]
    fn the_model_reads_project_sources_and_members() {
        let pyproject = PyprojectMut::read(TEXT).unwrap();
        assert!(pyproject.has_project());
        assert_eq!(pyproject.project_text("version"), Some("0.3.0"));
        assert_eq!(
            pyproject.project_strings("dependencies"),
            ["plugin-a", "requests>=2"]
        );
        assert!(pyproject.is_dynamic("readme") && !pyproject.is_dynamic("version"));
        assert_eq!(pyproject.optional_dependencies()["gpu"], ["torch"]);
        assert_eq!(pyproject.script_names(), ["serve", "admin"]);
        assert_eq!(
            pyproject.hatch_version_path(),
            Some("src/core/__about__.py")
        );
        assert_eq!(pyproject.workspace_members(), ["packages/*", "plugin-a"]);
        let sources = pyproject.sources();
        let keys: Vec<&str> = sources.iter().map(|s| s.key()).collect();
        assert_eq!(keys, ["plugin-a", "plugin_b", "torch", "helper", "numpy"]);
        let kinds: Vec<(bool, bool, bool, bool)> = sources
            .iter()
            .map(|s| {
                (
                    s.is_table(),
                    s.is_workspace(),
                    s.is_local(),
                    s.names_own_source(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (true, true, false, true),
                (true, false, true, true),
                (false, false, true, true),
                (true, false, false, true),
                (true, false, false, false),
            ]
        );
        assert_eq!(sources[3].text("tag"), Some("v1"));
        assert_eq!(
            sources[3].to_string(),
            r#"{ git = "https://example.org/helper.git", tag = "v1" }"#
        );
    }

    #[test]
    fn what_is_not_toml_is_said() {
        let error = PyprojectMut::read("[project\nname = 1").unwrap_err();
        assert!(error.contains("unclosed table"), "{error}");
    }
}
