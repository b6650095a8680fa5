//! What serde's view of YAML hides: a mapping that gives a key twice.
//! YAML forbids it, but a map deserialized by serde keeps the last value
//! silently and a struct's duplicate field is reported at 1:1. hpm refuses
//! both, naming the two lines, before the typed parse.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser};

use crate::problem::Problem;

/// The first key some mapping of `text` (read from `path`) gives twice, as
/// a problem at its second place naming the first. A text that does not
/// parse is left to the typed parse, whose message is the one users know.
pub fn duplicate_keys(text: &str, path: &Path) -> Result<(), Problem> {
    enum Frame {
        Sequence,
        /// The keys seen (with their line) and whether a key comes next.
        Mapping {
            keys: HashMap<String, usize>,
            key_next: bool,
        },
    }
    let mut stack: Vec<Frame> = Vec::new();
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            return Ok(());
        };
        // The node this event opens or is, in its parent mapping: a key
        // (scalar keys are checked) or a value.
        let as_key = match stack.last_mut() {
            Some(Frame::Mapping { key_next, .. })
                if matches!(
                    event,
                    Event::Scalar(..)
                        | Event::Alias(_)
                        | Event::MappingStart(..)
                        | Event::SequenceStart(..)
                ) =>
            {
                let is_key = *key_next;
                *key_next = !is_key;
                is_key
            }
            _ => false,
        };
        match event {
            Event::Scalar(value, ..) if as_key => {
                let Some(Frame::Mapping { keys, .. }) = stack.last_mut() else {
                    continue;
                };
                let line = span.start.line();
                if let Some(first) = keys.insert(value.to_string(), line) {
                    return Err(Problem::new(format!(
                        "`{value}` is given twice in one mapping, at lines {first} and {line}"
                    ))
                    .in_file(path)
                    .at(line, span.start.col() + 1)
                    .hint(
                        "keep one of them: YAML would take the last silently, hpm does not guess",
                    ));
                }
            }
            Event::MappingStart(..) => stack.push(Frame::Mapping {
                keys: HashMap::new(),
                key_next: true,
            }),
            Event::SequenceStart(..) => stack.push(Frame::Sequence),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(())
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
