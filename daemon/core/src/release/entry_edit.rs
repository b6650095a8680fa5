//! A registry entry's source for one mode moved to a release: a git
//! source's `ref:`/`tag:` set to the new tag (a `branch:` or `rev:`
//! becomes `tag:`), a PyPI source's `version:` set to the new version.
//! Only that scalar changes (found by its position through saphyr-parser
//! events), so comments, layout and flow mappings stay; the result is
//! parsed again and must differ from the entry in that source only.

use std::ops::ControlFlow;

use saphyr_parser::{ScalarStyle, Span};

use crate::mode::Mode;
use crate::problem::Problem;
use crate::registry::{parse_entry, EntryOrigin, GitRef, SourceSpec};

/// Where the mode's source should point after the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MovedTo {
    Tag(String),
    Version(String),
}

/// A scalar of the text: where it is and how it is quoted.
#[derive(Debug, Clone, Copy)]
struct Found {
    key: Span,
    value: Span,
    style: ScalarStyle,
}

/// `text` (the entry for `name` read from `origin`) with its `mode`
/// source moved to `to`.
pub fn move_source(
    text: &str,
    origin: &EntryOrigin,
    name: &str,
    mode: &Mode,
    to: &MovedTo,
) -> Result<String, Problem> {
    let file = origin.label();
    let before = parse_entry(text, origin, name)?;
    let refuse = |what: String| {
        Problem::new(what)
            .in_file(&file)
            .for_package(name)
            .hint(format!(
                "edit `sources.{mode}` by hand, or make it a git source with a `tag:`"
            ))
    };
    let Some(source) = before.sources.get(mode) else {
        return Err(refuse(format!(
            "the entry has no `{mode}` source to move to the release"
        )));
    };
    let planned = Move::of(source, to, mode).map_err(refuse)?;
    let Some(found) = find(text, mode.as_str(), planned.keys) else {
        return Err(refuse(format!(
            "`sources.{mode}.{}` was not found as a plain or quoted value",
            planned.keys[0]
        )));
    };
    let mut edits = vec![(
        found.value,
        quoted(planned.value, found.style, text, found.value),
    )];
    if let Some(new_key) = planned.new_key {
        edits.push((found.key, new_key.to_string()));
    }
    let Some(edited) = edited(text, edits) else {
        return Err(refuse(
            "the entry's text could not be edited in place".to_string(),
        ));
    };
    let after = parse_entry(&edited, origin, name)?;
    let mut wanted = before.clone();
    wanted.sources.insert(mode.clone(), planned.expected);
    if after != wanted {
        return Err(refuse(
            "editing the entry in place would change more than its source".to_string(),
        ));
    }
    Ok(edited)
}

/// What moving a source changes: the value of one of `keys` becomes
/// `value` (the key renamed to `new_key`, when given), and the entry then
/// reads `expected` for the mode.
struct Move<'a> {
    keys: &'static [&'static str],
    new_key: Option<&'static str>,
    value: &'a str,
    expected: SourceSpec,
}

impl<'a> Move<'a> {
    /// The move of `source` to `to`, or why a release cannot make it.
    fn of(source: &SourceSpec, to: &'a MovedTo, mode: &Mode) -> Result<Move<'a>, String> {
        match (source, to) {
            (
                SourceSpec::Git {
                    url,
                    reference,
                    subdirectory,
                },
                MovedTo::Tag(tag),
            ) => {
                let (keys, new_key, expected_ref): (&[&str], _, _) = match reference {
                    GitRef::Ref(_) => (&["ref"], None, GitRef::Ref(tag.clone())),
                    GitRef::Tag(_) => (&["tag"], None, GitRef::Tag(tag.clone())),
                    GitRef::Branch(_) => (&["branch"], Some("tag"), GitRef::Tag(tag.clone())),
                    GitRef::Rev(_) => (&["rev"], Some("tag"), GitRef::Tag(tag.clone())),
                    GitRef::Default => {
                        return Err(format!(
                            "the `{mode}` source follows the default branch; add `tag: {tag}` to it"
                        ))
                    }
                };
                Ok(Move {
                    keys,
                    new_key,
                    value: tag,
                    expected: SourceSpec::Git {
                        url: url.clone(),
                        reference: expected_ref,
                        subdirectory: subdirectory.clone(),
                    },
                })
            }
            (
                SourceSpec::Pypi {
                    version: Some(_),
                    index,
                },
                MovedTo::Version(version),
            ) => Ok(Move {
                keys: &["version"],
                new_key: None,
                value: version,
                expected: SourceSpec::Pypi {
                    version: Some(version.clone()),
                    index: index.clone(),
                },
            }),
            (other, _) => Err(format!(
                "the `{mode}` source ({other}) is not one a release moves"
            )),
        }
    }
}

/// `text` with each span replaced (spans count characters, as the parser
/// does); `None` when a span falls outside it.
fn edited(text: &str, mut edits: Vec<(Span, String)>) -> Option<String> {
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start.index()));
    let mut edited = text.to_string();
    for (span, replacement) in edits {
        let start = byte_at(text, span.start.index())?;
        let end = byte_at(text, span.end.index())?;
        edited.replace_range(start..end, &replacement);
    }
    Some(edited)
}

/// The key and value scalars of `sources.<mode>.<one of keys>`.
fn find(text: &str, mode: &str, keys: &[&str]) -> Option<Found> {
    let found = crate::yaml::scalars(text, |at| {
        let quoted_or_plain = matches!(
            at.style,
            ScalarStyle::Plain | ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
        );
        match at.key {
            Some((key, key_span))
                if at.path == ["sources", mode] && keys.contains(&key) && quoted_or_plain =>
            {
                ControlFlow::Break(Found {
                    key: key_span,
                    value: at.span,
                    style: at.style,
                })
            }
            _ => ControlFlow::Continue(()),
        }
    });
    found.ok().flatten()
}

/// `value` written as the scalar it replaces was: quotes kept when the
/// span holds them, plain when it is safe, double-quoted otherwise.
fn quoted(value: &str, style: ScalarStyle, text: &str, span: Span) -> String {
    let starts_with_quote = byte_at(text, span.start.index())
        .and_then(|i| text[i..].chars().next())
        .is_some_and(|c| c == '"' || c == '\'');
    let plain_safe = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '/'))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    match style {
        ScalarStyle::SingleQuoted if starts_with_quote => {
            format!("'{}'", value.replace('\'', "''"))
        }
        ScalarStyle::DoubleQuoted if starts_with_quote => {
            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
        }
        _ if plain_safe => value.to_string(),
        _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// The byte offset of the `index`th character.
fn byte_at(text: &str, index: usize) -> Option<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .nth(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn moved(text: &str, mode: &str, to: MovedTo) -> Result<String, Problem> {
        let origin = EntryOrigin::File(PathBuf::from("hpm-registry/plugin-a.yaml"));
        move_source(text, &origin, "plugin-a", &Mode::new(mode).unwrap(), &to)
    }

    const ENTRY: &str = "# plugin a\nname: plugin-a\nrepo: file:///r/plugin-a.git\nsources:\n  dev:     { type: local, path: ./packages/plugin-a, editable: true }\n  staging: { type: git, url: \"file:///r/plugin-a.git\", ref: v1.1.0.dev0 }  # staged\n  prod:\n    type: git\n    url: file:///r/plugin-a.git\n    tag: \"v1.0.0\"\n";

    #[test]
    fn a_flow_source_moves_its_ref_and_keeps_the_rest_of_the_file() {
        let out = moved(ENTRY, "staging", MovedTo::Tag("v1.1.0.dev1".into())).unwrap();
        assert_eq!(out, ENTRY.replace("ref: v1.1.0.dev0", "ref: v1.1.0.dev1"));
    }

    #[test]
    fn a_block_source_keeps_its_quotes() {
        let out = moved(ENTRY, "prod", MovedTo::Tag("v1.1.0".into())).unwrap();
        assert_eq!(out, ENTRY.replace("tag: \"v1.0.0\"", "tag: \"v1.1.0\""));
    }

    #[test]
    fn a_branch_becomes_a_tag_and_pypi_moves_its_version() {
        let text = "name: plugin-a\nsources:\n  staging: {type: git, url: u, branch: develop}\n  prod: {type: pypi, version: '1.0.0'}\n";
        let out = moved(text, "staging", MovedTo::Tag("v2.0.0.dev0".into())).unwrap();
        assert!(
            out.contains("{type: git, url: u, tag: v2.0.0.dev0}"),
            "{out}"
        );
        let out = moved(text, "prod", MovedTo::Version("1.1.0".into())).unwrap();
        assert!(out.contains("version: '1.1.0'"), "{out}");
    }

    #[test]
    fn sources_a_release_cannot_move_are_refused_naming_the_file() {
        let err = moved(ENTRY, "dev", MovedTo::Tag("v1".into())).unwrap_err();
        assert!(
            err.to_string().contains("hpm-registry/plugin-a.yaml"),
            "{err}"
        );
        let default = "name: plugin-a\nsources:\n  staging: {type: git, url: u}\n";
        assert!(moved(default, "staging", MovedTo::Tag("v1".into()))
            .unwrap_err()
            .to_string()
            .contains("add `tag: v1`"));
    }
}
