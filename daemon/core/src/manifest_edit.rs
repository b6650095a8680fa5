//! Edits hpm makes to `hpm.yaml`: selecting and deselecting a group's
//! options (a line-level edit of the group's `selected:` entry), and adding
//! or removing a package (`hpmctl add` / `remove`, through `yaml-edit`'s
//! lossless tree: the list keeps its flow or block style and every other
//! byte and comment stays). Each edit is verified by parsing the result: if
//! the new manifest does not say exactly what was asked, nothing is written
//! and the user is told to edit by hand.
//!
//! Architecture invariant: pure (text in, text out).

use std::path::Path;
use std::str::FromStr;

use crate::manifest::Manifest;
use crate::name::normalize_name;
use crate::problem::{Invalid, Problem};
use crate::text::TextLayout;

/// Select (`select: true`) or deselect `option` in `group`. An exclusive
/// group's selection is replaced; a `multiple: true` group's is extended.
pub fn set_selected(
    text: &str,
    path: &Path,
    group: &str,
    option: &str,
    select: bool,
) -> Result<String, Invalid> {
    let manifest = Manifest::parse(text, path)?;
    let problem = |message: String| Invalid::from(Problem::new(message).in_file(path));
    let Some(current) = manifest.groups.get(group) else {
        let known: Vec<&str> = manifest.groups.keys().map(String::as_str).collect();
        return Err(problem(format!(
            "there is no group `{group}` (groups: {})",
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        )));
    };
    let Some(option) = current
        .options
        .iter()
        .find(|o| normalize_name(o) == normalize_name(option))
        .cloned()
    else {
        return Err(Invalid::from(
            Problem::new(format!(
                "`{option}` is not an option of group `{group}` ({})",
                current.options.join(", ")
            ))
            .in_file(path)
            .hint(format!(
                "add it to `groups.{group}.options` in hpm.yaml first"
            )),
        ));
    };
    let mut selected: Vec<String> = current.selected.clone();
    selected.retain(|s| normalize_name(s) != normalize_name(&option));
    if select {
        if !current.multiple {
            selected.clear();
        }
        selected.push(option.clone());
    }
    let value = match (current.multiple, selected.as_slice()) {
        (false, [one]) => one.clone(),
        (false, []) | (true, []) => "[]".to_string(),
        (_, many) => format!("[{}]", many.join(", ")),
    };
    let (layout, plain) = TextLayout::detect(text);
    let edited = replace_selected(&plain, group, &value).map(|edited| layout.restore(&edited));
    let edited = edited.ok_or_else(|| {
        Invalid::from(
            Problem::new(format!("hpm cannot edit `groups.{group}.selected` in this layout safely; nothing was changed"))
                .in_file(path)
                .hint(format!("set `groups.{group}.selected` to `{value}` by hand")),
        )
    })?;
    let check = Manifest::parse(&edited, path)?;
    let after = check.groups.get(group).map(|g| &g.selected);
    let mut others_same = check.clone();
    let mut before_same = manifest.clone();
    others_same.groups.remove(group);
    before_same.groups.remove(group);
    if after != Some(&selected) || others_same != before_same {
        return Err(Invalid::from(
            Problem::new(format!("editing `groups.{group}.selected` would change more than the selection; nothing was changed"))
                .in_file(path)
                .hint(format!("set `groups.{group}.selected` to `{value}` by hand")),
        ));
    }
    Ok(edited)
}

/// The line-level edit: finds `groups:` at the top level, `GROUP:` inside
/// it, and `selected:` inside that; replaces its value (inline, or a block
/// list on the lines below), or adds the key after the group's last line.
fn replace_selected(text: &str, group: &str, value: &str) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let is_content = |line: &str| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    let key_of = |line: &str| {
        line.trim_start()
            .split_once(':')
            .map(|(key, _)| key.trim().trim_matches(['"', '\'']).to_string())
    };

    let groups_line = lines
        .iter()
        .position(|l| indent(l) == 0 && key_of(l).as_deref() == Some("groups"))?;
    let block_end = |start: usize, parent_indent: usize| {
        (start + 1..lines.len())
            .find(|&i| is_content(lines[i]) && indent(lines[i]) <= parent_indent)
            .unwrap_or(lines.len())
    };
    let groups_end = block_end(groups_line, 0);
    let group_line = (groups_line + 1..groups_end)
        .find(|&i| is_content(lines[i]) && key_of(lines[i]).as_deref() == Some(group))?;
    let group_indent = indent(lines[group_line]);
    // `vector-db: { options: [...], selected: x }` is a flow mapping: not edited.
    if lines[group_line]
        .split_once(':')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('{'))
    {
        return None;
    }
    let group_end = block_end(group_line, group_indent);
    let child_indent = (group_line + 1..group_end)
        .find(|&i| is_content(lines[i]))
        .map(|i| indent(lines[i]))?;
    let selected_line = (group_line + 1..group_end).find(|&i| {
        indent(lines[i]) == child_indent && key_of(lines[i]).as_deref() == Some("selected")
    });

    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    match selected_line {
        Some(at) => {
            let (replaced, inline_value) = with_value(lines[at], value)?;
            // A block list continues on deeper-indented `- ` lines.
            let list_end = if inline_value.is_empty() {
                (at + 1..group_end)
                    .find(|&i| {
                        is_content(lines[i])
                            && (indent(lines[i]) <= child_indent
                                && !lines[i].trim_start().starts_with("- "))
                    })
                    .unwrap_or(group_end)
            } else {
                at + 1
            };
            out.extend(lines[..at].iter().map(|l| l.to_string()));
            out.push(replaced);
            out.extend(lines[list_end..].iter().map(|l| l.to_string()));
        }
        None => {
            let last = (group_line + 1..group_end)
                .rev()
                .find(|&i| is_content(lines[i]))?;
            out.extend(lines[..=last].iter().map(|l| l.to_string()));
            if !out.last().is_some_and(|l| l.ends_with('\n')) {
                out.push("\n".to_string());
            }
            out.push(format!("{}selected: {value}\n", " ".repeat(child_indent)));
            out.extend(lines[last + 1..].iter().map(|l| l.to_string()));
        }
    }
    Some(out.concat())
}

/// The `key: old` line with `value` in place of `old` (a trailing comment
/// keeps its column), and the old inline value (empty when a block list
/// follows on the lines below).
fn with_value<'a>(line: &'a str, value: &str) -> Option<(String, &'a str)> {
    let (head, rest) = line.split_once(':')?;
    let newline = if line.ends_with('\n') { "\n" } else { "" };
    let rest = rest.trim_end_matches('\n');
    // Values are package names: a `#` after a space starts a comment.
    let hash = rest
        .find('#')
        .filter(|&i| i > 0 && rest[..i].ends_with(char::is_whitespace));
    let inline_value = rest[..hash.unwrap_or(rest.len())].trim();
    let spacing = &rest[..rest.len() - rest.trim_start().len()];
    let mut replaced = format!(
        "{head}:{}{value}",
        if spacing.is_empty() { " " } else { spacing }
    );
    if let Some(hash) = hash {
        let column = head.len() + 1 + hash;
        let pad = column.saturating_sub(replaced.len()).max(1);
        replaced.push_str(&" ".repeat(pad));
        replaced.push_str(&rest[hash..]);
    }
    replaced.push_str(newline);
    Some((replaced, inline_value))
}

/// `text` with `package` added to `packages:` (created when absent), or
/// with `group`, to that group's `options:` (the group is created, with
/// nothing selected, when absent).
pub fn add_package(
    text: &str,
    path: &Path,
    package: &str,
    group: Option<&str>,
) -> Result<String, Invalid> {
    let before = Manifest::parse(text, path)?;
    let listed = before.packages.iter().map(|p| p.name()).chain(
        before
            .groups
            .values()
            .flat_map(|g| g.options.iter().map(String::as_str)),
    );
    if let Some(there) = listed
        .into_iter()
        .find(|name| normalize_name(name) == normalize_name(package))
    {
        return Err(Invalid::from(
            Problem::new(format!("`{there}` is in the manifest already"))
                .in_file(path)
                .for_package(package)
                .hint(format!("`hpmctl use {there} MODE` changes its mode; `hpmctl remove {there}` takes it out")),
        ));
    }
    let edited = edit_tree(text, path, |root| match group {
        None => push_or_create(root, "packages", package),
        Some(group) => match root.get_mapping("groups") {
            Some(groups) => match groups.get_mapping(group) {
                Some(entry) => push_or_create(&entry, "options", package),
                None => {
                    let options = yaml_edit::Sequence::new_flow();
                    options.push(package);
                    let entry = yaml_edit::Mapping::new();
                    entry.set("options", options);
                    groups.set(group, entry);
                    true
                }
            },
            // No `groups:` yet: made by hand.
            None => false,
        },
    })?;
    let after = Manifest::parse(&edited, path)?;
    let mut expected = before.clone();
    match group {
        None => expected
            .packages
            .push(crate::manifest::PackageRef::Name(package.to_string())),
        Some(group) => match (expected.groups.get_mut(group), after.groups.get(group)) {
            (Some(entry), _) => entry.options.push(package.to_string()),
            // A new group: only its one option, nothing selected.
            (None, Some(made)) if made.options == [package] && made.selected.is_empty() => {
                expected.groups.insert(group.to_string(), made.clone());
            }
            (None, _) => {
                return refuse(
                    path,
                    &format!("add group `{group}` with `options: [{package}]` by hand"),
                );
            }
        },
    }
    if after != expected {
        return refuse(path, &format!("add `{package}` to hpm.yaml by hand"));
    }
    Ok(edited)
}

/// `text` with `package` taken out of `packages:` or of every group's
/// `options:` (and `selected:`).
pub fn remove_package(text: &str, path: &Path, package: &str) -> Result<String, Invalid> {
    let before = Manifest::parse(text, path)?;
    let key = normalize_name(package);
    let is_it = |name: &str| normalize_name(name) == key;
    let in_packages = before.packages.iter().any(|p| is_it(p.name()));
    let in_groups: Vec<String> = before
        .groups
        .iter()
        .filter(|(_, g)| g.options.iter().any(|o| is_it(o)))
        .map(|(name, _)| name.clone())
        .collect();
    if !in_packages && in_groups.is_empty() {
        return Err(Invalid::from(
            Problem::new("is not in the manifest")
                .in_file(path)
                .for_package(package)
                .hint("`hpmctl status` lists the managed packages"),
        ));
    }
    let edited = edit_tree(text, path, |root| {
        let mut done = true;
        if in_packages {
            done &= root
                .get_sequence("packages")
                .is_some_and(|list| remove_from(&list, &is_it));
        }
        if let Some(groups) = root.get_mapping("groups") {
            for name in &in_groups {
                let Some(group) = groups.get_mapping(name.as_str()) else {
                    return false;
                };
                done &= group
                    .get_sequence("options")
                    .is_some_and(|list| remove_from(&list, &is_it));
                match group.get("selected") {
                    Some(node) if node.as_scalar().is_some_and(|s| is_it(&s.value())) => {
                        group.remove("selected");
                    }
                    Some(node) => {
                        if let Some(list) = node.as_sequence() {
                            remove_from(list, &is_it);
                        }
                    }
                    None => {}
                }
            }
        }
        done
    })?;
    let after = Manifest::parse(&edited, path)?;
    let gone = !after.packages.iter().any(|p| is_it(p.name()))
        && after
            .groups
            .values()
            .all(|g| !g.options.iter().any(|o| is_it(o)) && !g.selected.iter().any(|s| is_it(s)));
    let mut expected = before.clone();
    expected.packages.retain(|p| !is_it(p.name()));
    for group in expected.groups.values_mut() {
        group.options.retain(|o| !is_it(o));
        group.selected.retain(|s| !is_it(s));
    }
    if !gone || after != expected {
        return refuse(path, &format!("take `{package}` out of hpm.yaml by hand"));
    }
    Ok(edited)
}

/// Runs `edit` on the document's top-level mapping in yaml-edit's lossless
/// tree; its byte order mark and line endings are kept.
fn edit_tree(
    text: &str,
    path: &Path,
    edit: impl FnOnce(&yaml_edit::Mapping) -> bool,
) -> Result<String, Invalid> {
    let (layout, plain) = TextLayout::detect(text);
    let document = yaml_edit::Document::from_str(&plain)
        .map_err(|e| Invalid::from(Problem::new(e.to_string()).in_file(path)))?;
    let Some(root) = document.as_mapping() else {
        return refuse(path, "edit it by hand: its top level is not a mapping");
    };
    if !edit(&root) {
        return refuse(path, "edit it by hand");
    }
    Ok(layout.restore(&document.to_string()))
}

/// Appends `value` to the list under `key`, created (in flow style) when absent.
fn push_or_create(mapping: &yaml_edit::Mapping, key: &str, value: &str) -> bool {
    match mapping.get(key) {
        Some(node) => match node.as_sequence() {
            Some(list) => {
                list.push(value);
                true
            }
            None => false,
        },
        None => {
            let list = yaml_edit::Sequence::new_flow();
            list.push(value);
            mapping.set(key, list);
            true
        }
    }
}

/// Removes the entries of `list` (names, or mappings with `name:`) that
/// `is_it`; answers whether one was.
fn remove_from(list: &yaml_edit::Sequence, is_it: &dyn Fn(&str) -> bool) -> bool {
    let mut removed = false;
    let mut index = 0;
    while index < list.len() {
        let name = list.get(index).and_then(|node| match node.as_scalar() {
            Some(scalar) => Some(scalar.value().to_string()),
            None => node
                .as_mapping()
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_scalar().map(|s| s.value().to_string())),
        });
        if name.as_deref().is_some_and(is_it) {
            list.remove(index);
            removed = true;
        } else {
            index += 1;
        }
    }
    removed
}

fn refuse<T>(path: &Path, hint: &str) -> Result<T, Invalid> {
    Err(Invalid::from(
        Problem::new("hpm cannot make this edit of the manifest safely; nothing was changed")
            .in_file(path)
            .hint(hint.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "\
version: 1
mode: prod   # default
groups:
  # the vector store
  vector-db:
    options: [qdrant, chroma]   # two adapters
    selected: qdrant            # the one in use
  extras:
    options: [a, b, c]
    multiple: true
    selected:
      - a
      # keep b out for now
settings:
  packages_dir: packages
";

    fn edit(group: &str, option: &str, select: bool) -> String {
        set_selected(MANIFEST, Path::new("hpm.yaml"), group, option, select).unwrap()
    }

    #[test]
    fn an_exclusive_group_replaces_its_selection_keeping_comments() {
        let edited = edit("vector-db", "chroma", true);
        assert_eq!(
            edited,
            MANIFEST.replace(
                "selected: qdrant            # the one",
                "selected: chroma            # the one"
            )
        );
    }

    #[test]
    fn a_multiple_group_extends_and_shrinks_its_block_list() {
        let edited = edit("extras", "c", true);
        assert!(edited.contains("    selected: [a, c]\n"), "{edited}");
        assert!(
            edited.contains("settings:\n  packages_dir: packages\n"),
            "{edited}"
        );
        let removed = set_selected(&edited, Path::new("hpm.yaml"), "extras", "a", false).unwrap();
        assert!(
            removed.contains("    selected: c\n") || removed.contains("    selected: [c]\n"),
            "{removed}"
        );
    }

    #[test]
    fn a_group_without_selected_gets_one() {
        let text = "version: 1\nmode: prod\ngroups:\n  db:\n    options: [x, y]\n# end\n";
        let edited = set_selected(text, Path::new("hpm.yaml"), "db", "y", true).unwrap();
        assert_eq!(
            edited,
            "version: 1\nmode: prod\ngroups:\n  db:\n    options: [x, y]\n    selected: y\n# end\n"
        );
    }

    #[test]
    fn unknown_groups_and_options_are_refused_with_what_exists() {
        let error = set_selected(MANIFEST, Path::new("hpm.yaml"), "nope", "a", true).unwrap_err();
        assert!(
            error.to_string().contains("groups: extras, vector-db"),
            "{error}"
        );
        let error = set_selected(
            MANIFEST,
            Path::new("hpm.yaml"),
            "vector-db",
            "pinecone",
            true,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not an option of group `vector-db` (qdrant, chroma)"),
            "{error}"
        );
    }

    /// Regression: a CRLF `hpm.yaml` came back with LF lines, and a byte
    /// order mark made the manifest unreadable ("missing field `mode`").
    #[test]
    fn crlf_and_a_byte_order_mark_are_kept() {
        let windows = format!("\u{feff}{}", MANIFEST.replace('\n', "\r\n"));
        let edited =
            set_selected(&windows, Path::new("hpm.yaml"), "vector-db", "chroma", true).unwrap();
        let expected = format!(
            "\u{feff}{}",
            MANIFEST
                .replace(
                    "selected: qdrant            # the one",
                    "selected: chroma            # the one"
                )
                .replace('\n', "\r\n")
        );
        assert_eq!(edited, expected);
    }

    #[test]
    fn a_layout_it_cannot_edit_is_refused_not_mangled() {
        let text = "version: 1\nmode: prod\ngroups:\n  db: { options: [x, y], selected: x }\n";
        let error = set_selected(text, Path::new("hpm.yaml"), "db", "y", true).unwrap_err();
        let hint = error.problems[0].hint.as_deref().unwrap_or_default();
        assert!(hint.contains("by hand"), "{hint}");
    }

    #[test]
    fn adding_a_package_keeps_the_lists_style_and_every_comment() {
        let path = Path::new("hpm.yaml");
        let flow = "version: 1  # v\nmode: dev\n# the plugins\npackages: [plugin-a]  # ours\n";
        assert_eq!(
            add_package(flow, path, "plugin-b", None).unwrap(),
            "version: 1  # v\nmode: dev\n# the plugins\npackages: [plugin-a, plugin-b]  # ours\n"
        );
        let block = "version: 1\r\nmode: dev\r\npackages:\r\n  - plugin-a  # first\r\n# after\r\nsettings:\r\n  auto_sync: true\r\n";
        assert_eq!(
            add_package(block, path, "plugin-b", None).unwrap(),
            "version: 1\r\nmode: dev\r\npackages:\r\n  - plugin-a  # first\r\n  - plugin-b\r\n# after\r\nsettings:\r\n  auto_sync: true\r\n"
        );
        let none = "version: 1\nmode: dev\n";
        assert_eq!(
            add_package(none, path, "plugin-b", None).unwrap(),
            "version: 1\nmode: dev\npackages: [plugin-b]\n"
        );
        let error = add_package(flow, path, "Plugin_A", None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("in the manifest already"), "{error}");
    }

    #[test]
    fn a_package_joins_a_groups_options_and_leaves_every_list() {
        let path = Path::new("hpm.yaml");
        let text = "version: 1\nmode: dev\npackages: [core-plugin]\ngroups:\n  vector-db:\n    options: [qdrant, chroma]  # the stores\n    selected: qdrant\n";
        let added = add_package(text, path, "weaviate", Some("vector-db")).unwrap();
        assert_eq!(
            added,
            text.replace("[qdrant, chroma]", "[qdrant, chroma, weaviate]")
        );
        let removed = remove_package(text, path, "qdrant").unwrap();
        assert_eq!(
            removed,
            "version: 1\nmode: dev\npackages: [core-plugin]\ngroups:\n  vector-db:\n    options: [chroma]  # the stores\n"
        );
        let removed = remove_package(text, path, "core_plugin").unwrap();
        assert!(removed.contains("packages: []"), "{removed}");
        let error = remove_package(text, path, "nobody")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not in the manifest"), "{error}");
    }
}
