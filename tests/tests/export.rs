//! `hpmctl export MODE`: the core with every managed package pinned to
//! MODE, locked by uv in a folder of its own; installed from that folder
//! alone, on a machine without hpm, it gives what `switch MODE` gives.

use std::process::Command;

use hpm_tests::{describe, module_name, stderr, stdout, World};
use serde_json::Value;

fn json(output: &std::process::Output) -> anyhow::Result<Value> {
    serde_json::from_str(&stdout(output))
        .map_err(|e| anyhow::anyhow!("not JSON ({e}):\n{}", describe(output)))
}

/// The version of `package` the environment at `venv` imports.
fn imported(venv: &std::path::Path, package: &str) -> anyhow::Result<String> {
    let module = module_name(package);
    let output = Command::new(venv.join("bin/python"))
        .args(["-c", &format!("import {module}; print({module}.VERSION)")])
        .output()?;
    anyhow::ensure!(output.status.success(), "{}", describe(&output));
    Ok(stdout(&output).trim().to_string())
}

#[test]
fn an_export_installs_alone_what_the_switch_installs_and_is_stable() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a", "plugin-b"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let core_files = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));

    // dev resolves to local folders: refused, naming them, nothing written.
    let refused = world.run(&["--no-daemon", "export", "dev"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("plugin-a") && stderr(&refused).contains("local folder"),
        "{}",
        describe(&refused)
    );
    assert!(!world.core().join("dev").exists());

    // A dry run writes nothing and shows the file.
    let dry = world.ok(&["--no-daemon", "export", "prod", "--dry-run"])?;
    assert!(stdout(&dry).contains("+[project]"), "{}", describe(&dry));
    assert!(!world.core().join("prod").exists());

    let report = json(&world.ok(&["--no-daemon", "export", "prod", "--json"])?)?;
    assert_eq!(
        report["changed"].as_array().map(Vec::len),
        Some(2),
        "{report:#}"
    );
    let exported = world.read("prod/pyproject.toml")?;
    assert!(!exported.contains("[build-system]"), "{exported}");
    assert!(exported.contains("tag = \"v1.0.0\""), "{exported}");
    assert!(world.core().join("prod/uv.lock").exists());
    assert_eq!(
        (world.bytes("pyproject.toml"), world.bytes("uv.lock")),
        core_files,
        "the core's own files are not touched"
    );

    // Again with nothing changed: both files byte for byte.
    let (pyproject, lock) = (
        world.bytes("prod/pyproject.toml"),
        world.bytes("prod/uv.lock"),
    );
    let again = json(&world.ok(&["--no-daemon", "export", "prod", "--json"])?)?;
    assert_eq!(again["changed"], serde_json::json!([]), "{again:#}");
    assert_eq!(world.bytes("prod/pyproject.toml"), pyproject);
    assert_eq!(world.bytes("prod/uv.lock"), lock);

    // The export alone, elsewhere, with uv and no hpm.
    let elsewhere = world.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere)?;
    for file in ["pyproject.toml", "uv.lock"] {
        std::fs::copy(world.core().join("prod").join(file), elsewhere.join(file))?;
    }
    let uv = hpm_engine::uv::Uv::find()?.path;
    let installed = Command::new(&uv)
        .args(["sync", "--frozen"])
        .current_dir(&elsewhere)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("VIRTUAL_ENV")
        .output()?;
    assert!(installed.status.success(), "{}", describe(&installed));
    world.ok(&["--no-daemon", "switch", "prod"])?;
    for package in ["plugin-a", "plugin-b"] {
        assert_eq!(
            imported(&elsewhere.join(".venv"), package)?,
            world.imported_version(package)?,
            "{package}"
        );
    }
    Ok(())
}

#[test]
fn a_pyproject_hpm_did_not_write_is_replaced_only_when_asked_and_saved() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    std::fs::create_dir_all(world.core().join("prod"))?;
    let hand_kept = "[project]\nname = \"core-app\"\nversion = \"0.1.0\"\ndependencies = []\n";
    std::fs::write(world.core().join("prod/pyproject.toml"), hand_kept)?;
    let refused = world.run(&["--no-daemon", "export", "prod"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("--force"),
        "{}",
        describe(&refused)
    );
    assert_eq!(world.read("prod/pyproject.toml")?, hand_kept);

    let report = json(&world.ok(&["--no-daemon", "export", "prod", "--force", "--json"])?)?;
    let saved = report["saved"].as_str().unwrap_or_default();
    assert_eq!(std::fs::read_to_string(saved)?, hand_kept, "{report:#}");
    assert!(world
        .read("prod/pyproject.toml")?
        .starts_with("# Written by `hpmctl export prod`"));
    Ok(())
}

/// With the core included, the export installs the app itself too.
#[test]
fn an_export_with_the_core_installs_the_app_with_its_plugins() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let export = [
        "--no-daemon",
        "export",
        "prod",
        "--with-core",
        "--out",
        "prod-app",
    ];
    // In dev the core's own sources are local folders: refused.
    let refused = world.run(&export);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        stderr(&refused).contains("hpmctl switch prod"),
        "{}",
        describe(&refused)
    );
    world.ok(&["--no-daemon", "switch", "prod"])?;
    world.ok(&export)?;
    let exported = world.read("prod-app/pyproject.toml")?;
    assert!(exported.contains("name = \"core-app-prod\""), "{exported}");
    assert!(
        exported.contains("core-app = { path = \"..\", editable = false }"),
        "{exported}"
    );
    let uv = hpm_engine::uv::Uv::find()?.path;
    let installed = Command::new(&uv)
        .args(["sync", "--frozen"])
        .current_dir(world.core().join("prod-app"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("VIRTUAL_ENV")
        .output()?;
    assert!(installed.status.success(), "{}", describe(&installed));
    let venv = world.core().join("prod-app/.venv");
    let app = Command::new(venv.join("bin/python"))
        .args(["-c", "import core_app; print('app')"])
        .output()?;
    assert_eq!(stdout(&app).trim(), "app", "{}", describe(&app));
    assert_eq!(imported(&venv, "plugin-a")?, "1.0.0");
    Ok(())
}

/// Regression: `ln -s $PWD ../alias; hpmctl export prod --out ../alias
/// --force` replaced the core's own `pyproject.toml` and `uv.lock`. The
/// folder is compared by identity, not by spelling: a link to the core, or
/// a folder whose files are the core's (a linked `pyproject.toml`), is
/// refused without a word of `--force`, and nothing changes.
#[test]
fn an_export_through_a_link_never_writes_the_cores_files() -> anyhow::Result<()> {
    let world = World::with_dev_plugins(&["plugin-a"])?;
    world.ok(&["--no-daemon", "sync"])?;
    let core = world.core();
    let before = (world.bytes("pyproject.toml"), world.bytes("uv.lock"));
    let alias = world.root().join("alias");
    std::os::unix::fs::symlink(&core, &alias)?;
    let linked_files = world.root().join("linked-files");
    std::fs::create_dir_all(&linked_files)?;
    std::os::unix::fs::symlink(
        core.join("pyproject.toml"),
        linked_files.join("pyproject.toml"),
    )?;
    for out in [&alias, &linked_files] {
        for force in [false, true] {
            let mut args = vec!["--no-daemon", "export", "prod", "--out"];
            let out = out.display().to_string();
            args.push(&out);
            if force {
                args.push("--force");
            }
            let refused = world.run(&args);
            assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
            let said = stderr(&refused);
            assert!(
                said.contains("reaches the core's own files") && !said.contains("--force"),
                "{said}"
            );
            assert_eq!(
                (world.bytes("pyproject.toml"), world.bytes("uv.lock")),
                before
            );
        }
    }
    Ok(())
}
