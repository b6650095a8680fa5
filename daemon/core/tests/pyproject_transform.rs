//! UI tests of the `pyproject.toml` transform: each folder under
//! `tests/pyproject/` holds an `hpm.yaml` (with inline registry entries), an
//! `in.toml`, optionally `managed` (the names hpm wrote before), and the
//! expected `out.toml`. Run with `HPM_BLESS=1` to rewrite the expectations
//! after reading the diff.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test
#![allow(clippy::disallowed_methods)] // a test: it reads its fixture files

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hpm_core::manifest::Manifest;
use hpm_core::pin::PinnedPlan;
use hpm_core::plan::{resolve, ResolveInput};
use hpm_core::pyproject::PyprojectMut;
use hpm_core::registry::{EntryOrigin, Registry};
use hpm_core::PackageName;

fn transform(case: &Path, input: &str) -> String {
    let manifest_path = case.join("hpm.yaml");
    let manifest = Manifest::parse(
        &std::fs::read_to_string(&manifest_path).unwrap(),
        &manifest_path,
    )
    .unwrap();
    let registry = Registry::from_entries(
        manifest
            .registry_entries
            .iter()
            .cloned()
            .map(|entry| (entry, EntryOrigin::Manifest(manifest_path.clone()))),
    );
    let plan = resolve(ResolveInput {
        requested: &std::collections::BTreeSet::new(),
        manifest: &manifest,
        manifest_path: &manifest_path,
        registry: &registry,
        mode: &manifest.mode,
        overrides: &BTreeMap::new(),
        required: &BTreeMap::new(),
        linked: &BTreeMap::new(),
    })
    .unwrap();
    let plan = PinnedPlan::without_remotes(plan).unwrap();
    let managed: BTreeSet<PackageName> = std::fs::read_to_string(case.join("managed"))
        .unwrap_or_default()
        .split_whitespace()
        .map(PackageName::key)
        .collect();
    let mut pyproject = PyprojectMut::parse(input, Path::new("pyproject.toml")).unwrap();
    pyproject
        .apply(&plan, &managed, Path::new("pyproject.toml"))
        .unwrap();
    pyproject.to_string()
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyproject");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
}

#[test]
fn transform_matches_expected_output() {
    let bless = std::env::var_os("HPM_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let input = std::fs::read_to_string(case.join("in.toml")).unwrap();
        let output = transform(&case, &input);
        let expected_path = case.join("out.toml");
        if bless {
            std::fs::write(&expected_path, &output).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if output != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{output}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn transform_is_idempotent() {
    for case in cases() {
        let input = std::fs::read_to_string(case.join("in.toml")).unwrap();
        let once = transform(&case, &input);
        assert_eq!(transform(&case, &once), once, "{}", case.display());
    }
}

#[test]
fn up_to_date_file_is_left_byte_for_byte() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyproject/up-to-date");
    let input = std::fs::read_to_string(case.join("in.toml")).unwrap();
    assert_eq!(transform(&case, &input), input);
}
