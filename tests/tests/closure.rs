//! The real product's shape (a core, `model-interface`, `model-qwen2-5-vl`,
//! `bench-utils`, `prompt-handler`): PEP 503 names everywhere, the
//! dependency closure, and refs checked before any write.

use hpm_tests::{describe, fake_uv, stderr, stdout, Release, World};
use serde_json::Value;

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    serde_json::from_str(&stdout(output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(output)))
}

/// The seeds' packages at `v0.1.0`: bench-utils needs model-interface and
/// prompt-handler, model-qwen2-5-vl needs model-interface~=0.1. Registry
/// files use both spellings; the manifest lists two of the four, one of
/// them as `model_qwen2.5-vl`.
fn product() -> anyhow::Result<World> {
    let world = World::new()?;
    world.add_plugin("model-interface", &[Release::new("v0.1.0", "0.1.0")])?;
    world.add_plugin("prompt-handler", &[Release::new("v0.1.0", "0.1.0")])?;
    world.add_plugin(
        "bench-utils",
        &[Release::new("v0.1.0", "0.1.0")
            .depending_on(&["model-interface>=0.1", "prompt_handler"])],
    )?;
    world.add_plugin(
        "model-qwen2-5-vl",
        &[Release::new("v0.1.0", "0.1.0").depending_on(&["model-interface~=0.1"])],
    )?;
    for name in ["model-interface", "prompt-handler", "bench-utils"] {
        world.register(name, "v0.1.0", "v0.1.0")?;
    }
    let url = world.remote_url("model-qwen2-5-vl");
    // The file and its `name:` spell the package their own way.
    world.write_registry_entry(
        "model_qwen2.5-vl",
        &format!(
            "name: model_qwen2.5-vl\nrepo: {url}\nsources:\n  prod: {{ type: git, url: \"{url}\", ref: v0.1.0 }}\n"
        ),
    )?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [bench-utils, model_qwen2.5-vl]\n",
    )?;
    Ok(world)
}

#[test]
fn two_listed_packages_install_all_four_with_what_requires_them() -> anyhow::Result<()> {
    let world = product()?;
    let report = json(&world.ok(&["--no-daemon", "sync", "--json"])?)?;
    let planned: Vec<&str> = report["plan"]["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(planned.len(), 4, "{planned:?}");
    for name in ["model-interface", "prompt-handler", "bench-utils"] {
        assert_eq!(world.imported_version(name)?, "0.1.0", "{name}");
    }
    assert_eq!(world.imported_version("model-qwen2-5-vl")?, "0.1.0");
    let status = json(&world.ok(&["--no-daemon", "status", "--json"])?)?;
    let interface = status["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "model-interface")
        .cloned()
        .unwrap_or_default();
    let mut by: Vec<String> = interface["required_by"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    by.sort();
    assert_eq!(by, ["bench-utils", "model_qwen2.5-vl"], "{status:#}");
    let table = world.ok(&["--no-daemon", "status"])?;
    assert!(
        stdout(&table).contains("(required by bench-utils)"),
        "{}",
        describe(&table)
    );
    Ok(())
}

#[test]
fn two_registry_files_for_one_package_are_refused_naming_both() -> anyhow::Result<()> {
    let world = product()?;
    world.write_registry_entry(
        "Bench_Utils",
        "name: Bench_Utils\nsources:\n  prod: { type: pypi, version: \"1.0\" }\n",
    )?;
    let output = world.run(&["--no-daemon", "sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(
        said.contains("bench-utils.yaml") && said.contains("Bench_Utils.yaml"),
        "{said}"
    );
    Ok(())
}

/// A tag whose `pyproject.toml` names siblings with `workspace = true`:
/// uv fails on it after hpm wrote the files; hpm refuses it in validation.
#[test]
fn a_tag_that_needs_its_own_workspace_is_refused_before_any_write() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin("model-interface", &[Release::new("v0.1.0", "0.1.0")])?;
    world.add_plugin(
        "model-qwen2-5-vl",
        &[Release::new("v0.1.2", "0.1.2")
            .depending_on(&["model-interface"])
            .with_toml("\n[tool.uv.sources]\nmodel-interface = { workspace = true }\n")],
    )?;
    world.register("model-interface", "v0.1.0", "v0.1.0")?;
    world.register("model-qwen2-5-vl", "v0.1.2", "v0.1.2")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [model-qwen2-5-vl]\n",
    )?;
    let (pyproject, lock) = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
    let marker = world.root().join("uv-ran");
    let uv = fake_uv(
        world.root(),
        "0.9.0",
        &format!("touch {}; exit 1", marker.display()),
    )?;
    let output = world
        .hpmctl_in_process()
        .arg("sync")
        .env("HPM_UV", &uv)
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(said.contains("package `model-qwen2-5-vl`"), "{said}");
    assert!(
        said.contains("`v0.1.2`") && said.contains("`model-interface`"),
        "{said}"
    );
    assert!(said.contains("workspace = true"), "{said}");
    assert!(said.contains("hpmctl dev model-qwen2-5-vl"), "{said}");
    assert!(!marker.exists(), "uv was never started");
    assert_eq!(world.bytes("pyproject.toml"), pyproject);
    assert_eq!(world.bytes("uv.lock"), lock);
    Ok(())
}

/// uv ignores version ranges of git sources: a requirement the planned tag
/// does not satisfy is hpm's to catch; a tag whose pyproject says another
/// version is a warning.
#[test]
fn internal_versions_are_checked_and_a_mislabelled_tag_is_a_warning() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin(
        "model-interface",
        &[
            Release::new("v0.1.0", "0.1.0"),
            Release::new("v2.0.0", "2.0.0"),
            Release::new("v0.1.2", "0.1.0"),
        ],
    )?;
    world.add_plugin(
        "model-qwen2-5-vl",
        &[Release::new("v0.1.0", "0.1.0").depending_on(&["model-interface~=0.1"])],
    )?;
    world.register("model-interface", "v0.1.2", "v2.0.0")?;
    world.register("model-qwen2-5-vl", "v0.1.0", "v0.1.0")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [model-qwen2-5-vl]\n",
    )?;
    let output = world.run(&["--no-daemon", "sync"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let said = stderr(&output);
    assert!(
        said.contains("`model-qwen2-5-vl` requires `model-interface~=0.1`")
            && said.contains("version `2.0.0`"),
        "{said}"
    );
    // Staging pins `v0.1.2`, whose pyproject says 0.1.0: it syncs, with a warning.
    let output = world.ok(&["--no-daemon", "switch", "staging"])?;
    let said = stdout(&output);
    assert!(
        said.contains("tag `v0.1.2` has version `0.1.0`"),
        "{}",
        describe(&output)
    );
    Ok(())
}

/// The seeds' dev layout: `model-qwen2-5-vl`'s dev branch names
/// `model-interface` with `{ workspace = true }`. `dev` takes both into dev
/// (cloning with consent) as members of a uv workspace rooted at the core;
/// edits are live; back to prod leaves the user's `pyproject.toml` as it was.
#[test]
fn dev_on_a_workspace_style_package_links_its_siblings_and_leaving_restores_the_file(
) -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin("model-interface", &[Release::new("v0.1.0", "0.1.0")])?;
    world.add_plugin(
        "model-qwen2-5-vl",
        &[
            Release::new("v0.1.0", "0.1.0").depending_on(&["model-interface~=0.1"]),
            Release::new("v0.2.0.dev0", "0.2.0.dev0")
                .depending_on(&["model-interface"])
                .with_toml("\n[tool.uv.sources]\nmodel-interface = { workspace = true }\n"),
        ],
    )?;
    world.register("model-interface", "v0.1.0", "v0.1.0")?;
    world.register("model-qwen2-5-vl", "v0.1.0", "v0.1.0")?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [model-qwen2-5-vl]\n",
    )?;
    world.ok(&["--no-daemon", "sync"])?;
    let prod = world.bytes("pyproject.toml");
    assert!(
        !world
            .read("pyproject.toml")?
            .contains("[tool.uv.workspace]"),
        "no workspace in prod"
    );

    // Without consent nothing is cloned, and both clones are named.
    let refused = world.run(&["--no-daemon", "dev", "model-qwen2-5-vl"]);
    assert_ne!(refused.status.code(), Some(0), "{}", describe(&refused));
    let said = stderr(&refused);
    assert!(
        said.contains("model-qwen2-5-vl") && said.contains("model-interface"),
        "{said}"
    );
    assert_eq!(world.bytes("pyproject.toml"), prod);
    assert!(!world.core().join("packages").exists());

    let report =
        json(&world.ok(&["--no-daemon", "dev", "model-qwen2-5-vl", "--yes", "--json"])?)?;
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("`model-interface` goes into dev with `model-qwen2-5-vl`"),
        "{report:#}"
    );
    let dev = world.read("pyproject.toml")?;
    assert!(
        dev.contains("[tool.uv.workspace]")
            && dev.contains("\"packages/model-qwen2-5-vl\"")
            && dev.contains("\"packages/model-interface\""),
        "{dev}"
    );
    assert!(
        dev.contains("model-interface = { workspace = true }"),
        "{dev}"
    );
    assert_eq!(world.imported_version("model-qwen2-5-vl")?, "0.2.0.dev0");
    // Edits in the sibling's clone are live.
    let module = world
        .core()
        .join("packages/model-interface")
        .join(hpm_tests::module_name("model-interface"))
        .join("__init__.py");
    std::fs::write(&module, "VERSION = \"edited\"\n")?;
    assert_eq!(world.imported_version("model-interface")?, "edited");
    let status = world.ok(&["--no-daemon", "status"])?;
    assert!(
        stdout(&status).contains("(in dev with model-qwen2-5-vl)"),
        "{}",
        describe(&status)
    );

    world.ok(&["--no-daemon", "reset", "model-qwen2-5-vl"])?;
    assert_eq!(
        world.bytes("pyproject.toml"),
        prod,
        "back in prod, the file is as the prod sync left it:\n{}",
        world.read("pyproject.toml")?
    );
    assert_eq!(world.imported_version("model-interface")?, "0.1.0");
    Ok(())
}

/// Regression: with `subdirectory: .` (as hand-kept staging/prod files
/// write it, and import carried it over) the closure read
/// `./pyproject.toml` at the tag, found nothing, and every check of the
/// tag was off: uv failed after the write. Each spelling of the root now
/// is the root, and both checks hold: the refusal of a tag that needs its
/// own workspace, and the warning for a tag whose version differs.
#[test]
fn every_spelling_of_the_repository_root_keeps_the_checks() -> anyhow::Result<()> {
    let world = World::new()?;
    world.add_plugin(
        "model-interface",
        &[
            Release::new("v0.1.0", "0.1.0"),
            Release::new("v0.2.0", "0.2.0"),
            Release::new("v0.1.1", "0.1.0"),
        ],
    )?;
    world.add_plugin(
        "model-qwen2-5-vl",
        &[Release::new("v0.1.2", "0.1.2")
            .depending_on(&["model-interface"])
            .with_toml("\n[tool.uv.sources]\nmodel-interface = { workspace = true }\n")],
    )?;
    world.write_manifest(
        "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [model-qwen2-5-vl]\n",
    )?;
    for root in [".", "./", "\".//\""] {
        for (name, staging, prod) in [
            ("model-interface", "v0.1.1", "v0.1.0"),
            ("model-qwen2-5-vl", "v0.1.2", "v0.1.2"),
        ] {
            let url = world.remote_url(name);
            world.write_registry_entry(
                name,
                &format!(
                    "name: {name}\nsources:\n  staging: {{ type: git, url: \"{url}\", tag: {staging}, subdirectory: {root} }}\n  prod: {{ type: git, url: \"{url}\", tag: {prod}, subdirectory: {root} }}\n"
                ),
            )?;
        }
        let before = world.bytes("pyproject.toml");
        let refused = world.run(&["--no-daemon", "sync"]);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{root}: {}",
            describe(&refused)
        );
        assert!(
            stderr(&refused).contains("with `{ workspace = true }`"),
            "{root}: {}",
            describe(&refused)
        );
        assert_eq!(world.bytes("pyproject.toml"), before, "{root}");

        // Without the workspace entry: staging's mislabelled tag warns.
        world.write_manifest(
            "version: 1\nmode: staging\nregistry: ./hpm-registry\npackages: [model-interface]\n",
        )?;
        let synced = world.ok(&["--no-daemon", "sync"])?;
        assert!(
            stdout(&synced).contains("tag `v0.1.1` has version `0.1.0`"),
            "{root}: {}",
            describe(&synced)
        );
        assert!(
            !world.read("pyproject.toml")?.contains("subdirectory"),
            "{root}: the root written as a subdirectory"
        );
        world.write_manifest(
            "version: 1\nmode: prod\nregistry: ./hpm-registry\npackages: [model-qwen2-5-vl]\n",
        )?;
    }
    Ok(())
}
