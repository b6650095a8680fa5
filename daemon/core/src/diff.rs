//! Unified diffs of the files a dry run would change (similar's line diff).

use similar::TextDiff;

/// The unified diff turning `old` into `new`, with `label` naming the file
/// on both sides; empty when they are equal.
pub fn unified(label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_shows_as_removed_and_added() {
        let diff = unified("pyproject.toml", "a\nb\nc\n", "a\nB\nc\n");
        assert!(
            diff.starts_with("--- a/pyproject.toml\n+++ b/pyproject.toml\n"),
            "{diff}"
        );
        assert!(diff.contains("-b\n+B\n"), "{diff}");
        assert_eq!(unified("x", "same\n", "same\n"), "");
    }
}
