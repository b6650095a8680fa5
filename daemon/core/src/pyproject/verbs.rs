//! The edits hpm makes to a `pyproject.toml` besides applying a plan, as
//! verbs (as uv's `PyProjectTomlMut` has): set a `[project]` string, add a
//! dependency, set or remove a source, take folders out of the workspace's
//! members, drop a table. Each keeps every other byte, and the comments
//! and spacing of a value it replaces.

use std::path::Path;

use toml_edit::{InlineTable, Item, Value};

use super::{sources_table, PyprojectMut, Result};
use crate::problem::{Invalid, Problem};

impl PyprojectMut {
    /// Sets `[project] key` to `value` (made when absent, its decor kept
    /// when replaced); `Err` when there is no `[project]` table.
    pub fn set_project_text(&mut self, key: &str, value: &str) -> Result<(), String> {
        let project = self
            .doc
            .get_mut("project")
            .and_then(Item::as_table_like_mut)
            .ok_or("has no `[project]` table")?;
        match project.get_mut(key) {
            Some(item) => replace_keeping_decor(item, Value::from(value)),
            None => {
                project.insert(key, Item::Value(Value::from(value)));
            }
        }
        Ok(())
    }

    /// Appends `requirement` to `[project] dependencies` (made when absent).
    pub fn push_dependency(&mut self, requirement: &str, path: &Path) -> Result<()> {
        self.dependencies_mut(path)?.push(requirement);
        Ok(())
    }

    /// Removes `[project] key` (`scripts`…); whether it was there.
    pub fn remove_project_key(&mut self, key: &str) -> bool {
        self.doc
            .get_mut("project")
            .and_then(Item::as_table_like_mut)
            .is_some_and(|project| project.remove(key).is_some())
    }

    /// Removes the top-level table `key` (`build-system`…); whether it was there.
    pub fn remove_table(&mut self, key: &str) -> bool {
        self.doc.remove(key).is_some()
    }

    /// Removes `[tool.uv] key` (`workspace`…); whether it was there.
    pub fn remove_uv_key(&mut self, key: &str) -> bool {
        self.uv_mut().is_some_and(|uv| uv.remove(key).is_some())
    }

    /// Sets `[tool.uv.sources] key` to `{ path = folder, editable = … }`
    /// (the table made when absent, an entry's decor kept when replaced).
    pub fn set_path_source(
        &mut self,
        key: &str,
        folder: &str,
        editable: bool,
        path: &Path,
    ) -> Result<()> {
        let mut table = InlineTable::new();
        table.insert("path", folder.into());
        table.insert("editable", editable.into());
        table.fmt();
        let value = Value::InlineTable(table);
        let sources = sources_table(&mut self.doc, true, path)?.ok_or_else(|| {
            Invalid::from(Problem::new("has no `[tool.uv.sources]`").in_file(path))
        })?;
        match sources.get_mut(key) {
            Some(item) => replace_keeping_decor(item, value),
            None => {
                sources.insert(key, Item::Value(value));
            }
        }
        Ok(())
    }

    /// Removes `[tool.uv.sources] key` (spelled as the file spells it);
    /// whether it was there.
    pub fn remove_source(&mut self, key: &str) -> bool {
        self.uv_mut()
            .and_then(|uv| uv.get_mut("sources"))
            .and_then(Item::as_table_like_mut)
            .is_some_and(|sources| sources.remove(key).is_some())
    }

    /// Takes the `[tool.uv.workspace] members` that `covered` says out of
    /// the list; answers whether any was. A table left with nothing but an
    /// empty list goes too, unless the user commented it (above the table,
    /// above `members` or in the list): nothing they wrote is deleted.
    pub fn remove_workspace_members(&mut self, covered: impl Fn(&str) -> bool) -> bool {
        let Some(uv) = self.uv_mut() else {
            return false;
        };
        let Some(workspace) = uv.get_mut("workspace").and_then(Item::as_table_like_mut) else {
            return false;
        };
        let Some(members) = workspace.get_mut("members").and_then(Item::as_array_mut) else {
            return false;
        };
        let before = members.len();
        members.retain(|value| !value.as_str().is_some_and(&covered));
        let removed = members.len() != before;
        let bare = members.is_empty() && workspace.len() == 1;
        if bare && !uv.get("workspace").is_some_and(commented_workspace) {
            uv.remove("workspace");
        }
        removed
    }

    /// Rewrites the strings of `[tool.uv] find-links` and of each
    /// `[[tool.uv.index]] url` that `rewrite` (given the value and where it
    /// is) answers a new value for; their decor is kept.
    pub fn rewrite_uv_locations(&mut self, mut rewrite: impl FnMut(&str, &str) -> Option<String>) {
        let Some(uv) = self.uv_mut() else {
            return;
        };
        let mut each = |value: &mut Value, place: &str| {
            if let Some(new) = value.as_str().and_then(|text| rewrite(text, place)) {
                let decor = value.decor().clone();
                *value = Value::from(new);
                *value.decor_mut() = decor;
            }
        };
        if let Some(links) = uv.get_mut("find-links").and_then(Item::as_array_mut) {
            for value in links.iter_mut() {
                each(value, "`[tool.uv] find-links`");
            }
        }
        let mut url = |table: &mut dyn toml_edit::TableLike| {
            if let Some(value) = table.get_mut("url").and_then(Item::as_value_mut) {
                each(value, "`[[tool.uv.index]] url`");
            }
        };
        match uv.get_mut("index") {
            Some(Item::ArrayOfTables(tables)) => tables.iter_mut().for_each(|t| url(t)),
            Some(Item::Value(Value::Array(array))) => array
                .iter_mut()
                .filter_map(Value::as_inline_table_mut)
                .for_each(|t| url(t)),
            _ => {}
        }
    }
}

impl PyprojectMut {
    /// `[tool.uv]`, when the file has it as a table.
    fn uv_mut(&mut self) -> Option<&mut dyn toml_edit::TableLike> {
        self.doc
            .get_mut("tool")
            .and_then(|tool| tool.get_mut("uv"))
            .and_then(Item::as_table_like_mut)
    }
}

/// `item` set to `value`, the comments and spacing around the old value kept.
fn replace_keeping_decor(item: &mut Item, mut value: Value) {
    if let Some(decor) = item.as_value().map(|old| old.decor().clone()) {
        *value.decor_mut() = decor;
    }
    *item = Item::Value(value);
}

/// Whether the user commented `[tool.uv.workspace]`: above the table,
/// above its `members` key, or inside the list.
fn commented_workspace(workspace: &Item) -> bool {
    let has_comment = |text: Option<&str>| text.is_some_and(|text| text.contains('#'));
    let above = has_comment(
        workspace
            .as_table()
            .and_then(|table| table.decor().prefix())
            .and_then(|prefix| prefix.as_str()),
    );
    let inside = has_comment(
        workspace
            .get("members")
            .and_then(Item::as_array)
            .and_then(|members| members.trailing().as_str()),
    );
    let over_members = has_comment(
        workspace
            .as_table_like()
            .and_then(|table| table.key("members"))
            .and_then(|key| key.leaf_decor().prefix())
            .and_then(|prefix| prefix.as_str()),
    );
    above || inside || over_members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(text: &str, edit: impl FnOnce(&mut PyprojectMut)) -> String {
        let mut pyproject = PyprojectMut::parse(text, Path::new("pyproject.toml")).unwrap();
        edit(&mut pyproject);
        pyproject.to_string()
    }

    #[test]
    fn a_project_string_is_replaced_with_its_comment_kept() {
        let text = "[project]\nname = \"core\"\nversion = \"0.1.0\"  # bumped by the release\n";
        let out = edited(text, |p| p.set_project_text("version", "0.2.0").unwrap());
        assert_eq!(
            out,
            "[project]\nname = \"core\"\nversion = \"0.2.0\"  # bumped by the release\n"
        );
        let mut none = PyprojectMut::read("[tool.x]\n").unwrap();
        assert_eq!(
            none.set_project_text("version", "1").unwrap_err(),
            "has no `[project]` table"
        );
    }

    #[test]
    fn sources_are_set_and_removed_keeping_the_rest() {
        let text = "[project]\nname = \"core\"\n\n[tool.uv.sources]\n# ours\na = { workspace = true }  # dev\nb = { git = \"https://x/b.git\" }\n";
        let out = edited(text, |p| {
            p.set_path_source("a", "plugins/a", true, Path::new("pyproject.toml"))
                .unwrap();
            assert!(p.remove_source("b"));
            assert!(!p.remove_source("b"));
            p.push_dependency("a", Path::new("pyproject.toml")).unwrap();
        });
        assert_eq!(
            out,
            "[project]\nname = \"core\"\ndependencies = [\"a\"]\n\n[tool.uv.sources]\n# ours\na = { path = \"plugins/a\", editable = true }  # dev\n"
        );
    }

    #[test]
    fn covered_members_go_and_a_bare_table_with_them_unless_commented() {
        let bare = "[project]\nname = \"core\"\n\n[tool.uv.workspace]\nmembers = [\"plugins/a\"]\n";
        let out = edited(bare, |p| {
            assert!(p.remove_workspace_members(|m| m == "plugins/a"))
        });
        assert_eq!(out, "[project]\nname = \"core\"\n");
        let commented = "[project]\nname = \"core\"\n\n# the plugins\n[tool.uv.workspace]\nmembers = [\"plugins/a\", \"tools\"]\n";
        let out = edited(commented, |p| {
            assert!(p.remove_workspace_members(|m| m != "tools"))
        });
        assert_eq!(
            out,
            "[project]\nname = \"core\"\n\n# the plugins\n[tool.uv.workspace]\nmembers = [ \"tools\"]\n"
        );
        let out = edited(commented, |p| assert!(p.remove_workspace_members(|_| true)));
        assert!(
            out.contains("# the plugins\n[tool.uv.workspace]\nmembers = []"),
            "{out}"
        );
    }

    #[test]
    fn uv_locations_are_rewritten_in_place() {
        let text = "[tool.uv]\nfind-links = [\"./wheels\", \"https://x/w\"]\n\n[[tool.uv.index]]\nname = \"local\"\nurl = \"./index\"\n";
        let mut places = Vec::new();
        let out = edited(text, |p| {
            p.rewrite_uv_locations(|value, place| {
                places.push(place.to_string());
                (!value.contains("://")).then(|| value.replacen("./", "../", 1))
            })
        });
        assert_eq!(
            out,
            "[tool.uv]\nfind-links = [\"../wheels\", \"https://x/w\"]\n\n[[tool.uv.index]]\nname = \"local\"\nurl = \"../index\"\n"
        );
        assert_eq!(places.len(), 3);
    }
}
