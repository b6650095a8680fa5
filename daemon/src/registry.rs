//! The registry: for each package, where its code lives in each mode.
//!
//! Entries come from `registry_entries:` in `hpm.yaml` first, then from each
//! registry the manifest lists, in its order (earlier wins): a folder, or a
//! git repository read at its pinned commit ([`crate::git_registry`]). Each
//! holds `<name>.yaml` or `packages/<name>.yaml`. Only the entries the
//! manifest names are read, so an unrelated broken file does not stop a sync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Problem, Result};
use crate::git_registry::PinnedRegistry;
use crate::manifest::{yaml_problem, Manifest, Mode, RegistryLocation, MANIFEST_FILE};

/// One package's entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    pub name: String,
    /// The clone URL used when a dev folder is missing.
    #[serde(default)]
    pub repo: Option<String>,
    /// Where the package comes from, per mode.
    #[serde(default)]
    pub sources: BTreeMap<Mode, SourceSpec>,
}

/// Where a package comes from in one mode, as the registry writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceSpec {
    /// A folder relative to the workspace root.
    Local {
        path: String,
        #[serde(default = "default_editable")]
        editable: bool,
    },
    /// A git repository at a ref.
    Git {
        url: String,
        /// A tag, branch or commit; hpm asks the remote which one it is.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rev: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subdirectory: Option<String>,
    },
    /// A version from PyPI or a named index.
    Pypi {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<String>,
    },
}

fn default_editable() -> bool {
    true
}

/// The entries a workspace needs, by package name, with the file each came from.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: BTreeMap<String, (RegistryEntry, PathBuf)>,
}

impl Registry {
    /// Builds a registry from entries already parsed (used by tests and the bench).
    pub fn from_entries(entries: impl IntoIterator<Item = (RegistryEntry, PathBuf)>) -> Registry {
        Registry {
            entries: entries
                .into_iter()
                .map(|(entry, file)| (normalize_name(&entry.name), (entry, file)))
                .collect(),
        }
    }

    /// The entry for `name` and the file it was read from.
    pub fn get(&self, name: &str) -> Option<(&RegistryEntry, &Path)> {
        self.entries
            .get(&normalize_name(name))
            .map(|(entry, file)| (entry, file.as_path()))
    }

    /// Every entry read.
    pub fn entries(&self) -> impl Iterator<Item = &RegistryEntry> {
        self.entries.values().map(|(entry, _)| entry)
    }

    /// Every file the entries came from (the daemon watches these).
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.entries.values().map(|(_, file)| file.as_path())
    }

    /// Reads the entries for `names` from the manifest's registries. A name
    /// with no entry is simply absent; resolving reports it with context.
    pub fn load(root: &Path, manifest: &Manifest, names: &[&str]) -> Result<Registry> {
        let manifest_path = root.join(MANIFEST_FILE);
        let mut sources = Vec::new();
        for location in &manifest.registry {
            sources.push(match location {
                RegistryLocation::Folder(path) | RegistryLocation::Path { path } => {
                    Source::Folder(root.join(path))
                }
                RegistryLocation::Git { git, reference } => {
                    Source::Git(PinnedRegistry::open(root, git, reference.as_deref())?)
                }
            });
        }
        let mut problems = Vec::new();
        let mut entries = BTreeMap::new();
        for name in names {
            let key = normalize_name(name);
            if entries.contains_key(&key) {
                continue;
            }
            if let Some(entry) = manifest
                .registry_entries
                .iter()
                .find(|entry| normalize_name(&entry.name) == key)
            {
                entries.insert(key, (entry.clone(), manifest_path.clone()));
                continue;
            }
            if !is_safe_file_stem(name) {
                continue;
            }
            let found = sources.iter().find_map(|source| match source {
                Source::Folder(folder) => find_entry_file(folder, name).map(|file| {
                    let text = crate::fsutil::read_input(&file);
                    (file, text)
                }),
                Source::Git(registry) => registry
                    .entry_text(name)
                    .map(|(label, text)| (label, Ok(text))),
            });
            if let Some((file, text)) = found {
                match text.and_then(|text| parse_entry(&text, &file, name)) {
                    Ok(entry) => {
                        entries.insert(key, (entry, file));
                    }
                    Err(problem) => problems.push(problem),
                }
            }
        }
        if problems.is_empty() {
            Ok(Registry { entries })
        } else {
            Err(Error::Invalid { problems })
        }
    }
}

/// Where entries are read from, in the manifest's order.
enum Source {
    Folder(PathBuf),
    Git(PinnedRegistry),
}

fn find_entry_file(folder: &Path, name: &str) -> Option<PathBuf> {
    [
        folder.join(format!("{name}.yaml")),
        folder.join(format!("{name}.yml")),
        folder.join("packages").join(format!("{name}.yaml")),
        folder.join("packages").join(format!("{name}.yml")),
    ]
    .into_iter()
    .find(|candidate| candidate.is_file())
}

/// Parses the entry for `name` read from `file` (a path, or a git
/// registry's `URL@COMMIT:PATH` label).
pub fn parse_entry(text: &str, file: &Path, name: &str) -> Result<RegistryEntry, Problem> {
    let entry: RegistryEntry = serde_yaml_ng::from_str(text).map_err(|error| {
        yaml_problem(file, &error)
            .for_package(name)
            .hint("a registry entry has `name`, optional `repo`, and `sources` per mode with `type: local|git|pypi`")
    })?;
    if normalize_name(&entry.name) != normalize_name(name) {
        return Err(Problem::new(format!(
            "the entry is named `{}`, but the file is for `{name}`",
            entry.name
        ))
        .in_file(file)
        .for_package(name)
        .hint("make `name:` match the file name"));
    }
    Ok(entry)
}

/// A package name usable as a file name: no separators, no `..`.
fn is_safe_file_stem(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_entry() {
        let text = r#"
name: rag4code-qdrant
repo: https://github.com/rag4code/adapter-qdrant.git
sources:
  dev:     { type: local, path: ./packages/rag4code-qdrant, editable: true }
  staging: { type: git, url: https://github.com/rag4code/adapter-qdrant.git, ref: v1.1.0.dev0 }
  prod:    { type: git, url: https://github.com/rag4code/adapter-qdrant.git, ref: v1.0.0 }
  pypi:    { type: pypi, version: "==1.0.0", index: internal }
"#;
        let entry: RegistryEntry = serde_yaml_ng::from_str(text).unwrap();
        let dev = Mode::new("dev").unwrap();
        assert_eq!(
            entry.sources[&dev],
            SourceSpec::Local {
                path: "./packages/rag4code-qdrant".into(),
                editable: true
            }
        );
        let prod = &entry.sources[&Mode::new("prod").unwrap()];
        assert!(matches!(prod, SourceSpec::Git { reference: Some(r), .. } if r == "v1.0.0"));
    }

    #[test]
    fn unknown_source_types_are_refused() {
        let text = "name: a\nsources:\n  dev: { type: svn, url: x }\n";
        let error = serde_yaml_ng::from_str::<RegistryEntry>(text).unwrap_err();
        assert!(error.to_string().contains("svn"), "{error}");
    }

    #[test]
    fn names_normalize_per_pep_503() {
        assert_eq!(normalize_name("Model_Interface"), "model-interface");
        assert!(check_package_name("../../etc/passwd").is_err());
        assert!(check_package_name("a;rm -rf /").is_err());
        assert!(!is_safe_file_stem("../x"));
    }
}
