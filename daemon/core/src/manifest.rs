//! `hpm.yaml`: the desired environment, as committed in the core repository.
//!
//! This module only parses and checks shapes: the caller hands it the
//! file's text and its path (for messages).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::mode::Mode;
use crate::problem::{yaml_problem, Invalid, Problem};
use crate::registry::RegistryEntry;
use crate::text::without_bom;

/// The manifest file name hpm looks for.
pub const MANIFEST_FILE: &str = "hpm.yaml";

/// The parsed `hpm.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Schema version; only `1` exists.
    pub version: u32,
    /// The workspace's default mode.
    pub mode: Mode,
    /// Where registry entries come from, earlier ones winning.
    #[serde(default, deserialize_with = "one_or_many")]
    pub registry: Vec<RegistryLocation>,
    /// The packages always installed.
    #[serde(default)]
    pub packages: Vec<PackageRef>,
    /// Plugin slots: each selects one (or, with `multiple`, several) options.
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    #[serde(default)]
    pub settings: Settings,
    /// Registry entries written inline; they win over every registry folder.
    #[serde(default)]
    pub registry_entries: Vec<RegistryEntry>,
    /// How `hpmctl release` tags, pushes and publishes.
    #[serde(default)]
    pub release: ReleaseSettings,
    /// What `hpmctl image` builds.
    #[serde(default)]
    pub image: ImageSettings,
}

/// The `image:` block: the prod image's base, interpreter, command, the
/// builder's extra packages, extra `uv sync` arguments and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSettings {
    /// The runtime (and default builder) base image.
    #[serde(default)]
    pub base_image: Option<String>,
    /// An image that already has uv, for the builder.
    #[serde(default)]
    pub builder_image: Option<String>,
    /// The interpreter both stages use (absolute).
    #[serde(default)]
    pub python: Option<String>,
    /// The app's command, exec form (default: the core's first script).
    #[serde(default)]
    pub command: Vec<String>,
    /// Debian packages the builder needs.
    #[serde(default)]
    pub builder_packages: Vec<String>,
    /// Extra `uv sync` arguments, e.g. `["--extra", "cu124"]`.
    #[serde(default)]
    pub uv_args: Vec<String>,
    /// The tags `hpmctl image build` gives the image.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The `release:` block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSettings {
    /// Where releases are published besides the tags.
    #[serde(default)]
    pub forge: ForgeKind,
    /// The forge's API base URL (`HPM_FORGE_API` overrides it); GitHub's
    /// public API when absent.
    #[serde(default)]
    pub api: Option<String>,
    #[serde(default = "default_tag_prefix")]
    pub tag_prefix: String,
    /// The files a prod promotion may change against the last staging tag.
    #[serde(default = "default_version_files")]
    pub version_files: Vec<String>,
    /// The branches a release may be made from.
    #[serde(default = "default_branches")]
    pub branches: Vec<String>,
    /// Size caps of the LLM bundle's `diff.patch`, in bytes.
    #[serde(default = "default_llm_file_cap")]
    pub llm_max_file_bytes: usize,
    #[serde(default = "default_llm_total_cap")]
    pub llm_max_total_bytes: usize,
}

/// `release.forge`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
    Gitea,
    /// Tags only.
    #[default]
    None,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        ReleaseSettings {
            forge: ForgeKind::None,
            api: None,
            tag_prefix: default_tag_prefix(),
            version_files: default_version_files(),
            branches: default_branches(),
            llm_max_file_bytes: default_llm_file_cap(),
            llm_max_total_bytes: default_llm_total_cap(),
        }
    }
}

fn default_tag_prefix() -> String {
    "v".to_string()
}

fn default_version_files() -> Vec<String> {
    vec!["pyproject.toml".to_string(), "uv.lock".to_string()]
}

fn default_branches() -> Vec<String> {
    vec!["main".to_string(), "master".to_string()]
}

fn default_llm_file_cap() -> usize {
    64 * 1024
}

fn default_llm_total_cap() -> usize {
    512 * 1024
}

/// One place registry entries are read from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RegistryLocation {
    /// A folder, relative to the workspace root.
    Folder(String),
    /// A folder written as `{ path: ... }`.
    Path { path: String },
    /// A git repository of registry files.
    Git {
        git: String,
        #[serde(rename = "ref")]
        reference: Option<String>,
    },
}

/// A package listed in `packages:`, by name or with extras.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PackageRef {
    Name(String),
    Detailed {
        name: String,
        #[serde(default)]
        extras: Vec<String>,
    },
}

impl PackageRef {
    pub fn name(&self) -> &str {
        match self {
            PackageRef::Name(name) | PackageRef::Detailed { name, .. } => name,
        }
    }

    pub fn extras(&self) -> &[String] {
        match self {
            PackageRef::Name(_) => &[],
            PackageRef::Detailed { extras, .. } => extras,
        }
    }
}

/// A plugin slot such as `vector-db`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub options: Vec<String>,
    /// The chosen option(s); absent means none is installed.
    #[serde(default, deserialize_with = "one_or_many")]
    pub selected: Vec<String>,
    /// Whether more than one option may be selected at once.
    #[serde(default)]
    pub multiple: bool,
}

/// Workspace-wide knobs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where dev clones live when the registry does not say.
    #[serde(default = "default_packages_dir")]
    pub packages_dir: String,
    /// Extra arguments passed to every `uv sync`.
    #[serde(default)]
    pub uv_args: Vec<String>,
    /// Whether the daemon re-syncs when an input changes.
    #[serde(default = "default_true")]
    pub auto_sync: bool,
    /// The backend that realises the plan; only `uv` exists.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Seconds after which a `uv sync` that has not finished is killed and
    /// the sync rolled back (none: uv may take as long as it needs).
    #[serde(default)]
    pub uv_timeout: Option<u64>,
    /// Folders outside the workspace (relative to it) where registry
    /// entries' dev paths may be cloned, e.g. `../my-libs`; a registry
    /// cannot allow that itself.
    #[serde(default)]
    pub allow_clones_outside: Vec<String>,
    /// How dev packages are linked into the core's environment.
    #[serde(default)]
    pub dev_link: DevLink,
}

/// `settings.dev_link`: how a dev package joins the core's environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DevLink {
    /// As a member of a uv workspace rooted at the core only where a dev
    /// package's own `pyproject.toml` names a sibling with
    /// `{ workspace = true }`; as an editable path everywhere else.
    #[default]
    Auto,
    /// Always an editable path (`{ path, editable = true }`).
    Path,
    /// Every dev package a member of the core's uv workspace.
    Workspace,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            packages_dir: default_packages_dir(),
            uv_args: Vec::new(),
            auto_sync: true,
            backend: default_backend(),
            uv_timeout: None,
            allow_clones_outside: Vec::new(),
            dev_link: DevLink::default(),
        }
    }
}

fn default_packages_dir() -> String {
    "packages".to_string()
}

fn default_backend() -> String {
    "uv".to_string()
}

fn default_true() -> bool {
    true
}

fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

impl Manifest {
    /// Parses `text`, read from `path` (used in messages only).
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, Invalid> {
        let text = without_bom(text);
        crate::yaml::duplicate_keys(text, path)?;
        let manifest: Manifest = serde_yaml_ng::from_str(text).map_err(|error| {
            Invalid::from(yaml_problem(path, &error).hint(
                "see the manifest format in the README (`version`, `mode`, `registry`, `packages`, `groups`, `settings`, `registry_entries`, `release`, `image`)",
            ))
        })?;
        if manifest.version != 1 {
            return Err(Invalid::from(
                Problem::new(format!(
                    "manifest version {} is not supported",
                    manifest.version
                ))
                .in_file(path)
                .hint("write `version: 1`, or upgrade hpm"),
            ));
        }
        if manifest.settings.backend != "uv" {
            return Err(Invalid::from(
                Problem::new(format!(
                    "backend `{}` is not supported",
                    manifest.settings.backend
                ))
                .in_file(path)
                .hint("remove `settings.backend` or set it to `uv`"),
            ));
        }
        for location in &manifest.registry {
            if let RegistryLocation::Git { git, .. } = location {
                crate::url::check_git_url(git)
                    .map_err(|problem| Invalid::from(problem.in_file(path)))?;
            }
        }
        check_tag_prefix(&manifest.release.tag_prefix)
            .map_err(|problem| Invalid::from(problem.in_file(path)))?;
        Ok(manifest)
    }
}

/// `release.tag_prefix` followed by a version must be a tag name git
/// accepts (`git check-ref-format`'s rules) and never an option: no
/// leading `-` or `.` or `/`, no `..`, `@{`, `//`, `/.`, space, control
/// character or any of `~^:?*[\`.
pub fn check_tag_prefix(prefix: &str) -> Result<(), Problem> {
    let bad_char = prefix
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(*c));
    let why = if prefix.starts_with(['-', '.', '/']) {
        Some("it may not start with `-`, `.` or `/`".to_string())
    } else if let Some(c) = bad_char {
        Some(format!("it may not hold `{}`", c.escape_debug()))
    } else {
        ["..", "@{", "//", "/."]
            .iter()
            .find(|bad| prefix.contains(**bad))
            .map(|bad| format!("it may not hold `{bad}`"))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(Problem::new(format!(
            "`release.tag_prefix: {}` does not make a git tag name: {why}",
            prefix.escape_debug()
        ))
        .hint("use letters, digits, `-`, `_`, `.` and `/` inside, such as `v` (the default) or `release/v`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `-`, `--upload-pack=…`, `../`, `@{` and spaces passed
    /// the plan, and apply then ran `git tag -a -1.1.0.dev1 …`.
    #[test]
    fn a_tag_prefix_that_makes_no_tag_name_is_refused_when_read() {
        for bad in [
            "-",
            "--upload-pack=x",
            "../",
            "a..b",
            "x@{",
            "a b",
            "v:",
            "/v",
            ".v",
            "v//",
        ] {
            let text = format!(
                "version: 1\nmode: dev\npackages: []\nrelease:\n  tag_prefix: {:?}\n",
                bad
            );
            let refused = Manifest::parse(&text, Path::new("hpm.yaml"));
            assert!(
                refused.as_ref().is_err_and(|invalid| invalid.problems[0]
                    .to_string()
                    .contains("does not make a git tag name")),
                "{bad:?}: {refused:?}"
            );
        }
        // A control character (YAML's `\e`): refused, never printed raw.
        let escape = "version: 1\nmode: dev\npackages: []\nrelease:\n  tag_prefix: \"a\\e[31m\"\n";
        let refused = Manifest::parse(escape, Path::new("hpm.yaml"));
        assert!(
            refused.as_ref().is_err_and(|invalid| {
                let said = invalid.problems[0].to_string();
                said.contains("does not make a git tag name") && !said.contains('\u{1b}')
            }),
            "{refused:?}"
        );
        for good in ["v", "", "release/v", "pkg-v", "v_"] {
            let text = format!(
                "version: 1\nmode: dev\npackages: []\nrelease:\n  tag_prefix: {:?}\n",
                good
            );
            assert!(
                Manifest::parse(&text, Path::new("hpm.yaml")).is_ok(),
                "{good:?}"
            );
        }
    }

    const EXAMPLE: &str = r#"
version: 1
mode: prod                      # default mode of the workspace
registry: ./hpm-registry        # a folder of <name>.yaml
packages:
  - bench-utils
  - name: model-interface
    extras: [fast]              # optional
groups:
  vector-db:
    options: [rag4code-qdrant, rag4code-chroma]
    selected: rag4code-qdrant
settings:
  packages_dir: packages
  uv_args: ["--extra", "cu124"]
"#;

    #[test]
    fn parses_the_documented_example() {
        let manifest = Manifest::parse(EXAMPLE, Path::new("hpm.yaml")).unwrap();
        assert_eq!(manifest.mode.as_str(), "prod");
        assert_eq!(
            manifest.registry,
            vec![RegistryLocation::Folder("./hpm-registry".into())]
        );
        assert_eq!(manifest.packages[0].name(), "bench-utils");
        assert_eq!(manifest.packages[1].extras(), ["fast".to_string()]);
        let group = &manifest.groups["vector-db"];
        assert_eq!(group.selected, vec!["rag4code-qdrant".to_string()]);
        assert!(!group.multiple);
        assert_eq!(manifest.settings.uv_args, ["--extra", "cu124"]);
        assert!(manifest.settings.auto_sync);
    }

    #[test]
    fn parses_the_image_block_and_refuses_an_unknown_key_in_it() {
        let text = format!(
            "{EXAMPLE}image:\n  base_image: python:3.12-slim\n  python: /usr/local/bin/python3.12\n  command: [core-app, serve]\n  uv_args: [--extra, cu124]\n  tags: [registry.local/core:prod]\n"
        );
        let manifest = Manifest::parse(&text, Path::new("hpm.yaml")).unwrap();
        assert_eq!(
            manifest.image.base_image.as_deref(),
            Some("python:3.12-slim")
        );
        assert_eq!(manifest.image.command, ["core-app", "serve"]);
        assert_eq!(manifest.image.uv_args, ["--extra", "cu124"]);
        assert_eq!(manifest.image.tags, ["registry.local/core:prod"]);
        assert_eq!(
            Manifest::parse(EXAMPLE, Path::new("hpm.yaml"))
                .unwrap()
                .image,
            ImageSettings::default()
        );
        let wrong = format!("{EXAMPLE}image:\n  base: python\n");
        let error = Manifest::parse(&wrong, Path::new("hpm.yaml")).unwrap_err();
        assert!(format!("{error:?}").contains("base"), "{error:?}");
    }

    /// Regression: a byte order mark gave "missing field `mode`".
    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_key() {
        let manifest =
            Manifest::parse("\u{feff}version: 1\r\nmode: dev\r\n", Path::new("hpm.yaml")).unwrap();
        assert_eq!(manifest.mode.as_str(), "dev");
    }

    #[test]
    fn yaml_errors_carry_file_line_and_column() {
        let text = "version: 1\nmode: prod\npackages:\n  - a\n  bad: [\n";
        let error = Manifest::parse(text, Path::new("/w/hpm.yaml")).unwrap_err();
        let problem = &error.problems[0];
        assert_eq!(problem.file.as_deref(), Some(Path::new("/w/hpm.yaml")));
        assert!(problem.line.is_some() && problem.column.is_some());
        assert!(error.to_string().starts_with("`/w/hpm.yaml`:"));
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let text = "version: 1\nmode: prod\npakages: []\n";
        let error = Manifest::parse(text, Path::new("hpm.yaml")).unwrap_err();
        assert!(error.to_string().contains("pakages"), "{error}");
        assert_eq!(error.problems[0].line, Some(3));
    }

    #[test]
    fn bad_mode_names_are_refused() {
        let text = "version: 1\nmode: ../etc\n";
        let error = Manifest::parse(text, Path::new("hpm.yaml")).unwrap_err();
        assert!(
            error.to_string().contains("not a valid mode name"),
            "{error}"
        );
    }
}
