//! `hpmctl import`: hpm's files for a product in the seeds' layout (a core
//! whose internal packages are git submodules or clones in its uv
//! workspace's member folders, and hand-kept `staging/` and `prod/`
//! `pyproject.toml` files pinning them to tags).
//!
//! From what the engine found, this computes a registry entry per internal
//! package (`repo`, `dev` its folder, one source per mode file), `hpm.yaml`,
//! the core's `pyproject.toml` without the workspace wiring hpm now owns
//! (its `{ workspace = true }` sources and the members covering internal
//! packages; the rest stays byte for byte), and a note for everything that
//! could not be mapped.

use std::collections::BTreeMap;
use std::path::Path;

use crate::mode::Mode;
use crate::name::normalize_name;
use crate::problem::{Invalid, Problem};
use crate::pyproject::{parse_requirement, written_name, PyprojectMut, SourceEntry};
use crate::registry::{GitRef, RegistryEntry, SourceSpec};

/// An internal package found in the core's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPackage {
    /// Its `[project].name`.
    pub name: String,
    /// Its folder, relative to the core.
    pub path: String,
    /// The submodule's URL or the clone's `origin`.
    pub url: Option<String>,
    pub submodule: bool,
    /// The branch the submodule tracks (`.gitmodules` `branch =`) or the
    /// clone is on: a teammate's `hpmctl dev` clone checks it out.
    pub branch: Option<String>,
}

/// A hand-kept per-mode `pyproject.toml`.
#[derive(Debug, Clone)]
pub struct ModeFile {
    pub mode: Mode,
    /// Relative to the core, e.g. `prod/pyproject.toml`.
    pub path: String,
    pub text: String,
}

/// The files an import writes and what it could not map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub entries: Vec<RegistryEntry>,
    pub manifest: String,
    pub pyproject: String,
    pub notes: Vec<String>,
}

/// Everything [`import`] reads.
#[derive(Debug, Clone)]
pub struct ImportInput<'a> {
    pub core_text: &'a str,
    pub core_path: &'a Path,
    pub packages: &'a [FoundPackage],
    pub mode_files: &'a [ModeFile],
    pub uv_args: &'a [String],
    pub registry_folder: &'a str,
}

pub fn import(input: ImportInput<'_>) -> Result<Imported, Invalid> {
    let mut notes = Vec::new();
    let mut by_key: BTreeMap<String, &FoundPackage> = BTreeMap::new();
    for package in input.packages {
        if let Some(first) = by_key.insert(normalize_name(&package.name), package) {
            return Err(Problem::new(format!(
                "`{}/pyproject.toml` (`{}`) and `{}/pyproject.toml` (`{}`) name one package",
                first.path, first.name, package.path, package.name
            ))
            .hint("one name is one package: rename one of them, or take one folder out of the workspace, then import again")
            .into());
        }
        let folder = package.path.rsplit('/').next().unwrap_or(&package.path);
        let place = if package.submodule {
            "`.gitmodules`"
        } else {
            "`[tool.uv.workspace] members`"
        };
        if let Some(note) = spelled_two_ways(place, folder, &package.name) {
            notes.push(format!("{note}, in `{}`", package.path));
        }
    }
    let mut sources: BTreeMap<String, BTreeMap<Mode, SourceSpec>> = BTreeMap::new();
    for file in input.mode_files {
        for (key, spec) in mode_sources(file, &by_key, &mut notes)? {
            sources
                .entry(key)
                .or_default()
                .insert(file.mode.clone(), spec);
        }
    }
    let entries: Vec<RegistryEntry> = input
        .packages
        .iter()
        .map(|package| {
            let mut modes = sources
                .remove(&normalize_name(&package.name))
                .unwrap_or_default();
            modes.insert(
                Mode::dev(),
                SourceSpec::Local {
                    path: format!("./{}", package.path),
                    editable: true,
                },
            );
            RegistryEntry {
                name: package.name.clone(),
                repo: package.url.clone(),
                branch: package.branch.clone(),
                sources: modes,
            }
        })
        .collect();
    let (pyproject, core_deps) =
        core_pyproject(input.core_text, input.core_path, input.packages, &mut notes)?;
    let listed: Vec<&str> = input
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| core_deps.is_empty() || core_deps.contains(&normalize_name(name)))
        .collect();
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let mut manifest = format!(
        "version: 1\nmode: dev\nregistry: ./{}\npackages: [{}]\n",
        input.registry_folder.trim_start_matches("./"),
        listed.join(", ")
    );
    if !input.uv_args.is_empty() {
        let args: Vec<String> = input.uv_args.iter().map(|a| quote(a)).collect();
        manifest.push_str(&format!("settings:\n  uv_args: [{}]\n", args.join(", ")));
    }
    Ok(Imported {
        entries,
        manifest,
        pyproject,
        notes,
    })
}

/// The internal packages' sources a mode file pins, by normalized name.
fn mode_sources(
    file: &ModeFile,
    packages: &BTreeMap<String, &FoundPackage>,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, SourceSpec)>, Invalid> {
    let pyproject = PyprojectMut::parse(&file.text, Path::new(&file.path))?;
    let dependencies = pinned_dependencies(&pyproject);
    let mut found = Vec::new();
    let mut with_source = std::collections::BTreeSet::new();
    for entry in pyproject.sources() {
        let key = entry.key();
        let name = normalize_name(key);
        let Some(package) = packages.get(&name) else {
            continue;
        };
        with_source.insert(name.clone());
        notes.extend(spelled_two_ways(
            &format!("`{}`", file.path),
            key,
            &package.name,
        ));
        if !dependencies.contains_key(&name) {
            // hpm installs a listed package in every mode: the source this
            // file gives it is the one for this mode.
            notes.push(format!(
                "`{}`: a source for `{key}`, which is not among its dependencies; kept as its {} source",
                file.path, file.mode
            ));
        }
        if !entry.is_table() {
            notes.push(format!(
                "`{}`: the source of `{key}` is not a table (not mapped)",
                file.path
            ));
            continue;
        }
        match git_source(&entry) {
            Some(source) => found.push((name, source)),
            None => notes.push(format!(
                "`{}`: the source of `{key}` is not a git ref (`{entry}`; not mapped)",
                file.path
            )),
        }
    }
    for (name, (written, specifiers)) in &dependencies {
        let Some(package) = packages.get(name) else {
            continue;
        };
        if with_source.contains(name) {
            continue;
        }
        notes.extend(spelled_two_ways(
            &format!("`{}`", file.path),
            written,
            &package.name,
        ));
        match specifiers {
            Some(version) => found.push((
                name.clone(),
                SourceSpec::Pypi {
                    version: Some(version.clone()),
                    index: None,
                },
            )),
            None => notes.push(format!(
                "`{}`: `{}` has neither a source nor a version (not mapped)",
                file.path, package.name
            )),
        }
    }
    Ok(found)
}

/// A mode file's dependencies by normalized name: as written, and their
/// version specifiers when they have any.
fn pinned_dependencies(pyproject: &PyprojectMut) -> BTreeMap<String, (String, Option<String>)> {
    pyproject
        .project_strings("dependencies")
        .iter()
        .filter_map(|text| {
            let requirement = parse_requirement(text)?;
            let specifiers = match &requirement.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) if !s.is_empty() => {
                    Some(s.to_string())
                }
                _ => None,
            };
            let written = written_name(text).to_string();
            Some((requirement.name.to_string(), (written, specifiers)))
        })
        .collect()
}

/// A `[tool.uv.sources]` entry as a registry entry's git source; `None`
/// when it is not a git one.
fn git_source(entry: &SourceEntry<'_>) -> Option<SourceSpec> {
    let text = |field: &str| entry.text(field).map(str::to_string);
    let url = text("git")?;
    let reference = match (text("tag"), text("branch"), text("rev")) {
        (Some(tag), _, _) => GitRef::Tag(tag),
        (_, Some(branch), _) => GitRef::Branch(branch),
        (_, _, Some(rev)) => GitRef::Rev(rev),
        _ => GitRef::Default,
    };
    Some(SourceSpec::Git {
        url,
        reference,
        subdirectory: text("subdirectory"),
    })
}

/// A note when `written` (in `place`) is the package `name` spelled
/// another way: uv treats them as one name, a reader may not.
fn spelled_two_ways(place: &str, written: &str, name: &str) -> Option<String> {
    (written != name && normalize_name(written) == normalize_name(name))
        .then(|| format!("{place}: `{written}` there is `{name}` (one name, spelled two ways)"))
}

/// The core's file without the workspace wiring of internal packages, and
/// the normalized internal names it depends on.
fn core_pyproject(
    text: &str,
    path: &Path,
    packages: &[FoundPackage],
    notes: &mut Vec<String>,
) -> Result<(String, Vec<String>), Invalid> {
    let mut pyproject = PyprojectMut::parse(text, path)?;
    let internal = |key: &str| {
        packages
            .iter()
            .find(|p| normalize_name(&p.name) == normalize_name(key))
    };
    let mut core_deps = Vec::new();
    for text in pyproject.project_strings("dependencies") {
        let Some(name) = parse_requirement(&text).map(|r| r.name.to_string()) else {
            continue;
        };
        let Some(package) = internal(&name) else {
            continue;
        };
        notes.extend(spelled_two_ways(
            "`pyproject.toml` (the core)",
            written_name(&text),
            &package.name,
        ));
        core_deps.push(name);
    }
    let wired: Vec<(String, bool, &FoundPackage)> = pyproject
        .sources()
        .iter()
        .filter_map(|entry| {
            let package = internal(entry.key())?;
            Some((entry.key().to_string(), entry.is_workspace(), package))
        })
        .collect();
    for (key, workspace, package) in wired {
        notes.extend(spelled_two_ways(
            "`pyproject.toml` (the core)",
            &key,
            &package.name,
        ));
        // Only what hpm will manage (the core's dependencies) moves to
        // hpm; a source a dependency group or an extra uses stays.
        let managed = core_deps.is_empty() || core_deps.contains(&normalize_name(&key));
        if managed {
            pyproject.remove_source(&key);
            notes.push(format!(
                "`pyproject.toml`: took out `{key}`'s source; hpm writes it per mode now"
            ));
        } else if workspace {
            // Its folder stops being a member below: the same folder,
            // installed as a path.
            pyproject.set_path_source(&key, &package.path, true, path)?;
            notes.push(format!(
                "`pyproject.toml`: kept `{key}`'s source as `{{ path = \"{}\", editable = true }}`: the core's dependencies do not name it (a dependency group or an extra does), so it stays yours, and its folder is no longer a workspace member",
                package.path
            ));
        } else {
            notes.push(format!(
                "`pyproject.toml`: kept `{key}`'s source: the core's dependencies do not name it (a dependency group or an extra does), so it stays yours"
            ));
        }
    }
    let covers = |pattern: &str| {
        glob::Pattern::new(pattern.trim_end_matches('/'))
            .is_ok_and(|pattern| packages.iter().any(|p| pattern.matches(&p.path)))
    };
    if pyproject.remove_workspace_members(covers) {
        notes.push(
            "`pyproject.toml`: took the internal packages' folders out of `[tool.uv.workspace] members`; hpm adds a dev package back as a member where it needs one (settings.dev_link)"
                .to_string(),
        );
    }
    Ok((pyproject.to_string(), core_deps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, path: &str, submodule: bool) -> FoundPackage {
        FoundPackage {
            branch: None,
            name: name.to_string(),
            path: path.to_string(),
            url: Some(format!("file:///remotes/{name}.git")),
            submodule,
        }
    }

    fn run(core: &str, packages: &[FoundPackage]) -> Result<Imported, Invalid> {
        import(ImportInput {
            core_text: core,
            core_path: Path::new("pyproject.toml"),
            packages,
            mode_files: &[],
            uv_args: &[],
            registry_folder: "hpm-registry",
        })
    }

    const CORE: &str = "[project]\nname = \"core-app\"\nversion = \"0.1.0\"\n\
        dependencies = [\"Model_Interface>=0.1\"]\n\n[tool.uv.sources]\n\
        model_interface = { workspace = true }\n";

    /// Regression: a dependency spelled `model-qwen2-5-vl` (the package is
    /// `model-qwen2_5-vl`) came back in hpm's spelling, and the comment
    /// above `[tool.uv.workspace]` `members` was lost with the table.
    #[test]
    fn the_users_spelling_and_comments_survive_import() {
        let core = "[project]\nname = \"core-app\"\nversion = \"0.1.0\"\n\
            dependencies = [\"model-qwen2-5-vl\"]\n\n[tool.uv.workspace]\n\
            # every model lives in packages/, one submodule each\nmembers = [\"packages/*\"]\n\n\
            [tool.uv.sources]\nmodel-qwen2-5-vl = { workspace = true }\n";
        let imported = run(
            core,
            &[package(
                "model-qwen2_5-vl",
                "packages/model-qwen2-5-vl",
                true,
            )],
        )
        .unwrap();
        assert!(
            imported.pyproject.contains(
                "[tool.uv.workspace]\n# every model lives in packages/, one submodule each\nmembers = []\n"
            ),
            "{}",
            imported.pyproject
        );
        // What hpm writes for the package keeps the user's spelling.
        let plan = crate::pin::PinnedPlan::without_remotes(crate::plan::Plan {
            mode: Mode::dev(),
            packages: vec![crate::plan::PlannedPackage {
                name: "model-qwen2_5-vl".to_string(),
                key: crate::name::PackageName::key("model-qwen2_5-vl"),
                group: None,
                mode: Mode::dev(),
                extras: Vec::new(),
                source: crate::plan::PlannedSource::Path {
                    path: "packages/model-qwen2-5-vl".to_string(),
                    editable: true,
                    member: false,
                },
                required_by: Vec::new(),
                linked_by: Vec::new(),
            }],
        })
        .unwrap();
        let rendered = crate::pyproject::render(
            &imported.pyproject,
            &plan,
            &Default::default(),
            &Default::default(),
            Path::new("pyproject.toml"),
        )
        .unwrap();
        assert!(
            rendered
                .text
                .contains("dependencies = [\"model-qwen2-5-vl\"]"),
            "{}",
            rendered.text
        );
    }

    /// Regression: a tool a dependency group installs by path
    /// (`release-tool = { path = "release_tool" }`) lost its source, and uv
    /// took an unrelated `release-tool` from PyPI. A source the core's
    /// dependencies do not use stays the user's, as a path when its
    /// `{ workspace = true }` no longer has a member to point at.
    #[test]
    fn a_source_only_a_dependency_group_uses_is_kept() {
        let core = "[project]\nname = \"core-app\"\nversion = \"0.1.0\"\n\
            dependencies = [\"model-interface\"]\n\n[dependency-groups]\n\
            dev = [\"release-tool\", \"lint-kit\"]\n\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\n\n\
            [tool.uv.sources]\nmodel-interface = { workspace = true }\n\
            release-tool = { path = \"release_tool\" }  # our CLI\nlint-kit = { workspace = true }\n";
        let imported = run(
            core,
            &[
                package("model-interface", "packages/model-interface", true),
                package("release-tool", "release_tool", true),
                package("lint-kit", "packages/lint-kit", true),
            ],
        )
        .unwrap();
        let pyproject = &imported.pyproject;
        assert!(!pyproject.contains("model-interface = {"), "{pyproject}");
        assert!(
            pyproject.contains("release-tool = { path = \"release_tool\" }  # our CLI\n"),
            "{pyproject}"
        );
        assert!(
            pyproject.contains("lint-kit = { path = \"packages/lint-kit\", editable = true }"),
            "{pyproject}"
        );
        assert!(
            imported.manifest.contains("packages: [model-interface]\n"),
            "{}",
            imported.manifest
        );
        let notes = imported.notes.join("\n");
        assert!(notes.contains("kept `release-tool`'s source"), "{notes}");
    }

    /// Regression: a mode file's source for a package its own dependencies
    /// did not list was dropped ("not mapped"), and `switch prod` then
    /// failed: the package had no prod source. It is kept, and said.
    #[test]
    fn a_mode_files_source_for_a_package_it_does_not_depend_on_is_kept() {
        let prod = ModeFile {
            mode: Mode::new("prod").unwrap(),
            path: "prod/pyproject.toml".to_string(),
            text:
                "[project]\nname = \"env\"\nversion = \"0\"\ndependencies = [\"model-interface\"]\n\
                [tool.uv.sources]\nmodel-interface = { git = \"https://x/mi.git\", tag = \"v1\" }\n\
                hello-world = { git = \"https://x/hw.git\", tag = \"v2\" }\n"
                    .to_string(),
        };
        let packages = [
            package("model-interface", "packages/model-interface", true),
            package("hello-world", "packages/hello-world", true),
        ];
        let imported = import(ImportInput {
            core_text: CORE,
            core_path: Path::new("pyproject.toml"),
            packages: &packages,
            mode_files: &[prod],
            uv_args: &[],
            registry_folder: "hpm-registry",
        })
        .unwrap();
        let hello = imported
            .entries
            .iter()
            .find(|entry| entry.name == "hello-world")
            .unwrap();
        assert_eq!(
            hello.sources.get(&Mode::new("prod").unwrap()),
            Some(&SourceSpec::Git {
                url: "https://x/hw.git".to_string(),
                reference: GitRef::Tag("v2".to_string()),
                subdirectory: None,
            })
        );
        let notes = imported.notes.join("\n");
        assert!(notes.contains("kept as its prod source"), "{notes}");
    }

    #[test]
    fn a_name_spelled_two_ways_is_said_where_each_spelling_is() {
        let imported = run(
            CORE,
            &[package("model-interface", "packages/model_interface", true)],
        )
        .unwrap();
        let notes = imported.notes.join("\n");
        assert!(
            notes.contains("`.gitmodules`: `model_interface` there is `model-interface` (one name, spelled two ways), in `packages/model_interface`"),
            "{notes}"
        );
        assert!(
            notes.contains(
                "`pyproject.toml` (the core): `Model_Interface` there is `model-interface`"
            ),
            "{notes}"
        );
        assert!(
            notes.contains(
                "`pyproject.toml` (the core): `model_interface` there is `model-interface`"
            ),
            "{notes}"
        );
    }

    #[test]
    fn one_spelling_everywhere_gives_no_note() {
        let core = "[project]\nname = \"core-app\"\nversion = \"0.1.0\"\ndependencies = [\"model-interface\"]\n";
        let imported = run(
            core,
            &[package("model-interface", "plugins/model-interface", false)],
        )
        .unwrap();
        assert!(
            !imported
                .notes
                .iter()
                .any(|n| n.contains("spelled two ways")),
            "{:?}",
            imported.notes
        );
    }

    #[test]
    fn two_folders_holding_one_package_name_are_refused_naming_both() {
        let error = run(
            CORE,
            &[
                package("model-interface", "packages/a", true),
                package("Model_Interface", "packages/b", false),
            ],
        )
        .unwrap_err();
        let text = format!("{error}");
        assert!(
            text.contains("`packages/a/pyproject.toml` (`model-interface`) and `packages/b/pyproject.toml` (`Model_Interface`) name one package"),
            "{text}"
        );
    }
}
