//! Tidy checks, in rust-analyzer's manner: the layers the crates promise,
//! read from the crates' own files. The core's dependency list holds no IO
//! crate, the engine's no async runtime, RPC or watcher, the core's
//! `clippy.toml` forbids file, process, environment and clock access, no
//! crate's modules, at any depth, import each other in a cycle, the
//! binaries users install carry no test seam, and one module reads and
//! edits `pyproject.toml`'s TOML.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The names in `[dependencies]` of the crate at `dir`.
fn dependencies(dir: &str) -> Result<BTreeSet<String>> {
    let path = repo().join(dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let doc: toml_edit::DocumentMut = text.parse()?;
    let table = doc
        .get("dependencies")
        .and_then(|d| d.as_table_like())
        .context("no [dependencies]")?;
    Ok(table.iter().map(|(name, _)| name.to_string()).collect())
}

const IO_CRATES: &[&str] = &[
    "git2",
    "tokio",
    "tokio-util",
    "notify",
    "notify-debouncer-full",
    "jsonrpsee",
    "nix",
    "tempfile",
    "which",
    "libc",
    "directories",
    "hpm-engine",
    "hpmd",
    "hpm-protocol",
    "ureq",
    "ignore",
];

#[test]
fn the_core_depends_on_data_crates_only() -> Result<()> {
    let deps = dependencies("daemon/core")?;
    let io: Vec<&String> = deps
        .iter()
        .filter(|d| IO_CRATES.contains(&d.as_str()))
        .collect();
    assert!(io.is_empty(), "daemon/core depends on IO crates: {io:?}");
    assert!(
        deps.contains("toml_edit") && deps.contains("pep508_rs"),
        "{deps:?}"
    );
    Ok(())
}

/// `cargo tree -e features` of `packages`, one line per package and
/// feature.
fn feature_tree(packages: &[&str]) -> Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = std::process::Command::new(cargo);
    command.args(["tree", "--offline", "-e", "features", "--prefix", "none"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let output = command.current_dir(repo()).output()?;
    if !output.status.success() {
        bail!("cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The test seams (`HPM_RELEASE_CRASH_AFTER`, `HPM_CRASH_AFTER_SPAWN`,
/// `HPMD_REPORT_VERSION`) are compiled into the binaries built beside the
/// tests, never into those users install: built alone, as the wheel builds it, `hpmctl` (which
/// carries `hpmd` too) has no `test-seams` feature anywhere in its graph.
#[test]
fn the_binaries_users_install_have_no_test_seams() -> Result<()> {
    let alone = feature_tree(&["hpmctl"])?;
    assert!(alone.contains("hpm-engine feature"), "{alone}");
    assert!(!alone.contains("test-seams"), "{alone}");
    // Beside the tests they are there: the check above can fail.
    let with_tests = feature_tree(&["hpmctl", "hpm-tests"])?;
    assert!(
        with_tests.contains("hpm-engine feature \"test-seams\""),
        "{with_tests}"
    );
    Ok(())
}

#[test]
fn the_engine_has_no_runtime_rpc_or_watcher() -> Result<()> {
    let deps = dependencies("daemon/engine")?;
    for forbidden in [
        "tokio",
        "tokio-util",
        "jsonrpsee",
        "notify",
        "notify-debouncer-full",
        "hpmd",
    ] {
        assert!(
            !deps.contains(forbidden),
            "daemon/engine depends on {forbidden}"
        );
    }
    // The protocol's RPC half stays out of the engine too.
    let text = std::fs::read_to_string(repo().join("Cargo.toml"))?;
    assert!(
        text.contains(r#"hpm-protocol = { path = "protocol", default-features = false }"#),
        "the workspace must not give the engine the protocol's `rpc` feature"
    );
    Ok(())
}

#[test]
fn the_cores_clippy_config_forbids_io() -> Result<()> {
    let text = std::fs::read_to_string(repo().join("daemon/core/clippy.toml"))?;
    for method in [
        "std::fs::read",
        "std::fs::write",
        "std::process::Command::new",
        "std::env::var",
        "std::time::SystemTime::now",
    ] {
        assert!(
            text.contains(&format!("\"{method}\"")),
            "daemon/core/clippy.toml does not forbid {method}"
        );
    }
    Ok(())
}

/// The modules of the crate at `src` at every depth (a file is a module:
/// `ops/edit.rs` is `ops::edit`, `ops/mod.rs` is `ops`; `bin/` and the
/// crate root are left out) and, per module, the modules it names through
/// `crate::`, `super::` or `self::` paths, grouped ones (`crate::{a, b::c}`)
/// included. A path names the longest module it starts with; naming one's
/// own ancestor is not an edge (a module may use its parent's items).
fn module_graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut modules: BTreeMap<Vec<String>, PathBuf> = BTreeMap::new();
    for file in rust_files(src)? {
        let relative = file.strip_prefix(src)?.with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        if parts.first().is_some_and(|p| p == "bin") {
            continue;
        }
        if parts
            .last()
            .is_some_and(|p| ["mod", "lib", "main"].contains(&p.as_str()))
        {
            parts.pop();
        }
        if !parts.is_empty() {
            modules.insert(parts, file);
        }
    }
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let text = without_tests_and_comments(&std::fs::read_to_string(file)?);
        let parent = &module[..module.len() - 1];
        let mut uses = BTreeSet::new();
        for (keyword, base) in [("crate", &[][..]), ("super", parent), ("self", &module[..])] {
            for path in paths_after(&text, keyword) {
                let full: Vec<String> = base.iter().cloned().chain(path).collect();
                let named = (1..=full.len())
                    .rev()
                    .map(|k| &full[..k])
                    .find(|prefix| modules.contains_key(*prefix));
                if let Some(named) = named {
                    if named != &module[..] && !module.starts_with(named) {
                        uses.insert(named.join("::"));
                    }
                }
            }
        }
        graph.insert(module.join("::"), uses);
    }
    Ok(graph)
}

/// `text` without its `#[cfg(test)] mod tests` (tests may reach anywhere)
/// and its line comments.
fn without_tests_and_comments(text: &str) -> String {
    let code = text
        .split_once("#[cfg(test)]\nmod tests")
        .map_or(text, |(code, _)| code);
    code.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths that follow `keyword::` in `text`: `crate::a::b::Item`
/// gives `[a, b]` (lower-case segments only: items and types end it), and
/// `crate::{a::b, c}` gives `[a, b]` and `[c]`.
fn paths_after(text: &str, keyword: &str) -> Vec<Vec<String>> {
    let segment = |s: &str| -> Vec<String> {
        s.split("::")
            .map(str::trim)
            .take_while(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_string)
            .collect()
    };
    let mut paths = Vec::new();
    let needle = format!("{keyword}::");
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let boundary = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        let after = &rest[at + needle.len()..];
        rest = after;
        if !boundary {
            continue;
        }
        let head: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
            .collect();
        let (prefix, grouped) = match head.split_once('{') {
            Some((prefix, _)) => (segment(prefix.trim_end_matches("::")), true),
            None => (segment(&head), false),
        };
        if !grouped {
            paths.push(prefix);
            continue;
        }
        // The group's items, up to its matching brace.
        let open = after.find('{').unwrap_or(0);
        let mut depth = 0;
        let mut close = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &after[open + 1..close.max(open + 1)];
        let mut depth = 0;
        let mut item = String::new();
        for c in body.chars().chain([',']) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let name = item
                        .split(" as ")
                        .next()
                        .unwrap_or("")
                        .split("::{")
                        .next()
                        .unwrap_or("");
                    let mut path = prefix.clone();
                    path.extend(segment(name));
                    paths.push(path);
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
    }
    paths
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(files)
}

/// The files of the shipped crates (tests left out) that use `toml_edit`,
/// relative to the repository.
fn toml_edit_users(crates: &[&str]) -> Result<BTreeSet<String>> {
    let mut users = BTreeSet::new();
    for dir in crates {
        for file in rust_files(&repo().join(dir).join("src"))? {
            let text = std::fs::read_to_string(&file)?;
            if without_tests_and_comments(&text).contains("toml_edit") {
                let relative = file.strip_prefix(repo())?;
                users.insert(relative.display().to_string());
            }
        }
    }
    Ok(users)
}

#[test]
fn only_the_pyproject_model_walks_toml() -> Result<()> {
    let users = toml_edit_users(&["daemon/core", "daemon/engine", "daemon/hpmd", "client"])?;
    let expected: BTreeSet<String> = [
        "daemon/core/src/lockfile.rs",
        "daemon/core/src/pyproject.rs",
        "daemon/core/src/pyproject/model.rs",
        "daemon/core/src/pyproject/verbs.rs",
    ]
    .map(str::to_string)
    .into();
    assert_eq!(
        users, expected,
        "read or edit `pyproject.toml` through `hpm_core::pyproject` (its model and verbs), not toml_edit"
    );
    Ok(())
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules_at_any_depth() -> Result<()> {
    let mut checked = 0;
    for src in [
        "daemon/core/src",
        "daemon/engine/src",
        "daemon/hpmd/src",
        "protocol/src",
        "client/src",
    ] {
        let graph = module_graph(&repo().join(src))?;
        checked += graph.len();
        if let Some(cycle) = find_cycle(&graph) {
            bail!("{src}: import cycle {}", cycle.join(" -> "));
        }
    }
    assert!(checked > 100, "found only {checked} modules");
    Ok(())
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
        ("d".to_string(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

/// The graph reaches below the top level: two files of one folder that
/// import each other (`ops::edit` and `ops::sync` did, through `super::`
/// and a grouped `use`) are a cycle.
#[test]
fn a_cycle_between_nested_modules_is_found() -> Result<()> {
    let src = tempfile::tempdir()?;
    std::fs::create_dir_all(src.path().join("ops"))?;
    std::fs::write(src.path().join("lib.rs"), "pub mod ops;\n")?;
    std::fs::write(
        src.path().join("ops/mod.rs"),
        "pub mod edit;\npub mod sync;\n",
    )?;
    std::fs::write(
        src.path().join("ops/edit.rs"),
        "use super::sync::GroupEdit;\n",
    )?;
    std::fs::write(
        src.path().join("ops/sync.rs"),
        "use crate::{error::Error, ops::edit::{self, FileEdits}};\n",
    )?;
    let graph = module_graph(src.path())?;
    assert_eq!(
        find_cycle(&graph),
        Some(vec![
            "ops::edit".into(),
            "ops::sync".into(),
            "ops::edit".into()
        ]),
        "{graph:?}"
    );
    Ok(())
}
