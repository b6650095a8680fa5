//! YAML as text, where serde's view is not enough: one walk over a text's
//! scalars with where each stands ([`scalars`], on saphyr-parser's
//! events), used to refuse a mapping that gives a key twice
//! ([`duplicate_keys`]: YAML forbids it, but a map deserialized by serde
//! keeps the last value silently and a struct's duplicate field is
//! reported at 1:1) and to find the one scalar a release edits in place
//! (`release::entry_edit`).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::problem::Problem;

/// A scalar of a YAML text, and where it stands, as [`scalars`] meets it.
#[derive(Debug)]
pub struct ScalarAt<'w> {
    /// The keys leading to the mapping it is in, outermost first (a
    /// sequence adds none).
    pub path: &'w [&'w str],
    /// Which mapping it is in (each mapping of the text has a number of
    /// its own); `None` outside any mapping.
    pub mapping: Option<usize>,
    /// For a value in a mapping: its key and where that stands.
    pub key: Option<(&'w str, Span)>,
    /// Whether it is a key of its mapping.
    pub is_key: bool,
    pub value: &'w str,
    pub span: Span,
    pub style: ScalarStyle,
}

enum Frame {
    Sequence,
    Mapping {
        id: usize,
        /// The key whose value comes (or is being read), and its span.
        key: Option<(String, Span)>,
        key_next: bool,
    },
}

/// A text [`scalars`] could not walk: the typed parse says why, in the
/// words users know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unparsable;

/// Walks the scalars of `text` in order, each with where it stands, until
/// `visit` breaks (answering what it broke with).
pub fn scalars<B>(
    text: &str,
    mut visit: impl FnMut(ScalarAt<'_>) -> ControlFlow<B>,
) -> Result<Option<B>, Unparsable> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut mappings = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|_| Unparsable)?;
        let is_key = key_or_value(&mut stack, &event);
        match event {
            Event::Scalar(value, style, ..) => {
                let (path, mapping, key) = place_in(&stack, is_key);
                let at = ScalarAt {
                    path: &path,
                    mapping,
                    key,
                    is_key: is_key == Some(true),
                    value: &value,
                    span,
                    style,
                };
                if let ControlFlow::Break(found) = visit(at) {
                    return Ok(Some(found));
                }
                if let Some(Frame::Mapping { key, .. }) = stack.last_mut() {
                    match is_key {
                        Some(true) => *key = Some((value.to_string(), span)),
                        Some(false) => *key = None,
                        None => {}
                    }
                }
            }
            Event::MappingStart(..) => {
                mappings += 1;
                stack.push(Frame::Mapping {
                    id: mappings,
                    key: None,
                    key_next: true,
                });
            }
            Event::SequenceStart(..) => stack.push(Frame::Sequence),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                // The value this collection was is done: its parent's key too.
                if let Some(Frame::Mapping {
                    key,
                    key_next: true,
                    ..
                }) = stack.last_mut()
                {
                    *key = None;
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// The node `event` opens or is, in its parent mapping: a key (`true`) or a
/// value (`false`); `None` outside a mapping or for an event that is no
/// node. Turns the mapping to expect the other next.
fn key_or_value(stack: &mut [Frame], event: &Event) -> Option<bool> {
    let is_node = matches!(
        event,
        Event::Scalar(..) | Event::Alias(_) | Event::MappingStart(..) | Event::SequenceStart(..)
    );
    match stack.last_mut() {
        Some(Frame::Mapping { key_next, .. }) if is_node => {
            let is_key = *key_next;
            *key_next = !is_key;
            Some(is_key)
        }
        _ => None,
    }
}

/// Where a scalar stands: the keys leading to its mapping, the mapping's
/// number, and (for a value) its key.
fn place_in(
    stack: &[Frame],
    is_key: Option<bool>,
) -> (Vec<&str>, Option<usize>, Option<(&str, Span)>) {
    let parents = stack.len().saturating_sub(1);
    let path: Vec<&str> = stack[..parents]
        .iter()
        .filter_map(|frame| match frame {
            Frame::Mapping {
                key: Some((key, _)),
                ..
            } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let (mapping, key) = match stack.last() {
        Some(Frame::Mapping { id, key, .. }) => (
            Some(*id),
            key.as_ref()
                .filter(|_| is_key == Some(false))
                .map(|(k, span)| (k.as_str(), *span)),
        ),
        _ => (None, None),
    };
    (path, mapping, key)
}

/// The first key some mapping of `text` (read from `path`) gives twice, as
/// a problem at its second place naming the first. A text that does not
/// parse is left to the typed parse, whose message is the one users know.
pub fn duplicate_keys(text: &str, path: &Path) -> Result<(), Problem> {
    let mut seen: HashMap<(usize, String), usize> = HashMap::new();
    let twice = scalars(text, |at| {
        let (true, Some(mapping)) = (at.is_key, at.mapping) else {
            return ControlFlow::Continue(());
        };
        let line = at.span.start.line();
        match seen.insert((mapping, at.value.to_string()), line) {
            Some(first) => ControlFlow::Break(
                Problem::new(format!(
                    "`{}` is given twice in one mapping, at lines {first} and {line}",
                    at.value
                ))
                .in_file(path)
                .at(line, at.span.start.col() + 1)
                .hint("keep one of them: YAML would take the last silently, hpm does not guess"),
            ),
            None => ControlFlow::Continue(()),
        }
    });
    match twice {
        Ok(Some(problem)) => Err(problem),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), Problem> {
        duplicate_keys(text, Path::new("hpm.yaml"))
    }

    #[test]
    fn a_top_level_key_given_twice_names_both_lines() {
        let problem = check("version: 1\nmode: dev\npackages: [a]\nmode: prod\n").unwrap_err();
        assert_eq!(
            problem.to_string(),
            "`hpm.yaml`:4:1: `mode` is given twice in one mapping, at lines 2 and 4"
        );
    }

    #[test]
    fn a_nested_key_given_twice_is_found_and_equal_keys_in_sibling_mappings_are_not() {
        let text =
            "groups:\n  vision:\n    options: [a]\n  audio:\n    options: [b]\n    options: [c]\n";
        let problem = check(text).unwrap_err();
        assert_eq!(problem.line, Some(6), "{problem}");
        assert!(problem.to_string().contains("lines 5 and 6"), "{problem}");
        let siblings = "sources:\n  dev: {type: local, path: a}\n  prod: {type: pypi, path: b}\n";
        assert!(check(siblings).is_ok());
    }

    #[test]
    fn values_equal_to_keys_and_keys_inside_sequences_are_not_duplicates() {
        assert!(check("mode: mode\nlist:\n  - {a: 1}\n  - {a: 2}\n").is_ok());
        assert!(check("a:\n  - a\n  - a\n").is_ok());
    }

    #[test]
    fn a_text_that_does_not_parse_is_left_to_the_typed_parse() {
        assert!(check("mode: [unclosed\n").is_ok());
    }
}
