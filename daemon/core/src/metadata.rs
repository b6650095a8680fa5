//! What hpm reads of a managed package's own `pyproject.toml`: its name,
//! version and dependencies (for the dependency closure), and whether its
//! `[tool.uv.sources]` name siblings with `workspace = true` (which only a
//! uv workspace can install).

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::name::PackageName;
use crate::pyproject::{parse_requirement, PyprojectMut};

/// A package's own `pyproject.toml`, as far as hpm needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectMeta {
    pub name: Option<String>,
    pub version: Option<String>,
    /// `[project].dependencies`, as written.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// `[project.optional-dependencies]`, by extra.
    #[serde(default)]
    pub optional: BTreeMap<String, Vec<String>>,
    /// The names `[tool.uv.sources]` gives `{ workspace = true }`.
    #[serde(default)]
    pub workspace_sources: Vec<String>,
}

/// One dependency of a package, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// As the requirement writes it.
    pub name: String,
    pub key: PackageName,
    /// Its version specifiers (`~=0.1`), when it has any.
    pub specifiers: Option<String>,
    pub extras: Vec<String>,
}

impl ProjectMeta {
    /// Reads `text`, a `pyproject.toml`; `Err` says why it is not one.
    pub fn read(text: &str) -> Result<ProjectMeta, String> {
        let pyproject = PyprojectMut::read(text)?;
        let owned = |text: Option<&str>| text.map(str::to_string);
        Ok(ProjectMeta {
            name: owned(pyproject.project_text("name")),
            version: owned(pyproject.project_text("version")),
            dependencies: pyproject.project_strings("dependencies"),
            optional: pyproject.optional_dependencies(),
            workspace_sources: pyproject
                .sources()
                .iter()
                .filter(|entry| entry.is_workspace())
                .map(|entry| entry.key().to_string())
                .collect(),
        })
    }

    /// The dependencies a package installed with `extras` brings: its own,
    /// and those of each extra asked for. Requirements that do not parse,
    /// and those that name a URL of their own (`helper @ git+…`: the
    /// package chose its source), are left to uv.
    pub fn requirements(&self, extras: &[String]) -> Vec<Dependency> {
        let wanted: Vec<PackageName> = extras.iter().map(|e| PackageName::key(e)).collect();
        let mut texts: Vec<&String> = self.dependencies.iter().collect();
        for (extra, list) in &self.optional {
            if wanted.contains(&PackageName::key(extra)) {
                texts.extend(list);
            }
        }
        texts
            .into_iter()
            .filter_map(|text| {
                let requirement = parse_requirement(text)?;
                let specifiers = match &requirement.version_or_url {
                    Some(pep508_rs::VersionOrUrl::Url(_)) => return None,
                    Some(pep508_rs::VersionOrUrl::VersionSpecifier(specifiers))
                        if !specifiers.is_empty() =>
                    {
                        Some(specifiers.to_string())
                    }
                    _ => None,
                };
                Some(Dependency {
                    name: requirement.name.to_string(),
                    key: PackageName::key(requirement.name.as_ref()),
                    specifiers,
                    extras: requirement.extras.iter().map(ToString::to_string).collect(),
                })
            })
            .collect()
    }
}

/// Whether a version (the pyproject's) and a tag name it was released as
/// say the same version, PEP 440-normalised (`v0.0.1.dev0` and
/// `0.0.1dev0` do); `None` when the tag is not a version.
pub fn tag_matches_version(tag: &str, version: &str) -> Option<bool> {
    let tag = tag.strip_prefix('v').unwrap_or(tag);
    let tag = pep440_rs::Version::from_str(tag).ok()?;
    let version = pep440_rs::Version::from_str(version).ok()?;
    Some(tag == version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH_UTILS: &str = r#"[project]
name = "bench-utils"
version = "0.0.1dev0"
dependencies = ["model-interface>=0.1", "prompt_handler", "numpy; python_version >= '3.9'", "helper @ git+https://example.org/helper.git@v1"]

[project.optional-dependencies]
qwen = ["model-qwen2.5-vl~=0.1"]

[tool.uv.sources]
model-interface = { workspace = true }
numpy = { index = "pytorch" }
"#;

    #[test]
    fn reads_dependencies_extras_and_workspace_sources() {
        let meta = ProjectMeta::read(BENCH_UTILS).unwrap();
        assert_eq!(meta.name.as_deref(), Some("bench-utils"));
        assert_eq!(meta.workspace_sources, ["model-interface"]);
        let plain: Vec<String> = meta
            .requirements(&[])
            .iter()
            .map(|d| d.key.to_string())
            .collect();
        assert_eq!(plain, ["model-interface", "prompt-handler", "numpy"]);
        let with_qwen = meta.requirements(&["qwen".to_string()]);
        let qwen = with_qwen.last().unwrap();
        assert_eq!(qwen.key, PackageName::key("model-qwen2-5-vl"));
        assert_eq!(qwen.specifiers.as_deref(), Some("~=0.1"));
        assert_eq!(with_qwen[0].specifiers.as_deref(), Some(">=0.1"));
    }

    #[test]
    fn tags_and_versions_compare_pep_440_normalised() {
        assert_eq!(tag_matches_version("v0.0.1.dev0", "0.0.1dev0"), Some(true));
        assert_eq!(tag_matches_version("v0.1.2", "0.1.0"), Some(false));
        assert_eq!(tag_matches_version("release-candidate", "0.1.0"), None);
    }
}
