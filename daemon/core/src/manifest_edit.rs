//! Edits hpm makes to `hpm.yaml`: selecting and deselecting a group's
//! options. The edit touches only the group's `selected:` entry (its value,
//! or the lines of its block list), keeps every other byte and comment, and
//! is verified by parsing the result: if the new manifest does not say
//! exactly what was asked, nothing is written and the user is told to edit
//! by hand.
//!
//! Architecture invariant: pure (text in, text out).

use std::path::Path;

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
            let line = lines[at];
            let (head, rest) = line.split_once(':')?;
            let newline = if line.ends_with('\n') { "\n" } else { "" };
            let rest = rest.trim_end_matches('\n');
            // A trailing comment keeps its column (values are package names: no `#`).
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
            out.push(format!("{replaced}{newline}"));
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
}
