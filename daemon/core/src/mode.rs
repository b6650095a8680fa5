//! Mode names: `dev`, `staging`, `prod`, or any other a registry uses.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A mode name (`dev`, `staging`, `prod` or any other): lowercase letters,
/// digits, `-` and `_`, so that it can name files in `.hpm/`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub struct Mode(String);

impl Mode {
    pub fn new(name: &str) -> Result<Mode, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid {
            Ok(Mode(name.to_string()))
        } else {
            Err(format!(
                "`{name}` is not a valid mode name (use lowercase letters, digits, `-` and `_`)"
            ))
        }
    }

    /// `dev`, the mode whose packages come from local clones.
    pub fn dev() -> Mode {
        Mode("dev".to_string())
    }

    /// The mode whose packages come from local clones.
    pub fn is_dev(&self) -> bool {
        self.0 == "dev"
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Mode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Mode::new(&value)
    }
}

impl From<Mode> for String {
    fn from(mode: Mode) -> String {
        mode.0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
