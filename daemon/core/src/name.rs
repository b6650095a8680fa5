//! Package names as pip and uv compare them: PEP 503-normalised
//! (`Model_Interface` and `model-interface` are one package).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A normalised package name: lowercase, runs of `-`, `_`, `.` made one
/// `-`. Every lookup in hpm (manifest, registry, state, arguments) goes by
/// this key; output shows the name as the manifest or registry writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PackageName(String);

impl PackageName {
    /// The key of `name`; a name that is not a valid one keeps its spelling
    /// (resolving reports it separately, with context).
    pub fn key(name: &str) -> PackageName {
        PackageName(normalize_name(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<PackageName> for String {
    fn from(name: PackageName) -> String {
        name.0
    }
}

impl std::borrow::Borrow<str> for PackageName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The PEP 503 normalized form of a package name, or the name itself when it
/// is not a valid one (resolving reports that separately).
pub fn normalize_name(name: &str) -> String {
    pep508_rs::PackageName::from_str(name)
        .map(|name| name.to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// Checks that `name` is a valid Python package name (PEP 508).
pub fn check_package_name(name: &str) -> Result<(), String> {
    pep508_rs::PackageName::from_str(name)
        .map(|_| ())
        .map_err(|error| format!("`{name}` is not a valid package name: {error}"))
}

/// A package name usable as a file name: no separators, no `..`.
pub fn is_safe_file_stem(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_per_pep_503() {
        assert_eq!(normalize_name("Model_Interface"), "model-interface");
        assert_eq!(
            PackageName::key("model_qwen2.5-vl"),
            PackageName::key("model-qwen2-5-vl")
        );
        assert!(check_package_name("../../etc/passwd").is_err());
        assert!(check_package_name("a;rm -rf /").is_err());
        assert!(!is_safe_file_stem("../x"));
        assert!(is_safe_file_stem("model_qwen2.5-vl"));
    }
}
