//! Tidy checks, in rust-analyzer's manner: the layers the crates promise,
//! read from the crates' own files. The core's dependency list holds no IO
//! crate, the engine's no async runtime, RPC or watcher, the core's
//! `clippy.toml` forbids file, process, environment and clock access, and
//! no crate's top-level modules import each other in a cycle.

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

/// Each top-level module of the crate at `src` and the top-level modules
/// it names through `crate::` (or `super::` from a top-level file).
fn module_graph(src: &Path) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(src)?.flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            modules.entry(name).or_default().extend(rust_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !["lib", "main"].contains(&name.as_str())
        {
            modules.entry(name).or_default().push(path);
        }
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, files) in &modules {
        let mut uses = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(file)?;
            let top_level = file.parent() == Some(src);
            for line in text.lines().map(str::trim_start) {
                if line.starts_with("//") {
                    continue;
                }
                let mut rest = line;
                while let Some(at) = rest
                    .find("crate::")
                    .or_else(|| top_level.then(|| rest.find("super::")).flatten())
                {
                    let after = &rest[at..];
                    let after = after.split_once("::").map_or("", |(_, tail)| tail);
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if names.contains(&name) && name != *module {
                        uses.insert(name);
                    }
                    // `use crate::{a, b}` names several.
                    if let Some(group) = after.strip_prefix('{') {
                        for part in group.split('}').next().unwrap_or("").split(',') {
                            let part = part.trim().split("::").next().unwrap_or("").to_string();
                            if names.contains(&part) && part != *module {
                                uses.insert(part);
                            }
                        }
                    }
                    rest = &rest[at + 7..];
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    Ok(graph)
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
fn no_crate_has_an_import_cycle_between_its_top_level_modules() -> Result<()> {
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
    assert!(checked > 30, "found only {checked} modules");
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
