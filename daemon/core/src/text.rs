//! How a text file's bytes are laid out beyond what it says: a UTF-8 byte
//! order mark and CRLF line endings. hpm edits the text without them and
//! puts them back when it writes, so a Windows-made `pyproject.toml` or
//! `hpm.yaml` comes back as it was, byte for byte outside hpm's edit.

/// The byte order mark, as a `char`.
const BOM: char = '\u{feff}';

/// A text file's byte order mark and line endings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextLayout {
    /// The file starts with a UTF-8 byte order mark.
    pub bom: bool,
    /// Its lines end with `\r\n` (judged by its first line ending).
    pub crlf: bool,
}

impl TextLayout {
    /// The layout of `text`, and `text` without a byte order mark and with
    /// `\n` line endings.
    pub fn detect(text: &str) -> (TextLayout, String) {
        let (bom, body) = match text.strip_prefix(BOM) {
            Some(body) => (true, body),
            None => (false, text),
        };
        let crlf = body
            .find('\n')
            .is_some_and(|at| at > 0 && body.as_bytes()[at - 1] == b'\r');
        let normalized = if crlf {
            body.replace("\r\n", "\n")
        } else {
            body.to_string()
        };
        (TextLayout { bom, crlf }, normalized)
    }

    /// `text` (with `\n` line endings) laid out as the original was.
    pub fn restore(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + text.len() / 16 + 3);
        if self.bom {
            out.push(BOM);
        }
        if self.crlf {
            out.push_str(&text.replace('\n', "\r\n"));
        } else {
            out.push_str(text);
        }
        out
    }
}

/// `text` without a leading byte order mark (for parsers that would read
/// it as part of the first key).
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_and_crlf_survive_a_round_trip() {
        let original = "\u{feff}[project]\r\nname = \"x\"\r\n";
        let (layout, text) = TextLayout::detect(original);
        assert_eq!(
            layout,
            TextLayout {
                bom: true,
                crlf: true
            }
        );
        assert_eq!(text, "[project]\nname = \"x\"\n");
        assert_eq!(layout.restore(&text), original);
        let (plain, same) = TextLayout::detect("a\nb\n");
        assert_eq!(plain, TextLayout::default());
        assert_eq!(plain.restore(&same), "a\nb\n");
        assert_eq!(without_bom("\u{feff}version: 1"), "version: 1");
    }
}
