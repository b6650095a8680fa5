//! The registry model: for each package, where its code lives in each mode.
//!
//! Entries come from `registry_entries:` in `hpm.yaml` first, then from each
//! registry the manifest lists, in its order (earlier wins): a folder, or a
//! git repository read at its pinned commit. Each holds `<name>.yaml` or
//! `packages/<name>.yaml` ([`entry_file_candidates`]). The engine finds and
//! reads the files; this module parses them, holds the result, and compares
//! two versions of a registry (`hpmctl registry update`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mode::Mode;
use crate::name::PackageName;
use crate::problem::{yaml_problem, Problem};

/// One package's entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    pub name: String,
    /// The clone URL used when a dev folder is missing.
    #[serde(default)]
    pub repo: Option<String>,
    /// The branch such a clone checks out (the team's dev branch), when it
    /// is not the remote's default.
    #[serde(default)]
    pub branch: Option<String>,
    /// Where the package comes from, per mode.
    #[serde(default)]
    pub sources: BTreeMap<Mode, SourceSpec>,
}

/// A git reference as a registry or a plan names it. `Ref` is one the
/// registry wrote as `ref:`, which only the remote can say is a tag, a
/// branch or a commit; pinning turns it into one of those.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitRef {
    Tag(String),
    Branch(String),
    Rev(String),
    Ref(String),
    /// The remote's default branch.
    Default,
}

impl GitRef {
    /// The name or hash, `None` for the default branch.
    pub fn name(&self) -> Option<&str> {
        match self {
            GitRef::Tag(name) | GitRef::Branch(name) | GitRef::Rev(name) | GitRef::Ref(name) => {
                Some(name)
            }
            GitRef::Default => None,
        }
    }
}

/// Where a package comes from in one mode, as the registry writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSourceSpec", into = "RawSourceSpec")]
pub enum SourceSpec {
    /// A folder relative to the workspace root.
    Local { path: String, editable: bool },
    /// A git repository at a ref.
    Git {
        url: String,
        reference: GitRef,
        subdirectory: Option<String>,
    },
    /// A version from PyPI or a named index.
    Pypi {
        version: Option<String>,
        index: Option<String>,
    },
}

/// [`SourceSpec`] as YAML spells it: a git source names at most one of
/// `ref`, `tag`, `rev`, `branch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawSourceSpec {
    Local {
        path: String,
        #[serde(default = "default_editable")]
        editable: bool,
    },
    Git {
        url: String,
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

impl TryFrom<RawSourceSpec> for SourceSpec {
    type Error = String;

    fn try_from(raw: RawSourceSpec) -> Result<SourceSpec, String> {
        Ok(match raw {
            RawSourceSpec::Local { path, editable } => SourceSpec::Local { path, editable },
            RawSourceSpec::Pypi { version, index } => SourceSpec::Pypi { version, index },
            RawSourceSpec::Git {
                url,
                reference,
                tag,
                rev,
                branch,
                subdirectory,
            } => {
                let mut given: Vec<GitRef> = [
                    reference.map(GitRef::Ref),
                    tag.map(GitRef::Tag),
                    rev.map(GitRef::Rev),
                    branch.map(GitRef::Branch),
                ]
                .into_iter()
                .flatten()
                .collect();
                if given.len() > 1 {
                    return Err(
                        "a git source names more than one of `ref`, `tag`, `rev`, `branch`; keep exactly one"
                            .to_string(),
                    );
                }
                SourceSpec::Git {
                    url,
                    reference: given.pop().unwrap_or(GitRef::Default),
                    subdirectory,
                }
            }
        })
    }
}

impl From<SourceSpec> for RawSourceSpec {
    fn from(spec: SourceSpec) -> RawSourceSpec {
        match spec {
            SourceSpec::Local { path, editable } => RawSourceSpec::Local { path, editable },
            SourceSpec::Pypi { version, index } => RawSourceSpec::Pypi { version, index },
            SourceSpec::Git {
                url,
                reference,
                subdirectory,
            } => {
                let mut raw = RawSourceSpec::Git {
                    url,
                    reference: None,
                    tag: None,
                    rev: None,
                    branch: None,
                    subdirectory,
                };
                if let RawSourceSpec::Git {
                    reference: r,
                    tag,
                    rev,
                    branch,
                    ..
                } = &mut raw
                {
                    match reference {
                        GitRef::Ref(name) => *r = Some(name),
                        GitRef::Tag(name) => *tag = Some(name),
                        GitRef::Rev(name) => *rev = Some(name),
                        GitRef::Branch(name) => *branch = Some(name),
                        GitRef::Default => {}
                    }
                }
                raw
            }
        }
    }
}

impl fmt::Display for SourceSpec {
    /// A source in a line: `git URL@REF`, `local PATH`, `pypi VERSION`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Local { path, .. } => write!(f, "local {path}"),
            SourceSpec::Git { url, reference, .. } => write!(
                f,
                "git {url}@{}",
                reference.name().unwrap_or("(default branch)")
            ),
            SourceSpec::Pypi { version, .. } => {
                write!(f, "pypi {}", version.as_deref().unwrap_or("(any)"))
            }
        }
    }
}

/// Where an entry was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOrigin {
    /// `registry_entries:` in the manifest at this path.
    Manifest(PathBuf),
    /// A file in a registry folder.
    File(PathBuf),
    /// A file in a git registry, at a commit.
    Git {
        url: String,
        commit: String,
        path: String,
    },
}

impl EntryOrigin {
    /// How problems name the origin: the file's path, or `URL@COMMIT:PATH`
    /// (the commit shortened to 12 digits) for a git registry.
    pub fn label(&self) -> PathBuf {
        match self {
            EntryOrigin::Manifest(path) | EntryOrigin::File(path) => path.clone(),
            EntryOrigin::Git { url, commit, path } => PathBuf::from(format!(
                "{url}@{}:{path}",
                commit.get(..12).unwrap_or(commit)
            )),
        }
    }

    /// The local file, when the entry has one (the daemon watches these).
    pub fn local_file(&self) -> Option<&Path> {
        match self {
            EntryOrigin::Manifest(path) | EntryOrigin::File(path) => Some(path),
            EntryOrigin::Git { .. } => None,
        }
    }
}

/// The entries a workspace needs, by package name, with where each came from.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: BTreeMap<PackageName, (RegistryEntry, EntryOrigin)>,
}

impl Registry {
    /// Builds a registry from entries already read; an earlier entry for a
    /// name wins over a later one.
    pub fn from_entries(
        entries: impl IntoIterator<Item = (RegistryEntry, EntryOrigin)>,
    ) -> Registry {
        let mut registry = Registry::default();
        for (entry, origin) in entries {
            registry
                .entries
                .entry(PackageName::key(&entry.name))
                .or_insert((entry, origin));
        }
        registry
    }

    /// The entry for `name` and where it was read from.
    pub fn get(&self, name: &str) -> Option<(&RegistryEntry, &EntryOrigin)> {
        self.entries
            .get(&PackageName::key(name))
            .map(|(entry, origin)| (entry, origin))
    }

    /// This registry with `other`'s entries for names it does not hold.
    pub fn merged_with(mut self, other: Registry) -> Registry {
        for (key, entry) in other.entries {
            self.entries.entry(key).or_insert(entry);
        }
        self
    }

    /// Whether an entry for `name` is already held.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(&PackageName::key(name))
    }

    /// Every entry read.
    /// The modes a workspace with this registry names: `dev`, `current`,
    /// and every mode an entry gives a source for; `dev`, `staging` and
    /// `prod` first (those present), then the others by name.
    pub fn modes(&self, current: &Mode) -> Vec<Mode> {
        let mut named: std::collections::BTreeSet<&Mode> = self
            .entries()
            .flat_map(|entry| entry.sources.keys())
            .collect();
        let dev = Mode::dev();
        named.insert(&dev);
        named.insert(current);
        let rank = |mode: &Mode| match mode.as_str() {
            "dev" => 0,
            "staging" => 1,
            "prod" => 2,
            _ => 3,
        };
        let mut modes: Vec<Mode> = named.into_iter().cloned().collect();
        modes.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        modes
    }

    pub fn entries(&self) -> impl Iterator<Item = &RegistryEntry> {
        self.entries.values().map(|(entry, _)| entry)
    }

    /// Every local file the entries came from (the daemon watches these).
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.entries
            .values()
            .filter_map(|(_, origin)| origin.local_file())
    }
}

/// The file names, relative to a registry's root, that may hold `name`'s
/// entry, in the order they are looked for.
pub fn entry_file_candidates(name: &str) -> [String; 4] {
    [
        format!("{name}.yaml"),
        format!("{name}.yml"),
        format!("packages/{name}.yaml"),
        format!("packages/{name}.yml"),
    ]
}

/// The registry files among `paths` (relative to a registry's root, such
/// as `model_qwen2.5-vl.yaml` or `packages/bench-utils.yml`) by the
/// normalized name of the package each is for: a file may use any
/// spelling of its package's name, and two files for one package are an
/// error the caller reports ([`EntryFiles::get`]).
#[derive(Debug, Clone, Default)]
pub struct EntryFiles {
    by_name: BTreeMap<PackageName, Vec<String>>,
}

impl EntryFiles {
    pub fn index(paths: impl IntoIterator<Item = String>) -> EntryFiles {
        let mut by_name: BTreeMap<PackageName, Vec<String>> = BTreeMap::new();
        for path in paths {
            let (folder, file) = match path.rsplit_once('/') {
                Some((folder, file)) => (folder, file),
                None => ("", path.as_str()),
            };
            if !(folder.is_empty() || folder == "packages") {
                continue;
            }
            let Some(stem) = file
                .strip_suffix(".yaml")
                .or_else(|| file.strip_suffix(".yml"))
            else {
                continue;
            };
            if crate::name::check_package_name(stem).is_ok() {
                by_name
                    .entry(PackageName::key(stem))
                    .or_default()
                    .push(path.clone());
            }
        }
        // Candidates in the order hpm has always looked them up.
        for files in by_name.values_mut() {
            files.sort_by_key(|path| {
                (
                    path.starts_with("packages/"),
                    path.ends_with(".yml"),
                    path.clone(),
                )
            });
        }
        EntryFiles { by_name }
    }

    /// The file for `name`: `Ok(None)` when there is none, an error naming
    /// both when two files are for it.
    pub fn get(&self, name: &str) -> Result<Option<&str>, (String, String)> {
        match self.by_name.get(&PackageName::key(name)).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one)),
            Some([first, second, ..]) => Err((first.clone(), second.clone())),
        }
    }
}

impl RegistryEntry {
    /// The entry as a registry file (`hpmctl add` writes it): one line per
    /// mode, a flow mapping each, strings quoted, so that the file reads
    /// like the README's examples and parses back to this entry.
    pub fn to_yaml(&self) -> String {
        let quote = |text: &str| serde_json::Value::from(text).to_string();
        let mut out = format!("name: {}\n", quote(&self.name));
        if let Some(repo) = &self.repo {
            out.push_str(&format!("repo: {}\n", quote(repo)));
        }
        if let Some(branch) = &self.branch {
            out.push_str(&format!("branch: {}\n", quote(branch)));
        }
        out.push_str("sources:\n");
        for (mode, spec) in &self.sources {
            let raw = serde_json::to_value(spec).unwrap_or_default();
            let mut fields = vec![format!(
                "type: {}",
                raw["type"].as_str().unwrap_or_default()
            )];
            if let Some(map) = raw.as_object() {
                for (key, value) in map.iter().filter(|(key, _)| *key != "type") {
                    let value = match value {
                        serde_json::Value::String(text) => quote(text),
                        other => other.to_string(),
                    };
                    fields.push(format!("{key}: {value}"));
                }
            }
            out.push_str(&format!("  {mode}: {{ {} }}\n", fields.join(", ")));
        }
        out
    }
}

/// Parses the entry for `name` read from `origin`.
pub fn parse_entry(text: &str, origin: &EntryOrigin, name: &str) -> Result<RegistryEntry, Problem> {
    let file = origin.label();
    let text = crate::text::without_bom(text);
    crate::yaml::duplicate_keys(text, &file).map_err(|problem| problem.for_package(name))?;
    let entry: RegistryEntry = serde_yaml_ng::from_str(text).map_err(|error| {
        yaml_problem(&file, &error)
            .for_package(name)
            .hint("a registry entry has `name`, optional `repo`, and `sources` per mode with `type: local|git|pypi`")
    })?;
    if PackageName::key(&entry.name) != PackageName::key(name) {
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

/// A package and mode whose source moved between two registry versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MovedSource {
    pub package: String,
    pub mode: String,
    pub from: String,
    pub to: String,
}

/// What changed between two versions of a registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub moved: Vec<MovedSource>,
}

/// Compares every entry of two registry versions, by normalized name.
pub fn compare(
    old: &BTreeMap<PackageName, RegistryEntry>,
    new: &BTreeMap<PackageName, RegistryEntry>,
) -> RegistryDiff {
    let mut diff = RegistryDiff::default();
    for (name, entry) in new {
        let Some(previous) = old.get(name) else {
            diff.added.push(entry.name.clone());
            continue;
        };
        for (mode, source) in &entry.sources {
            let was = previous.sources.get(mode);
            if was != Some(source) {
                diff.moved.push(MovedSource {
                    package: entry.name.clone(),
                    mode: mode.to_string(),
                    from: was.map_or_else(|| "(none)".to_string(), ToString::to_string),
                    to: source.to_string(),
                });
            }
        }
    }
    diff.removed = old
        .iter()
        .filter(|(name, _)| !new.contains_key(*name))
        .map(|(_, entry)| entry.name.clone())
        .collect();
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modes_are_dev_staging_prod_first_then_every_other_an_entry_names() {
        let entries: Vec<RegistryEntry> = serde_yaml_ng::from_str(
            r#"
- name: a
  sources:
    qa: { type: git, url: "file:///r/a.git", tag: v1.1.0.qa1 }
    prod: { type: git, url: "file:///r/a.git", tag: v1.0.0 }
- name: b
  sources:
    staging: { type: git, url: "file:///r/b.git", tag: v2.0.0.dev1 }
    beta: { type: pypi, version: "2.0.0b1" }
"#,
        )
        .unwrap();
        let registry = Registry::from_entries(
            entries
                .into_iter()
                .map(|e| (e, EntryOrigin::File("reg.yaml".into()))),
        );
        let names = |current: &str| -> Vec<String> {
            registry
                .modes(&Mode::new(current).unwrap())
                .iter()
                .map(|m| m.as_str().to_string())
                .collect()
        };
        assert_eq!(names("prod"), ["dev", "staging", "prod", "beta", "qa"]);
        // The current mode is named even when no entry names it.
        assert_eq!(
            names("demo"),
            ["dev", "staging", "prod", "beta", "demo", "qa"]
        );
    }

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
        assert!(matches!(prod, SourceSpec::Git { reference: GitRef::Ref(r), .. } if r == "v1.0.0"));
    }

    #[test]
    fn unknown_source_types_are_refused() {
        let text = "name: a\nsources:\n  dev: { type: svn, url: x }\n";
        let error = serde_yaml_ng::from_str::<RegistryEntry>(text).unwrap_err();
        assert!(error.to_string().contains("svn"), "{error}");
    }

    #[test]
    fn a_git_source_with_two_refs_is_refused_at_its_line() {
        let text = "name: a\nsources:\n  prod: { type: git, url: x, tag: v1, branch: main }\n";
        let problem = parse_entry(text, &EntryOrigin::File("a.yaml".into()), "a").unwrap_err();
        assert!(problem.message.contains("more than one of"), "{problem}");
        assert_eq!(problem.line, Some(3));
    }

    #[test]
    fn a_source_round_trips_through_yaml() {
        let spec = SourceSpec::Git {
            url: "file:///r.git".into(),
            reference: GitRef::Branch("main".into()),
            subdirectory: Some("python".into()),
        };
        let text = serde_yaml_ng::to_string(&spec).unwrap();
        assert!(text.contains("branch: main"), "{text}");
        assert_eq!(serde_yaml_ng::from_str::<SourceSpec>(&text).unwrap(), spec);
    }

    #[test]
    fn entry_files_match_any_spelling_and_two_for_one_name_are_refused() {
        let files = EntryFiles::index([
            "model-qwen2-5-vl.yaml".to_string(),
            "packages/Bench_Utils.yml".to_string(),
            "prompt-handler.yaml".to_string(),
            "packages/prompt_handler.yaml".to_string(),
            "notes/other.yaml".to_string(),
            "README.md".to_string(),
        ]);
        assert_eq!(
            files.get("model_qwen2.5-vl"),
            Ok(Some("model-qwen2-5-vl.yaml"))
        );
        assert_eq!(
            files.get("bench-utils"),
            Ok(Some("packages/Bench_Utils.yml"))
        );
        assert_eq!(
            files.get("prompt-handler"),
            Err((
                "prompt-handler.yaml".to_string(),
                "packages/prompt_handler.yaml".to_string()
            ))
        );
        assert_eq!(files.get("other"), Ok(None));
    }

    #[test]
    fn git_origins_are_labelled_with_url_commit_and_path() {
        let origin = EntryOrigin::Git {
            url: "file:///reg.git".into(),
            commit: "0123456789abcdef0123".into(),
            path: "packages/a.yaml".into(),
        };
        assert_eq!(
            origin.label(),
            PathBuf::from("file:///reg.git@0123456789ab:packages/a.yaml")
        );
        assert_eq!(origin.local_file(), None);
    }

    fn entries(text: &str) -> BTreeMap<PackageName, RegistryEntry> {
        let entries: Vec<RegistryEntry> = serde_yaml_ng::from_str(text).unwrap();
        entries
            .into_iter()
            .map(|entry| (PackageName::key(&entry.name), entry))
            .collect()
    }

    #[test]
    fn compare_reports_added_removed_and_moved_sources() {
        let old = entries(
            "- {name: a, sources: {prod: {type: git, url: 'file:///a', tag: v1}}}\n- {name: gone, sources: {}}\n",
        );
        let new = entries(
            "- {name: a, sources: {prod: {type: git, url: 'file:///a', tag: v2}, dev: {type: local, path: p}}}\n- {name: b, sources: {}}\n",
        );
        let diff = compare(&old, &new);
        assert_eq!(diff.added, ["b"]);
        assert_eq!(diff.removed, ["gone"]);
        let moved: Vec<String> = diff
            .moved
            .iter()
            .map(|m| format!("{} {}: {} -> {}", m.package, m.mode, m.from, m.to))
            .collect();
        assert_eq!(
            moved,
            [
                "a dev: (none) -> local p",
                "a prod: git file:///a@v1 -> git file:///a@v2"
            ]
        );
    }

    #[test]
    fn an_entry_written_as_yaml_parses_back_to_itself() {
        let entry = RegistryEntry {
            name: "plugin-c".into(),
            repo: Some("file:///r/plugin-c.git".into()),
            branch: Some("dev_branch".into()),
            sources: [
                (
                    Mode::new("prod").unwrap(),
                    SourceSpec::Git {
                        url: "file:///r/plugin-c.git".into(),
                        reference: GitRef::Tag("v1.0.0".into()),
                        subdirectory: None,
                    },
                ),
                (
                    Mode::new("dev").unwrap(),
                    SourceSpec::Local {
                        path: "./packages/plugin-c".into(),
                        editable: true,
                    },
                ),
                (
                    Mode::new("staging").unwrap(),
                    SourceSpec::Pypi {
                        version: Some("==1.1.0.dev0".into()),
                        index: None,
                    },
                ),
            ]
            .into(),
        };
        let text = entry.to_yaml();
        assert!(
            text.contains(
                "  prod: { type: git, tag: \"v1.0.0\", url: \"file:///r/plugin-c.git\" }"
            ),
            "{text}"
        );
        let origin = EntryOrigin::Manifest("hpm.yaml".into());
        assert_eq!(parse_entry(&text, &origin, "plugin-c").unwrap(), entry);
    }
}
